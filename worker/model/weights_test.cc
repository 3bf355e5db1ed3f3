#include "worker/model/weights.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/task/compound_scaling_task.h"
#include "common/testing/status_matchers.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "torch/torch.h"
#include "worker/model/network.h"
#include "worker/model/plan.h"
#include "worker/model/test_architectures.h"

namespace nas::worker {
namespace {

using ::nas::testing::StatusIs;
using ::testing::HasSubstr;

struct Case {
  const char* name;
  nas::v1::SearchSpace space;
  nas::v1::Architecture arch;
};

std::vector<Case> Cases() {
  return {{"darts", testing::TinyDartsSpace(), testing::AllOpsDartsArchitecture()},
          {"nb201", testing::TinyNb201Space(), testing::Nb201Index1Architecture()},
          {"elastic", testing::TinyElasticSpace(),
           testing::TinyElasticArchitecture()}};
}

NetworkOptions Options(int channels_override = 0) {
  NetworkOptions options;
  options.in_channels = 1;
  options.image_size = 28;
  options.channels_override = channels_override;
  return options;
}

std::shared_ptr<Network> Build(const Case& c, uint64_t seed,
                               int channels_override = 0) {
  torch::manual_seed(seed);
  auto plan = MakePlan(c.arch, c.space, Options(channels_override));
  EXPECT_TRUE(plan.ok()) << plan.status();
  auto net = BuildNetwork(*plan);
  EXPECT_TRUE(net.ok()) << net.status();
  return *net;
}

// A few SGD steps, so parameters and BatchNorm statistics leave their
// initial values, then eval mode.
void Train(Network& net) {
  torch::optim::SGD sgd(net.parameters(), torch::optim::SGDOptions(0.1));
  net.train();
  for (int step = 0; step < 3; ++step) {
    torch::Tensor x = torch::randn({8, 1, 28, 28});
    torch::Tensor y = torch::randint(0, 10, {8}, torch::kInt64);
    sgd.zero_grad();
    torch::nn::functional::cross_entropy(net.forward(x), y).backward();
    sgd.step();
  }
  net.eval();
}

torch::Tensor Probe() {
  torch::manual_seed(123);
  return torch::randn({4, 1, 28, 28});
}

torch::Tensor Outputs(Network& net) {
  torch::NoGradGuard no_grad;
  net.eval();
  return net.forward(Probe());
}

InputSpec Input() { return InputSpec{1, 28, {0.286f}, {0.353f}}; }

TEST(WeightsTest, ALoadedNetworkGivesTheTrainedOutputsExactly) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    std::shared_ptr<Network> trained = Build(c, 1);
    Train(*trained);
    const torch::Tensor expected = Outputs(*trained);
    ASSERT_OK_AND_ASSIGN(std::string bytes, SerializeWeights(*trained, Input()));

    std::shared_ptr<Network> fresh = Build(c, 2);
    ASSERT_FALSE(torch::equal(Outputs(*fresh), expected));
    ASSERT_OK_AND_ASSIGN(InputSpec input, LoadWeights(bytes, *fresh));
    EXPECT_TRUE(torch::equal(Outputs(*fresh), expected));
    EXPECT_EQ(input.channels, 1);
    EXPECT_EQ(input.image_size, 28);
    EXPECT_EQ(input.mean, std::vector<float>{0.286f});
    EXPECT_EQ(input.stddev, std::vector<float>{0.353f});
  }
}

TEST(WeightsTest, RefusesWeightsOfAnotherNetwork) {
  const std::vector<Case> cases = Cases();
  std::shared_ptr<Network> darts = Build(cases[0], 1);
  ASSERT_OK_AND_ASSIGN(std::string bytes, SerializeWeights(*darts, Input()));
  // Another space.
  EXPECT_THAT(LoadWeights(bytes, *Build(cases[1], 1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // The same genotype at another width: same names, other shapes.
  EXPECT_THAT(LoadWeights(bytes, *Build(cases[0], 1, /*channels=*/8)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("in the file but")));
  EXPECT_THAT(LoadWeights("not a weights file", *darts),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unreadable")));
  EXPECT_THAT(ReadInputSpec("garbage"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

std::string Json(const google::protobuf::Message& m) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(m, &json, options).ok());
  return json;
}

void Write(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(WeightsTest, LoadsAnExportDirectory) {
  const Case c = Cases()[0];
  std::shared_ptr<Network> trained = Build(c, 1, /*channels=*/6);
  Train(*trained);
  ASSERT_OK_AND_ASSIGN(std::string bytes, SerializeWeights(*trained, Input()));
  nas::v1::JobSpec spec;
  *spec.mutable_search_space() = c.space;
  spec.mutable_evaluation()->mutable_train()->set_channels(6);
  const std::filesystem::path dir =
      std::filesystem::path(std::getenv("TEST_TMPDIR")) / "trial-7";
  std::filesystem::create_directories(dir);
  EXPECT_THAT(LoadExportedNetwork(dir.string()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("genotype.json")));
  Write(dir / "genotype.json", Json(c.arch));
  Write(dir / "job_spec.json", Json(spec));
  EXPECT_THAT(LoadExportedNetwork(dir.string()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("weights.pt")));
  Write(dir / "weights.pt", bytes);
  ASSERT_OK_AND_ASSIGN(ExportedNetwork exported,
                       LoadExportedNetwork(dir.string()));
  EXPECT_TRUE(torch::equal(Outputs(*exported.net), Outputs(*trained)));
  EXPECT_EQ(exported.input.mean, Input().mean);
  EXPECT_EQ(exported.architecture.SerializeAsString(),
            c.arch.SerializeAsString());
}

TEST(WeightsTest, LoadsAScaledElasticGenotypeBeyondTheSpace) {
  // Compound scaling: a deeper genotype than the space allows, trained in
  // the space widened to admit it; the export names the job's own space.
  Case c = Cases()[2];
  nas::v1::ElasticStageChoice* stage =
      c.arch.mutable_elastic()->mutable_stages(0);
  stage->set_depth(3);
  stage->add_expand_ratios(3);
  stage->add_kernel_sizes(3);
  ASSERT_FALSE(MakePlan(c.arch, c.space, Options()).ok());
  ASSERT_OK_AND_ASSIGN(*c.space.mutable_elastic(),
                       nas::task::WidenedSpace(c.space.elastic(),
                                               c.arch.elastic()));
  std::shared_ptr<Network> trained = Build(c, 1);
  Train(*trained);
  ASSERT_OK_AND_ASSIGN(std::string bytes, SerializeWeights(*trained, Input()));
  nas::v1::JobSpec spec;
  *spec.mutable_search_space() = Cases()[2].space;
  const std::filesystem::path dir =
      std::filesystem::path(std::getenv("TEST_TMPDIR")) / "trial-8";
  std::filesystem::create_directories(dir);
  Write(dir / "genotype.json", Json(c.arch));
  Write(dir / "job_spec.json", Json(spec));
  Write(dir / "weights.pt", bytes);
  ASSERT_OK_AND_ASSIGN(ExportedNetwork exported,
                       LoadExportedNetwork(dir.string()));
  EXPECT_TRUE(torch::equal(Outputs(*exported.net), Outputs(*trained)));
}

}  // namespace
}  // namespace nas::worker
