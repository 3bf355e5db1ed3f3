// Writes the report of a synthetic DARTS job (60 trials with accuracy,
// params, MACs, latency and durations) to argv[1]. Used by
// report_render_test.sh, which renders it in headless Chromium.
#include <cmath>
#include <fstream>
#include <iostream>

#include "cli/report.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: report_fixture OUT.html\n";
    return 2;
  }
  nas::v1::Job job;
  job.set_id("job-7");
  job.mutable_spec()->set_name("fixture");
  job.mutable_spec()->mutable_search_space()->mutable_darts();
  auto* objective = job.mutable_spec()->add_objectives();
  objective->set_metric("accuracy");
  objective->set_direction(nas::v1::MAXIMIZE);
  job.mutable_spec()->mutable_budget()->set_max_trials(60);
  job.set_state(nas::v1::JOB_SUCCEEDED);
  job.mutable_counts()->set_succeeded(60);
  std::vector<nas::v1::Trial> trials;
  for (int i = 1; i <= 60; ++i) {
    nas::v1::Trial t;
    t.set_id(i);
    t.set_state(nas::v1::SUCCEEDED);
    t.set_params(20000 + 1500 * ((i * 37) % 50));
    t.set_macs(t.params() * 90);
    (*t.mutable_metrics())["accuracy"] =
        0.6 + 0.3 * std::log1p(t.params() / 20000.0) / std::log(5.0) -
        0.02 * ((i * 13) % 7);
    auto* latency = t.add_latencies();
    latency->set_batch_size(1);
    latency->set_median_ms(0.5 + t.macs() / 1e7);
    t.set_start_time_ms(1000 * i);
    t.set_end_time_ms(1000 * i + 5000 + 100 * (i % 9));
    auto* normal = t.mutable_architecture()->mutable_cell()->mutable_normal();
    auto* reduce = t.mutable_architecture()->mutable_cell()->mutable_reduce();
    for (int n = 0; n < 4; ++n) {
      for (auto* cell : {normal, reduce}) {
        auto* node = cell->add_nodes();
        auto* a = node->add_edges();
        a->set_input(n % 2);
        a->set_op(cell == normal ? "sep_conv_3x3" : "max_pool_3x3");
        auto* b = node->add_edges();
        b->set_input(n + 1);
        b->set_op(n % 2 ? "skip_connect" : "dil_conv_5x5");
      }
    }
    t.mutable_architecture()->set_canonical("fixture-" + std::to_string(i));
    trials.push_back(t);
  }
  std::ofstream(argv[1]) << nas::cli::RenderReport(job, trials);
  return 0;
}
