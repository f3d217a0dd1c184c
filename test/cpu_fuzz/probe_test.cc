// The length probe of decoder_fuzz: known encodings (lengths from the APM vol 3 encodings,
// checked by hand) measure their lengths, and the 15-byte limit is #GP(0), not a request for
// more bytes.
#include "test/cpu_fuzz/probe.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace snpemu::cpu_fuzz {
namespace {

struct Known {
  const char* what;
  std::vector<uint8_t> bytes;
  size_t length;
};

std::string hex(const std::vector<uint8_t>& b) {
  std::string s;
  for (uint8_t x : b) {
    static const char kDigits[] = "0123456789abcdef";
    s += kDigits[x >> 4];
    s += kDigits[x & 15];
    s += ' ';
  }
  return s;
}

TEST(Probe, MeasuresKnownLengths) {
  const Known known[] = {
      {"nop", {0x90}, 1},
      {"add %eax,(%rax)", {0x01, 0x00}, 2},
      {"movabs $imm64,%rax", {0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8}, 10},
      {"mov disp32(%rip),%eax", {0x8B, 0x05, 0x10, 0, 0, 0}, 6},
      {"mov disp32(,%rcx,8),%rax (SIB, no base)", {0x48, 0x8B, 0x04, 0xCD, 0, 0x70, 0, 0}, 8},
      {"movq $imm32,disp32(%rax,%rbx,2)",
       {0x48, 0xC7, 0x84, 0x58, 0x00, 0x01, 0, 0, 0x11, 0x22, 0x33, 0x44}, 12},
      {"ud2", {0x0F, 0x0B}, 2},
      {"14 operand-size prefixes + nop (15 bytes)",
       {0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x90},
       15},
  };
  for (const Known& k : known) {
    ProbeResult r;
    EXPECT_EQ(probe_length(k.bytes, &r), k.length) << k.what << ": " << hex(k.bytes);
  }
}

TEST(Probe, UndefinedOpcodeIsUdAtItsLength) {
  ProbeResult r;
  ASSERT_EQ(probe_length(std::vector<uint8_t>{0x0F, 0x0B}, &r), 2u);
  EXPECT_EQ(r.reason, cpu::StopReason::kFault);
  EXPECT_EQ(r.fault.vector, cpu::Vector::kUd) << "ud2 raises #UD";
  EXPECT_EQ(r.state.rip, kFence - 2) << "a fault leaves RIP at the instruction";
}

TEST(Probe, SixteenByteInstructionIsGpZeroNotARequestForBytes) {
  // 15 prefixes then NOP: the instruction would be 16 bytes. APM vol 3, 1.1: #GP(0).
  const std::vector<uint8_t> bytes(15, 0x66);
  ProbeResult r;
  ASSERT_EQ(probe_length(bytes, &r), 15u);
  EXPECT_EQ(r.reason, cpu::StopReason::kFault);
  EXPECT_EQ(r.fault.vector, cpu::Vector::kGp);
  EXPECT_TRUE(r.fault.has_error_code);
  EXPECT_EQ(r.fault.error_code, 0u);
}

TEST(Probe, RetiredInstructionAdvancesRipByItsLength) {
  const std::vector<uint8_t> movabs = {0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8};
  ProbeResult r;
  ASSERT_EQ(probe_length(movabs, &r), 10u);
  EXPECT_EQ(r.reason, cpu::StopReason::kBudget);
  EXPECT_EQ(r.state.rip, kFence) << "movabs ends exactly at the fence";
  EXPECT_EQ(r.state.gpr[cpu::kRax], 0x0807060504030201u);
}

TEST(Probe, RunsAreDeterministic) {
  // loop: add %rcx,%rax; mov %rax,(%rbx); inc %rdx; jmp loop
  const std::vector<uint8_t> program = {0x48, 0x01, 0xC8, 0x48, 0x89, 0x03,
                                        0x48, 0xFF, 0xC2, 0xEB, 0xF5};
  const ProbeResult a = probe_run(program, kCodePage, 20);
  EXPECT_EQ(a, probe_run(program, kCodePage, 20));
  EXPECT_EQ(a.reason, cpu::StopReason::kBudget);
  EXPECT_EQ(a.instructions, 20u);
}

}  // namespace
}  // namespace snpemu::cpu_fuzz
