// `nasctl report` and `nasctl export`: results as files a user keeps.
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "cli/alphas.h"
#include "cli/client.h"
#include "cli/report.h"
#include "cli/svg.h"
#include "cli/verb_args.h"
#include "cli/verbs.h"
#include "common/sha256.h"
#include "google/protobuf/util/json_util.h"

namespace nas::cli {
namespace {

bool WriteFile(const CliContext& context, const std::filesystem::path& path,
               const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    *context.err << "nasctl: cannot write " << path.string() << "\n";
    return false;
  }
  return true;
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &json, options);
  return json;
}

// Parses `JOB --out PATH [extra options]`, connects and fetches the job.
// Returns -1 on success, else the exit code (after printing why).
int OpenJob(const CliContext& context, const char* verb, const Args& args,
            std::vector<OptionSpec> options, ParsedArgs* parsed,
            std::unique_ptr<Client>* client, nas::v1::Job* job) {
  options.push_back({"out", true});
  absl::StatusOr<ParsedArgs> p = ParseVerbArgs(args, options);
  if (!p.ok() || p->positional.size() != 1 || !p->Has("out")) {
    if (!p.ok()) *context.err << "nasctl " << verb << ": " << p.status().message() << "\n";
    return VerbMisuse(context, verb);
  }
  *parsed = std::move(*p);
  *client = ConnectOrReport(context);
  if (!*client) return kExitFailure;
  grpc::Status rpc;
  if (!FetchJob(**client, parsed->positional[0], job, &rpc)) {
    return ReportRpcError(context, (*client)->address(), verb, rpc);
  }
  return -1;
}

// Downloads the trial's weights to `dir`/weights.pt (and their description to
// weights.json), checking size and SHA-256; written under a temporary name
// and renamed, so weights.pt is whole or absent. Returns -1 when written or
// when the trial has none (NOT_FOUND: a note on stderr), else the exit code.
int DownloadWeights(const CliContext& context, Client& client,
                    const std::string& job_id, int64_t trial_id,
                    const std::filesystem::path& dir) {
  nas::v1::DownloadWeightsRequest req;
  req.set_job_id(job_id);
  req.set_trial_id(trial_id);
  std::unique_ptr<grpc::ClientContext> rpc_context =
      client.NewContext(absl::Minutes(10));
  std::unique_ptr<grpc::ClientReader<nas::v1::DownloadWeightsResponse>> reader =
      client.stub().DownloadWeights(rpc_context.get(), req);
  const std::filesystem::path part = dir / "weights.pt.part";
  std::ofstream out(part, std::ios::binary | std::ios::trunc);
  nas::v1::DownloadWeightsResponse message;
  nas::v1::WeightsInfo info;
  bool have_info = false;
  int64_t received = 0;
  Sha256 sha;
  while (reader->Read(&message)) {
    if (message.has_info()) {
      info = message.info();
      have_info = true;
    }
    out << message.chunk();
    sha.Update(message.chunk());
    received += static_cast<int64_t>(message.chunk().size());
  }
  out.close();
  const grpc::Status status = reader->Finish();
  std::error_code ignored;
  if (!status.ok() || !out || !have_info) {
    std::filesystem::remove(part, ignored);
    if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      // No stale file of an earlier export may pass for this trial's.
      std::filesystem::remove(dir / "weights.pt", ignored);
      std::filesystem::remove(dir / "weights.json", ignored);
      *context.err << "nasctl export: no weights: " << status.error_message()
                   << "\n";
      return -1;
    }
    if (!status.ok()) {
      return ReportRpcError(context, client.address(), "export (weights)",
                            status);
    }
    *context.err << "nasctl export: cannot write " << part.string() << "\n";
    return kExitFailure;
  }
  const std::string digest = sha.HexDigest();
  if (received != info.size_bytes() || digest != info.sha256()) {
    std::filesystem::remove(part, ignored);
    *context.err << "nasctl export: the weights arrived damaged (" << received
                 << " bytes, sha256 " << digest << "; expected "
                 << info.size_bytes() << " bytes, sha256 " << info.sha256()
                 << ")\n";
    return kExitFailure;
  }
  std::filesystem::rename(part, dir / "weights.pt", ignored);
  if (ignored || !WriteFile(context, dir / "weights.json", ToJson(info))) {
    *context.err << "nasctl export: cannot write " << (dir / "weights.pt").string()
                 << "\n";
    return kExitFailure;
  }
  return -1;
}

