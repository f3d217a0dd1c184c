// test/util/splitmix64.h: the seeded generator of the tests, fuzz drivers and oracles
// (splitmix64: Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA
// 2014). Explicit seeds only: the same seed gives the same sequence on any host.
#pragma once

#include <cstdint>

namespace snpemu::test {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint8_t byte() { return static_cast<uint8_t>(next()); }
  uint32_t below(uint32_t n) { return static_cast<uint32_t>(next() % n); }
  bool chance(uint32_t one_in) { return below(one_in) == 0; }

 private:
  uint64_t s_;
};

}  // namespace snpemu::test
