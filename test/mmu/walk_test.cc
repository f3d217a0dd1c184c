// test/mmu/walk_test.cc: the long-mode guest page walk, one test per APM rule.
#include <gtest/gtest.h>

#include "emu/mem/memory.h"
#include "mmu/mmu.h"
#include "test/mmu/pt_builder.h"

namespace snpemu::mmu {
namespace {

using testing::hex;
using testing::PtBuilder;

constexpr uint64_t kRwU = kPteP | kPteRw | kPteUs;
constexpr uint64_t kVa = 0x0000'7F12'3456'7000;  // user-half address, all four indices non-zero
constexpr uint64_t kPa = 0x0000'0000'4567'8000;

Access rd(uint8_t cpl = 0) { return Access{AccessKind::kRead, cpl, false}; }
Access wr(uint8_t cpl = 0) { return Access{AccessKind::kWrite, cpl, false}; }
Access fx(uint8_t cpl = 0) { return Access{AccessKind::kFetch, cpl, false}; }

class WalkTest : public ::testing::Test {
 protected:
  WalkTest() : mem_(std::move(*Memory::create())), pt_(*mem_, 4, 0x10'0000), flat_(*mem_) {
    regs_.cr0 = kCr0Pg;
    regs_.cr4 = kCr4Pae;
    regs_.efer = kEferNxe;
    regs_.cr3 = pt_.root();
  }
  std::expected<Translation, Fault> go(uint64_t va, Access a) {
    return walk(flat_, regs_, config_, va, a);
  }
  // Expects a #PF with `ec` at `va`.
  void expect_pf(uint64_t va, Access a, uint64_t ec, const char* rule) {
    auto r = go(va, a);
    ASSERT_FALSE(r.has_value()) << rule << ": expected #PF at va " << hex(va) << ", got pa "
                                << hex(r->pa);
    EXPECT_EQ(r.error().kind, Fault::Kind::kPageFault) << rule;
    EXPECT_EQ(r.error().error_code, ec) << rule << ": expected error code " << hex(ec) << " at va "
                                        << hex(va) << ", got " << hex(r.error().error_code);
    EXPECT_EQ(r.error().address, va) << rule << ": CR2 must be the faulting linear address";
  }
  bool accessed(uint64_t va, int level) { return (pt_.entry(va, level) & kPteA) != 0; }
  bool dirty(uint64_t va, int level) { return (pt_.entry(va, level) & kPteD) != 0; }

  std::unique_ptr<Memory> mem_;
  PtBuilder pt_;
  FlatTableAccess flat_;
  PagingRegs regs_;
  PagingConfig config_;
};

TEST_F(WalkTest, FourKilobytePageTranslatesAndSetsAccessedOnEveryLevel) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU);
  auto r = go(kVa + 0x123, rd());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->pa, kPa + 0x123) << "expected pa " << hex(kPa + 0x123) << ", got " << hex(r->pa);
  EXPECT_EQ(r->size, PageSize::k4K);
  EXPECT_TRUE(r->writable && r->user && r->executable);
  // APM vol 2, 5.4.2: A set in every entry used by the walk; D untouched by a read.
  for (int level = 4; level >= 1; --level) {
    EXPECT_TRUE(accessed(kVa, level)) << "expected A at level " << level;
    EXPECT_FALSE(dirty(kVa, level)) << "read set D at level " << level;
  }
  EXPECT_FALSE(r->dirty);
}

TEST_F(WalkTest, WriteSetsDirtyOnLeafOnly) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU);
  auto r = go(kVa, wr());
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->dirty);
  EXPECT_TRUE(dirty(kVa, 1)) << "APM 5.4.2: write must set D in the leaf PTE";
  for (int level = 4; level >= 2; --level) {
    EXPECT_FALSE(dirty(kVa, level)) << "D set in non-leaf level " << level;
  }
}

TEST_F(WalkTest, NotPresentAtEachLevelGivesPZeroAndSetsNothing) {
  for (int level = 4; level >= 1; --level) {
    pt_.map(kVa, kPa, PageSize::k4K, kRwU);
    const uint64_t e = pt_.entry(kVa, level);
    pt_.set_entry(kVa, level, e & ~kPteP);
    // APM vol 2, 8.4.2: P=0 (not present); W/R and U/S describe the access.
    expect_pf(kVa, rd(0), 0, "not present, supervisor read");
    expect_pf(kVa, wr(3), kPfW | kPfU, "not present, user write");
    expect_pf(kVa, fx(0), kPfId, "not present, fetch with NXE=1");
    for (int l = 4; l >= level + 1; --l) {
      EXPECT_FALSE(accessed(kVa, l)) << "A set at level " << l << " on a faulting walk";
    }
    pt_.set_entry(kVa, level, e);
  }
}

