// The HTML report of a job (`nasctl report`): one self-contained file with
// SVG plots (best objective vs trials, primary objective vs parameters and
// vs MACs with the Pareto front highlighted, vs latency, trial durations),
// the top trials as a table, and drawings of the best architecture's cells;
// for a compound-scaling job also a table of every grid point and phi with
// its coefficients, accuracy and MACs, and accuracy vs MACs along phi; for
// a DARTS job the alpha heat map of every finished supernet search.
// No scripts, no external resources. Pure functions; thread-safe.
#ifndef NAS_CLI_REPORT_H_
#define NAS_CLI_REPORT_H_

#include <string>
#include <vector>

#include "proto/nas/v1/job.pb.h"

namespace nas::cli {

std::string RenderReport(const nas::v1::Job& job,
                         const std::vector<nas::v1::Trial>& trials);

// Indices of the trials on the Pareto front of (primary objective in its
// direction, x minimized), among trials that have both values.
std::vector<size_t> ParetoIndices(const std::vector<double>& primary,
                                  const std::vector<double>& x, bool maximize);

// A trial's batch-1 latency in ms: the first DeviceLatency with batch 1, else
// a metric whose name starts with "latency"; NaN when neither exists.
double TrialLatencyMs(const nas::v1::Trial& trial);

}  // namespace nas::cli

#endif  // NAS_CLI_REPORT_H_
