// muke-tool bench tokenize --model DIR --file TEXT_FILE [--repeats N]
// Prints encode and decode throughput (MB/s of text, tokens/s), median of the repeats, one thread.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "client/tool/args.h"
#include "client/tool/commands.h"
#include "client/tool/timing.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/status.h"

namespace muke {
namespace {

absl::Status Bench(const Args& args) {
  if (!args.Has("model") || !args.Has("file")) return absl::InvalidArgumentError("--model DIR and --file FILE are required");
  MUKE_ASSIGN_OR_RETURN(int64_t repeats, args.GetInt("repeats", 5));
  if (repeats < 1) return absl::InvalidArgumentError("--repeats must be >= 1");
  std::ifstream in(args.Get("file"), std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open " + args.Get("file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  MUKE_ASSIGN_OR_RETURN(auto tokenizer, LoadTokenizer(args.Get("model")));

  // The warm-up run fills the word cache, as the reference's timing does.
  MUKE_ASSIGN_OR_RETURN(std::vector<int64_t> ids, tokenizer->Encode(text, false));
  MUKE_ASSIGN_OR_RETURN(double encode, MedianSeconds(repeats, [&] { return tokenizer->Encode(text, false).status(); }));
  MUKE_ASSIGN_OR_RETURN(double decode, MedianSeconds(repeats, [&] { return tokenizer->Decode(ids, false).status(); }));
  const double mb = text.size() / 1e6;
  std::printf("file %s: %.2f MB, %zu tokens; tokenizer %s; median of %lld runs after a warm-up, 1 thread\n", args.Get("file").c_str(),
              mb, ids.size(), args.Get("model").c_str(), (long long)repeats);
  std::printf("| %-8s | %10s | %8s | %14s |\n", "phase", "seconds", "MB/s", "tokens/s");
  std::printf("|----------|------------|----------|----------------|\n");
  std::printf("| %-8s | %10.4f | %8.2f | %14.0f |\n", "encode", encode, mb / encode, ids.size() / encode);
  std::printf("| %-8s | %10.4f | %8.2f | %14.0f |\n", "decode", decode, mb / decode, ids.size() / decode);
  return absl::OkStatus();
}

}  // namespace

int RunBenchTokenize(int argc, char** argv, int first) {
  auto args = Args::Parse(argc, argv, first, {"model", "file", "repeats"}, {});
  absl::Status status = args.ok() ? Bench(*args) : args.status();
  if (!status.ok()) {
    std::cerr << "bench tokenize: " << status.message() << "\n";
    return args.ok() ? kExitFailure : kExitUsage;
  }
  return 0;
}

}  // namespace muke
