// Machine output (--json): one JSON document per line on stdout; invalid UTF-8 replaced, never fatal.
#pragma once

#include <iostream>

#include <nlohmann/json.hpp>

namespace muke::client {

inline void PrintJsonLine(const nlohmann::ordered_json& j) {
  std::cout << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
}

}  // namespace muke::client
