// SEV-SNP on the core: the RMP checks on a guest's access path (#VC for an unvalidated private
// page, NPF with the RMP bits for a page not assigned to the guest, VMPL permissions), PVALIDATE
// and RMPADJUST executed by guest code, RMPUPDATE through the host-instruction path, and a
// host write to a guest-owned page refused with the RMP #PF (PLATFORM-FACTS 4.4-4.7); VMRUN's
// RMP rules for an SNP guest's VMSA and its in-use marking, one test per rule (SnpVmsaTest).
#include <gtest/gtest.h>

#include <optional>

#include "rmp/rmp.h"
#include "test/cpu/memory_bus.h"
#include "test/cpu/svm_fixture.h"

namespace snpemu::cpu {
namespace {

using namespace testing;  // NOLINT: the fixture's constants

constexpr uint64_t kMemSize = uint64_t{64} << 20;
constexpr uint32_t kAsid = 1;
constexpr uint64_t kVmsa1 = kVmsa + 0x1000;  // the VMPL1 vCPU's VMSA

struct SnpMachine {
  MemoryBus bus{kMemSize};
  std::optional<rmp::Rmp> table;
  SnpMachine() {
    const uint64_t base = kMemSize - (uint64_t{4} << 20);
    auto r = rmp::Rmp::create(bus.memory(), rmp::RmpMsrs{rmp::kSyscfgSnpEn, base, kMemSize - 1, 0});
    if (!r) std::abort();
    table.emplace(std::move(*r));
  }
};

class SnpTest : public SnpMachine, public SvmTestOn<MemoryBus> {
 protected:
  SnpTest() : SvmTestOn<MemoryBus>(bus, config(&*table)) {
    vmcb_.control.nested_ctl = svm::nested_ctl::kNpEnable | svm::nested_ctl::kSevEnable |
                               svm::nested_ctl::kSevEsEnable;
    vmcb_.control.asid = kAsid;
    vmcb_.control.vmsa_pa = kVmsa;
    build_npt();
    // GDT at GPA 0x2000, IDT at 0x3000, #VC handler at 0x4000 (vmgexit), stack below 0x8000.
    poke(0x2008, 0x00AF9A000000FFFF);
    poke(0x2010, 0x00CF92000000FFFF);
    gate(kGuestBase + 0x3000, 29, 0x4000);
    code({0xF3, 0x0F, 0x01, 0xD9}, kGuestBase + 0x4000);
    for (uint64_t gpa : {0x1000, 0x2000, 0x3000, 0x4000, 0x7000}) make_private(gpa, true);
    for (uint64_t pa : {kVmsa, kVmsa1}) table->store(Pfn{pa >> 12}, vmsa_entry());
  }
  // A launched VMSA page as SNP_LAUNCH_FINISH leaves it: assigned to the guest at KVM's
  // INITIAL_VMSA_GPA, 4 KiB, validated, VMSA bit (PLATFORM-FACTS 8.3 / 8.4).
  static rmp::RmpEntry vmsa_entry() {
    rmp::RmpEntry e;
    e.assigned = true;
    e.asid = Asid{kAsid};
    e.gpa = Gpa{0xFFFFFFFFF000};
    e.validated = true;
    e.vmsa = true;
    return e;
  }
  static CoreConfig config(rmp::Rmp* r) {
    CoreConfig c;
    c.rmp = r;
    return c;
  }
  void poke(uint64_t gpa, uint64_t v) { bus_.poke<uint64_t>(kGuestBase + gpa, v); }
  uint64_t peek(uint64_t gpa) { return bus_.peek<uint64_t>(kGuestBase + gpa); }
  // RMPUPDATE through the core's host path (assign to the guest), then, if asked, what the
  // AMD-SP's launch does for measured pages: validate.
  void make_private(uint64_t gpa, bool validate) {
    rmp::RmpStateView st;
    st.gpa = gpa;
    st.assigned = 1;
    st.asid = kAsid;
    auto r = core_.rmpupdate(kGuestBase + gpa, st);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->rc, rmp::RmpRc::kSuccess) << r->to_string();
    if (!validate) return;
    const rmp::GuestPageRef page{Gva{gpa}, Gpa{gpa}, Hpa{kGuestBase + gpa}, rmp::MappingSize::k4K};
    const auto v = rmp::pvalidate(*table, rmp::GuestContext{Asid{kAsid}, Vmpl{0}}, page,
                                  rmp::PageSize::k4K, true);
    ASSERT_FALSE(v.fault.has_value()) << v.to_string();
  }
  // What a VMPL0 SVSM does for its VMPL1 guest: RMPADJUST granting `perms` to VMPL1.
  void grant_vmpl1(uint64_t gpa, uint8_t perms) {
    const rmp::GuestPageRef page{Gva{gpa}, Gpa{gpa}, Hpa{kGuestBase + gpa}, rmp::MappingSize::k4K};
    const auto r = rmp::rmpadjust(*table, rmp::GuestContext{Asid{kAsid}, Vmpl{0}}, page,
                                  rmp::PageSize::k4K, 1 | (uint64_t{perms} << 8));
    ASSERT_EQ(r.rc, rmp::RmpRc::kSuccess) << r.to_string();
  }
  svm::SevEsSaveArea vmsa(uint8_t vmpl, uint64_t rip) {
    svm::SevEsSaveArea a{};
    a.cs = vmcb_.save.cs;
    a.ds = a.es = a.ss = vmcb_.save.ds;
    a.gdtr = {0, 0, 0x17, 0x2000};
    a.idtr = {0, 0, 0xFFF, 0x3000};
    a.efer = vmcb_.save.efer;
    a.cr0 = vmcb_.save.cr0;
    a.cr4 = vmcb_.save.cr4;
    a.rflags = 2;
    a.rip = rip;
    a.rsp = 0x8000;
    a.vmpl = vmpl;
    a.sev_features = svm::sev_features::kSnpActive;
    a.g_pat = vmcb_.save.g_pat;
    return a;
  }
  StopReason run_vcpu(uint64_t vmsa_pa, const svm::SevEsSaveArea& a) {
    bus_.poke(vmsa_pa, a);
    vmcb_.control.vmsa_pa = vmsa_pa;
    return enter_and_run();
  }
  svm::SevEsSaveArea saved(uint64_t vmsa_pa = kVmsa) { return bus_.peek<svm::SevEsSaveArea>(vmsa_pa); }
};

TEST_F(SnpTest, UnvalidatedPrivatePageRaisesVc) {
  make_private(0x5000, /*validate=*/false);
  code({0x48, 0x8B, 0x04, 0x25, 0x00, 0x50, 0, 0}, kGuestBase + 0x1000);  // mov rax, [0x5000]
  ASSERT_EQ(run_vcpu(kVmsa, vmsa(0, 0x1000)), StopReason::kVmexit);
  ASSERT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kVmgexit)) << "the #VC handler ran";
  EXPECT_EQ(saved().rip, 0x4004u);
  EXPECT_EQ(peek(0x8000 - 48), rmp::kVcPageNotValidated) << "#VC error code 0x404 (PLATFORM-FACTS 4.7)";
  EXPECT_EQ(peek(0x8000 - 40), 0x1000u) << "the faulting instruction's RIP";
}

