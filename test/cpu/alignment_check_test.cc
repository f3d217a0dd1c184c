// #AC state vectors. APM vol 2, 8.2.18: a misaligned data access raises #AC (vector 17, error
// code 0) when CR0.AM = 1, RFLAGS.AC = 1 and CPL = 3; the operand size gives the required
// alignment (Table 8-7); implicit supervisor accesses (descriptor tables, TSS) and instruction
// fetches are not checked; the faulting instruction has changed no state.
#include <gtest/gtest.h>

#include "test/cpu/user_mode_fixture.h"

namespace snpemu::cpu {
namespace {

constexpr unsigned kAc = 17, kGp = 13;

class AlignmentCheckTest : public testing::UserModeTest {
 protected:
  AlignmentCheckTest() {
    core_.state().cr0 |= ctl::kCr0Am;
    core_.state().rflags |= flag::kAc;
    enter_user();
  }
  // The program ends with HLT, which #GPs at CPL 3: reaching it means no earlier fault.
  void expect_reached_hlt_at(uint64_t hlt_rip) {
    expect_fault(kGp, hlt_rip, 0);
  }
};

TEST_F(AlignmentCheckTest, MisalignedUserLoadRaisesAc) {
  reg(kRax) = 0x1234;
  // mov eax, [0x6001]; hlt
  code({0x8B, 0x04, 0x25, 0x01, 0x60, 0, 0, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kAc, kCode, 0);
  EXPECT_EQ(reg(kRax), 0x1234u) << "the faulting load wrote no register";
  EXPECT_EQ(bus_.peek<uint64_t>(reg(kRsp) + 16), 0x08u | 3) << "CS of the user code";
}

TEST_F(AlignmentCheckTest, MisalignedUserStoreRaisesAcAndWritesNothing) {
  bus_.poke<uint64_t>(kData, 0x1111111111111111);
  reg(kRax) = 0xAAAA;
  // mov [0x6002], rax (8 bytes at 2 mod 8); hlt
  code({0x48, 0x89, 0x04, 0x25, 0x02, 0x60, 0, 0, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kAc, kCode, 0);
  EXPECT_EQ(bus_.peek<uint64_t>(kData), 0x1111111111111111u) << "memory at gpa 0x6000 unchanged";
}

TEST_F(AlignmentCheckTest, WordAtOddAddressRaisesAc) {
  // mov word [0x6003], ax
  code({0x66, 0x89, 0x04, 0x25, 0x03, 0x60, 0, 0, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kAc, kCode, 0);
}

TEST_F(AlignmentCheckTest, NaturallyAlignedAccessesAndBytesDoNotFault) {
  // mov eax, [0x6004]; mov word [0x6002], ax; mov byte [0x6003], al; mov rbx, [0x6008]; hlt
  code({0x8B, 0x04, 0x25, 0x04, 0x60, 0, 0,
        0x66, 0x89, 0x04, 0x25, 0x02, 0x60, 0, 0,
        0x88, 0x04, 0x25, 0x03, 0x60, 0, 0,
        0x48, 0x8B, 0x1C, 0x25, 0x08, 0x60, 0, 0, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_reached_hlt_at(kCode + 30);
}

TEST_F(AlignmentCheckTest, NoCheckAtCpl0) {
  core_.state().cpl = 0;
  core_.state().seg[kCs].selector = 0x08;
  core_.state().seg[kSs].selector = 0x10;
  bus_.poke<uint32_t>(kData + 1, 0xCAFEF00D);
  // mov eax, [0x6001]; hlt (allowed at CPL 0)
  code({0x8B, 0x04, 0x25, 0x01, 0x60, 0, 0, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  EXPECT_EQ(core_.state().rip, kCode + 8) << "HLT at CPL 0 halted without a fault";
  EXPECT_EQ(reg(kRax), 0xCAFEF00Du);
}

TEST_F(AlignmentCheckTest, NoCheckWithRflagsAcClear) {
  core_.state().rflags &= ~flag::kAc;
  code({0x8B, 0x04, 0x25, 0x01, 0x60, 0, 0, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_reached_hlt_at(kCode + 7);
}

TEST_F(AlignmentCheckTest, NoCheckWithCr0AmClear) {
  core_.state().cr0 &= ~ctl::kCr0Am;
  code({0x8B, 0x04, 0x25, 0x01, 0x60, 0, 0, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_reached_hlt_at(kCode + 7);
}

TEST_F(AlignmentCheckTest, SameFaultWithPagingOn) {
  // The check is independent of the translation path: same fault with CR0.PG = 1 (identity
  // map of the first 1 MiB, user pages).
  constexpr uint64_t kPml4 = 0xA000, kPdpt = 0xB000, kPd = 0xC000, kPt = 0xD000;
  bus_.poke<uint64_t>(kPml4, kPdpt | 7);
  bus_.poke<uint64_t>(kPdpt, kPd | 7);
  bus_.poke<uint64_t>(kPd, kPt | 7);
  for (uint64_t page = 0; page < 256; ++page) bus_.poke<uint64_t>(kPt + page * 8, (page << 12) | 7);
  core_.state().cr3 = kPml4;
  core_.state().cr0 |= ctl::kCr0Pg;
  code({0x8B, 0x04, 0x25, 0x01, 0x60, 0, 0, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kAc, kCode, 0);
}

TEST_F(AlignmentCheckTest, RepMovsdFromMisalignedSourceFaultsBeforeTheFirstElement) {
  bus_.poke<uint32_t>(0x7000, 0x55555555);
  // mov esi, 0x6001; mov edi, 0x7000; mov ecx, 4; rep movsd; hlt
  code({0xBE, 0x01, 0x60, 0, 0, 0xBF, 0, 0x70, 0, 0, 0xB9, 4, 0, 0, 0, 0xF3, 0xA5, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kAc, kCode + 15, 0);
  EXPECT_EQ(reg(kRcx), 4u) << "no element moved";
  EXPECT_EQ(reg(kRsi), 0x6001u);
  EXPECT_EQ(bus_.peek<uint32_t>(0x7000), 0x55555555u);
}

TEST_F(AlignmentCheckTest, RepStoswFaultsAtTheFirstMisalignedElement) {
  // mov edi, 0x7000; mov ecx, 3; rep stosb (byte: no check); mov ecx, 2; rep stosw (RDI = 0x7003)
  code({0xBF, 0, 0x70, 0, 0, 0xB9, 3, 0, 0, 0, 0xF3, 0xAA, 0xB9, 2, 0, 0, 0, 0x66, 0xF3, 0xAB, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kAc, kCode + 17, 0);
  EXPECT_EQ(reg(kRdi), 0x7003u) << "byte stores are never misaligned";
  EXPECT_EQ(reg(kRcx), 2u);
}

TEST_F(AlignmentCheckTest, PushOnMisalignedUserStackRaisesAc) {
  reg(kRsp) = kUserStack - 4;
  // push rax; hlt
  code({0x50, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kAc, kCode, 0);
  EXPECT_EQ(bus_.peek<uint64_t>(reg(kRsp) + 32), kUserStack - 4) << "user RSP unchanged";
}

TEST_F(AlignmentCheckTest, Cmpxchg8bNeedsEightByteAlignment) {
  // cmpxchg8b [0x6004]; hlt
  code({0x0F, 0xC7, 0x0C, 0x25, 0x04, 0x60, 0, 0, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kAc, kCode, 0);
}

TEST_F(AlignmentCheckTest, DescriptorTableReadIsAnImplicitSupervisorAccess) {
  // GDT moved to an odd base: loading DS at CPL 3 reads the descriptor there, unchecked.
  for (uint64_t off = 0; off < 0x38; off += 8) {
    bus_.poke<uint64_t>(kGdt + 0x101 + off, bus_.peek<uint64_t>(kGdt + off));
  }
  core_.state().gdtr = {kGdt + 0x101, 0x37};
  // mov eax, 0x1B; mov ds, ax; hlt
  code({0xB8, 0x1B, 0, 0, 0, 0x8E, 0xD8, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_reached_hlt_at(kCode + 7);
  EXPECT_EQ(core_.state().seg[kDs].selector, 0x1B);
}

}  // namespace
}  // namespace snpemu::cpu
