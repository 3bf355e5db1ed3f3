#include "controller/artifacts/artifact_store.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/sha256.h"
#include "common/testing/status_matchers.h"
#include "controller/scheduler/eval_key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/store_url.h"

namespace nas::artifacts {
namespace {

namespace fs = std::filesystem;
using ::nas::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kWorker[] = "worker-1";

nas::v1::JobSpec Spec() {
  nas::v1::JobSpec spec;
  spec.set_name("weights");
  spec.mutable_search_space()->mutable_nb201();
  spec.mutable_evaluation()->mutable_train()->set_dataset("fashion_mnist");
  spec.mutable_budget()->set_max_trials(10);
  spec.add_objectives()->set_metric("accuracy");
  return spec;
}

std::string Bytes(size_t n, int seed = 1) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 31 + seed);
  return s;
}

// Files in the weights directory.
std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(fs::path(dir) / "weights")) {
    names.push_back(e.path().filename().string());
  }
  return names;
}

class ArtifactStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    auto store = storage::OpenTrialStore("sqlite::memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    ASSERT_OK_AND_ASSIGN(artifacts_, NewArtifactStore());
  }

  absl::StatusOr<std::unique_ptr<ArtifactStore>> NewArtifactStore() {
    ArtifactStoreOptions options;
    options.dir = dir_;
    options.max_bytes = 1000;
    options.store = store_.get();
    options.clock = &clock_;
    return ArtifactStore::Create(options);
  }

  // A new job with one trial of architecture `hash`, leased to kWorker.
  storage::TrialRef LeasedTrial(const std::string& hash = "arch-1") {
    auto job = store_->CreateJob(Spec(), "", clock_.NowMs());
    EXPECT_TRUE(job.ok()) << job.status();
    storage::NewTrial t;
    t.architecture.mutable_cell()->mutable_normal();
    t.architecture.set_canonical(hash);
    t.architecture.set_hash(hash);
    t.eval_key = scheduler::EvalKey(job->spec());
    EXPECT_TRUE(store_->InsertTrials(job->id(), {t}, std::nullopt, 0).ok());
    auto leased = store_->AcquireTrial(job->id(), kWorker,
                                       clock_.NowMs() + 1000, clock_.NowMs());
    EXPECT_TRUE(leased.ok() && leased->has_value());
    job_id_ = job->id();
    return {(*leased)->id(), (*leased)->attempt()};
  }

  absl::Status Complete(const storage::TrialRef& ref, bool cache_hit = false) {
    storage::TrialOutcome outcome;
    outcome.metrics = {{"accuracy", 0.5}};
    outcome.cache_hit = cache_hit;
    return store_->CompleteTrial(ref, outcome, std::nullopt, clock_.NowMs());
  }

  absl::Status Upload(const storage::TrialRef& ref, const std::string& bytes) {
    auto upload = artifacts_->BeginWeightsUpload(kWorker, ref, bytes.size());
    if (!upload.ok()) return upload.status();
    for (size_t at = 0; at < bytes.size(); at += 100) {
      if (absl::Status s = (*upload)->Append(bytes.substr(at, 100)); !s.ok()) {
        return s;
      }
    }
    return (*upload)->Commit().status();
  }

  // ReadWeights with 64-byte chunks; the bytes and the info.
  absl::StatusOr<std::string> Read(int64_t trial_id, nas::v1::WeightsInfo* info,
                                   const std::string& job_id = "") {
    std::string bytes;
    absl::Status s = artifacts_->ReadWeights(
        job_id, trial_id, 64,
        [&](const nas::v1::WeightsInfo& i) {
          *info = i;
          return true;
        },
        [&](absl::string_view chunk) {
          EXPECT_LE(chunk.size(), 64u);
          bytes.append(chunk.data(), chunk.size());
          return true;
        });
    if (!s.ok()) return s;
    return bytes;
  }

  std::string dir_;
  FakeClock clock_;
  std::unique_ptr<storage::TrialStore> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::string job_id_;
};