TEST_F(SnpTest, PvalidateValidatesThenReportsUnchanged) {
  make_private(0x5000, /*validate=*/false);
  poke(0x5000, 0xFEEDF00D);
  code({0xB8, 0x00, 0x50, 0x00, 0x00,              // mov eax, 0x5000
        0x31, 0xC9,                                // xor ecx, ecx (4 KiB)
        0xBA, 0x01, 0x00, 0x00, 0x00,              // mov edx, 1 (validate)
        0xF2, 0x0F, 0x01, 0xFF,                    // pvalidate
        0x49, 0x89, 0xC0,                          // mov r8, rax
        0x9C, 0x41, 0x59,                          // pushfq; pop r9
        0xB8, 0x00, 0x50, 0x00, 0x00,              // mov eax, 0x5000
        0xF2, 0x0F, 0x01, 0xFF,                    // pvalidate (again)
        0x9C, 0x41, 0x5A,                          // pushfq; pop r10
        0x4C, 0x8B, 0x1C, 0x25, 0x00, 0x50, 0, 0,  // mov r11, [0x5000]
        0xF3, 0x0F, 0x01, 0xD9},                   // vmgexit
       kGuestBase + 0x1000);
  ASSERT_EQ(run_vcpu(kVmsa, vmsa(0, 0x1000)), StopReason::kVmexit);
  ASSERT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kVmgexit));
  const auto a = saved();
  EXPECT_EQ(a.r8, 0u) << "PVALIDATE succeeded";
  EXPECT_EQ(a.r9 & flag::kCf, 0u) << "CF = 0: the entry changed";
  EXPECT_EQ(a.rax, 0u);
  EXPECT_EQ(a.r10 & flag::kCf, flag::kCf) << "CF = 1: already validated, unchanged (PLATFORM-FACTS 4.5)";
  EXPECT_EQ(a.r11, 0xFEEDF00Du) << "the validated page is readable";
  EXPECT_TRUE(table->entry(Pfn{(kGuestBase + 0x5000) >> 12}).validated);
}

