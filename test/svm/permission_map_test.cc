// test/svm/permission_map_test.cc: MSRPM and IOPM lookups (APM vol 2 15.10.1, 15.11): the
// boundaries of the three MSR ranges, out-of-range MSRs, the 0xFFFF port edge and unaligned
// multi-byte ports.
#include <gtest/gtest.h>

#include <vector>

#include "cpu/svm/svm.h"

namespace snpemu::svm {
namespace {

TEST(Msrpm, SlotsAtRangeBoundaries) {
  struct Row {
    uint32_t msr;
    uint32_t byte;
    uint8_t read_bit;
  };
  const Row rows[] = {
      {0x0000'0000, 0x000, 0},                             // first MSR of range 0
      {0x0000'0003, 0x000, 6},                             // 4 MSRs per byte
      {0x0000'0004, 0x001, 0},  {0x0000'1FFF, 0x7FF, 6},   // last MSR of range 0
      {0xC000'0000, 0x800, 0},                             // range 1 starts at byte 0x800
      {0xC000'0080, 0x820, 0},                             // EFER
      {0xC000'1FFF, 0xFFF, 6},  {0xC001'0000, 0x1000, 0},  // range 2 starts at byte 0x1000
      {0xC001'0130, 0x104C, 0},                            // GHCB MSR
      {0xC001'1FFF, 0x17FF, 6},
  };
  for (const Row& r : rows) {
    const auto rd = msrpm_slot(r.msr, MsrAccess::kRead);
    const auto wr = msrpm_slot(r.msr, MsrAccess::kWrite);
    ASSERT_TRUE(rd && wr) << std::hex << "msr 0x" << r.msr;
    EXPECT_EQ(*rd, (MsrpmSlot{r.byte, r.read_bit})) << std::hex << "read of msr 0x" << r.msr;
    EXPECT_EQ(*wr, (MsrpmSlot{r.byte, static_cast<uint8_t>(r.read_bit + 1)}))
        << std::hex << "write of msr 0x" << r.msr;
  }
}

TEST(Msrpm, OutOfRangeMsrsAlwaysExit) {
  const std::vector<uint8_t> clear(kMsrpmSize, 0);
  for (uint32_t msr : {0x0000'2000u, 0x4000'0000u, 0xBFFF'FFFFu, 0xC000'2000u, 0xC000'FFFFu,
                       0xC001'2000u, 0xC002'0000u, 0xFFFF'FFFFu}) {
    EXPECT_FALSE(msrpm_slot(msr, MsrAccess::kRead).has_value()) << std::hex << msr;
    EXPECT_TRUE(msr_intercepted(clear, msr, MsrAccess::kRead)) << std::hex << msr;
    EXPECT_TRUE(msr_intercepted(clear, msr, MsrAccess::kWrite)) << std::hex << msr;
  }
  // In-range MSRs with a clear map do not exit.
  EXPECT_FALSE(msr_intercepted(clear, 0x1FFF, MsrAccess::kWrite));
  EXPECT_FALSE(msr_intercepted(clear, 0xC001'1FFF, MsrAccess::kRead));
}

TEST(Msrpm, ReadAndWriteBitsAreIndependent) {
  std::vector<uint8_t> map(kMsrpmSize, 0);
  map[0x820] = 0x2;  // EFER (0xC000_0080): write bit only
  EXPECT_FALSE(msr_intercepted(map, 0xC000'0080, MsrAccess::kRead));
  EXPECT_TRUE(msr_intercepted(map, 0xC000'0080, MsrAccess::kWrite));
  EXPECT_FALSE(msr_intercepted(map, 0xC000'0081, MsrAccess::kWrite)) << "neighbour unaffected";
  map[0x17FF] = 0x40;  // read bit of 0xC001_1FFF
  EXPECT_TRUE(msr_intercepted(map, 0xC001'1FFF, MsrAccess::kRead));
  EXPECT_FALSE(msr_intercepted(map, 0xC001'1FFF, MsrAccess::kWrite));
  // A truncated map is treated as "intercept" rather than read out of bounds.
  const std::vector<uint8_t> short_map(0x800, 0);
  EXPECT_TRUE(msr_intercepted(short_map, 0xC000'0080, MsrAccess::kRead));
}

TEST(Iopm, ProbesForAlignedAndUnalignedPorts) {
  EXPECT_EQ(iopm_probe(0x3F8, 1), (IopmProbe{0x7F, 1, 0x01}));
  EXPECT_EQ(iopm_probe(0x3F8, 4), (IopmProbe{0x7F, 1, 0x0F}));
  EXPECT_EQ(iopm_probe(0x3FD, 2), (IopmProbe{0x7F, 1, 0x60}));
  EXPECT_EQ(iopm_probe(0x3FE, 4), (IopmProbe{0x7F, 2, 0x03C0})) << "straddles two bytes";
  EXPECT_EQ(iopm_probe(0x3FF, 2), (IopmProbe{0x7F, 2, 0x0180}));
  EXPECT_EQ(iopm_probe(0xFFFF, 4), (IopmProbe{0x1FFF, 2, 0x0780}))
      << "bits 0xFFFF..0x10002, in the third page";
  EXPECT_FALSE(iopm_probe(0x80, 3).has_value());
  EXPECT_FALSE(iopm_probe(0x80, 8).has_value());
}

TEST(Iopm, EveryCoveredPortCounts) {
  std::vector<uint8_t> map(kIopmSize, 0);
  map[0x3FB / 8] |= 1u << (0x3FB % 8);  // intercept port 0x3FB only
  EXPECT_FALSE(io_intercepted(map, 0x3F8, 2));
  EXPECT_TRUE(io_intercepted(map, 0x3F8, 4)) << "0x3F8..0x3FB covers 0x3FB";
  EXPECT_TRUE(io_intercepted(map, 0x3FA, 2));
  EXPECT_TRUE(io_intercepted(map, 0x3F9, 4)) << "unaligned dword";
  EXPECT_FALSE(io_intercepted(map, 0x3FC, 4));
  map.assign(kIopmSize, 0);
  map[0x100] = 0x01;  // port 0x800
  EXPECT_TRUE(io_intercepted(map, 0x7FF, 2)) << "word straddling a byte boundary";
  EXPECT_TRUE(io_intercepted(map, 0x7FD, 4));
  EXPECT_FALSE(io_intercepted(map, 0x7FC, 4));
}

TEST(Iopm, PortFfffDwordReadsThirdPageNotPortZero) {
  std::vector<uint8_t> map(kIopmSize, 0);
  map[0] = 0x07;  // ports 0..2 intercepted: must NOT matter for an access at 0xFFFF
  EXPECT_FALSE(io_intercepted(map, 0xFFFF, 4)) << "no wrap to port 0";
  map[0x2000] = 0x04;  // bit 0x10002
  EXPECT_TRUE(io_intercepted(map, 0xFFFF, 4));
  EXPECT_FALSE(io_intercepted(map, 0xFFFF, 2)) << "a word covers bits 0xFFFF, 0x10000 only";
  map[0x2000] = 0x01;  // bit 0x10000
  EXPECT_TRUE(io_intercepted(map, 0xFFFF, 2));
  EXPECT_FALSE(io_intercepted(map, 0xFFFF, 1));
  // A two-page (8 KiB) map is too short for this access: intercept.
  const std::vector<uint8_t> two_pages(0x2000, 0);
  EXPECT_TRUE(io_intercepted(two_pages, 0xFFFF, 2));
  EXPECT_FALSE(io_intercepted(two_pages, 0xFFFF, 1));
  EXPECT_TRUE(io_intercepted(map, 0x60, 3)) << "bad size counts as intercept";
}

TEST(PermissionMaps, BasesIgnoreLowBits) {
  VmcbControlArea c;
  c.msrpm_base_pa = 0x12'3FFF;
  c.iopm_base_pa = 0x45'6001;
  EXPECT_EQ(msrpm_base(c).value, 0x12'3000u);
  EXPECT_EQ(iopm_base(c).value, 0x45'6000u);
  EXPECT_EQ(kMsrpmSize, 8192u);
  EXPECT_EQ(kIopmSize, 12288u);
}

}  // namespace
}  // namespace snpemu::svm