TEST_F(ArtifactStoreTest, AnUploadAppearsWholeOnlyAtCommit) {
  const storage::TrialRef ref = LeasedTrial();
  const std::string bytes = Bytes(900);
  ASSERT_OK_AND_ASSIGN(auto upload,
                       artifacts_->BeginWeightsUpload(kWorker, ref, 900));
  ASSERT_OK(upload->Append(absl::string_view(bytes).substr(0, 500)));
  // Half written: only a temporary file, no record.
  const std::string final_name = absl::StrCat(ref.trial_id, "-a1.pt");
  ASSERT_EQ(Files(dir_).size(), 1u);
  EXPECT_NE(Files(dir_)[0], final_name);
  ASSERT_OK_AND_ASSIGN(auto record, store_->GetArtifact(ref.trial_id, kWeights));
  EXPECT_FALSE(record.has_value());

  ASSERT_OK(upload->Append(absl::string_view(bytes).substr(500)));
  ASSERT_OK_AND_ASSIGN(storage::ArtifactRecord stored, upload->Commit());
  EXPECT_EQ(stored.sha256, Sha256Hex(bytes));
  EXPECT_EQ(Files(dir_), std::vector<std::string>{final_name});
  std::ifstream in(fs::path(dir_) / "weights" / final_name, std::ios::binary);
  std::stringstream on_disk;
  on_disk << in.rdbuf();
  EXPECT_EQ(on_disk.str(), bytes);

  nas::v1::WeightsInfo info;
  // Not served before the trial succeeds.
  EXPECT_THAT(Read(ref.trial_id, &info),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("LEASED")));
  ASSERT_OK(Complete(ref));
  ASSERT_OK_AND_ASSIGN(std::string got, Read(ref.trial_id, &info));
  EXPECT_EQ(got, bytes);
  EXPECT_EQ(info.trial_id(), ref.trial_id);
  EXPECT_EQ(info.source_trial_id(), ref.trial_id);
  EXPECT_EQ(info.attempt(), 1);
  EXPECT_EQ(info.size_bytes(), 900);
  EXPECT_EQ(info.sha256(), Sha256Hex(bytes));
  EXPECT_EQ(info.create_time_ms(), clock_.NowMs());
  EXPECT_THAT(Read(ref.trial_id, &info, "job-other"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not in job")));
  EXPECT_THAT(Read(ref.trial_id + 100, &info),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ArtifactStoreTest, AnAbandonedOrWrongSizedUploadKeepsNothing) {
  const storage::TrialRef ref = LeasedTrial();
  {
    ASSERT_OK_AND_ASSIGN(auto upload,
                         artifacts_->BeginWeightsUpload(kWorker, ref, 300));
    ASSERT_OK(upload->Append(Bytes(200)));
    // Too many bytes.
    EXPECT_THAT(upload->Append(Bytes(101)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("header.size_bytes")));
    // Too few.
    EXPECT_THAT(upload->Commit(), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("received 200 bytes")));
  }  // The worker went away.
  EXPECT_THAT(Files(dir_), IsEmpty());
  ASSERT_OK_AND_ASSIGN(auto record, store_->GetArtifact(ref.trial_id, kWeights));
  EXPECT_FALSE(record.has_value());
  ASSERT_OK(Complete(ref));
  nas::v1::WeightsInfo info;
  EXPECT_THAT(Read(ref.trial_id, &info),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("--upload_weights=false")));
}

TEST_F(ArtifactStoreTest, RefusesUploadsOverTheSizeLimit) {
  const storage::TrialRef ref = LeasedTrial();
  EXPECT_THAT(artifacts_->BeginWeightsUpload(kWorker, ref, 1001),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("--max_weights_bytes")));
  EXPECT_THAT(artifacts_->BeginWeightsUpload(kWorker, ref, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("header.size_bytes")));
  EXPECT_OK(Upload(ref, Bytes(1000)));
}

