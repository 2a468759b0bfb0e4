// muke-tool: local model tooling over muke_core (import, generation, tokenisation, evaluation, benchmarks).
#include <cstring>
#include <iostream>

#include "client/tool/commands.h"

namespace {

void Usage() {
  std::cerr << "usage: muke-tool <command> [args]\n"
               "  import-llama2c <checkpoint.bin> <tokenizer.model> <out_dir>\n"
               "  generate --model DIR --prompt TEXT [--max-new-tokens N] [--temperature T] [--top-p P]\n"
               "           [--seed S] [--json] [--device cpu|cuda] [--dtype float32|bfloat16|float16]\n"
               "  tokenize --model DIR [--chat] [--no-special] [--json] [--] TEXT\n"
               "  eval --model DIR --cases FILE [--strategy one_for_all|window_by_window|matryoshka|muke]\n"
               "       [--update memit|alphaedit|unke] [--limit N] [--max-target-tokens N] [--sequential]\n"
               "       [--out results.json] [--window N] [--hook-layer L] [--layers a,b] [--steps N] [--lr X]\n"
               "       [--clamp X] [--lambda X] [--unke-lr X] [--unke-steps N] [--coefficient-order intended|reference]\n"
               "       [--statistics-dir DIR] [--statistics-samples N] [--verbose]\n"
               "  bench generate --model DIR [--prompt-tokens N] [--new-tokens N] [--repeats N] [--threads N]\n"
               "  bench tokenize --model DIR --file TEXT_FILE [--repeats N]\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    Usage();
    return muke::kExitUsage;
  }
  const std::string command = argv[1];
  if (command == "import-llama2c") return muke::RunImportLlama2c(argc, argv, 2);
  if (command == "generate") return muke::RunGenerate(argc, argv, 2);
  if (command == "tokenize") return muke::RunTokenize(argc, argv, 2);
  if (command == "eval") return muke::RunEval(argc, argv, 2);
  if (command == "bench" && argc >= 3 && std::strcmp(argv[2], "generate") == 0) {
    return muke::RunBenchGenerate(argc, argv, 3);
  }
  if (command == "bench" && argc >= 3 && std::strcmp(argv[2], "tokenize") == 0) {
    return muke::RunBenchTokenize(argc, argv, 3);
  }
  if (command == "-h" || command == "--help" || command == "help") {
    Usage();
    return 0;
  }
  std::cerr << "muke-tool: unknown command '" << command << "'\n";
  Usage();
  return muke::kExitUsage;
}
