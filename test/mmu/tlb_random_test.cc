// test/mmu/tlb_random_test.cc: seeded random property tests. (1) TLB transparency: with the
// tables unchanged, translate() through the TLB gives exactly walk()'s outcome (same pa, same
// #PF error code) under randomly changing CR0.WP / CR4.SMEP / CR4.SMAP / RFLAGS.AC, CPL and
// access kind. (2) A faulting walk never writes a table (APM 5.4.2; KVM walk_addr_generic).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "emu/mem/memory.h"
#include "mmu/mmu.h"
#include "test/mmu/pt_builder.h"

namespace snpemu::mmu {
namespace {

using testing::hex;
using testing::PtBuilder;

constexpr uint64_t kTables = 0x10'0000;
constexpr uint64_t kTableBytes = 256 * kPageSize;

// xorshift64*: explicit seeds, printed in every failure message.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545'F491'4F6C'DD1Dull;
  }
  bool chance(int percent) { return next() % 100 < static_cast<uint64_t>(percent); }
  uint64_t below(uint64_t n) { return next() % n; }
};

uint64_t random_flags(Rng& rng, bool nxe) {
  uint64_t f = 0;
  if (rng.chance(92)) f |= kPteP;
  if (rng.chance(70)) f |= kPteRw;
  if (rng.chance(60)) f |= kPteUs;
  if (rng.chance(40)) f |= kPteA;
  if (rng.chance(30)) f |= kPteD;
  if (rng.chance(nxe ? 25 : 3)) f |= kPteNx;  // without NXE: a reserved-bit fault
  if (rng.chance(2)) f |= uint64_t{1} << 45;  // reserved with MAXPHYADDR 40
  return f;
}

std::vector<uint64_t> build(PtBuilder& pt, Rng& rng, bool nxe) {
  std::vector<uint64_t> vas;
  for (uint64_t l4 = 1; l4 <= 2; ++l4) {
    for (uint64_t l3 = 0; l3 < 2; ++l3) {
      for (uint64_t l2 = 0; l2 < 4; ++l2) {
        const uint64_t base = (l4 << 39) | (l3 << 30) | (l2 << 21);
        if (rng.chance(25)) {
          pt.map(base, 0x4000'0000 + rng.below(64) * (2 << 20), PageSize::k2M,
                 random_flags(rng, nxe) & ~kPteG);
          vas.push_back(base);
          continue;
        }
        for (uint64_t l1 = 0; l1 < 8; ++l1) {
          const uint64_t va = base | (l1 << 12);
          pt.map(va, 0x8000'0000 + rng.below(4096) * kPageSize, PageSize::k4K,
                 random_flags(rng, nxe));
          vas.push_back(va);
        }
      }
    }
  }
  // Randomise the upper levels too (map() made them P|RW|US).
  for (uint64_t va : vas) {
    for (int level = 4; level >= 3; --level) {
      if (rng.chance(10)) {
        const uint64_t e = pt.entry(va, level);
        pt.set_entry(
            va, level,
            (e & ~(kPteRw | kPteUs)) | (random_flags(rng, nxe) & (kPteRw | kPteUs | kPteNx)));
      }
    }
  }
  return vas;
}

Access random_access(Rng& rng) {
  Access a;
  a.kind = static_cast<AccessKind>(rng.below(3));
  a.cpl = rng.chance(50) ? 3 : 0;
  a.implicit_supervisor = rng.chance(5);
  return a;
}

void randomise_regs(PagingRegs& regs, Rng& rng) {
  regs.cr0 = kCr0Pg | (rng.chance(50) ? kCr0Wp : 0);
  regs.cr4 = kCr4Pae | (rng.chance(50) ? kCr4Smep : 0) | (rng.chance(50) ? kCr4Smap : 0);
  regs.rflags = rng.chance(50) ? kRflagsAc : 0;
}

class TlbRandomTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(TlbRandomTest, TlbIsTransparentAndFaultsWriteNothing) {
  const uint64_t seed = GetParam();
  Rng rng{seed};
  auto mem = std::move(*Memory::create());
  PtBuilder pt(*mem, 4, kTables);
  const bool nxe = rng.chance(70);
  const std::vector<uint64_t> vas = build(pt, rng, nxe);
  FlatTableAccess flat(*mem);
  PagingConfig config;
  config.maxphyaddr = 40;
  PagingRegs regs;
  regs.cr3 = pt.root();
  regs.efer = nxe ? kEferNxe : 0;
  auto tlb = std::make_unique<Tlb>();
  std::vector<uint8_t> before(kTableBytes), after(kTableBytes);
  int successes = 0, faults = 0;

  for (int i = 0; i < 4000; ++i) {
    randomise_regs(regs, rng);
    const uint64_t va = vas[rng.below(vas.size())] + rng.below(kPageSize / 8) * 8;
    const Access a = random_access(rng);
    ASSERT_TRUE(mem->read(Hpa{kTables}, before).has_value());
    auto direct = walk(flat, regs, config, va, a);
    ASSERT_TRUE(mem->read(Hpa{kTables}, after).has_value());
    if (!direct) {
      ASSERT_EQ(direct.error().kind, Fault::Kind::kPageFault) << "seed " << hex(seed);
      ASSERT_TRUE(before == after)
          << "seed " << hex(seed) << " step " << i << ": faulting walk at va " << hex(va) << " (ec "
          << hex(direct.error().error_code) << ") wrote a table";
    }
    auto cached = translate(*tlb, flat, regs, config, Asid{1}, va, a);
    ASSERT_EQ(cached.has_value(), direct.has_value())
        << "seed " << hex(seed) << " step " << i << " va " << hex(va) << ": TLB path "
        << (cached ? "succeeded" : "faulted") << ", walk " << (direct ? "succeeded" : "faulted");
    (direct ? successes : faults)++;
    if (direct) {
      ASSERT_EQ(cached->pa, direct->pa) << "seed " << hex(seed) << " step " << i;
    } else {
      ASSERT_EQ(cached.error(), direct.error())
          << "seed " << hex(seed) << " step " << i << " va " << hex(va) << ": expected ec "
          << hex(direct.error().error_code) << ", got " << hex(cached.error().error_code);
    }
    if (rng.chance(1)) tlb->flush_all();
  }
  // The mix must exercise both outcomes and the TLB, or the comparison proves little.
  EXPECT_GT(tlb->stats().hits, 150u) << "seed " << hex(seed);
  EXPECT_GT(successes, 300) << "seed " << hex(seed);
  EXPECT_GT(faults, 300) << "seed " << hex(seed);
  std::printf("seed %llx: %d successes, %d faults, %llu TLB hits\n",
              static_cast<unsigned long long>(seed), successes, faults,
              static_cast<unsigned long long>(tlb->stats().hits));
}

INSTANTIATE_TEST_SUITE_P(Seeds, TlbRandomTest,
                         ::testing::Values(0x5eed'0001ull, 0x5eed'0002ull, 0x5eed'0003ull,
                                           0x5eed'0004ull, 0xdead'beefull, 0x1234'5678ull));

}  // namespace
}  // namespace snpemu::mmu
