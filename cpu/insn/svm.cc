// cpu/insn/svm.cc: VMRUN VMLOAD VMSAVE STGI CLGI INVLPGA VMMCALL VMGEXIT executed as
// instructions. In guest mode the intercept check (cpu/intercept.cc) runs first; what reaches
// these handlers there is an instruction the hypervisor chose not to intercept.
// APM vol 3, the SVM instruction pages; vol 2, 15.5 and 15.17.
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

Outcome unimplemented() { return Outcome{Outcome::Kind::kUnimplemented, {}, 0}; }

// #UD unless EFER.SVME; #GP(0) unless rAX is a 4 KiB-aligned address below MAXPHYADDR.
// (CPL 0 is checked by the decode row.) APM vol 3, VMRUN/VMLOAD/VMSAVE "Exceptions".
std::optional<Outcome> svm_checks(Exec& x, bool needs_pa) {
  if (!(x.s.efer & ctl::kEferSvme)) return raise(ud());
  if (needs_pa) {
    const uint64_t pa = x.s.gpr[kRax];
    if ((pa & 0xFFF) || (pa >> x.core.config().paging.maxphyaddr)) return raise(gp(0));
  }
  return std::nullopt;
}

Outcome VMRUN(Exec& x) {
  if (auto o = svm_checks(x, true)) return *o;
  switch (x.core.enter_guest(x.s.gpr[kRax], x.next_rip)) {
    case Core::Enter::kEntered:
      x.next_rip = x.s.rip;  // the guest's RIP (or its handler's, after an injected event)
      return kNext;
    case Core::Enter::kExited:
      return Outcome{Outcome::Kind::kVmexit, {}, 0};
    case Core::Enter::kBusError:
      return Outcome{Outcome::Kind::kBusError, {}, x.core.stop_info().address};
  }
  return kNext;
}

// VMLOAD / VMSAVE / STGI / CLGI not intercepted inside a guest would act on guest-physical
// addresses (virtual VMLOAD/VMSAVE, virtual GIF): not modelled, so reported as such.
template <bool kLoad>
Outcome vmload_vmsave(Exec& x) {
  if (x.core.in_guest()) return unimplemented();
  if (auto o = svm_checks(x, true)) return *o;
  if (!x.core.transfer_vmload(x.s.gpr[kRax], kLoad)) {
    return Outcome{Outcome::Kind::kBusError, {}, x.core.stop_info().address};
  }
  return kNext;
}

template <bool kSet>
Outcome gif(Exec& x) {
  if (x.core.in_guest()) return unimplemented();
  if (auto o = svm_checks(x, false)) return *o;
  x.s.gif = kSet;
  return kNext;
}

// INVLPGA: invalidate the page rAX in the ASID in ECX. APM vol 3, INVLPGA.
Outcome INVLPGA(Exec& x) {
  if (x.core.in_guest()) return unimplemented();
  if (auto o = svm_checks(x, false)) return *o;
  x.core.invlpga(x.s.gpr[kRax], Asid{static_cast<uint32_t>(x.s.gpr[kRcx])});
  return kNext;
}

// VMMCALL that is not intercepted (host mode, or a guest whose hypervisor does not intercept
// it) raises #UD; VMGEXIT outside an SEV-ES guest behaves as VMMCALL. APM vol 3, VMMCALL and
// VMGEXIT.
Outcome VMMCALL(Exec&) { return raise(ud()); }

}  // namespace

void register_svm(HandlerTable& t) {
  using I = InsnId;
  set(t, I::VMRUN, &VMRUN);
  set(t, I::VMLOAD, &vmload_vmsave<true>);
  set(t, I::VMSAVE, &vmload_vmsave<false>);
  set(t, I::STGI, &gif<true>);
  set(t, I::CLGI, &gif<false>);
  set(t, I::INVLPGA, &INVLPGA);
  set(t, I::VMMCALL, &VMMCALL);
  set(t, I::VMGEXIT, &VMMCALL);
}

}  // namespace snpemu::cpu
