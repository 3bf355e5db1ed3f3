// `nasctl validate SPEC`.
#include "cli/verbs.h"
#include "common/spec/job_spec.h"

namespace nas::cli {

int RunValidate(const CliContext& context, const Args& args) {
  if (args.size() != 1) return VerbMisuse(context, "validate");
  const spec::CheckedJobSpec checked = spec::CheckJobSpecFile(args[0]);
  if (!checked.errors.empty()) {
    for (const spec::FieldError& error : checked.errors) {
      *context.err << error.ToString() << "\n";
    }
    return kExitUsage;
  }
  *context.out << spec::SummarizeJobSpec(checked.spec) << "\n";
  return kExitOk;
}

}  // namespace nas::cli
