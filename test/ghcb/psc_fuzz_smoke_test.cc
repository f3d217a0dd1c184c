// Runs the PSC fuzz entry point (psc_fuzz.cc) over seeded structured inputs in a normal build,
// so the invariants it traps on are exercised by `bazel test`. Seed printed on failure.
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

constexpr uint64_t kSeed = 0x5EED'95C0'0001;

std::vector<uint8_t> make_input(std::mt19937_64& rng) {
  auto pick = [&](uint64_t n) { return rng() % n; };
  const unsigned nentries = pick(4) == 0 ? pick(254) : pick(12);
  std::vector<uint8_t> in(1 + 8 + 8 * nentries);
  in[0] = static_cast<uint8_t>(rng());
  uint16_t cur = static_cast<uint16_t>(pick(3) == 0 ? rng() : pick(nentries + 2));
  uint16_t end = static_cast<uint16_t>(pick(5) == 0 ? rng() : pick(nentries + 3));
  uint32_t rsv = pick(2) ? 0 : static_cast<uint32_t>(rng());
  std::memcpy(&in[1], &cur, 2);
  std::memcpy(&in[3], &end, 2);
  std::memcpy(&in[5], &rsv, 4);
  uint64_t gfn = pick(2) ? 0x200 : rng() & 0xFF'FFFF'FFFF;
  const uint16_t pages[] = {0, 0, 0, 1, 16, 511, 512, 513, 4095};
  for (unsigned i = 0; i < nentries; ++i) {
    const bool two_m = pick(3) == 0;
    if (pick(4) != 0) gfn += two_m ? 512 : 1;  // mostly contiguous
    else gfn = rng() & 0xFF'FFFF'FFFF;
    if (two_m && pick(4) != 0) gfn &= ~uint64_t{511};
    const uint64_t op = pick(6) == 0 ? pick(16) : 1 + pick(2);
    const uint64_t cur_page = pages[pick(std::size(pages))];
    const uint64_t raw = cur_page | (gfn & 0xFF'FFFF'FFFF) << 12 | op << 52 |
                         uint64_t{two_m} << 56 | (pick(8) == 0 ? rng() << 57 : 0);
    std::memcpy(&in[9 + 8 * i], &raw, 8);
  }
  if (pick(6) == 0) in.resize(pick(in.size()) + 1);  // truncated buffers
  return in;
}

TEST(PscFuzzSmoke, StructuredInputsKeepInvariants) {
  std::mt19937_64 rng(kSeed);
  for (int i = 0; i < 20000; ++i) {
    const std::vector<uint8_t> in = make_input(rng);
    SCOPED_TRACE(testing::Message() << "seed 0x" << std::hex << kSeed << " case " << std::dec << i);
    EXPECT_EQ(LLVMFuzzerTestOneInput(in.data(), in.size()), 0);
  }
}

TEST(PscFuzzSmoke, RawRandomBytes) {
  std::mt19937_64 rng(kSeed + 1);
  for (int i = 0; i < 5000; ++i) {
    std::vector<uint8_t> in(rng() % 2100);
    for (auto& b : in) b = static_cast<uint8_t>(rng());
    SCOPED_TRACE(testing::Message() << "seed 0x" << std::hex << kSeed + 1 << " case " << std::dec
                                    << i);
    EXPECT_EQ(LLVMFuzzerTestOneInput(in.data(), in.size()), 0);
  }
}

}  // namespace
