// A whole SNP launch through the mailbox (PLATFORM-FACTS 8.10 order): GCTX_CREATE ->
// LAUNCH_START -> ACTIVATE -> LAUNCH_UPDATE of every page type -> VMSA LAUNCH_UPDATE ->
// LAUNCH_FINISH, then a GUEST_REQUEST report verified with OpenSSL against the exported VCEK PEM.
// The expected digest is an independent PAGE_INFO chain built from the byte offsets of
// PLATFORM-FACTS 8.4 with OpenSSL's SHA384 (not with LaunchDigest).
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <cstring>

#include "firmware/firmware.h"
#include "test/firmware/mailbox_fixture.h"
#include "test/firmware/test_util.h"

namespace snpemu::fw {
namespace {

using test::Host;

constexpr Hpa kGctx{0x10000};
constexpr Asid kAsid{1};
constexpr Hpa kReqPage{0x400000};
constexpr Hpa kRspPage{0x401000};

// One PAGE_INFO step, by hand: PLATFORM-FACTS 8.4.
std::array<uint8_t, 48> step(const std::array<uint8_t, 48>& cur, const std::vector<uint8_t>* page,
                             uint8_t type, uint64_t gpa, uint8_t vmpl1 = 0) {
  uint8_t info[0x70] = {};
  std::memcpy(info, cur.data(), 48);
  if (page != nullptr) SHA384(page->data(), page->size(), info + 0x30);
  info[0x60] = 0x70;
  info[0x62] = type;
  info[0x66] = vmpl1;
  std::memcpy(info + 0x68, &gpa, 8);
  std::array<uint8_t, 48> out{};
  SHA384(info, sizeof info, out.data());
  return out;
}

std::vector<uint8_t> pattern(uint8_t seed) {
  std::vector<uint8_t> p(kPageSize);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(seed + i * 7);
  return p;
}

// Verifies R, S (little endian, 72 bytes each at 0x2A0 / 0x2E8) over bytes 0..0x29F with the PEM
// key, using only OpenSSL.
bool openssl_verifies(const std::string& pem, const std::vector<uint8_t>& report) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return false;
  uint8_t r_be[48], s_be[48];
  for (int i = 0; i < 48; ++i) {
    r_be[i] = report[0x2A0 + 47 - i];
    s_be[i] = report[0x2E8 + 47 - i];
  }
  ECDSA_SIG* sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(r_be, 48, nullptr), BN_bin2bn(s_be, 48, nullptr));
  uint8_t* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = der_len > 0 &&
                  EVP_DigestVerifyInit(ctx, nullptr, EVP_sha384(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx, der, der_len, report.data(), 0x2A0) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  EVP_PKEY_free(key);
  return ok;
}

struct Launched {
  Host host = Host::make();
  std::array<uint8_t, 48> expected{};
};

// Launches one guest with every page type; fills `out.expected` independently.
void launch(Launched& out) {
  Host& h = out.host;
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.start_guest(kGctx, kAsid), Status::kSuccess) << h.fw->last_error();
  std::array<uint8_t, 48> d{};
  struct Page {
    Hpa hpa;
    uint64_t gpa;
    PageType type;
    uint8_t vmpl1;
  };
  const Page pages[] = {
      {Hpa{0x200000}, 0x100000, PageType::kNormal, 0},
      {Hpa{0x201000}, 0x101000, PageType::kNormal, rmp::perm::kRead},
      {Hpa{0x202000}, 0x102000, PageType::kZero, 0},
      {Hpa{0x203000}, 0x103000, PageType::kUnmeasured, 0},
      {Hpa{0x204000}, 0x104000, PageType::kSecrets, 0},
      {Hpa{0x205000}, 0x105000, PageType::kCpuid, 0},
      {Hpa{0x300000}, kVmsaGpa.value, PageType::kVmsa, 0},
  };
  for (const Page& p : pages) {
    std::vector<uint8_t> contents = pattern(static_cast<uint8_t>(p.hpa.value >> 12));
    if (p.type == PageType::kCpuid) {
      CpuidPage cp;
      cp.count = 1;
      cp.entries[0].eax_in = 1;
      cp.entries[0].eax = 0x00A00F11;
      const auto b = serialize_cpuid_page(cp);
      contents.assign(b.begin(), b.end());
    }
    h.write(p.hpa, contents);
    ASSERT_EQ(h.make_pre_guest(p.hpa, kAsid, Gpa{p.gpa}), rmp::RmpRc::kSuccess);
    ASSERT_EQ(h.launch_update(kGctx, p.hpa, p.type, p.vmpl1), Status::kSuccess)
        << page_type_name(p.type) << " at gpa " << std::hex << p.gpa << ": "
        << h.fw->last_error();
    const bool measured = p.type == PageType::kNormal || p.type == PageType::kVmsa;
    d = step(d, measured ? &contents : nullptr, static_cast<uint8_t>(p.type), p.gpa, p.vmpl1);
    EXPECT_TRUE(h.entry(p.hpa).immutable) << "page stays pre-guest until LAUNCH_FINISH";
  }
  std::array<uint8_t, 32> host_data{};
  host_data[0] = 0xAB;
  ASSERT_EQ(h.launch_finish(kGctx, host_data), Status::kSuccess) << h.fw->last_error();
  out.expected = d;
}

