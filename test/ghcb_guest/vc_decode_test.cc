// The #VC handler's instruction decoding (ghcb/guest/vc_decode.c): every IN/OUT/INS/OUTS form
// with its prefixes, and the length the handler advances RIP by. Opcodes: APM vol 3 "IN",
// "OUT", "INS", "OUTS"; prefixes: APM vol 3 1.2.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "ghcb/guest/ghcb_guest.h"

namespace {

std::string bytes_str(const std::vector<uint8_t>& b) {
  std::string s;
  char buf[4];
  for (uint8_t x : b) {
    std::snprintf(buf, sizeof buf, "%02x ", x);
    s += buf;
  }
  return s;
}

struct IoCase {
  std::vector<uint8_t> bytes;
  uint8_t length, size, in, string, rep, port_imm;
  uint16_t port;
};

TEST(VcDecodeIo, EveryFormAndPrefix) {
  const std::vector<IoCase> cases = {
      // bytes                      len size in str rep imm port
      {{0xE6, 0xE9}, 2, 1, 0, 0, 0, 1, 0xE9},              // OUT imm8, AL
      {{0xE7, 0x80}, 2, 4, 0, 0, 0, 1, 0x80},              // OUT imm8, EAX
      {{0x66, 0xE7, 0x80}, 3, 2, 0, 0, 0, 1, 0x80},        // OUT imm8, AX
      {{0xE4, 0x71}, 2, 1, 1, 0, 0, 1, 0x71},              // IN AL, imm8
      {{0xE5, 0x71}, 2, 4, 1, 0, 0, 1, 0x71},              // IN EAX, imm8
      {{0x66, 0xE5, 0x71}, 3, 2, 1, 0, 0, 1, 0x71},        // IN AX, imm8
      {{0xEC}, 1, 1, 1, 0, 0, 0, 0},                       // IN AL, DX
      {{0xED}, 1, 4, 1, 0, 0, 0, 0},                       // IN EAX, DX
      {{0x66, 0xED}, 2, 2, 1, 0, 0, 0, 0},                 // IN AX, DX
      {{0xEE}, 1, 1, 0, 0, 0, 0, 0},                       // OUT DX, AL
      {{0xEF}, 1, 4, 0, 0, 0, 0, 0},                       // OUT DX, EAX
      {{0x66, 0xEF}, 2, 2, 0, 0, 0, 0, 0},                 // OUT DX, AX
      {{0x48, 0xEF}, 2, 4, 0, 0, 0, 0, 0},                 // REX.W ignored: still 32-bit
      {{0x66, 0x48, 0xEF}, 3, 2, 0, 0, 0, 0, 0},           // 66 then REX.W: 16-bit
      {{0x2E, 0xEE}, 2, 1, 0, 0, 0, 0, 0},                 // segment override
      {{0xF3, 0x6E}, 2, 1, 0, 1, 1, 0, 0},                 // REP OUTSB
      {{0x6D}, 1, 4, 1, 1, 0, 0, 0},                       // INSD
      {{0x67, 0xF3, 0x66, 0x6F}, 4, 2, 0, 1, 1, 0, 0},     // REP OUTSW, 32-bit addresses
      {{0xF2, 0x6C}, 2, 1, 1, 1, 1, 0, 0},                 // REPNE INSB (REP for I/O)
  };
  for (const IoCase& c : cases) {
    std::vector<uint8_t> b = c.bytes;
    b.resize(15, 0x90);
    ghcb_io_insn io{};
    ASSERT_EQ(ghcb_decode_io(b.data(), b.size(), &io), 1) << bytes_str(c.bytes);
    EXPECT_EQ(io.length, c.length) << bytes_str(c.bytes);
    EXPECT_EQ(io.size, c.size) << bytes_str(c.bytes);
    EXPECT_EQ(io.in, c.in) << bytes_str(c.bytes);
    EXPECT_EQ(io.string, c.string) << bytes_str(c.bytes);
    EXPECT_EQ(io.rep, c.rep) << bytes_str(c.bytes);
    EXPECT_EQ(io.port_imm, c.port_imm) << bytes_str(c.bytes);
    if (c.port_imm) {
      EXPECT_EQ(io.port, c.port) << bytes_str(c.bytes);
    }
  }
}

TEST(VcDecodeIo, RefusesOtherInstructionsAndTruncation) {
  const std::vector<std::vector<uint8_t>> not_io = {
      {0x0F, 0xA2}, {0x90}, {0x0F, 0x30}, {0xE8, 0, 0, 0, 0}, {0x48, 0x0F, 0x32}};
  for (const auto& b : not_io) {
    ghcb_io_insn io{};
    EXPECT_EQ(ghcb_decode_io(b.data(), b.size(), &io), 0) << bytes_str(b);
  }
  const uint8_t truncated_imm[] = {0xE6};
  ghcb_io_insn io{};
  EXPECT_EQ(ghcb_decode_io(truncated_imm, 1, &io), 0) << "OUT imm8 without its immediate";
  const std::vector<uint8_t> prefixes_only(15, 0x66);
  EXPECT_EQ(ghcb_decode_io(prefixes_only.data(), prefixes_only.size(), &io), 0)
      << "15 prefixes leave no room for an opcode (APM vol 3 1.1: 15-byte limit)";
}

TEST(VcDecodeMatch, LengthsOfTheOtherHandledInstructions) {
  const uint8_t cpuid[] = {0x0F, 0xA2}, rdtscp[] = {0x0F, 0x01, 0xF9},
                vmmcall[] = {0x0F, 0x01, 0xD9};
  const uint8_t plain_cpuid[15] = {0x0F, 0xA2};
  EXPECT_EQ(ghcb_decode_match(plain_cpuid, 15, cpuid, 2), 2u);
  const uint8_t rex_cpuid[15] = {0x48, 0x0F, 0xA2};
  EXPECT_EQ(ghcb_decode_match(rex_cpuid, 15, cpuid, 2), 3u);
  const uint8_t rdtscp_bytes[15] = {0x0F, 0x01, 0xF9};
  EXPECT_EQ(ghcb_decode_match(rdtscp_bytes, 15, rdtscp, 3), 3u);
  EXPECT_EQ(ghcb_decode_match(rdtscp_bytes, 15, vmmcall, 3), 0u) << "RDTSCP is not VMMCALL";
  EXPECT_EQ(ghcb_decode_match(rdtscp_bytes, 2, rdtscp, 3), 0u) << "truncated";
}

}  // namespace
