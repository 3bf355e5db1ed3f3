// ForwardingTrialStore: a TrialStore that passes every call to another one
// (like leveldb's EnvWrapper). Tests derive from it and override the calls
// they want to fail or observe, e.g. a completion whose write fails once.
//
// Thread-safety: as the wrapped store's. Ownership: the wrapped store is
// not owned and must outlive the wrapper.
#ifndef NAS_STORAGE_TESTING_FORWARDING_TRIAL_STORE_H_
#define NAS_STORAGE_TESTING_FORWARDING_TRIAL_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/trial_store.h"

namespace nas::storage::testing {

class ForwardingTrialStore : public TrialStore {
 public:
  explicit ForwardingTrialStore(TrialStore* base) : base_(base) {}

  absl::StatusOr<nas::v1::Job> CreateJob(const nas::v1::JobSpec& spec,
                                         const std::string& request_id,
                                         int64_t now_ms) override {
    return base_->CreateJob(spec, request_id, now_ms);
  }
  absl::StatusOr<nas::v1::Job> GetJob(const std::string& job_id) override {
    return base_->GetJob(job_id);
  }
  absl::StatusOr<std::vector<nas::v1::Job>> ListJobs(nas::v1::JobState state,
                                                     int32_t limit,
                                                     int64_t offset) override {
    return base_->ListJobs(state, limit, offset);
  }
  absl::Status SetJobState(const std::string& job_id, nas::v1::JobState state,
                           const std::string& message,
                           int64_t now_ms) override {
    return base_->SetJobState(job_id, state, message, now_ms);
  }
  absl::Status UpdateJobSpec(const std::string& job_id,
                             const nas::v1::JobSpec& spec,
                             int64_t now_ms) override {
    return base_->UpdateJobSpec(job_id, spec, now_ms);
  }
  absl::StatusOr<std::vector<int64_t>> InsertTrials(
      const std::string& job_id, const std::vector<NewTrial>& trials,
      const std::optional<StrategySnapshot>& snapshot,
      int64_t now_ms) override {
    return base_->InsertTrials(job_id, trials, snapshot, now_ms);
  }
  absl::StatusOr<std::optional<nas::v1::Trial>> AcquireTrial(
      const std::string& job_id, const std::string& worker_id,
      int64_t lease_deadline_ms, int64_t now_ms) override {
    return base_->AcquireTrial(job_id, worker_id, lease_deadline_ms, now_ms);
  }
  PendingWrite<absl::StatusOr<std::optional<nas::v1::Trial>>>
  IssueAcquireTrial(const std::string& job_id, const std::string& worker_id,
                    int64_t lease_deadline_ms, int64_t now_ms) override {
    return base_->IssueAcquireTrial(job_id, worker_id, lease_deadline_ms,
                                    now_ms);
  }
  PendingWrite<absl::Status> IssueCompleteTrial(
      const TrialRef& ref, const TrialOutcome& outcome,
      const std::optional<StrategySnapshot>& snapshot,
      int64_t now_ms) override {
    return base_->IssueCompleteTrial(ref, outcome, snapshot, now_ms);
  }
  PendingWrite<absl::StatusOr<FailResult>> IssueFailTrial(
      const TrialRef& ref, const std::string& reason,
      const std::string& message, int32_t max_attempts,
      const std::optional<StrategySnapshot>& snapshot,
      int64_t now_ms) override {
    return base_->IssueFailTrial(ref, reason, message, max_attempts, snapshot,
                                 now_ms);
  }
  PendingWrite<absl::Status> IssueAddMeasurement(
      const TrialRef& ref, const nas::v1::Measurement& m,
      int64_t lease_deadline_ms) override {
    return base_->IssueAddMeasurement(ref, m, lease_deadline_ms);
  }
  absl::Status ExtendLease(const TrialRef& ref,
                           int64_t lease_deadline_ms) override {
    return base_->ExtendLease(ref, lease_deadline_ms);
  }
  absl::Status AddMeasurement(const TrialRef& ref,
                              const nas::v1::Measurement& m) override {
    return base_->AddMeasurement(ref, m);
  }
  absl::Status CompleteTrial(const TrialRef& ref, const TrialOutcome& outcome,
                             const std::optional<StrategySnapshot>& snapshot,
                             int64_t now_ms) override {
    return base_->CompleteTrial(ref, outcome, snapshot, now_ms);
  }
  absl::StatusOr<FailResult> FailTrial(
      const TrialRef& ref, const std::string& reason,
      const std::string& message, int32_t max_attempts,
      const std::optional<StrategySnapshot>& snapshot,
      int64_t now_ms) override {
    return base_->FailTrial(ref, reason, message, max_attempts, snapshot,
                            now_ms);
  }
  absl::StatusOr<std::vector<ExpiredLease>> RequeueExpiredLeases(
      int64_t now_ms, int32_t max_expirations) override {
    return base_->RequeueExpiredLeases(now_ms, max_expirations);
  }
  absl::StatusOr<int64_t> CancelActiveTrials(const std::string& job_id,
                                             int64_t now_ms) override {
    return base_->CancelActiveTrials(job_id, now_ms);
  }
  absl::StatusOr<nas::v1::Trial> GetTrial(int64_t trial_id,
                                          bool with_measurements) override {
    return base_->GetTrial(trial_id, with_measurements);
  }
  absl::StatusOr<std::vector<nas::v1::Trial>> ListTrials(
      const TrialQuery& query) override {
    return base_->ListTrials(query);
  }
  absl::StatusOr<std::vector<nas::v1::Trial>> ParetoFront(
      const std::string& job_id, const std::string& metric_a,
      nas::v1::Direction direction_a, const std::string& metric_b,
      nas::v1::Direction direction_b) override {
    return base_->ParetoFront(job_id, metric_a, direction_a, metric_b,
                              direction_b);
  }
  absl::StatusOr<std::optional<CachedResult>> LookupResult(
      const std::string& arch_hash, const std::string& eval_key) override {
    return base_->LookupResult(arch_hash, eval_key);
  }
  absl::StatusOr<std::optional<ArtifactRecord>> PutArtifact(
      const TrialRef& ref, const ArtifactRecord& artifact,
      int64_t now_ms) override {
    return base_->PutArtifact(ref, artifact, now_ms);
  }
  absl::StatusOr<std::optional<ArtifactRecord>> GetArtifact(
      int64_t trial_id, const std::string& name) override {
    return base_->GetArtifact(trial_id, name);
  }
  absl::StatusOr<std::optional<StrategySnapshot>> LatestSnapshot(
      const std::string& job_id) override {
    return base_->LatestSnapshot(job_id);
  }
  absl::StatusOr<std::string> RegisterWorker(const nas::v1::WorkerInfo& info,
                                             int64_t now_ms) override {
    return base_->RegisterWorker(info, now_ms);
  }
  absl::Status TouchWorker(const std::string& worker_id,
                           int64_t now_ms) override {
    return base_->TouchWorker(worker_id, now_ms);
  }

 private:
  TrialStore* const base_;
};

}  // namespace nas::storage::testing

#endif  // NAS_STORAGE_TESTING_FORWARDING_TRIAL_STORE_H_
