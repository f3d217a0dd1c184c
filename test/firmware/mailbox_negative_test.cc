// Mailbox state-machine and negative tests: every failure returns the spec's status
// (PLATFORM-FACTS 8.9; the UNCONFIRMED choices are those documented in firmware.h / the .cc
// files) and changes nothing: RMP entries of the pages involved and the firmware fingerprint are
// compared before and after.
#include <gtest/gtest.h>

#include <cstring>

#include "firmware/firmware.h"
#include "test/firmware/mailbox_fixture.h"
#include "test/firmware/test_util.h"

namespace snpemu::fw {
namespace {

using test::Host;
using test::kRamSize;

constexpr Hpa kGctx{0x10000};
constexpr Hpa kGctx2{0x11000};
constexpr Asid kAsid{1};
constexpr Hpa kPage{0x200000};
constexpr Gpa kGpa{0x100000};

// Runs `id` with `buf` and checks the status, the last_error line, and that neither the firmware
// fingerprint nor the RMP entries of `pages` changed.
void expect_refused(Host& h, CommandId id, const std::vector<uint8_t>& buf, Status want,
                    std::initializer_list<Hpa> pages = {}) {
  const Digest384 fp = h.fw->fingerprint();
  std::vector<rmp::RmpEntry> before;
  for (Hpa p : pages) before.push_back(h.entry(p));
  const Status got = h.run(id, buf);
  EXPECT_EQ(got, want) << command_name(id) << ": expected " << status_name(want) << ", got "
                       << status_name(got) << " (" << h.fw->last_error() << ")";
  EXPECT_FALSE(h.fw->last_error().empty()) << "a failure explains itself";
  EXPECT_EQ(test::to_hex(h.fw->fingerprint()), test::to_hex(fp))
      << command_name(id) << " failed but changed firmware state";
  size_t i = 0;
  for (Hpa p : pages) {
    EXPECT_EQ(h.entry(p), before[i]) << "RMP entry at hpa 0x" << std::hex << p.value
                                     << " changed by a failed " << command_name(id) << ": "
                                     << before[i].to_string() << " -> " << h.entry(p).to_string();
    ++i;
  }
}

std::vector<uint8_t> update_buf(Hpa gctx, Hpa page, PageType type) {
  CmdLaunchUpdate c;
  c.gctx_paddr = gctx;
  c.address = page;
  c.page_type = type;
  return serialize(c);
}

Host init_host() {
  Host h = Host::make();
  EXPECT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  return h;
}

TEST(MailboxPlatform, CommandsBeforeInitAndDoubleInit) {
  Host h = Host::make();
  ASSERT_EQ(h.make_firmware(kGctx), rmp::RmpRc::kSuccess);
  expect_refused(h, CommandId::kSnpGctxCreate, serialize(CmdAddr{kGctx}),
                 Status::kInvalidPlatformState, {kGctx});
  expect_refused(h, CommandId::kSnpDfFlush, {}, Status::kInvalidPlatformState);
  expect_refused(h, CommandId::kSnpPageReclaim, serialize(CmdPageAddr{kGctx, false}),
                 Status::kInvalidPlatformState, {kGctx});
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  EXPECT_EQ(h.fw->platform_state(), PlatformState::kInit);
  expect_refused(h, CommandId::kSnpInit, {}, Status::kInvalidPlatformState);
  CmdInitEx ex;
  expect_refused(h, CommandId::kSnpInitEx, serialize(ex), Status::kInvalidPlatformState);
}

TEST(MailboxPlatform, InitExRangeListMakesHypervisorFixedPages) {
  Host h = Host::make();
  std::vector<uint8_t> list(kPageSize, 0);
  const uint32_t count = 1;
  const uint64_t base = 0x500000;
  const uint32_t pages = 2;
  std::memcpy(list.data(), &count, 4);
  std::memcpy(list.data() + 8, &base, 8);
  std::memcpy(list.data() + 16, &pages, 4);
  h.write(Hpa{0x20000}, list);
  CmdInitEx ex;
  ex.init_rmp = true;
  ex.list_paddr_en = true;
  ex.list_paddr = Hpa{0x20000};
  ASSERT_EQ(h.run(CommandId::kSnpInitEx, serialize(ex)), Status::kSuccess) << h.fw->last_error();
  EXPECT_TRUE(h.entry(Hpa{0x501000}).immutable && !h.entry(Hpa{0x501000}).assigned);
  EXPECT_EQ(h.make_pre_guest(Hpa{0x500000}, kAsid, kGpa), rmp::RmpRc::kFailPermission)
      << "a hypervisor-fixed page cannot be assigned";
  EXPECT_FALSE(h.entry(Hpa{0x502000}).immutable) << "range ends after 2 pages";
}

TEST(MailboxPlatform, PlatformStatusNeedsFirmwarePage) {
  Host h = init_host();
  const Hpa out{0x30000};
  expect_refused(h, CommandId::kSnpPlatformStatus, serialize(CmdAddr{out}),
                 Status::kInvalidPageState, {out});
  ASSERT_EQ(h.make_firmware(out), rmp::RmpRc::kSuccess);
  ASSERT_EQ(h.run(CommandId::kSnpPlatformStatus, serialize(CmdAddr{out})), Status::kSuccess);
  PlatformStatusPage s;
  const auto b = h.read(out, sizeof s);
  std::memcpy(&s, b.data(), sizeof s);
  EXPECT_EQ(s.state, 1u);
  EXPECT_EQ(s.api_major, 1u);
  EXPECT_EQ(s.api_minor, 55u);
  EXPECT_EQ(s.current_tcb_version, test::test_config().current_tcb);
}

TEST(MailboxPlatform, ShutdownWithLiveGuestAndDfFlushNeedsWbinvd) {
  Host h = init_host();
  ASSERT_EQ(h.gctx_create(kGctx), Status::kSuccess);
  expect_refused(h, CommandId::kSnpShutdown, {}, Status::kInvalidPlatformState);
  expect_refused(h, CommandId::kSnpDfFlush, {}, Status::kWbinvdRequired);
  h.fw->note_wbinvd_all_cpus();
  EXPECT_EQ(h.run(CommandId::kSnpDfFlush), Status::kSuccess);
  ASSERT_EQ(h.decommission(kGctx), Status::kSuccess);
  CmdShutdownEx sx;
  EXPECT_EQ(h.run(CommandId::kSnpShutdownEx, serialize(sx)), Status::kSuccess)
      << h.fw->last_error();
  EXPECT_EQ(h.fw->platform_state(), PlatformState::kUninit);
}

TEST(MailboxPlatform, UnknownAndUnmodelledCommands) {
  Host h = init_host();
  expect_refused(h, CommandId{0x7F}, {}, Status::kInvalidCommand);
  expect_refused(h, CommandId::kSnpDbgDecrypt, {}, Status::kUnsupported);
  EXPECT_EQ(h.fw->command(0x81u, Hpa{kRamSize}), Status::kInvalidPlatformState);
  expect_refused(h, CommandId::kSnpGctxCreate, {}, Status::kInvalidPageState);  // address 0
  EXPECT_EQ(h.fw->command(CommandId::kSnpActivate, Hpa{kRamSize - 4}), Status::kInvalidAddress)
      << "a command buffer beyond RAM";
}

TEST(MailboxGuestState, CommandsInTheWrongGuestState) {
  Host h = init_host();
  ASSERT_EQ(h.make_firmware(kGctx), rmp::RmpRc::kSuccess);
  expect_refused(h, CommandId::kSnpLaunchStart, [] {
    CmdLaunchStart c;
    c.gctx_paddr = kGctx;
    c.policy = test::kPolicy;
    return serialize(c);
  }(), Status::kInvalidGuest);
  ASSERT_EQ(h.run(CommandId::kSnpGctxCreate, serialize(CmdAddr{kGctx})), Status::kSuccess);
  ASSERT_EQ(h.make_pre_guest(kPage, kAsid, kGpa), rmp::RmpRc::kSuccess);
  expect_refused(h, CommandId::kSnpLaunchUpdate, update_buf(kGctx, kPage, PageType::kNormal),
                 Status::kInvalidGuestState, {kPage});
  expect_refused(h, CommandId::kSnpActivate, serialize(CmdActivate{kGctx, kAsid}),
                 Status::kInvalidGuestState);
  ASSERT_EQ(h.launch_start(kGctx), Status::kSuccess);
  CmdLaunchStart again;
  again.gctx_paddr = kGctx;
  again.policy = test::kPolicy;
  expect_refused(h, CommandId::kSnpLaunchStart, serialize(again), Status::kInvalidGuestState);
  // Before ACTIVATE the guest has no ASID: INACTIVE (UNCONFIRMED).
  expect_refused(h, CommandId::kSnpLaunchUpdate, update_buf(kGctx, kPage, PageType::kNormal),
                 Status::kInactive, {kPage});
  ASSERT_EQ(h.activate(kGctx, kAsid), Status::kSuccess);
  CmdGctxAddrs gr{kGctx, Hpa{0x400000}, Hpa{0x401000}};
  expect_refused(h, CommandId::kSnpGuestRequest, serialize(gr, 3), Status::kInvalidGuestState);
  ASSERT_EQ(h.launch_update(kGctx, kPage, PageType::kNormal), Status::kSuccess);
  ASSERT_EQ(h.launch_finish(kGctx), Status::kSuccess);
  CmdLaunchFinish fin;
  fin.gctx_paddr = kGctx;
  expect_refused(h, CommandId::kSnpLaunchFinish, serialize(fin), Status::kInvalidGuestState);
  ASSERT_EQ(h.make_pre_guest(Hpa{0x201000}, kAsid, Gpa{0x101000}), rmp::RmpRc::kSuccess);
  expect_refused(h, CommandId::kSnpLaunchUpdate,
                 update_buf(kGctx, Hpa{0x201000}, PageType::kNormal), Status::kInvalidGuestState,
                 {Hpa{0x201000}});
}

TEST(MailboxGuestState, GuestStatusReportsState) {
  Host h = init_host();
  ASSERT_EQ(h.start_guest(kGctx, Asid{7}), Status::kSuccess);
  const Hpa out{0x31000};
  ASSERT_EQ(h.make_firmware(out), rmp::RmpRc::kSuccess);
  CmdGctxAddrs c{kGctx, out, Hpa{0}};
  ASSERT_EQ(h.run(CommandId::kSnpGuestStatus, serialize(c, 2)), Status::kSuccess)
      << h.fw->last_error();
  GuestStatusPage s;
  const auto b = h.read(out, sizeof s);
  std::memcpy(&s, b.data(), sizeof s);
  EXPECT_EQ(s.asid, 7u);
  EXPECT_EQ(s.state, static_cast<uint8_t>(GuestState::kLaunch));
  EXPECT_EQ(s.policy, test::kPolicy);
}

TEST(MailboxGuestContext, ContextPageMustBeFirmwarePage) {
  Host h = init_host();
  expect_refused(h, CommandId::kSnpGctxCreate, serialize(CmdAddr{kGctx}),
                 Status::kInvalidPageState, {kGctx});
  ASSERT_EQ(h.make_pre_guest(kGctx, kAsid, kGpa), rmp::RmpRc::kSuccess);
  expect_refused(h, CommandId::kSnpGctxCreate, serialize(CmdAddr{kGctx}),
                 Status::kInvalidPageState, {kGctx});
  expect_refused(h, CommandId::kSnpGctxCreate, serialize(CmdAddr{Hpa{kGctx.value + 8}}),
                 Status::kInvalidAddress);
}

TEST(MailboxPolicy, BadPolicyIsPolicyFailure) {
  Host h = init_host();
  ASSERT_EQ(h.gctx_create(kGctx), Status::kSuccess);
  for (uint64_t policy : {uint64_t{0x10000} /* bit 17 clear */,
                          uint64_t{0x30000} | (uint64_t{2} << 8) /* ABI 2.0 > 1.55 */,
                          uint64_t{0x20000} /* SMT disallowed, SMT on */,
                          uint64_t{0x30000} | (uint64_t{1} << 40) /* unknown bit */}) {
    CmdLaunchStart c;
    c.gctx_paddr = kGctx;
    c.policy = policy;
    SCOPED_TRACE(test::to_hex(std::array<uint8_t, 1>{static_cast<uint8_t>(policy >> 8)}));
    expect_refused(h, CommandId::kSnpLaunchStart, serialize(c), Status::kPolicyFailure);
  }
  EXPECT_EQ(h.fw->guest(kGctx)->state, GuestState::kInit);
}

class LaunchUpdateRmp : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(h_.run(CommandId::kSnpInit), Status::kSuccess);
    ASSERT_EQ(h_.start_guest(kGctx, kAsid), Status::kSuccess) << h_.fw->last_error();
  }
  void refuse(Hpa page, Status want) {
    expect_refused(h_, CommandId::kSnpLaunchUpdate, update_buf(kGctx, page, PageType::kNormal),
                   want, {page});
  }
  Host h_ = Host::make();
};

