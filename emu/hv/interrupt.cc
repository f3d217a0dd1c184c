// emu/hv/interrupt.cc: external interrupts from the VMM's interrupt controller (KVM_INTERRUPT
// with a userspace irqchip) and their injection at the next entry. Sources: [L] x86.c
// kvm_vcpu_ioctl_interrupt (one pending vector; EEXIST... see below), kvm_check_and_inject_events
// (inject when the guest can take it, else ask for an interrupt window), svm.c
// svm_interrupt_allowed (GIF, RFLAGS.IF, no interrupt shadow), svm_inject_irq (EVENTINJ =
// vector | TYPE_INTR | VALID), svm_enable_irq_window / svm_set_vintr (a dummy V_IRQ with the
// VINTR intercept: the guest exits as soon as it can take an interrupt). APM vol 2 15.20-15.21.
#include "emu/hv/exit_internal.h"

namespace snpemu::hv {

KvmResult<void> queue_external_interrupt(VcpuState& vcpu, uint8_t vector) {
  // UNCONFIRMED errno: KVM answers a second KVM_INTERRUPT before the first was taken with
  // -EEXIST (pending_external_vector already set).
  if (vcpu.pending_irq) {
    return std::unexpected(KvmError{KvmErrno::kEexist, "interrupt " + std::to_string(*vcpu.pending_irq) +
                                                           " is still pending"});
  }
  vcpu.pending_irq = vector;
  return {};
}

void inject_pending_interrupt(VcpuState& vcpu, svm::Vmcb& vmcb) {
  if (!vcpu.pending_irq) return;
  svm::VmcbControlArea& c = vmcb.control;
  if ((c.event_inj & svm::event_bits::kValid) != 0) return;  // an event is re-injected first
  const bool sev_es = (c.nested_ctl & svm::nested_ctl::kSevEsEnable) != 0;
  // The guest's RFLAGS.IF is in the save area (an SEV-ES guest's is hidden: KVM relies on the
  // window exit there; UNCONFIRMED simplification: inject and let the hardware hold it).
  const bool if_set = sev_es || (vmcb.save.rflags & (uint64_t{1} << 9)) != 0;
  const bool shadow = (c.int_state & svm::int_state::kInterruptShadow) != 0;
  if (if_set && !shadow) {
    svm::Event e;
    e.valid = true;
    e.type = static_cast<uint8_t>(svm::EventType::kIntr);
    e.vector = *vcpu.pending_irq;
    c.event_inj = svm::encode_event_word(e);
    c.event_inj_err = 0;
    vcpu.pending_irq.reset();
    return;
  }
  // Interrupt window: a V_IRQ the guest "takes" as soon as it is interruptible, intercepted by
  // VINTR (handle_vintr removes it; the next entry injects).
  c.int_ctl |= svm::int_ctl::kVIrq | (uint32_t{0xF} << svm::int_ctl::kVIntrPrioShift);
  svm::set_intercept(c, svm::Intercept::kVintr, true);
  c.clean &= ~(svm::clean::kIntercepts | svm::clean::kIntr);
}

}  // namespace snpemu::hv
