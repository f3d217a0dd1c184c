// Tests of the model VCEK: RFC 6979 known answers, the documented seed derivation (recomputed
// here with an independent libcrypto API), determinism, PEM export, and report round trips
// verified with plain OpenSSL calls.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>

#include <algorithm>
#include <cstring>

#include "firmware/firmware.h"
#include "test/firmware/test_util.h"

namespace snpemu::fw {
namespace {

template <size_t N>
std::array<uint8_t, N> arr(std::string_view hex) {
  auto v = test::from_hex(hex);
  std::array<uint8_t, N> a{};
  EXPECT_EQ(v.size(), N) << hex;
  std::copy_n(v.begin(), std::min(N, v.size()), a.begin());
  return a;
}

std::string le_to_be_hex(const std::array<uint8_t, 72>& le) {
  std::array<uint8_t, 48> be{};
  for (size_t i = 0; i < 48; ++i) be[i] = le[47 - i];
  return test::to_hex(be);
}

std::vector<uint8_t> seed(uint8_t base) {
  std::vector<uint8_t> s(32);
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(base + i);
  return s;
}

// RFC 6979 A.2.6, P-384 with SHA-384, message "sample".
TEST(Rfc6979, P384Sha384SampleKnownAnswer) {
  auto d = arr<48>(
      "6B9D3DAD2E1B8C1C05B19875B6659F4DE23C3B667BF297BA9AA47740787137D8"
      "96D5724E4C70A825F872C9EA60D2EDF5");
  std::string_view msg = "sample";
  Digest384 h = sha384(std::span(reinterpret_cast<const uint8_t*>(msg.data()), msg.size()));
  EXPECT_EQ(test::to_hex(h),
            "9a9083505bc92276aec4be312696ef7bf3bf603f4bbd381196a029f340585312"
            "313bca4a9b5b890efee42c77b1ee25fe");
  std::array<uint8_t, 48> k{};
  auto sig = ecdsa_p384_sign_rfc6979(d, h, &k);
  ASSERT_TRUE(sig.has_value()) << sig.error().message;
  EXPECT_EQ(test::to_hex(k),
            "94ed910d1a099dad3254e9242ae85abde4ba15168eaf0ca87a555fd56d10fbca"
            "2907e3e83ba95368623b8c4686915cf9");
  EXPECT_EQ(le_to_be_hex(sig->r),
            "94edbb92a5ecb8aad4736e56c691916b3f88140666ce9fa73d64c4ea95ad133c"
            "81a648152e44acf96e36dd1e80fabe46");
  EXPECT_EQ(le_to_be_hex(sig->s),
            "99ef4aeb15f178cea1fe40db2603138f130e740a19624526203b6351d0a3a94f"
            "a329c145786e679e7b82c71a38628ac8");
  EXPECT_TRUE(std::all_of(sig->r.begin() + 48, sig->r.end(), [](uint8_t b) { return b == 0; }));
  // The RFC's public key for d.
  auto key = ModelVcek::from_private_scalar(d);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  auto pem = key->public_key_pem();
  ASSERT_TRUE(pem.has_value());
  EXPECT_TRUE(ecdsa_p384_verify(std::span(reinterpret_cast<const uint8_t*>(msg.data()), msg.size()),
                                *sig, key->public_key())
                  .has_value());
}

TEST(Rfc6979, RejectsOutOfRangeScalar) {
  std::array<uint8_t, 48> zero{};
  auto r = ecdsa_p384_sign_rfc6979(zero, Digest384{});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kBadField);
  std::array<uint8_t, 48> ones;
  ones.fill(0xFF);  // > n
  EXPECT_FALSE(ecdsa_p384_sign_rfc6979(ones, Digest384{}).has_value());
  EXPECT_FALSE(ModelVcek::from_private_scalar(ones).has_value());
}

// Recomputes the documented derivation with the EVP_PKEY HKDF interface (not EVP_KDF).
std::array<uint8_t, 48> independent_scalar(std::span<const uint8_t> ikm) {
  std::array<uint8_t, 64> okm{};
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  size_t len = okm.size();
  const std::string_view salt = "snpemu model VCEK", info = "P-384 d v1";
  bool ok = ctx != nullptr && EVP_PKEY_derive_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha384()) == 1 &&
            EVP_PKEY_CTX_set1_hkdf_salt(ctx, reinterpret_cast<const unsigned char*>(salt.data()),
                                        static_cast<int>(salt.size())) == 1 &&
            EVP_PKEY_CTX_set1_hkdf_key(ctx, ikm.data(), static_cast<int>(ikm.size())) == 1 &&
            EVP_PKEY_CTX_add1_hkdf_info(ctx, reinterpret_cast<const unsigned char*>(info.data()),
                                        static_cast<int>(info.size())) == 1 &&
            EVP_PKEY_derive(ctx, okm.data(), &len) == 1;
  EVP_PKEY_CTX_free(ctx);
  EXPECT_TRUE(ok);
  EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_secp384r1);
  BN_CTX* bn = BN_CTX_new();
  BIGNUM* c = BN_bin2bn(okm.data(), 64, nullptr);
  BIGNUM* m = BN_dup(EC_GROUP_get0_order(group));
  BIGNUM* d = BN_new();
  BN_sub_word(m, 1);
  BN_mod(d, c, m, bn);
  BN_add_word(d, 1);
  std::array<uint8_t, 48> out{};
  BN_bn2binpad(d, out.data(), 48);
  BN_free(c), BN_free(m), BN_free(d), BN_CTX_free(bn), EC_GROUP_free(group);
  return out;
}