TEST_F(SnpTest, PrivateAccessToAHypervisorPageIsNpfWithRmpBits) {
  code({0x48, 0x8B, 0x04, 0x25, 0x00, 0x60, 0, 0}, kGuestBase + 0x1000);  // mov rax, [0x6000]
  ASSERT_EQ(run_vcpu(kVmsa, vmsa(0, 0x1000)), StopReason::kVmexit);
  const svm::Vmcb v = read_vmcb();
  ASSERT_EQ(v.control.exit_code, svm::to_u64(ExitCode::kNpf));
  EXPECT_EQ(v.control.exit_info_2, 0x6000u);
  EXPECT_TRUE(v.control.exit_info_1 & rmp::npf::kRmp) << std::hex << v.control.exit_info_1;
  EXPECT_TRUE(v.control.exit_info_1 & rmp::npf::kEnc);
  EXPECT_TRUE(v.control.exit_info_1 & rmp::npf::kGuestFinal);
}

TEST_F(SnpTest, HostWriteToGuestPageIsRefusedWithRmpFault) {
  poke(0x1000, 0x1111);
  const uint64_t v = 0x2222;
  uint64_t bus_error = kNoBusError;
  auto r = core_.write_linear(kGuestBase + 0x1000, std::span(reinterpret_cast<const uint8_t*>(&v), 8),
                              LinearAccess{mmu::AccessKind::kWrite, false}, &bus_error);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().vector, Vector::kPf);
  EXPECT_TRUE(r.error().error_code & rmp::hostpf::kRmp) << "bit 31 (PLATFORM-FACTS 4.7)";
  EXPECT_EQ(peek(0x1000), 0x1111u) << "nothing was written";
}

TEST_F(SnpTest, RmpadjustGivesVmpl1ReadOnlyAccess) {
  make_private(0x5000, /*validate=*/true);
  poke(0x5000, 0xAB);
  // VMPL0: RMPADJUST 0x5000, 4 KiB, target VMPL1 with read only; vmgexit.
  code({0xB8, 0x00, 0x50, 0x00, 0x00,                    // mov eax, 0x5000
        0x31, 0xC9,                                      // xor ecx, ecx
        0xBA, 0x01, 0x01, 0x00, 0x00,                    // mov edx, 0x101 (VMPL1, R)
        0xF3, 0x0F, 0x01, 0xFE,                          // rmpadjust
        0xF3, 0x0F, 0x01, 0xD9},                         // vmgexit
       kGuestBase + 0x1000);
  ASSERT_EQ(run_vcpu(kVmsa, vmsa(0, 0x1000)), StopReason::kVmexit);
  ASSERT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kVmgexit));
  ASSERT_EQ(saved().rax, 0u) << "RMPADJUST succeeded";
  // VMPL1 needs its own rights on the pages it uses (an SVSM grants them).
  make_private(0x9000, true);
  grant_vmpl1(0x9000, rmp::perm::kRead | rmp::perm::kSupervisorExec);
  for (uint64_t gpa : {0x2000, 0x3000}) grant_vmpl1(gpa, rmp::perm::kRead);
  grant_vmpl1(0x7000, rmp::perm::kRead | rmp::perm::kWrite);
  // VMPL1: mov rbx, [0x5000]; mov [0x5000], rbx
  code({0x48, 0x8B, 0x1C, 0x25, 0x00, 0x50, 0, 0, 0x48, 0x89, 0x1C, 0x25, 0x00, 0x50, 0, 0},
       kGuestBase + 0x9000);
  ASSERT_EQ(run_vcpu(kVmsa1, vmsa(1, 0x9000)), StopReason::kVmexit);
  const svm::Vmcb v = read_vmcb();
  ASSERT_EQ(v.control.exit_code, svm::to_u64(ExitCode::kNpf));
  EXPECT_EQ(v.control.exit_info_2, 0x5000u);
  EXPECT_TRUE(v.control.exit_info_1 & rmp::npf::kVmpl) << std::hex << v.control.exit_info_1;
  EXPECT_TRUE(v.control.exit_info_1 & rmp::npf::kWrite);
  const auto a = saved(kVmsa1);
  EXPECT_EQ(a.rbx, 0xABu) << "the read was allowed";
  EXPECT_EQ(a.rip, 0x9008u) << "the write did not retire";
}

