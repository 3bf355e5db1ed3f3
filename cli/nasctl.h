// nasctl's verb dispatch: a table of verbs (`nasctl VERB ARGS...`), the
// context every verb runs with, and the exit codes.
//
// A new verb is a function `int RunX(const CliContext&, const Args&)` in its
// own .cc file, declared in verbs.h and listed once in the table of
// nasctl.cc; usage and help are generated from the table. Flags are parsed
// only in nasctl_main.cc. Functions here keep no state: thread-safe.
#ifndef NAS_CLI_NASCTL_H_
#define NAS_CLI_NASCTL_H_

#include <ostream>
#include <string>
#include <vector>

namespace nas::cli {

// Exit codes of every verb.
inline constexpr int kExitOk = 0;
// The verb could not do its work (e.g. the controller is unreachable).
inline constexpr int kExitFailure = 1;
// Misuse (unknown verb, wrong arguments) or invalid input (e.g. a bad spec).
inline constexpr int kExitUsage = 2;

// What a verb needs besides its arguments. The streams are not owned.
struct CliContext {
  // Controller address, host:port (from --controller or $NAS_CONTROLLER).
  std::string controller;
  // Bearer token sent with every RPC ("" = none), or a file holding it.
  std::string token;
  std::string token_file;
  // PEM file of the CA that signed the controller's certificate; "" = plaintext.
  std::string ca_cert;
  std::ostream* out = nullptr;  // results
  std::ostream* err = nullptr;  // errors and usage on misuse
  // `out` is a terminal: live displays redraw in place; otherwise they print
  // a new line only when something other than the clock changes.
  bool interactive = false;
};

using Args = std::vector<std::string>;

struct Verb {
  const char* name;      // "validate"
  const char* operands;  // "SPEC"
  const char* summary;   // one line for the usage text
  int (*run)(const CliContext& context, const Args& args);
};

// Every verb, in the order usage lists them.
const std::vector<Verb>& Verbs();

// Runs `args[0]` with the remaining arguments; returns the exit code.
// No verb or an unknown one prints the usage to context.err: kExitUsage.
int RunNasctl(const CliContext& context, const Args& args);

// The usage text: every verb with its operands and summary.
void PrintUsage(std::ostream& os);

// Prints "usage: nasctl VERB OPERANDS" to context.err; returns kExitUsage.
int VerbMisuse(const CliContext& context, const char* verb_name);

// --controller if set, else $NAS_CONTROLLER (`env`, may be null) if set,
// else "localhost:50051".
std::string ResolveController(const std::string& flag, const char* env);

}  // namespace nas::cli

#endif  // NAS_CLI_NASCTL_H_
