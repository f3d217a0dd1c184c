// Tests of report signature verification on the REAL Milan report and VCEK, and of the
// VCEK -> ASK -> ARK certificate chain (RSA-PSS).
#include <gtest/gtest.h>

#include <optional>

#include "firmware/firmware.h"
#include "test/firmware/test_util.h"

namespace snpemu::fw {
namespace {

struct Data {
  std::vector<uint8_t> report;
  Certificate vcek, ask, ark;
};

std::optional<Data> load_data() {
  auto report = test::from_hex(test::read_testdata("report_milan.hex"));
  auto der = test::read_testdata("vcek_milan.der");
  auto vcek =
      Certificate::from_der(std::span(reinterpret_cast<const uint8_t*>(der.data()), der.size()));
  auto ask = Certificate::from_pem(test::read_testdata("ask_milan.pem"));
  auto ark = Certificate::from_pem(test::read_testdata("ark_milan.pem"));
  if (!vcek || !ask || !ark) return std::nullopt;
  return Data{report, *vcek, *ask, *ark};
}

// Loads the Milan data into `d` or fails the test.
#define LOAD_OR_FAIL(d)                                             \
  auto d##_opt = load_data();                                       \
  ASSERT_TRUE(d##_opt.has_value()) << "Milan test data unreadable"; \
  Data d = *d##_opt

TEST(VerifyMilan, RealReportVerifiesAgainstVcek) {
  LOAD_OR_FAIL(d);
  auto key = d.vcek.public_key();
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_TRUE(key->is_p384());
  auto r = verify_report_signature(d.report, *key);
  EXPECT_TRUE(r.has_value()) << r.error().message;
  EXPECT_NE(d.vcek.subject().find("SEV-VCEK"), std::string::npos) << d.vcek.subject();
}

TEST(VerifyMilan, EverySingleBitFlipIsRejected) {
  LOAD_OR_FAIL(d);
  auto key = d.vcek.public_key();
  ASSERT_TRUE(key.has_value());
  int accepted = 0;
  for (size_t bit = 0; bit < kReportSize * 8; ++bit) {
    auto b = d.report;
    b[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    if (verify_report_signature(b, *key).has_value()) {
      ++accepted;
      ADD_FAILURE() << "report with bit " << bit % 8 << " of byte 0x" << std::hex << bit / 8
                    << " flipped was accepted";
      if (accepted > 5) break;
    }
  }
  EXPECT_EQ(accepted, 0);
}

TEST(VerifyMilan, FlippedSignedBitGivesBadSignature) {
  LOAD_OR_FAIL(d);
  auto key = d.vcek.public_key();
  ASSERT_TRUE(key.has_value());
  auto b = d.report;
  b[0x50] ^= 1;  // REPORT_DATA[0]
  auto r = verify_report_signature(b, *key);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kBadSignature);
  EXPECT_EQ(r.error().status, Status::kBadSignature);
}

TEST(VerifyMilan, ChainVerifiesAndWrongOrderFails) {
  LOAD_OR_FAIL(d);
  auto ok = verify_vcek_chain(d.vcek, d.ask, d.ark);
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
  auto swapped = verify_vcek_chain(d.vcek, d.ark, d.ask);
  ASSERT_FALSE(swapped.has_value());
  EXPECT_EQ(swapped.error().kind, ErrorKind::kBadSignature);
  EXPECT_EQ(swapped.error().message.rfind("ARK is not self-signed", 0), 0u)
      << swapped.error().message;
  // The VCEK is not self-signed and the ARK did not sign it directly.
  EXPECT_FALSE(d.vcek.verify_issued_by(d.vcek).has_value());
  EXPECT_FALSE(d.vcek.verify_issued_by(d.ark).has_value());
}

TEST(VerifyMilan, TamperedCertificateSignatureFails) {
  auto der = test::read_testdata("vcek_milan.der");
  LOAD_OR_FAIL(d);
  std::vector<uint8_t> bytes(der.begin(), der.end());
  bytes[bytes.size() - 10] ^= 0x01;  // inside the RSA-PSS signature value
  auto vcek = Certificate::from_der(bytes);
  ASSERT_TRUE(vcek.has_value()) << vcek.error().message;
  auto r = vcek->verify_issued_by(d.ask);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kBadSignature);
}

TEST(VerifyMilan, RsaKeyIsNotAReportKey) {
  LOAD_OR_FAIL(d);
  auto ask_key = d.ask.public_key();
  ASSERT_TRUE(ask_key.has_value());
  EXPECT_FALSE(ask_key->is_p384());
  auto r = verify_report_signature(d.report, *ask_key);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kBadCertificate);
}

TEST(Certificates, MalformedInputIsAnErrorValue) {
  std::vector<uint8_t> junk = {0x30, 0x82, 0x05, 0x00, 0x01, 0x02};
  auto a = Certificate::from_der(junk);
  ASSERT_FALSE(a.has_value());
  EXPECT_EQ(a.error().kind, ErrorKind::kBadCertificate);
  EXPECT_FALSE(Certificate::from_der({}).has_value());
  EXPECT_FALSE(Certificate::from_pem("not a pem").has_value());
  EXPECT_FALSE(
      VerifyingKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
          .has_value());
  auto der = test::read_testdata("vcek_milan.der");
  std::vector<uint8_t> truncated(der.begin(), der.begin() + static_cast<ptrdiff_t>(der.size() / 2));
  EXPECT_FALSE(Certificate::from_der(truncated).has_value());
  std::vector<uint8_t> trailing(der.begin(), der.end());
  trailing.push_back(0);
  auto t = Certificate::from_der(trailing);
  ASSERT_FALSE(t.has_value());
  EXPECT_EQ(t.error().message, "certificate DER has 1 trailing bytes");
}

}  // namespace
}  // namespace snpemu::fw