TEST_F(WalkTest, UserAccessToSupervisorPage) {
  pt_.map(kVa, kPa, PageSize::k4K, kPteP | kPteRw);  // U/S=0 in the leaf
  expect_pf(kVa, rd(3), kPfP | kPfU, "APM 5.6 U/S: user read of supervisor page");
  expect_pf(kVa, wr(3), kPfP | kPfW | kPfU, "APM 5.6 U/S: user write of supervisor page");
  EXPECT_TRUE(go(kVa, rd(0)).has_value()) << "supervisor read of supervisor page";
}

TEST_F(WalkTest, UserFlagIsAndedOverLevels) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU, kPteP | kPteRw);  // upper levels supervisor
  expect_pf(kVa, rd(3), kPfP | kPfU, "APM 5.6: U/S=0 at any level makes the page supervisor");
}

TEST_F(WalkTest, ReadOnlyFromAnyLevel) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU, kPteP | kPteUs);  // upper levels read-only
  expect_pf(kVa, wr(3), kPfP | kPfW | kPfU, "APM 5.6: R/W=0 at any level makes the page RO");
  EXPECT_FALSE(dirty(kVa, 1)) << "D set by a faulting write";
  EXPECT_FALSE(accessed(kVa, 4)) << "A set by a faulting write";
}

TEST_F(WalkTest, WriteProtectMatrix) {
  pt_.map(kVa, kPa, PageSize::k4K, kPteP);  // supervisor, read-only
  regs_.cr0 = kCr0Pg;
  EXPECT_TRUE(go(kVa, wr(0)).has_value()) << "APM 5.6: CR0.WP=0 lets supervisor write RO pages";
  regs_.cr0 = kCr0Pg | kCr0Wp;
  expect_pf(kVa, wr(0), kPfP | kPfW, "APM 5.6: CR0.WP=1 supervisor write of RO page");
  // A supervisor write to a read-only user page follows the same rule.
  pt_.map(kVa, kPa, PageSize::k4K, kPteP | kPteUs);
  expect_pf(kVa, wr(0), kPfP | kPfW, "CR0.WP=1 supervisor write of RO user page");
  regs_.cr0 = kCr0Pg;
  EXPECT_TRUE(go(kVa, wr(0)).has_value()) << "CR0.WP=0 supervisor write of RO user page";
  expect_pf(kVa, wr(3), kPfP | kPfW | kPfU, "user write of RO page faults regardless of WP");
}

TEST_F(WalkTest, NoExecute) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU | kPteNx);
  expect_pf(kVa, fx(0), kPfP | kPfId, "APM 5.6 NX: supervisor fetch from NX page");
  expect_pf(kVa, fx(3), kPfP | kPfU | kPfId, "APM 5.6 NX: user fetch from NX page");
  EXPECT_TRUE(go(kVa, rd(3)).has_value()) << "NX does not affect reads";
  // NX at an upper level applies to the whole subtree.
  pt_.map(kVa, kPa, PageSize::k4K, kRwU);
  pt_.set_entry(kVa, 4, pt_.entry(kVa, 4) | kPteNx);
  expect_pf(kVa, fx(0), kPfP | kPfId, "NX in a PML4E");
}

TEST_F(WalkTest, NxBitIsReservedWithoutNxe) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU | kPteNx);
  regs_.efer = 0;
  // APM vol 2, 5.6 / 8.4.2: NX set with EFER.NXE=0 is a reserved-bit fault; I/D is undefined
  // (0) without NXE.
  expect_pf(kVa, rd(0), kPfP | kPfRsvd, "NX with NXE=0");
  expect_pf(kVa, fx(0), kPfP | kPfRsvd, "NX with NXE=0, fetch: no I/D");
  pt_.map(kVa, kPa, PageSize::k4K, kRwU);
  EXPECT_TRUE(go(kVa, fx(0)).has_value()) << "fetch allowed without NXE";
  pt_.set_entry(kVa, 1, pt_.entry(kVa, 1) & ~kPteP);
  expect_pf(kVa, fx(0), 0, "APM 8.4.2: I/D only defined with EFER.NXE=1");
}

