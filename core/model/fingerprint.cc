#include "core/model/fingerprint.h"

#include <cstdio>

#include <torch/types.h>
#include <torch/utils.h>

namespace muke {
namespace {

struct Fnv1a {
  uint64_t h = 0xcbf29ce484222325ull;
  void Add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  }
  void Add(const std::string& s) { Add(s.data(), s.size()); }
};

}  // namespace

std::string ModelFingerprint(const Model& model) {
  torch::NoGradGuard no_grad;
  Fnv1a fnv;
  fnv.Add(ModelConfigToJson(model.config()).dump());
  for (const auto& [name, tensor] : model.NamedParameters()) {
    fnv.Add(name);
    for (int64_t d : tensor.sizes()) fnv.Add(&d, sizeof(d));
    const int64_t stride = std::max<int64_t>(1, tensor.numel() / 65536);
    torch::Tensor sample = tensor.reshape(-1).slice(0, 0, tensor.numel(), stride).to(torch::kCPU, torch::kFloat32).contiguous();
    fnv.Add(sample.data_ptr<float>(), sample.numel() * sizeof(float));
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(fnv.h));
  return hex;
}

}  // namespace muke
