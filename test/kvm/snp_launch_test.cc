// The SNP launch through the KVM facade (emu/kvm snp_launch.cc, gmem_hooks.cc): ASIDs from the
// CPU's encrypted-guest range, LAUNCH_UPDATE pages populated into the guest_memfd, made
// guest-owned and immutable in the RMP and encrypted by the AMD-SP with the ASID's key, VMSAs
// measured at LAUNCH_FINISH, pages validated after it, the order KVM enforces, the first fault of
// an unlaunched private page (gmem_prepare) and the return of every page at teardown.
// PLATFORM-FACTS 0 (ASIDs), 4.9, 8.10; firmware.h mailbox section (launched page states).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "base/hex.h"
#include "emu/kvm/kvm.h"
#include "emu/memcrypt/memcrypt.h"
#include "firmware/firmware.h"
#include "test/kvm/host_fixture.h"

namespace snpemu::kvm {
namespace {

using test::kGuestMem;

struct Host : test::Host {
  rmp::RmpEntry entry(Pfn pfn) { return machine->rmp()->entry(pfn); }
  std::vector<uint8_t> read(Hpa hpa, size_t n) {
    std::vector<uint8_t> b(n);
    EXPECT_TRUE(machine->memory().read(hpa, b).has_value());
    return b;
  }
};

void make_private(VirtualMachine& vm) {
  auto r = vm.vm().set_memory_attributes(
      hv::KvmMemoryAttributes{.address = 0, .size = kGuestMem, .attributes = hv::kKvmMemoryAttributePrivate});
  ASSERT_TRUE(r.has_value()) << r.error().describe();
}

std::vector<uint8_t> pattern(size_t pages, uint8_t seed) {
  std::vector<uint8_t> b(pages * kPageSize);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

svm::SevEsSaveArea start_vmsa() {
  svm::SevEsSaveArea a{};
  a.rip = 0x100000;
  a.sev_features = svm::sev_features::kSnpActive;
  a.efer = 0x1000;
  a.g_pat = 0x0007040600070406;
  return a;
}

TEST(SnpKvm, AsidsComeFromTheCpusRanges) {
  Host h;
  auto snp = h.vm(hv::VmType::kSnp);
  auto plain = h.vm(hv::VmType::kDefault);
  ASSERT_TRUE(snp && plain);
  // CPUID Fn8000_001F: EDX = 100 (lowest SEV-only ASID), ECX = 1006 (highest encrypted ASID).
  EXPECT_GE(snp->asid().value, 1u);
  EXPECT_LT(snp->asid().value, 100u) << "SEV-ES/SNP guests take ASIDs below min_sev_asid";
  EXPECT_GT(plain->asid().value, 1006u) << "plain guests take ASIDs above max_sev_asid";
}

TEST(SnpKvm, LaunchedPagesAreGuestOwnedEncryptedAndMeasured) {
  Host h;
  auto vm = h.vm(hv::VmType::kSnp);
  ASSERT_TRUE(vm);
  make_private(*vm);
  ASSERT_TRUE(vm->snp_launch_start(SnpLaunchStart{}).has_value());
  ASSERT_NE(vm->snp_gctx().value, 0u);
  EXPECT_TRUE(h.entry(Pfn{vm->snp_gctx().value >> kPageShift}).assigned) << "context page firmware-owned";
  std::vector<uint8_t> data = pattern(2, 0x31);
  const std::vector<uint8_t> original = data;
  auto up = vm->snp_launch_update(SnpLaunchUpdate{.gfn_start = Gfn{0x100}, .pages = 2, .type = fw::PageType::kNormal, .source = data});
  ASSERT_TRUE(up.has_value()) << up.error().describe();
  auto zero = vm->snp_launch_update(SnpLaunchUpdate{.gfn_start = Gfn{0x200}, .pages = 1, .type = fw::PageType::kZero, .source = {}});
  ASSERT_TRUE(zero.has_value()) << zero.error().describe();
  const auto key = h.machine->keys().key(vm->asid());
  ASSERT_TRUE(key.has_value()) << "SNP_ACTIVATE installed no key for ASID " << vm->asid().value;
  for (uint64_t i = 0; i < 2; ++i) {
    const Gfn gfn{0x100 + i};
    auto pfn = vm->vm().private_backing(gfn);
    ASSERT_TRUE(pfn.has_value()) << "gfn " << hex(gfn.value) << " has no guest_memfd page";
    const rmp::RmpEntry e = h.entry(*pfn);
    EXPECT_TRUE(e.assigned && e.immutable && !e.validated) << "during the launch: " << e.to_string();
    EXPECT_EQ(e.asid, vm->asid());
    EXPECT_EQ(e.gpa.value, gfn.value << kPageShift);
    const Hpa hpa{pfn->value << kPageShift};
    std::vector<uint8_t> raw = h.read(hpa, kPageSize);
    const std::vector<uint8_t> want(original.begin() + i * kPageSize, original.begin() + (i + 1) * kPageSize);
    EXPECT_NE(raw, want) << "the host reads plaintext at hpa " << hex(hpa.value);
    memcrypt::apply(*key, hpa.value, raw);
    EXPECT_EQ(raw, want) << "decrypted with the ASID's key";
  }
  const svm::SevEsSaveArea vmsa = start_vmsa();
  ASSERT_TRUE(vm->vcpu(0).set_vmsa(vmsa).has_value());
  auto fin = vm->snp_launch_finish(SnpLaunchFinish{});
  ASSERT_TRUE(fin.has_value()) << fin.error().describe();
  const rmp::RmpEntry after = h.entry(*vm->vm().private_backing(Gfn{0x100}));
  EXPECT_TRUE(after.assigned && after.validated && !after.immutable) << "after LAUNCH_FINISH: " << after.to_string();
  const Pfn vmsa_pfn{vm->vcpu(0).vmcb().control.vmsa_pa >> kPageShift};
  const rmp::RmpEntry v = h.entry(vmsa_pfn);
  EXPECT_TRUE(v.assigned && v.vmsa && v.validated) << "VMSA page: " << v.to_string();
  EXPECT_EQ(v.gpa, fw::kVmsaGpa);
  // The digest: the same pages, in the same order, through the firmware's PAGE_INFO chain.
  fw::LaunchDigest d;
  ASSERT_TRUE(d.update_normal(Gpa{0x100000}, original).has_value());
  ASSERT_TRUE(d.update_zero(Gpa{0x200000}, 1).has_value());
  std::vector<uint8_t> page(kPageSize, 0);
  std::memcpy(page.data(), &vmsa, sizeof vmsa);
  ASSERT_TRUE(d.update_vmsa(page).has_value());
  ASSERT_NE(vm->snp_context(), nullptr);
  EXPECT_EQ(vm->snp_context()->digest.digest(), d.digest());
  EXPECT_EQ(vm->snp_context()->state, fw::GuestState::kRunning);
}

TEST(SnpKvm, TheLaunchRunsInKvmsOrder) {
  Host h;
  auto plain = h.vm(hv::VmType::kDefault);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->snp_launch_start(SnpLaunchStart{}).error().code, hv::KvmErrno::kEinval);
  auto vm = h.vm(hv::VmType::kSnp);
  ASSERT_TRUE(vm);
  std::vector<uint8_t> data = pattern(1, 1);
  const SnpLaunchUpdate update{.gfn_start = Gfn{0x100}, .pages = 1, .type = fw::PageType::kNormal, .source = data};
  EXPECT_EQ(vm->snp_launch_update(update).error().code, hv::KvmErrno::kEinval) << "update before start";
  EXPECT_EQ(vm->snp_launch_finish(SnpLaunchFinish{}).error().code, hv::KvmErrno::kEinval) << "finish before start";
  ASSERT_TRUE(vm->snp_launch_start(SnpLaunchStart{}).has_value());
  EXPECT_EQ(vm->snp_launch_start(SnpLaunchStart{}).error().code, hv::KvmErrno::kEinval) << "start twice";
  // The GFN is still shared: kvm_gmem_populate refuses it, and nothing reaches the RMP.
  auto shared = vm->snp_launch_update(update);
  ASSERT_FALSE(shared.has_value());
  EXPECT_EQ(shared.error().code, hv::KvmErrno::kEinval);
  if (auto pfn = vm->vm().private_backing(Gfn{0x100})) {
    EXPECT_FALSE(h.entry(*pfn).assigned);
  }
  make_private(*vm);
  std::vector<uint8_t> short_source(100);
  EXPECT_EQ(vm->snp_launch_update(SnpLaunchUpdate{.gfn_start = Gfn{0x100}, .pages = 1, .type = fw::PageType::kNormal,
                                                  .source = short_source})
                .error()
                .code,
            hv::KvmErrno::kEinval);
  EXPECT_EQ(vm->snp_launch_update(SnpLaunchUpdate{.gfn_start = Gfn{0x100}, .pages = 1, .type = fw::PageType::kVmsa,
                                                  .source = data})
                .error()
                .code,
            hv::KvmErrno::kEinval)
      << "VMSA pages come from LAUNCH_FINISH";
  ASSERT_TRUE(vm->snp_launch_update(update).has_value());
  auto again = vm->snp_launch_update(update);
  ASSERT_FALSE(again.has_value()) << "a page can be launched once";
  ASSERT_TRUE(vm->vcpu(0).set_vmsa(start_vmsa()).has_value());
  ASSERT_TRUE(vm->snp_launch_finish(SnpLaunchFinish{}).has_value());
  EXPECT_EQ(vm->snp_launch_finish(SnpLaunchFinish{}).error().code, hv::KvmErrno::kEinval) << "finish twice";
  EXPECT_EQ(vm->vcpu(0).set_vmsa(start_vmsa()).error().code, hv::KvmErrno::kEinval) << "state is protected";
}

TEST(SnpKvm, FirstPrivateFaultAssignsThePageAndPunchHoleReturnsIt) {
  Host h;
  auto vm = h.vm(hv::VmType::kSnp);
  ASSERT_TRUE(vm);
  make_private(*vm);
  const hv::FaultOutcome f = vm->vm().faultin(hv::FaultRequest{.gpa = Gpa{0x300000}, .is_private = true});
  ASSERT_EQ(f.kind, hv::FaultOutcome::Kind::kMap) << f.why;
  EXPECT_TRUE(f.prepared_now);
  const rmp::RmpEntry e = h.entry(f.pfn);
  // sev_gmem_prepare: assigned to the guest at its GPA, not validated, not immutable.
  EXPECT_TRUE(e.assigned && !e.validated && !e.immutable) << e.to_string();
  EXPECT_EQ(e.asid, vm->asid());
  EXPECT_EQ(e.gpa.value, 0x300000u);
  const uint32_t fd = vm->vm().memslots().all().at(0)->gmem->guest_memfd;
  auto freed = vm->vm().gmem_punch_hole(fd, 0x300000, kPageSize);
  ASSERT_TRUE(freed.has_value());
  EXPECT_EQ(*freed, 1u);
  EXPECT_FALSE(h.entry(f.pfn).assigned) << "sev_gmem_invalidate returns the page to the hypervisor";
  EXPECT_EQ(vm->leaked_pages(), 0u);
}

TEST(SnpKvm, TeardownReturnsEveryPageToTheHypervisor) {
  Host h;
  std::vector<Pfn> pages;
  Pfn gctx{}, vmsa{};
  {
    auto vm = h.vm(hv::VmType::kSnp);
    ASSERT_TRUE(vm);
    make_private(*vm);
    ASSERT_TRUE(vm->snp_launch_start(SnpLaunchStart{}).has_value());
    std::vector<uint8_t> data = pattern(3, 9);
    ASSERT_TRUE(vm->snp_launch_update(SnpLaunchUpdate{.gfn_start = Gfn{0x400}, .pages = 3, .type = fw::PageType::kNormal,
                                                      .source = data})
                    .has_value());
    ASSERT_TRUE(vm->vcpu(0).set_vmsa(start_vmsa()).has_value());
    ASSERT_TRUE(vm->snp_launch_finish(SnpLaunchFinish{}).has_value());
    for (uint64_t i = 0; i < 3; ++i) pages.push_back(*vm->vm().private_backing(Gfn{0x400 + i}));
    gctx = Pfn{vm->snp_gctx().value >> kPageShift};
    vmsa = Pfn{vm->vcpu(0).vmcb().control.vmsa_pa >> kPageShift};
    EXPECT_EQ(h.machine->firmware()->guest_count(), 1u);
  }
  for (Pfn p : pages) EXPECT_FALSE(h.entry(p).assigned) << "guest page " << hex(p.value << kPageShift);
  EXPECT_FALSE(h.entry(gctx).assigned) << "context page reclaimed";
  EXPECT_FALSE(h.entry(vmsa).assigned) << "VMSA page made shared";
  EXPECT_TRUE(h.machine->firmware()->check_invariants().empty());
}

// SNP AP creation as the run loop applies it (sev_snp_init_protected_guest_state): the target's
// VMCB switches to the guest page named by the request. A page the guest never turned into a
// VMSA (no RMPADJUST with the VMSA bit) is refused by VMRUN itself, which KVM relies on: the
// target's KVM_RUN ends in KVM_EXIT_FAIL_ENTRY and the core names the broken rule. A DESTROY
// leaves the vCPU offline (KVM_RUN blocks).
TEST(SnpKvm, ApCreationSwitchesTheVmsaAndVmrunRefusesANonVmsaPage) {
  Host h;
  auto vm = h.vm(hv::VmType::kSnp, 2);
  ASSERT_TRUE(vm);
  make_private(*vm);
  ASSERT_TRUE(vm->snp_launch_start(SnpLaunchStart{}).has_value());
  std::vector<uint8_t> page(kPageSize, 0);
  const svm::SevEsSaveArea state = start_vmsa();
  std::memcpy(page.data(), &state, sizeof state);
  ASSERT_TRUE(vm->snp_launch_update(SnpLaunchUpdate{.gfn_start = Gfn{0x301}, .pages = 1, .type = fw::PageType::kNormal,
                                                    .source = page})
                  .has_value());
  ASSERT_TRUE(vm->vcpu(0).set_vmsa(start_vmsa()).has_value());
  ASSERT_TRUE(vm->vcpu(1).set_vmsa(start_vmsa()).has_value());
  ASSERT_TRUE(vm->snp_launch_finish(SnpLaunchFinish{}).has_value());
  // What the hypervisor's AP_CREATION handler records for CREATE (see test/hv).
  hv::SevEsVcpu& es = vm->context().vcpus.at(1)->sev_es;
  es.snp_vmsa_gpa = 0x301000;
  es.snp_ap_waiting_for_reset = true;
  es.update_protected_state = true;
  EXPECT_TRUE(vm->vcpu(1).has_pending_event());
  ASSERT_EQ(vm->vcpu(1).run(1'000'000), RunStatus::kExit);
  const Pfn guest_page = *vm->vm().private_backing(Gfn{0x301});
  EXPECT_EQ(vm->vcpu(1).vmcb().control.vmsa_pa, guest_page.value << kPageShift) << "the VMCB uses the guest's page";
  EXPECT_EQ(vm->vcpu(1).kvm_run().exit_reason, hv::KvmExitReason::kFailEntry);
  EXPECT_EQ(vm->vcpu(1).core().last_vmrun_check(), svm::VmrunCheck::kSnpVmsaBitClear);
  // DESTROY: no VMSA, offline.
  es.snp_vmsa_gpa = hv::SevEsVcpu::kNoGpa;
  es.snp_ap_waiting_for_reset = true;
  es.update_protected_state = true;
  EXPECT_EQ(vm->vcpu(1).run(1'000'000), RunStatus::kBlocked);
  EXPECT_EQ(vm->vcpu(1).mp_state(), hv::MpState::kHalted);
  // Forced runnable by the VMM without a VMSA: KVM_RUN -EINVAL.
  vm->vcpu(1).set_mp_state(hv::MpState::kRunnable);
  EXPECT_EQ(vm->vcpu(1).run(1'000'000), RunStatus::kExit);
  EXPECT_EQ(vm->vcpu(1).last_error(), hv::KvmErrno::kEinval);
}

// A guest request through the VM's AMD-SP channel (what the hypervisor's GUEST_REQUEST handler
// calls): sealed under VMPCK0 from the launched secrets page (read back by decrypting it with
// the ASID's key, as only the guest could), answered with a report that carries the report data
// and the launch digest and verifies against the model VCEK; a replay is refused by the
// firmware's sequence check and reported as a firmware status.
TEST(SnpKvm, GuestRequestChannelAnswersWithASignedReport) {
  Host h;
  auto vm = h.vm(hv::VmType::kSnp);
  ASSERT_TRUE(vm);
  make_private(*vm);
  ASSERT_TRUE(vm->snp_launch_start(SnpLaunchStart{}).has_value());
  ASSERT_TRUE(vm->snp_launch_update(SnpLaunchUpdate{.gfn_start = Gfn{0x80}, .pages = 1, .type = fw::PageType::kSecrets,
                                                    .source = {}})
                  .has_value());
  ASSERT_TRUE(vm->vcpu(0).set_vmsa(start_vmsa()).has_value());
  ASSERT_TRUE(vm->snp_launch_finish(SnpLaunchFinish{}).has_value());
  ASSERT_NE(vm->context().guest_requests, nullptr);
  const Pfn secrets_pfn = *vm->vm().private_backing(Gfn{0x80});
  std::vector<uint8_t> secrets = h.read(Hpa{secrets_pfn.value << kPageShift}, kPageSize);
  memcrypt::apply(*h.machine->keys().key(vm->asid()), secrets_pfn.value << kPageShift, secrets);
  auto page = fw::parse_secrets_page(secrets);
  ASSERT_TRUE(page.has_value()) << page.error().message;
  const fw::Vmpck vmpck0 = page->vmpck[0];

  fw::MsgReportReq req{};
  for (int i = 0; i < 64; ++i) req.report_data[i] = static_cast<uint8_t>(i);
  auto sealed = fw::seal_message(vmpck0, fw::MsgType::kReportReq, 1, 1, 0, fw::serialize_report_req(req));
  ASSERT_TRUE(sealed.has_value()) << sealed.error().message;
  std::vector<uint8_t> request(kPageSize, 0), response(kPageSize, 0);
  std::copy(sealed->begin(), sealed->end(), request.begin());
  const hv::GuestRequestChannel::Result r = vm->context().guest_requests->guest_request(request, response);
  ASSERT_TRUE(r.issued);
  ASSERT_EQ(r.fw_error, 0u) << r.message;
  auto opened = fw::open_message(vmpck0, response);
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(opened->header.msg_seqno, 2u);
  EXPECT_EQ(opened->header.msg_type, static_cast<uint8_t>(fw::MsgType::kReportRsp));
  auto rsp = fw::parse_report_rsp(opened->payload);
  ASSERT_TRUE(rsp.has_value()) << rsp.error().message;
  EXPECT_EQ(rsp->status, 0u);
  EXPECT_EQ(rsp->report.report_data, req.report_data);
  EXPECT_EQ(rsp->report.measurement, vm->snp_context()->digest.digest());
  const auto bytes = fw::serialize_report(rsp->report);
  EXPECT_TRUE(fw::verify_report_signature(bytes, h.machine->firmware()->vcek().public_key()).has_value());

  const hv::GuestRequestChannel::Result replay = vm->context().guest_requests->guest_request(request, response);
  EXPECT_TRUE(replay.issued);
  EXPECT_NE(replay.fw_error, 0u) << "a replayed sequence number must be refused";
}

}  // namespace
}  // namespace snpemu::kvm
