#include "cli/nasctl.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/verbs.h"

namespace nas::cli {
namespace {

constexpr char kDefaultController[] = "localhost:50051";

const Verb* FindVerb(const std::string& name) {
  for (const Verb& verb : Verbs()) {
    if (name == verb.name) return &verb;
  }
  return nullptr;
}

int UnknownVerb(const CliContext& context, const std::string& name) {
  *context.err << "nasctl: unknown verb \"" << name << "\"\n";
  PrintUsage(*context.err);
  return kExitUsage;
}

}  // namespace

const std::vector<Verb>& Verbs() {
  static const auto* const verbs = new std::vector<Verb>{
      {"validate", "SPEC",
       "check a job spec (YAML or JSON): print each error, or a summary",
       &RunValidate},
      {"submit", "SPEC [--request_id ID]",
       "validate and submit a job spec; prints the job id", &RunSubmit},
      {"jobs", "[--format table|csv|json]", "list jobs", &RunJobs},
      {"status", "JOB [--format F]", "one job's state and counts", &RunStatus},
      {"watch", "JOB",
       "live progress bar until the job ends (exit 0 if it succeeded)",
       &RunWatch},
      {"trials", "JOB [--top N] [--pareto] [--state S] [--format F]",
       "list a job's trials: best first, Pareto front, or by state",
       &RunTrials},
      {"pause", "JOB", "no new trials; running ones finish", &RunPause},
      {"resume", "JOB", "resume a paused job", &RunResume},
      {"cancel", "JOB", "cancel a job; running trials are told to stop",
       &RunCancel},
      {"extend", "JOB --trials N [--seconds S]", "add to a job's budget",
       &RunExtend},
      {"report", "JOB --out FILE.html",
       "one self-contained HTML report with plots and the best cells",
       &RunReport},
      {"export", "JOB [--trial T] [--no_weights] --out DIR",
       "a trial's genotype JSON, cell DOT/SVG, metrics and trained weights "
       "(default: the best)",
       &RunExport},
      {"help", "[VERB]", "show this help, or one verb's", &RunHelp},
  };
  return *verbs;
}

void PrintUsage(std::ostream& os) {
  os << "usage: nasctl [--controller=HOST:PORT] VERB [ARGS...]\n\nverbs:\n";
  for (const Verb& verb : Verbs()) {
    os << absl::StrFormat("  %-48s %s\n",
                          absl::StrCat(verb.name, " ", verb.operands),
                          verb.summary);
  }
  os << "\nexit codes: 0 ok, 1 failure, 2 misuse or invalid input\n";
}

int VerbMisuse(const CliContext& context, const char* verb_name) {
  const Verb* verb = FindVerb(verb_name);
  *context.err << "usage: nasctl " << verb_name << " "
               << (verb != nullptr ? verb->operands : "") << "\n";
  return kExitUsage;
}

int RunHelp(const CliContext& context, const Args& args) {
  if (args.size() > 1) return VerbMisuse(context, "help");
  if (args.empty()) {
    PrintUsage(*context.out);
    return kExitOk;
  }
  const Verb* verb = FindVerb(args[0]);
  if (verb == nullptr) return UnknownVerb(context, args[0]);
  *context.out << "usage: nasctl " << verb->name << " " << verb->operands
               << "\n  " << verb->summary << "\n";
  return kExitOk;
}

int RunNasctl(const CliContext& context, const Args& args) {
  if (args.empty()) {
    PrintUsage(*context.err);
    return kExitUsage;
  }
  const Verb* verb = FindVerb(args[0]);
  if (verb == nullptr) return UnknownVerb(context, args[0]);
  return verb->run(context, Args(args.begin() + 1, args.end()));
}

std::string ResolveController(const std::string& flag, const char* env) {
  if (!flag.empty()) return flag;
  if (env != nullptr && std::strlen(env) > 0) return env;
  return kDefaultController;
}

}  // namespace nas::cli
