#include "controller/artifacts/artifact_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/scheduler/eval_key.h"
#include "glog/logging.h"

namespace nas::artifacts {
namespace {

namespace fs = std::filesystem;

constexpr char kWeightsDir[] = "weights";
constexpr char kTmpMarker[] = ".tmp-";

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

// Distinct temporary names within this process (the pid separates
// processes sharing a directory).
std::string UniqueSuffix() {
  static std::atomic<int64_t> counter{0};
  return absl::StrCat(kTmpMarker, getpid(), "-", counter.fetch_add(1));
}

bool Ended(nas::v1::TrialState state) {
  return state == nas::v1::SUCCEEDED || state == nas::v1::STOPPED_EARLY;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ArtifactStore>> ArtifactStore::Create(
    ArtifactStoreOptions options) {
  if (options.store == nullptr) {
    return absl::InvalidArgumentError("ArtifactStoreOptions.store is required");
  }
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("--artifact_dir: must not be empty");
  }
  if (options.max_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_weights_bytes: must be > 0, got ", options.max_bytes));
  }
  if (options.clock == nullptr) options.clock = Clock::Real();
  const fs::path weights = fs::path(options.dir) / kWeightsDir;
  std::error_code ec;
  fs::create_directories(weights, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--artifact_dir: cannot create ", weights.string(), ": ", ec.message()));
  }
  // Uploads a crash interrupted: never recorded, never visible.
  int removed = 0;
  for (const auto& entry : fs::directory_iterator(weights, ec)) {
    if (absl::StrContains(entry.path().filename().string(), kTmpMarker)) {
      fs::remove(entry.path(), ec);
      ++removed;
    }
  }
  if (removed > 0) {
    LOG(INFO) << "Removed " << removed << " interrupted upload(s) in "
              << weights.string();
  }
  return std::unique_ptr<ArtifactStore>(new ArtifactStore(std::move(options)));
}

std::string ArtifactStore::PathOf(const std::string& location) const {
  return (fs::path(options_.dir) / location).string();
}

// ------------------------------------------------------------------ upload

absl::StatusOr<std::unique_ptr<ArtifactStore::Upload>>
ArtifactStore::BeginWeightsUpload(const std::string& worker_id,
                                  const storage::TrialRef& ref,
                                  int64_t size_bytes) {
  if (size_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "header.size_bytes: must be > 0, got ", size_bytes));
  }
  if (size_bytes > options_.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "header.size_bytes: ", size_bytes, " bytes of weights are over the "
        "controller's limit of ", options_.max_bytes, " (--max_weights_bytes)"));
  }
  ASSIGN_OR_RETURN(nas::v1::Trial trial,
                   options_.store->GetTrial(ref.trial_id, false));
  const bool active = trial.state() == nas::v1::LEASED ||
                      trial.state() == nas::v1::RUNNING;
  if (trial.attempt() != ref.attempt || !active ||
      trial.worker_id() != worker_id) {
    return absl::FailedPreconditionError(absl::StrCat(
        "trial ", ref.trial_id, " attempt ", ref.attempt, " of worker ",
        worker_id, " is not active (trial is ",
        nas::v1::TrialState_Name(trial.state()), " at attempt ",
        trial.attempt(), " of worker ", trial.worker_id(), ")"));
  }
  const std::string location = absl::StrCat(
      kWeightsDir, "/", ref.trial_id, "-a", ref.attempt, ".pt");
  std::string tmp = PathOf(location) + UniqueSuffix();
  std::FILE* file = std::fopen(tmp.c_str(), "wb");
  if (file == nullptr) return ErrnoError("cannot create", tmp);
  return std::unique_ptr<Upload>(
      new Upload(this, ref, size_bytes, std::move(tmp), location, file));
}

ArtifactStore::Upload::~Upload() {
  if (!committed_) Abandon();
}

void ArtifactStore::Upload::Abandon() {
  if (file_ != nullptr) {
    std::fclose(file_);
    file_ = nullptr;
  }
  std::error_code ignored;
  fs::remove(tmp_path_, ignored);
}

absl::Status ArtifactStore::Upload::Append(absl::string_view bytes) {
  if (file_ == nullptr) {
    return absl::FailedPreconditionError("the upload has already ended");
  }
  if (received_ + static_cast<int64_t>(bytes.size()) > size_bytes_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "chunk: more bytes than header.size_bytes (", size_bytes_, ")"));
  }
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    return ErrnoError("cannot write", tmp_path_);
  }
  received_ += static_cast<int64_t>(bytes.size());
  sha_.Update(bytes);
  return absl::OkStatus();
}

