// CMPXCHG8B state vectors. APM vol 3, CMPXCHG8B: 0F C7 /1 with a memory operand and no REX.W
// (REX.W makes it CMPXCHG16B); if EDX:EAX equals m64, ZF = 1 and m64 <- ECX:EBX, else ZF = 0
// and EDX:EAX <- m64 (32-bit register writes zero-extend); the other flags are unchanged;
// LOCK is allowed; a register operand is #UD.
#include <gtest/gtest.h>

#include <vector>

#include "cpu/cpu.h"
#include "cpu/decode/decoder.h"
#include "test/cpu/flat_bus.h"

namespace snpemu::cpu {
namespace {

constexpr uint64_t kCode = 0x1000, kStack = 0x8000, kData = 0x6000;

TEST(Cmpxchg8bDecode, RowSelectionByRexW) {
  auto d = decode64(std::vector<uint8_t>{0xF0, 0x0F, 0xC7, 0x0E});  // lock cmpxchg8b [rsi]
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->row->id, InsnId::CMPXCHG8B_M);
  EXPECT_EQ(d->length, 4);
  auto w = decode64(std::vector<uint8_t>{0x48, 0x0F, 0xC7, 0x0E});  // cmpxchg16b [rsi]
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(w->row->id, InsnId::CMPXCHG16B_M);
  auto r = decode64(std::vector<uint8_t>{0x41, 0x0F, 0xC7, 0x0E});  // REX.B only: still 8B, [r14]
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->row->id, InsnId::CMPXCHG8B_M);
  auto reg = decode64(std::vector<uint8_t>{0x0F, 0xC7, 0xCE});  // mod = 3: #UD
  ASSERT_FALSE(reg.has_value());
  EXPECT_EQ(reg.error(), DecodeError::kUndefined);
}

class Cmpxchg8bTest : public ::testing::Test {
 protected:
  Cmpxchg8bTest() : core_(bus_, CoreConfig{.stop_on_fault = true}) {
    core_.state() = long_mode_state(kCode, kStack);
    // lock cmpxchg8b [0x6000]; hlt
    bus_.load(kCode, std::vector<uint8_t>{0xF0, 0x0F, 0xC7, 0x0C, 0x25, 0x00, 0x60, 0, 0, 0xF4});
  }
  uint64_t& reg(Gpr r) { return core_.state().gpr[r]; }
  testing::FlatBus bus_{1 << 20};
  Core core_;
};

TEST_F(Cmpxchg8bTest, EqualStoresEcxEbxAndSetsZf) {
  bus_.poke<uint64_t>(kData, 0x1122334455667788);
  reg(kRdx) = 0xFFFFFFFF11223344;  // upper halves are ignored by the compare
  reg(kRax) = 0xEEEEEEEE55667788;
  reg(kRcx) = 0xDDDDDDDDCAFEBABE;
  reg(kRbx) = 0xCCCCCCCCDEADBEEF;
  core_.state().rflags |= flag::kCf;
  ASSERT_EQ(core_.run(100), StopReason::kHalt);
  EXPECT_EQ(bus_.peek<uint64_t>(kData), 0xCAFEBABEDEADBEEFu) << "m64 <- ECX:EBX at gpa 0x6000";
  EXPECT_TRUE(core_.state().rflags & flag::kZf);
  EXPECT_TRUE(core_.state().rflags & flag::kCf) << "only ZF is written";
  EXPECT_EQ(reg(kRax), 0xEEEEEEEE55667788u) << "RAX untouched on success";
  EXPECT_EQ(reg(kRdx), 0xFFFFFFFF11223344u) << "RDX untouched on success";
}

TEST_F(Cmpxchg8bTest, NotEqualLoadsEdxEaxZeroExtendedAndClearsZf) {
  bus_.poke<uint64_t>(kData, 0x1122334455667788);
  reg(kRdx) = 0xFFFFFFFF11223344;
  reg(kRax) = 0xEEEEEEEE55667789;  // low dword differs
  reg(kRcx) = 1;
  reg(kRbx) = 2;
  core_.state().rflags |= flag::kZf;
  ASSERT_EQ(core_.run(100), StopReason::kHalt);
  EXPECT_EQ(bus_.peek<uint64_t>(kData), 0x1122334455667788u) << "m64 unchanged";
  EXPECT_FALSE(core_.state().rflags & flag::kZf);
  EXPECT_EQ(reg(kRax), 0x55667788u);
  EXPECT_EQ(reg(kRdx), 0x11223344u);
}

TEST_F(Cmpxchg8bTest, MisalignedOperandIsFineWithoutAlignmentChecking) {
  bus_.load(kCode, std::vector<uint8_t>{0x0F, 0xC7, 0x0C, 0x25, 0x03, 0x60, 0, 0, 0xF4});  // [0x6003]
  bus_.poke<uint64_t>(kData + 3, 0x0102030405060708);
  reg(kRdx) = 0x01020304;
  reg(kRax) = 0x05060708;
  reg(kRcx) = 0;
  reg(kRbx) = 0x99;
  ASSERT_EQ(core_.run(100), StopReason::kHalt);
  EXPECT_EQ(bus_.peek<uint64_t>(kData + 3), 0x99u) << "unlike CMPXCHG16B, no alignment #GP";
}

}  // namespace
}  // namespace snpemu::cpu
