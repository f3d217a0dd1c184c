// emu/hv/ghcb_ap_creation.cc: the SNP AP_CREATION NAE event (0x8000_0013), PLATFORM-FACTS 9.2
// [L] KVM sev.c sev_snp_ap_creation: EXITINFO1[31:0] = request (0 CREATE_ON_INIT, 1 CREATE,
// 2 DESTROY), EXITINFO1[63:32] = the target's APIC ID (= vCPU id here), EXITINFO2 = the new
// VMSA's GPA, RAX = its SEV_FEATURES. Checks: the target exists; for the create requests RAX
// equals the VM's VMSA features, EXITINFO2 is a page-aligned GPA the guest can have, and is not
// 2 MiB aligned (the SNP erratum KVM guards against); any failure -> malformed input (2, 5) and
// the guest resumes. Effects on the target: the GPA (or "none" for DESTROY) is recorded and the
// target waits for reset; for CREATE and DESTROY it must update its protected state before its
// next run (KVM_REQ_UPDATE_PROTECTED_GUEST_STATE, applied by the run loop in emu/kvm), for
// CREATE_ON_INIT at its next INIT. KVM does not look at the RMP here: VMRUN enforces that the
// page is a VMSA page of this guest.
#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {
namespace {

enum : uint32_t { kCreateOnInit = 0, kCreate = 1, kDestroy = 2 };
constexpr uint64_t k2M = uint64_t{2} << 20;
constexpr unsigned kMaxGuestPhysBits = 52;  // page_address_valid: below the guest's MAXPHYADDR

ExitOutcome refuse(ExitContext& ctx, std::string why) {
  ctx.vcpu.run.message = "AP_CREATION refused: " + why;
  return ghcb_error(ctx, ghcb::malformed(ghcb::GhcbErrorCode::kInvalidInput, ctx.vcpu.run.message));
}

}  // namespace

ExitOutcome ghcb_ap_creation(ExitContext& ctx) {
  const uint64_t info1 = ctx.vmcb.control.exit_info_1;
  const uint64_t vmsa_gpa = ctx.vmcb.control.exit_info_2;
  const uint32_t request = static_cast<uint32_t>(info1);
  const uint32_t apic_id = static_cast<uint32_t>(info1 >> 32);
  VcpuState* target = apic_id < ctx.vm.vcpus.size() ? ctx.vm.vcpus[apic_id] : nullptr;
  if (target == nullptr) return refuse(ctx, "no vCPU with APIC ID " + std::to_string(apic_id));
  SevEsVcpu& t = target->sev_es;
  switch (request) {
    case kCreateOnInit:
    case kCreate: {
      const uint64_t features = ctx.vcpu.gprs.r[kRax];
      if (features != ctx.vm.vmsa_features) {
        return refuse(ctx, "SEV features " + hex(features) + " differ from the VM's " + hex(ctx.vm.vmsa_features));
      }
      // MAXPHYADDR check: UNCONFIRMED width (52 bits, the architectural maximum; KVM uses the
      // guest's CPUID 0x80000008 value, which the C-bit position reduces).
      if ((vmsa_gpa & kPageOffsetMask) != 0 || (vmsa_gpa >> kMaxGuestPhysBits) != 0) {
        return refuse(ctx, "VMSA GPA " + hex(vmsa_gpa) + " is not a valid page address");
      }
      if ((vmsa_gpa & (k2M - 1)) == 0) return refuse(ctx, "VMSA GPA " + hex(vmsa_gpa) + " is 2 MiB aligned");
      t.snp_vmsa_gpa = vmsa_gpa;
      break;
    }
    case kDestroy:
      t.snp_vmsa_gpa = SevEsVcpu::kNoGpa;
      break;
    default:
      return refuse(ctx, "unknown request " + std::to_string(request));
  }
  t.snp_ap_waiting_for_reset = true;
  if (request != kCreateOnInit) t.update_protected_state = true;
  ctx.vcpu.run.message = "AP_CREATION request " + std::to_string(request) + " for vCPU " + std::to_string(apic_id);
  return resume(ExitPath::kGhcbNae);
}

}  // namespace snpemu::hv::internal
