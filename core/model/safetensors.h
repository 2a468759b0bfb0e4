// Safetensors I/O: validated reading of single files and sharded checkpoints (model.safetensors.index.json),
// and atomic writing of single files and shards. Every violation read from disk becomes an error that names
// the file, the tensor and the problem; nothing here throws.
//
// Format: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}},
// then the data section (offsets are relative to its start). Dtypes: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL.
//
// Error codes: NotFound for a missing file or directory (other open failures map from errno); DataLoss when
// the file ends before what its header promises (shorter than 8 bytes, header or tensor data past the end);
// InvalidArgument for any malformed content (bad JSON, dtype, shape, offsets, overlaps, metadata, index
// entries) and for tensors the writer cannot store; Internal for libtorch failures.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"

namespace muke {

using TensorMap = std::map<std::string, torch::Tensor>;

struct TensorLoadOptions {
  torch::Device device = torch::kCPU;
  // When set, floating-point tensors are converted to this dtype; integer tensors keep theirs.
  std::optional<torch::ScalarType> dtype;
};

// One entry of a safetensors header.
struct TensorInfo {
  std::string name;
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data section
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;  // the optional "__metadata__" object
};

// Reads and validates the header of `path` (does not read tensor data).
absl::StatusOr<SafetensorsHeader> ReadSafetensorsHeader(const std::string& path);

// Reads every tensor of one .safetensors file onto the requested device/dtype.
absl::StatusOr<TensorMap> ReadSafetensors(const std::string& path, const TensorLoadOptions& options = {});

// Writes `tensors` (any device, any supported dtype) to `path` atomically (temp file, fsync, rename).
absl::Status WriteSafetensors(const std::string& path, const TensorMap& tensors,
                              const std::map<std::string, std::string>& metadata = {});

// Reads all tensors of a Hugging Face model directory: `model.safetensors.index.json` (sharded) when present,
// else `model.safetensors`. Each shard is read once; tensors a shard holds but the weight_map omits are ignored.
absl::StatusOr<TensorMap> ReadCheckpointTensors(const std::string& dir, const TensorLoadOptions& options = {});

// Writes `tensors` into `dir` as `model.safetensors` when the total fits in `max_shard_bytes`, otherwise as
// `model-0000i-of-0000n.safetensors` shards plus `model.safetensors.index.json` (written last). Every file carries
// {"format": "pt"} metadata. Other `model*.safetensors*` files in `dir` are removed afterwards, the index first.
absl::Status WriteCheckpointTensors(const std::string& dir, const TensorMap& tensors,
                                    uint64_t max_shard_bytes = 5ull << 30);

}  // namespace muke
