#include "controller/scheduler/eval_key.h"

#include <cstdint>

#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace nas::scheduler {
namespace {

std::string Deterministic(const google::protobuf::MessageLite& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return out;
}

// FNV-1a, 64 bits, from `basis`.
uint64_t Fnv1a(const std::string& bytes, uint64_t basis) {
  uint64_t h = basis;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

std::string EvalKey(const nas::v1::JobSpec& spec) {
  const std::string bytes = Deterministic(spec.evaluation()) + '\0' +
                            Deterministic(spec.search_space());
  return absl::StrFormat("%016x%016x", Fnv1a(bytes, 0xcbf29ce484222325ULL),
                         Fnv1a(bytes, 0x84222325cbf29ce4ULL));
}

}  // namespace nas::scheduler
