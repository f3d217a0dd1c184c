// Legacy SEV / SEV-ES commands through the mailbox: each command's success path, then one test
// per refusal rule (status, and that the failure changed no firmware state and no key slot).
// Rules and sources: firmware/firmware.h (mailbox section, "legacy SEV"), sev_*.cc.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "base/hex.h"
#include "emu/memcrypt/memcrypt.h"
#include "firmware/firmware.h"
#include "test/firmware/mailbox_fixture.h"
#include "test/firmware/sev_fixture.h"

namespace snpemu::fw {
namespace {

using test::Host;

constexpr Hpa kData{0x100000};  // 8 KiB of guest data
constexpr Hpa kVmsa{0x110000};
constexpr Hpa kOut{0xE000};

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

test::SevImage es_image() {
  return {{{kData, pattern(2 * kPageSize, 1)}}, {{kVmsa, pattern(kPageSize, 9)}}};
}

std::string st(Status s) { return std::string(status_name(s)); }

// Runs `cmd`, expects `want`, and checks that the failure changed no firmware state, no key slot
// and broke no invariant.
void expect_refused(Host& h, const std::function<Status()>& cmd, Status want, const char* rule) {
  const Digest384 before = h.fw->fingerprint();
  std::vector<uint32_t> gens;
  for (uint32_t a = 0; a < 16 && h.keys; ++a) gens.push_back(h.keys->generation(Asid{a}));
  const Status got = cmd();
  EXPECT_EQ(got, want) << rule << ": expected " << st(want) << ", got " << st(got) << " ("
                       << h.fw->last_error() << ")";
  EXPECT_EQ(h.fw->fingerprint(), before) << rule << ": a refused command changed firmware state";
  std::vector<uint32_t> after;
  for (uint32_t a = 0; a < 16 && h.keys; ++a) after.push_back(h.keys->generation(Asid{a}));
  EXPECT_EQ(after, gens) << rule << ": a refused command changed a key slot";
  EXPECT_TRUE(h.fw->check_invariants().empty()) << rule << ": " << h.fw->check_invariants()[0];
}

template <class T>
Status err(const std::expected<T, Status>& r) {
  return r ? Status::kSuccess : r.error();
}
Status status_of(const std::expected<uint32_t, Status>& r) { return err(r); }

class SevMailbox : public ::testing::Test {
 protected:
  // An initialised legacy platform (SEV-ES enabled) with one SEV-ES guest in LUPDATE, ASID 1.
  uint32_t start_es_guest(Asid asid = Asid{1}) {
    auto handle = test::sev_launch_start(h_, test::kSevEsPolicy);
    EXPECT_TRUE(handle.has_value()) << "LAUNCH_START: " << h_.fw->last_error();
    EXPECT_EQ(test::sev_activate(h_, *handle, asid), Status::kSuccess) << h_.fw->last_error();
    return *handle;
  }
  void SetUp() override { ASSERT_EQ(test::sev_init(h_), Status::kSuccess) << h_.fw->last_error(); }
  Host h_ = Host::make_encrypted();
};

// ---------------------------------------------------------------- success paths

TEST_F(SevMailbox, InitAndPlatformStatus) {
  auto s = test::sev_platform_status(h_);
  ASSERT_TRUE(s.has_value()) << h_.fw->last_error();
  EXPECT_EQ(s->state, 1) << "expected state INIT (1), got " << int(s->state);
  EXPECT_EQ(s->flags & kSevStatusFlagEs, kSevStatusFlagEs)
      << "expected the ES flag, flags " << hex(s->flags);
  EXPECT_EQ(s->api_major, 1);
  EXPECT_EQ(s->api_minor, 55);
  EXPECT_EQ(s->guest_count, 0u);
}

TEST_F(SevMailbox, InitExWithNvBuffer) {
  Host h = Host::make_encrypted();
  SevDataInitEx c;
  c.flags = kSevInitFlagsSevEs;
  c.tmr_address = test::kTmr.value;
  c.tmr_len = kSevTmrSize;
  c.nv_address = 0x200000;
  c.nv_len = kSevNvLength;
  ASSERT_EQ(test::sev_command(h, CommandId::kInitEx, {reinterpret_cast<uint8_t*>(&c), sizeof c}),
            Status::kSuccess)
      << h.fw->last_error();
  EXPECT_EQ(h.fw->sev_platform_state(), SevPlatformState::kInit);
}

TEST_F(SevMailbox, FullSevEsLaunchRunsThroughEveryState) {
  const test::SevImage image = es_image();
  const test::SevLaunch r = test::launch_sev(h_, test::kSevEsPolicy, Asid{1}, image, kOut);
  ASSERT_EQ(r.status, Status::kSuccess) << command_name(r.failed) << ": " << h_.fw->last_error();
  const SevGuestInfo* g = h_.fw->sev_guest(r.handle);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->state, SevGuestState::kRunning);
  EXPECT_EQ(g->vmsa_count, 1u);
  EXPECT_EQ(g->measured_bytes, 3 * kPageSize);
  EXPECT_EQ(h_.fw->sev_platform_state(), SevPlatformState::kWorking);
  auto gs = test::sev_guest_status(h_, r.handle);
  ASSERT_TRUE(gs.has_value()) << h_.fw->last_error();
  EXPECT_EQ(gs->policy, test::kSevEsPolicy);
  EXPECT_EQ(gs->asid, 1u);
  EXPECT_EQ(gs->state, 3) << "expected RUNNING (3), got " << int(gs->state);
  // ACTIVATE installed the guest's VEK; LAUNCH_UPDATE_* left ciphertext under it.
  auto keys = derive_sev_guest_keys(test::test_seed(), r.handle);
  ASSERT_TRUE(keys.has_value());
  ASSERT_TRUE(h_.keys->key(Asid{1}).has_value()) << "ACTIVATE programmed no key";
  EXPECT_EQ(*h_.keys->key(Asid{1}), keys->vek) << "slot 1 does not hold the guest's VEK";
  std::vector<uint8_t> expect = image.data[0].second;
  memcrypt::apply(keys->vek, kData.value, expect);
  EXPECT_EQ(h_.read(kData, expect.size()), expect)
      << "expected the data range encrypted with the VEK at its host-physical address";
  std::vector<uint8_t> vmsa = image.vmsas[0].second;
  memcrypt::apply(keys->vek, kVmsa.value, vmsa);
  EXPECT_EQ(h_.read(kVmsa, kPageSize), vmsa) << "VMSA page not encrypted in place";
  EXPECT_EQ(r.blob.mnonce, keys->mnonce);
  EXPECT_EQ(g->measurement, r.blob.measurement);
  EXPECT_TRUE(h_.fw->check_invariants().empty());
}

TEST_F(SevMailbox, DeactivateDecommissionAndAsidReuseAfterDfFlush) {
  const test::SevLaunch r = test::launch_sev(h_, test::kSevEsPolicy, Asid{1}, es_image(), kOut);
  ASSERT_EQ(r.status, Status::kSuccess) << h_.fw->last_error();
  ASSERT_EQ(test::sev_deactivate(h_, r.handle), Status::kSuccess) << h_.fw->last_error();
  EXPECT_FALSE(h_.keys->key(Asid{1}).has_value()) << "DEACTIVATE left the key in slot 1";
  EXPECT_EQ(h_.fw->sev_guest(r.handle)->asid.value, 0u);
  ASSERT_EQ(test::sev_decommission(h_, r.handle), Status::kSuccess) << h_.fw->last_error();
  EXPECT_EQ(h_.fw->sev_guest(r.handle), nullptr);
  EXPECT_EQ(h_.fw->sev_platform_state(), SevPlatformState::kInit)
      << "expected INIT after the last guest left";
  const uint32_t next = start_es_guest(Asid{2});
  expect_refused(
      h_, [&] { return test::sev_activate(h_, next, Asid{1}); }, Status::kActive,
      "second ACTIVATE of an active guest");
  ASSERT_EQ(test::sev_deactivate(h_, next), Status::kSuccess);
  expect_refused(
      h_, [&] { return test::sev_activate(h_, next, Asid{1}); }, Status::kDfflushRequired,
      "ASID 1 deactivated, no DF_FLUSH since");
  ASSERT_EQ(test::sev_df_flush(h_), Status::kSuccess) << h_.fw->last_error();
  EXPECT_EQ(test::sev_activate(h_, next, Asid{1}), Status::kSuccess) << h_.fw->last_error();
  EXPECT_NE(next, r.handle) << "a handle was reused";
}

TEST_F(SevMailbox, ShutdownReturnsToUninit) {
  ASSERT_EQ(test::sev_shutdown(h_), Status::kSuccess) << h_.fw->last_error();
  EXPECT_EQ(h_.fw->sev_platform_state(), SevPlatformState::kUninit);
  EXPECT_EQ(test::sev_init(h_, false), Status::kSuccess) << h_.fw->last_error();
}

TEST_F(SevMailbox, SevGuestWithoutEsNeedsNoVmsa) {
  const test::SevImage image{{{kData, pattern(64, 3)}}, {}};
  const test::SevLaunch r = test::launch_sev(h_, test::kSevPolicy, Asid{300}, image, kOut);
  ASSERT_EQ(r.status, Status::kSuccess) << command_name(r.failed) << ": " << h_.fw->last_error();
  EXPECT_EQ(h_.fw->sev_guest(r.handle)->state, SevGuestState::kRunning);
}

// ---------------------------------------------------------------- platform refusals

TEST_F(SevMailbox, PlatformRefusals) {
  expect_refused(
      h_, [&] { return test::sev_init(h_); }, Status::kInvalidPlatformState, "INIT twice");
  Host fresh = Host::make_encrypted();
  SevDataInit c;
  c.flags = 0x2;
  auto init = [&](const SevDataInit& x) {
    return test::sev_command(fresh, CommandId::kInit,
                             {reinterpret_cast<const uint8_t*>(&x), sizeof x});
  };
  expect_refused(
      fresh, [&] { return init(c); }, Status::kInvalidParam, "INIT undefined flag");
  c = {kSevInitFlagsSevEs, 0, test::kTmr.value, 4096};
  expect_refused(
      fresh, [&] { return init(c); }, Status::kInvalidLength, "INIT TMR not 1 MiB");
  c = {kSevInitFlagsSevEs, 0, test::kTmr.value + 0x1000, kSevTmrSize};
  expect_refused(
      fresh, [&] { return init(c); }, Status::kInvalidAddress, "INIT TMR not 1 MiB aligned");
  c = {kSevInitFlagsSevEs, 0, test::kRamSize, kSevTmrSize};
  expect_refused(
      fresh, [&] { return init(c); }, Status::kInvalidAddress, "INIT TMR outside RAM");
  SevDataInitEx x;
  x.length = 32;
  auto init_ex = [&] {
    return test::sev_command(fresh, CommandId::kInitEx, {reinterpret_cast<uint8_t*>(&x), sizeof x});
  };
  expect_refused(fresh, init_ex, Status::kInvalidLength, "INIT_EX length != 36");
  x = {};
  x.nv_address = 0x200000;
  x.nv_len = 4096;
  expect_refused(fresh, init_ex, Status::kInvalidLength, "INIT_EX nv_len != 32 KiB");
  x.nv_len = kSevNvLength;
  x.nv_address = 0x200800;
  expect_refused(fresh, init_ex, Status::kInvalidAddress, "INIT_EX nv_address misaligned");
  expect_refused(
      fresh, [&] { return test::sev_command(fresh, CommandId::kDfFlush, {}); },
      Status::kInvalidPlatformState, "DF_FLUSH before INIT");
  expect_refused(
      fresh, [&] { return status_of(test::sev_launch_start(fresh, test::kSevPolicy)); },
      Status::kInvalidPlatformState, "LAUNCH_START before INIT");
  expect_refused(
      h_, [&] { return test::sev_command(h_, CommandId::kDfFlush, {}); }, Status::kWbinvdRequired,
      "DF_FLUSH without WBINVD");
  start_es_guest();
  expect_refused(
      h_, [&] { return test::sev_shutdown(h_); }, Status::kInvalidPlatformState,
      "SHUTDOWN with a legacy guest");
  expect_refused(
      h_, [&] { return h_.run(CommandId::kSnpInit); }, Status::kInvalidPlatformState,
      "SNP_INIT while the legacy platform is initialised");
}

TEST_F(SevMailbox, BuffersOutsideRamAndCommandsBeforeInit) {
  for (CommandId id :
       {CommandId::kInit, CommandId::kInitEx, CommandId::kPlatformStatus, CommandId::kActivate,
        CommandId::kDeactivate, CommandId::kDecommission, CommandId::kGuestStatus,
        CommandId::kLaunchStart, CommandId::kLaunchUpdateData, CommandId::kLaunchUpdateVmsa,
        CommandId::kLaunchMeasure, CommandId::kLaunchFinish}) {
    expect_refused(
        h_, [&] { return h_.fw->command(id, Hpa{test::kRamSize}); }, Status::kInvalidAddress,
        std::string(command_name(id)).c_str());
  }
  Host fresh = Host::make_encrypted();
  expect_refused(
      fresh, [&] { return test::sev_activate(fresh, 1, Asid{1}); }, Status::kInvalidPlatformState,
      "ACTIVATE before INIT");
  expect_refused(
      fresh, [&] { return test::sev_launch_update_data(fresh, 1, kData, 16); },
      Status::kInvalidPlatformState, "LAUNCH_UPDATE_DATA before INIT");
  expect_refused(
      fresh, [&] { return err(test::sev_guest_status(fresh, 1)); }, Status::kInvalidPlatformState,
      "GUEST_STATUS before INIT");
}

// ---------------------------------------------------------------- LAUNCH_START refusals

TEST_F(SevMailbox, LaunchStartRefusals) {
  SevDataLaunchStart c;
  auto start = [&] {
    return test::sev_command(h_, CommandId::kLaunchStart,
                             {reinterpret_cast<uint8_t*>(&c), sizeof c});
  };
  c.session_len = 0x40;
  c.session_address = 0x20000;
  expect_refused(h_, start, Status::kUnsupported, "LAUNCH_START with a session");
  EXPECT_NE(h_.fw->last_error().find("guest-owner sessions are not modelled"), std::string::npos)
      << "last_error: " << h_.fw->last_error();
  c = {};
  c.dh_cert_len = 0x100;
  expect_refused(h_, start, Status::kUnsupported, "LAUNCH_START with a DH certificate");
  c = {};
  c.handle = 77;
  expect_refused(h_, start, Status::kInvalidGuest, "LAUNCH_START sharing keys of no guest");
  const uint32_t g = start_es_guest();
  c.handle = g;
  expect_refused(h_, start, Status::kUnsupported, "LAUNCH_START key sharing");
  c = {};
  c.reserved = 1;
  expect_refused(h_, start, Status::kInvalidParam, "LAUNCH_START reserved field");
  c = {};
  c.policy = 1u << 6;
  expect_refused(h_, start, Status::kPolicyFailure, "policy with undefined bit 6");
  c.policy = 2u << sev_policy::kApiMajorShift;
  expect_refused(h_, start, Status::kPolicyFailure, "policy needs API 2.0 > 1.55");
  c.policy = (1u << sev_policy::kApiMajorShift) | (56u << sev_policy::kApiMinorShift);
  expect_refused(h_, start, Status::kPolicyFailure, "policy needs API 1.56 > 1.55");
  Host no_es = Host::make_encrypted();
  ASSERT_EQ(test::sev_init(no_es, false), Status::kSuccess);
  expect_refused(
      no_es, [&] { return status_of(test::sev_launch_start(no_es, test::kSevEsPolicy)); },
      Status::kPolicyFailure, "ES policy without SEV-ES INIT");
}

// ---------------------------------------------------------------- guest command refusals

TEST_F(SevMailbox, ActivateRefusals) {
  const uint32_t g = start_es_guest(Asid{1});
  auto second = test::sev_launch_start(h_, test::kSevEsPolicy);
  ASSERT_TRUE(second.has_value());
  expect_refused(
      h_, [&] { return test::sev_activate(h_, 99, Asid{2}); }, Status::kInvalidGuest,
      "ACTIVATE unknown handle");
  expect_refused(
      h_, [&] { return test::sev_activate(h_, *second, Asid{0}); }, Status::kInvalidAsid,
      "ACTIVATE ASID 0");
  expect_refused(
      h_, [&] { return test::sev_activate(h_, *second, Asid{510}); }, Status::kInvalidAsid,
      "ACTIVATE ASID above max_asid 509");
  expect_refused(
      h_, [&] { return test::sev_activate(h_, *second, Asid{1}); }, Status::kAsidOwned,
      "ACTIVATE ASID owned by another legacy guest");
  expect_refused(
      h_, [&] { return test::sev_activate(h_, g, Asid{3}); }, Status::kActive,
      "ACTIVATE an active guest");
  Host small = Host::make_encrypted(test::test_config(), 8);
  ASSERT_EQ(test::sev_init(small), Status::kSuccess);
  auto s = test::sev_launch_start(small, test::kSevEsPolicy);
  ASSERT_TRUE(s.has_value());
  expect_refused(
      small, [&] { return test::sev_activate(small, *s, Asid{9}); }, Status::kInvalidAsid,
      "ACTIVATE ASID without a key slot");
  small.keys->install(Asid{4}, memcrypt::Key{1, 2});
  expect_refused(
      small, [&] { return test::sev_activate(small, *s, Asid{4}); }, Status::kAsidOwned,
      "ACTIVATE ASID whose key slot is programmed");
}

TEST_F(SevMailbox, DeactivateDecommissionGuestStatusRefusals) {
  auto g = test::sev_launch_start(h_, test::kSevEsPolicy);
  ASSERT_TRUE(g.has_value());
  expect_refused(
      h_, [&] { return test::sev_deactivate(h_, *g); }, Status::kInactive,
      "DEACTIVATE an inactive guest");
  expect_refused(
      h_, [&] { return test::sev_deactivate(h_, 99); }, Status::kInvalidGuest,
      "DEACTIVATE unknown handle");
  ASSERT_EQ(test::sev_activate(h_, *g, Asid{1}), Status::kSuccess);
  expect_refused(
      h_, [&] { return test::sev_decommission(h_, *g); }, Status::kActive,
      "DECOMMISSION an active guest");
  expect_refused(
      h_, [&] { return test::sev_decommission(h_, 99); }, Status::kInvalidGuest,
      "DECOMMISSION unknown handle");
  expect_refused(
      h_, [&] { return err(test::sev_guest_status(h_, 99)); }, Status::kInvalidGuest,
      "GUEST_STATUS unknown handle");
}

// ---------------------------------------------------------------- launch refusals

TEST_F(SevMailbox, LaunchUpdateRefusals) {
  h_.write(kData, pattern(2 * kPageSize, 1));
  auto inactive = test::sev_launch_start(h_, test::kSevEsPolicy);
  ASSERT_TRUE(inactive.has_value());
  expect_refused(
      h_, [&] { return test::sev_launch_update_data(h_, *inactive, kData, 64); }, Status::kInactive,
      "LAUNCH_UPDATE_DATA before ACTIVATE");
  const uint32_t g = start_es_guest(Asid{1});
  auto upd = [&](uint64_t addr, uint32_t len, uint32_t reserved = 0) {
    SevDataLaunchUpdate c{g, reserved, addr, len};
    return test::sev_command(h_, CommandId::kLaunchUpdateData,
                             {reinterpret_cast<uint8_t*>(&c), sizeof c});
  };
  expect_refused(
      h_, [&] { return upd(kData.value, 24); }, Status::kInvalidLength,
      "LAUNCH_UPDATE_DATA len not a multiple of 16");
  expect_refused(
      h_, [&] { return upd(kData.value, 0); }, Status::kInvalidLength, "LAUNCH_UPDATE_DATA len 0");
  expect_refused(
      h_, [&] { return upd(kData.value + 8, 16); }, Status::kInvalidAddress,
      "LAUNCH_UPDATE_DATA address not 16-byte aligned");
  expect_refused(
      h_, [&] { return upd(test::kRamSize - 16, 32); }, Status::kInvalidAddress,
      "LAUNCH_UPDATE_DATA range past the end of RAM");
  expect_refused(
      h_, [&] { return upd(kData.value, 16, 1); }, Status::kInvalidParam,
      "LAUNCH_UPDATE_DATA reserved field");
  expect_refused(
      h_, [&] { return test::sev_launch_update_data(h_, 99, kData, 16); }, Status::kInvalidGuest,
      "LAUNCH_UPDATE_DATA unknown handle");
  auto vmsa = [&](uint64_t addr, uint32_t len) {
    SevDataLaunchUpdate c{g, 0, addr, len};
    return test::sev_command(h_, CommandId::kLaunchUpdateVmsa,
                             {reinterpret_cast<uint8_t*>(&c), sizeof c});
  };
  expect_refused(
      h_, [&] { return vmsa(kVmsa.value, 2048); }, Status::kInvalidLength,
      "LAUNCH_UPDATE_VMSA len != 4096");
  expect_refused(
      h_, [&] { return vmsa(kVmsa.value + 16, 4096); }, Status::kInvalidAddress,
      "LAUNCH_UPDATE_VMSA not page aligned");
  auto plain = test::sev_launch_start(h_, test::kSevPolicy);
  ASSERT_TRUE(plain.has_value());
  ASSERT_EQ(test::sev_activate(h_, *plain, Asid{400}), Status::kSuccess);
  expect_refused(
      h_, [&] { return test::sev_launch_update_vmsa(h_, *plain, kVmsa); }, Status::kPolicyFailure,
      "LAUNCH_UPDATE_VMSA for a guest without policy ES");
}

TEST_F(SevMailbox, MeasureAndFinishRefusals) {
  const uint32_t g = start_es_guest(Asid{1});
  h_.write(kData, pattern(64, 1));
  ASSERT_EQ(test::sev_launch_update_data(h_, g, kData, 64), Status::kSuccess);
  expect_refused(
      h_, [&] { return err(test::sev_launch_measure(h_, g, kOut)); }, Status::kInvalidGuestState,
      "LAUNCH_MEASURE of an SEV-ES guest without a VMSA");
  expect_refused(
      h_, [&] { return test::sev_launch_finish(h_, g); }, Status::kInvalidGuestState,
      "LAUNCH_FINISH before LAUNCH_MEASURE (LUPDATE)");
  h_.write(kVmsa, pattern(kPageSize, 2));
  ASSERT_EQ(test::sev_launch_update_vmsa(h_, g, kVmsa), Status::kSuccess);
  // Length query: len 0 -> INVALID_LENGTH with the needed length written back.
  SevDataLaunchMeasure q{g, 0, 0, 0};
  expect_refused(
      h_,
      [&] {
        return test::sev_command(h_, CommandId::kLaunchMeasure,
                                 {reinterpret_cast<uint8_t*>(&q), sizeof q},
                                 {reinterpret_cast<uint8_t*>(&q), sizeof q});
      },
      Status::kInvalidLength, "LAUNCH_MEASURE len 0 (length query)");
  EXPECT_EQ(q.len, sizeof(SevMeasurementBlob))
      << "expected the needed length 48 written back, got " << q.len;
  expect_refused(
      h_, [&] { return err(test::sev_launch_measure(h_, g, kOut, 47)); }, Status::kInvalidLength,
      "LAUNCH_MEASURE len 47");
  expect_refused(
      h_, [&] { return err(test::sev_launch_measure(h_, g, Hpa{test::kRamSize - 16})); },
      Status::kInvalidAddress, "LAUNCH_MEASURE output outside RAM");
  ASSERT_TRUE(test::sev_launch_measure(h_, g, kOut).has_value()) << h_.fw->last_error();
  expect_refused(
      h_, [&] { return test::sev_launch_update_data(h_, g, kData, 16); },
      Status::kInvalidGuestState, "LAUNCH_UPDATE_DATA after LAUNCH_MEASURE (LSECRET)");
  expect_refused(
      h_, [&] { return err(test::sev_launch_measure(h_, g, kOut)); }, Status::kInvalidGuestState,
      "LAUNCH_MEASURE twice");
  expect_refused(
      h_, [&] { return h_.run(CommandId::kLaunchUpdateSecret, std::vector<uint8_t>(4)); },
      Status::kUnsupported, "LAUNCH_UPDATE_SECRET (not modelled)");
  EXPECT_EQ(test::sev_launch_finish(h_, g), Status::kSuccess) << h_.fw->last_error();
}

// ---------------------------------------------------------------- with SNP initialised

class SevWithSnp : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(h_.run(CommandId::kSnpInit), Status::kSuccess) << h_.fw->last_error();
    ASSERT_EQ(test::sev_init(h_), Status::kSuccess) << h_.fw->last_error();  // 2 MiB TMR
  }
  Host h_ = Host::make_encrypted();
};

