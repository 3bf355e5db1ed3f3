// nasctl: the command-line client of the NAS service. Parses the global
// flags and hands the verb and its arguments to RunNasctl.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "cli/nasctl.h"

ABSL_FLAG(std::string, controller, "",
          "Controller address HOST:PORT (default: $NAS_CONTROLLER, else "
          "localhost:50051).");

namespace {

// Flags absl::ParseCommandLine handles itself (not in the flag registry).
bool IsBuiltinFlag(absl::string_view name) {
  static constexpr absl::string_view kBuiltins[] = {
      "help",     "helpfull",  "helpshort",  "helppackage",
      "helpon",   "helpmatch", "version",    "only_check_args",
      "flagfile", "fromenv",   "tryfromenv", "undefok"};
  for (absl::string_view builtin : kBuiltins) {
    if (name == builtin) return true;
  }
  return false;
}

// The first flag in argv that no library defines, or "". Checked before
// absl::ParseCommandLine, which exits 1 on it: nasctl's misuse code is 2.
std::string FindUnknownFlag(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-') continue;
    absl::ConsumePrefix(&arg, "-");
    absl::ConsumePrefix(&arg, "-");
    absl::string_view name = arg.substr(0, arg.find('='));
    if (IsBuiltinFlag(name) || absl::FindCommandLineFlag(name) != nullptr)
      continue;
    // --noflag negates a boolean flag.
    if (absl::ConsumePrefix(&name, "no") &&
        absl::FindCommandLineFlag(name) != nullptr) {
      continue;
    }
    return argv[i];
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  if (const std::string flag = FindUnknownFlag(argc, argv); !flag.empty()) {
    std::cerr << "nasctl: unknown flag " << flag << "\n";
    nas::cli::PrintUsage(std::cerr);
    return nas::cli::kExitUsage;
  }
  absl::SetProgramUsageMessage(
      "nasctl [--controller=HOST:PORT] VERB [ARGS...]; `nasctl help` lists "
      "the verbs.");
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  nas::cli::CliContext context;
  context.controller = nas::cli::ResolveController(
      absl::GetFlag(FLAGS_controller), std::getenv("NAS_CONTROLLER"));
  context.out = &std::cout;
  context.err = &std::cerr;
  // positional[0] is the program name.
  return nas::cli::RunNasctl(
      context, nas::cli::Args(positional.begin() + 1, positional.end()));
}