TEST_F(LaunchUpdateRmp, NotAssigned) { refuse(kPage, Status::kInvalidPageState); }

TEST_F(LaunchUpdateRmp, WrongAsid) {
  ASSERT_EQ(h_.make_pre_guest(kPage, Asid{2}, kGpa), rmp::RmpRc::kSuccess);
  refuse(kPage, Status::kInvalidPageOwner);
}

TEST_F(LaunchUpdateRmp, NotImmutable) {
  ASSERT_EQ(h_.make_pre_guest(kPage, kAsid, kGpa, /*immutable=*/false), rmp::RmpRc::kSuccess);
  refuse(kPage, Status::kInvalidPageState);
}

TEST_F(LaunchUpdateRmp, FirmwarePageIsNotAGuestPage) {
  ASSERT_EQ(h_.make_firmware(kPage), rmp::RmpRc::kSuccess);
  refuse(kPage, Status::kInvalidPageOwner);
  refuse(kGctx, Status::kInvalidPageOwner);  // the guest's own context page
}

TEST_F(LaunchUpdateRmp, WrongGpaAlreadyLaunched) {
  ASSERT_EQ(h_.make_pre_guest(kPage, kAsid, kGpa), rmp::RmpRc::kSuccess);
  ASSERT_EQ(h_.launch_update(kGctx, kPage, PageType::kNormal), Status::kSuccess);
  refuse(kPage, Status::kInvalidPageState);  // the same page twice
  ASSERT_EQ(h_.make_pre_guest(Hpa{0x201000}, kAsid, kGpa), rmp::RmpRc::kSuccess);
  refuse(Hpa{0x201000}, Status::kInvalidParam);  // a second host page for the same GPA
}

