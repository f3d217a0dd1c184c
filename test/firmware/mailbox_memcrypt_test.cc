// SNP_LAUNCH_UPDATE with memory encryption: every launched page is left encrypted in place with
// the guest's VEK at its host-physical address (the host reads ciphertext; memcrypt::apply with
// the key in the ASID's slot gives back what the guest must see), the measurement is over the
// plaintext (the digest equals a launch on a host without encryption), and the pages the
// hypervisor and firmware exchange (a refused CPUID page, guest request and response pages)
// stay plain. Firmware.h, mailbox section; PLATFORM-FACTS 8.3, 8.4, 8.8.
#include <gtest/gtest.h>

#include <cstring>

#include "base/hex.h"
#include "emu/memcrypt/memcrypt.h"
#include "firmware/firmware.h"
#include "test/firmware/mailbox_fixture.h"
#include "test/firmware/test_util.h"

namespace snpemu::fw {
namespace {

using test::Host;

constexpr Hpa kGctx{0x10000};
constexpr Asid kAsid{7};
constexpr Hpa kReqPage{0x400000};
constexpr Hpa kRspPage{0x401000};
constexpr Hpa kSecretsHpa{0x204000};

std::vector<uint8_t> pattern(uint8_t seed) {
  std::vector<uint8_t> p(kPageSize);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(seed + i * 13 + (i >> 8));
  return p;
}

std::vector<uint8_t> cpuid_page_bytes() {
  CpuidPage cp;
  cp.count = 1;
  cp.entries[0].eax_in = 1;
  cp.entries[0].eax = 0x00A00F11;
  const auto b = serialize_cpuid_page(cp);
  return {b.begin(), b.end()};
}

std::vector<uint8_t> decrypt(const std::vector<uint8_t>& cipher, const memcrypt::Key& key,
                             Hpa hpa) {
  std::vector<uint8_t> plain = cipher;
  memcrypt::apply(key, hpa.value, plain);
  return plain;
}

struct Page {
  Hpa hpa;
  uint64_t gpa;
  PageType type;
  std::vector<uint8_t> input;     // what the hypervisor wrote before LAUNCH_UPDATE
  std::vector<uint8_t> expected;  // what the guest must read (filled in by launch())
};

std::vector<Page> every_page_type() {
  std::vector<Page> pages = {
      {Hpa{0x200000}, 0x100000, PageType::kNormal, pattern(1), {}},
      {Hpa{0x201000}, 0x101000, PageType::kNormal, pattern(2), {}},
      {Hpa{0x202000}, 0x102000, PageType::kZero, pattern(3), {}},
      {Hpa{0x203000}, 0x103000, PageType::kUnmeasured, pattern(4), {}},
      {kSecretsHpa, 0x104000, PageType::kSecrets, pattern(5), {}},
      {Hpa{0x205000}, 0x105000, PageType::kCpuid, cpuid_page_bytes(), {}},
      {Hpa{0x300000}, kVmsaGpa.value, PageType::kVmsa, pattern(6), {}},
  };
  for (Page& p : pages) p.expected = p.input;
  return pages;
}

// GCTX_CREATE, LAUNCH_START, ACTIVATE, LAUNCH_UPDATE of `pages` (in order), LAUNCH_FINISH.
void launch(Host& h, std::vector<Page>& pages) {
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.start_guest(kGctx, kAsid), Status::kSuccess) << h.fw->last_error();
  for (Page& p : pages) {
    h.write(p.hpa, p.input);
    ASSERT_EQ(h.make_pre_guest(p.hpa, kAsid, Gpa{p.gpa}), rmp::RmpRc::kSuccess);
    ASSERT_EQ(h.launch_update(kGctx, p.hpa, p.type), Status::kSuccess)
        << page_type_name(p.type) << " at hpa " << hex(p.hpa.value) << ": "
        << h.fw->last_error();
  }
  ASSERT_EQ(h.launch_finish(kGctx), Status::kSuccess) << h.fw->last_error();
  // What the guest must see: zeros for ZERO, the firmware's page for SECRETS, else the input.
  const GuestContextInfo* g = h.fw->guest(kGctx);
  ASSERT_NE(g, nullptr);
  SecretsInputs in;
  in.fms = test::test_config().fms;
  const auto secrets = serialize_secrets_page(build_secrets_page(g->vmpcks, in));
  for (Page& p : pages) {
    if (p.type == PageType::kZero) p.expected.assign(kPageSize, 0);
    if (p.type == PageType::kSecrets) p.expected.assign(secrets.begin(), secrets.end());
  }
}

TEST(MailboxMemcrypt, EveryLaunchedPageIsCiphertextThatTheSlotKeyOpens) {
  Host h = Host::make_encrypted();
  std::vector<Page> pages = every_page_type();
  launch(h, pages);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(h.fw->encrypts_memory());
  const std::optional<memcrypt::Key> key = h.keys->key(kAsid);
  ASSERT_TRUE(key.has_value()) << "no key in the slot of ASID " << kAsid.value;
  const auto vek = derive_vek(test::test_seed(), h.fw->guest(kGctx)->guest_id, pfn_of(kGctx));
  ASSERT_TRUE(vek.has_value());
  EXPECT_EQ(*key, *vek) << "the slot holds the documented VEK of the context";
  for (const Page& p : pages) {
    const std::vector<uint8_t> raw = h.read(p.hpa, kPageSize);
    EXPECT_NE(raw, p.expected) << page_type_name(p.type) << " page at hpa " << hex(p.hpa.value)
                               << ": expected ciphertext, the host reads the plaintext";
    EXPECT_EQ(decrypt(raw, *key, p.hpa), p.expected)
        << page_type_name(p.type) << " page at hpa " << hex(p.hpa.value)
        << " does not decrypt to what the guest must see";
  }
  EXPECT_TRUE(h.fw->check_invariants().empty());
}

TEST(MailboxMemcrypt, ZeroPageDecryptsToZerosAndIsNotZeroInMemory) {
  Host h = Host::make_encrypted();
  std::vector<Page> pages = {{Hpa{0x202000}, 0x102000, PageType::kZero, pattern(9), {}}};
  launch(h, pages);
  if (HasFatalFailure()) return;
  const std::vector<uint8_t> raw = h.read(Hpa{0x202000}, kPageSize);
  EXPECT_NE(raw, std::vector<uint8_t>(kPageSize, 0)) << "a ZERO page must be encrypted zeros";
  EXPECT_EQ(decrypt(raw, *h.keys->key(kAsid), Hpa{0x202000}),
            std::vector<uint8_t>(kPageSize, 0));
}

TEST(MailboxMemcrypt, VmsaDecryptsToTheInputAndOnlyAtItsAddress) {
  Host h = Host::make_encrypted();
  std::vector<Page> pages = {{Hpa{0x300000}, kVmsaGpa.value, PageType::kVmsa, pattern(0x42), {}}};
  pages[0].expected = pages[0].input;
  launch(h, pages);
  if (HasFatalFailure()) return;
  const memcrypt::Key key = *h.keys->key(kAsid);
  const std::vector<uint8_t> raw = h.read(Hpa{0x300000}, kPageSize);
  EXPECT_EQ(decrypt(raw, key, Hpa{0x300000}), pages[0].input) << "VMSA at hpa 0x300000";
  // The keystream is address-tweaked: the same ciphertext read as if at another host address
  // (a page moved without re-encryption) is garbage.
  EXPECT_NE(decrypt(raw, key, Hpa{0x301000}), pages[0].input);
  EXPECT_TRUE(h.entry(Hpa{0x300000}).vmsa) << "VMSA bit after LAUNCH_FINISH";
}

TEST(MailboxMemcrypt, MeasurementIsOverThePlaintext) {
  Host plain = Host::make();
  Host enc = Host::make_encrypted();
  std::vector<Page> a = every_page_type(), b = every_page_type();
  launch(plain, a);
  if (HasFatalFailure()) return;
  launch(enc, b);
  if (HasFatalFailure()) return;
  EXPECT_FALSE(plain.fw->encrypts_memory());
  EXPECT_EQ(test::to_hex(enc.fw->guest(kGctx)->digest.digest()),
            test::to_hex(plain.fw->guest(kGctx)->digest.digest()))
      << "encryption must not change the launch digest";
  // Without a KeyTable the pages stay as the guest must see them (behaviour of old).
  for (const Page& p : a) {
    EXPECT_EQ(plain.read(p.hpa, kPageSize), p.expected)
        << page_type_name(p.type) << " page at hpa " << hex(p.hpa.value) << " on a plain host";
  }
}

TEST(MailboxMemcrypt, WorkCountsTheEncryption) {
  Host h = Host::make_encrypted();
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  ASSERT_EQ(h.start_guest(kGctx, kAsid), Status::kSuccess) << h.fw->last_error();
  ASSERT_EQ(h.make_pre_guest(Hpa{0x200000}, kAsid, Gpa{0x100000}), rmp::RmpRc::kSuccess);
  ASSERT_EQ(h.launch_update(kGctx, Hpa{0x200000}, PageType::kNormal), Status::kSuccess);
  EXPECT_EQ(h.fw->last_work().pages_encrypted, 1u);
  EXPECT_EQ(h.fw->last_work().pages_written, 1u) << "the page is written back encrypted";
  EXPECT_EQ(h.fw->last_work().pages_hashed, 1u);
}

TEST(MailboxMemcrypt, RefusedCpuidPageIsWrittenBackPlain) {
  Host h = Host::make_encrypted();
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  ASSERT_EQ(h.start_guest(kGctx, kAsid), Status::kSuccess) << h.fw->last_error();
  CpuidPage cp;
  cp.count = 1;
  cp.entries[0].eax_in = 0x8000001F;  // no rule in the fixture: its outputs are zeroed
  cp.entries[0].ebx = 0x1234;
  h.write(Hpa{0x205000}, serialize_cpuid_page(cp));
  ASSERT_EQ(h.make_pre_guest(Hpa{0x205000}, kAsid, Gpa{0x105000}), rmp::RmpRc::kSuccess);
  const Digest384 before = h.fw->fingerprint();
  ASSERT_EQ(h.launch_update(kGctx, Hpa{0x205000}, PageType::kCpuid), Status::kInvalidParam);
  EXPECT_EQ(h.fw->fingerprint(), before) << "a refused LAUNCH_UPDATE changes no firmware state";
  EXPECT_EQ(h.fw->last_work().pages_encrypted, 0u);
  auto back = parse_cpuid_page(h.read(Hpa{0x205000}, kPageSize));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->count, 1u) << "the corrected page is readable by the hypervisor as is";
  EXPECT_EQ(back->entries[0].eax_in, 0x8000001Fu);
  EXPECT_EQ(back->entries[0].ebx, 0u) << "corrected value, in plaintext";
}

