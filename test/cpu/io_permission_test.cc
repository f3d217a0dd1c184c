// TSS I/O permission bitmap state vectors. APM vol 2, 13.2.2 and 12.2.4: with CPL > IOPL, IN,
// OUT, INS and OUTS consult the bitmap at TSS base + the 16-bit I/O map base (TSS offset
// 0x66); the access is allowed only if the bit of every accessed port is clear; bits beyond
// the TSS limit count as set; otherwise #GP(0) and no port is touched.
#include <gtest/gtest.h>

#include "test/cpu/user_mode_fixture.h"

namespace snpemu::cpu {
namespace {

constexpr unsigned kGp = 13;
constexpr uint16_t kMapBase = 0x68;
constexpr uint32_t kFullLimit = kMapBase + 0x2000;  // 65,536 bits plus the trailing 0xFF byte

class IoPermissionTest : public testing::UserModeTest {
 protected:
  IoPermissionTest() {
    bus_.poke<uint16_t>(kTss + 0x66, kMapBase);
    bus_.poke<uint8_t>(kTss + kFullLimit, 0xFF);
    core_.state().tr.limit = kFullLimit;
    enter_user();  // IOPL stays 0
  }
  void deny(uint32_t port) {
    const uint64_t at = kTss + kMapBase + port / 8;
    bus_.poke<uint8_t>(at, static_cast<uint8_t>(bus_.peek<uint8_t>(at) | (1u << (port % 8))));
  }
  // The program ends with HLT, which #GPs at CPL 3: reaching it means no earlier fault.
  void expect_reached_hlt_at(uint64_t hlt_rip) { expect_fault(kGp, hlt_rip, 0); }
};

TEST_F(IoPermissionTest, ClearBitAllowsTheAccess) {
  deny(0x81);
  reg(kRax) = 0x41;
  // out 0x80, al; hlt
  code({0xE6, 0x80, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_reached_hlt_at(kCode + 2);
  ASSERT_EQ(bus_.outs.size(), 1u) << "expected the OUT to port 0x80 on the bus";
  EXPECT_EQ(bus_.outs[0].port, 0x80);
  EXPECT_EQ(bus_.outs[0].value, 0x41u);
}

TEST_F(IoPermissionTest, SetBitRaisesGpAndTouchesNoPort) {
  deny(0xE9);
  bus_.in_value = 0x77;
  reg(kRax) = 0;
  // in al, 0xE9; hlt
  code({0xE4, 0xE9, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kGp, kCode, 0);
  EXPECT_TRUE(bus_.ins.empty()) << "a denied IN reads no port";
  EXPECT_EQ(reg(kRax), 0u);
}

TEST_F(IoPermissionTest, MultiByteAccessStraddlingASetBitFaults) {
  // out dx, eax at 0x3FE covers ports 0x3FE..0x401: bits in two bitmap bytes; only 0x401 is set.
  deny(0x401);
  reg(kRdx) = 0x3FE;
  code({0xEF, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kGp, kCode, 0);
  EXPECT_TRUE(bus_.outs.empty());
}

TEST_F(IoPermissionTest, MultiByteAccessNextToASetBitIsAllowed) {
  // Same port range, but the set bit is 0x402, just past the access.
  deny(0x402);
  deny(0x3FD);
  reg(kRdx) = 0x3FE;
  code({0xEF, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_reached_hlt_at(kCode + 1);
  ASSERT_EQ(bus_.outs.size(), 1u);
  EXPECT_EQ(bus_.outs[0].port, 0x3FE);
  EXPECT_EQ(bus_.outs[0].size, 4);
}

TEST_F(IoPermissionTest, MapBaseBeyondTheLimitDeniesEveryPort) {
  bus_.poke<uint16_t>(kTss + 0x66, 0x2000);
  core_.state().tr.limit = 0x67;
  // out 0x00, al
  code({0xE6, 0x00, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kGp, kCode, 0);
  EXPECT_TRUE(bus_.outs.empty());
}

TEST_F(IoPermissionTest, BitsBeyondTheLimitCountAsSet) {
  // The limit covers bitmap bytes 0..0x10 (ports 0..0x87 and the byte of 0x80..0x87 ends
  // there): port 0x80 is allowed, 0x90 lies in byte 0x12, beyond the limit.
  core_.state().tr.limit = kMapBase + 0x10;
  code({0xE6, 0x80,               // out 0x80, al      (allowed)
        0xE6, 0x90});             // out 0x90, al      (beyond the limit: #GP)
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kGp, kCode + 2, 0);
  ASSERT_EQ(bus_.outs.size(), 1u);
  EXPECT_EQ(bus_.outs[0].port, 0x80);
}

TEST_F(IoPermissionTest, WordAccessReachingBeyondTheLimitFaults) {
  core_.state().tr.limit = kMapBase + 0x10;
  reg(kRdx) = 0x8F;
  code({0x66, 0xEF, 0xF4});  // out dx, ax: ports 0x8F and 0x90
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kGp, kCode, 0);
  EXPECT_TRUE(bus_.outs.empty());
}

TEST_F(IoPermissionTest, TssWithoutRoomForTheMapBaseDeniesEveryPort) {
  core_.state().tr.limit = 0x50;
  code({0xE6, 0x80, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kGp, kCode, 0);
}

TEST_F(IoPermissionTest, CplAtOrBelowIoplIgnoresTheBitmap) {
  deny(0x80);
  core_.state().rflags |= flag::kIopl;  // IOPL 3
  code({0xE6, 0x80, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_reached_hlt_at(kCode + 2);
  EXPECT_EQ(bus_.outs.size(), 1u);
}

TEST_F(IoPermissionTest, StringIoConsultsTheBitmap) {
  deny(0x3F9);
  bus_.poke<uint16_t>(kData, 0x6968);  // "hi"
  // mov esi, 0x6000; mov edx, 0x3F8; mov ecx, 2; rep outsb; mov edx, 0x3F9; outsb; hlt
  code({0xBE, 0, 0x60, 0, 0, 0xBA, 0xF8, 0x03, 0, 0, 0xB9, 2, 0, 0, 0, 0xF3, 0x6E,
        0xBA, 0xF9, 0x03, 0, 0, 0x6E, 0xF4});
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_fault(kGp, kCode + 22, 0);
  ASSERT_EQ(bus_.outs.size(), 2u) << "REP OUTSB to the allowed port 0x3F8 wrote both bytes";
  EXPECT_EQ(bus_.outs[0].value, 0x68u);
  EXPECT_EQ(bus_.outs[1].value, 0x69u);
  EXPECT_EQ(reg(kRsi), kData + 2) << "the denied OUTSB did not advance RSI";
}

TEST_F(IoPermissionTest, InsIntoMemoryWhenAllowed) {
  bus_.in_value = 0xAB;
  reg(kRdi) = kData;
  reg(kRdx) = 0x60;
  code({0x6C, 0xF4});  // insb
  ASSERT_EQ(run(), StopReason::kHalt);
  expect_reached_hlt_at(kCode + 1);
  EXPECT_EQ(bus_.peek<uint8_t>(kData), 0xABu);
}

}  // namespace
}  // namespace snpemu::cpu
