// test/svm/ioio_test.cc: IOIO exit_info_1 against hand-computed values (APM vol 2 15.10.2,
// PLATFORM-FACTS 5.1: bit 0 IN, 2 STR, 3 REP, 6:4 SZ, 9:7 A, 12:10 SEG, 31:16 port).
#include <gtest/gtest.h>

#include "cpu/svm/svm.h"

namespace snpemu::svm {
namespace {

struct Vector {
  const char* insn;
  IoioInfo info;
  uint64_t exit_info_1;
};

const Vector kVectors[] = {
    // EC in al, dx (dx = 0x3F8), 64-bit mode: IN | SZ8 | A64 | port.
    {"in al, dx", {IoType::kIn, false, false, 1, 8, SegReg::kEs, 0x3F8}, 0x03F8'0211},
    // E6 E9 out 0xE9, al: OUT | SZ8 | A64 | port 0xE9.
    {"out 0xe9, al", {IoType::kOut, false, false, 1, 8, SegReg::kEs, 0xE9}, 0x00E9'0210},
    // F3 6E rep outsb (dx = 0x3F8), 64-bit addressing, DS: STR | REP | SZ8 | A64 | SEG=3.
    {"rep outsb", {IoType::kOut, true, true, 1, 8, SegReg::kDs, 0x3F8}, 0x03F8'0E1C},
    // EF out dx, eax in 32-bit code: SZ32 | A32.
    {"out dx, eax (32-bit)", {IoType::kOut, false, false, 4, 4, SegReg::kEs, 0x3F8}, 0x03F8'0140},
    // 66 6D insw with 16-bit addressing (ES fixed): IN | STR | SZ16 | A16.
    {"insw (16-bit)", {IoType::kIn, true, false, 2, 2, SegReg::kEs, 0x1F0}, 0x01F0'00A5},
    // 64 F3 6F rep outsd with FS override, port 0xFFFF.
    {"rep outsd fs:", {IoType::kOut, true, true, 4, 8, SegReg::kFs, 0xFFFF}, 0xFFFF'124C},
};

TEST(Ioio, EncodesHandComputedValues) {
  for (const Vector& v : kVectors) {
    const auto e = encode_ioio(v.info);
    ASSERT_TRUE(e.has_value()) << v.insn;
    EXPECT_EQ(*e, v.exit_info_1) << v.insn << std::hex << ": expected 0x" << v.exit_info_1
                                 << ", got 0x" << *e;
  }
}

TEST(Ioio, DecodesBackToTheSameFields) {
  for (const Vector& v : kVectors) {
    const auto d = decode_ioio(v.exit_info_1);
    ASSERT_TRUE(d.has_value()) << v.insn;
    EXPECT_EQ(*d, v.info) << v.insn;
  }
}

TEST(Ioio, ExitInfo2IsNextRip) {
  // ec at 0x40_1000 is one byte long: exit_info_2 = 0x40_1001.
  const auto x = make_ioio_exit(kVectors[0].info, 0x40'1001);
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(x->exit_info_1, 0x03F8'0211u);
  EXPECT_EQ(x->exit_info_2, 0x40'1001u);
}

TEST(Ioio, EncodeRejectsBadFields) {
  IoioInfo bad = kVectors[0].info;
  bad.operand_size = 3;
  EXPECT_EQ(encode_ioio(bad).error(), IoioError::kBadOperandSize);
  bad = kVectors[0].info;
  bad.address_size = 1;
  EXPECT_EQ(encode_ioio(bad).error(), IoioError::kBadAddressSize);
  bad = kVectors[0].info;
  bad.segment = static_cast<SegReg>(6);
  EXPECT_EQ(encode_ioio(bad).error(), IoioError::kBadSegment);
  EXPECT_FALSE(make_ioio_exit(bad, 0).has_value());
}

TEST(Ioio, DecodeRejectsMalformedValues) {
  // Values a malicious guest could put in a GHCB's SW_EXITINFO1.
  EXPECT_EQ(decode_ioio(0x03F8'0201).error(), IoioError::kBadOperandSize) << "no SZ bit";
  EXPECT_EQ(decode_ioio(0x03F8'0231).error(), IoioError::kBadOperandSize) << "SZ8 and SZ16";
  EXPECT_EQ(decode_ioio(0x03F8'0011).error(), IoioError::kBadAddressSize) << "no A bit";
  EXPECT_EQ(decode_ioio(0x03F8'0311).error(), IoioError::kBadAddressSize) << "A32 and A64";
  EXPECT_EQ(decode_ioio(0x03F8'1A11).error(), IoioError::kBadSegment) << "SEG 6";
  EXPECT_EQ(decode_ioio(0x03F8'0213).error(), IoioError::kReservedBits) << "bit 1";
  EXPECT_EQ(decode_ioio(0x03F8'2211).error(), IoioError::kReservedBits) << "bit 13";
  EXPECT_EQ(decode_ioio(0x1'03F8'0211ull).error(), IoioError::kReservedBits) << "bit 32";
}

}  // namespace
}  // namespace snpemu::svm
