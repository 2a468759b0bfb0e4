// muke-tool import-llama2c <checkpoint.bin> <tokenizer.model> <out_dir>
#include <iostream>

#include "client/tool/args.h"
#include "client/tool/commands.h"
#include "core/io/llama2c_import.h"

namespace muke {

int RunImportLlama2c(int argc, char** argv, int first) {
  auto args = Args::Parse(argc, argv, first, {}, {});
  if (!args.ok() || args->positional().size() != 3) {
    std::cerr << "usage: muke-tool import-llama2c <checkpoint.bin> <tokenizer.model> <out_dir>\n";
    return kExitUsage;
  }
  const auto& p = args->positional();
  absl::Status status = ImportLlama2c(p[0], p[1], p[2]);
  if (!status.ok()) {
    std::cerr << "import-llama2c: " << status << "\n";
    return kExitFailure;
  }
  std::cout << "wrote Hugging Face Llama directory " << p[2] << "\n";
  return 0;
}

}  // namespace muke
