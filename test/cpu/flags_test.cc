// Exhaustive 8-bit tests of cpu/insn/flags.h against the host processor (an AMD EPYC running
// the same instruction through inline assembly): every operand pair, both carry inputs, two
// RFLAGS images (status flags all clear / all set). Flags the APM leaves undefined are masked.
#include <gtest/gtest.h>

#include <cstdint>

#include "cpu/insn/flags.h"

namespace snpemu::cpu {
namespace {

constexpr uint64_t kBase = flag::kFixed1;
constexpr uint64_t kFlagsIn[] = {kBase, kBase | flag::kStatus, kBase | flag::kCf,
                                 kBase | (flag::kStatus & ~flag::kCf)};

// Runs `insn %b, %a` (AT&T) on the host with RFLAGS = flags_in; returns RFLAGS after.
#define HOST_BINARY(name, insn)                                                          \
  uint64_t name(uint8_t& a, uint8_t b, uint64_t flags_in) {                              \
    uint64_t f = flags_in;                                                               \
    asm volatile("push %[f]\n\tpopfq\n\t" insn " %[b], %[a]\n\tpushfq\n\tpop %[f]"       \
                 : [a] "+q"(a), [f] "+r"(f)                                              \
                 : [b] "q"(b)                                                            \
                 : "cc");                                                                \
    return f;                                                                            \
  }
#define HOST_SHIFT(name, insn)                                                           \
  uint64_t name(uint8_t& a, uint8_t count, uint64_t flags_in) {                          \
    uint64_t f = flags_in;                                                               \
    asm volatile("push %[f]\n\tpopfq\n\t" insn " %%cl, %[a]\n\tpushfq\n\tpop %[f]"       \
                 : [a] "+q"(a), [f] "+r"(f)                                              \
                 : "c"(count)                                                            \
                 : "cc");                                                                \
    return f;                                                                            \
  }
#define HOST_UNARY(name, insn)                                                           \
  uint64_t name(uint8_t& a, uint8_t, uint64_t flags_in) {                                \
    uint64_t f = flags_in;                                                               \
    asm volatile("push %[f]\n\tpopfq\n\t" insn " %[a]\n\tpushfq\n\tpop %[f]"             \
                 : [a] "+q"(a), [f] "+r"(f)                                              \
                 :                                                                       \
                 : "cc");                                                                \
    return f;                                                                            \
  }

HOST_BINARY(host_add, "addb")
HOST_BINARY(host_adc, "adcb")
HOST_BINARY(host_sub, "subb")
HOST_BINARY(host_sbb, "sbbb")
HOST_BINARY(host_and, "andb")
HOST_BINARY(host_or, "orb")
HOST_BINARY(host_xor, "xorb")
HOST_SHIFT(host_shl, "shlb")
HOST_SHIFT(host_shr, "shrb")
HOST_SHIFT(host_sar, "sarb")
HOST_SHIFT(host_rol, "rolb")
HOST_SHIFT(host_ror, "rorb")
HOST_SHIFT(host_rcl, "rclb")
HOST_SHIFT(host_rcr, "rcrb")
HOST_UNARY(host_inc, "incb")
HOST_UNARY(host_dec, "decb")
HOST_UNARY(host_neg, "negb")

using HostFn = uint64_t (*)(uint8_t&, uint8_t, uint64_t);
using ModelFn = FlagOut (*)(uint8_t a, uint8_t b, uint64_t flags_in);

struct Case {
  const char* name;
  HostFn host;
  ModelFn model;
  unsigned b_limit;  // operand b ranges over [0, b_limit)
};

bool cf(uint64_t f) { return f & flag::kCf; }

const Case kCases[] = {
    {"add", host_add, [](uint8_t a, uint8_t b, uint64_t) { return add(a, b, 0, 1); }, 256},
    {"adc", host_adc, [](uint8_t a, uint8_t b, uint64_t f) { return add(a, b, cf(f), 1); }, 256},
    {"sub", host_sub, [](uint8_t a, uint8_t b, uint64_t) { return sub(a, b, 0, 1); }, 256},
    {"sbb", host_sbb, [](uint8_t a, uint8_t b, uint64_t f) { return sub(a, b, cf(f), 1); }, 256},
    {"and", host_and, [](uint8_t a, uint8_t b, uint64_t) { return logic(a & b, 1); }, 256},
    {"or", host_or, [](uint8_t a, uint8_t b, uint64_t) { return logic(a | b, 1); }, 256},
    {"xor", host_xor, [](uint8_t a, uint8_t b, uint64_t) { return logic(a ^ b, 1); }, 256},
    {"shl", host_shl, [](uint8_t a, uint8_t b, uint64_t) { return shl(a, b, 1); }, 256},
    {"shr", host_shr, [](uint8_t a, uint8_t b, uint64_t) { return shr(a, b, 1); }, 256},
    {"sar", host_sar, [](uint8_t a, uint8_t b, uint64_t) { return sar(a, b, 1); }, 256},
    {"rol", host_rol, [](uint8_t a, uint8_t b, uint64_t) { return rol(a, b, 1); }, 256},
    {"ror", host_ror, [](uint8_t a, uint8_t b, uint64_t) { return ror(a, b, 1); }, 256},
    {"rcl", host_rcl, [](uint8_t a, uint8_t b, uint64_t f) { return rcl(a, b, cf(f), 1); }, 256},
    {"rcr", host_rcr, [](uint8_t a, uint8_t b, uint64_t f) { return rcr(a, b, cf(f), 1); }, 256},
    {"inc", host_inc, [](uint8_t a, uint8_t, uint64_t) { return inc(a, 1); }, 1},
    {"dec", host_dec, [](uint8_t a, uint8_t, uint64_t) { return dec(a, 1); }, 1},
    {"neg", host_neg, [](uint8_t a, uint8_t, uint64_t) { return neg(a, 1); }, 1},
};

TEST(Flags, Exhaustive8BitAgainstHost) {
  for (const Case& c : kCases) {
    int failures = 0;
    for (uint64_t fin : kFlagsIn) {
      for (unsigned a = 0; a < 256; ++a) {
        for (unsigned b = 0; b < c.b_limit; ++b) {
          uint8_t host_a = static_cast<uint8_t>(a);
          const uint64_t host_f = c.host(host_a, static_cast<uint8_t>(b), fin);
          const FlagOut m = c.model(static_cast<uint8_t>(a), static_cast<uint8_t>(b), fin);
          const uint64_t model_f = (fin & ~m.written) | (m.flags & m.written);
          const uint64_t mask = flag::kStatus & ~m.undefined;
          if (m.value != host_a || ((model_f ^ host_f) & mask) != 0) {
            if (++failures <= 5) {
              ADD_FAILURE() << c.name << " a=" << a << " b=" << b << " flags_in=0x" << std::hex << fin
                            << ": expected result 0x" << unsigned{host_a} << " flags 0x"
                            << (host_f & mask) << ", model gave 0x" << m.value << " flags 0x"
                            << (model_f & mask);
            }
          }
        }
      }
    }
    EXPECT_EQ(failures, 0) << c.name;
  }
}

// Wider operands: spot checks of carries and overflow at the sign boundary.
TEST(Flags, WideBoundaries) {
  EXPECT_EQ(add(0xFFFFFFFFFFFFFFFF, 1, 0, 8).flags & (flag::kCf | flag::kZf), flag::kCf | flag::kZf);
  EXPECT_EQ(add(0x7FFFFFFF, 1, 0, 4).flags & (flag::kOf | flag::kSf), flag::kOf | flag::kSf);
  EXPECT_EQ(sub(0, 1, 0, 2).value, 0xFFFFu);
  EXPECT_TRUE(sub(0, 1, 0, 2).flags & flag::kCf);
  EXPECT_EQ(sub(5, 4, 1, 8).flags & flag::kZf, flag::kZf);
  EXPECT_EQ(shl(1, 63, 8).value, uint64_t{1} << 63);
  EXPECT_EQ(sar(0x8000000000000000, 63, 8).value, ~uint64_t{0});
  EXPECT_EQ(shld(0x1234, 0xABCD, 4, 2).value, 0x234Au);
  EXPECT_EQ(shrd(0x1234, 0xABCD, 4, 2).value, 0xD123u);
  EXPECT_EQ(rcl(0x8000000000000000, 1, false, 8).value, 0u);
  EXPECT_TRUE(rcl(0x8000000000000000, 1, false, 8).flags & flag::kCf);
}

}  // namespace
}  // namespace snpemu::cpu