TEST_F(SnpTest, PvalidateOutsideAnSnpGuestIsUd) {
  // A non-SNP guest's accesses are all checked as shared, so its code lives in a page the
  // hypervisor still owns (0x9000).
  intercept(Intercept(svm::exception_intercept(6)));
  code({0xF2, 0x0F, 0x01, 0xFF}, kGuestBase + 0x9000);  // pvalidate
  auto es_only = vmsa(0, 0x9000);
  es_only.sev_features = 0;  // SEV-ES, not SNP
  ASSERT_EQ(run_vcpu(kVmsa, es_only), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(svm::exit_exception(6)));
}

TEST_F(SnpTest, HostSnpInstructionsCheckPrivilege) {
  auto r = core_.rmpupdate(0x1000, rmp::RmpStateView{});
  ASSERT_TRUE(r.has_value()) << "RMPUPDATE is a host instruction";
  core_.state().cpl = 3;
  auto denied = core_.psmash(0x200000);
  ASSERT_FALSE(denied.has_value());
  EXPECT_EQ(denied.error(), gp(0)) << "CPL 3";
}

// ---- VMRUN's RMP checks of an SNP guest's VMSA (svm::check_snp_vmsa, cpu/vmsa_rmp.cc) ------

class SnpVmsaTest : public SnpTest {
 protected:
  static constexpr Pfn kVmsaPfn{kVmsa >> 12};
  SnpVmsaTest() {
    code({0xF3, 0x0F, 0x01, 0xD9}, kGuestBase + 0x1000);  // vmgexit
    bus_.poke(kVmsa, vmsa(0, 0x1000));
    vmcb_.control.vmsa_pa = kVmsa;
  }
  // VMRUN through the host path; the check it reports. `entered`: whether the guest was entered.
  svm::VmrunCheck vmrun_check(bool& entered) {
    write_vmcb();
    auto r = core_.vmrun(kVmcb);
    EXPECT_TRUE(r.has_value()) << "VMRUN faulted";
    entered = r.has_value() && *r;
    return core_.last_vmrun_check();
  }
  // VMRUN must fail with VMEXIT_INVALID naming `rule`, without entering or marking the VMSA
  // (`marked_elsewhere`: another core's run holds the mark).
  void expect_invalid(svm::VmrunCheck rule, bool marked_elsewhere = false) {
    bool entered = true;
    const svm::VmrunCheck got = vmrun_check(entered);
    EXPECT_EQ(got, rule) << "expected rule '" << svm::vmrun_check_name(rule) << "', got '"
                         << svm::vmrun_check_name(got) << "' for VMSA entry "
                         << table->entry(kVmsaPfn).to_string();
    EXPECT_FALSE(entered);
    EXPECT_FALSE(core_.in_guest());
    EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kInvalid)) << "VMEXIT_INVALID (-1)";
    EXPECT_EQ(table->vmsa_in_use(kVmsaPfn), marked_elsewhere) << "a failed VMRUN marks nothing in use";
  }
  void change_entry(auto&& edit) {
    rmp::RmpEntry e = vmsa_entry();
    edit(e);
    table->store(kVmsaPfn, e);
  }
};

TEST_F(SnpVmsaTest, LaunchedVmsaRunsAndIsInUseUntilVmexit) {
  bool entered = false;
  ASSERT_EQ(vmrun_check(entered), svm::VmrunCheck::kOk);
  ASSERT_TRUE(entered);
  EXPECT_TRUE(table->vmsa_in_use(kVmsaPfn)) << "VMRUN marks its VMSA in use (PLATFORM-FACTS 4.3)";
  // What another core's RMPUPDATE of the running VMSA gets.
  rmp::RmpStateView shared;
  EXPECT_EQ(rmp::rmpupdate(*table, Hpa{kVmsa}, shared).rc, rmp::RmpRc::kFailInuse);
  ASSERT_EQ(core_.run(1'000'000), StopReason::kVmexit);
  ASSERT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kVmgexit));
  EXPECT_FALSE(table->vmsa_in_use(kVmsaPfn)) << "#VMEXIT clears the in-use mark";
  const auto r = core_.rmpupdate(kVmsa, shared);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rc, rmp::RmpRc::kSuccess) << "the stopped vCPU's VMSA can be reclaimed: " << r->to_string();
}

