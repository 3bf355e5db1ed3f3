// Parsing of a verb's own options (`nasctl trials JOB --top 5 --format csv`).
//
// Global flags are parsed by absl in nasctl_main.cc up to the verb; what
// follows the verb is parsed here, so each verb declares its options in one
// place and misuse names the bad option. Stateless; thread-safe.
#ifndef NAS_CLI_VERB_ARGS_H_
#define NAS_CLI_VERB_ARGS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace nas::cli {

struct OptionSpec {
  const char* name;   // "top" for --top
  bool takes_value;   // --top N / --top=N; false: a switch (--pareto)
};

struct ParsedArgs {
  std::vector<std::string> positional;
  // Option name -> value ("" for switches).
  std::map<std::string, std::string> options;

  bool Has(const std::string& name) const { return options.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& dflt) const;
  // An integer option; INVALID_ARGUMENT names the option and the value.
  absl::StatusOr<long long> GetInt(const std::string& name,
                                   long long dflt) const;
};

// INVALID_ARGUMENT for an unknown option or a missing value.
absl::StatusOr<ParsedArgs> ParseVerbArgs(const std::vector<std::string>& args,
                                         const std::vector<OptionSpec>& specs);

}  // namespace nas::cli

#endif  // NAS_CLI_VERB_ARGS_H_