absl::StatusOr<storage::ArtifactRecord> ArtifactStore::Upload::Commit() {
  if (file_ == nullptr || committed_) {
    return absl::FailedPreconditionError("the upload has already ended");
  }
  if (received_ != size_bytes_) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk: received ", received_, " bytes but "
                     "header.size_bytes is ", size_bytes_));
  }
  // Durable before visible: flush, fsync, close, then rename.
  const bool flushed = std::fflush(file_) == 0 && fsync(fileno(file_)) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!flushed || !closed) return ErrnoError("cannot write", tmp_path_);
  const std::string path = owner_->PathOf(location_);
  if (std::rename(tmp_path_.c_str(), path.c_str()) != 0) {
    return ErrnoError("cannot rename to", path);
  }
  if (int dir = ::open(fs::path(path).parent_path().c_str(), O_RDONLY);
      dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  storage::ArtifactRecord record;
  record.trial_id = ref_.trial_id;
  record.name = kWeights;
  record.attempt = ref_.attempt;
  record.size_bytes = size_bytes_;
  record.sha256 = sha_.HexDigest();
  record.location = location_;
  const int64_t now_ms = owner_->options_.clock->NowMs();
  absl::StatusOr<std::optional<storage::ArtifactRecord>> replaced =
      owner_->options_.store->PutArtifact(ref_, record, now_ms);
  if (!replaced.ok()) {
    // Refused (e.g. the lease expired meanwhile): keep nothing.
    std::error_code ignored;
    fs::remove(path, ignored);
    return replaced.status();
  }
  committed_ = true;
  if (replaced->has_value() && (*replaced)->location != location_) {
    std::error_code ignored;
    fs::remove(owner_->PathOf((*replaced)->location), ignored);
  }
  record.create_time_ms = now_ms;
  VLOG(1) << "Stored " << size_bytes_ << " bytes of weights of trial "
          << ref_.trial_id << " attempt " << ref_.attempt;
  return record;
}

// ------------------------------------------------------------------ download

absl::StatusOr<storage::ArtifactRecord> ArtifactStore::FindWeights(
    const nas::v1::Trial& trial) {
  if (!Ended(trial.state())) {
    return absl::NotFoundError(absl::StrCat(
        "trial ", trial.id(), " has no weights: it has not succeeded (",
        nas::v1::TrialState_Name(trial.state()), ")"));
  }
  ASSIGN_OR_RETURN(std::optional<storage::ArtifactRecord> own,
                   options_.store->GetArtifact(trial.id(), kWeights));
  if (own.has_value()) {
    if (own->attempt != trial.attempt()) {
      return absl::NotFoundError(absl::StrCat(
          "trial ", trial.id(), " has no weights of its final attempt ",
          trial.attempt(), " (only of attempt ", own->attempt,
          ", which did not finish)"));
    }
    return *own;
  }
  if (trial.cache_hit()) {
    ASSIGN_OR_RETURN(nas::v1::Job job, options_.store->GetJob(trial.job_id()));
    ASSIGN_OR_RETURN(
        std::optional<storage::CachedResult> source,
        options_.store->LookupResult(trial.architecture().hash(),
                                     scheduler::EvalKey(job.spec())));
    if (source.has_value() && source->trial_id != trial.id()) {
      ASSIGN_OR_RETURN(std::optional<storage::ArtifactRecord> reused,
                       options_.store->GetArtifact(source->trial_id, kWeights));
      if (reused.has_value()) return *reused;
      return absl::NotFoundError(absl::StrCat(
          "trial ", trial.id(), " was answered from trial ", source->trial_id,
          " (a cache hit), which has no weights"));
    }
  }
  return absl::NotFoundError(absl::StrCat(
      "trial ", trial.id(), " has no weights: its worker uploaded none (a "
      "table evaluation or search task, a worker run with "
      "--upload_weights=false, or a controller without --artifact_dir)"));
}

absl::Status ArtifactStore::ReadWeights(
    const std::string& job_id, int64_t trial_id, int64_t chunk_bytes,
    const std::function<bool(const nas::v1::WeightsInfo&)>& on_info,
    const std::function<bool(absl::string_view)>& on_chunk) {
  if (chunk_bytes <= 0) {
    return absl::InvalidArgumentError("chunk_bytes must be > 0");
  }
  ASSIGN_OR_RETURN(nas::v1::Trial trial,
                   options_.store->GetTrial(trial_id, false));
  if (!job_id.empty() && trial.job_id() != job_id) {
    return absl::NotFoundError(
        absl::StrCat("trial ", trial_id, " is not in job ", job_id));
  }
  ASSIGN_OR_RETURN(storage::ArtifactRecord record, FindWeights(trial));
  const std::string path = PathOf(record.location);
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (!in || ec || static_cast<int64_t>(size) != record.size_bytes) {
    return absl::DataLossError(absl::StrCat(
        "the weights of trial ", record.trial_id, " (", path, ") are ",
        ec || !in ? "missing" : absl::StrCat(size, " bytes instead of ",
                                             record.size_bytes)));
  }
  nas::v1::WeightsInfo info;
  info.set_trial_id(trial_id);
  info.set_source_trial_id(record.trial_id);
  info.set_attempt(record.attempt);
  info.set_size_bytes(record.size_bytes);
  info.set_sha256(record.sha256);
  info.set_create_time_ms(record.create_time_ms);
  if (!on_info(info)) return absl::CancelledError("the reader went away");
  std::vector<char> buffer(static_cast<size_t>(chunk_bytes));
  Sha256 sha;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const absl::string_view chunk(buffer.data(),
                                  static_cast<size_t>(in.gcount()));
    if (chunk.empty()) break;
    sha.Update(chunk);
    if (!on_chunk(chunk)) return absl::CancelledError("the reader went away");
  }
  if (sha.HexDigest() != record.sha256) {
    return absl::DataLossError(absl::StrCat(
        "the weights of trial ", record.trial_id, " (", path,
        ") do not match their recorded SHA-256"));
  }
  return absl::OkStatus();
}

}  // namespace nas::artifacts