TEST(MailboxLaunch, DigestEqualsIndependentPageInfoChain) {
  Launched l;
  launch(l);
  if (HasFatalFailure()) return;
  const GuestContextInfo* g = l.host.fw->guest(kGctx);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(test::to_hex(g->digest.digest()), test::to_hex(l.expected));
  EXPECT_EQ(g->state, GuestState::kRunning);
  EXPECT_TRUE(l.host.fw->check_invariants().empty());
}

TEST(MailboxLaunch, FinishMakesPagesGuestValidAndWritesSecretsAndZero) {
  Launched l;
  launch(l);
  if (HasFatalFailure()) return;
  Host& h = l.host;
  for (uint64_t pa : {0x200000, 0x201000, 0x202000, 0x203000, 0x204000, 0x205000, 0x300000}) {
    const rmp::RmpEntry e = h.entry(Hpa{pa});
    EXPECT_TRUE(e.assigned && e.validated && !e.immutable && e.asid == kAsid)
        << "expected guest-valid at hpa 0x" << std::hex << pa << ", got " << e.to_string();
    EXPECT_EQ(e.vmsa, pa == 0x300000) << "VMSA bit at hpa 0x" << std::hex << pa;
  }
  EXPECT_EQ(h.entry(Hpa{0x201000}).vmpl_perms[0], rmp::perm::kRead) << "VMPL1 perms applied";
  EXPECT_EQ(h.read(Hpa{0x202000}, kPageSize), std::vector<uint8_t>(kPageSize, 0))
      << "ZERO page zeroed";
  auto secrets = parse_secrets_page(h.read(Hpa{0x204000}, kPageSize));
  ASSERT_TRUE(secrets.has_value());
  auto vmpcks = derive_vmpcks(test::test_seed(), h.fw->guest(kGctx)->guest_id);
  ASSERT_TRUE(vmpcks.has_value());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(secrets->vmpck[i], (*vmpcks)[i]) << "VMPCK" << i << " in the secrets page";
  }
  EXPECT_EQ(secrets->version, kSecretsPageVersion);
  // The context page is a Context page; the hypervisor cannot RMPUPDATE it.
  EXPECT_EQ(h.make_shared(kGctx), rmp::RmpRc::kFailPermission);
}

// The cycle-charging hook: each command reports the work it did (no cycles charged yet).
TEST(MailboxLaunch, LastWorkCountsTheCommandsWork) {
  Host h = Host::make();
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  ASSERT_EQ(h.start_guest(kGctx, kAsid), Status::kSuccess);
  ASSERT_EQ(h.make_pre_guest(Hpa{0x200000}, kAsid, Gpa{0x100000}), rmp::RmpRc::kSuccess);
  ASSERT_EQ(h.launch_update(kGctx, Hpa{0x200000}, PageType::kNormal), Status::kSuccess);
  EXPECT_EQ(h.fw->last_work().pages_hashed, 1u);
  EXPECT_EQ(h.fw->last_work().digest_steps, 1u);
  EXPECT_EQ(h.fw->last_work().rmp_reads, 1u);
  ASSERT_EQ(h.launch_finish(kGctx), Status::kSuccess);
  EXPECT_EQ(h.fw->last_work().rmp_writes, 1u) << "one launched page made guest-valid";
  EXPECT_EQ(h.fw->last_work().pages_hashed, 0u) << "counters reset per command";
}

class GuestRequest : public ::testing::Test {
 protected:
  void SetUp() override {
    launch(l_);
    if (HasFatalFailure()) return;
    ASSERT_EQ(l_.host.make_firmware(kRspPage), rmp::RmpRc::kSuccess);
    auto s = parse_secrets_page(l_.host.read(Hpa{0x204000}, kPageSize));
    ASSERT_TRUE(s.has_value());
    vmpck0_ = s->vmpck[0];
  }
  std::vector<uint8_t> sealed_report_req(uint64_t seqno, uint8_t fill) {
    MsgReportReq rq;
    rq.report_data.fill(fill);
    auto msg = seal_message(vmpck0_, MsgType::kReportReq, 1, seqno, 0, serialize_report_req(rq));
    EXPECT_TRUE(msg.has_value());
    return msg.value_or(std::vector<uint8_t>{});
  }
  Status request(const std::vector<uint8_t>& msg) {
    std::vector<uint8_t> page(kPageSize, 0);
    std::copy(msg.begin(), msg.end(), page.begin());
    l_.host.write(kReqPage, page);
    CmdGctxAddrs c{kGctx, kReqPage, kRspPage};
    return l_.host.run(CommandId::kSnpGuestRequest, serialize(c, 3));
  }
  Launched l_;
  Vmpck vmpck0_{};
};

