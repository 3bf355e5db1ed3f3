#include "tests/job_cluster.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "storage/store_url.h"

namespace nas::testing {
namespace {

constexpr char kWorker[] = "worker/nas-worker";

absl::Status FromGrpc(const grpc::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  // gRPC and absl share the canonical code numbers.
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobCluster>> JobCluster::Create(
    const std::string& db_name) {
  std::unique_ptr<JobCluster> cluster(new JobCluster());
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  storage::StoreOptions store_options;
  store_options.sqlite_full_sync = false;
  ASSIGN_OR_RETURN(cluster->store_,
                   storage::OpenTrialStore(
                       absl::StrCat("sqlite://", dir, "/", db_name),
                       store_options));
  artifacts::ArtifactStoreOptions artifact_options;
  artifact_options.dir = absl::StrCat(dir, "/", db_name, ".artifacts");
  artifact_options.store = cluster->store_.get();
  ASSIGN_OR_RETURN(cluster->artifacts_,
                   artifacts::ArtifactStore::Create(artifact_options));
  scheduler::SchedulerOptions scheduler_options;
  scheduler_options.store = cluster->store_.get();
  scheduler_options.deferred_refill = true;
  scheduler_options.retry_after_ms = 100;
  ASSIGN_OR_RETURN(cluster->scheduler_,
                   scheduler::Scheduler::Create(scheduler_options));
  service::ServerOptions server_options;
  server_options.listen = "127.0.0.1:0";
  server_options.scheduler = cluster->scheduler_.get();
  storage::TrialStore* store = cluster->store_.get();
  server_options.get_trial = [store](int64_t id) {
    return store->GetTrial(id, /*with_measurements=*/false);
  };
  server_options.maintenance_interval = absl::Milliseconds(100);
  server_options.artifacts = cluster->artifacts_.get();
  ASSIGN_OR_RETURN(cluster->server_,
                   service::ControllerServer::Create(server_options));
  cluster->search_ = nas::v1::SearchService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", cluster->server_->port()),
      grpc::InsecureChannelCredentials()));
  return cluster;
}

std::string JobCluster::address() const {
  return absl::StrCat("127.0.0.1:", server_->port());
}

JobCluster::~JobCluster() {
  for (auto& worker : workers_) worker->Kill();
  if (server_ != nullptr) server_->Shutdown();
}

absl::StatusOr<nas::v1::Job> JobCluster::CreateJob(
    const nas::v1::JobSpec& spec) {
  nas::v1::CreateJobRequest create;
  *create.mutable_spec() = spec;
  nas::v1::Job job;
  grpc::ClientContext context;
  RETURN_IF_ERROR(
      FromGrpc(search_->CreateJob(&context, create, &job), "CreateJob"));
  return job;
}

absl::Status JobCluster::StartWorker(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  ChildProcess& worker =
      *workers_.emplace_back(std::make_unique<ChildProcess>());
  return worker
      .Start({kWorker, absl::StrCat("--controller=127.0.0.1:", server_->port()),
              "--threads=1", absl::StrCat("--name=", name),
              "--latency_batch_size=8",
              absl::StrCat("--supernet_dir=", dir != nullptr ? dir : "/tmp",
                           "/supernets")})
      .status();
}

absl::StatusOr<nas::v1::Job> JobCluster::WaitForJob(const std::string& job_id,
                                                    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  nas::v1::Job job;
  do {
    absl::SleepFor(absl::Milliseconds(200));
    grpc::ClientContext context;
    nas::v1::GetJobRequest get;
    get.set_job_id(job_id);
    RETURN_IF_ERROR(FromGrpc(search_->GetJob(&context, get, &job), "GetJob"));
  } while (job.state() == nas::v1::JOB_RUNNING && absl::Now() < deadline);
  return job;
}

absl::StatusOr<nas::v1::Job> JobCluster::RunJob(const nas::v1::JobSpec& spec,
                                                const std::string& worker_name,
                                                absl::Duration timeout) {
  ASSIGN_OR_RETURN(nas::v1::Job job, CreateJob(spec));
  RETURN_IF_ERROR(StartWorker(worker_name));
  const absl::Time start = absl::Now();
  ASSIGN_OR_RETURN(job, WaitForJob(job.id(), timeout));
  LOG(INFO) << "Job " << spec.name() << " ended in " << absl::Now() - start
            << " as " << nas::v1::JobState_Name(job.state());
  return job;
}

absl::StatusOr<nas::v1::ListTrialsResponse> JobCluster::ListTrials(
    const std::string& job_id, bool with_measurements) {
  nas::v1::ListTrialsRequest list;
  list.set_job_id(job_id);
  list.set_with_measurements(with_measurements);
  nas::v1::ListTrialsResponse trials;
  grpc::ClientContext context;
  RETURN_IF_ERROR(
      FromGrpc(search_->ListTrials(&context, list, &trials), "ListTrials"));
  return trials;
}

}  // namespace nas::testing