// DARTS: the supernet search behind `trial` (the trial itself when it is
// one, else the search whose derived genotype it retrains) gives alphas.svg
// (heat map of the last epoch), alphas_epochs.svg (one per epoch) and
// alphas.csv; a search trial's derived cells are drawn like a genotype's.
// Returns -1 when done (or when no search is found: a note on stderr), else
// the exit code.
int ExportDarts(const CliContext& context, Client& client,
                const nas::v1::Job& job, const nas::v1::Trial& trial,
                const std::filesystem::path& dir) {
  const nas::v1::SearchSpace& space = job.spec().search_space();
  const std::vector<std::string> ops = DartsOpsOf(space);
  std::vector<nas::v1::Trial> all;
  const nas::v1::Trial* search = nullptr;
  nas::v1::CellGenotype derived;
  if (DerivedGenotypeOf(trial, ops, &derived) ||
      !AlphaTableFromMetrics(trial.metrics(), ops).empty()) {
    search = &trial;
  } else if (trial.architecture().has_cell()) {
    nas::v1::ListTrialsRequest req;
    req.set_job_id(job.id());
    req.set_with_measurements(true);
    grpc::Status rpc;
    if (!ListAllTrials(client, req, 0, &all, &rpc)) {
      return ReportRpcError(context, client.address(), "export (alphas)", rpc);
    }
    for (const nas::v1::Trial& t : all) {
      if (DerivedGenotypeOf(t, ops, &derived) &&
          SameGenotype(derived, trial.architecture().cell())) {
        search = &t;
        break;
      }
    }
  }
  if (search == nullptr) {
    *context.err << "nasctl export: no DARTS search trial derived trial "
                 << trial.id() << ": no alphas\n";
    return -1;
  }
  const bool have_derived = DerivedGenotypeOf(*search, ops, &derived);
  const auto epochs = AlphaEpochs(*search, ops);
  const std::string from = absl::StrCat("search trial ", search->id());
  bool ok =
      WriteFile(context, dir / "alphas.csv", AlphasToCsv(epochs)) &&
      WriteFile(context, dir / "alphas.svg",
                RenderAlphaHeatMap(
                    AlphaTableFromMetrics(search->metrics(), ops),
                    have_derived ? &derived : nullptr,
                    absl::StrCat(from, ": softmax(alpha), last epoch"))) &&
      WriteFile(context, dir / "alphas_epochs.svg",
                RenderAlphaEpochs(epochs, absl::StrCat(from, ": softmax(alpha) per epoch")));
  if (ok && have_derived && search == &trial) {
    ok = WriteFile(context, dir / "normal.dot", CellToDot(derived.normal(), space, "normal")) &&
         WriteFile(context, dir / "normal.svg",
                   RenderCell(derived.normal(), space,
                              absl::StrCat(from, ": derived normal cell"))) &&
         WriteFile(context, dir / "reduce.dot", CellToDot(derived.reduce(), space, "reduce")) &&
         WriteFile(context, dir / "reduce.svg",
                   RenderCell(derived.reduce(), space,
                              absl::StrCat(from, ": derived reduction cell")));
  }
  return ok ? -1 : kExitFailure;
}

}  // namespace

int RunReport(const CliContext& context, const Args& args) {
  ParsedArgs parsed;
  std::unique_ptr<Client> client;
  nas::v1::Job job;
  if (int code = OpenJob(context, "report", args, {}, &parsed, &client, &job);
      code >= 0) {
    return code;
  }
  const std::string job_id = parsed.positional[0];
  grpc::Status rpc;
  nas::v1::ListTrialsRequest req;
  req.set_job_id(job_id);
  std::vector<nas::v1::Trial> trials;
  if (!ListAllTrials(*client, req, 0, &trials, &rpc)) {
    return ReportRpcError(context, client->address(), "report", rpc);
  }
  const std::string out = parsed.Get("out", "");
  if (!WriteFile(context, out, RenderReport(job, trials))) return kExitFailure;
  *context.out << out << "\n";
  return kExitOk;
}

