// ChildProcess: a test's child process (the real nas-controller, nas-worker
// or nasctl binaries), started with fork/exec so that it dies with the test
// (PR_SET_PDEATHSIG) even if the test itself crashes; the destructor kills it
// with SIGKILL and reaps it, so no child outlives a failed assertion.
//
// Test-only. Thread-compatible: one thread drives a ChildProcess.
#ifndef NAS_TESTS_CHILD_PROCESS_H_
#define NAS_TESTS_CHILD_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace nas::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { Kill(); }

  // Starts `argv` (argv[0] is the binary's path); stderr is inherited.
  // With `first_line`, waits (up to `timeout`) for the child's first line of
  // stdout and returns it; the rest of stdout is discarded.
  absl::StatusOr<std::string> Start(const std::vector<std::string>& argv,
                                    bool first_line = false,
                                    absl::Duration timeout = absl::Seconds(30));
  // kill -9 and reap; a no-op when not running.
  void Kill();
  // Sends `signal` (e.g. SIGSTOP, SIGCONT) if running.
  void Signal(int signal);
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = 0;
  int stdout_fd_ = -1;
};

// Runs `argv` to the end; returns its exit code and stdout (kInternal if it
// cannot be started, kDeadlineExceeded if it runs longer than `timeout`).
struct Finished {
  int exit_code = -1;
  std::string out;
};
absl::StatusOr<Finished> RunToEnd(const std::vector<std::string>& argv,
                                  absl::Duration timeout = absl::Seconds(30));

// Polls `condition` every `poll` until it holds (true) or `timeout` passes
// (false): how the process tests wait for a child's effect.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout,
             absl::Duration poll = absl::Milliseconds(50));

// A TCP port on 127.0.0.1 that was free a moment ago (for a controller that
// must come back on the same address after a kill).
absl::StatusOr<int> PickFreePort();

}  // namespace nas::testing

#endif  // NAS_TESTS_CHILD_PROCESS_H_
