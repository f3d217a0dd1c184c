// The SNP AP_CREATION NAE event in the hypervisor (emu/hv/ghcb_ap_creation.cc): the checks KVM
// makes (target exists, RAX = the VM's SEV features, a page-aligned GPA that is not 2 MiB
// aligned, a known request) answered with malformed input (2, 5), and the request recorded on
// the target vCPU: CREATE and DESTROY ask for a protected-state update before its next run,
// CREATE_ON_INIT waits for its INIT. PLATFORM-FACTS 9.2 [L] KVM sev.c sev_snp_ap_creation.
#include <gtest/gtest.h>

#include "test/hv/ghcb_fixture.h"

namespace snpemu::hv::test {
namespace {

using F = ghcb::GhcbField;
constexpr uint64_t kApCreation = 0x8000'0013;
constexpr uint64_t kVmsaGpa = 0x30'1000;  // page aligned, not 2 MiB aligned

struct ApFixture : GhcbFixture {
  VcpuState ap{};
  ApFixture() : GhcbFixture(VmType::kSnp) {
    ap.id = 1;
    vmctx.vcpus = {&vcpu, &ap};
    vmctx.vmsa_features = 1;  // SNP_ACTIVE
    vmgexit_msr(((kGhcbGpa >> 12) << 12) | 0x012);  // register the GHCB (SNP)
  }
  void request(uint32_t req, uint32_t apic_id, uint64_t gpa, uint64_t features = 1) {
    call(kApCreation, (uint64_t{apic_id} << 32) | req, gpa);
    set(F::kRax, features);
    vmgexit();
  }
};

TEST(GhcbApCreation, CreateRecordsTheVmsaAndKicksTheTarget) {
  ApFixture f;
  f.request(1, 1, kVmsaGpa);
  EXPECT_EQ(f.info1(), 0u) << f.vcpu.run.message;
  EXPECT_EQ(f.ap.sev_es.snp_vmsa_gpa, kVmsaGpa);
  EXPECT_TRUE(f.ap.sev_es.snp_ap_waiting_for_reset);
  EXPECT_TRUE(f.ap.sev_es.update_protected_state);
  EXPECT_FALSE(f.vcpu.sev_es.snp_ap_waiting_for_reset) << "the requester is untouched";
}

TEST(GhcbApCreation, CreateOnInitWaitsForInitAndDestroyForgetsTheVmsa) {
  ApFixture f;
  f.request(0, 1, kVmsaGpa);
  EXPECT_EQ(f.info1(), 0u);
  EXPECT_TRUE(f.ap.sev_es.snp_ap_waiting_for_reset);
  EXPECT_FALSE(f.ap.sev_es.update_protected_state) << "CREATE_ON_INIT: applied at the next INIT";
  f.request(2, 1, 0);
  EXPECT_EQ(f.info1(), 0u);
  EXPECT_EQ(f.ap.sev_es.snp_vmsa_gpa, SevEsVcpu::kNoGpa);
  EXPECT_TRUE(f.ap.sev_es.update_protected_state);
}

TEST(GhcbApCreation, RefusedRequestsAreMalformedInputAndChangeNothing) {
  struct Case {
    const char* what;
    uint32_t req, apic;
    uint64_t gpa, features;
  };
  const Case cases[] = {
      {"no such vCPU", 1, 7, kVmsaGpa, 1},
      {"SEV features differ from the VM's", 1, 1, kVmsaGpa, 3},
      {"GPA not page aligned", 1, 1, kVmsaGpa + 8, 1},
      {"GPA 2 MiB aligned (erratum)", 1, 1, 0x40'0000, 1},
      {"GPA beyond 52 bits", 1, 1, uint64_t{1} << 52 | 0x1000, 1},
      {"unknown request", 3, 1, kVmsaGpa, 1},
  };
  for (const Case& c : cases) {
    ApFixture f;
    f.request(c.req, c.apic, c.gpa, c.features);
    EXPECT_EQ(f.info1(), 2u) << c.what;
    EXPECT_EQ(f.info2(), 5u) << c.what << ": GHCB_ERR_INVALID_INPUT";
    EXPECT_FALSE(f.ap.sev_es.snp_ap_waiting_for_reset) << c.what;
    EXPECT_FALSE(f.ap.sev_es.update_protected_state) << c.what;
    EXPECT_EQ(f.ap.sev_es.snp_vmsa_gpa, SevEsVcpu::kNoGpa) << c.what;
  }
}

TEST(GhcbApCreation, SevEsGuestsCannotSendIt) {
  GhcbFixture f;  // SEV-ES: AP_CREATION is an SNP-only event (validate_vmgexit)
  VcpuState ap{};
  f.vmctx.vcpus = {&f.vcpu, &ap};
  f.call(kApCreation, (uint64_t{1} << 32) | 1, kVmsaGpa);
  f.set(F::kRax, 0);
  f.vmgexit();
  EXPECT_EQ(f.info1(), 2u);
  EXPECT_FALSE(ap.sev_es.snp_ap_waiting_for_reset);
}

}  // namespace
}  // namespace snpemu::hv::test
