// IDIV / DIV edge cases: quotient overflow raises #DE (APM vol 3, DIV and IDIV), including the
// most negative 128-bit dividend divided by -1, which must be no host undefined behaviour.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cpu/cpu.h"
#include "test/cpu/flat_bus.h"

namespace snpemu::cpu {
namespace {

constexpr uint64_t kCode = 0x1000;

struct DivCase {
  const char* what;
  std::vector<uint8_t> insn;  // followed by HLT
  uint64_t rax, rdx, rcx;
  bool faults;
  uint64_t want_rax, want_rdx;
};

class Divide : public ::testing::TestWithParam<DivCase> {};

TEST_P(Divide, QuotientOrDivideError) {
  const DivCase& c = GetParam();
  testing::FlatBus bus(1 << 16);
  Core core(bus, CoreConfig{.stop_on_fault = true});
  core.state() = long_mode_state(kCode, 0x8000);
  std::vector<uint8_t> code = c.insn;
  code.push_back(0xF4);
  bus.load(kCode, code);
  core.state().gpr[kRax] = c.rax;
  core.state().gpr[kRdx] = c.rdx;
  core.state().gpr[kRcx] = c.rcx;
  const StopReason r = core.run(1000);
  if (c.faults) {
    ASSERT_EQ(r, StopReason::kFault) << c.what;
    EXPECT_EQ(core.stop_info().fault.vector, Vector::kDe) << c.what;
    EXPECT_EQ(core.state().rip, kCode) << c.what << ": #DE is a fault, RIP stays on the DIV";
    EXPECT_EQ(core.state().gpr[kRax], c.rax) << c.what << ": no partial result";
  } else {
    ASSERT_EQ(r, StopReason::kHalt) << c.what;
    EXPECT_EQ(core.state().gpr[kRax], c.want_rax) << c.what;
    EXPECT_EQ(core.state().gpr[kRdx], c.want_rdx) << c.what;
  }
}

constexpr uint64_t kMin64 = 0x8000'0000'0000'0000;

INSTANTIATE_TEST_SUITE_P(
    Cases, Divide,
    ::testing::Values(
        // idiv rcx (48 F7 F9): RDX:RAX = -2^127, divisor -1: quotient 2^127 does not fit.
        DivCase{"idiv r64 min128/-1", {0x48, 0xF7, 0xF9}, 0, kMin64, ~0ull, true, 0, 0},
        // RDX:RAX = sign-extended INT64_MIN, divisor -1: quotient 2^63 does not fit.
        DivCase{"idiv r64 min64/-1", {0x48, 0xF7, 0xF9}, kMin64, ~0ull, ~0ull, true, 0, 0},
        // idiv cl (F6 F9): AX = -32768, CL = -1.
        DivCase{"idiv r8 min16/-1", {0xF6, 0xF9}, 0x8000, 0, 0xFF, true, 0, 0},
        // idiv ecx: EDX:EAX = -7, ECX = 2: quotient -3, remainder -1 (truncation toward zero).
        DivCase{"idiv r32 -7/2",
                {0xF7, 0xF9},
                0xFFFFFFF9,
                0xFFFFFFFF,
                2,
                false,
                0xFFFFFFFD,
                0xFFFFFFFF},
        // div rcx by zero.
        DivCase{"div r64 by 0", {0x48, 0xF7, 0xF1}, 5, 0, 0, true, 0, 0},
        // div rcx: RDX >= RCX overflows.
        DivCase{"div r64 overflow", {0x48, 0xF7, 0xF1}, 0, 7, 7, true, 0, 0}));

}  // namespace
}  // namespace snpemu::cpu
