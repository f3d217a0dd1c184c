// Tests of guest-message crypto: header layout, AES-256-GCM with the spec's IV and AAD (checked
// by decrypting with plain OpenSSL), tampering, sequence numbers and replays, MSG_REPORT_REQ/RSP,
// an end-to-end report request, and seeded random input that must only ever yield error values.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <random>

#include "firmware/firmware.h"
#include "test/firmware/test_util.h"

namespace snpemu::fw {
namespace {

Vmpck key_of(uint8_t v) {
  Vmpck k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(v + i);
  return k;
}
std::array<Vmpck, 4> keys() { return {key_of(0x10), key_of(0x20), key_of(0x30), key_of(0x40)}; }
std::vector<uint8_t> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

// Decrypts with OpenSSL directly, IV = seqno LE || 0^4 and AAD = header[0x30, 0x60).
std::vector<uint8_t> direct_open(const Vmpck& key, const std::vector<uint8_t>& msg, bool* ok) {
  uint64_t seqno;
  std::memcpy(&seqno, msg.data() + 0x20, 8);
  uint16_t size;
  std::memcpy(&size, msg.data() + 0x36, 2);
  uint8_t iv[12] = {};
  for (int i = 0; i < 8; ++i) iv[i] = static_cast<uint8_t>(seqno >> (8 * i));
  std::vector<uint8_t> out(size);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  *ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), iv) == 1 &&
        EVP_DecryptUpdate(ctx, nullptr, &len, msg.data() + 0x30, 0x30) == 1 &&
        EVP_DecryptUpdate(ctx, out.data(), &len, msg.data() + 0x60, size) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, const_cast<uint8_t*>(msg.data())) == 1 &&
        EVP_DecryptFinal_ex(ctx, out.data() + size, &len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return out;
}

TEST(GuestMsg, SealProducesSpecHeaderAndOpenSslDecrypts) {
  auto payload = bytes_of("attest me please");
  auto msg = seal_message(key_of(1), MsgType::kReportReq, 1, 0x0102030405, 2, payload);
  ASSERT_TRUE(msg.has_value()) << msg.error().message;
  ASSERT_EQ(msg->size(), 0x60 + payload.size());
  const auto& m = *msg;
  EXPECT_EQ(m[0x20], 0x05) << "msg_seqno little endian at 0x20";
  EXPECT_EQ(m[0x24], 0x01);
  EXPECT_EQ(m[0x30], 1) << "algo AES-256-GCM";
  EXPECT_EQ(m[0x31], 1) << "hdr_version";
  EXPECT_EQ(m[0x32], 0x60) << "hdr_sz";
  EXPECT_EQ(m[0x34], 5) << "msg_type REPORT_REQ";
  EXPECT_EQ(m[0x35], 1) << "msg_version";
  EXPECT_EQ(m[0x36], payload.size()) << "msg_sz";
  EXPECT_EQ(m[0x3C], 2) << "msg_vmpck";
  EXPECT_TRUE(std::all_of(m.begin() + 16, m.begin() + 32, [](uint8_t b) { return b == 0; }))
      << "authtag bytes 16-31 unused";
  EXPECT_FALSE(std::equal(payload.begin(), payload.end(), m.begin() + 0x60)) << "not encrypted";
  bool ok = false;
  auto plain = direct_open(key_of(1), m, &ok);
  EXPECT_TRUE(ok) << "OpenSSL with IV = seqno and AAD = header[0x30..0x5F] must authenticate";
  EXPECT_EQ(plain, payload);
  auto opened = open_message(key_of(1), m);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(opened->payload, payload);
  EXPECT_EQ(opened->header.msg_seqno, 0x0102030405u);
}

