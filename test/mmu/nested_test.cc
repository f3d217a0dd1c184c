// test/mmu/nested_test.cc: the nested (NPT) walk and the two-dimensional translation; NPF
// exit_info_1 bits per PLATFORM-FACTS 4.8 [L].
#include <gtest/gtest.h>

#include "emu/mem/memory.h"
#include "mmu/mmu.h"
#include "test/mmu/pt_builder.h"

namespace snpemu::mmu {
namespace {

using testing::hex;
using testing::PtBuilder;

constexpr uint64_t kRwU = kPteP | kPteRw | kPteUs;
constexpr uint64_t kVa = 0x0000'7F12'3456'7000;
constexpr uint64_t kGpa = 0x0000'0000'4567'8000;  // guest data page
constexpr uint64_t kHpa = 0x0000'0000'9ABC'D000;  // its host backing
constexpr uint64_t kGuestTables = 0x20'0000;      // GPA == HPA, identity-mapped by the NPT
constexpr uint64_t kNptTables = 0x800'0000;       // host-physical, not guest-visible

Access rd(uint8_t cpl = 0) { return Access{AccessKind::kRead, cpl, false}; }
Access wr(uint8_t cpl = 0) { return Access{AccessKind::kWrite, cpl, false}; }
Access fx(uint8_t cpl = 0) { return Access{AccessKind::kFetch, cpl, false}; }

class NestedTest : public ::testing::Test {
 protected:
  NestedTest()
      : mem_(std::move(*Memory::create())),
        guest_pt_(*mem_, 4, kGuestTables),
        npt_(*mem_, 4, kNptTables) {
    // NPT: identity 2M mapping of the guest-table region, 4K mapping of the data page.
    npt_.map(kGuestTables & ~0x1F'FFFFull, kGuestTables & ~0x1F'FFFFull, PageSize::k2M, kRwU);
    npt_.map(kGpa, kHpa, PageSize::k4K, kRwU);
    guest_pt_.map(kVa, kGpa, PageSize::k4K, kRwU);
    nregs_.nested_cr3 = npt_.root();
    gregs_.cr0 = kCr0Pg;
    gregs_.cr4 = kCr4Pae;
    gregs_.efer = kEferNxe;
    gregs_.cr3 = guest_pt_.root();
  }
  std::expected<Translation, Fault> go(uint64_t va, Access a, uint64_t* gpa = nullptr) {
    NestedTableAccess guest_tables(*mem_, nregs_, host_config_);
    const NestedPaging paging = guest_tables.paging();
    return translate_nested(guest_tables, paging, gregs_, guest_config_, va, a, gpa);
  }
  void expect_npf(uint64_t va, Access a, uint64_t exit_info_1, uint64_t exit_info_2,
                  const char* what) {
    auto r = go(va, a);
    ASSERT_FALSE(r.has_value()) << what << ": expected NPF, got hpa " << hex(r->pa);
    EXPECT_EQ(r.error().kind, Fault::Kind::kNestedPageFault) << what;
    EXPECT_EQ(r.error().error_code, exit_info_1)
        << what << ": expected exit_info_1 " << hex(exit_info_1) << " at gpa " << hex(exit_info_2)
        << ", got " << hex(r.error().error_code);
    EXPECT_EQ(r.error().address, exit_info_2)
        << what << ": expected exit_info_2 " << hex(exit_info_2) << ", got "
        << hex(r.error().address);
  }

