// Trained weights end to end: the real controller (in-process, SQLite store,
// artifact directory) and the real nas-worker binary train two tiny DARTS
// cells on Fashion-MNIST; `nasctl export` (the real binary) downloads the
// best trial's weights.pt; the worker's model builder rebuilds the network
// from the exported genotype.json + job_spec.json, loads the weights and
// must measure exactly the validation accuracy the trial reported (in this
// process, and with the nas-load-weights command). The same
// job again is answered from the result cache, and its trials export the
// very same weights.
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/testing/status_matchers.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "proto/nas/v1/service.pb.h"
#include "tests/child_process.h"
#include "tests/job_cluster.h"
#include "worker/eval/train_evaluator.h"
#include "worker/model/weights.h"

namespace nas {
namespace {

namespace fs = std::filesystem;

constexpr char kNasctl[] = "cli/nasctl";
constexpr char kLoadWeights[] = "worker/nas-load-weights";
constexpr absl::Duration kJobTimeout = absl::Seconds(180);

nas::v1::JobSpec WeightsJob() {
  nas::v1::JobSpec spec;
  spec.set_name("e2e-weights");
  nas::v1::DartsCellSpace* space = spec.mutable_search_space()->mutable_darts();
  for (const char* op : {"skip_connect", "sep_conv_3x3", "max_pool_3x3"}) {
    space->add_ops(op);
  }
  space->set_nodes(2);
  space->set_cells(2);
  space->set_init_channels(4);
  spec.mutable_strategy()->mutable_random();
  spec.mutable_strategy()->set_seed(7);
  nas::v1::Objective* accuracy = spec.add_objectives();
  accuracy->set_metric("accuracy");
  accuracy->set_direction(nas::v1::MAXIMIZE);
  nas::v1::TrainEvaluation* train = spec.mutable_evaluation()->mutable_train();
  train->set_dataset("fashion_mnist");
  train->set_epochs(1);
  train->set_batch_size(32);
  train->set_learning_rate(0.1);
  train->set_train_subset(512);
  train->set_validation_size(128);
  spec.mutable_budget()->set_max_trials(2);
  return spec;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

nas::v1::WeightsInfo ReadInfo(const fs::path& dir) {
  nas::v1::WeightsInfo info;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                  ReadFile(dir / "weights.json"), &info)
                  .ok());
  return info;
}

// Runs nasctl export; returns the directory it printed.
absl::StatusOr<std::string> Export(const testing::JobCluster& cluster,
                                   const std::string& job_id,
                                   const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {
      kNasctl, absl::StrCat("--controller=", cluster.address()), "export",
      job_id};
  argv.insert(argv.end(), extra.begin(), extra.end());
  ASSIGN_OR_RETURN(testing::Finished done, testing::RunToEnd(argv, absl::Seconds(60)));
  if (done.exit_code != 0) {
    return absl::InternalError(absl::StrCat("nasctl export exited with ",
                                            done.exit_code));
  }
  return std::string(absl::StripAsciiWhitespace(done.out));
}

TEST(WeightsEndToEndTest, ExportedWeightsRebuildTheTrainedNetwork) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<testing::JobCluster> cluster,
                       testing::JobCluster::Create("e2e_weights.db"));
  ASSERT_OK_AND_ASSIGN(
      nas::v1::Job job,
      cluster->RunJob(WeightsJob(), "e2e-weights-worker", kJobTimeout));
  ASSERT_EQ(job.state(), nas::v1::JOB_SUCCEEDED) << job.DebugString();
  ASSERT_EQ(job.counts().succeeded(), 2);
  ASSERT_OK_AND_ASSIGN(nas::v1::ListTrialsResponse trials,
                       cluster->ListTrials(job.id(), false));
  const nas::v1::Trial* best = nullptr;
  for (const nas::v1::Trial& t : trials.trials()) {
    if (best == nullptr || t.metrics().at("accuracy") > best->metrics().at("accuracy")) {
      best = &t;
    }
  }
  ASSERT_NE(best, nullptr);

  // nasctl export: the best trial by default, weights included.
  const fs::path out = fs::path(std::getenv("TEST_TMPDIR")) / "export";
  ASSERT_OK_AND_ASSIGN(std::string dir,
                       Export(*cluster, job.id(), {"--out", out.string()}));
  EXPECT_EQ(dir, (out / absl::StrCat("trial-", best->id())).string());
  const nas::v1::WeightsInfo info = ReadInfo(dir);
  EXPECT_EQ(info.trial_id(), best->id());
  EXPECT_EQ(info.source_trial_id(), best->id());
  EXPECT_EQ(info.size_bytes(), fs::file_size(fs::path(dir) / "weights.pt"));

  // The model builder rebuilds the trained network from the export.
  ASSERT_OK_AND_ASSIGN(worker::ExportedNetwork exported,
                       worker::LoadExportedNetwork(dir));
  EXPECT_EQ(exported.architecture.hash(), best->architecture().hash());
  worker::TrainEvaluator::Options options;
  options.threads = 1;  // as the worker trained
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<worker::TrainEvaluator> evaluator,
                       worker::TrainEvaluator::Create(options));
  ASSERT_OK_AND_ASSIGN(double accuracy,
                       evaluator->ValidationAccuracy(
                           exported.spec.evaluation().train(), *exported.net,
                           exported.input));
  LOG(INFO) << "trial " << best->id() << " reported accuracy "
            << best->metrics().at("accuracy") << ", exported network "
            << accuracy;
  EXPECT_EQ(accuracy, best->metrics().at("accuracy"));

  // The same from the command line: nas-load-weights prints both numbers.
  ASSERT_OK_AND_ASSIGN(
      testing::Finished loaded,
      testing::RunToEnd({kLoadWeights, absl::StrCat("--export_dir=", dir)},
                        absl::Seconds(60)));
  ASSERT_EQ(loaded.exit_code, 0);
  google::protobuf::Struct printed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(loaded.out, &printed).ok())
      << loaded.out;
  EXPECT_EQ(printed.fields().at("validation_accuracy").number_value(),
            best->metrics().at("accuracy"));
  EXPECT_EQ(printed.fields().at("reported_accuracy").number_value(),
            best->metrics().at("accuracy"));

  // The same job again: every trial is a cache hit, and exports the weights
  // of the trial that trained it.
  ASSERT_OK_AND_ASSIGN(nas::v1::Job again, cluster->CreateJob(WeightsJob()));
  ASSERT_OK_AND_ASSIGN(again, cluster->WaitForJob(again.id(), kJobTimeout));
  ASSERT_EQ(again.state(), nas::v1::JOB_SUCCEEDED);
  EXPECT_EQ(again.counts().cache_hits(), 2);
  ASSERT_OK_AND_ASSIGN(nas::v1::ListTrialsResponse hits,
                       cluster->ListTrials(again.id(), false));
  const nas::v1::Trial* hit = nullptr;
  for (const nas::v1::Trial& t : hits.trials()) {
    if (t.architecture().hash() == best->architecture().hash()) hit = &t;
  }
  ASSERT_NE(hit, nullptr);
  ASSERT_TRUE(hit->cache_hit());
  const fs::path out2 = fs::path(std::getenv("TEST_TMPDIR")) / "export-hit";
  ASSERT_OK_AND_ASSIGN(
      std::string hit_dir,
      Export(*cluster, again.id(),
             {"--trial", absl::StrCat(hit->id()), "--out", out2.string()}));
  EXPECT_EQ(ReadInfo(hit_dir).source_trial_id(), best->id());
  EXPECT_EQ(ReadFile(fs::path(hit_dir) / "weights.pt"),
            ReadFile(fs::path(dir) / "weights.pt"));

  // --no_weights: everything else only.
  const fs::path out3 = fs::path(std::getenv("TEST_TMPDIR")) / "export-none";
  ASSERT_OK_AND_ASSIGN(std::string bare,
                       Export(*cluster, job.id(),
                              {"--no_weights", "--out", out3.string()}));
  EXPECT_TRUE(fs::exists(fs::path(bare) / "genotype.json"));
  EXPECT_FALSE(fs::exists(fs::path(bare) / "weights.pt"));
}

}  // namespace
}  // namespace nas
