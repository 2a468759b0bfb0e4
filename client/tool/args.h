// A small command-line parser for muke-tool: `--name value`, `--name=value`, boolean `--flag`,
// positionals, and `--` after which everything is positional. A repeated value flag keeps every value
// (GetAll); Get returns the last.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace muke {

class Args {
 public:
  // `bool_flags` take no value; every other `--name` consumes the next argument.
  static absl::StatusOr<Args> Parse(int argc, char** argv, int first, const std::set<std::string>& value_flags,
                                    const std::set<std::string>& bool_flags);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  std::vector<std::string> GetAll(const std::string& name) const;
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  absl::StatusOr<double> GetDouble(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> all_values_;
  std::vector<std::string> positional_;
};

}  // namespace muke