TEST_F(ArtifactStoreTest, RefusesStaleAttemptsAndOtherWorkers) {
  const storage::TrialRef first = LeasedTrial();
  EXPECT_THAT(artifacts_->BeginWeightsUpload("worker-2", first, 10),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not active")));
  // The lease expires in the middle of an upload: its commit is refused
  // and its file removed.
  ASSERT_OK_AND_ASSIGN(auto upload,
                       artifacts_->BeginWeightsUpload(kWorker, first, 10));
  ASSERT_OK(upload->Append(Bytes(10)));
  ASSERT_OK(store_->RequeueExpiredLeases(clock_.NowMs() + 1001, 3).status());
  EXPECT_THAT(upload->Commit(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("stale")));
  EXPECT_THAT(Files(dir_), IsEmpty());
  EXPECT_THAT(artifacts_->BeginWeightsUpload(kWorker, first, 10),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("PENDING at attempt 2")));

  // Attempt 2 uploads; attempt 1's late upload cannot replace it.
  auto second = store_->AcquireTrial(job_id_, kWorker, clock_.NowMs() + 5000,
                                     clock_.NowMs());
  ASSERT_TRUE(second.ok() && second->has_value());
  const storage::TrialRef ref2{first.trial_id, (*second)->attempt()};
  ASSERT_OK(Upload(ref2, Bytes(50, 2)));
  EXPECT_THAT(Upload(first, Bytes(50, 3)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK(Complete(ref2));
  EXPECT_THAT(Upload(ref2, Bytes(50, 4)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  nas::v1::WeightsInfo info;
  ASSERT_OK_AND_ASSIGN(std::string got, Read(first.trial_id, &info));
  EXPECT_EQ(got, Bytes(50, 2));
  EXPECT_EQ(info.attempt(), 2);
}

TEST_F(ArtifactStoreTest, ANewAttemptReplacesTheOldFile) {
  const storage::TrialRef first = LeasedTrial();
  ASSERT_OK(Upload(first, Bytes(40, 1)));
  ASSERT_OK(Upload(first, Bytes(40, 5)));  // the same attempt again
  EXPECT_EQ(Files(dir_).size(), 1u);
  ASSERT_OK(store_->RequeueExpiredLeases(clock_.NowMs() + 1001, 3).status());
  auto second = store_->AcquireTrial(job_id_, kWorker, clock_.NowMs() + 5000,
                                     clock_.NowMs());
  ASSERT_TRUE(second.ok() && second->has_value());
  const storage::TrialRef ref2{first.trial_id, 2};
  // Attempt 1's weights are not attempt 2's result.
  ASSERT_OK(Complete(ref2));
  nas::v1::WeightsInfo info;
  EXPECT_THAT(Read(first.trial_id, &info),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("only of attempt 1")));
}

TEST_F(ArtifactStoreTest, ACacheHitAnswersWithTheWeightsItReused) {
  const storage::TrialRef trained = LeasedTrial("arch-7");
  ASSERT_OK(Upload(trained, Bytes(77)));
  ASSERT_OK(Complete(trained));
  const storage::TrialRef hit = LeasedTrial("arch-7");  // another job
  ASSERT_OK(Complete(hit, /*cache_hit=*/true));
  nas::v1::WeightsInfo info;
  ASSERT_OK_AND_ASSIGN(std::string got, Read(hit.trial_id, &info, job_id_));
  EXPECT_EQ(got, Bytes(77));
  EXPECT_EQ(info.trial_id(), hit.trial_id);
  EXPECT_EQ(info.source_trial_id(), trained.trial_id);

  const storage::TrialRef untrained = LeasedTrial("arch-8");
  ASSERT_OK(Complete(untrained));
  const storage::TrialRef hit2 = LeasedTrial("arch-8");
  ASSERT_OK(Complete(hit2, /*cache_hit=*/true));
  EXPECT_THAT(Read(hit2.trial_id, &info),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr(absl::StrCat("answered from trial ",
                                              untrained.trial_id))));
}

TEST_F(ArtifactStoreTest, ACorruptedFileIsDataLoss) {
  const storage::TrialRef ref = LeasedTrial();
  ASSERT_OK(Upload(ref, Bytes(100)));
  ASSERT_OK(Complete(ref));
  {
    std::fstream f(fs::path(dir_) / "weights" / Files(dir_)[0],
                   std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(10);
    f.put('!');
  }
  nas::v1::WeightsInfo info;
  EXPECT_THAT(Read(ref.trial_id, &info),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("SHA-256")));
  fs::remove(fs::path(dir_) / "weights" / Files(dir_)[0]);
  EXPECT_THAT(Read(ref.trial_id, &info),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("missing")));
}

TEST_F(ArtifactStoreTest, CreateRemovesInterruptedUploads) {
  const storage::TrialRef ref = LeasedTrial();
  ASSERT_OK_AND_ASSIGN(auto upload,
                       artifacts_->BeginWeightsUpload(kWorker, ref, 10));
  ASSERT_OK(upload->Append(Bytes(5)));
  ASSERT_EQ(Files(dir_).size(), 1u);
  // A restart while the upload was in flight (the old process "crashed").
  ASSERT_OK_AND_ASSIGN(auto restarted, NewArtifactStore());
  EXPECT_THAT(Files(dir_), IsEmpty());
}

}  // namespace
}  // namespace nas::artifacts
