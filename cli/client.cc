#include "cli/client.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace nas::cli {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     const char* what) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": cannot read \"", path, "\""));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Create(
    const CliContext& context) {
  std::string token = context.token;
  if (!context.token_file.empty()) {
    absl::StatusOr<std::string> t = ReadFile(context.token_file, "--token_file");
    if (!t.ok()) return t.status();
    token = std::string(absl::StripAsciiWhitespace(*t));
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (!context.ca_cert.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(context.ca_cert, "--ca_cert");
    if (!ca.ok()) return ca.status();
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = *ca;
    creds = grpc::SslCredentials(options);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(context.controller, creds, args);
  return std::unique_ptr<Client>(new Client(
      context.controller, std::move(token),
      nas::v1::SearchService::NewStub(channel)));
}

std::unique_ptr<grpc::ClientContext> Client::NewContext(
    absl::Duration timeout) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
  if (timeout != absl::InfiniteDuration()) {
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  return ctx;
}

std::unique_ptr<Client> ConnectOrReport(const CliContext& context) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(context);
  if (!client.ok()) {
    *context.err << "nasctl: " << client.status().message() << "\n";
    return nullptr;
  }
  return std::move(*client);
}

bool ListAllTrials(Client& client, nas::v1::ListTrialsRequest request,
                   long long want, std::vector<nas::v1::Trial>* trials,
                   grpc::Status* rpc) {
  while (true) {
    const long long page =
        want > 0 ? std::min<long long>(1000, want - trials->size()) : 1000;
    request.set_page_size(static_cast<int32_t>(page));
    nas::v1::ListTrialsResponse resp;
    *rpc = client.stub().ListTrials(client.NewContext().get(), request, &resp);
    if (!rpc->ok()) return false;
    trials->insert(trials->end(), resp.trials().begin(), resp.trials().end());
    if (resp.next_page_token().empty() || resp.trials().empty() ||
        (want > 0 && static_cast<long long>(trials->size()) >= want)) {
      return true;
    }
    request.set_page_token(resp.next_page_token());
  }
}

bool FetchJob(Client& client, const std::string& job_id, nas::v1::Job* job,
              grpc::Status* rpc) {
  nas::v1::GetJobRequest req;
  req.set_job_id(job_id);
  *rpc = client.stub().GetJob(client.NewContext().get(), req, job);
  return rpc->ok();
}

int ReportRpcError(const CliContext& context, const std::string& address,
                   const std::string& what, const grpc::Status& status) {
  *context.err << "nasctl: " << what << ": ";
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    *context.err << "controller " << address << " is unreachable ("
                 << status.error_message()
                 << "); set --controller or $NAS_CONTROLLER\n";
    return kExitFailure;
  }
  *context.err << status.error_message() << "\n";
  if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
      status.error_code() == grpc::StatusCode::NOT_FOUND) {
    return kExitUsage;
  }
  return kExitFailure;
}

}  // namespace nas::cli
