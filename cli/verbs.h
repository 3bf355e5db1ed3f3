// The verbs of nasctl, one function each, listed in the table of nasctl.cc.
// Each returns an exit code of nasctl.h and writes only to the context's
// streams. Thread-safe as far as their streams are.
#ifndef NAS_CLI_VERBS_H_
#define NAS_CLI_VERBS_H_

#include "cli/nasctl.h"

namespace nas::cli {

// `nasctl validate SPEC`: parses, completes and validates a job spec file.
// Valid: prints the one-line summary to out, kExitOk. Invalid: prints each
// error on its own line to err, kExitUsage.
int RunValidate(const CliContext& context, const Args& args);

// SearchService verbs (job_verbs.cc). Each prints an RPC failure naming
// the controller and returns kExitFailure (kExitUsage for a bad argument or
// an unknown job).
int RunSubmit(const CliContext& context, const Args& args);
int RunJobs(const CliContext& context, const Args& args);
int RunStatus(const CliContext& context, const Args& args);
// Exits 0 when the job succeeds, 1 when it fails or is cancelled.
int RunWatch(const CliContext& context, const Args& args);
int RunTrials(const CliContext& context, const Args& args);
int RunPause(const CliContext& context, const Args& args);
int RunResume(const CliContext& context, const Args& args);
int RunCancel(const CliContext& context, const Args& args);
int RunExtend(const CliContext& context, const Args& args);

// Result files (report_verbs.cc): a self-contained HTML report, and one
// trial's genotype (JSON), cells (DOT, SVG), metrics and job spec.
int RunReport(const CliContext& context, const Args& args);
int RunExport(const CliContext& context, const Args& args);

// `nasctl help [VERB]`: the usage, or one verb's, to out.
int RunHelp(const CliContext& context, const Args& args);

}  // namespace nas::cli

#endif  // NAS_CLI_VERBS_H_
