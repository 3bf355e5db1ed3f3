#include "tests/child_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace nas::testing {
namespace {

// fork + exec with stdout into a pipe (returned in *out_fd) or, when
// out_fd is null, into /dev/null.
absl::Status Spawn(const std::vector<std::string>& args, pid_t* pid,
                   int* out_fd) {
  if (args.empty()) return absl::InvalidArgumentError("no argv");
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child < 0) {
    close(out[0]);
    close(out[1]);
    return absl::InternalError("fork failed");
  }
  if (child == 0) {
    // Only async-signal-safe calls until exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    if (out_fd != nullptr) {
      dup2(out[1], STDOUT_FILENO);
    } else {
      const int null = open("/dev/null", O_WRONLY);
      if (null >= 0) dup2(null, STDOUT_FILENO);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  *pid = child;
  if (out_fd != nullptr) {
    *out_fd = out[0];
  } else {
    close(out[0]);
  }
  return absl::OkStatus();
}

// Reads from `fd` until `stop(data)` or EOF or the deadline; false on timeout.
template <typename Stop>
bool ReadUntil(int fd, absl::Time deadline, std::string* data, Stop stop) {
  char buffer[4096];
  while (!stop(*data)) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return false;
    pollfd p = {fd, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(ms));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;  // EOF
    data->append(buffer, n);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::string> ChildProcess::Start(
    const std::vector<std::string>& argv, bool first_line,
    absl::Duration timeout) {
  Kill();
  absl::Status spawned = Spawn(argv, &pid_, first_line ? &stdout_fd_ : nullptr);
  if (!spawned.ok()) return spawned;
  if (!first_line) return std::string();
  std::string data;
  const bool in_time = ReadUntil(
      stdout_fd_, absl::Now() + timeout, &data,
      [](const auto& d) { return d.find('\n') != std::string::npos; });
  const size_t newline = data.find('\n');
  if (!in_time || newline == std::string::npos) {
    Kill();
    return absl::DeadlineExceededError(
        absl::StrCat(argv[0], " printed no line in time (got \"", data, "\")"));
  }
  // stdout_fd_ stays open: later writes of the child must not get SIGPIPE.
  return data.substr(0, newline);
}

void ChildProcess::Kill() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = 0;
  }
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0) kill(pid_, signal);
}

bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout,
             absl::Duration poll) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(poll);
  }
  return true;
}

absl::StatusOr<Finished> RunToEnd(const std::vector<std::string>& argv,
                                  absl::Duration timeout) {
  pid_t pid = 0;
  int fd = -1;
  absl::Status spawned = Spawn(argv, &pid, &fd);
  if (!spawned.ok()) return spawned;
  Finished finished;
  const bool in_time = ReadUntil(fd, absl::Now() + timeout, &finished.out,
                                 [](const auto&) { return false; });
  close(fd);
  if (!in_time) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!in_time) {
    return absl::DeadlineExceededError(absl::StrCat(
        argv[0], " did not finish in ", absl::FormatDuration(timeout)));
  }
  finished.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return finished;
}

absl::StatusOr<int> PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError("cannot bind a free port");
  }
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace nas::testing
