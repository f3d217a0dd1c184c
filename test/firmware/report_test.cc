// Tests of the attestation report layout (on a real Milan report), TCB_VERSION and status names.
#include <gtest/gtest.h>

#include <cstring>

#include "firmware/firmware.h"
#include "test/firmware/test_util.h"

namespace snpemu::fw {
namespace {

std::vector<uint8_t> milan_report() {
  return test::from_hex(test::read_testdata("report_milan.hex"));
}

TEST(Report, ParsesRealMilanReportFields) {
  auto bytes = milan_report();
  ASSERT_EQ(bytes.size(), kReportSize);
  auto report = parse_report(bytes);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  EXPECT_EQ(report->version, 2u);
  EXPECT_EQ(report->guest_svn, 0u);
  EXPECT_EQ(report->policy, 0x30000u) << "expected SMT + reserved-MBO policy at offset 0x008";
  EXPECT_EQ(report->vmpl, 0u);
  EXPECT_EQ(report->signature_algo, 1u);
  EXPECT_EQ(report->platform_version, 0x7308000000000003u);
  EXPECT_EQ(report->platform_info, 1u) << "expected SMT-enabled bit at offset 0x040";
  EXPECT_EQ(test::to_hex(report->report_data).substr(0, 16), "d447b55d197491bf");
  EXPECT_EQ(test::to_hex(report->measurement).substr(0, 16), "7a1e5c266c0108db");
  EXPECT_EQ(test::to_hex(report->report_id).substr(0, 16), "92b3b47d59f0a2a1");
  EXPECT_EQ(test::to_hex(report->report_id_ma), std::string(64, 'f'));
  EXPECT_EQ(report->reported_tcb, 0x7308000000000003u);
  EXPECT_EQ(test::to_hex(report->chip_id).substr(0, 16), "d49554ec717f4e5b");
  EXPECT_EQ(report->committed_tcb, 0x7308000000000003u);
  EXPECT_EQ(report->current_build, 4);
  EXPECT_EQ(report->current_minor, 52);
  EXPECT_EQ(report->current_major, 1);
  EXPECT_EQ(report->committed_build, 4);
  EXPECT_EQ(report->committed_minor, 52);
  EXPECT_EQ(report->committed_major, 1);
  EXPECT_EQ(report->launch_tcb, 0x7308000000000003u);
  EXPECT_EQ(report->signature.r[0], 0x61);
  EXPECT_EQ(report->signature.s[0], 0x20);
  EXPECT_EQ(report->signature.r[48], 0) << "R is zero-padded from 48 to 72 bytes";
}

TEST(Report, SerializeIsExactInverseOfParse) {
  auto bytes = milan_report();
  auto report = parse_report(bytes);
  ASSERT_TRUE(report.has_value()) << report.error().message;
  auto out = serialize_report(*report);
  EXPECT_TRUE(std::equal(out.begin(), out.end(), bytes.begin()));
}

TEST(Report, SerializePutsFieldsAtSpecOffsets) {
  AttestationReport r;
  r.version = 3;
  r.policy = 0x1122334455667788;
  r.vmpl = 2;
  r.report_data[0] = 0xAB;
  r.measurement[47] = 0xCD;
  r.chip_id[63] = 0xEF;
  r.launch_tcb = 0x0102030405060708;
  r.signature.s[71] = 0x5A;
  auto b = serialize_report(r);
  EXPECT_EQ(b[0x000], 3);
  EXPECT_EQ(b[0x008], 0x88);
  EXPECT_EQ(b[0x00F], 0x11);
  EXPECT_EQ(b[0x030], 2);
  EXPECT_EQ(b[0x034], 1) << "default SIGNATURE_ALGO";
  EXPECT_EQ(b[0x050], 0xAB);
  EXPECT_EQ(b[0x090 + 47], 0xCD);
  EXPECT_EQ(b[0x1A0 + 63], 0xEF);
  EXPECT_EQ(b[0x1F0], 0x08);
  EXPECT_EQ(b[0x2E8 + 71], 0x5A);
}

TEST(Report, RejectsBadSizeWithPreciseError) {
  auto bytes = milan_report();
  for (size_t size : {size_t{0}, kReportSize - 1, kReportSize + 1}) {
    std::vector<uint8_t> b(size, 0);
    std::copy_n(bytes.begin(), std::min(size, bytes.size()), b.begin());
    auto r = parse_report(b);
    ASSERT_FALSE(r.has_value()) << "size " << size;
    EXPECT_EQ(r.error().kind, ErrorKind::kBadLength);
    EXPECT_EQ(r.error().status, Status::kInvalidLength);
    EXPECT_EQ(r.error().message,
              "attestation report is " + std::to_string(size) + " bytes, expected 1184");
  }
}

TEST(Report, RejectsBadVersionAlgoAndVmpl) {
  auto bytes = milan_report();
  for (uint32_t v : {0u, 1u, 6u, 0xFFFFFFFFu}) {
    auto b = bytes;
    std::memcpy(b.data(), &v, 4);
    auto r = parse_report(b);
    ASSERT_FALSE(r.has_value()) << "version " << v;
    EXPECT_EQ(r.error().kind, ErrorKind::kBadVersion);
    EXPECT_EQ(r.error().message,
              "attestation report VERSION " + std::to_string(v) + " not in 2..5");
  }
  for (uint32_t v : {2u, 3u, 5u}) {
    auto b = bytes;
    std::memcpy(b.data(), &v, 4);
    EXPECT_TRUE(parse_report(b).has_value()) << "version " << v;
  }
  auto b = bytes;
  b[0x34] = 2;
  auto r = parse_report(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kBadAlgorithm);
  EXPECT_EQ(r.error().message,
            "attestation report SIGNATURE_ALGO 2, expected 1 (ECDSA P-384 with SHA-384)");
  b = bytes;
  b[0x30] = 4;
  r = parse_report(b);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kBadField);
}

TEST(Tcb, DecodesMilanLayout) {
  // The real report's CURRENT_TCB: boot loader 3, TEE 0, SNP 8, microcode 0x73.
  TcbVersion t = decode_tcb(0x7308000000000003, TcbLayout::kMilanGenoa);
  EXPECT_EQ(t, (TcbVersion{.boot_loader = 3, .tee = 0, .snp = 8, .microcode = 0x73, .fmc = 0}));
  EXPECT_EQ(encode_tcb(t, TcbLayout::kMilanGenoa), 0x7308000000000003u);
  // Reserved bytes 2-5 do not leak into fields.
  EXPECT_EQ(decode_tcb(0x0000FFFFFFFF0000, TcbLayout::kMilanGenoa), TcbVersion{});
}

TEST(Tcb, DecodesTurinLayout) {
  TcbVersion t = decode_tcb(0xD500000018000201, TcbLayout::kTurin);
  EXPECT_EQ(t, (TcbVersion{.boot_loader = 2, .tee = 0, .snp = 0x18, .microcode = 0xD5, .fmc = 1}));
  EXPECT_EQ(encode_tcb(t, TcbLayout::kTurin), 0xD500000018000201u);
}

TEST(Status, ValuesAndNamesFollowTheFixedHeader) {
  EXPECT_EQ(static_cast<uint32_t>(Status::kInvalidParam), 0x16u);
  EXPECT_EQ(static_cast<uint32_t>(Status::kAeadOflow), 0x1Du);
  EXPECT_EQ(static_cast<uint32_t>(Status::kExitRingBuffer), 0x1Fu);
  EXPECT_EQ(static_cast<uint32_t>(Status::kInvalidKey), 0x27u);
  EXPECT_EQ(status_name(Status::kPolicyFailure), "POLICY_FAILURE");
  EXPECT_EQ(status_name(Status::kInvalidPageState), "INVALID_PAGE_STATE");
  EXPECT_EQ(status_name(static_cast<Status>(0x1E)), "UNKNOWN");
  EXPECT_EQ(error_kind_name(ErrorKind::kBadSequence), "bad sequence number");
}

}  // namespace
}  // namespace snpemu::fw