TEST_F(LaunchUpdateRmp, OutsideMemoryOrRmpPage) {
  refuse(Hpa{kRamSize}, Status::kInvalidAddress);
  refuse(Hpa{test::kRmpBase}, Status::kInvalidAddress);
}

TEST_F(LaunchUpdateRmp, DisallowedCpuidPageIsCorrectedAndRefused) {
  CpuidPage cp;
  cp.count = 1;
  cp.entries[0].eax_in = 0x8000001F;  // no rule: zeroed by the model's check
  cp.entries[0].eax = 0x1234;
  h_.write(kPage, serialize_cpuid_page(cp));
  ASSERT_EQ(h_.make_pre_guest(kPage, kAsid, kGpa), rmp::RmpRc::kSuccess);
  const Digest384 digest = h_.fw->guest(kGctx)->digest.digest();
  expect_refused(h_, CommandId::kSnpLaunchUpdate, update_buf(kGctx, kPage, PageType::kCpuid),
                 Status::kInvalidParam, {kPage});
  auto back = parse_cpuid_page(h_.read(kPage, kPageSize));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->entries[0].eax, 0u) << "corrected CPUID page written back";
  EXPECT_EQ(h_.fw->guest(kGctx)->digest.digest(), digest);
  EXPECT_TRUE(h_.fw->guest(kGctx)->launched.empty());
}

