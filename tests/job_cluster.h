// JobCluster: the distributed path of the end-to-end job tests in one
// object: the real controller (gRPC server, scheduler, SQLite store) in this
// process on 127.0.0.1:0 and the real nas-worker binary as child processes
// (one or more). Create a job, start workers, wait for the job to end, list
// its trials. Workers share $TEST_TMPDIR/supernets as --supernet_dir.
//
// Test-only. Thread-compatible: one test thread drives it. The destructor
// kills the worker and shuts the server down.
#ifndef NAS_TESTS_JOB_CLUSTER_H_
#define NAS_TESTS_JOB_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/artifacts/artifact_store.h"
#include "controller/scheduler/scheduler.h"
#include "controller/service/server.h"
#include "proto/nas/v1/service.grpc.pb.h"
#include "storage/trial_store.h"
#include "tests/child_process.h"

namespace nas::testing {

class JobCluster {
 public:
  // Starts the controller on a SQLite file `db_name` under $TEST_TMPDIR.
  static absl::StatusOr<std::unique_ptr<JobCluster>> Create(
      const std::string& db_name);
  ~JobCluster();

  // RPC errors keep their code; the message names the RPC.
  absl::StatusOr<nas::v1::Job> CreateJob(const nas::v1::JobSpec& spec);
  // Starts a worker/nas-worker with --threads=1, --latency_batch_size=8,
  // the shared --supernet_dir and `name`, connected to this controller.
  // Each call starts one more worker.
  absl::Status StartWorker(const std::string& name);
  // Polls until the job leaves RUNNING or `timeout` passes; the last state.
  absl::StatusOr<nas::v1::Job> WaitForJob(const std::string& job_id,
                                          absl::Duration timeout);
  // CreateJob, StartWorker(worker_name), WaitForJob; logs the wall time.
  absl::StatusOr<nas::v1::Job> RunJob(const nas::v1::JobSpec& spec,
                                      const std::string& worker_name,
                                      absl::Duration timeout);
  absl::StatusOr<nas::v1::ListTrialsResponse> ListTrials(
      const std::string& job_id, bool with_measurements);

  nas::v1::SearchService::Stub& search() { return *search_; }
  // "127.0.0.1:PORT" of the controller (for nasctl --controller).
  std::string address() const;

 private:
  JobCluster() = default;

  std::unique_ptr<storage::TrialStore> store_;
  std::unique_ptr<artifacts::ArtifactStore> artifacts_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<service::ControllerServer> server_;
  std::unique_ptr<nas::v1::SearchService::Stub> search_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
};

}  // namespace nas::testing

#endif  // NAS_TESTS_JOB_CLUSTER_H_
