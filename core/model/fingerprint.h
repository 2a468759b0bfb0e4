// A short stable identifier of a model's architecture and weights, used to key on-disk caches (e.g. the
// editor's second-moment statistics) so that a cache is never reused for different weights.
#pragma once

#include <string>

#include "core/model/model.h"

namespace muke {

// 16 hex digits: FNV-1a over config.json and, per parameter, its name, shape and a strided sample of at most
// 65,536 of its values (as float32). Any dense weight change (edits are dense updates) changes it.
std::string ModelFingerprint(const Model& model);

}  // namespace muke
