// emu/kvm/vcpu_run.cc: KVM_RUN on a machine core (see kvm.h for the sequence). Sources: Linux
// arch/x86/kvm/svm/svm.c (svm_vcpu_run, svm_vcpu_enter_exit), vmenter.S (__svm_vcpu_run: VMLOAD
// guest, VMRUN, VMSAVE guest, VMLOAD host), x86.c (vcpu_run, complete_userspace_io).
#include <cstddef>
#include <cstring>

#include "base/hex.h"
#include "emu/kvm/kvm.h"

namespace snpemu::kvm {
namespace {

template <class T>
bool write_host(Memory& m, Hpa pa, const T& v) {
  return m.write(pa, std::span(reinterpret_cast<const uint8_t*>(&v), sizeof v)).has_value();
}
template <class T>
bool read_host(Memory& m, Hpa pa, T& v) {
  return m.read(pa, std::span(reinterpret_cast<uint8_t*>(&v), sizeof v)).has_value();
}

bool is_sev_es(const svm::Vmcb& v) { return (v.control.nested_ctl & svm::nested_ctl::kSevEsEnable) != 0; }

constexpr uint64_t kInvalidVmsa = ~uint64_t{0};  // KVM INVALID_PAGE

}  // namespace

void Vcpu::snp_update_protected_state() {
  hv::SevEsVcpu& es = state_.sev_es;
  es.update_protected_state = false;
  if (vm_.vm_->type() != hv::VmType::kSnp || !es.snp_ap_waiting_for_reset) return;
  es.snp_ap_waiting_for_reset = false;
  // Offline until a VMSA is found; the VMCB stops using the old one.
  es.mp_state = hv::MpState::kHalted;
  vmcb_.control.vmsa_pa = kInvalidVmsa;
  const uint64_t gpa = es.snp_vmsa_gpa;
  es.snp_vmsa_gpa = hv::SevEsVcpu::kNoGpa;
  if (gpa == hv::SevEsVcpu::kNoGpa) return;
  // The new VMSA is guest memory: its guest_memfd page (kvm_gmem_get_pfn). No page yet: stays
  // offline (KVM allocates and prepares one; a VMSA the guest never wrote cannot be valid).
  auto pfn = vm_.vm_->private_backing(Gfn{gpa >> kPageShift});
  if (!pfn) return;
  vmcb_.control.vmsa_pa = pfn->value << kPageShift;
  es.mp_state = hv::MpState::kRunnable;
}

void Vcpu::deliver_init() {
  if (state_.sev_es.snp_ap_waiting_for_reset) snp_update_protected_state();
}

RunStatus Vcpu::internal_error(std::string message) {
  dead_ = true;
  hv::KvmRun& r = state_.run;
  r.exit_reason = hv::KvmExitReason::kInternalError;
  r.internal.suberror = hv::kKvmInternalErrorEmulation;
  r.internal.ndata = 0;
  r.message = std::move(message);
  return RunStatus::kExit;
}

bool Vcpu::enter() {
  Memory& mem = vm_.machine_.memory();
  hv::prepare_vmrun(vm_.ctx_, state_, vmcb_);
  hv::inject_pending_interrupt(state_, vmcb_);
  // The control and save areas (the rest of the page is reserved).
  (void)write_host(mem, vmcb_hpa_, vmcb_.control);
  (void)write_host(mem, Hpa{vmcb_hpa_.value + offsetof(svm::Vmcb, save)}, vmcb_.save);
  // Plain SVM: the GPRs VMRUN does not load come from the vCPU's saved registers (the
  // assembly around VMRUN does this in KVM). SEV-ES: the VMSA holds them; the host's stay.
  if (!is_sev_es(vmcb_)) {
    for (unsigned i = 0; i < 16; ++i) {
      if (i != hv::kRax && i != hv::kRsp) core_.state().gpr[i] = state_.gprs.r[i];
    }
  }
  (void)core_.clgi();
  (void)core_.vmload(vmcb_hpa_.value);
  auto r = core_.vmrun(vmcb_hpa_.value);
  if (!r) {
    vmrun_faulted_ = true;  // a hypervisor-model bug (bad VMCB or host save area), not a guest's
    return false;
  }
  return *r;
}

void Vcpu::leave() {
  Memory& mem = vm_.machine_.memory();
  (void)core_.vmsave(vmcb_hpa_.value);
  (void)core_.vmload(host_save_hpa_.value);
  (void)core_.stgi();
  (void)read_host(mem, vmcb_hpa_, vmcb_.control);
  (void)read_host(mem, Hpa{vmcb_hpa_.value + offsetof(svm::Vmcb, save)}, vmcb_.save);
  if (!is_sev_es(vmcb_)) {
    for (unsigned i = 0; i < 16; ++i) {
      if (i != hv::kRax && i != hv::kRsp) state_.gprs.r[i] = core_.state().gpr[i];
    }
  }
}

RunStatus Vcpu::run(uint64_t budget_cycles) {
  if (dead_) return RunStatus::kExit;
  last_error_.reset();
  vm_.serving_ = &core_;  // the hypervisor's RMP work for this vCPU's exits runs on its core
  // KVM_REQ_UPDATE_PROTECTED_GUEST_STATE (an SNP AP creation aimed at this vCPU). UNCONFIRMED
  // timing: KVM kicks the target out of the guest at once; a target preempted inside a guest
  // run applies it after its next #VMEXIT (the run loop below).
  if (state_.sev_es.update_protected_state && !core_.in_guest()) snp_update_protected_state();
  const hv::MpState mp = state_.sev_es.mp_state;
  if (!core_.in_guest() && (mp == hv::MpState::kHalted || mp == hv::MpState::kUninitialized)) {
    return RunStatus::kBlocked;
  }
  if (!core_.in_guest() && is_sev_es(vmcb_) && vmcb_.control.vmsa_pa == kInvalidVmsa) {
    // [L] KVM refuses KVM_RUN for a protected vCPU without a VMSA (after AP DESTROY, or a
    // creation whose GPA had no guest page), e.g. when the VMM forces it runnable.
    state_.run.exit_reason = hv::KvmExitReason::kUnknown;
    state_.run.message = "vCPU " + std::to_string(state_.id) + " has no VMSA";
    last_error_ = hv::KvmErrno::kEinval;
    return RunStatus::kExit;
  }
  const uint64_t end = core_.cycles() + budget_cycles;
  if (!core_.in_guest()) {
    hv::ExitContext ctx{vm_.ctx_, state_, vmcb_, core_.tsc()};
    const hv::ExitOutcome done = hv::complete_userspace_exit(ctx);
    if (done.action == hv::ExitAction::kExitToVmm) return RunStatus::kExit;
  }
  for (;;) {
    bool exited = false;
    if (!core_.in_guest()) {
      // An AP-creation request that arrived while this vCPU was inside a guest run.
      if (state_.sev_es.update_protected_state) {
        snp_update_protected_state();
        if (state_.sev_es.mp_state == hv::MpState::kHalted) return RunStatus::kBlocked;
      }
      if (core_.cycles() >= end) return RunStatus::kPreempted;
      vmrun_faulted_ = false;
      exited = !enter();
      if (vmrun_faulted_) return internal_error("VMRUN faulted on the host (VMCB at " + hex(vmcb_hpa_.value) + ")");
    }
    if (!exited) {
      const uint64_t now = core_.cycles();
      const cpu::StopReason stop = core_.run(end > now ? end - now : 0);
      switch (stop) {
        case cpu::StopReason::kVmexit: break;
        case cpu::StopReason::kBudget: return RunStatus::kPreempted;
        case cpu::StopReason::kUnimplemented:
          return internal_error("guest instruction " + std::string(cpu::insn_name(core_.stop_info().insn)) +
                                " at RIP " + hex(core_.state().rip) + " is not modelled");
        case cpu::StopReason::kUnsupportedMode:
          return internal_error("guest left 64-bit mode at RIP " + hex(core_.state().rip) +
                                " (other modes are not modelled)");
        case cpu::StopReason::kBusError:
          return internal_error("guest access to host-physical " + hex(core_.stop_info().address) +
                                " reached no memory");
        default:
          return internal_error("the core stopped in guest mode (reason " +
                                std::to_string(static_cast<int>(stop)) + ")");
      }
    }
    leave();
    hv::ExitContext ctx{vm_.ctx_, state_, vmcb_, core_.tsc()};
    const hv::ExitOutcome o = hv::handle_exit(ctx);
    ++exit_counts_[static_cast<size_t>(o.path)];
    core_.account(cpu::Cost::kHvExitDispatch);
    core_.account(cost_of(o.path));
    if (o.units > 0) core_.account(cpu::Cost::kHvPioElement, o.units);
    if (o.ghcb) core_.account(cpu::Cost::kHvGhcbMap);
    if (o.action == hv::ExitAction::kExitToVmm) {
      last_error_ = o.kvm_run_error;
      core_.account(cpu::Cost::kHvUserspaceExit);
      return RunStatus::kExit;
    }
  }
}

}  // namespace snpemu::kvm