TEST_F(SevWithSnp, LaunchWithFirmwarePagesThenHypervisorOwned) {
  const test::SevLaunch r = test::launch_sev(h_, test::kSevEsPolicy, Asid{1}, es_image(), kOut);
  ASSERT_EQ(r.status, Status::kSuccess) << command_name(r.failed) << ": " << h_.fw->last_error();
  for (Hpa p : {kData, Hpa{kData.value + kPageSize}, kVmsa, kOut, test::kSevCmdBuf}) {
    EXPECT_TRUE(h_.entry(p) == rmp::RmpEntry{})
        << "expected page " << hex(p.value) << " hypervisor-owned after the launch, got "
        << h_.entry(p).to_string();
  }
  EXPECT_TRUE(h_.fw->check_invariants().empty());
}

TEST_F(SevWithSnp, RmpRulesForLegacyBuffers) {
  const uint32_t tmr_wrong = kSevTmrSize;
  Host h = Host::make_encrypted();
  ASSERT_EQ(h.run(CommandId::kSnpInit), Status::kSuccess);
  SevDataInit c{kSevInitFlagsSevEs, 0, test::kTmr.value, tmr_wrong};
  expect_refused(
      h,
      [&] {
        return test::sev_command(h, CommandId::kInit, {reinterpret_cast<uint8_t*>(&c), sizeof c});
      },
      Status::kInvalidLength, "INIT with a 1 MiB TMR once SNP is initialised");
  // LAUNCH_START's buffer is written by the firmware: a hypervisor page is refused.
  SevDataLaunchStart s;
  s.policy = test::kSevEsPolicy;
  std::vector<uint8_t> raw(sizeof s);
  std::memcpy(raw.data(), &s, sizeof s);
  expect_refused(
      h_, [&] { return h_.run(CommandId::kLaunchStart, raw); }, Status::kInvalidPageState,
      "LAUNCH_START buffer hypervisor-owned under SNP");
  auto g = test::sev_launch_start(h_, test::kSevEsPolicy);
  ASSERT_TRUE(g.has_value()) << h_.fw->last_error();
  ASSERT_EQ(test::sev_activate(h_, *g, Asid{1}), Status::kSuccess);
  // The data range is not put in the Firmware state: refused (issued directly, no helper).
  SevDataLaunchUpdate u{*g, 0, kData.value, 64};
  std::vector<uint8_t> ub(sizeof u);
  std::memcpy(ub.data(), &u, sizeof u);
  expect_refused(
      h_, [&] { return h_.run(CommandId::kLaunchUpdateData, ub); }, Status::kInvalidPageState,
      "LAUNCH_UPDATE_DATA range hypervisor-owned under SNP");
  EXPECT_NE(h_.fw->last_error().find("expected a firmware page"), std::string::npos)
      << h_.fw->last_error();
  // The other commands whose buffer the firmware writes, and the LAUNCH_MEASURE output.
  std::vector<uint8_t> ps(sizeof(SevDataPlatformStatus), 0);
  expect_refused(
      h_, [&] { return h_.run(CommandId::kPlatformStatus, ps); }, Status::kInvalidPageState,
      "PLATFORM_STATUS buffer hypervisor-owned under SNP");
  SevDataGuestStatus gs{*g, 0, 0, 0};
  std::vector<uint8_t> gsb(sizeof gs);
  std::memcpy(gsb.data(), &gs, sizeof gs);
  expect_refused(
      h_, [&] { return h_.run(CommandId::kGuestStatus, gsb); }, Status::kInvalidPageState,
      "GUEST_STATUS buffer hypervisor-owned under SNP");
  auto plain = test::sev_launch_start(h_, test::kSevPolicy);  // no VMSA needed to measure
  ASSERT_TRUE(plain.has_value());
  SevDataLaunchMeasure m{*plain, 0, kOut.value, 48};
  expect_refused(
      h_,
      [&] {
        return test::sev_command(
            h_, CommandId::kLaunchMeasure,
            {reinterpret_cast<uint8_t*>(&m), sizeof m});  // output not firmware
      },
      Status::kInvalidPageState, "LAUNCH_MEASURE output hypervisor-owned under SNP");
  // A guest page of an SNP guest (pre-guest, ASID 5) is refused too.
  ASSERT_EQ(h_.make_pre_guest(kData, Asid{5}, Gpa{0}), rmp::RmpRc::kSuccess);
  expect_refused(
      h_, [&] { return h_.run(CommandId::kLaunchUpdateData, ub); }, Status::kInvalidPageState,
      "LAUNCH_UPDATE_DATA on an SNP guest page");
}

TEST_F(SevWithSnp, AsidsAreSharedBetweenSnpAndLegacyGuests) {
  ASSERT_EQ(h_.start_guest(Hpa{0x50000}, Asid{5}), Status::kSuccess) << h_.fw->last_error();
  auto g = test::sev_launch_start(h_, test::kSevEsPolicy);
  ASSERT_TRUE(g.has_value());
  expect_refused(
      h_, [&] { return test::sev_activate(h_, *g, Asid{5}); }, Status::kAsidOwned,
      "legacy ACTIVATE of an SNP guest's ASID");
  ASSERT_EQ(test::sev_activate(h_, *g, Asid{6}), Status::kSuccess);
  ASSERT_EQ(h_.gctx_create(Hpa{0x60000}), Status::kSuccess);
  ASSERT_EQ(h_.launch_start(Hpa{0x60000}), Status::kSuccess);
  expect_refused(
      h_, [&] { return h_.activate(Hpa{0x60000}, Asid{6}); }, Status::kAsidOwned,
      "SNP_ACTIVATE of a legacy guest's ASID");
}

}  // namespace
}  // namespace snpemu::fw