TEST(ModelVcek, DerivationMatchesDocumentedFormula) {
  for (uint8_t base : {0, 1, 0x80}) {
    auto s = seed(base);
    auto derived = ModelVcek::derive(s);
    ASSERT_TRUE(derived.has_value()) << derived.error().message;
    auto expected = ModelVcek::from_private_scalar(independent_scalar(s));
    ASSERT_TRUE(expected.has_value());
    EXPECT_EQ(*derived->public_key_pem(), *expected->public_key_pem()) << "seed base " << int(base);
  }
}

TEST(ModelVcek, DeterministicPerSeedAndDistinctAcrossSeeds) {
  auto a1 = ModelVcek::derive(seed(7));
  auto a2 = ModelVcek::derive(seed(7));
  auto b = ModelVcek::derive(seed(8));
  ASSERT_TRUE(a1 && a2 && b);
  auto pem = a1->public_key_pem();
  ASSERT_TRUE(pem.has_value());
  EXPECT_EQ(pem->rfind("-----BEGIN PUBLIC KEY-----\n", 0), 0u) << *pem;
  EXPECT_EQ(*pem, *a2->public_key_pem());
  EXPECT_NE(*pem, *b->public_key_pem());
  EXPECT_TRUE(a1->public_key().is_p384());
}

TEST(ModelVcek, ShortSeedRejected) {
  std::vector<uint8_t> s(ModelVcek::kMinSeedSize - 1, 1);
  auto r = ModelVcek::derive(s);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kBadLength);
  EXPECT_EQ(r.error().message, "platform seed is 15 bytes, at least 16 required");
}

// Verifies a report with plain OpenSSL: key from the exported PEM, R/S converted here.
bool openssl_verifies(const std::array<uint8_t, kReportSize>& report, const std::string& pem) {
  auto key = VerifyingKey::from_pem(pem);
  if (!key) return false;
  BIGNUM* r = BN_lebin2bn(report.data() + 0x2A0, 72, nullptr);
  BIGNUM* s = BN_lebin2bn(report.data() + 0x2E8, 72, nullptr);
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, r, s);
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(sig, &der);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  bool ok = EVP_DigestVerifyInit(md, nullptr, EVP_sha384(), nullptr, key->get()) == 1 &&
            EVP_DigestVerify(md, der, static_cast<size_t>(der_len), report.data(), 0x2A0) == 1;
  EVP_MD_CTX_free(md);
  OPENSSL_free(der);
  ECDSA_SIG_free(sig);
  return ok;
}

TEST(ModelVcek, SignedReportVerifiesWithOpenSslAndIsDeterministic) {
  auto vcek = ModelVcek::derive(seed(42));
  ASSERT_TRUE(vcek.has_value());
  AttestationReport report;
  report.policy = 0x30000;
  report.report_data.fill(0x5C);
  report.measurement.fill(0x11);
  report.signature_algo = 0;  // sign_report sets it
  ASSERT_TRUE(vcek->sign_report(report).has_value());
  EXPECT_EQ(report.signature_algo, 1u);
  auto bytes = serialize_report(report);
  EXPECT_TRUE(openssl_verifies(bytes, *vcek->public_key_pem())) << "seed base 42";
  EXPECT_TRUE(verify_report_signature(bytes, vcek->public_key()).has_value());
  AttestationReport again = report;
  ASSERT_TRUE(vcek->sign_report(again).has_value());
  EXPECT_EQ(serialize_report(again), bytes) << "signing is deterministic";
  // A different key does not verify it; a changed field breaks it.
  auto other = ModelVcek::derive(seed(43));
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(openssl_verifies(bytes, *other->public_key_pem()));
  bytes[0x90] ^= 0x80;
  EXPECT_FALSE(openssl_verifies(bytes, *vcek->public_key_pem()));
}

TEST(BuildReport, FillsFieldsAndChecksVmpl) {
  auto vcek = ModelVcek::derive(seed(3));
  ASSERT_TRUE(vcek.has_value());
  ReportInputs in;
  in.policy = 0x30000;
  in.measurement.fill(0x77);
  in.host_data.fill(0x22);
  in.chip_id.fill(0x99);
  in.author_key_en = true;
  in.author_key_digest.fill(0x44);
  in.current_major = 1;
  in.current_minor = 55;
  std::array<uint8_t, 64> data{};
  data[0] = 0xD0;
  auto r = build_signed_report(in, data, 2, Vmpl{1}, *vcek);
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->vmpl, 2u);
  EXPECT_EQ(r->version, kReportVersionModel);
  EXPECT_EQ(r->report_data, data);
  EXPECT_EQ(r->measurement, in.measurement);
  EXPECT_EQ(r->host_data, in.host_data);
  EXPECT_EQ(r->chip_id, in.chip_id);
  EXPECT_EQ(r->author_key_digest, in.author_key_digest);
  EXPECT_EQ(r->flags, kReportFlagAuthorKeyEn);
  EXPECT_EQ(r->current_minor, 55);
  EXPECT_TRUE(verify_report_signature(serialize_report(*r), vcek->public_key()).has_value());
  in.mask_chip_id = true;
  auto masked = build_signed_report(in, data, 2, Vmpl{1}, *vcek);
  ASSERT_TRUE(masked.has_value());
  EXPECT_EQ(masked->chip_id, (std::array<uint8_t, 64>{}));
  auto bad = build_signed_report(in, data, 0, Vmpl{1}, *vcek);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().status, Status::kInvalidParam);
  EXPECT_EQ(bad.error().message, "report requested for VMPL 0 under VMPCK1 (must be in [1, 3])");
  EXPECT_FALSE(build_signed_report(in, data, 4, Vmpl{0}, *vcek).has_value());
}

}  // namespace
}  // namespace snpemu::fw
