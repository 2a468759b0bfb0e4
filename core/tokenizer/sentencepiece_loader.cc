// Finds and opens libmuke_sentencepiece.so (see sentencepiece_processor.h for why it is a plugin).
#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <mutex>

#include "core/tokenizer/sentencepiece_processor.h"

namespace muke {
namespace {

constexpr char kPluginName[] = "libmuke_sentencepiece.so";
using Factory = SentencePieceProcessor* (*)();

std::string ExecutableDir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, n);
  return path.substr(0, path.find_last_of('/'));
}

Factory OpenPlugin(std::string* error) {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("MUKE_SENTENCEPIECE_PLUGIN")) candidates.push_back(env);
  const std::string dir = ExecutableDir();
  candidates.push_back(dir + "/" + kPluginName);
  candidates.push_back(dir + "/../lib/" + kPluginName);
  candidates.push_back(kPluginName);
  std::string tried;
  for (const std::string& path : candidates) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!handle) {
      tried += "\n  " + std::string(dlerror());
      continue;
    }
    if (auto factory = reinterpret_cast<Factory>(dlsym(handle, "muke_new_sentencepiece_processor"))) return factory;
    tried += "\n  " + path + ": no muke_new_sentencepiece_processor symbol";
  }
  *error = "cannot load the SentencePiece plugin " + std::string(kPluginName) + ":" + tried;
  return nullptr;
}

}  // namespace

std::unique_ptr<SentencePieceProcessor> NewSentencePieceProcessor(std::string* error) {
  static std::once_flag once;
  static Factory factory = nullptr;
  static std::string load_error;
  std::call_once(once, [] { factory = OpenPlugin(&load_error); });
  if (!factory) {
    *error = load_error;
    return nullptr;
  }
  return std::unique_ptr<SentencePieceProcessor>(factory());
}

}  // namespace muke
