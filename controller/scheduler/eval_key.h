// EvalKey: the result-cache key of a job's evaluation config.
//
// Two jobs whose architectures would get the same result (same evaluation
// config and the same search-space settings, e.g. channels and cells) get the
// same key, stable across processes and machines, so a result measured by
// one job answers the same architecture in another (TrialStore::LookupResult).
// Pure function; thread-safe.
#ifndef NAS_CONTROLLER_SCHEDULER_EVAL_KEY_H_
#define NAS_CONTROLLER_SCHEDULER_EVAL_KEY_H_

#include <string>

#include "proto/nas/v1/job.pb.h"

namespace nas::scheduler {

// 32 hex digits over the deterministic serialization of the spec's
// `evaluation` and `search_space`.
std::string EvalKey(const nas::v1::JobSpec& spec);

}  // namespace nas::scheduler

#endif  // NAS_CONTROLLER_SCHEDULER_EVAL_KEY_H_
