// Compound scaling end to end through the distributed path (tests/
// job_cluster.h: the real controller with a SQLite store in this process,
// the real nas-worker as a child process) on Fashion-MNIST at a tiny CPU
// budget. The job must train one trial per grid point (alpha, beta, gamma)
// at phi = 1, choose the most accurate, then train the base scaled by it at
// phi = 1..max_phi; the store must hold trials whose genotypes are those
// scalings, whose coefficients meet the constraint and whose MACs grow with
// phi. A second job created with base_trial_id gets that trial's genotype as
// its base. The accuracy-vs-MACs table is logged.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/task/compound_scaling_task.h"
#include "common/task/compound_scaling_testing.h"
#include "common/testing/status_matchers.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/job_cluster.h"

namespace nas {
namespace {

using ::nas::testing::StatusIs;
using ::nas::task::testing::kTinyGridPoints;
using ::nas::task::testing::kTinyTolerance;

constexpr int kMaxPhi = 2;
constexpr absl::Duration kJobTimeout = absl::Seconds(240);

// The tiny shared job (3 grid points, then phi = 1, 2) trained on
// Fashion-MNIST for two epochs of 2048 images.
nas::v1::JobSpec ScalingJob() {
  nas::v1::JobSpec spec = nas::task::testing::TinyScalingJob(kMaxPhi);
  spec.set_name("e2e-compound-scaling");
  nas::v1::TrainEvaluation* train =
      spec.mutable_evaluation()->mutable_train();
  train->set_dataset("fashion_mnist");
  train->set_epochs(2);
  train->set_batch_size(32);
  train->set_learning_rate(0.1);
  train->set_train_subset(2048);
  train->set_validation_size(512);
  return spec;
}

struct Row {
  int64_t trial_id = 0;
  std::string phase;
  nas::task::ScalingCoefficients c;
  int phi = 0;
  double accuracy = 0;
  int64_t macs = 0;
  nas::v1::ElasticGenotype genotype;
};

TEST(CompoundScalingEndToEndTest, GridThenScalesTheBestPointByPhi) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<testing::JobCluster> cluster,
                       testing::JobCluster::Create("e2e_scaling.db"));
  ASSERT_OK_AND_ASSIGN(
      nas::v1::Job job,
      cluster->RunJob(ScalingJob(), "e2e-scaling-worker", kJobTimeout));
  ASSERT_EQ(job.state(), nas::v1::JOB_SUCCEEDED) << job.DebugString();
  EXPECT_EQ(job.counts().succeeded(), kTinyGridPoints + kMaxPhi);

  ASSERT_OK_AND_ASSIGN(nas::v1::ListTrialsResponse trials,
                       cluster->ListTrials(job.id(), false));
  ASSERT_EQ(trials.trials_size(), kTinyGridPoints + kMaxPhi);
  std::vector<Row> grid, scaled;
  for (const nas::v1::Trial& trial : trials.trials()) {
    ASSERT_EQ(trial.state(), nas::v1::SUCCEEDED) << trial.DebugString();
    const std::map<std::string, double> m(trial.metrics().begin(),
                                          trial.metrics().end());
    ASSERT_TRUE(trial.architecture().has_elastic());
    Row row{trial.id(),
            m.at("scale_phase") == 1 ? "scale" : "grid",
            {m.at("alpha"), m.at("beta"), m.at("gamma")},
            static_cast<int>(m.at("phi")),
            m.at("accuracy"),
            trial.macs(),
            trial.architecture().elastic()};
    EXPECT_TRUE(absl::StartsWith(trial.architecture().canonical(),
                                 "compound_scaling:" + row.phase + ";"));
    EXPECT_GT(row.accuracy, 0.25);  // 10 classes: chance is 0.1
    EXPECT_GT(row.macs, 0);
    EXPECT_EQ(m.at("macs"), row.macs);
    // The trained genotype is the base scaled by the trial's coefficients.
    ASSERT_OK_AND_ASSIGN(
        nas::v1::ElasticGenotype expected,
        nas::task::ScaleGenotype(ScalingJob()
                                     .strategy()
                                     .compound_scaling()
                                     .base_architecture()
                                     .elastic(),
                                 row.c, row.phi));
    EXPECT_EQ(nas::task::ElasticCanonical(row.genotype),
              nas::task::ElasticCanonical(expected));
    (row.phase == "grid" ? grid : scaled).push_back(row);
  }
  ASSERT_EQ(grid.size(), static_cast<size_t>(kTinyGridPoints));
  ASSERT_EQ(scaled.size(), static_cast<size_t>(kMaxPhi));

