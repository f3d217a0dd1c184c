// Tests of guest policy decoding and the SNP_LAUNCH_START policy checks.
#include <gtest/gtest.h>

#include "firmware/firmware.h"

namespace snpemu::fw {
namespace {

constexpr uint64_t kMbo = uint64_t{1} << 17;
constexpr uint64_t kSmt = uint64_t{1} << 16;

TEST(Policy, DecodesEveryBit) {
  GuestPolicy p = decode_policy(0x30000);  // the real Milan report's policy
  EXPECT_TRUE(p.smt);
  EXPECT_TRUE(p.rsvd_mbo);
  EXPECT_FALSE(p.debug);
  EXPECT_EQ(p.abi_major, 0);
  for (int bit = 16; bit <= 25; ++bit) {
    GuestPolicy one = decode_policy(uint64_t{1} << bit);
    int set = one.smt + one.rsvd_mbo + one.migrate_ma + one.debug + one.single_socket +
              one.cxl_allow + one.mem_aes_256_xts + one.rapl_dis + one.ciphertext_hiding_dram +
              one.page_swap_disable;
    EXPECT_EQ(set, 1) << "bit " << bit << " must map to exactly one field";
    EXPECT_EQ(encode_policy(one), uint64_t{1} << bit) << "bit " << bit;
  }
  GuestPolicy v = decode_policy(0x0000'0004'0008'3721);
  EXPECT_EQ(v.abi_minor, 0x21);
  EXPECT_EQ(v.abi_major, 0x37);
  EXPECT_TRUE(v.debug);
  EXPECT_EQ(v.reserved_bits, uint64_t{4} << 32);
  EXPECT_EQ(encode_policy(v), 0x0000'0004'0008'3721u);
}

TEST(Policy, GoodPolicyPasses) {
  PlatformPolicyConfig fw;  // ABI 1.55, SMT on, one socket
  EXPECT_TRUE(check_launch_start_policy(kMbo | kSmt, fw, false).has_value());
  EXPECT_TRUE(check_launch_start_policy(kMbo | kSmt | 0x0133, fw, false).has_value())
      << "ABI 1.51 <= 1.55";
  EXPECT_TRUE(check_launch_start_policy(kMbo | kSmt | 0x0137, fw, false).has_value());
  fw.smt_enabled = false;
  EXPECT_TRUE(check_launch_start_policy(kMbo, fw, false).has_value());
}

struct Case {
  const char* name;
  uint64_t policy;
  PlatformPolicyConfig platform;
  bool ma_en;
  const char* message_part;
};

class PolicyFailure : public ::testing::TestWithParam<Case> {};

TEST_P(PolicyFailure, RejectedWithPolicyFailure) {
  const Case& c = GetParam();
  auto r = check_launch_start_policy(c.policy, c.platform, c.ma_en);
  ASSERT_FALSE(r.has_value()) << c.name;
  EXPECT_EQ(r.error().status, Status::kPolicyFailure) << c.name;
  EXPECT_EQ(r.error().kind, ErrorKind::kPolicyFailure) << c.name;
  EXPECT_NE(r.error().message.find(c.message_part), std::string::npos)
      << c.name << ": expected '" << c.message_part << "' in '" << r.error().message << "'";
}

PlatformPolicyConfig with(void (*f)(PlatformPolicyConfig&)) {
  PlatformPolicyConfig p;
  f(p);
  return p;
}

INSTANTIATE_TEST_SUITE_P(
    LaunchStart, PolicyFailure,
    ::testing::Values(
        Case{"mbo_clear", kSmt, {}, false, "reserved bit 17 must be 1"},
        Case{"reserved_63", kMbo | kSmt | (uint64_t{1} << 63), {}, false, "unsupported bits"},
        Case{"unknown_26",
             kMbo | kSmt | (uint64_t{1} << 26),
             {},
             false,
             "unsupported bits 0x4000000"},
        Case{"abi_major", kMbo | kSmt | 0x0200, {}, false, "requires ABI 2.0, firmware is 1.55"},
        Case{"abi_minor", kMbo | kSmt | 0x0138, {}, false, "requires ABI 1.56"},
        Case{"smt", kMbo, {}, false, "SMT disallowed"},
        Case{"single_socket", kMbo | kSmt | (uint64_t{1} << 20),
             with([](PlatformPolicyConfig& p) { p.sockets = 2; }), false, "single socket"},
        Case{"ma", kMbo | kSmt, {}, true, "migration agent"},
        Case{"cxl", kMbo | kSmt, with([](PlatformPolicyConfig& p) { p.cxl_present = true; }), false,
             "CXL"},
        Case{"xts", kMbo | kSmt | (uint64_t{1} << 22), {}, false, "AES-256-XTS"},
        Case{"rapl", kMbo | kSmt | (uint64_t{1} << 23), {}, false, "RAPL"},
        Case{"cth", kMbo | kSmt | (uint64_t{1} << 24), {}, false, "ciphertext hiding"},
        Case{"not_supported_by_fw", kMbo | kSmt | (uint64_t{1} << 25),
             with([](PlatformPolicyConfig& p) { p.supported_policy_bits = 0x1FFFFFF; }), false,
             "unsupported bits 0x2000000"}),
    [](const ::testing::TestParamInfo<Case>& param_info) {
      return std::string(param_info.param.name);
    });

TEST(Policy, PlatformFeaturesSatisfyTheirBits) {
  PlatformPolicyConfig fw;
  fw.aes_256_xts_active = fw.rapl_disabled = fw.ciphertext_hiding_enabled = true;
  fw.cxl_present = true;
  uint64_t p = kMbo | kSmt | (uint64_t{0x1F} << 21) | (uint64_t{1} << 18);
  auto r = check_launch_start_policy(p, fw, true);
  EXPECT_TRUE(r.has_value()) << r.error().message;
}

}  // namespace
}  // namespace snpemu::fw