TEST(GuestMsg, AnyTamperingFailsAuthentication) {
  auto msg = seal_message(key_of(1), MsgType::kReportReq, 1, 7, 0, bytes_of("0123456789"));
  ASSERT_TRUE(msg.has_value());
  // Authenticated: the tag [0,16), the seqno (IV) [0x20,0x28), AAD [0x30,0x60), ciphertext.
  std::vector<size_t> offsets = {0, 15, 0x20, 0x27, 0x35, 0x38, 0x3D, 0x5F, 0x60, 0x69};
  for (size_t off : offsets) {
    auto m = *msg;
    m[off] ^= 0x01;
    auto r = open_message(key_of(1), m);
    ASSERT_FALSE(r.has_value()) << "flip at offset 0x" << std::hex << off << " accepted";
    EXPECT_EQ(r.error().kind, ErrorKind::kAuthFailed) << "offset 0x" << std::hex << off;
  }
  auto wrong_key = open_message(key_of(2), *msg);
  ASSERT_FALSE(wrong_key.has_value());
  EXPECT_EQ(wrong_key.error().message, "message with msg_seqno 7 fails AES-256-GCM authentication");
}

TEST(GuestMsg, HeaderErrorsArePrecise) {
  auto msg = seal_message(key_of(1), MsgType::kReportReq, 1, 1, 0, bytes_of("xy"));
  ASSERT_TRUE(msg.has_value());
  auto check = [&](size_t off, uint8_t value, ErrorKind kind) {
    auto m = *msg;
    m[off] = value;
    auto r = parse_msg_header(m);
    ASSERT_FALSE(r.has_value()) << "offset " << off;
    EXPECT_EQ(r.error().kind, kind) << r.error().message;
  };
  check(0x30, 2, ErrorKind::kBadAlgorithm);
  check(0x31, 2, ErrorKind::kBadVersion);
  check(0x32, 0x50, ErrorKind::kBadField);
  check(0x36, 3, ErrorKind::kBadLength);  // msg_sz larger than the bytes present
  check(0x3C, 4, ErrorKind::kBadField);
  EXPECT_EQ(parse_msg_header(std::vector<uint8_t>(95)).error().kind, ErrorKind::kBadLength);
  EXPECT_EQ(seal_message(key_of(1), MsgType::kReportReq, 1, 1, 0,
                         std::vector<uint8_t>(kMaxMsgPayload + 1))
                .error()
                .kind,
            ErrorKind::kBadLength);
  EXPECT_TRUE(
      seal_message(key_of(1), MsgType::kReportReq, 1, 1, 0, std::vector<uint8_t>(kMaxMsgPayload))
          .has_value());
  EXPECT_EQ(seal_message(key_of(1), MsgType::kReportReq, 1, 0, 0, {}).error().kind,
            ErrorKind::kBadSequence);
}

TEST(GuestChannel, SequenceNumbersAdvanceByTwoAndReplaysAreRejected) {
  GuestChannel fw(keys());
  auto req1 = seal_message(key_of(0x10), MsgType::kReportReq, 1, 1, 0, bytes_of("one"));
  ASSERT_TRUE(req1.has_value());
  auto opened = fw.open_request(*req1);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(fw.counter(0), 2u);
  auto rsp = fw.seal_response(opened->header, bytes_of("answer"));
  ASSERT_TRUE(rsp.has_value()) << rsp.error().message;
  auto guest_view = open_message(key_of(0x10), *rsp);
  ASSERT_TRUE(guest_view.has_value());
  EXPECT_EQ(guest_view->header.msg_seqno, 2u) << "response seqno = request + 1";
  EXPECT_EQ(guest_view->header.msg_type, static_cast<uint8_t>(MsgType::kReportRsp));
  EXPECT_EQ(guest_view->payload, bytes_of("answer"));
  // Replaying the first request is rejected, and does not move the counter.
  auto replay = fw.open_request(*req1);
  ASSERT_FALSE(replay.has_value());
  EXPECT_EQ(replay.error().kind, ErrorKind::kBadSequence);
  EXPECT_EQ(replay.error().message, "VMPCK0 request msg_seqno 1, expected 3 (replay)");
  EXPECT_EQ(fw.counter(0), 2u);
  // Skipping ahead is rejected too; the next in sequence (3) is accepted.
  auto skip = seal_message(key_of(0x10), MsgType::kReportReq, 1, 5, 0, bytes_of("x"));
  EXPECT_EQ(fw.open_request(*skip).error().kind, ErrorKind::kBadSequence);
  auto req3 = seal_message(key_of(0x10), MsgType::kReportReq, 1, 3, 0, bytes_of("x"));
  EXPECT_TRUE(fw.open_request(*req3).has_value());
  EXPECT_EQ(fw.counter(0), 4u);
  EXPECT_EQ(fw.counter(1), 0u) << "counters are per VMPCK";
  // A response for an older request is refused.
  EXPECT_FALSE(fw.seal_response(opened->header, {}).has_value());
}

