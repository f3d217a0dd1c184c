// SNP_LAUNCH_FINISH through the mailbox with and without an ID block / author key: the checked
// ID block's facts reach the attestation report (FAMILY_ID, IMAGE_ID, GUEST_SVN, ID_KEY_DIGEST,
// AUTHOR_KEY_DIGEST, FLAGS.AUTHOR_KEY_EN); a wrong LD is BAD_MEASUREMENT, a different policy
// POLICY_FAILURE, a bad signature BAD_SIGNATURE, each leaving the guest in the LAUNCH state.
#include <gtest/gtest.h>

#include <cstring>

#include "firmware/firmware.h"
#include "test/firmware/mailbox_fixture.h"
#include "test/firmware/test_util.h"

namespace snpemu::fw {
namespace {

using test::Host;

constexpr Hpa kGctx{0x10000};
constexpr Asid kAsid{2};
constexpr Hpa kIdBlock{0x40000};
constexpr Hpa kIdAuth{0x41000};
constexpr Hpa kReq{0x42000};
constexpr Hpa kRsp{0x43000};
constexpr Hpa kSecrets{0x201000};

ModelVcek key_from(uint8_t fill) {
  std::array<uint8_t, 48> d{};
  d.fill(fill);
  return *ModelVcek::from_private_scalar(d);
}

struct Signed {
  IdBlock block;
  IdAuth auth;
};

Signed sign_id_block(IdBlock block, bool with_author) {
  const ModelVcek id_key = key_from(0x11);
  const ModelVcek author = key_from(0x22);
  Signed s{block, {}};
  s.auth.id_key = *to_snp_public_key(id_key.public_key());
  s.auth.id_block_sig = *id_key.sign(serialize_id_block(block));
  if (with_author) {
    s.auth.author_key = *to_snp_public_key(author.public_key());
    const auto key_bytes = std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(&s.auth.id_key), sizeof(SnpPublicKey));
    s.auth.id_key_sig = *author.sign(key_bytes);
  }
  return s;
}

class IdBlockFinish : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(h_.run(CommandId::kSnpInit), Status::kSuccess);
    ASSERT_EQ(h_.start_guest(kGctx, kAsid), Status::kSuccess) << h_.fw->last_error();
    std::vector<uint8_t> code(kPageSize, 0xC3);
    h_.write(Hpa{0x200000}, code);
    ASSERT_EQ(h_.make_pre_guest(Hpa{0x200000}, kAsid, Gpa{0x100000}), rmp::RmpRc::kSuccess);
    ASSERT_EQ(h_.launch_update(kGctx, Hpa{0x200000}, PageType::kNormal), Status::kSuccess);
    ASSERT_EQ(h_.make_pre_guest(kSecrets, kAsid, Gpa{0x101000}), rmp::RmpRc::kSuccess);
    ASSERT_EQ(h_.launch_update(kGctx, kSecrets, PageType::kSecrets), Status::kSuccess);
    block_.ld = h_.fw->guest(kGctx)->digest.digest();
    block_.family_id.fill(0xFA);
    block_.image_id.fill(0x1D);
    block_.guest_svn = 7;
    block_.policy = test::kPolicy;
  }
  Status finish(const Signed& s, bool auth_key_en) {
    h_.write(kIdBlock, serialize_id_block(s.block));
    h_.write(kIdAuth, serialize_id_auth(s.auth));
    CmdLaunchFinish c;
    c.gctx_paddr = kGctx;
    c.id_block_paddr = kIdBlock;
    c.id_auth_paddr = kIdAuth;
    c.id_block_en = true;
    c.auth_key_en = auth_key_en;
    return h_.run(CommandId::kSnpLaunchFinish, serialize(c));
  }
  void expect_refused(const Signed& s, bool auth_key_en, Status want) {
    const Digest384 fp = h_.fw->fingerprint();
    EXPECT_EQ(finish(s, auth_key_en), want) << h_.fw->last_error();
    EXPECT_EQ(h_.fw->fingerprint(), fp) << "a refused LAUNCH_FINISH changed firmware state";
    EXPECT_TRUE(h_.entry(Hpa{0x200000}).immutable) << "pages stay pre-guest";
  }
  AttestationReport report() {
    auto secrets = parse_secrets_page(h_.read(kSecrets, kPageSize));
    EXPECT_TRUE(secrets.has_value());
    if (!secrets) return {};
    EXPECT_EQ(h_.make_firmware(kRsp), rmp::RmpRc::kSuccess);
    auto msg = seal_message(secrets->vmpck[1], MsgType::kReportReq, 1, 1, 1,
                            serialize_report_req([] {
                              MsgReportReq r;
                              r.vmpl = 2;
                              return r;
                            }()));
    EXPECT_TRUE(msg.has_value());
    std::vector<uint8_t> page(kPageSize, 0);
    std::copy(msg->begin(), msg->end(), page.begin());
    h_.write(kReq, page);
    EXPECT_EQ(h_.run(CommandId::kSnpGuestRequest, serialize(CmdGctxAddrs{kGctx, kReq, kRsp}, 3)),
              Status::kSuccess)
        << h_.fw->last_error();
    auto rsp = open_message(secrets->vmpck[1], h_.read(kRsp, kPageSize));
    EXPECT_TRUE(rsp.has_value());
    if (!rsp) return {};
    auto parsed = parse_report_rsp(rsp->payload);
    EXPECT_TRUE(parsed.has_value() && parsed->status == 0);
    EXPECT_TRUE(verify_report_signature(serialize_report(parsed->report),
                                        h_.fw->vcek().public_key())
                    .has_value());
    return parsed ? parsed->report : AttestationReport{};
  }
  Host h_ = Host::make();
  IdBlock block_;
};