TEST(MailboxAsid, ActivateRules) {
  Host h = init_host();
  ASSERT_EQ(h.start_guest(kGctx, kAsid), Status::kSuccess);
  ASSERT_EQ(h.gctx_create(kGctx2), Status::kSuccess);
  ASSERT_EQ(h.launch_start(kGctx2), Status::kSuccess);
  expect_refused(h, CommandId::kSnpActivate, serialize(CmdActivate{kGctx2, kAsid}),
                 Status::kAsidOwned);
  expect_refused(h, CommandId::kSnpActivate, serialize(CmdActivate{kGctx2, Asid{0}}),
                 Status::kInvalidAsid);
  expect_refused(h, CommandId::kSnpActivate, serialize(CmdActivate{kGctx2, Asid{510}}),
                 Status::kInvalidAsid);
  // A decommissioned ASID needs WBINVD + SNP_DF_FLUSH before reuse.
  ASSERT_EQ(h.decommission(kGctx), Status::kSuccess);
  expect_refused(h, CommandId::kSnpActivate, serialize(CmdActivate{kGctx2, kAsid}),
                 Status::kDfflushRequired);
  h.fw->note_wbinvd_all_cpus();
  ASSERT_EQ(h.run(CommandId::kSnpDfFlush), Status::kSuccess);
  EXPECT_EQ(h.activate(kGctx2, kAsid), Status::kSuccess) << h.fw->last_error();
}