TEST(GuestChannel, TamperedRequestKeepsCounterAndWrongKeyRejected) {
  GuestChannel fw(keys());
  auto req = seal_message(key_of(0x20), MsgType::kReportReq, 1, 1, 1, bytes_of("hi"));
  ASSERT_TRUE(req.has_value());
  auto bad = *req;
  bad[0x61] ^= 4;
  auto r = fw.open_request(bad);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kAuthFailed);
  EXPECT_EQ(fw.counter(1), 0u);
  auto good = fw.open_request(*req);
  ASSERT_TRUE(good.has_value()) << good.error().message;
  EXPECT_EQ(fw.counter(1), 2u);
  // The same request under a key the guest does not have fails authentication.
  auto other = seal_message(key_of(0x30), MsgType::kReportReq, 1, 3, 1, bytes_of("hi"));
  auto wrong = fw.open_request(*other);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().kind, ErrorKind::kAuthFailed);
}

TEST(GuestChannel, SequenceSpaceExhaustionIsAeadOflow) {
  const uint64_t last = ~uint64_t{0} - 1;
  GuestChannel fw(keys(), {last, 0, 0, 0});
  auto req = seal_message(key_of(0x10), MsgType::kReportReq, 1, ~uint64_t{0}, 0, {});
  ASSERT_TRUE(req.has_value());
  auto r = fw.open_request(*req);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().status, Status::kAeadOflow);
}

TEST(ReportMsg, RequestAndResponseCodecs) {
  MsgReportReq req;
  req.report_data[0] = 0xAA;
  req.report_data[63] = 0xBB;
  req.vmpl = 1;
  auto bytes = serialize_report_req(req);
  EXPECT_EQ(bytes[0x40], 1) << "vmpl at 0x40";
  auto back = parse_report_req(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->report_data, req.report_data);
  EXPECT_FALSE(parse_report_req(std::span(bytes).first(95)).has_value());
  bytes[0x40] = 4;
  EXPECT_EQ(parse_report_req(bytes).error().kind, ErrorKind::kBadField);

  MsgReportRsp fail;
  fail.status = 0x16;
  auto fail_bytes = serialize_report_rsp(fail);
  EXPECT_EQ(fail_bytes.size(), 32u);
  auto fail_back = parse_report_rsp(fail_bytes);
  ASSERT_TRUE(fail_back.has_value());
  EXPECT_EQ(fail_back->status, 0x16u);
  MsgReportRsp ok;
  ok.report_size = kReportSize;
  ok.report.vmpl = 3;
  auto ok_bytes = serialize_report_rsp(ok);
  EXPECT_EQ(ok_bytes.size(), 32 + kReportSize);
  auto ok_back = parse_report_rsp(ok_bytes);
  ASSERT_TRUE(ok_back.has_value()) << ok_back.error().message;
  EXPECT_EQ(ok_back->report.vmpl, 3u);
  ok_bytes.pop_back();
  EXPECT_EQ(parse_report_rsp(ok_bytes).error().kind, ErrorKind::kBadLength);
}

