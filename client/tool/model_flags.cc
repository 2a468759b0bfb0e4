#include "client/tool/model_flags.h"

#include <torch/cuda.h>
#include <torch/types.h>
#include <torch/utils.h>

#include "absl/strings/str_cat.h"
#include "core/util/status.h"

namespace muke {

absl::StatusOr<std::unique_ptr<Model>> LoadModelFromFlags(const Args& args) {
  if (!args.Has("model")) return absl::InvalidArgumentError("--model DIR is required");
  MUKE_ASSIGN_OR_RETURN(int64_t threads, args.GetInt("threads", 0));
  if (threads < 0) return absl::InvalidArgumentError("--threads must be >= 0");
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));

  ModelLoadOptions options;
  const std::string device = args.Get("device", "cpu");
  MUKE_ASSIGN_OR_RETURN(options.device, CatchExceptions("--device", [&]() -> absl::StatusOr<torch::Device> {
    return torch::Device(device);
  }));
  if (options.device.is_cuda() && !torch::cuda::is_available()) {
    return absl::FailedPreconditionError(absl::StrCat("--device ", device, ": CUDA is not available in this build"));
  }
  if (args.Has("dtype")) {
    MUKE_ASSIGN_OR_RETURN(torch::ScalarType dtype, ParseDtypeName(args.Get("dtype")));
    options.dtype = dtype;
  }
  return Model::Load(args.Get("model"), options);
}

}  // namespace muke
