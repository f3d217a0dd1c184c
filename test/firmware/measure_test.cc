// Tests of the launch digest: known answers from an independent computation (a hand-built
// 112-byte PAGE_INFO hashed with OpenSSL here, and digests computed with Python hashlib following
// virtee/sev-snp-measure gctx.py), field order, and errors.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>

#include "firmware/firmware.h"
#include "test/firmware/test_util.h"

namespace snpemu::fw {
namespace {

// SHA-384 with OpenSSL directly (not through the firmware library).
Digest384 direct_sha384(const uint8_t* data, size_t size) {
  Digest384 out{};
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(data, size, out.data(), &len, EVP_sha384(), nullptr), 1);
  return out;
}

// PAGE_INFO built byte by byte from PLATFORM-FACTS 8.4's table.
Digest384 hand_step(const Digest384& cur, const Digest384& contents, uint8_t type, uint64_t gpa,
                    uint8_t imi = 0, uint8_t v3 = 0, uint8_t v2 = 0, uint8_t v1 = 0) {
  uint8_t pi[112] = {};
  std::memcpy(pi + 0x00, cur.data(), 48);
  std::memcpy(pi + 0x30, contents.data(), 48);
  pi[0x60] = 0x70;  // LENGTH, little endian
  pi[0x61] = 0x00;
  pi[0x62] = type;
  pi[0x63] = imi;
  pi[0x64] = v3;
  pi[0x65] = v2;
  pi[0x66] = v1;
  for (int i = 0; i < 8; ++i) pi[0x68 + i] = static_cast<uint8_t>(gpa >> (8 * i));
  return direct_sha384(pi, sizeof(pi));
}

std::vector<uint8_t> filled(uint8_t v) { return std::vector<uint8_t>(4096, v); }
std::vector<uint8_t> ramp() {
  std::vector<uint8_t> p(4096);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i);
  return p;
}

// Digests below were computed with Python hashlib, PAGE_INFO packed as struct '<48s48sHBBBBBBQ'
// (the field order of sev-snp-measure's GCTX._update).
constexpr std::string_view kZeroAt0 =
    "70c0ecaab9608f14ebf8ac6f0f07bcd8728f4e2ab30382b539b4de4de904ca9f"
    "8ebdf4b2cd3cd84dd996bd55dd794676";
constexpr std::string_view kNormalAAAt1M =
    "9f5a6a1be0c0121418a59fa281db68d19ec0686c58cda3d3fbedd59fe360235f"
    "a5d7df55ea4b705efad169610fea0f99";
constexpr std::string_view kVmsaRamp =
    "6b06359b6dabc4d2cfceafaae61da56d98524d57bcba4c6a3efe4e32d896f11d"
    "80f7e572b03ae66b0eee13c90f366932";
constexpr std::string_view kChain =
    "86db7a60a0c293a7d77f05b3aa32c4d30f25c47c8870cf462754d350cb014fe7"
    "2ff32fe395f6f4770b89483c957025be";
constexpr std::string_view kOptions =
    "406f6fa7091245193a6059de1e338a7d790d78f9c6d6e65f291b5606fc8bbe01"
    "c4b35d3a161df161daa507232818ba20";

TEST(LaunchDigest, StartsAtZero) {
  LaunchDigest ld;
  EXPECT_EQ(ld.digest(), Digest384{});
}

TEST(LaunchDigest, ZeroPageKnownAnswer) {
  LaunchDigest ld;
  ASSERT_TRUE(ld.update_zero(Gpa{0}).has_value());
  EXPECT_EQ(test::to_hex(ld.digest()), kZeroAt0);
  EXPECT_EQ(ld.digest(), hand_step(Digest384{}, Digest384{}, 3, 0));
}

TEST(LaunchDigest, NormalPageKnownAnswer) {
  auto page = filled(0xAA);
  LaunchDigest ld;
  ASSERT_TRUE(ld.update(PageType::kNormal, Gpa{0x100000}, page).has_value());
  EXPECT_EQ(test::to_hex(ld.digest()), kNormalAAAt1M);
  EXPECT_EQ(ld.digest(),
            hand_step(Digest384{}, direct_sha384(page.data(), page.size()), 1, 0x100000));
}

TEST(LaunchDigest, VmsaPageUsesFixedGpa) {
  auto page = ramp();
  LaunchDigest ld;
  ASSERT_TRUE(ld.update_vmsa(page).has_value());
  EXPECT_EQ(test::to_hex(ld.digest()), kVmsaRamp);
  EXPECT_EQ(kVmsaGpa.value, 0xFFFFFFFFF000u);
  EXPECT_EQ(ld.digest(),
            hand_step(Digest384{}, direct_sha384(page.data(), page.size()), 2, 0xFFFFFFFFF000));
}

