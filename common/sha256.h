// Sha256: incremental SHA-256 (OpenSSL libcrypto) with a lowercase hex
// digest, for checking that uploaded and downloaded artifacts (trained
// weights) arrive whole.
//
// Thread-compatible: one Sha256 per stream of bytes.
#ifndef NAS_COMMON_SHA256_H_
#define NAS_COMMON_SHA256_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace nas {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view bytes);
  // 64 lowercase hex digits of everything passed to Update(); call once.
  std::string HexDigest();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// SHA-256 of `bytes`, 64 lowercase hex digits.
std::string Sha256Hex(absl::string_view bytes);

}  // namespace nas

#endif  // NAS_COMMON_SHA256_H_
