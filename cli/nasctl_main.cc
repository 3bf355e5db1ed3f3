// nasctl: the command-line client of the NAS service. Parses the global
// flags and hands the verb and its arguments to RunNasctl.
#include <unistd.h>

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

ABSL_FLAG(std::string, token_file, "",
          "File holding the bearer token sent with every RPC (default: "
          "$NAS_TOKEN).");
ABSL_FLAG(std::string, ca_cert, "",
          "PEM file of the CA that signed the controller's TLS certificate "
          "(default: plaintext).");

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

// Index of the verb: the first argument that is not a global flag or a
// global flag's value (`--controller HOST` or `--controller=HOST`). What
// follows the verb is the verb's, parsed by the verb itself.
int FindVerb(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") return i + 1;
    if (arg.size() < 2 || arg[0] != '-') return i;
    absl::ConsumePrefix(&arg, "-");
    absl::ConsumePrefix(&arg, "-");
    const bool has_value = arg.find('=') != absl::string_view::npos;
    absl::string_view name = arg.substr(0, arg.find('='));
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    // Every global flag of nasctl takes a value; booleans (--help...) don't.
    if (!has_value && flag != nullptr && !flag->IsOfType<bool>()) ++i;
  }
  return argc;
}

// The first flag in argv[0..argc) that no library defines, or "". Checked
// before absl::ParseCommandLine, which exits 1 on it: nasctl's misuse code
// is 2.
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
  const int verb = FindVerb(argc, argv);
  if (const std::string flag = FindUnknownFlag(verb, argv); !flag.empty()) {
    std::cerr << "nasctl: unknown flag " << flag << "\n";
    nas::cli::PrintUsage(std::cerr);
    return nas::cli::kExitUsage;
  }
  absl::SetProgramUsageMessage(
      "nasctl [--controller=HOST:PORT] VERB [ARGS...]; `nasctl help` lists "
      "the verbs.");
  // absl parses the global flags only; the verb parses its own arguments.
  absl::ParseCommandLine(verb, argv);
  nas::cli::CliContext context;
  context.controller = nas::cli::ResolveController(
      absl::GetFlag(FLAGS_controller), std::getenv("NAS_CONTROLLER"));
  context.token_file = absl::GetFlag(FLAGS_token_file);
  if (context.token_file.empty() && std::getenv("NAS_TOKEN") != nullptr) {
    context.token = std::getenv("NAS_TOKEN");
  }
  context.ca_cert = absl::GetFlag(FLAGS_ca_cert);
  context.out = &std::cout;
  context.interactive = isatty(STDOUT_FILENO) != 0;
  context.err = &std::cerr;
  return nas::cli::RunNasctl(context, nas::cli::Args(argv + verb, argv + argc));
}