TEST_F(WalkTest, Smep) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU);
  EXPECT_TRUE(go(kVa, fx(0)).has_value()) << "supervisor fetch of user page without SMEP";
  regs_.cr4 |= kCr4Smep;
  expect_pf(kVa, fx(0), kPfP | kPfId, "APM 5.6 SMEP: supervisor fetch of user page");
  EXPECT_TRUE(go(kVa, fx(3)).has_value()) << "SMEP does not restrict user fetches";
  regs_.efer = 0;  // I/D without NXE: APM 8.4.2 text vs the Intel/QEMU rule (policy option)
  expect_pf(kVa, fx(0), kPfP, "SMEP fault with NXE=0: I/D undefined per APM 8.4.2");
  config_.id_bit_with_smep = true;
  expect_pf(kVa, fx(0), kPfP | kPfId, "SMEP fault with NXE=0, id_bit_with_smep policy");
  config_.id_bit_with_smep = false;
  regs_.efer = kEferNxe;
  EXPECT_TRUE(go(kVa, rd(0)).has_value()) << "SMEP does not restrict data reads";
  pt_.map(kVa, kPa, PageSize::k4K, kPteP | kPteRw);
  EXPECT_TRUE(go(kVa, fx(0)).has_value()) << "SMEP allows supervisor fetch of supervisor page";
}

TEST_F(WalkTest, SmapMatrix) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU);
  regs_.cr4 |= kCr4Smap;
  expect_pf(kVa, rd(0), kPfP, "APM 5.6 SMAP: supervisor read of user page, AC=0");
  expect_pf(kVa, wr(0), kPfP | kPfW, "SMAP: supervisor write of user page, AC=0");
  regs_.rflags = kRflagsAc;
  EXPECT_TRUE(go(kVa, rd(0)).has_value()) << "SMAP: AC=1 allows explicit supervisor reads";
  EXPECT_TRUE(go(kVa, wr(0)).has_value()) << "SMAP: AC=1 allows explicit supervisor writes";
  const Access implicit{AccessKind::kRead, 0, true};
  expect_pf(kVa, implicit, kPfP, "SMAP: implicit supervisor access faults even with AC=1");
  const Access implicit_cpl3{AccessKind::kRead, 3, true};
  expect_pf(kVa, implicit_cpl3, kPfP, "SMAP: implicit access at CPL3 is supervisor (U/S=0)");
  EXPECT_TRUE(go(kVa, fx(0)).has_value()) << "SMAP does not apply to fetches";
  EXPECT_TRUE(go(kVa, rd(3)).has_value()) << "SMAP does not apply to user accesses";
  regs_.cr4 &= ~kCr4Smap;
  regs_.rflags = 0;
  EXPECT_TRUE(go(kVa, rd(0)).has_value()) << "no SMAP: supervisor read of user page";
}

