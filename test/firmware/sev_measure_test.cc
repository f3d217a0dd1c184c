// LAUNCH_MEASURE known answers. (1) sev_launch_measurement against a vector computed outside
// this code base (Python's hmac/hashlib over the documented byte string). (2) A launch through
// the mailbox whose blob is recomputed here with OpenSSL directly: LD = SHA-256 over the launched
// plaintext in command order, TIK and MNONCE by the documented HKDF (firmware.h, sev_keys.cc),
// MEASUREMENT = HMAC-SHA-256(TIK, 0x04 || API major || API minor || build || u32le policy || LD
// || MNONCE) (SEV API spec LAUNCH_MEASURE).
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "base/hex.h"
#include "firmware/firmware.h"
#include "test/firmware/mailbox_fixture.h"
#include "test/firmware/sev_fixture.h"

namespace snpemu::fw {
namespace {

std::string hexs(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

TEST(SevMeasure, FixedVector) {
  std::array<uint8_t, 16> tik{}, mnonce{};
  for (int i = 0; i < 16; ++i) {
    tik[i] = static_cast<uint8_t>(i);
    mnonce[i] = static_cast<uint8_t>(0xA0 + i);
  }
  std::array<uint8_t, 32> ld{};
  const char abc[] = "abc";
  unsigned int n = 0;
  ASSERT_EQ(EVP_Digest(abc, 3, ld.data(), &n, EVP_sha256(), nullptr), 1);
  auto m = sev_launch_measurement(tik, 1, 55, 21, 0x5, ld, mnonce);
  ASSERT_TRUE(m.has_value()) << m.error().message;
  // python3: hmac.new(bytes(range(16)), bytes([4,1,55,21]) + (5).to_bytes(4,'little') +
  //          sha256(b'abc').digest() + bytes(range(0xA0,0xB0)), sha256).hexdigest()
  EXPECT_EQ(hexs(*m), "1a818d38e92a1460399fcb927ccbdb77137edd4df5620f02db71a862c3862e25");
}

// HKDF-SHA-384 with OpenSSL's EVP_KDF, independent of the firmware's ossl helpers.
std::array<uint8_t, 64> hkdf_keys(const std::vector<uint8_t>& seed, uint32_t handle) {
  std::string info = "SEV guest keys v1";
  info.append(reinterpret_cast<const char*>(&handle), 4);
  std::string salt = "snpemu legacy SEV";
  char md[] = "SHA384";
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(seed.data()),
                                        seed.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt.data(), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end()};
  std::array<uint8_t, 64> out{};
  EXPECT_EQ(EVP_KDF_derive(ctx, out.data(), out.size(), params), 1);
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  return out;
}

TEST(SevMeasure, MailboxMeasurementMatchesIndependentComputation) {
  test::Host h = test::Host::make_encrypted();
  ASSERT_EQ(test::sev_init(h), Status::kSuccess) << h.fw->last_error();
  std::vector<uint8_t> d1(48), d2(kPageSize), vmsa(kPageSize);
  for (size_t i = 0; i < d1.size(); ++i) d1[i] = static_cast<uint8_t>(i * 3 + 1);
  for (size_t i = 0; i < d2.size(); ++i) d2[i] = static_cast<uint8_t>(i ^ 0x5A);
  for (size_t i = 0; i < vmsa.size(); ++i) vmsa[i] = static_cast<uint8_t>(i * 11);
  const test::SevImage image{{{Hpa{0x100000}, d1}, {Hpa{0x101000}, d2}}, {{Hpa{0x110000}, vmsa}}};
  const test::SevLaunch r = test::launch_sev(h, test::kSevEsPolicy, Asid{1}, image);
  ASSERT_EQ(r.status, Status::kSuccess) << command_name(r.failed) << ": " << h.fw->last_error();
  // LD: one SHA-256 over the plaintext of every update, in command order.
  std::vector<uint8_t> all(d1);
  all.insert(all.end(), d2.begin(), d2.end());
  all.insert(all.end(), vmsa.begin(), vmsa.end());
  std::array<uint8_t, 32> ld{};
  unsigned int n = 0;
  ASSERT_EQ(EVP_Digest(all.data(), all.size(), ld.data(), &n, EVP_sha256(), nullptr), 1);
  EXPECT_EQ(h.fw->sev_guest(r.handle)->launch_digest, ld)
      << "expected LD " << hexs(ld) << ", got " << hexs(h.fw->sev_guest(r.handle)->launch_digest);
  const std::array<uint8_t, 64> okm = hkdf_keys(test::test_seed(), r.handle);
  const std::span<const uint8_t> tik(okm.data() + 32, 16), mnonce(okm.data() + 48, 16);
  EXPECT_TRUE(std::equal(mnonce.begin(), mnonce.end(), r.blob.mnonce.begin()))
      << "expected MNONCE " << hexs(mnonce) << ", got " << hexs(r.blob.mnonce);
  std::array<uint8_t, 56> msg{0x04, 1, 55, 21};  // test_config(): API 1.55, build 21
  const uint32_t policy = test::kSevEsPolicy;
  std::memcpy(msg.data() + 4, &policy, 4);
  std::memcpy(msg.data() + 8, ld.data(), 32);
  std::memcpy(msg.data() + 40, mnonce.data(), 16);
  std::array<uint8_t, 32> want{};
  unsigned int len = 0;
  ASSERT_NE(HMAC(EVP_sha256(), tik.data(), 16, msg.data(), msg.size(), want.data(), &len), nullptr);
  EXPECT_EQ(r.blob.measurement, want)
      << "expected MEASUREMENT " << hexs(want) << ", got " << hexs(r.blob.measurement);
  // And the same launch again on a fresh host gives the same blob (deterministic keys).
  test::Host h2 = test::Host::make_encrypted();
  ASSERT_EQ(test::sev_init(h2), Status::kSuccess);
  const test::SevLaunch r2 = test::launch_sev(h2, test::kSevEsPolicy, Asid{1}, image);
  ASSERT_EQ(r2.status, Status::kSuccess);
  EXPECT_EQ(r2.blob.measurement, r.blob.measurement) << "same seed and sequence, other blob";
  // One changed byte changes the measurement.
  test::Host h3 = test::Host::make_encrypted();
  ASSERT_EQ(test::sev_init(h3), Status::kSuccess);
  test::SevImage changed = image;
  changed.data[1].second[100] ^= 1;
  const test::SevLaunch r3 = test::launch_sev(h3, test::kSevEsPolicy, Asid{1}, changed);
  ASSERT_EQ(r3.status, Status::kSuccess);
  EXPECT_NE(r3.blob.measurement, r.blob.measurement) << "a changed byte left the measurement";
}

TEST(SevKeys, DerivationIsPerHandleAndMatchesTheDocumentedHkdf) {
  const std::vector<uint8_t> seed = test::test_seed();
  auto k1 = derive_sev_guest_keys(seed, 1);
  auto k2 = derive_sev_guest_keys(seed, 2);
  ASSERT_TRUE(k1.has_value() && k2.has_value());
  EXPECT_NE(k1->vek, k2->vek) << "handles 1 and 2 got the same VEK";
  EXPECT_NE(k1->tik, k2->tik) << "handles 1 and 2 got the same TIK";
  const std::array<uint8_t, 64> okm = hkdf_keys(seed, 2);
  uint64_t lo = 0, hi = 0;
  std::memcpy(&lo, okm.data(), 8);
  std::memcpy(&hi, okm.data() + 8, 8);
  EXPECT_EQ(k2->vek, (memcrypt::Key{lo, hi})) << "VEK is not okm[0..15]";
  EXPECT_TRUE(std::equal(k2->tek.begin(), k2->tek.end(), okm.begin() + 16)) << "TEK";
  EXPECT_TRUE(std::equal(k2->tik.begin(), k2->tik.end(), okm.begin() + 32)) << "TIK";
  auto short_seed = derive_sev_guest_keys(std::vector<uint8_t>(15, 1), 1);
  ASSERT_FALSE(short_seed.has_value()) << "a 15-byte seed was accepted";
  EXPECT_EQ(short_seed.error().kind, ErrorKind::kBadLength);
}

}  // namespace
}  // namespace snpemu::fw