TEST(LaunchDigest, ChainOverAllPageTypes) {
  auto normal = filled(0xAA);
  auto vmsa = ramp();
  LaunchDigest ld;
  ASSERT_TRUE(ld.update(PageType::kNormal, Gpa{0x100000}, normal).has_value());
  ASSERT_TRUE(ld.update(PageType::kZero, Gpa{0x800000}, {}).has_value());
  ASSERT_TRUE(ld.update(PageType::kUnmeasured, Gpa{0x4000}, {}).has_value());
  ASSERT_TRUE(ld.update(PageType::kSecrets, Gpa{0x80d000}, {}).has_value());
  ASSERT_TRUE(ld.update(PageType::kCpuid, Gpa{0x80e000}, {}).has_value());
  ASSERT_TRUE(ld.update(PageType::kVmsa, kVmsaGpa, vmsa).has_value());
  EXPECT_EQ(test::to_hex(ld.digest()), kChain);
}

TEST(LaunchDigest, PageOptionsEnterPageInfo) {
  auto page = filled(0xAA);
  LaunchDigest ld;
  PageOptions opt{.imi_page = true, .vmpl1_perms = 0xF, .vmpl2_perms = 3, .vmpl3_perms = 1};
  auto info = ld.next_page_info(PageType::kNormal, Gpa{0x2000}, page, opt);
  ASSERT_TRUE(info.has_value());
  auto bytes = serialize_page_info(*info);
  EXPECT_EQ(bytes[0x63], 1);
  EXPECT_EQ(bytes[0x64], 1) << "VMPL3_PERMS at 0x64";
  EXPECT_EQ(bytes[0x65], 3) << "VMPL2_PERMS at 0x65";
  EXPECT_EQ(bytes[0x66], 0xF) << "VMPL1_PERMS at 0x66";
  EXPECT_EQ(bytes[0x69], 0x20) << "GPA 0x2000 little endian at 0x68";
  ASSERT_TRUE(ld.update(PageType::kNormal, Gpa{0x2000}, page, opt).has_value());
  EXPECT_EQ(test::to_hex(ld.digest()), kOptions);
}

TEST(LaunchDigest, UpdateNormalSplitsAndPadsPages) {
  std::vector<uint8_t> data(4096 + 10, 0xAA);
  LaunchDigest a, b;
  ASSERT_TRUE(a.update_normal(Gpa{0x100000}, data).has_value());
  auto second = filled(0);
  std::fill_n(second.begin(), 10, 0xAA);
  ASSERT_TRUE(b.update(PageType::kNormal, Gpa{0x100000}, filled(0xAA)).has_value());
  ASSERT_TRUE(b.update(PageType::kNormal, Gpa{0x101000}, second).has_value());
  EXPECT_EQ(a.digest(), b.digest());
  LaunchDigest z1, z2;
  ASSERT_TRUE(z1.update_zero(Gpa{0x800000}, 3).has_value());
  for (uint64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(z2.update(PageType::kZero, Gpa{0x800000 + i * 4096}, {}).has_value());
  }
  EXPECT_EQ(z1.digest(), z2.digest());
}

TEST(LaunchDigest, ErrorsLeaveDigestUnchanged) {
  LaunchDigest ld;
  ASSERT_TRUE(ld.update_zero(Gpa{0}).has_value());
  const Digest384 before = ld.digest();
  auto misaligned = ld.update(PageType::kZero, Gpa{0x1001}, {});
  ASSERT_FALSE(misaligned.has_value());
  EXPECT_EQ(misaligned.error().status, Status::kInvalidAddress);
  EXPECT_EQ(misaligned.error().message, "launch GPA 0x1001 is not a page-aligned 52-bit address");
  EXPECT_FALSE(ld.update(PageType::kZero, Gpa{uint64_t{1} << 52}, {}).has_value());
  auto short_page = ld.update(PageType::kNormal, Gpa{0}, std::vector<uint8_t>(4095));
  ASSERT_FALSE(short_page.has_value());
  EXPECT_EQ(short_page.error().kind, ErrorKind::kBadLength);
  EXPECT_EQ(short_page.error().message, "normal page is 4095 bytes, expected 4096");
  auto bad_type = ld.update(static_cast<PageType>(7), Gpa{0}, {});
  ASSERT_FALSE(bad_type.has_value());
  EXPECT_EQ(bad_type.error().status, Status::kInvalidParam);
  EXPECT_FALSE(ld.update(static_cast<PageType>(0), Gpa{0}, {}).has_value());
  EXPECT_FALSE(ld.update_vmsa({}).has_value());
  EXPECT_EQ(ld.digest(), before);
}

}  // namespace
}  // namespace snpemu::fw