TEST_F(WalkTest, TwoMegabyteAndOneGigabytePages) {
  const uint64_t va2m = 0x0000'0040'0020'0000;
  pt_.map(va2m, 0x20'0000 * 7, PageSize::k2M, kRwU);
  auto r = go(va2m + 0x1'2345, wr());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->pa, 0x20'0000 * 7 + 0x1'2345) << "2M: got " << hex(r->pa);
  EXPECT_EQ(r->size, PageSize::k2M);
  EXPECT_TRUE(dirty(va2m, 2)) << "D set in the 2M PDE leaf";
  EXPECT_FALSE(dirty(va2m, 3));

  const uint64_t va1g = 0x0000'0080'0000'0000;
  pt_.map(va1g, 0x4000'0000ull * 2, PageSize::k1G, kRwU);
  r = go(va1g + 0x2345'6789, rd());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->pa, 0x4000'0000ull * 2 + 0x2345'6789) << "1G: got " << hex(r->pa);
  EXPECT_EQ(r->size, PageSize::k1G);
  EXPECT_EQ(r->page_base(), 0x8000'0000u);
}

TEST_F(WalkTest, ReservedBits) {
  config_.maxphyaddr = 40;
  // APM vol 2, 5.3: address bits 51:MAXPHYADDR are reserved in every entry.
  pt_.map(kVa, kPa | (uint64_t{1} << 45), PageSize::k4K, kRwU);
  expect_pf(kVa, rd(3), kPfP | kPfRsvd | kPfU, "PTE bit 45 with MAXPHYADDR 40");
  config_.maxphyaddr = 52;
  EXPECT_TRUE(go(kVa, rd(3)).has_value()) << "bit 45 is an address bit with MAXPHYADDR 52";
  config_.maxphyaddr = 40;
  pt_.set_entry(kVa, 4, pt_.entry(kVa, 4) & ~kPteA);
  expect_pf(kVa, wr(0), kPfP | kPfRsvd | kPfW, "RSVD fault reports W/R of the access");
  EXPECT_FALSE(accessed(kVa, 4)) << "A set on a reserved-bit fault";
  // A not-present entry's other bits are ignored: P=0 fault, not RSVD.
  pt_.set_entry(kVa, 1, pt_.entry(kVa, 1) & ~kPteP);
  expect_pf(kVa, rd(0), 0, "reserved bits ignored when P=0");
}

TEST_F(WalkTest, ReservedBitsPerLevel) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU);
  const uint64_t pml4e = pt_.entry(kVa, 4);
  // APM vol 2, 5.3 PML4E format: PS (bit 7) MBZ; bit 8 MBZ on AMD (KVM nonleaf_bit8_rsvd).
  pt_.set_entry(kVa, 4, pml4e | kPtePs);
  expect_pf(kVa, rd(0), kPfP | kPfRsvd, "PS in a PML4E");
  pt_.set_entry(kVa, 4, pml4e | kPteG);
  expect_pf(kVa, rd(0), kPfP | kPfRsvd, "bit 8 in a PML4E (AMD)");
  pt_.set_entry(kVa, 4, pml4e);
  // Bit 8 in a non-leaf PDPE/PDE is ignored on AMD (KVM fix 5ecad245: reserved only in PML4Es).
  pt_.set_entry(kVa, 3, pt_.entry(kVa, 3) | kPteG);
  EXPECT_TRUE(go(kVa, rd(0)).has_value()) << "bit 8 in a non-leaf PDPE is not reserved";

  const uint64_t va2m = 0x0000'0040'0020'0000;
  pt_.map(va2m, 0x40'0000 | (uint64_t{1} << 13), PageSize::k2M, kRwU);
  expect_pf(va2m, rd(0), kPfP | kPfRsvd, "APM 5.3: 2M PDE bits 20:13 reserved");
  pt_.map(va2m, 0x40'0000 | (uint64_t{1} << 12), PageSize::k2M, kRwU);  // bit 12 = PAT
  EXPECT_TRUE(go(va2m, rd(0)).has_value()) << "2M PDE bit 12 is PAT, not reserved";

  const uint64_t va1g = 0x0000'0080'0000'0000;
  pt_.map(va1g, 0x4000'0000 | (uint64_t{1} << 29), PageSize::k1G, kRwU);
  expect_pf(va1g, rd(0), kPfP | kPfRsvd, "APM 5.3: 1G PDPE bits 29:13 reserved");
  pt_.map(va1g, 0x4000'0000, PageSize::k1G, kRwU);
  config_.gbpages = false;
  expect_pf(va1g, rd(0), kPfP | kPfRsvd, "PS in a PDPE without Page1GB");
}

TEST_F(WalkTest, CBitIsStrippedAndReported) {
  config_.c_bit = 47;
  config_.maxphyaddr = 43;  // SEV reduces MAXPHYADDR; the C-bit lies above it
  pt_.map(kVa, kPa | (uint64_t{1} << 47), PageSize::k4K, kRwU);
  auto r = go(kVa, rd());
  ASSERT_TRUE(r.has_value()) << "the C-bit is not a reserved bit";
  EXPECT_EQ(r->pa, kPa) << "C-bit must be stripped from the output address, got " << hex(r->pa);
  EXPECT_TRUE(r->encrypted);
  // An SEV guest's CR3 and table pointers carry the C-bit too; it is not part of the address.
  regs_.cr3 |= uint64_t{1} << 47;
  const uint64_t pml4e = pt_.entry(kVa, 4);
  pt_.set_entry(kVa, 4, pml4e | (uint64_t{1} << 47));
  r = go(kVa, rd());
  ASSERT_TRUE(r.has_value()) << "C-bit in CR3 and a PML4E must be stripped";
  EXPECT_EQ(r->pa, kPa);
  pt_.set_entry(kVa, 4, pml4e);
  pt_.map(kVa, kPa, PageSize::k4K, kRwU);
  r = go(kVa, rd());
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->encrypted);
}

TEST_F(WalkTest, NonCanonical) {
  const uint64_t bad = 0x0000'8000'0000'0000;
  auto r = go(bad, rd());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, Fault::Kind::kNonCanonical) << "APM 5.3.1: bits 63:47 must match";
  EXPECT_EQ(r.error().address, bad);
  EXPECT_TRUE(is_canonical(0xFFFF'8000'0000'0000, false));
  EXPECT_FALSE(is_canonical(0xFF7F'8000'0000'0000, false));
  EXPECT_TRUE(is_canonical(bad, true)) << "LA57: bits 63:56 must match";
  EXPECT_FALSE(is_canonical(0x0100'0000'0000'0000, true));
}

TEST_F(WalkTest, FiveLevel) {
  auto mem5 = std::move(*Memory::create());
  PtBuilder pt5(*mem5, 5, 0x20'0000);
  FlatTableAccess flat5(*mem5);
  const uint64_t va = 0x00AB'CDEF'1234'5000;  // needs LA57: bits 56:48 non-zero
  pt5.map(va, kPa, PageSize::k4K, kRwU);
  PagingRegs regs = regs_;
  regs.cr3 = pt5.root();
  regs.cr4 |= kCr4La57;
  auto r = walk(flat5, regs, config_, va + 8, rd(3));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->pa, kPa + 8);
  EXPECT_NE(pt5.entry(va, 5) & kPteA, 0u) << "A set in the PML5E";
  pt5.set_entry(va, 5, pt5.entry(va, 5) | kPtePs);
  r = walk(flat5, regs, config_, va, rd(3));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().error_code, kPfP | kPfRsvd | kPfU) << "PS in a PML5E is reserved";
  regs.cr4 &= ~kCr4La57;
  r = walk(flat5, regs, config_, va, rd(3));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, Fault::Kind::kNonCanonical) << "same address without LA57";
}

TEST_F(WalkTest, ProtectionKeys) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU | (uint64_t{5} << 59));
  regs_.cr4 |= kCr4Pke;
  regs_.pkru = 0b01u << (2 * 5);  // AD for key 5
  expect_pf(kVa, rd(3), kPfP | kPfU | kPfPk, "APM 5.6 PKE: AD blocks user read");
  expect_pf(kVa, rd(0), kPfP | kPfPk, "PKE: AD blocks supervisor read of user page");
  EXPECT_TRUE(go(kVa, fx(3)).has_value()) << "PKE does not apply to fetches";
  regs_.pkru = 0b10u << (2 * 5);  // WD for key 5
  EXPECT_TRUE(go(kVa, rd(3)).has_value()) << "WD allows reads";
  expect_pf(kVa, wr(3), kPfP | kPfW | kPfU | kPfPk, "PKE: WD blocks user write");
  EXPECT_TRUE(go(kVa, wr(0)).has_value()) << "WD does not block supervisor write with WP=0";
  regs_.cr0 |= kCr0Wp;
  expect_pf(kVa, wr(0), kPfP | kPfW | kPfPk, "WD blocks supervisor write with WP=1");
  regs_.cr4 &= ~kCr4Pke;
  EXPECT_TRUE(go(kVa, wr(3)).has_value()) << "PKRU ignored with CR4.PKE=0";
  auto r = go(kVa, rd(3));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->pkey, 0) << "key bits are ignored without PKE";
}

TEST_F(WalkTest, AccessedAndDirtyAlreadySetAreNotRewritten) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU | kPteA | kPteD, kRwU | kPteA);
  // A TableAccess that counts writes proves the walk does not issue needless RMWs.
  struct Counting : TableAccess {
    explicit Counting(Memory& m) : flat(m) {}
    std::expected<uint64_t, Fault> read_entry(uint64_t pa) override { return flat.read_entry(pa); }
    std::expected<void, Fault> set_bits(uint64_t pa, uint64_t bits) override {
      ++writes;
      return flat.set_bits(pa, bits);
    }
    FlatTableAccess flat;
    int writes = 0;
  } counting(*mem_);
  ASSERT_TRUE(walk(counting, regs_, config_, kVa, wr()).has_value());
  EXPECT_EQ(counting.writes, 0) << "A/D already set must not be written again";
}

TEST_F(WalkTest, WalkStepCounters) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU);
  ASSERT_TRUE(go(kVa, wr()).has_value());
  EXPECT_EQ(flat_.entry_reads(), 4u) << "a 4-level walk reads 4 entries";
  EXPECT_EQ(flat_.entry_writes(), 4u) << "one A (leaf: A|D) update per level on a fresh walk";
  ASSERT_TRUE(go(kVa, wr()).has_value());
  EXPECT_EQ(flat_.entry_reads(), 8u);
  EXPECT_EQ(flat_.entry_writes(), 4u) << "no writes once A/D are set";
  EXPECT_EQ(PagingConfig::c_bit_from_cpuid(0x0000'1EF3), 0x33) << "EBX[5:0]";
}

TEST_F(WalkTest, TableOutsideRam) {
  pt_.map(kVa, kPa, PageSize::k4K, kRwU);
  pt_.set_entry(kVa, 2, (uint64_t{1} << 40) | kRwU);  // PT beyond the 4 GiB of RAM
  auto r = go(kVa, rd());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, Fault::Kind::kBadTableAddress);
  EXPECT_EQ(r.error().address & ~uint64_t{0xFFF}, uint64_t{1} << 40);
}

}  // namespace
}  // namespace snpemu::mmu