TEST_F(IdBlockFinish, WithoutIdBlockReportHasZeroIds) {
  ASSERT_EQ(h_.launch_finish(kGctx), Status::kSuccess) << h_.fw->last_error();
  const AttestationReport r = report();
  EXPECT_EQ(r.id_key_digest, Digest384{});
  EXPECT_EQ(r.family_id, (std::array<uint8_t, 16>{}));
  EXPECT_EQ(r.vmpl, 2u) << "VMPL 2 requested under VMPCK1";
  EXPECT_EQ(r.flags & kReportFlagAuthorKeyEn, 0u);
}

TEST_F(IdBlockFinish, IdBlockAndAuthorKeyReachTheReport) {
  const Signed s = sign_id_block(block_, true);
  ASSERT_EQ(finish(s, true), Status::kSuccess) << h_.fw->last_error();
  const AttestationReport r = report();
  EXPECT_EQ(r.family_id, block_.family_id);
  EXPECT_EQ(r.image_id, block_.image_id);
  EXPECT_EQ(r.guest_svn, 7u);
  EXPECT_EQ(r.id_key_digest, key_digest(s.auth.id_key));
  EXPECT_EQ(r.author_key_digest, key_digest(s.auth.author_key));
  EXPECT_EQ(r.flags & kReportFlagAuthorKeyEn, kReportFlagAuthorKeyEn);
  EXPECT_EQ(r.measurement, block_.ld);
}

TEST_F(IdBlockFinish, WrongDigestPolicyOrSignatureIsRefused) {
  IdBlock bad_ld = block_;
  bad_ld.ld[0] ^= 1;
  expect_refused(sign_id_block(bad_ld, false), false, Status::kBadMeasurement);
  IdBlock bad_policy = block_;
  bad_policy.policy |= 1u << 19;
  expect_refused(sign_id_block(bad_policy, false), false, Status::kPolicyFailure);
  Signed bad_sig = sign_id_block(block_, true);
  bad_sig.auth.id_block_sig.r[0] ^= 1;
  expect_refused(bad_sig, true, Status::kBadSignature);
  Signed bad_author = sign_id_block(block_, true);
  bad_author.auth.id_key_sig.s[3] ^= 1;
  expect_refused(bad_author, true, Status::kBadSignature);
  EXPECT_EQ(h_.fw->guest(kGctx)->state, GuestState::kLaunch);
  EXPECT_EQ(finish(sign_id_block(block_, false), false), Status::kSuccess) << h_.fw->last_error();
}

}  // namespace
}  // namespace snpemu::fw
