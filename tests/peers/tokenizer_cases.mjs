// The strings the tokenizer peer test encodes: hand-picked hard cases in every category the issue names,
// the starts of the shared benchmark texts, and seeded random Unicode strings. Deterministic.
import fs from 'node:fs';

function mulberry32(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const prose = [
  'Hello world!', 'The quick brown fox jumps over the lazy dog.', 'Once upon a time, there was a little girl named Lily.',
  'What is George Rankin\'s occupation?', 'He said: "It\'s fine," and left.', 'Mr. Smith went to Washington D.C. in 1999.',
  'A sentence with trailing space ', ' A sentence with leading space', 'Multiple   spaces    between words',
  'Ellipsis... and dashes -- and em—dashes', 'Question? Exclamation! Semicolon; colon:', '(parentheses) [brackets] {braces}',
  'e-mail: someone@example.com, url: https://huggingface.co/docs?x=1&y=2#frag', 'UPPERCASE lowercase MiXeD cAsE',
  'Tabs\tinside\ttext', 'Line one\nLine two\n\nLine four', 'Windows\r\nline\r\nendings', 'Trailing newline\n',
  '\nLeading newline', '    indented by four', 'hello\u00a0non-breaking space', 'zero\u200bwidth space',
  'soft\u00adhyphen', 'next\u0085line', 'line\u2028separator', 'ideographic\u3000space', 'bom\ufeffinside',
];
const code = [
  'def f(x):\n    return x * 2\n', 'for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}', '#include <vector>\nint main() {}',
  'const x = {a: 1, "b": [2, 3]};', 'SELECT * FROM users WHERE id = 42;', '<div class="x">Hi &amp; bye</div>',
  'if x != None and y >= 3:\n        pass', 'print(f"{name!r:>10}")', '$ ls -la | grep "\\.cc$" > out.txt',
  'fn main() { println!("{}", 1_000_000u64); }', '    \n    \n', 'x=1;y=2;;z', 'a->b->c', '#!/usr/bin/env bash\nset -euo pipefail',
  'lambda: (yield)', '/* comment */ // another', "it's 'quoted' ``backticks``", '\\n\\t\\\\ escapes',
];
const numbers = ['1', '12', '123', '1234', '12345', '123456', '1234567', '3.14159', '1,000,000', '2024-11-25', '0x1F',
  '1e-10', '-42', '+7', '99.99%', '١٢٣٤٥ Arabic-Indic digits', '٣', 'x2y34z567', 'v1.2.3', 'Ⅻ roman', '½ ¾ ²³',
  '00000000', '9'.repeat(20), 'a1b22c333d4444'];
const whitespace = [' ', '  ', '   ', '\t', '\t\t', '\n', '\n\n', '\n\n\n', ' \n', '\n ', ' \n ', '  \n\n  x', 'a \n\n b',
  'x  ', 'x\t \n', '\r', '\r\n\r\n', ' \t \t ', '!!!\n\n', '?\n', 'end.\n\n\n', '  leading', 'trailing  ', 'a\u00a0\u00a0b'];
const contractions = ["don't", "DON'T", "I'm", "I'M", "we've", "WE'VE", "they'll", "THEY'LL", "he'd", "HE'D", "it's",
  "IT'S", "you're", "YOU'RE", "'s", "'S", "''", "'''", "can't won't shouldn't", "rock'n'roll", "O'Neil's", "its'",
  "'tis", "ma'am", "y'all'd've", "the dog'ſ bone", "Kelvin 'K"];
const accents = ['café', 'naïve', 'Ångström', 'résumé', 'e\u0301', 'cafe\u0301', 'A\u030a', 'ñandú', 'Zürich', 'Ελληνικά',
  'Русский язык', 'Tiếng Việt', 'İstanbul', 'straße', 'ﬁ ligature', 'Å (U+212B angstrom sign)', 'ﾊﾝｶｸ half-width'];
const cjk = ['你好，世界！', '我爱北京天安门。', '日本語のテキストです。', 'カタカナとひらがな', '한국어 문장입니다.', '中文English混合',
  '「引用」『二重』', '１２３ full-width digits', '漢字123漢字', '繁體中文測試'];
const emoji = ['👍', '👍🏽', '👨‍👩‍👧‍👦', '🇺🇸🇫🇷', '😀😃😄', 'smile 😊 please', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', '𝟙𝟚𝟛', '🎉🎉 party',
  '\u{10FFFF} max code point', '\u{1F600}x\u{1F600}', '✓ ✗ ★', '♥️', 'ⓐⓑⓒ', '🏳️‍🌈'];

function specials(kind) {
  const l3 = ['<|begin_of_text|>Hi', 'a<|eot_id|>b', '<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>',
    '<|begin_of_text|><|begin_of_text|>', 'x <|eot_id|> y', '<|eot_id', '<|reserved_special_token_5|>', '< |eot_id|>',
    '<|begin_of_text|>\n', 'text<|end_of_text|>'];
  const qw = ['<|im_start|>user\nhi<|im_end|>', '<|im_start|>system\nYou are Qwen.<|im_end|>\n<|im_start|>assistant\n',
    '<|endoftext|>', 'x<|im_end|>y', '<|im_start', '<think>\nhmm\n</think>\n\nAnswer', ' <|im_end|> ', '<tool_call>{}</tool_call>',
    '<|im_start|><|im_start|>', 'a <|endoftext|>b'];
  return kind === 'llama3' ? l3 : qw;
}

function benchmarkStarts(sharedDir) {
  const out = [];
  for (const f of ['benchmarks/unkebench_v2_dev.json', 'benchmarks/editevery.json']) {
    const items = JSON.parse(fs.readFileSync(`${sharedDir}/${f}`, 'utf8'));
    for (const it of items.slice(0, 40)) {
      out.push(it.question);
      out.push(it.answer.slice(0, 300));
    }
  }
  return out;
}

function randomStrings(n, seed) {
  const rnd = mulberry32(seed);
  const ranges = [[0x20, 0x7e], [0x20, 0x7e], [0x20, 0x7e], [0x9, 0xd], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x3ff],
    [0x400, 0x4ff], [0x590, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x2000, 0x206f], [0x3000, 0x30ff],
    [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xff00, 0xffef], [0x1f300, 0x1faff], [0x1d400, 0x1d7ff], [0x20000, 0x2a6df]];
  const out = [];
  for (let i = 0; i < n; ++i) {
    const len = 1 + Math.floor(rnd() * 40);
    let s = '';
    for (let k = 0; k < len; ++k) {
      const [lo, hi] = ranges[Math.floor(rnd() * ranges.length)];
      let cp = lo + Math.floor(rnd() * (hi - lo + 1));
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0x41;
      s += String.fromCodePoint(cp);
      if (rnd() < 0.15) s += ' ';
    }
    out.push(s);
  }
  return out;
}

export function tokenizerCases(kind, sharedDir) {
  return [...prose, ...code, ...numbers, ...whitespace, ...contractions, ...accents, ...cjk, ...emoji, ...specials(kind),
    ...benchmarkStarts(sharedDir), ...randomStrings(120, kind === 'llama3' ? 1 : 2)];
}
