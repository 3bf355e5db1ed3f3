// Once-for-All end to end through the distributed path (tests/
// job_cluster.h: the real controller with a SQLite store in this process,
// two real nas-worker processes sharing a --supernet_dir) on
// Fashion-MNIST at a tiny CPU budget. The job must first train the elastic
// supernet by progressive shrinking (one trial, which leaves its checkpoint
// in the shared directory), then measure subnets with inherited weights for
// a MAC budget and a latency budget: distinct subnets of the space, the MAC
// budget's within it, measured after the supernet existed and without
// training. The accuracy-vs-MACs Pareto set is logged.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/task/ofa_task.h"
#include "common/task/ofa_testing.h"
#include "common/testing/status_matchers.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/job_cluster.h"

namespace nas {
namespace {

constexpr int kSubnets = 4;
constexpr double kMacBudgetM = 0.2;
constexpr double kLatencyMs = 5;
// Generous for a loaded 2-core machine; the job takes ~30 s alone.
constexpr absl::Duration kJobTimeout = absl::Seconds(100);

nas::v1::JobSpec OfaJob() {
  nas::v1::JobSpec spec =
      nas::task::testing::TinyOfaJob(kMacBudgetM, kLatencyMs, kSubnets);
  spec.set_name("e2e-ofa");
  nas::v1::TrainEvaluation* train = spec.mutable_evaluation()->mutable_train();
  train->set_dataset("fashion_mnist");
  train->set_batch_size(32);
  train->set_learning_rate(0.1);
  train->set_train_subset(1024);
  train->set_validation_size(256);
  return spec;
}

TEST(OnceForAllEndToEndTest, TrainsTheSupernetThenMeasuresSubnetsPerBudget) {
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<testing::JobCluster> cluster,
                       testing::JobCluster::Create("e2e_ofa.db"));
  const nas::v1::JobSpec spec = OfaJob();
  ASSERT_OK_AND_ASSIGN(nas::v1::Job job, cluster->CreateJob(spec));
  ASSERT_OK(cluster->StartWorker("e2e-ofa-worker-1"));
  ASSERT_OK(cluster->StartWorker("e2e-ofa-worker-2"));
  const absl::Time start = absl::Now();
  ASSERT_OK_AND_ASSIGN(job, cluster->WaitForJob(job.id(), kJobTimeout));
  LOG(INFO) << "OFA job ended in " << absl::Now() - start;
  ASSERT_EQ(job.state(), nas::v1::JOB_SUCCEEDED) << job.DebugString();
  EXPECT_EQ(job.counts().succeeded(), 1 + 2 * kSubnets);

  ASSERT_OK_AND_ASSIGN(nas::v1::ListTrialsResponse trials,
                       cluster->ListTrials(job.id(), false));
  ASSERT_EQ(trials.trials_size(), 1 + 2 * kSubnets);
  std::vector<nas::v1::Trial> sorted(trials.trials().begin(),
                                     trials.trials().end());
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.id() < b.id(); });

  // Trial 1 trained the supernet and left its checkpoint.
  const nas::v1::Trial& train = sorted[0];
  ASSERT_EQ(train.state(), nas::v1::SUCCEEDED) << train.DebugString();
  ASSERT_TRUE(absl::StartsWith(train.architecture().canonical(), "ofa_train:"))
      << train.architecture().canonical();
  const std::string key =
      train.architecture().canonical().substr(std::string("ofa_train:").size());
  const std::map<std::string, double> tm(train.metrics().begin(),
                                         train.metrics().end());
  EXPECT_EQ(tm.at("epochs"), nas::task::kOfaPhases);
  EXPECT_GT(tm.at("largest_accuracy"), 0.3);  // 10 classes: chance is 0.1
  EXPECT_GT(tm.at("smallest_accuracy"), 0.1);
  EXPECT_EQ(tm.count("accuracy"), 0u);
  const char* tmp = std::getenv("TEST_TMPDIR");
  EXPECT_TRUE(std::filesystem::is_regular_file(
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/supernets/",
                   nas::task::OfaCheckpointPath(key))));

  const nas::v1::ElasticSpace& space = spec.search_space().elastic();
  std::set<std::string> hashes;
  std::set<std::string> workers;
  struct Point {
    double macs, accuracy, latency;
    std::string canonical;
  };
  std::vector<Point> points;
  for (size_t i = 1; i < sorted.size(); ++i) {
    const nas::v1::Trial& t = sorted[i];
    ASSERT_EQ(t.state(), nas::v1::SUCCEEDED) << t.DebugString();
    EXPECT_TRUE(absl::StartsWith(t.architecture().canonical(),
                                 absl::StrCat("ofa_subnet:", key, ";")));
    ASSERT_TRUE(t.architecture().has_elastic());
    EXPECT_TRUE(nas::task::InSpace(space, t.architecture().elastic()));
    EXPECT_TRUE(hashes.insert(t.architecture().hash()).second);
    // Measured once the supernet existed, with sliced weights: no training.
    EXPECT_GE(t.start_time_ms(), train.end_time_ms());
    const std::map<std::string, double> m(t.metrics().begin(),
                                          t.metrics().end());
    EXPECT_EQ(m.count("train_seconds"), 0u);
    EXPECT_GT(m.at("accuracy"), 0.15);
    EXPECT_GT(m.at("latency_ms"), 0);
    const int64_t macs =
        nas::task::ElasticMacs(space, t.architecture().elastic(), 1, 28);
    EXPECT_EQ(t.macs(), macs);
    EXPECT_EQ(m.at("macs"), macs);
    if (i <= kSubnets) {  // the MAC budget's trials come first
      EXPECT_LE(macs, kMacBudgetM * 1e6) << t.architecture().canonical();
    }
    workers.insert(t.worker_id());
    points.push_back({static_cast<double>(macs), m.at("accuracy"),
                      m.at("latency_ms"), t.architecture().canonical()});
  }

  // The job's result: the accuracy-vs-MACs Pareto set.
  std::sort(points.begin(), points.end(),
            [](const Point& a, const Point& b) { return a.macs < b.macs; });
  LOG(INFO) << "subnets measured by " << workers.size() << " worker(s); "
            << "pareto macs accuracy latency_ms subnet";
  double best = -1;
  for (const Point& p : points) {
    const bool pareto = p.accuracy > best;
    best = std::max(best, p.accuracy);
    LOG(INFO) << (pareto ? "* " : "  ") << p.macs << " " << p.accuracy << " "
              << p.latency << " " << p.canonical;
  }
}

}  // namespace
}  // namespace nas
