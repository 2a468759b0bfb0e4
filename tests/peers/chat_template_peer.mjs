// Reference renderer for the chat-template tests (tests/unit/chat_template_test.cc).
//
// Renders every template listed in chat_templates/templates.json against every conversation in
// chat_templates/conversations.json (add_generation_prompt false and true) with @huggingface/jinja — the Jinja
// implementation transformers.js uses, compiled like transformers' own (trim_blocks, lstrip_blocks) — and writes
// chat_templates/expected.json. The C++ test reads that committed file, so it needs no node.
//
// Variables passed mirror transformers' apply_chat_template: messages, tools (null unless the conversation gives
// some), documents (null), add_generation_prompt, the template's special tokens, then the conversation's "extra".
// A render that throws is recorded as {"error": message}; the C++ side must fail too, with that message when it
// came from raise_exception().
//
// Usage:
//   npm install --prefix /tmp/npm-jinja @huggingface/jinja@0.5.11
//   node tests/peers/chat_template_peer.mjs            # regenerate expected.json
//   node tests/peers/chat_template_peer.mjs --check    # verify expected.json is current (exit 1 on a difference)
//   --node-modules DIR   where @huggingface/jinja is installed (default /tmp/npm-jinja/node_modules)
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const check = args.includes("--check");
const modulesFlag = args.indexOf("--node-modules");
const nodeModules = modulesFlag >= 0 ? args[modulesFlag + 1] : "/tmp/npm-jinja/node_modules";
const jinjaDir = path.join(nodeModules, "@huggingface", "jinja");
const { Template } = await import(pathToFileURL(path.join(jinjaDir, "dist", "index.js")).href);
const jinjaVersion = JSON.parse(fs.readFileSync(path.join(jinjaDir, "package.json"), "utf8")).version;

const dataDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "chat_templates");
const readJson = (name) => JSON.parse(fs.readFileSync(path.join(dataDir, name), "utf8"));
const { templates } = readJson("templates.json");
const { conversations } = readJson("conversations.json");

const cases = [];
for (const spec of templates) {
  const template = new Template(fs.readFileSync(path.join(dataDir, spec.file), "utf8"));
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
    process.exit(1);
  }
  console.log(`expected.json is current (${cases.length} cases)`);
} else {
  fs.writeFileSync(expectedPath, text);
  console.log(`wrote ${cases.length} cases to ${expectedPath}`);
}
