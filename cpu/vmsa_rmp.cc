// cpu/vmsa_rmp.cc: SEV-SNP and the VMSA page. VMRUN of an SNP guest checks the RMP entry of its
// VMSA (the rules are svm::check_snp_vmsa, cpu/svm/vmrun_check.cc) and marks the page in use
// in the machine's RMP until #VMEXIT, so that RMPUPDATE / PSMASH of a running VMSA fail with
// FAIL_INUSE (PLATFORM-FACTS 4.3 [AMD-eng, citing APM 15.36.12]: "VMRUN marks the VMSA page
// in-use; cleared on #VMEXIT"). The in-use set lives in rmp::Rmp, the object the machine's cores
// and the AMD-SP share; the core only remembers which page it marked.
#include "cpu/cpu.h"

namespace snpemu::cpu {

svm::VmrunCheck Core::snp_vmsa_check(uint64_t vmsa_pa, Asid asid) const {
  const rmp::Rmp& table = *config_.rmp;
  const Pfn pfn = pfn_of(Hpa{vmsa_pa});
  const rmp::RmpEntry e = table.entry(pfn);
  const svm::VmsaRmpState page{.covered = table.covers(pfn, 1),
                               .assigned = e.assigned,
                               .page_2m = e.page_size == rmp::PageSize::k2M,
                               .validated = e.validated,
                               .vmsa = e.vmsa,
                               .asid = e.asid.value,
                               .in_use = table.vmsa_in_use(pfn)};
  return svm::check_snp_vmsa(page, asid.value);
}

void Core::mark_vmsa_running(uint64_t vmsa_pa) {
  const Pfn pfn = pfn_of(Hpa{vmsa_pa});
  config_.rmp->set_vmsa_in_use(pfn, true);
  running_vmsa_ = pfn;
}

void Core::release_vmsa() {
  if (!running_vmsa_) return;
  config_.rmp->set_vmsa_in_use(*running_vmsa_, false);
  running_vmsa_.reset();
}

}  // namespace snpemu::cpu