TEST(MailboxReclaim, PagesInUseAreRefused) {
  Host h = init_host();
  ASSERT_EQ(h.start_guest(kGctx, kAsid), Status::kSuccess);
  ASSERT_EQ(h.make_pre_guest(kPage, kAsid, kGpa), rmp::RmpRc::kSuccess);
  ASSERT_EQ(h.launch_update(kGctx, kPage, PageType::kNormal), Status::kSuccess);
  // The context page of a live guest, and a page launched into it.
  expect_refused(h, CommandId::kSnpPageReclaim, serialize(CmdPageAddr{kGctx, false}),
                 Status::kInvalidPageState, {kGctx});
  expect_refused(h, CommandId::kSnpPageReclaim, serialize(CmdPageAddr{kPage, false}),
                 Status::kInvalidPageState, {kPage});
  // Hypervisor pages and mutable guest pages need no reclaim.
  expect_refused(h, CommandId::kSnpPageReclaim, serialize(CmdPageAddr{Hpa{0x600000}, false}),
                 Status::kInvalidPageState, {Hpa{0x600000}});
  // A pre-guest page never launched (KVM's LAUNCH_UPDATE failure path) is reclaimable.
  ASSERT_EQ(h.make_pre_guest(Hpa{0x201000}, kAsid, Gpa{0x101000}), rmp::RmpRc::kSuccess);
  EXPECT_EQ(h.reclaim(Hpa{0x201000}), Status::kSuccess) << h.fw->last_error();
  EXPECT_EQ(h.entry(Hpa{0x201000}), rmp::RmpEntry{});
  // After DECOMMISSION the context page is a firmware page again and the launched page is free.
  ASSERT_EQ(h.decommission(kGctx), Status::kSuccess);
  EXPECT_EQ(h.reclaim(kGctx), Status::kSuccess) << h.fw->last_error();
  EXPECT_EQ(h.reclaim(kPage), Status::kSuccess) << h.fw->last_error();
  EXPECT_EQ(h.entry(kGctx), rmp::RmpEntry{}) << "context page back to hypervisor-owned";
  EXPECT_EQ(h.make_shared(kPage), rmp::RmpRc::kSuccess);
  EXPECT_TRUE(h.fw->check_invariants().empty());
}

TEST(MailboxUnsmash, ReversesPsmash) {
  Host h = init_host();
  const Hpa region{0x800000};
  rmp::RmpStateView s;
  s.assigned = 1;
  s.pagesize = 1;
  s.asid = 3;
  s.gpa = 0x40000000;
  ASSERT_EQ(rmp::rmpupdate(*h.rmp, region, s).rc, rmp::RmpRc::kSuccess);
  ASSERT_EQ(rmp::psmash(*h.rmp, region).rc, rmp::RmpRc::kSuccess);
  ASSERT_EQ(h.entry(Hpa{0x801000}).page_size, rmp::PageSize::k4K);
  expect_refused(h, CommandId::kSnpPageUnsmash, serialize(CmdPageAddr{region, false}),
                 Status::kInvalidPageSize, {region});
  ASSERT_EQ(h.run(CommandId::kSnpPageUnsmash, serialize(CmdPageAddr{region, true})),
            Status::kSuccess)
      << h.fw->last_error();
  const rmp::RmpEntry e = h.entry(Hpa{0x9FF000});
  EXPECT_EQ(e.page_size, rmp::PageSize::k2M);
  EXPECT_EQ(e.gpa.value, 0x40000000u + 511 * kPageSize);
  // A region whose entries differ is refused.
  ASSERT_EQ(rmp::psmash(*h.rmp, region).rc, rmp::RmpRc::kSuccess);
  ASSERT_EQ(h.make_shared(Hpa{0x805000}), rmp::RmpRc::kSuccess);
  expect_refused(h, CommandId::kSnpPageUnsmash, serialize(CmdPageAddr{region, true}),
                 Status::kInvalidPageState, {region, Hpa{0x801000}});
}

}  // namespace
}  // namespace snpemu::fw