TEST(MailboxMemcrypt, RefusedUpdateLeavesThePagePlain) {
  Host h = Host::make_encrypted();
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  ASSERT_EQ(h.start_guest(kGctx, kAsid), Status::kSuccess) << h.fw->last_error();
  const std::vector<uint8_t> input = pattern(0x77);
  h.write(Hpa{0x200000}, input);
  // Pre-guest for another ASID: INVALID_PAGE_OWNER, nothing written.
  ASSERT_EQ(h.make_pre_guest(Hpa{0x200000}, Asid{kAsid.value + 1}, Gpa{0x100000}),
            rmp::RmpRc::kSuccess);
  EXPECT_EQ(h.launch_update(kGctx, Hpa{0x200000}, PageType::kNormal), Status::kInvalidPageOwner);
  EXPECT_EQ(h.read(Hpa{0x200000}, kPageSize), input) << "page at hpa 0x200000 changed";
}

// The guest request path reads a shared request page and writes a firmware response page: both
// plain, although the guest's private memory (its secrets page) is encrypted.
TEST(MailboxMemcrypt, GuestRequestPagesStayPlain) {
  Host h = Host::make_encrypted();
  std::vector<Page> pages = every_page_type();
  launch(h, pages);
  if (HasFatalFailure()) return;
  const memcrypt::Key key = *h.keys->key(kAsid);
  auto secrets = parse_secrets_page(decrypt(h.read(kSecretsHpa, kPageSize), key, kSecretsHpa));
  ASSERT_TRUE(secrets.has_value());
  const Vmpck vmpck0 = secrets->vmpck[0];
  ASSERT_EQ(h.make_firmware(kRspPage), rmp::RmpRc::kSuccess);
  MsgReportReq rq;
  rq.report_data.fill(0x3C);
  auto msg = seal_message(vmpck0, MsgType::kReportReq, 1, 1, 0, serialize_report_req(rq));
  ASSERT_TRUE(msg.has_value());
  std::vector<uint8_t> req(kPageSize, 0);
  std::copy(msg->begin(), msg->end(), req.begin());
  h.write(kReqPage, req);
  const CmdGctxAddrs cmd{kGctx, kReqPage, kRspPage};
  ASSERT_EQ(h.run(CommandId::kSnpGuestRequest, serialize(cmd, 3)), Status::kSuccess)
      << h.fw->last_error();
  EXPECT_EQ(h.read(kReqPage, kPageSize), req) << "the request page is not touched";
  auto rsp_msg = open_message(vmpck0, h.read(kRspPage, kPageSize));
  ASSERT_TRUE(rsp_msg.has_value()) << "response page must be plain: " << rsp_msg.error().message;
  auto rsp = parse_report_rsp(rsp_msg->payload);
  ASSERT_TRUE(rsp.has_value()) << rsp.error().message;
  ASSERT_EQ(rsp->status, 0u);
  EXPECT_EQ(rsp->report.measurement, h.fw->guest(kGctx)->digest.digest());
  EXPECT_EQ(rsp->report.report_data[0], 0x3C);
}

}  // namespace
}  // namespace snpemu::fw
