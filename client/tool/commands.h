// muke-tool's subcommands. Each takes the arguments after its name and returns the process exit code:
// 0 success, 1 runtime failure, 2 usage error.
#pragma once

namespace muke {

int RunImportLlama2c(int argc, char** argv, int first);
int RunGenerate(int argc, char** argv, int first);
int RunBenchGenerate(int argc, char** argv, int first);
int RunTokenize(int argc, char** argv, int first);
int RunBenchTokenize(int argc, char** argv, int first);
int RunEval(int argc, char** argv, int first);

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

}  // namespace muke
