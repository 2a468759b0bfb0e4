// CRC-32C (Castagnoli, the checksum of iSCSI, ext4 and LevelDB logs), used to detect damaged journal
// records and weight files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace muke {

// Extends `crc` (0 to start) over `data`. Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace muke
