// The worker's parts wired as in worker_main.cc (WorkerLoop + TrainEvaluator
// + TableEvaluator) against an in-process fake controller.
#include <memory>
#include <string>

#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "worker/eval/table_evaluator.h"
#include "worker/eval/train_evaluator.h"
#include "worker/model/test_architectures.h"
#include "worker/service/fake_worker_service.h"
#include "worker/service/worker_loop.h"

namespace nas::worker {
namespace {

using ::testing::SizeIs;

TEST(WorkerEndToEndTest, TrainsReportsEveryEpochAndCompletes) {
  testing::FakeWorkerService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_GT(port, 0);

  nas::v1::TrialLease lease;
  lease.set_trial_id(1);
  lease.set_attempt(1);
  *lease.mutable_architecture() = testing::Nb201Index1Architecture();
  *lease.mutable_search_space() = testing::TinyNb201Space();
  *lease.mutable_evaluation() = testing::ParseText<nas::v1::Evaluation>(
      "train { dataset: 'fashion_mnist' epochs: 2 batch_size: 32 "
      "train_subset: 128 validation_size: 128 learning_rate: 0.1 }");
  service.AddLease(lease);
  nas::v1::TrialLease table = lease;
  table.set_trial_id(2);
  table.mutable_evaluation()->mutable_table()->set_path(
      "data/nb201/nb201_cifar10.csv");
  service.AddLease(table);

  TrainEvaluator::Options train_options;
  train_options.threads = 1;
  train_options.latency_batch_size = 4;
  train_options.latency = {1, 3};
  ASSERT_OK_AND_ASSIGN(auto train, TrainEvaluator::Create(train_options));
  TableEvaluator table_evaluator;
  WorkerLoopOptions options;
  options.info.set_name("e2e");
  options.max_trials = 2;
  ASSERT_OK_AND_ASSIGN(
      auto loop,
      WorkerLoop::Create(options,
                         nas::v1::WorkerService::NewStub(grpc::CreateChannel(
                             absl::StrCat("127.0.0.1:", port),
                             grpc::InsecureChannelCredentials())),
                         train.get(), &table_evaluator));
  EXPECT_OK(loop->Run());
  server->Shutdown();

  absl::MutexLock lock(&service.mu);
  EXPECT_THAT(service.registrations[0].info().capabilities(),
              ::testing::ElementsAre("train", "table"));
  ASSERT_THAT(service.progress, SizeIs(3));  // Two epochs, one table step.
  EXPECT_EQ(service.progress[0].measurement().step(), 1);
  EXPECT_EQ(service.progress[1].measurement().step(), 2);
  EXPECT_GT(service.progress[1].measurement().metrics().at("accuracy"), 0.0);
  ASSERT_THAT(service.completed, SizeIs(2));
  const nas::v1::CompleteTrialRequest& trained = service.completed[0];
  EXPECT_EQ(trained.trial_id(), 1);
  EXPECT_GT(trained.params(), 0);
  EXPECT_GT(trained.macs(), 0);
  EXPECT_THAT(trained.latencies(), SizeIs(2));
  EXPECT_EQ(trained.metrics().at("epochs"), 2);
  EXPECT_EQ(service.completed[1].trial_id(), 2);
  EXPECT_THAT(service.failed, SizeIs(0));
}

}  // namespace
}  // namespace nas::worker
