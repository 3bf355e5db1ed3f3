// The verbs that talk to the controller's SearchService: submit, jobs,
// status, watch, trials, pause, resume, cancel, extend.
#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/client.h"
#include "cli/format.h"
#include "cli/verb_args.h"
#include "cli/verbs.h"
#include "common/spec/job_spec.h"

namespace nas::cli {
namespace {

// --format's value, or false after printing the error.
bool FormatOrMisuse(const CliContext& context, const char* verb,
                    const ParsedArgs& parsed, Format* format) {
  absl::StatusOr<Format> f = ParseFormat(parsed.Get("format", "table"));
  if (!f.ok()) {
    *context.err << "nasctl " << verb << ": " << f.status().message() << "\n";
    return false;
  }
  *format = *f;
  return true;
}

// Parses the verb's options; on misuse prints the error and usage.
bool ParseOrMisuse(const CliContext& context, const char* verb,
                   const Args& args, const std::vector<OptionSpec>& specs,
                   size_t positional, ParsedArgs* parsed) {
  absl::StatusOr<ParsedArgs> p = ParseVerbArgs(args, specs);
  if (!p.ok()) {
    *context.err << "nasctl " << verb << ": " << p.status().message() << "\n";
    VerbMisuse(context, verb);
    return false;
  }
  if (p->positional.size() != positional) {
    VerbMisuse(context, verb);
    return false;
  }
  *parsed = std::move(*p);
  return true;
}

bool IsTerminal(nas::v1::JobState state) {
  return state == nas::v1::JOB_SUCCEEDED || state == nas::v1::JOB_CANCELLED ||
         state == nas::v1::JOB_FAILED;
}

// pause / resume / cancel share everything but the RPC.
using JobRpc = grpc::Status (nas::v1::SearchService::Stub::*)(
    grpc::ClientContext*, const nas::v1::JobRequest&, nas::v1::Job*);

int RunJobRpc(const CliContext& context, const Args& args, const char* verb,
              JobRpc rpc) {
  ParsedArgs parsed;
  if (!ParseOrMisuse(context, verb, args, {}, 1, &parsed)) return kExitUsage;
  auto client = ConnectOrReport(context);
  if (!client) return kExitFailure;
  nas::v1::JobRequest req;
  req.set_job_id(parsed.positional[0]);
  nas::v1::Job job;
  grpc::Status s = ((client->stub()).*rpc)(client->NewContext().get(), req, &job);
  if (!s.ok()) return ReportRpcError(context, client->address(), verb, s);
  *context.out << job.id() << " " << JobStateName(job.state()) << "\n";
  return kExitOk;
}

}  // namespace

int RunSubmit(const CliContext& context, const Args& args) {
  ParsedArgs parsed;
  if (!ParseOrMisuse(context, "submit", args, {{"request_id", true}}, 1,
                     &parsed)) {
    return kExitUsage;
  }
  const spec::CheckedJobSpec checked =
      spec::CheckJobSpecFile(parsed.positional[0]);
  if (!checked.errors.empty()) {
    for (const spec::FieldError& e : checked.errors) {
      *context.err << e.ToString() << "\n";
    }
    return kExitUsage;
  }
  auto client = ConnectOrReport(context);
  if (!client) return kExitFailure;
  nas::v1::CreateJobRequest req;
  *req.mutable_spec() = checked.spec;
  req.set_request_id(parsed.Get("request_id", ""));
  nas::v1::Job job;
  grpc::Status s = client->stub().CreateJob(client->NewContext().get(), req, &job);
  if (!s.ok()) return ReportRpcError(context, client->address(), "submit", s);
  *context.out << job.id() << "\n";
  return kExitOk;
}

int RunJobs(const CliContext& context, const Args& args) {
  ParsedArgs parsed;
  if (!ParseOrMisuse(context, "jobs", args, {{"format", true}}, 0, &parsed)) {
    return kExitUsage;
  }
  Format format;
  if (!FormatOrMisuse(context, "jobs", parsed, &format)) return kExitUsage;
  auto client = ConnectOrReport(context);
  if (!client) return kExitFailure;
  std::vector<nas::v1::Job> jobs;
  nas::v1::ListJobsRequest req;
  req.set_page_size(500);
  while (true) {
    nas::v1::ListJobsResponse resp;
    grpc::Status s = client->stub().ListJobs(client->NewContext().get(), req, &resp);
    if (!s.ok()) return ReportRpcError(context, client->address(), "jobs", s);
    jobs.insert(jobs.end(), resp.jobs().begin(), resp.jobs().end());
    if (resp.next_page_token().empty()) break;
    req.set_page_token(resp.next_page_token());
  }
  PrintTable(JobsTable(jobs), format, *context.out);
  return kExitOk;
}

int RunStatus(const CliContext& context, const Args& args) {
  ParsedArgs parsed;
  if (!ParseOrMisuse(context, "status", args, {{"format", true}}, 1, &parsed)) {
    return kExitUsage;
  }
  Format format;
  if (!FormatOrMisuse(context, "status", parsed, &format)) return kExitUsage;
  auto client = ConnectOrReport(context);
  if (!client) return kExitFailure;
  grpc::Status rpc;
  nas::v1::Job job;
  if (!FetchJob(*client, parsed.positional[0], &job, &rpc)) {
    return ReportRpcError(context, client->address(), "status", rpc);
  }
  PrintTable(JobDetails(job), format, *context.out);
  return kExitOk;
}

int RunWatch(const CliContext& context, const Args& args) {
  ParsedArgs parsed;
  if (!ParseOrMisuse(context, "watch", args, {{"interval_ms", true}}, 1,
                     &parsed)) {
    return kExitUsage;
  }
  absl::StatusOr<long long> interval = parsed.GetInt("interval_ms", 500);
  if (!interval.ok() || *interval <= 0) {
    *context.err << "nasctl watch: --interval_ms must be a positive integer\n";
    return kExitUsage;
  }
  auto client = ConnectOrReport(context);
  if (!client) return kExitFailure;
  const absl::Time start = absl::Now();
  double completed_at_start = -1;
  std::string last;
  nas::v1::TrialCounts last_counts;
  int unreachable = 0;
  while (true) {
    grpc::Status rpc;
    nas::v1::Job job;
    if (!FetchJob(*client, parsed.positional[0], &job, &rpc)) {
      // A controller restart is not the end of a job: keep trying a while.
      if (rpc.error_code() == grpc::StatusCode::UNAVAILABLE && ++unreachable < 120) {
        std::this_thread::sleep_for(std::chrono::milliseconds(*interval));
        continue;
      }
      *context.out << "\n";
      return ReportRpcError(context, client->address(), "watch", rpc);
    }
    unreachable = 0;
    if (completed_at_start < 0) {
      completed_at_start =
          static_cast<double>(job.counts().succeeded() + job.counts().stopped_early());
    }
    const std::string line =
        ProgressLine(job, 30, absl::Now() - start, completed_at_start);
    if (context.interactive) {
      if (line != last) *context.out << "\r" << line << "\033[K" << std::flush;
    } else if (last.empty() ||
               job.counts().SerializeAsString() != last_counts.SerializeAsString() ||
               IsTerminal(job.state())) {
      // A log: one line per change of the counts, not per tick of the ETA.
      *context.out << line << "\n" << std::flush;
    }
    last = line;
    last_counts = job.counts();
    if (IsTerminal(job.state())) {
      if (context.interactive) *context.out << "\n";
      if (!job.message().empty()) *context.out << job.message() << "\n";
      return job.state() == nas::v1::JOB_SUCCEEDED ? kExitOk : kExitFailure;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(*interval));
  }
}

int RunTrials(const CliContext& context, const Args& args) {
  ParsedArgs parsed;
  if (!ParseOrMisuse(context, "trials", args,
                     {{"top", true},
                      {"pareto", false},
                      {"state", true},
                      {"format", true},
                      {"limit", true}},
                     1, &parsed)) {
    return kExitUsage;
  }
  absl::StatusOr<Format> format = ParseFormat(parsed.Get("format", "table"));
  absl::StatusOr<long long> top = parsed.GetInt("top", 0);
  absl::StatusOr<long long> limit = parsed.GetInt("limit", 0);
  for (const absl::Status& s :
       {format.status(), top.status(), limit.status()}) {
    if (!s.ok()) {
      *context.err << "nasctl trials: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  if (*top < 0 || *limit < 0) {
    *context.err << "nasctl trials: --top and --limit must be >= 0\n";
    return kExitUsage;
  }
  const std::string job_id = parsed.positional[0];
  auto client = ConnectOrReport(context);
  if (!client) return kExitFailure;
  grpc::Status rpc;
  nas::v1::Job job;
  if (!FetchJob(*client, job_id, &job, &rpc)) {
    return ReportRpcError(context, client->address(), "trials", rpc);
  }

  std::vector<nas::v1::Trial> trials;
  if (parsed.Has("pareto")) {
    nas::v1::GetParetoFrontRequest req;
    req.set_job_id(job_id);
    nas::v1::ListTrialsResponse resp;
    grpc::Status s =
        client->stub().GetParetoFront(client->NewContext().get(), req, &resp);
    if (!s.ok()) return ReportRpcError(context, client->address(), "trials", s);
    trials.assign(resp.trials().begin(), resp.trials().end());
  } else {
    nas::v1::ListTrialsRequest req;
    req.set_job_id(job_id);
    if (parsed.Has("state")) {
      absl::StatusOr<nas::v1::TrialState> state =
          ParseTrialState(parsed.Get("state", ""));
      if (!state.ok()) {
        *context.err << "nasctl trials: " << state.status().message() << "\n";
        return kExitUsage;
      }
      req.add_states(*state);
    }
    long long want = *top > 0 ? *top : *limit;
    if (*top > 0) {
      req.set_order(nas::v1::ORDER_BY_OBJECTIVE);
      if (!parsed.Has("state")) req.add_states(nas::v1::SUCCEEDED);
    }
    if (!ListAllTrials(*client, req, want, &trials, &rpc)) {
      return ReportRpcError(context, client->address(), "trials", rpc);
    }
  }
  PrintTable(TrialsTable(trials, job.spec()), *format, *context.out);
  return kExitOk;
}

int RunPause(const CliContext& context, const Args& args) {
  return RunJobRpc(context, args, "pause",
                   &nas::v1::SearchService::Stub::PauseJob);
}

int RunResume(const CliContext& context, const Args& args) {
  return RunJobRpc(context, args, "resume",
                   &nas::v1::SearchService::Stub::ResumeJob);
}

int RunCancel(const CliContext& context, const Args& args) {
  return RunJobRpc(context, args, "cancel",
                   &nas::v1::SearchService::Stub::CancelJob);
}

int RunExtend(const CliContext& context, const Args& args) {
  ParsedArgs parsed;
  if (!ParseOrMisuse(context, "extend", args,
                     {{"trials", true}, {"seconds", true}}, 1, &parsed)) {
    return kExitUsage;
  }
  absl::StatusOr<long long> trials = parsed.GetInt("trials", 0);
  absl::StatusOr<long long> seconds = parsed.GetInt("seconds", 0);
  if (!trials.ok() || !seconds.ok() || *trials < 0 || *seconds < 0 ||
      *trials + *seconds == 0) {
    *context.err << "nasctl extend: give --trials N and/or --seconds S "
                    "(non-negative integers, not both 0)\n";
    return kExitUsage;
  }
  auto client = ConnectOrReport(context);
  if (!client) return kExitFailure;
  nas::v1::ExtendBudgetRequest req;
  req.set_job_id(parsed.positional[0]);
  req.set_add_trials(*trials);
  req.set_add_wall_seconds(*seconds);
  nas::v1::Job job;
  grpc::Status s =
      client->stub().ExtendBudget(client->NewContext().get(), req, &job);
  if (!s.ok()) return ReportRpcError(context, client->address(), "extend", s);
  *context.out << job.id() << " " << JobStateName(job.state()) << " budget "
               << job.spec().budget().max_trials() << " trials\n";
  return kExitOk;
}

}  // namespace nas::cli
