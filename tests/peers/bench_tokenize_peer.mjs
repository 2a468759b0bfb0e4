// Times the Hugging Face `tokenizers` binding on a text file, for comparison with `muke-tool bench tokenize`.
// Usage: node bench_tokenize_peer.mjs <node_modules dir> <tokenizer.json> <text file> [repeats]
// Single sequence, no special tokens, median of the repeats after one cold run (as muke-tool does).
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [nodeModules, tokenizerJson, file, repeatsArg] = process.argv.slice(2);
const { Tokenizer } = createRequire(path.join(nodeModules, 'noop.js'))('tokenizers');
const tok = Tokenizer.fromFile(tokenizerJson);
const text = fs.readFileSync(file, 'utf8');
const repeats = Number(repeatsArg ?? 5);

async function median(fn) {
  const times = [];
  for (let r = 0; r < repeats; ++r) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

const ids = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
const encode = await median(() => tok.encode(text, null, { addSpecialTokens: false }));
const decode = await median(() => tok.decode(ids, false));
const mb = Buffer.byteLength(text) / 1e6;
console.log(`HF tokenizers ${tokenizerJson}: ${mb.toFixed(2)} MB, ${ids.length} tokens, median of ${repeats}`);
console.log(`| encode | ${encode.toFixed(4)} s | ${(mb / encode).toFixed(2)} MB/s | ${(ids.length / encode).toFixed(0)} tokens/s |`);
console.log(`| decode | ${decode.toFixed(4)} s | ${(mb / decode).toFixed(2)} MB/s | ${(ids.length / decode).toFixed(0)} tokens/s |`);
