// ArtifactStore: the files trials produce, kept by the controller (workers
// never talk to the trial store, and nasctl only to the gRPC API). Today one
// kind: a trial's trained weights, uploaded by its worker before
// CompleteTrial and downloaded by `nasctl export`.
//
// The bytes live under Options.dir (`weights/<trial>-a<attempt>.pt`); the
// trial store records which attempt's file is the trial's
// (TrialStore::PutArtifact, fenced like every trial write). An upload is
// written to a temporary file in the same directory, flushed to disk and
// renamed over its final name, so a file is there whole or not at all; its
// record is written after the rename, and a refused record removes the file.
// Create() removes temporary files a crash left behind.
//
// Fencing: BeginWeightsUpload and Commit both refuse (FAILED_PRECONDITION) an
// attempt that is not the trial's active attempt of that worker; the store's
// fence decides at Commit, so an attempt whose lease expired mid-upload
// keeps nothing.
//
// Cache hits: a trial answered from the result cache has no upload of its
// own; OpenWeights answers with the weights of the trial it reused (the one
// TrialStore::LookupResult returns for its architecture and evaluation key).
//
// Thread-safety: thread-safe (uploads of different attempts write different
// files; the store serializes the records). An Upload is thread-compatible.
// Ownership: the trial store and clock are not owned and must outlive it.
#ifndef NAS_CONTROLLER_ARTIFACTS_ARTIFACT_STORE_H_
#define NAS_CONTROLLER_ARTIFACTS_ARTIFACT_STORE_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "common/sha256.h"
#include "proto/nas/v1/service.pb.h"
#include "storage/trial_store.h"

namespace nas::artifacts {

// The artifact name of trained weights (trial_artifacts.name).
inline constexpr char kWeights[] = "weights";

struct ArtifactStoreOptions {
  // Directory of the files; created if missing. Required.
  std::string dir;
  // Largest weights file accepted (RESOURCE_EXHAUSTED beyond).
  int64_t max_bytes = int64_t{512} << 20;
  // Required; not owned.
  storage::TrialStore* store = nullptr;
  // Not owned; default Clock::Real().
  Clock* clock = nullptr;
};

class ArtifactStore {
 public:
  static absl::StatusOr<std::unique_ptr<ArtifactStore>> Create(
      ArtifactStoreOptions options);

  // One upload in progress. Destroying it before a successful Commit()
  // removes its temporary file (nothing is kept).
  class Upload {
   public:
    ~Upload();
    Upload(const Upload&) = delete;
    Upload& operator=(const Upload&) = delete;

    // INVALID_ARGUMENT once more bytes arrive than the header announced.
    absl::Status Append(absl::string_view bytes);
    // Checks the size, makes the file durable and visible under its final
    // name, and records it with the trial (fenced). Returns the record.
    absl::StatusOr<storage::ArtifactRecord> Commit();

   private:
    friend class ArtifactStore;
    Upload(ArtifactStore* owner, storage::TrialRef ref, int64_t size_bytes,
           std::string tmp_path, std::string location, std::FILE* file)
        : owner_(owner),
          ref_(ref),
          size_bytes_(size_bytes),
          tmp_path_(std::move(tmp_path)),
          location_(std::move(location)),
          file_(file) {}
    void Abandon();

    ArtifactStore* const owner_;
    const storage::TrialRef ref_;
    const int64_t size_bytes_;
    const std::string tmp_path_;
    const std::string location_;  // relative to the artifact directory
    std::FILE* file_;             // null once closed
    int64_t received_ = 0;
    Sha256 sha_;
    bool committed_ = false;
  };

  // Starts an upload of `size_bytes` of weights by `worker_id` for the
  // attempt `ref`. FAILED_PRECONDITION unless it is the trial's active
  // attempt of that worker; RESOURCE_EXHAUSTED over max_bytes;
  // INVALID_ARGUMENT for size_bytes <= 0; NOT_FOUND for an unknown trial.
  absl::StatusOr<std::unique_ptr<Upload>> BeginWeightsUpload(
      const std::string& worker_id, const storage::TrialRef& ref,
      int64_t size_bytes);

  // Streams the weights of `trial_id` (for a cache hit: of the trial it
  // reused): `on_info` once, then `on_chunk` with consecutive pieces of at
  // most `chunk_bytes`; either returning false stops (CANCELLED). NOT_FOUND
  // with the reason when there are none; when `job_id` is non-empty, also
  // when the trial is not in that job. DATA_LOSS if the file is missing or
  // its size or SHA-256 differs from the record.
  absl::Status ReadWeights(
      const std::string& job_id, int64_t trial_id, int64_t chunk_bytes,
      const std::function<bool(const nas::v1::WeightsInfo&)>& on_info,
      const std::function<bool(absl::string_view)>& on_chunk);

  const std::string& dir() const { return options_.dir; }

 private:
  explicit ArtifactStore(ArtifactStoreOptions options)
      : options_(std::move(options)) {}
  std::string PathOf(const std::string& location) const;
  // The record of the weights `trial` answers with, and the trial that made
  // them; NOT_FOUND with the reason.
  absl::StatusOr<storage::ArtifactRecord> FindWeights(
      const nas::v1::Trial& trial);

  const ArtifactStoreOptions options_;
};

}  // namespace nas::artifacts

#endif  // NAS_CONTROLLER_ARTIFACTS_ARTIFACT_STORE_H_