TEST_F(SnpVmsaTest, UnassignedVmsaPageIsInvalid) {
  table->store(kVmsaPfn, rmp::RmpEntry{});  // a hypervisor page
  expect_invalid(svm::VmrunCheck::kSnpVmsaNotAssigned);
}

TEST_F(SnpVmsaTest, VmsaOfAnotherAsidIsInvalid) {
  change_entry([](rmp::RmpEntry& e) { e.asid = Asid{kAsid + 1}; });
  expect_invalid(svm::VmrunCheck::kSnpVmsaAsidMismatch);
}

TEST_F(SnpVmsaTest, VmsaInsideA2MRmpEntryIsInvalid) {
  // The whole 2 MiB region as one 2M RMP page (the rmp/ model stores 512 equal entries).
  for (uint64_t i = 0; i < 512; ++i) {
    rmp::RmpEntry e = vmsa_entry();
    e.page_size = rmp::PageSize::k2M;
    e.gpa = Gpa{0x40000000 + (i << 12)};
    table->store(Pfn{i}, e);
  }
  expect_invalid(svm::VmrunCheck::kSnpVmsaNot4K);
}

TEST_F(SnpVmsaTest, UnvalidatedVmsaIsInvalid) {
  change_entry([](rmp::RmpEntry& e) { e.validated = false; });
  expect_invalid(svm::VmrunCheck::kSnpVmsaNotValidated);
}

TEST_F(SnpVmsaTest, GuestPageWithoutVmsaBitIsInvalid) {
  change_entry([](rmp::RmpEntry& e) { e.vmsa = false; });
  expect_invalid(svm::VmrunCheck::kSnpVmsaBitClear);
}

TEST_F(SnpVmsaTest, VmsaRunningOnAnotherCoreIsInvalid) {
  // A second core of the machine (same memory, same RMP) with its own host save area and VMCB.
  constexpr uint64_t kHsave2 = 0x19000, kVmcb2 = 0x1A000;
  Core other(bus_, config(&*table));
  other.state() = core_.state();
  other.state().msr.vm_hsave_pa = kHsave2;
  write_vmcb();
  bus_.poke(kVmcb2, vmcb_);
  auto first = other.vmrun(kVmcb2);
  ASSERT_TRUE(first.has_value() && *first) << svm::vmrun_check_name(other.last_vmrun_check());
  expect_invalid(svm::VmrunCheck::kSnpVmsaInUse, /*marked_elsewhere=*/true);
  ASSERT_EQ(other.run(1'000'000), StopReason::kVmexit);
  bool entered = false;
  EXPECT_EQ(vmrun_check(entered), svm::VmrunCheck::kOk) << "free again after the other core's #VMEXIT";
  EXPECT_TRUE(entered);
}

TEST_F(SnpVmsaTest, SevEsGuestIgnoresTheRmpOfItsVmsa) {
  // SEV-ES without SNP: the VMSA is an ordinary hypervisor page; no RMP rule applies.
  table->store(kVmsaPfn, rmp::RmpEntry{});
  code({0xF3, 0x0F, 0x01, 0xD9}, kGuestBase + 0x9000);  // vmgexit, in a hypervisor-owned page
  auto es_only = vmsa(0, 0x9000);
  es_only.sev_features = 0;
  bus_.poke(kVmsa, es_only);
  bool entered = false;
  EXPECT_EQ(vmrun_check(entered), svm::VmrunCheck::kOk) << svm::vmrun_check_name(core_.last_vmrun_check());
  ASSERT_TRUE(entered);
  EXPECT_FALSE(table->vmsa_in_use(kVmsaPfn)) << "only SNP VMSAs are marked in use";
  EXPECT_EQ(core_.run(1'000'000), StopReason::kVmexit);
  EXPECT_EQ(read_vmcb().control.exit_code, svm::to_u64(ExitCode::kVmgexit));
}

}  // namespace
}  // namespace snpemu::cpu