  std::unique_ptr<Memory> mem_;
  PtBuilder guest_pt_;
  PtBuilder npt_;
  NestedRegs nregs_;
  PagingConfig host_config_;
  PagingRegs gregs_;
  PagingConfig guest_config_;
};

TEST_F(NestedTest, TwoDimensionalTranslation) {
  uint64_t gpa = 0;
  auto r = go(kVa + 0x321, wr(3), &gpa);
  ASSERT_TRUE(r.has_value()) << "fault kind " << static_cast<int>(r.error().kind) << " ec "
                             << hex(r.error().error_code) << " at " << hex(r.error().address);
  EXPECT_EQ(gpa, kGpa + 0x321);
  EXPECT_EQ(r->pa, kHpa + 0x321) << "got " << hex(r->pa);
  EXPECT_EQ(r->size, PageSize::k4K);
  EXPECT_NE(guest_pt_.entry(kVa, 1) & kPteD, 0u) << "guest D set through the NPT";
  EXPECT_NE(npt_.entry(kGpa, 1) & kPteD, 0u) << "NPT leaf D set by the final write";
  EXPECT_NE(npt_.entry(kGuestTables, 2) & kPteA, 0u) << "NPT A set by guest table reads";
}

TEST_F(NestedTest, SizeIsTheSmallerOfGuestAndNested) {
  const uint64_t va = 0x0000'0040'0020'0000;
  guest_pt_.map(va, 0x4000'0000, PageSize::k2M, kRwU);      // guest 2M page
  npt_.map(0x4000'0000, 0x8000'0000, PageSize::k1G, kRwU);  // nested 1G page
  auto r = go(va + 0x1234, rd());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->pa, 0x8000'1234u) << "got " << hex(r->pa);
  EXPECT_EQ(r->size, PageSize::k2M);
}

TEST_F(NestedTest, GuestTableAccessFaultIsGuestPage) {
  // Unmap the 2M region holding the guest tables: the first guest table read (PML4E) faults.
  npt_.set_entry(kGuestTables, 2, 0);
  const uint64_t pml4e_gpa = guest_pt_.root() | (((kVa >> 39) & 0x1FF) << 3);
  // PLATFORM-FACTS 4.8: bit 33 GUEST_PAGE; U=1 (nested accesses are user, APM 15.25); P=0.
  expect_npf(kVa, rd(0), kNpfGuestPage | kNpfUser, pml4e_gpa, "guest PML4E not in NPT");
}

TEST_F(NestedTest, GuestAccessedBitUpdateIsANestedWrite) {
  npt_.map(kGuestTables & ~0x1F'FFFFull, kGuestTables & ~0x1F'FFFFull, PageSize::k2M,
           kPteP | kPteUs);  // guest tables read-only in the NPT
  const uint64_t pml4e_gpa = guest_pt_.root() | (((kVa >> 39) & 0x1FF) << 3);
  expect_npf(kVa, rd(0), kNpfGuestPage | kNpfPresent | kNpfWrite | kNpfUser, pml4e_gpa,
             "A update of a guest table mapped read-only");
  // With A already set everywhere no table write is needed and the read succeeds.
  for (int level = 4; level >= 1; --level) {
    guest_pt_.set_entry(kVa, level, guest_pt_.entry(kVa, level) | kPteA);
  }
  EXPECT_TRUE(go(kVa, rd(0)).has_value());
}

TEST_F(NestedTest, FinalTranslationFaults) {
  npt_.set_entry(kGpa, 1, 0);
  // PLATFORM-FACTS 4.8: bit 32 GUEST_FINAL, exit_info_2 = the faulting GPA.
  expect_npf(kVa + 8, rd(0), kNpfGuestFinal | kNpfUser, kGpa + 8, "final GPA not present");
  expect_npf(kVa + 8, wr(3), kNpfGuestFinal | kNpfUser | kNpfWrite, kGpa + 8,
             "final GPA not present, write");
  // KVM walk_addr_generic [L] order: the final GPA is translated before guest A/D updates.
  for (int level = 4; level >= 1; --level) {
    EXPECT_EQ(guest_pt_.entry(kVa, level) & (kPteA | kPteD), 0u)
        << "guest A/D set at level " << level << " although the final translation faulted";
  }
  expect_npf(kVa + 8, fx(0), kNpfGuestFinal | kNpfUser | kNpfFetch, kGpa + 8,
             "final GPA not present, fetch");
  npt_.map(kGpa, kHpa, PageSize::k4K, kPteP | kPteUs);  // read-only
  EXPECT_TRUE(go(kVa, rd(0)).has_value());
  expect_npf(kVa, wr(0), kNpfGuestFinal | kNpfPresent | kNpfWrite | kNpfUser, kGpa,
             "write to a read-only NPT page");
  npt_.map(kGpa, kHpa, PageSize::k4K, kRwU | kPteNx);
  expect_npf(kVa, fx(0), kNpfGuestFinal | kNpfPresent | kNpfUser | kNpfFetch, kGpa,
             "fetch from an NX NPT page");
  npt_.map(kGpa, kHpa, PageSize::k4K, kPteP | kPteRw);  // U/S=0: every nested access is user
  expect_npf(kVa, rd(0), kNpfGuestFinal | kNpfPresent | kNpfUser, kGpa,
             "APM 15.25: supervisor-only NPT page");
}

TEST_F(NestedTest, NestedReservedBit) {
  host_config_.maxphyaddr = 48;
  npt_.map(kGpa, kHpa | (uint64_t{1} << 50), PageSize::k4K, kRwU);
  expect_npf(kVa, rd(0), kNpfGuestFinal | kNpfPresent | kNpfRsvd | kNpfUser, kGpa,
             "NPT entry bit 50 with host MAXPHYADDR 48");
}

TEST_F(NestedTest, GuestPageFaultIsNotAnNpf) {
  guest_pt_.set_entry(kVa, 1, 0);
  auto r = go(kVa, wr(3));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, Fault::Kind::kPageFault);
  EXPECT_EQ(r.error().error_code, kPfW | kPfU);
  EXPECT_EQ(r.error().address, kVa);
}

TEST_F(NestedTest, CBitOnBothLevels) {
  guest_config_.c_bit = 51;
  guest_config_.maxphyaddr = 46;
  host_config_.c_bit = 51;
  guest_pt_.map(kVa, kGpa | (uint64_t{1} << 51), PageSize::k4K, kRwU);
  npt_.map(kGpa, kHpa | (uint64_t{1} << 51), PageSize::k4K, kRwU);
  uint64_t gpa = 0;
  auto r = go(kVa, rd(), &gpa);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(gpa, kGpa) << "guest C-bit stripped from the GPA";
  EXPECT_EQ(r->pa, kHpa) << "nested C-bit stripped from the HPA, got " << hex(r->pa);
  EXPECT_TRUE(r->encrypted) << "guest C-bit reported on the translation";
  FlatTableAccess host(*mem_);
  auto n =
      nested_walk(host, nregs_, host_config_, kGpa, AccessKind::kRead, NestedStage::kGuestFinal);
  ASSERT_TRUE(n.has_value());
  EXPECT_TRUE(n->encrypted) << "NPT leaf C-bit reported by nested_walk";
}

TEST_F(NestedTest, GpaBeyondNptWidth) {
  FlatTableAccess host(*mem_);
  const uint64_t gpa = uint64_t{1} << 50;
  auto n =
      nested_walk(host, nregs_, host_config_, gpa, AccessKind::kRead, NestedStage::kGuestFinal);
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().kind, Fault::Kind::kNestedPageFault);
  EXPECT_EQ(n.error().error_code, kNpfGuestFinal | kNpfUser);
  EXPECT_EQ(n.error().address, gpa);
}

TEST_F(NestedTest, FiveLevelNpt) {
  PtBuilder npt5(*mem_, 5, 0x900'0000);
  const uint64_t big_gpa = uint64_t{1} << 50;  // beyond a 4-level NPT, inside a 5-level one
  npt5.map(big_gpa, kHpa, PageSize::k4K, kRwU);
  NestedRegs regs;
  regs.nested_cr3 = npt5.root();
  regs.la57 = true;
  FlatTableAccess host(*mem_);
  auto n = nested_walk(host, regs, host_config_, big_gpa + 0x10, AccessKind::kWrite,
                       NestedStage::kGuestFinal);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->pa, kHpa + 0x10);
  EXPECT_EQ(host.entry_reads(), 5u) << "a 5-level NPT walk reads 5 entries";
  EXPECT_NE(npt5.entry(big_gpa, 5) & kPteA, 0u) << "A set in the nested PML5E";
  EXPECT_NE(npt5.entry(big_gpa, 1) & kPteD, 0u) << "D set in the nested leaf";
  n = nested_walk(host, regs, host_config_, big_gpa + 0x1000, AccessKind::kRead,
                  NestedStage::kGuestPage);
  ASSERT_FALSE(n.has_value());
  EXPECT_EQ(n.error().error_code, kNpfGuestPage | kNpfUser) << "unmapped neighbour, stage bit 33";
}

TEST_F(NestedTest, OneNestedWalkPerGuestTableAccess) {
  for (int level = 4; level >= 1; --level) {
    guest_pt_.set_entry(kVa, level, guest_pt_.entry(kVa, level) | kPteA);
  }
  NestedTableAccess guest_tables(*mem_, nregs_, host_config_);
  ASSERT_TRUE(walk(guest_tables, gregs_, guest_config_, kVa, rd()).has_value());
  EXPECT_EQ(guest_tables.nested_walks(), 4u) << "4 guest entry reads, no A/D writes";
  ASSERT_TRUE(walk(guest_tables, gregs_, guest_config_, kVa, wr()).has_value());
  EXPECT_EQ(guest_tables.nested_walks(), 9u) << "4 reads + 1 D update";
}

TEST_F(NestedTest, TranslateCachesTheHostAddress) {
  Tlb tlb;
  NestedTableAccess guest_tables(*mem_, nregs_, host_config_);
  const NestedPaging paging = guest_tables.paging();
  auto r = translate(tlb, guest_tables, gregs_, guest_config_, Asid{5}, kVa + 4, rd(), &paging);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->pa, kHpa + 4);
  r = translate(tlb, guest_tables, gregs_, guest_config_, Asid{5}, kVa + 8, rd(), &paging);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->pa, kHpa + 8);
  EXPECT_EQ(tlb.stats().hits, 1u);
  // A write hit on a translation that the NPT made read-only re-walks and reports the NPF.
  npt_.map(kGpa, kHpa, PageSize::k4K, kPteP | kPteUs);
  tlb.flush_all();
  ASSERT_TRUE(translate(tlb, guest_tables, gregs_, guest_config_, Asid{5}, kVa, rd(), &paging));
  r = translate(tlb, guest_tables, gregs_, guest_config_, Asid{5}, kVa, wr(), &paging);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, Fault::Kind::kNestedPageFault);
  EXPECT_EQ(r.error().error_code, kNpfGuestFinal | kNpfPresent | kNpfWrite | kNpfUser);
}

}  // namespace
}  // namespace snpemu::mmu