TEST(ReportMsg, EndToEndReportRequest) {
  const std::vector<uint8_t> seed(32, 0x5E);
  auto vcek = ModelVcek::derive(seed);
  auto vmpcks = derive_vmpcks(seed, 1);
  ASSERT_TRUE(vcek && vmpcks);
  GuestChannel fw(*vmpcks);
  // Guest: MSG_REPORT_REQ with its report data, sealed with VMPCK0, seqno 1.
  MsgReportReq req;
  for (size_t i = 0; i < 64; ++i) req.report_data[i] = static_cast<uint8_t>(i * 3);
  auto sealed = seal_message((*vmpcks)[0], MsgType::kReportReq, 1, 1, 0, serialize_report_req(req));
  ASSERT_TRUE(sealed.has_value());
  // Firmware: open, build a signed report, answer.
  auto in = fw.open_request(*sealed);
  ASSERT_TRUE(in.has_value()) << in.error().message;
  auto parsed = parse_report_req(in->payload);
  ASSERT_TRUE(parsed.has_value());
  LaunchDigest launch;  // a tiny launch: one code page, a zero page, the secrets page, a VMSA
  ASSERT_TRUE(launch.update_normal(Gpa{0x100000}, std::vector<uint8_t>(100, 0x90)).has_value());
  ASSERT_TRUE(launch.update_zero(Gpa{0x200000}).has_value());
  ASSERT_TRUE(launch.update(PageType::kSecrets, Gpa{0x300000}, {}).has_value());
  ASSERT_TRUE(launch.update_vmsa(std::vector<uint8_t>(4096, 1)).has_value());
  ReportInputs inputs;
  inputs.measurement = launch.digest();
  auto report = build_signed_report(inputs, parsed->report_data, parsed->vmpl,
                                    Vmpl{in->header.msg_vmpck}, *vcek);
  ASSERT_TRUE(report.has_value());
  MsgReportRsp rsp;
  rsp.report_size = kReportSize;
  rsp.report = *report;
  auto out = fw.seal_response(in->header, serialize_report_rsp(rsp));
  ASSERT_TRUE(out.has_value());
  // Guest: decrypt with seqno 2, check report data and the signature against the exported PEM.
  auto got = open_message((*vmpcks)[0], *out);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->header.msg_seqno, 2u);
  auto back = parse_report_rsp(got->payload);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->status, 0u);
  EXPECT_EQ(back->report.report_data, req.report_data);
  EXPECT_EQ(back->report.measurement, launch.digest()) << "MEASUREMENT is the launch digest";
  auto pem = vcek->public_key_pem();
  ASSERT_TRUE(pem.has_value());
  auto key = VerifyingKey::from_pem(*pem);
  ASSERT_TRUE(key.has_value());
  auto v = verify_report_signature(serialize_report(back->report), *key);
  EXPECT_TRUE(v.has_value()) << v.error().message;
}

TEST(Robustness, RandomBytesOnlyYieldErrorValues) {
  const uint64_t seed = 0x5EED'F1A5'0001;
  std::mt19937_64 rng(seed);
  GuestChannel fw(keys());
  for (int i = 0; i < 2000; ++i) {
    std::vector<uint8_t> b(rng() % 5000);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (b.size() >= 0x60 && (i & 1)) {  // make half of them pass header parsing
      b[0x30] = 1, b[0x31] = 1, b[0x32] = 0x60, b[0x33] = 0, b[0x3C] &= 3;
      uint16_t sz = static_cast<uint16_t>(std::min<size_t>(b.size() - 0x60, rng() % 4000));
      std::memcpy(b.data() + 0x36, &sz, 2);
    }
    EXPECT_FALSE(fw.open_request(b).has_value()) << "seed " << seed << " iter " << i;
    (void)parse_report(b);
    (void)parse_report_req(b);
    (void)parse_report_rsp(b);
    (void)parse_secrets_page(b);
    (void)Certificate::from_der(b);
  }
  EXPECT_EQ(fw.counter(0), 0u) << "seed " << seed;
}

}  // namespace
}  // namespace snpemu::fw
