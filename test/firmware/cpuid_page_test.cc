// Tests of the CPUID page layout and the model of the firmware's CPUID page check.
#include <gtest/gtest.h>

#include <cstring>

#include "firmware/firmware.h"

namespace snpemu::fw {
namespace {

CpuidPage sample() {
  CpuidPage p;
  p.count = 2;
  p.entries[0] = CpuidEntry{
      .eax_in = 1, .eax = 0x00A00F11, .ebx = 0x12345678, .ecx = 0xFFFFFFFF, .edx = 0x178BFBFF};
  p.entries[1] = CpuidEntry{.eax_in = 7, .ecx_in = 0, .ebx = 0x219C97A9};
  return p;
}

TEST(CpuidPage, LayoutOffsets) {
  CpuidPage p = sample();
  p.entries[1].xcr0_in = 0xE7;
  auto b = serialize_cpuid_page(p);
  uint32_t u32;
  std::memcpy(&u32, b.data(), 4);
  EXPECT_EQ(u32, 2u) << "count at 0";
  std::memcpy(&u32, b.data() + 16, 4);
  EXPECT_EQ(u32, 1u) << "entry 0 eax_in at 16";
  std::memcpy(&u32, b.data() + 16 + 0x18, 4);
  EXPECT_EQ(u32, 0x00A00F11u) << "entry 0 eax at 16 + 0x18";
  std::memcpy(&u32, b.data() + 16 + 48, 4);
  EXPECT_EQ(u32, 7u) << "entry 1 at 64";
  EXPECT_EQ(b[16 + 48 + 8], 0xE7) << "entry 1 xcr0_in at +8";
  auto back = parse_cpuid_page(b);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->entries[0], p.entries[0]);
  b[0] = 65;
  EXPECT_EQ(parse_cpuid_page(b).error().message, "CPUID page count 65 exceeds 64 entries");
  EXPECT_EQ(parse_cpuid_page(std::span(b).first(100)).error().kind, ErrorKind::kBadLength);
}

TEST(CpuidPage, SanitizeMasksForcesAndZeroesUnknownLeaves) {
  std::vector<CpuidRule> rules = {
      CpuidRule{.eax_in = 1,
                .allowed = {~0u, ~0u, ~(1u << 31), ~0u},  // ECX bit 31 (hypervisor) not allowed
                .required = {0, 0, 0, 1u << 0}},
  };
  bool changed = false;
  auto out = sanitize_cpuid_page(sample(), rules, &changed);
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(changed);
  EXPECT_EQ(out->entries[0].ecx, 0x7FFFFFFFu);
  EXPECT_EQ(out->entries[0].edx, 0x178BFBFFu) << "required bit 0 already set";
  EXPECT_EQ(out->entries[1].ebx, 0u) << "leaf 7 has no rule: zeroed";
  // A page that already obeys the rules comes back unchanged.
  rules.push_back(CpuidRule{.eax_in = 7});
  auto again = sanitize_cpuid_page(*out, rules, &changed);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(changed);
  CpuidPage too_many;
  too_many.count = 100;
  EXPECT_FALSE(sanitize_cpuid_page(too_many, rules, &changed).has_value());
}

}  // namespace
}  // namespace snpemu::fw