int RunExport(const CliContext& context, const Args& args) {
  ParsedArgs parsed;
  std::unique_ptr<Client> client;
  nas::v1::Job job;
  if (int code = OpenJob(context, "export", args,
                         {{"trial", true}, {"no_weights", false}}, &parsed,
                         &client, &job);
      code >= 0) {
    return code;
  }
  absl::StatusOr<long long> trial_id = parsed.GetInt("trial", 0);
  if (!trial_id.ok() || *trial_id < 0) {
    *context.err << "nasctl export: --trial must be a trial id\n";
    return kExitUsage;
  }
  const std::string job_id = parsed.positional[0];
  grpc::Status rpc;
  // The asked-for trial, else the best completed one.
  nas::v1::ListTrialsRequest req;
  req.set_job_id(job_id);
  req.set_with_measurements(true);
  std::vector<nas::v1::Trial> trials;
  long long want = 1;
  if (*trial_id > 0) {
    want = 0;
  } else {
    req.set_order(nas::v1::ORDER_BY_OBJECTIVE);
    req.add_states(nas::v1::SUCCEEDED);
  }
  if (!ListAllTrials(*client, req, want, &trials, &rpc)) {
    return ReportRpcError(context, client->address(), "export", rpc);
  }
  const nas::v1::Trial* trial = nullptr;
  for (const auto& t : trials) {
    if (*trial_id == 0 || t.id() == *trial_id) {
      trial = &t;
      break;
    }
  }
  if (trial == nullptr) {
    *context.err << "nasctl export: "
                 << (*trial_id > 0 ? absl::StrCat("trial ", *trial_id, " is not in job ", job_id)
                                   : absl::StrCat("job ", job_id, " has no succeeded trial yet"))
                 << "\n";
    return kExitUsage;
  }
  const std::filesystem::path dir =
      std::filesystem::path(parsed.Get("out", "")) / absl::StrCat("trial-", trial->id());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    *context.err << "nasctl export: cannot create " << dir.string() << ": "
                 << ec.message() << "\n";
    return kExitFailure;
  }
  const nas::v1::SearchSpace& space = job.spec().search_space();
  bool ok = WriteFile(context, dir / "genotype.json", ToJson(trial->architecture())) &&
            WriteFile(context, dir / "trial.json", ToJson(*trial)) &&
            WriteFile(context, dir / "job_spec.json", ToJson(job.spec()));
  if (ok && trial->architecture().has_cell()) {
    const auto& cell = trial->architecture().cell();
    ok = WriteFile(context, dir / "normal.dot", CellToDot(cell.normal(), space, "normal")) &&
         WriteFile(context, dir / "normal.svg",
                   RenderCell(cell.normal(), space,
                              absl::StrCat("trial ", trial->id(), ": normal cell")));
    if (ok && space.has_darts()) {
      ok = WriteFile(context, dir / "reduce.dot", CellToDot(cell.reduce(), space, "reduce")) &&
           WriteFile(context, dir / "reduce.svg",
                     RenderCell(cell.reduce(), space,
                                absl::StrCat("trial ", trial->id(), ": reduction cell")));
    }
  }
  if (ok && job.spec().strategy().has_darts()) {
    if (int code = ExportDarts(context, *client, job, *trial, dir); code >= 0) {
      return code;
    }
  }
  if (!ok) return kExitFailure;
  if (!parsed.Has("no_weights")) {
    if (int code = DownloadWeights(context, *client, job_id, trial->id(), dir);
        code >= 0) {
      return code;
    }
  }
  *context.out << dir.string() << "\n";
  return kExitOk;
}

}  // namespace nas::cli
