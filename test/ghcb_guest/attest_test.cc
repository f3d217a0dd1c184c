// ghcb/guest/attest.c (native build) against the fake KVM whose GUEST_REQUEST handler is the
// REAL firmware message code (//firmware GuestChannel: header checks, AES-256-GCM open/seal,
// sequence numbers; serialize_report_rsp / serialize_report): the guest's C layouts and crypto
// must agree with the host's. Also: the guest's C layouts against firmware/msg_layout.h and
// firmware/report_layout.h, and every malicious-response case with its own result value.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "firmware/firmware.h"
#include "ghcb/guest/ghcb_guest.h"
#include "test/ghcb_guest/guest_fixture.h"

namespace snpemu::test {
namespace {

// ------------------------------------------------------------------------------ layouts

#define SAME_OFFSET(c_type, c_field, cxx_type, cxx_field)                   \
  static_assert(offsetof(c_type, c_field) == offsetof(cxx_type, cxx_field), \
                #c_type "." #c_field " differs from " #cxx_type "." #cxx_field)
SAME_OFFSET(ghcb_snp_msg_hdr, authtag, fw::GuestMsgHeader, authtag);
SAME_OFFSET(ghcb_snp_msg_hdr, msg_seqno, fw::GuestMsgHeader, msg_seqno);
SAME_OFFSET(ghcb_snp_msg_hdr, rsvd1, fw::GuestMsgHeader, rsvd1);
SAME_OFFSET(ghcb_snp_msg_hdr, algo, fw::GuestMsgHeader, algo);
SAME_OFFSET(ghcb_snp_msg_hdr, hdr_version, fw::GuestMsgHeader, hdr_version);
SAME_OFFSET(ghcb_snp_msg_hdr, hdr_sz, fw::GuestMsgHeader, hdr_sz);
SAME_OFFSET(ghcb_snp_msg_hdr, msg_type, fw::GuestMsgHeader, msg_type);
SAME_OFFSET(ghcb_snp_msg_hdr, msg_version, fw::GuestMsgHeader, msg_version);
SAME_OFFSET(ghcb_snp_msg_hdr, msg_sz, fw::GuestMsgHeader, msg_sz);
SAME_OFFSET(ghcb_snp_msg_hdr, rsvd2, fw::GuestMsgHeader, rsvd2);
SAME_OFFSET(ghcb_snp_msg_hdr, msg_vmpck, fw::GuestMsgHeader, msg_vmpck);
SAME_OFFSET(ghcb_snp_msg_hdr, rsvd3, fw::GuestMsgHeader, rsvd3);
static_assert(sizeof(ghcb_snp_msg_hdr) == sizeof(fw::GuestMsgHeader));
static_assert(GHCB_SNP_MSG_HDR_SIZE == fw::kMsgHeaderSize);
static_assert(GHCB_SNP_MSG_MAX_PAYLOAD == fw::kMaxMsgPayload);
static_assert(GHCB_SNP_AEAD_AES_256_GCM == fw::kMsgAlgoAes256Gcm);
static_assert(GHCB_SNP_MSG_HDR_VERSION == fw::kMsgHdrVersion);
static_assert(GHCB_SNP_MSG_REPORT_REQ == static_cast<unsigned>(fw::MsgType::kReportReq));
static_assert(GHCB_SNP_MSG_REPORT_RSP == static_cast<unsigned>(fw::MsgType::kReportRsp));

SAME_OFFSET(ghcb_snp_report_req, user_data, fw::MsgReportReq, report_data);
SAME_OFFSET(ghcb_snp_report_req, vmpl, fw::MsgReportReq, vmpl);
// key_sel lies at the start of the host's reserved bytes (sent as 0).
SAME_OFFSET(ghcb_snp_report_req, key_sel, fw::MsgReportReq, rsvd);
static_assert(sizeof(ghcb_snp_report_req) == sizeof(fw::MsgReportReq));

SAME_OFFSET(ghcb_snp_report_rsp, status, fw::MsgReportRsp, status);
SAME_OFFSET(ghcb_snp_report_rsp, report_size, fw::MsgReportRsp, report_size);
SAME_OFFSET(ghcb_snp_report_rsp, rsvd, fw::MsgReportRsp, rsvd);
static_assert(sizeof(ghcb_snp_report_rsp) == offsetof(fw::MsgReportRsp, report));

#define SAME_REPORT(f) SAME_OFFSET(ghcb_snp_report, f, fw::AttestationReport, f)
SAME_REPORT(version);
SAME_REPORT(guest_svn);
SAME_REPORT(policy);
SAME_REPORT(family_id);
SAME_REPORT(image_id);
SAME_REPORT(vmpl);
SAME_REPORT(signature_algo);
SAME_REPORT(platform_version);
SAME_REPORT(platform_info);
SAME_REPORT(flags);
SAME_REPORT(reserved0);
SAME_REPORT(report_data);
SAME_REPORT(measurement);
SAME_REPORT(host_data);
SAME_REPORT(id_key_digest);
SAME_REPORT(author_key_digest);
SAME_REPORT(report_id);
SAME_REPORT(report_id_ma);
SAME_REPORT(reported_tcb);
SAME_REPORT(cpuid_fam_id);
SAME_REPORT(cpuid_mod_id);
SAME_REPORT(cpuid_step);
SAME_REPORT(reserved1);
SAME_REPORT(chip_id);
SAME_REPORT(committed_tcb);
SAME_REPORT(current_build);
SAME_REPORT(current_minor);
SAME_REPORT(current_major);
SAME_REPORT(reserved2);
SAME_REPORT(committed_build);
SAME_REPORT(committed_minor);
SAME_REPORT(committed_major);
SAME_REPORT(reserved3);
SAME_REPORT(launch_tcb);
SAME_REPORT(launch_mit_vector);
SAME_REPORT(current_mit_vector);
SAME_REPORT(reserved4);
SAME_REPORT(signature);
#undef SAME_REPORT
static_assert(sizeof(ghcb_snp_report) == sizeof(fw::AttestationReport));
static_assert(GHCB_SNP_REPORT_SIZE == fw::kReportSize);
static_assert(GHCB_SNP_REPORT_SIGNED_SIZE == fw::kReportSignedSize);
static_assert(GHCB_SNP_SIG_ALGO_ECDSA_P384_SHA384 == fw::kSigAlgoEcdsaP384Sha384);
static_assert(GHCB_SECRETS_VMPCK_OFFSET(0) == offsetof(fw::SecretsPage, vmpck));
static_assert(GHCB_SECRETS_VMPCK_OFFSET(3) ==
              offsetof(fw::SecretsPage, vmpck) + 3 * sizeof(fw::Vmpck));
#undef SAME_OFFSET

// ------------------------------------------------------------------------------ fixture

struct alignas(4096) SharedPage {
  std::array<uint8_t, 4096> b{};
};

std::array<fw::Vmpck, 4> test_vmpcks() {
  std::array<fw::Vmpck, 4> k{};
  for (size_t n = 0; n < 4; ++n)
    for (size_t i = 0; i < 32; ++i) k[n][i] = static_cast<uint8_t>(0x30 * n + 7 * i + 1);
  return k;
}

// The report the fake firmware answers with: a few recognisable fields, the request's data.
fw::AttestationReport model_report(const fw::MsgReportReq& rq) {
  fw::AttestationReport r;
  r.version = 3;
  r.policy = 0x30000;
  r.vmpl = rq.vmpl;
  r.report_data = rq.report_data;
  for (size_t i = 0; i < r.measurement.size(); ++i)
    r.measurement[i] = static_cast<uint8_t>(0xA0 + i);
  r.chip_id.fill(0xC1);
  r.signature.r.fill(0x11);
  return r;
}

// How the fake host answers: the real firmware channel, then an optional rewrite of the sealed
// response (a malicious or broken host), or a fixed SW_EXITINFO2.
class AttestTest : public GuestTest {
 public:
  FakeKvm& kvm() { return kvm_; }

 protected:
  AttestTest() : host_(test_vmpcks()) {
    kvm_.options().guest_request = [this](uint64_t req, uint64_t rsp) { return answer(req, rsp); };
  }

  void SetUp() override {
    set_up_ghcb();
    const auto keys = test_vmpcks();
    ASSERT_EQ(ghcb_snp_channel_init(ch_.get(), keys[0].data(), 0, 0, req_->b.data(), gpa(*req_),
                                    rsp_->b.data(), gpa(*rsp_)),
              GHCB_ATTEST_OK);
  }

  static uint64_t gpa(const SharedPage& p) { return reinterpret_cast<uint64_t>(p.b.data()); }

  uint64_t answer(uint64_t req_gpa, uint64_t rsp_gpa) {
    ++requests_;
    EXPECT_EQ(req_gpa, gpa(*req_));
    EXPECT_EQ(rsp_gpa, gpa(*rsp_));
    last_request_ = req_->b;
    if (exit_info_2_) return *exit_info_2_;
    auto msg = host_.open_request(req_->b);
    if (!msg) {
      host_error_ = msg.error().message;
      return static_cast<uint32_t>(msg.error().status);
    }
    opened_ = msg->header;
    std::vector<uint8_t> payload;
    if (payload_override_) {
      payload = *payload_override_;
    } else {
      auto rq = fw::parse_report_req(msg->payload);
      if (!rq) {
        host_error_ = rq.error().message;
        return static_cast<uint32_t>(rq.error().status);
      }
      fw::MsgReportRsp rsp;
      rsp.report_size = fw::kReportSize;
      rsp.report = model_report(*rq);
      expected_report_ = fw::serialize_report(rsp.report);
      payload = fw::serialize_report_rsp(rsp);
    }
    std::vector<uint8_t> sealed;
    if (reseal_) {
      sealed = reseal_(msg->header, payload);
    } else {
      auto s = host_.seal_response(msg->header, payload);
      if (!s) {
        host_error_ = s.error().message;
        return static_cast<uint32_t>(s.error().status);
      }
      sealed = *s;
    }
    if (tamper_) tamper_(sealed);
    rsp_->b.fill(0);
    std::copy_n(sealed.begin(), std::min(sealed.size(), rsp_->b.size()), rsp_->b.begin());
    return 0;
  }

  std::array<uint8_t, 64> report_data() const {
    std::array<uint8_t, 64> d{};
    for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(i);
    return d;
  }

  enum ghcb_attest_result get_report(std::array<uint8_t, GHCB_SNP_REPORT_SIZE>& out) {
    return ghcb_snp_get_report(&ctx_, ch_.get(), report_data().data(), 0, out.data());
  }

  bool key_wiped() const {
    return std::all_of(std::begin(ch_->vmpck), std::end(ch_->vmpck),
                       [](uint8_t b) { return b == 0; });
  }

  fw::GuestChannel host_;

 public:  // the bad-answer table arranges these
  std::unique_ptr<SharedPage> req_ = std::make_unique<SharedPage>();
  std::unique_ptr<SharedPage> rsp_ = std::make_unique<SharedPage>();
  std::unique_ptr<ghcb_snp_channel> ch_ = std::make_unique<ghcb_snp_channel>();
  unsigned requests_ = 0;
  std::array<uint8_t, 4096> last_request_{};
  std::optional<fw::GuestMsgHeader> opened_;
  std::optional<uint64_t> exit_info_2_;
  std::optional<std::vector<uint8_t>> payload_override_;
  std::function<std::vector<uint8_t>(const fw::GuestMsgHeader&, std::span<const uint8_t>)> reseal_;
  std::function<void(std::vector<uint8_t>&)> tamper_;
  std::array<uint8_t, fw::kReportSize> expected_report_{};
  std::string host_error_;
};

TEST_F(AttestTest, ReportRoundTripsThroughTheFirmwareChannel) {
  std::array<uint8_t, GHCB_SNP_REPORT_SIZE> report{};
  const enum ghcb_attest_result r = get_report(report);
  ASSERT_EQ(r, GHCB_ATTEST_OK) << ghcb_attest_result_name(r) << " host: " << host_error_
                               << errors();
  EXPECT_TRUE(kvm_.errors().empty()) << errors();
  EXPECT_EQ(requests_, 1u);
  EXPECT_EQ(report, expected_report_) << "report bytes differ from the firmware's";
  ghcb_snp_report parsed;
  std::memcpy(&parsed, report.data(), sizeof parsed);
  EXPECT_EQ(parsed.version, 3u);
  EXPECT_EQ(parsed.policy, 0x30000u);
  const auto data = report_data();
  EXPECT_EQ(std::memcmp(parsed.report_data, data.data(), 64), 0);
  // Request header as the firmware opened it: seqno 1, MSG_REPORT_REQ v1, 96-byte payload.
  ASSERT_TRUE(opened_.has_value());
  EXPECT_EQ(opened_->msg_seqno, 1u);
  EXPECT_EQ(opened_->msg_type, 5);
  EXPECT_EQ(opened_->msg_version, 1);
  EXPECT_EQ(opened_->msg_sz, 96);
  EXPECT_EQ(opened_->msg_vmpck, 0);
  // The shared request page carries ciphertext, not the report data in the clear.
  EXPECT_FALSE(std::equal(data.begin(), data.end(), last_request_.begin() + GHCB_SNP_MSG_HDR_SIZE));
  EXPECT_TRUE(std::all_of(last_request_.begin() + GHCB_SNP_MSG_HDR_SIZE + 96, last_request_.end(),
                          [](uint8_t b) { return b == 0; }))
      << "request page beyond the message must be zero";
  EXPECT_EQ(ch_->seqno, 2u);
  EXPECT_EQ(host_.counter(0), 2u);

  // Second exchange: seqno 3, counters at 4 on both sides.
  ASSERT_EQ(get_report(report), GHCB_ATTEST_OK) << host_error_;
  EXPECT_EQ(opened_->msg_seqno, 3u);
  EXPECT_EQ(ch_->seqno, 4u);
  EXPECT_EQ(host_.counter(0), 4u);
  EXPECT_EQ(count_events("guest_request"), 2u);
}

TEST_F(AttestTest, OtherVmpckAndStoredCounter) {
  const auto keys = test_vmpcks();
  host_ = fw::GuestChannel(keys, {0, 0, 40, 0});
  ASSERT_EQ(ghcb_snp_channel_init(ch_.get(), keys[2].data(), 2, 40, req_->b.data(), gpa(*req_),
                                  rsp_->b.data(), gpa(*rsp_)),
            GHCB_ATTEST_OK);
  std::array<uint8_t, GHCB_SNP_REPORT_SIZE> report{};
  ASSERT_EQ(ghcb_snp_get_report(&ctx_, ch_.get(), report_data().data(), 2, report.data()),
            GHCB_ATTEST_OK)
      << host_error_;
  EXPECT_EQ(opened_->msg_vmpck, 2);
  EXPECT_EQ(opened_->msg_seqno, 41u);
  EXPECT_EQ(ch_->seqno, 42u);
  ghcb_snp_report parsed;
  std::memcpy(&parsed, report.data(), sizeof parsed);
  EXPECT_EQ(parsed.vmpl, 2u);
}

TEST_F(AttestTest, WrongKeyIsRefusedByTheFirmwareAndDisablesTheChannel) {
  uint8_t wrong[32] = {1};
  ASSERT_EQ(ghcb_snp_channel_init(ch_.get(), wrong, 0, 0, req_->b.data(), gpa(*req_),
                                  rsp_->b.data(), gpa(*rsp_)),
            GHCB_ATTEST_OK);
  std::array<uint8_t, GHCB_SNP_REPORT_SIZE> report{};
  EXPECT_EQ(get_report(report), GHCB_ATTEST_FW_ERROR);
  EXPECT_NE(host_error_.find("authentication"), std::string::npos) << host_error_;
  EXPECT_EQ(static_cast<uint32_t>(ch_->exit_info_2), 0x16u) << "INVALID_PARAM (firmware model)";
  EXPECT_TRUE(key_wiped());
  EXPECT_EQ(get_report(report), GHCB_ATTEST_DISABLED);
  EXPECT_EQ(requests_, 1u) << "a disabled channel must not send";
}

// One malicious or broken answer per result value.
struct BadAnswer {
  const char* name;
  enum ghcb_attest_result expected;
  std::function<void(AttestTest&)> arrange;
};

class AttestBadAnswerTest : public AttestTest, public ::testing::WithParamInterface<int> {};

fw::Vmpck key0() { return test_vmpcks()[0]; }

// Seals `payload` as the host would, but with chosen header values.
auto reseal_with(int dseq, int dtype, int version, uint8_t vmpck) {
  return [=](const fw::GuestMsgHeader& rq, std::span<const uint8_t> payload) {
    auto s = fw::seal_message(key0(), static_cast<fw::MsgType>(rq.msg_type + dtype),
                              static_cast<uint8_t>(version < 0 ? rq.msg_version : version),
                              rq.msg_seqno + static_cast<uint64_t>(dseq), vmpck, payload);
    return s ? *s : std::vector<uint8_t>{};
  };
}

std::vector<uint8_t> status_only(uint32_t status, uint32_t report_size, size_t report_bytes) {
  std::vector<uint8_t> p(0x20 + report_bytes, 0);
  std::memcpy(p.data(), &status, 4);
  std::memcpy(p.data() + 4, &report_size, 4);
  return p;
}

const std::vector<BadAnswer>& bad_answers() {
  static const std::vector<BadAnswer> k = {
      {"ghcb_error_answer", GHCB_ATTEST_GHCB_CALL,
       [](AttestTest& t) { t.kvm().options().inject_vector = 13; }},
      {"vmm_busy", GHCB_ATTEST_VMM_ERROR, [](AttestTest& t) { t.exit_info_2_ = 2ull << 32; }},
      {"fw_status", GHCB_ATTEST_FW_ERROR, [](AttestTest& t) { t.exit_info_2_ = 0x16; }},
      {"seqno_plus_3", GHCB_ATTEST_RSP_SEQNO,
       [](AttestTest& t) { t.reseal_ = reseal_with(3, 1, -1, 0); }},
      {"seqno_replayed", GHCB_ATTEST_RSP_SEQNO,
       [](AttestTest& t) { t.reseal_ = reseal_with(0, 1, -1, 0); }},
      {"type_plus_2", GHCB_ATTEST_RSP_TYPE,
       [](AttestTest& t) { t.reseal_ = reseal_with(1, 2, -1, 0); }},
      {"version_2", GHCB_ATTEST_RSP_VERSION,
       [](AttestTest& t) { t.reseal_ = reseal_with(1, 1, 2, 0); }},
      {"algo_2", GHCB_ATTEST_RSP_ALGO,
       [](AttestTest& t) { t.tamper_ = [](auto& m) { m[0x30] = 2; }; }},
      {"hdr_version_2", GHCB_ATTEST_RSP_HDR_VERSION,
       [](AttestTest& t) { t.tamper_ = [](auto& m) { m[0x31] = 2; }; }},
      {"hdr_sz_97", GHCB_ATTEST_RSP_HDR_SZ,
       [](AttestTest& t) { t.tamper_ = [](auto& m) { m[0x32] = 97; }; }},
      {"msg_vmpck_1", GHCB_ATTEST_RSP_VMPCK,
       [](AttestTest& t) { t.reseal_ = reseal_with(1, 1, -1, 1); }},
      {"msg_sz_beyond_page", GHCB_ATTEST_RSP_MSG_SZ,
       [](AttestTest& t) {
         t.tamper_ = [](auto& m) {
           m[0x36] = 0xA1;  // 4001 = 0x0FA1 > 4000 payload bytes in a page
           m[0x37] = 0x0F;
         };
       }},
      {"msg_sz_0xffff", GHCB_ATTEST_RSP_MSG_SZ,
       [](AttestTest& t) { t.tamper_ = [](auto& m) { m[0x36] = m[0x37] = 0xFF; }; }},
      {"tag_bit", GHCB_ATTEST_RSP_AUTH,
       [](AttestTest& t) { t.tamper_ = [](auto& m) { m[5] ^= 4; }; }},
      {"ciphertext_byte", GHCB_ATTEST_RSP_AUTH,
       [](AttestTest& t) { t.tamper_ = [](auto& m) { m[0x60 + 0x90] ^= 1; }; }},
      {"aad_reserved_byte", GHCB_ATTEST_RSP_AUTH,
       [](AttestTest& t) { t.tamper_ = [](auto& m) { m[0x50] ^= 1; }; }},
      {"msg_sz_shrunk", GHCB_ATTEST_RSP_AUTH,
       [](AttestTest& t) {
         t.tamper_ = [](auto& m) { m[0x36] = static_cast<uint8_t>(m[0x36] - 16); };
       }},
      {"payload_16_bytes", GHCB_ATTEST_RSP_SHORT,
       [](AttestTest& t) { t.payload_override_ = std::vector<uint8_t>(16, 0); }},
      {"status_invalid_param", GHCB_ATTEST_REPORT_STATUS,
       [](AttestTest& t) { t.payload_override_ = status_only(0x16, 0, 0); }},
      {"report_size_0x4a1", GHCB_ATTEST_REPORT_SIZE,
       [](AttestTest& t) { t.payload_override_ = status_only(0, 0x4A1, 0x4A0); }},
      {"report_truncated", GHCB_ATTEST_REPORT_TRUNCATED,
       [](AttestTest& t) { t.payload_override_ = status_only(0, 0x4A0, 100); }},
  };
  return k;
}

TEST_P(AttestBadAnswerTest, RejectedWithItsOwnResult) {
  const BadAnswer& bad = bad_answers()[static_cast<size_t>(GetParam())];
  SCOPED_TRACE(bad.name);
  bad.arrange(*this);
  std::array<uint8_t, GHCB_SNP_REPORT_SIZE> report{};
  report.fill(0xEE);
  const enum ghcb_attest_result r = get_report(report);
  EXPECT_EQ(r, bad.expected) << "expected " << ghcb_attest_result_name(bad.expected) << ", got "
                             << ghcb_attest_result_name(r) << " (host: " << host_error_ << ")";
  if (bad.expected == GHCB_ATTEST_REPORT_STATUS) {
    EXPECT_EQ(ch_->report_status, 0x16u);
  }
  if (bad.expected == GHCB_ATTEST_GHCB_CALL) {
    EXPECT_EQ(ch_->call_result, GHCB_EXCEPTION);
  }
  if (bad.expected == GHCB_ATTEST_VMM_ERROR) {
    EXPECT_EQ(ch_->exit_info_2, 2ull << 32);
  }
  // An exception answer comes from KVM before the request reaches the firmware.
  const unsigned sent = bad.expected == GHCB_ATTEST_GHCB_CALL ? 0u : 1u;
  EXPECT_EQ(requests_, sent);
  EXPECT_TRUE(std::all_of(report.begin(), report.end(), [](uint8_t b) { return b == 0xEE; }))
      << "no report bytes may be written on failure";
  const bool authentic =
      bad.expected == GHCB_ATTEST_RSP_SHORT || bad.expected == GHCB_ATTEST_REPORT_STATUS ||
      bad.expected == GHCB_ATTEST_REPORT_SIZE || bad.expected == GHCB_ATTEST_REPORT_TRUNCATED;
  if (authentic) {
    // The response authenticated and both sides advanced: the channel stays usable.
    EXPECT_FALSE(key_wiped());
    EXPECT_EQ(ch_->seqno, 2u);
    payload_override_.reset();
    EXPECT_EQ(get_report(report), GHCB_ATTEST_OK) << host_error_;
    EXPECT_EQ(ch_->seqno, 4u);
    EXPECT_EQ(report, expected_report_);
  } else {
    // Any other failure after the request went out wipes the key (Linux snp_disable_vmpck).
    EXPECT_TRUE(key_wiped());
    EXPECT_EQ(get_report(report), GHCB_ATTEST_DISABLED);
    EXPECT_EQ(requests_, sent);
  }
}

INSTANTIATE_TEST_SUITE_P(All, AttestBadAnswerTest,
                         ::testing::Range(0, static_cast<int>(bad_answers().size())),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return std::string(bad_answers()[static_cast<size_t>(p.param)].name);
                         });

TEST_F(AttestTest, BadArgumentsAreRefusedBeforeAnyRequest) {
  const auto keys = test_vmpcks();
  auto* ch = ch_.get();
  uint8_t* rq = req_->b.data();
  uint8_t* rs = rsp_->b.data();
  EXPECT_EQ(ghcb_snp_channel_init(ch, keys[0].data(), 4, 0, rq, gpa(*req_), rs, gpa(*rsp_)),
            GHCB_ATTEST_BAD_ARGUMENT);
  EXPECT_EQ(ghcb_snp_channel_init(ch, keys[0].data(), 0, 0, rq, gpa(*req_), rs, gpa(*req_)),
            GHCB_ATTEST_BAD_ARGUMENT);
  EXPECT_EQ(ghcb_snp_channel_init(ch, keys[0].data(), 0, 0, rq, gpa(*req_) + 8, rs, gpa(*rsp_)),
            GHCB_ATTEST_BAD_ARGUMENT);
  EXPECT_EQ(ghcb_snp_channel_init(ch, keys[0].data(), 0, 0, rq + 8, gpa(*req_), rs, gpa(*rsp_)),
            GHCB_ATTEST_BAD_ARGUMENT);
  EXPECT_EQ(ghcb_snp_channel_init(ch, nullptr, 0, 0, rq, gpa(*req_), rs, gpa(*rsp_)),
            GHCB_ATTEST_BAD_ARGUMENT);
  std::array<uint8_t, GHCB_SNP_REPORT_SIZE> report{};
  EXPECT_EQ(get_report(report), GHCB_ATTEST_DISABLED) << "a failed init leaves it unusable";

  ASSERT_EQ(ghcb_snp_channel_init(ch, keys[0].data(), 0, 0, rq, gpa(*req_), rs, gpa(*rsp_)),
            GHCB_ATTEST_OK);
  EXPECT_EQ(ghcb_snp_get_report(&ctx_, ch, report_data().data(), 4, report.data()),
            GHCB_ATTEST_BAD_ARGUMENT);
  const uint8_t* out = nullptr;
  size_t n = 0;
  std::vector<uint8_t> big(GHCB_SNP_MSG_MAX_PAYLOAD + 1);
  EXPECT_EQ(ghcb_snp_guest_request(&ctx_, ch, 5, 1, big.data(), big.size(), &out, &n),
            GHCB_ATTEST_BAD_ARGUMENT);
  EXPECT_EQ(ghcb_snp_guest_request(&ctx_, ch, 0xFF, 1, big.data(), 4, &out, &n),
            GHCB_ATTEST_BAD_ARGUMENT);

  // Sequence space (Linux: a count reaching UINT32_MAX is refused).
  ASSERT_EQ(
      ghcb_snp_channel_init(ch, keys[0].data(), 0, 0xFFFFFFFEull, rq, gpa(*req_), rs, gpa(*rsp_)),
      GHCB_ATTEST_OK);
  EXPECT_EQ(get_report(report), GHCB_ATTEST_SEQNO_EXHAUSTED);

  // No GHCB, or GHCB protocol 1: unsupported.
  ASSERT_EQ(ghcb_snp_channel_init(ch, keys[0].data(), 0, 0, rq, gpa(*req_), rs, gpa(*rsp_)),
            GHCB_ATTEST_OK);
  ctx_.version = 1;
  EXPECT_EQ(get_report(report), GHCB_ATTEST_UNSUPPORTED);
  EXPECT_EQ(requests_, 0u);
  EXPECT_FALSE(key_wiped()) << "nothing was sent: the key stays";
}

TEST(AttestResultName, EveryValueHasItsOwnName) {
  std::set<std::string> names;
  for (int v = GHCB_ATTEST_OK; v <= GHCB_ATTEST_REPORT_TRUNCATED; ++v) {
    const std::string n = ghcb_attest_result_name(static_cast<ghcb_attest_result>(v));
    EXPECT_NE(n, "unknown") << v;
    names.insert(n);
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(GHCB_ATTEST_REPORT_TRUNCATED + 1));
}

}  // namespace
}  // namespace snpemu::test
