#include "cli/verb_args.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace nas::cli {

std::string ParsedArgs::Get(const std::string& name,
                            const std::string& dflt) const {
  auto it = options.find(name);
  return it == options.end() ? dflt : it->second;
}

absl::StatusOr<long long> ParsedArgs::GetInt(const std::string& name,
                                             long long dflt) const {
  auto it = options.find(name);
  if (it == options.end()) return dflt;
  long long value = 0;
  if (!absl::SimpleAtoi(it->second, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": expected an integer, got \"", it->second,
                     "\""));
  }
  return value;
}

absl::StatusOr<ParsedArgs> ParseVerbArgs(const std::vector<std::string>& args,
                                         const std::vector<OptionSpec>& specs) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!absl::StartsWith(arg, "--") || arg == "--") {
      parsed.positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& s : specs) {
      if (name == s.name) spec = &s;
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option --", name));
    }
    if (spec->takes_value && !has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs a value"));
      }
      value = args[++i];
    } else if (!spec->takes_value && has_value) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " takes no value"));
    }
    parsed.options[name] = value;
  }
  return parsed;
}

}  // namespace nas::cli