  // Every grid trial is at phi = 1 and meets the constraint; the driver
  // chose the most accurate (ties: the first in alpha, beta, gamma order).
  auto key = [](const Row& r) {
    return std::make_tuple(r.c.alpha, r.c.beta, r.c.gamma);
  };
  std::sort(grid.begin(), grid.end(),
            [&](const Row& a, const Row& b) { return key(a) < key(b); });
  const Row* best = &grid[0];
  for (const Row& row : grid) {
    EXPECT_EQ(row.phi, 1);
    EXPECT_LE(std::abs(nas::task::FlopsFactor(row.c) - 2), kTinyTolerance + 1e-9);
    if (row.accuracy > best->accuracy) best = &row;
  }
  std::sort(scaled.begin(), scaled.end(),
            [](const Row& a, const Row& b) { return a.phi < b.phi; });
  for (int i = 0; i < kMaxPhi; ++i) {
    const Row& row = scaled[i];
    EXPECT_EQ(row.phi, i + 1);
    EXPECT_EQ(key(row), key(*best));
    if (i > 0) {
      EXPECT_GT(row.macs, scaled[i - 1].macs);
    }
  }
  // phi = 1 of the chosen point is the network its grid trial trained.
  EXPECT_EQ(scaled[0].macs, best->macs);

  // A later job may start from a trial of this one (base_trial_id): the
  // controller stores that trial's genotype as the base. Its space must
  // admit the genotype, so widen it.
  nas::v1::JobSpec from_trial = ScalingJob();
  from_trial.set_name("e2e-scaling-from-trial");
  ASSERT_OK_AND_ASSIGN(
      *from_trial.mutable_search_space()->mutable_elastic(),
      nas::task::WidenedSpace(from_trial.search_space().elastic(),
                              scaled[1].genotype));
  nas::v1::CompoundScaling* scaling =
      from_trial.mutable_strategy()->mutable_compound_scaling();
  scaling->set_base_trial_id(scaled[1].trial_id);
  ASSERT_OK_AND_ASSIGN(nas::v1::Job second, cluster->CreateJob(from_trial));
  EXPECT_EQ(nas::task::ElasticCanonical(second.spec()
                                            .strategy()
                                            .compound_scaling()
                                            .base_architecture()
                                            .elastic()),
            nas::task::ElasticCanonical(scaled[1].genotype));
  {
    grpc::ClientContext context;
    nas::v1::JobRequest cancel;
    cancel.set_job_id(second.id());
    ASSERT_TRUE(cluster->search().CancelJob(&context, cancel, &second).ok());
  }
  scaling->set_base_trial_id(987654);
  EXPECT_THAT(cluster->CreateJob(from_trial),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr(
                           "strategy.compound_scaling.base_trial_id: no "
                           "trial 987654")));

  LOG(INFO) << "phase alpha beta gamma phi accuracy macs";
  for (const std::vector<Row>* rows : {&grid, &scaled}) {
    for (const Row& r : *rows) {
      LOG(INFO) << r.phase << " " << r.c.alpha << " " << r.c.beta << " "
                << r.c.gamma << " " << r.phi << " " << r.accuracy << " "
                << r.macs;
    }
  }
}

}  // namespace
}  // namespace nas
