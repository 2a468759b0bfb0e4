// The model-selection flags shared by muke-tool's subcommands: --model DIR, --device, --dtype, --threads.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "client/tool/args.h"
#include "core/model/model.h"

namespace muke {

inline const std::set<std::string> kModelFlags = {"model", "device", "dtype", "threads"};

// Applies --threads and loads --model onto --device (cpu, cuda, cuda:N) in --dtype.
absl::StatusOr<std::unique_ptr<Model>> LoadModelFromFlags(const Args& args);

}  // namespace muke
