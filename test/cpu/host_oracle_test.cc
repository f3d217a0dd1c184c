// Instructions the Unicorn 2.0.1 oracle cannot run (its CPUID features are masked, unicorn#1787)
// checked against the host processor instead: POPCNT, TZCNT and MOVBE run on snpemu and natively
// (inline assembly) on seeded random operands; LZCNT (absent on this host) by state vectors.
#include <gtest/gtest.h>

#include <vector>

#include "cpu/cpu.h"
#include "test/cpu/flat_bus.h"
#include "test/cpu/insn_gen.h"

namespace snpemu::cpu {
namespace {

using testing::FlatBus;
using testing::SplitMix64;

constexpr uint64_t kSeed = 0x0AC1E0003;

struct Result {
  uint64_t rcx;
  uint64_t flags;
};

// Runs `code` (then HLT) at 0x1000 with RAX = a, RCX = c and the status flags in `flags_in`.
Result emulate(const std::vector<uint8_t>& code, uint64_t a, uint64_t c, uint64_t flags_in) {
  FlatBus bus(0x10000);
  Core core(bus, CoreConfig{});
  core.state() = long_mode_state(0x1000, 0x8000);
  core.state().gpr[kRax] = a;
  core.state().gpr[kRcx] = c;
  core.state().rflags = flags_in;
  std::vector<uint8_t> prog = code;
  prog.push_back(0xF4);
  bus.load(0x1000, prog);
  EXPECT_EQ(core.run(10000), StopReason::kHalt);
  return {core.state().gpr[kRcx], core.state().rflags};
}

constexpr uint64_t kFlagsIn = flag::kFixed1 | flag::kStatus;

TEST(HostOracle, PopcntTzcnt64And16) {
  SplitMix64 rng(kSeed);
  for (int i = 0; i < 3000; ++i) {
    uint64_t a = rng.next() >> rng.below(64);
    if (i % 17 == 0) a = 0;
    // popcnt rcx, rax
    uint64_t c = 0, f = kFlagsIn;
    asm volatile("push %[f]\n\tpopfq\n\tpopcnt %[a], %[c]\n\tpushfq\n\tpop %[f]"
                 : [c] "+r"(c), [f] "+r"(f) : [a] "r"(a) : "cc");
    Result r = emulate({0xF3, 0x48, 0x0F, 0xB8, 0xC8}, a, 0, kFlagsIn);
    EXPECT_EQ(r.rcx, c) << "popcnt of 0x" << std::hex << a << " seed " << kSeed;
    EXPECT_EQ(r.flags & flag::kStatus, f & flag::kStatus) << "popcnt flags, a=0x" << std::hex << a;
    // tzcnt rcx, rax
    c = 0;
    f = kFlagsIn;
    asm volatile("push %[f]\n\tpopfq\n\ttzcnt %[a], %[c]\n\tpushfq\n\tpop %[f]"
                 : [c] "+r"(c), [f] "+r"(f) : [a] "r"(a) : "cc");
    r = emulate({0xF3, 0x48, 0x0F, 0xBC, 0xC8}, a, 0, kFlagsIn);
    EXPECT_EQ(r.rcx, c) << "tzcnt of 0x" << std::hex << a;
    const uint64_t defined = flag::kCf | flag::kZf;  // OF SF AF PF undefined (APM vol 3, TZCNT)
    EXPECT_EQ(r.flags & defined, f & defined) << "tzcnt flags, a=0x" << std::hex << a;
    // tzcnt cx, ax (16-bit: upper RCX bits kept)
    c = 0xFFFF0000FFFF0000;
    f = kFlagsIn;
    asm volatile("push %[f]\n\tpopfq\n\ttzcnt %w[a], %w[c]\n\tpushfq\n\tpop %[f]"
                 : [c] "+r"(c), [f] "+r"(f) : [a] "r"(a) : "cc");
    r = emulate({0x66, 0xF3, 0x0F, 0xBC, 0xC8}, a, 0xFFFF0000FFFF0000, kFlagsIn);
    EXPECT_EQ(r.rcx, c) << "tzcnt16 of 0x" << std::hex << a;
    EXPECT_EQ(r.flags & defined, f & defined) << "tzcnt16 flags, a=0x" << std::hex << a;
  }
}

TEST(HostOracle, LzcntStateVectors) {
  // lzcnt rcx, rax. APM vol 3, LZCNT: count of leading zeros; CF = (source == 0), ZF = (result == 0).
  struct V {
    uint64_t a, count;
    bool cf, zf;
  };
  const V cases[] = {{0, 64, true, false}, {1, 63, false, false}, {uint64_t{1} << 63, 0, false, true},
                     {0x00F0000000000000, 8, false, false}};
  for (const V& v : cases) {
    const Result r = emulate({0xF3, 0x48, 0x0F, 0xBD, 0xC8}, v.a, 0, flag::kFixed1);
    EXPECT_EQ(r.rcx, v.count) << "lzcnt of 0x" << std::hex << v.a;
    EXPECT_EQ((r.flags & flag::kCf) != 0, v.cf) << "CF of lzcnt 0x" << std::hex << v.a;
    EXPECT_EQ((r.flags & flag::kZf) != 0, v.zf) << "ZF of lzcnt 0x" << std::hex << v.a;
  }
  // 32-bit form zero-extends: lzcnt ecx, eax of 1 = 31.
  EXPECT_EQ(emulate({0xF3, 0x0F, 0xBD, 0xC8}, 1, ~uint64_t{0}, flag::kFixed1).rcx, 31u);
}

TEST(HostOracle, MovbeRoundTrip) {
  // movbe [0x2000], rax; movbe rcx, [0x2000] (32-bit absolute addressing through SIB).
  const std::vector<uint8_t> code = {0x48, 0x0F, 0x38, 0xF1, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00,
                                     0x48, 0x0F, 0x38, 0xF0, 0x0C, 0x25, 0x00, 0x20, 0x00, 0x00};
  SplitMix64 rng(kSeed + 1);
  for (int i = 0; i < 200; ++i) {
    const uint64_t a = rng.next();
    const Result r = emulate(code, a, 0, flag::kFixed1);
    EXPECT_EQ(r.rcx, a) << "movbe store then load returns the value, a=0x" << std::hex << a;
  }
  FlatBus bus(0x10000);
  Core core(bus, CoreConfig{});
  core.state() = long_mode_state(0x1000, 0x8000);
  core.state().gpr[kRax] = 0x0102030405060708;
  std::vector<uint8_t> prog(code.begin(), code.begin() + 10);
  prog.push_back(0xF4);
  bus.load(0x1000, prog);
  ASSERT_EQ(core.run(1000), StopReason::kHalt);
  EXPECT_EQ(bus.peek<uint64_t>(0x2000), 0x0807060504030201u) << "stored big-endian";
}

}  // namespace
}  // namespace snpemu::cpu
