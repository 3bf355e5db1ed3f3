// nas-load-weights: loads a trial exported by `nasctl export JOB --out DIR`
// (genotype.json, job_spec.json, weights.pt) with the worker's model
// builder, and measures the rebuilt network on the trial's validation split,
// next to the accuracy the trial reported (trial.json). The example of
// using exported weights from C++: see worker/model/weights.h.
//
//   nas-load-weights --export_dir=exported/trial-12 [--data_dir=DIR]
//
// Prints one JSON object; exits 1 when the export cannot be loaded or
// measured, 0 otherwise.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"
#include "google/protobuf/util/json_util.h"
#include "proto/nas/v1/job.pb.h"
#include "worker/eval/train_evaluator.h"
#include "worker/model/network.h"
#include "worker/model/weights.h"

ABSL_FLAG(std::string, export_dir, "",
          "A trial directory written by nasctl export (DIR/trial-N).");
ABSL_FLAG(std::string, data_dir, "",
          "Dataset directory when the job spec names none (Fashion-MNIST: "
          "the Debian package's by default).");
ABSL_FLAG(int, threads, 1, "Intra-op threads (1 reproduces the worker's "
                           "numbers exactly when it ran with --threads=1).");

namespace {

// The trial's reported accuracy from trial.json (NaN if absent).
double ReportedAccuracy(const std::string& dir) {
  std::ifstream in(dir + "/trial.json");
  std::stringstream ss;
  ss << in.rdbuf();
  nas::v1::Trial trial;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(ss.str(), &trial, options)
           .ok() ||
      trial.metrics().count("accuracy") == 0) {
    return std::nan("");
  }
  return trial.metrics().at("accuracy");
}

int Run() {
  const std::string dir = absl::GetFlag(FLAGS_export_dir);
  if (dir.empty()) {
    std::cerr << "nas-load-weights: --export_dir is required\n";
    return 2;
  }
  absl::StatusOr<nas::worker::ExportedNetwork> exported =
      nas::worker::LoadExportedNetwork(dir);
  if (!exported.ok()) {
    std::cerr << "nas-load-weights: " << exported.status() << "\n";
    return 1;
  }
  nas::worker::TrainEvaluator::Options options;
  options.threads = absl::GetFlag(FLAGS_threads);
  if (const std::string d = absl::GetFlag(FLAGS_data_dir); !d.empty()) {
    options.fashion_mnist_dir = d;
  }
  absl::StatusOr<std::unique_ptr<nas::worker::TrainEvaluator>> evaluator =
      nas::worker::TrainEvaluator::Create(options);
  nas::v1::TrainEvaluation config = exported->spec.evaluation().train();
  if (config.data_dir().empty()) config.set_data_dir(absl::GetFlag(FLAGS_data_dir));
  absl::StatusOr<double> accuracy =
      evaluator.ok() ? (*evaluator)->ValidationAccuracy(config, *exported->net,
                                                        exported->input)
                     : absl::StatusOr<double>(evaluator.status());
  if (!accuracy.ok()) {
    std::cerr << "nas-load-weights: " << accuracy.status() << "\n";
    return 1;
  }
  std::cout << absl::StrFormat(
      "{\"architecture\": \"%s\", \"params\": %d, \"input\": [%d, %d, %d], "
      "\"validation_accuracy\": %.17g, \"reported_accuracy\": %.17g}\n",
      exported->architecture.canonical(),
      nas::worker::CountParameters(*exported->net), exported->input.channels,
      exported->input.image_size, exported->input.image_size, *accuracy,
      ReportedAccuracy(dir));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  google::InitGoogleLogging(argv[0]);
  return Run();
}
