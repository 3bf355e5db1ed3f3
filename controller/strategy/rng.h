// Rng: a small seeded pseudo-random generator (xoshiro256**, seeded by
// splitmix64) whose whole state is four 64-bit words, so strategies can
// serialize it and continue a run bit-for-bit after a restore.
//
// Not thread-safe: each strategy owns its own Rng. No allocation.
#ifndef NAS_CONTROLLER_STRATEGY_RNG_H_
#define NAS_CONTROLLER_STRATEGY_RNG_H_

#include <array>
#include <cstdint>

namespace nas::strategy {

class Rng {
 public:
  using State = std::array<uint64_t, 4>;

  explicit Rng(uint64_t seed = 0) { Seed(seed); }

  // Resets the state from `seed` (every seed, including 0, is valid).
  void Seed(uint64_t seed) {
    for (uint64_t& word : s_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }

  // The next 64 random bits.
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform integer in [0, n); n > 0. Lemire's multiply-shift (bias < 2^-32
  // for the small n used here).
  int Uniform(int n) {
    return static_cast<int>(
        (static_cast<unsigned __int128>(Next()) * static_cast<uint64_t>(n)) >>
        64);
  }

  // Uniform double in [0, 1).
  double UniformDouble() { return (Next() >> 11) * 0x1.0p-53; }

  const State& state() const { return s_; }
  void set_state(const State& s) { s_ = s; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

  State s_;
};

}  // namespace nas::strategy

#endif  // NAS_CONTROLLER_STRATEGY_RNG_H_