TEST_F(GuestRequest, ReportVerifiesWithOpensslAndCarriesDigestAndData) {
  ASSERT_EQ(request(sealed_report_req(1, 0x5A)), Status::kSuccess) << l_.host.fw->last_error();
  auto rsp_msg = open_message(vmpck0_, l_.host.read(kRspPage, kPageSize));
  ASSERT_TRUE(rsp_msg.has_value()) << rsp_msg.error().message;
  EXPECT_EQ(rsp_msg->header.msg_seqno, 2u);
  EXPECT_EQ(rsp_msg->header.msg_type, static_cast<uint8_t>(MsgType::kReportRsp));
  auto rsp = parse_report_rsp(rsp_msg->payload);
  ASSERT_TRUE(rsp.has_value()) << rsp.error().message;
  ASSERT_EQ(rsp->status, 0u);
  EXPECT_EQ(test::to_hex(rsp->report.measurement), test::to_hex(l_.expected));
  std::array<uint8_t, 64> want{};
  want.fill(0x5A);
  EXPECT_EQ(rsp->report.report_data, want);
  EXPECT_EQ(rsp->report.policy, test::kPolicy);
  EXPECT_EQ(rsp->report.host_data[0], 0xAB);
  auto pem = l_.host.fw->vcek().public_key_pem();
  ASSERT_TRUE(pem.has_value());
  std::vector<uint8_t> bytes(rsp_msg->payload.begin() + 0x20, rsp_msg->payload.end());
  ASSERT_EQ(bytes.size(), kReportSize);
  EXPECT_TRUE(openssl_verifies(*pem, bytes)) << "report signature against the exported VCEK PEM";
  bytes[0x50] ^= 1;
  EXPECT_FALSE(openssl_verifies(*pem, bytes)) << "a changed REPORT_DATA must not verify";
}

TEST_F(GuestRequest, ReplayedAndTamperedMessagesAreRejectedAndChangeNothing) {
  const auto first = sealed_report_req(1, 1);
  ASSERT_EQ(request(first), Status::kSuccess) << l_.host.fw->last_error();
  const auto rsp_before = l_.host.read(kRspPage, kPageSize);
  const Digest384 fp = l_.host.fw->fingerprint();
  // Replay of seqno 1. Status: INVALID_PARAM (UNCONFIRMED choice of guest_msg.cc).
  EXPECT_EQ(request(first), Status::kInvalidParam);
  EXPECT_NE(l_.host.fw->last_error().find("replay"), std::string::npos) << l_.host.fw->last_error();
  // Tampered ciphertext at the right seqno.
  auto tampered = sealed_report_req(3, 2);
  tampered[0x60] ^= 0x80;
  EXPECT_EQ(request(tampered), Status::kInvalidParam);
  // Tampered AAD (msg_type byte is authenticated).
  auto aad = sealed_report_req(3, 2);
  aad[0x35] ^= 1;
  EXPECT_EQ(request(aad), Status::kInvalidParam);
  EXPECT_EQ(l_.host.read(kRspPage, kPageSize), rsp_before) << "response page untouched";
  EXPECT_EQ(l_.host.fw->fingerprint(), fp) << "failed requests change no firmware state";
  EXPECT_EQ(l_.host.fw->guest(kGctx)->channel.counter(0), 2u);
  // The genuine next message still works.
  EXPECT_EQ(request(sealed_report_req(3, 2)), Status::kSuccess) << l_.host.fw->last_error();
}

TEST_F(GuestRequest, ResponsePageMustBeAFirmwarePage) {
  ASSERT_EQ(l_.host.make_shared(Hpa{0x402000}), rmp::RmpRc::kSuccess);
  std::vector<uint8_t> page(kPageSize, 0);
  const auto msg = sealed_report_req(1, 1);
  std::copy(msg.begin(), msg.end(), page.begin());
  l_.host.write(kReqPage, page);
  CmdGctxAddrs c{kGctx, kReqPage, Hpa{0x402000}};
  EXPECT_EQ(l_.host.run(CommandId::kSnpGuestRequest, serialize(c, 3)), Status::kInvalidPageState);
  EXPECT_EQ(l_.host.fw->guest(kGctx)->channel.counter(0), 0u) << "sequence number not consumed";
}

TEST_F(GuestRequest, KeyRequestAnswersDeterministicKey) {
  MsgKeyReq kr;
  kr.guest_field_select = kKeyFieldMeasurement;
  auto msg = seal_message(vmpck0_, MsgType::kKeyReq, 1, 1, 0, serialize_key_req(kr));
  ASSERT_TRUE(msg.has_value());
  ASSERT_EQ(request(*msg), Status::kSuccess) << l_.host.fw->last_error();
  auto rsp_msg = open_message(vmpck0_, l_.host.read(kRspPage, kPageSize));
  ASSERT_TRUE(rsp_msg.has_value());
  auto rsp = parse_key_rsp(rsp_msg->payload);
  ASSERT_TRUE(rsp.has_value());
  EXPECT_EQ(rsp->status, 0u);
  KeyInputs in;
  in.policy = test::kPolicy;
  in.measurement = l_.expected;
  in.current_tcb = test::test_config().current_tcb;
  auto want = derive_guest_key(test::test_seed(), kr, in, Vmpl{0});
  ASSERT_TRUE(want.has_value());
  EXPECT_EQ(rsp->derived_key, *want);
}

}  // namespace
}  // namespace snpemu::fw
