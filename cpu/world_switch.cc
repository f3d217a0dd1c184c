// cpu/world_switch.cc: the SVM world switch. VMRUN saves host state to the host save area
// (VM_HSAVE_PA), checks and caches the VMCB control area, loads guest state (from the VMCB save
// area, or from the VMSA for an SEV-ES guest), applies TLB_CONTROL and injects EVENTINJ; #VMEXIT
// writes the guest state and the exit information back and reloads the host. VMLOAD / VMSAVE
// move the state VMRUN leaves alone; STGI / CLGI set and clear GIF.
//
// Sources: APM vol 2, 15.5 (VMRUN), 15.6 (#VMEXIT), 15.5.1 (consistency checks, in cpu/svm),
// 15.5.2 (VMSAVE/VMLOAD), 15.16 (TLB control), 15.17 (GIF), 15.20 (event injection), 15.35
// (SEV-ES: guest state in the VMSA); Linux arch/x86/kvm/svm/{svm.c,nested.c,sev.c} for the
// fields KVM relies on.
//
// The host save area's format is implementation-specific (APM vol 2, 15.30.4). This model
// writes the VmcbSaveArea image at VM_HSAVE_PA + 0x400, the offset at which an SEV-ES host
// keeps its VMSA-format host state (Linux sev.c sev_es_host_save_area()), and for SEV-ES guests
// also every host GPR there (the hypervisor must never see the guest's registers).
#include <cstring>

#include "cpu/cpu.h"
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

constexpr uint64_t kHostSaveOffset = 0x400;
constexpr uint64_t kDr7Reset = 0x400;  // #VMEXIT: DR7 <- 0x400 (breakpoints off). APM vol 2, 15.6

svm::VmcbSeg to_vmcb(const Segment& s) { return svm::VmcbSeg{s.selector, s.attrib, s.limit, s.base}; }
Segment from_vmcb(const svm::VmcbSeg& s) { return Segment{s.selector, s.attrib, s.limit, s.base}; }
svm::VmcbSeg table_to_vmcb(const DescriptorTable& t) { return svm::VmcbSeg{0, 0, t.limit, t.base}; }
DescriptorTable table_from_vmcb(const svm::VmcbSeg& s) {
  return DescriptorTable{s.base, static_cast<uint16_t>(s.limit)};
}

template <class T>
bool bus_read(CpuBus& bus, uint64_t pa, T& out) {
  return bus.read(pa, std::span(reinterpret_cast<uint8_t*>(&out), sizeof(T)));
}
template <class T>
bool bus_write(CpuBus& bus, uint64_t pa, const T& in) {
  return bus.write(pa, std::span(reinterpret_cast<const uint8_t*>(&in), sizeof(T)));
}

// One field list per group of registers, two directions: Sync<true> copies the core's state
// into a save-area image (VMCB save area, host save area or VMSA: they share field names and
// offsets), Sync<false> loads it back.
template <bool kToArea>
struct Sync {
  static void seg(Segment& s, svm::VmcbSeg& a) {
    if constexpr (kToArea) a = to_vmcb(s); else s = from_vmcb(a);
  }
  static void table(DescriptorTable& t, svm::VmcbSeg& a) {
    if constexpr (kToArea) a = table_to_vmcb(t); else t = table_from_vmcb(a);
  }
  template <class S, class A>
  static void value(S& s, A& a) {
    if constexpr (kToArea) a = static_cast<A>(s); else s = static_cast<S>(a);
  }
};

// The registers VMRUN saves for the host and #VMEXIT restores, and VMRUN / #VMEXIT move for a
// plain guest (APM vol 2, 15.5.1): ES CS SS DS, GDTR IDTR, EFER CR0 CR4 CR3, RFLAGS RIP RSP RAX,
// CPL. RFLAGS bit 1 always reads as one.
template <bool kToArea, class Area>
void sync_common(ArchState& s, Area& a) {
  using X = Sync<kToArea>;
  X::seg(s.seg[kEs], a.es);
  X::seg(s.seg[kCs], a.cs);
  X::seg(s.seg[kSs], a.ss);
  X::seg(s.seg[kDs], a.ds);
  X::table(s.gdtr, a.gdtr);
  X::table(s.idtr, a.idtr);
  X::value(s.efer, a.efer);
  X::value(s.cr0, a.cr0);
  X::value(s.cr3, a.cr3);
  X::value(s.cr4, a.cr4);
  X::value(s.rflags, a.rflags);
  X::value(s.rip, a.rip);
  X::value(s.gpr[kRsp], a.rsp);
  X::value(s.gpr[kRax], a.rax);
  X::value(s.cpl, a.cpl);
  if constexpr (!kToArea) s.rflags |= flag::kFixed1;
}

// What VMLOAD / VMSAVE move: FS, GS, TR, LDTR with their hidden state, KernelGsBase, STAR,
// LSTAR, CSTAR, SFMASK, SYSENTER_CS/ESP/EIP. APM vol 2, 15.5.2.
template <bool kToArea, class Area>
void sync_vmload(ArchState& s, Area& a) {
  using X = Sync<kToArea>;
  X::seg(s.seg[kFs], a.fs);
  X::seg(s.seg[kGs], a.gs);
  X::seg(s.tr, a.tr);
  X::seg(s.ldtr, a.ldtr);
  X::value(s.msr.kernel_gs_base, a.kernel_gs_base);
  X::value(s.msr.star, a.star);
  X::value(s.msr.lstar, a.lstar);
  X::value(s.msr.cstar, a.cstar);
  X::value(s.msr.sfmask, a.sfmask);
  X::value(s.msr.sysenter_cs, a.sysenter_cs);
  X::value(s.msr.sysenter_esp, a.sysenter_esp);
  X::value(s.msr.sysenter_eip, a.sysenter_eip);
}

// SEV-ES: every register lives in the VMSA (APM vol 2, 15.35.2; Linux sev_es_save_area): the
// two groups above plus CR2, the other GPRs, TSC_AUX and XCR0 (0 in the VMSA reads as 1, x87).
template <bool kToArea>
void sync_vmsa(ArchState& s, svm::SevEsSaveArea& v) {
  using X = Sync<kToArea>;
  sync_common<kToArea>(s, v);
  sync_vmload<kToArea>(s, v);
  X::value(s.cr2, v.cr2);
  X::value(s.gpr[kRcx], v.rcx);
  X::value(s.gpr[kRdx], v.rdx);
  X::value(s.gpr[kRbx], v.rbx);
  X::value(s.gpr[kRbp], v.rbp);
  X::value(s.gpr[kRsi], v.rsi);
  X::value(s.gpr[kRdi], v.rdi);
  X::value(s.gpr[kR8], v.r8);
  X::value(s.gpr[kR9], v.r9);
  X::value(s.gpr[kR10], v.r10);
  X::value(s.gpr[kR11], v.r11);
  X::value(s.gpr[kR12], v.r12);
  X::value(s.gpr[kR13], v.r13);
  X::value(s.gpr[kR14], v.r14);
  X::value(s.gpr[kR15], v.r15);
  X::value(s.msr.tsc_aux, v.tsc_aux);
  X::value(s.xcr0, v.xcr0);
  if constexpr (!kToArea) {
    if (s.xcr0 == 0) s.xcr0 = 1;
  }
}

// The host GPRs an SEV-ES #VMEXIT restores, kept beside the host save image. The slots are the
// VMSA's GPR offsets of the same page region (VmcbSaveArea and SevEsSaveArea share 0x000-0x2E7;
// the GPR block lies beyond, in the VMSA layout).
struct HostGprImage {
  std::array<uint64_t, 16> gpr{};
};
constexpr uint64_t kHostGprOffset = kHostSaveOffset + 0x308;  // VMSA rcx offset, then onwards

}  // namespace

// ============================================================================== host paths

namespace {

// Checks every SVM instruction shares on the host path: EFER.SVME, CPL 0 (the hypervisor runs
// at CPL 0; checked anyway), page-aligned rAX. APM vol 3, VMRUN / VMLOAD / VMSAVE.
std::expected<void, Fault> svm_host_checks(const ArchState& s, bool guest, uint64_t pa,
                                           bool needs_pa) {
  if (guest || !(s.efer & ctl::kEferSvme)) return std::unexpected(ud());
  if (s.cpl != 0) return std::unexpected(gp(0));
  if (needs_pa && (pa & 0xFFF)) return std::unexpected(gp(0));
  return {};
}

}  // namespace

std::expected<bool, Fault> Core::vmrun(uint64_t vmcb_pa) {
  code_pfn_ = data_pfn_ = ~uint64_t{0};
  if (auto c = svm_host_checks(state_, guest_active_, vmcb_pa, true); !c) return std::unexpected(c.error());
  state_.gpr[kRax] = vmcb_pa;  // the instruction's operand register
  charge(Cost::kVmrun);
  switch (enter_guest(vmcb_pa, state_.rip)) {
    case Enter::kEntered: return true;
    case Enter::kExited: return false;
    case Enter::kBusError: return std::unexpected(gp(0));
  }
  return false;
}

std::expected<void, Fault> Core::vmload(uint64_t vmcb_pa) {
  if (auto c = svm_host_checks(state_, guest_active_, vmcb_pa, true); !c) return c;
  charge(Cost::kVmload);
  if (!transfer_vmload(vmcb_pa, true)) return std::unexpected(gp(0));
  return {};
}

std::expected<void, Fault> Core::vmsave(uint64_t vmcb_pa) {
  if (auto c = svm_host_checks(state_, guest_active_, vmcb_pa, true); !c) return c;
  charge(Cost::kVmsave);
  if (!transfer_vmload(vmcb_pa, false)) return std::unexpected(gp(0));
  return {};
}

std::expected<void, Fault> Core::stgi() {
  if (auto c = svm_host_checks(state_, guest_active_, 0, false); !c) return c;
  charge(Cost::kGif);
  state_.gif = true;
  return {};
}

std::expected<void, Fault> Core::clgi() {
  if (auto c = svm_host_checks(state_, guest_active_, 0, false); !c) return c;
  charge(Cost::kGif);
  state_.gif = false;
  return {};
}

// ============================================================================== VMLOAD / VMSAVE

bool Core::transfer_vmload(uint64_t vmcb_pa, bool load) {
  // The VMLOAD / VMSAVE group (sync_vmload).
  svm::VmcbSaveArea a{};
  const uint64_t save_pa = vmcb_pa + offsetof(svm::Vmcb, save);
  if (!bus_read(bus_, save_pa, a)) {
    stop_.address = save_pa;
    return false;
  }
  if (load) {
    sync_vmload<false>(state_, a);
    return true;
  }
  sync_vmload<true>(state_, a);
  if (!bus_write(bus_, save_pa, a)) {
    stop_.address = save_pa;
    return false;
  }
  return true;
}

// ============================================================================== VMRUN

Core::Enter Core::enter_guest(uint64_t vmcb_pa, uint64_t host_next_rip) {
  ArchState& s = state_;
  // The control area and the save area only (not the whole page): what VMRUN reads.
  struct {
    svm::VmcbControlArea control;
    svm::VmcbSaveArea save;
  } vmcb;
  if (!bus_read(bus_, vmcb_pa, vmcb.control) ||
      !bus_read(bus_, vmcb_pa + offsetof(svm::Vmcb, save), vmcb.save)) {
    stop_.address = vmcb_pa;
    return Enter::kBusError;
  }
  // 1. Host state to the host save area (APM vol 2, 15.5.1).
  svm::VmcbSaveArea host{};
  sync_common<true>(s, host);
  host.rip = host_next_rip;
  const uint64_t hsave = s.msr.vm_hsave_pa;
  if (!bus_write(bus_, hsave + kHostSaveOffset, host)) {
    stop_.address = hsave + kHostSaveOffset;
    return Enter::kBusError;
  }
  const svm::VmcbControlArea& c = vmcb.control;
  const bool sev_es = (c.nested_ctl & svm::nested_ctl::kSevEsEnable) != 0;
  svm::SevEsSaveArea vmsa{};
  const uint64_t vmsa_pa = c.vmsa_pa & ~uint64_t{0xFFF};
  if (sev_es) {
    // Host GPRs: an SEV-ES #VMEXIT restores them, so the guest's never reach the host.
    HostGprImage g{s.gpr};
    if (!bus_write(bus_, hsave + kHostGprOffset, g)) {
      stop_.address = hsave + kHostGprOffset;
      return Enter::kBusError;
    }
  }
  // 2. Consistency checks (cpu/svm/vmrun_check.cc). A failure is #VMEXIT(VMEXIT_INVALID)
  //    without entering the guest.
  // The capabilities the checks use come from this core's CPUID profile (worked out once).
  if (!svm_caps_) {
    svm::SvmCaps caps;
    caps.max_phys_addr_bits = config_.paging.maxphyaddr;
    if (auto svm_leaf = find_cpuid(config_.cpuid, 0x8000000A, 0)) {
      caps.nasid = svm_leaf->ebx;
      caps.nested_paging = (svm_leaf->edx & 1) != 0;  // NP: CPUID 0x8000_000A EDX[0]
    }
    if (auto sev_leaf = find_cpuid(config_.cpuid, 0x8000001F, 0)) {
      caps.sev = (sev_leaf->eax & 2) != 0;
      caps.sev_es = (sev_leaf->eax & 8) != 0;
      caps.max_sev_asid = sev_leaf->ecx;
      caps.min_sev_asid = sev_leaf->edx;
    }
    svm_caps_ = caps;
  }
  const svm::SvmCaps& caps = *svm_caps_;
  // SEV: the ASID's key from the memory controller (installed by the AMD-SP at ACTIVATE). The
  // VMSA of an SEV-ES guest is private memory, encrypted with that key. APM vol 2, 15.35.
  const bool sev = (c.nested_ctl & svm::nested_ctl::kSevEnable) != 0;
  const bool crypt_on = sev && config_.keys != nullptr;
  memcrypt::Key key{};
  uint64_t tag = 0;
  if (crypt_on) {
    key = config_.keys->key(Asid{c.asid}).value_or(memcrypt::Key{});
    tag = (uint64_t{1} << 63) | (uint64_t{config_.keys->generation(Asid{c.asid})} << 32) | c.asid;
  }
  bool vmsa_ok = true;
  if (sev_es && !(c.vmsa_pa & 0xFFF)) {
    vmsa_ok = bus_read(bus_, vmsa_pa, vmsa);
    if (vmsa_ok && crypt_on) memcrypt::apply(key, vmsa_pa, std::span(reinterpret_cast<uint8_t*>(&vmsa), sizeof vmsa));
  }
  const svm::VmrunGuestState gs = sev_es ? svm::guest_state_of(vmsa) : svm::guest_state_of(vmcb.save);
  svm::VmrunCheck check = vmsa_ok ? svm::check_vmrun(c, gs, caps) : svm::VmrunCheck::kVmsaPaInvalid;
  // SEV-SNP: the VMSA page must be a VMSA of this guest in the RMP (cpu/vmsa_rmp.cc).
  const bool snp = sev_es && (vmsa.sev_features & svm::sev_features::kSnpActive) != 0;
  if (check == svm::VmrunCheck::kOk && snp && config_.rmp) check = snp_vmsa_check(vmsa_pa, Asid{c.asid});
  guest_ = GuestMode{};
  guest_.vmcb_pa = vmcb_pa;
  guest_.intercepts = c.intercepts;
  if (check != svm::VmrunCheck::kOk) {
    // Nothing of the guest was loaded; the host continues after VMRUN with the exit code set.
    // UNCONFIRMED: hardware writes back no save-area state for VMEXIT_INVALID (KVM treats the
    // save area as unchanged).
    svm::VmcbControlArea out = c;
    out.exit_code = svm::to_u64(svm::ExitCode::kInvalid);
    out.exit_info_1 = out.exit_info_2 = 0;
    out.exit_int_info = out.exit_int_info_err = 0;
    out.next_rip = 0;
    if (!bus_write(bus_, vmcb_pa, out)) {
      stop_.address = vmcb_pa;
      return Enter::kBusError;
    }
    last_vmrun_check_ = check;
    s.rip = host_next_rip;
    s.gif = false;  // #VMEXIT clears GIF. APM vol 2, 15.6
    charge(Cost::kVmexit);
    return Enter::kExited;
  }
  last_vmrun_check_ = check;
  // 3. Cache the control area for the run.
  guest_.iopm_pa = svm::iopm_base(c).value;
  guest_.msrpm_pa = svm::msrpm_base(c).value;
  guest_.tsc_offset = c.tsc_offset;
  guest_.asid = Asid{c.asid};
  guest_.np = (c.nested_ctl & svm::nested_ctl::kNpEnable) != 0;
  guest_.sev = (c.nested_ctl & svm::nested_ctl::kSevEnable) != 0;
  guest_.sev_es = sev_es;
  guest_.nested_cr3 = c.nested_cr3;
  guest_.host_nxe = (s.efer & ctl::kEferNxe) != 0;
  guest_.int_ctl = c.int_ctl;
  guest_.int_vector = static_cast<uint8_t>(c.int_vector);
  guest_.pause_count = c.pause_filter_count;
  guest_.host_if = (s.rflags & flag::kIf) != 0;
  guest_.host_cr8 = s.cr8;
  guest_.vmsa_pa = vmsa_pa;
  guest_.ghcb_gpa = c.ghcb_gpa;
  guest_.sev_features = sev_es ? vmsa.sev_features : 0;
  guest_.snp = snp;
  guest_.vmpl = Vmpl{sev_es ? vmsa.vmpl : uint8_t{0}};
  sev_crypt_ = crypt_on;
  guest_key_ = key;
  fetch_tag_ = tag;
  // 4. Guest state.
  if (sev_es) {
    sync_vmsa<false>(s, vmsa);
  } else {
    sync_common<false>(s, vmcb.save);
    s.cr2 = vmcb.save.cr2;
  }
  // V_INTR_MASKING: the guest's CR8 is V_TPR. APM vol 2, 15.21.1.
  if (guest_.int_ctl & svm::int_ctl::kVIntrMasking) s.cr8 = guest_.int_ctl & svm::int_ctl::kVTprMask;
  s.interrupt_shadow = (c.int_state & svm::int_state::kInterruptShadow) != 0;
  guest_active_ = true;
  if (snp && config_.rmp) mark_vmsa_running(vmsa_pa);
  nested_ = guest_.np;
  s.gif = true;  // VMRUN sets GIF. APM vol 2, 15.17
  // 5. TLB_CONTROL (APM vol 2, 15.16.1). UNCONFIRMED: a reserved value flushes nothing.
  (void)tlb_.apply_tlb_control(c.tlb_ctl, guest_.asid);
  // 6. Event injection: delivered before the first guest instruction, through the guest IDT; a
  //    fault during its delivery may itself exit with the event in EXITINTINFO. APM vol 2, 15.20.
  const svm::Event ev = svm::decode_event(c.event_inj, c.event_inj_err);
  if (ev.valid) {
    const Fault f{static_cast<Vector>(ev.vector), ev.error_code_valid, ev.error_code, s.cr2};
    const bool software = ev.type == static_cast<uint8_t>(svm::EventType::kSoftInt);
    const bool external = ev.type == static_cast<uint8_t>(svm::EventType::kIntr);
    switch (deliver(f, software, s.rip, external)) {
      case Delivery::kDelivered: break;
      case Delivery::kVmexit: return Enter::kExited;
      case Delivery::kBusError: return Enter::kBusError;
      case Delivery::kShutdown:
        if (guest_.is_intercepted(svm::Intercept::kShutdown)) {
          if (!vmexit(svm::to_u64(svm::ExitCode::kShutdown), 0, 0, s.rip)) return Enter::kBusError;
          return Enter::kExited;
        }
        shutdown_ = true;
        return Enter::kEntered;
    }
  }
  return Enter::kEntered;
}

// ============================================================================== #VMEXIT

bool Core::vmexit(uint64_t exit_code, uint64_t info1, uint64_t info2, uint64_t next_rip,
                  bool exception_from_insn) {
  ArchState& s = state_;
  charge(Cost::kVmexit);
  struct {
    svm::VmcbControlArea control;
    svm::VmcbSaveArea save;
  } vmcb;
  const uint64_t save_pa = guest_.vmcb_pa + offsetof(svm::Vmcb, save);
  if (!bus_read(bus_, guest_.vmcb_pa, vmcb.control) ||
      (!guest_.sev_es && !bus_read(bus_, save_pa, vmcb.save))) {
    stop_.address = guest_.vmcb_pa;
    return false;
  }
  svm::VmcbControlArea& c = vmcb.control;
  // Exit information. APM vol 2, 15.6 and 15.7.
  c.exit_code = exit_code;
  c.exit_info_1 = info1;
  c.exit_info_2 = info2;
  c.next_rip = svm::exit_writes_next_rip(exit_code, exception_from_insn) ? next_rip : 0;
  const svm::Event pending = pending_exit_int_info_;
  c.exit_int_info = pending.valid ? svm::encode_event_word(pending) : 0;
  c.exit_int_info_err = pending.valid && pending.error_code_valid ? pending.error_code : 0;
  pending_exit_int_info_ = svm::Event{};
  c.event_inj &= ~svm::event_bits::kValid;  // UNCONFIRMED: KVM clears it itself as well
  c.int_state = s.interrupt_shadow ? svm::int_state::kInterruptShadow : 0;
  uint32_t int_ctl = guest_.int_ctl;
  if (int_ctl & svm::int_ctl::kVIntrMasking) {
    int_ctl = (int_ctl & ~svm::int_ctl::kVTprMask) | static_cast<uint32_t>(s.cr8 & 0xF);
  }
  c.int_ctl = int_ctl;
  c.ghcb_gpa = guest_.ghcb_gpa;
  // Guest state: to the VMSA (SEV-ES) or to the VMCB save area.
  if (guest_.sev_es) {
    svm::SevEsSaveArea vmsa{};
    const std::span<uint8_t> bytes(reinterpret_cast<uint8_t*>(&vmsa), sizeof vmsa);
    if (!bus_read(bus_, guest_.vmsa_pa, vmsa)) {
      stop_.address = guest_.vmsa_pa;
      return false;
    }
    if (sev_crypt_) crypt(guest_.vmsa_pa, bytes);
    sync_vmsa<true>(s, vmsa);
    if (sev_crypt_) crypt(guest_.vmsa_pa, bytes);
    if (!bus_write(bus_, guest_.vmsa_pa, vmsa)) {
      stop_.address = guest_.vmsa_pa;
      return false;
    }
  } else {
    svm::VmcbSaveArea& a = vmcb.save;
    sync_common<true>(s, a);
    a.cr2 = s.cr2;
  }
  if (!bus_write(bus_, guest_.vmcb_pa, vmcb.control) ||
      (!guest_.sev_es && !bus_write(bus_, save_pa, vmcb.save))) {
    stop_.address = guest_.vmcb_pa;
    return false;
  }
  // Host state back. APM vol 2, 15.6: GIF <- 0, CPL <- 0, DR7 <- 0x400, RFLAGS.TF... from hsave.
  const uint64_t hsave = s.msr.vm_hsave_pa;
  svm::VmcbSaveArea host{};
  if (!bus_read(bus_, hsave + kHostSaveOffset, host)) {
    stop_.address = hsave + kHostSaveOffset;
    return false;
  }
  if (guest_.sev_es) {
    HostGprImage g{};
    if (!bus_read(bus_, hsave + kHostGprOffset, g)) {
      stop_.address = hsave + kHostGprOffset;
      return false;
    }
    s.gpr = g.gpr;
    // The rest of the guest-only state must not survive either: the host's own copies of what
    // VMLOAD manages are restored by the hypervisor's VMLOAD, as KVM does after every exit.
  }
  // No TLB flush: entries are tagged by ASID, so the guest's and the host's coexist across
  // world switches (APM vol 2, 15.16); only TLB_CONTROL at VMRUN flushes.
  sync_common<false>(s, host);
  s.cpl = 0;
  s.cr8 = guest_.host_cr8;
  s.interrupt_shadow = false;
  s.gif = false;
  (void)kDr7Reset;  // debug registers are not modelled yet
  leave_guest_mode();
  return true;
}

void Core::leave_guest_mode() {
  guest_active_ = false;
  release_vmsa();
  nested_ = false;
  sev_crypt_ = false;
  last_enc_ = false;
  code_pfn_ = data_pfn_ = ~uint64_t{0};
}

StopReason Core::take_intercept(const InterceptExit& e, uint64_t next_rip, bool exception_from_insn) {
  if (guest_.sev_es) {
    if (svm::classify_sev_es_exit(e.code, e.info1) == svm::SevEsExitKind::kVc) {
      // Non-automatic exit: #VC in the guest with the exit code as error code (fault-like: the
      // #VC frame holds the RIP of the instruction). APM vol 2, 15.35.5.
      const Fault vc{Vector::kVc, true, static_cast<uint32_t>(e.code), 0};
      return raise_fault(vc, false, state_.rip);
    }
    // An automatic exit caused by an instruction (VMGEXIT, HLT, PAUSE) is trap-like in an
    // SEV-ES guest: the hypervisor cannot advance the protected RIP, so the VMSA gets the RIP
    // after the instruction. UNCONFIRMED: inferred from KVM never skipping instructions for
    // SEV-ES guests (svm_skip_emulated_instruction) while guests resume after VMGEXIT.
    ++instructions_;
    state_.rip = next_rip;
  }
  if (!vmexit(e.code, e.info1, e.info2, next_rip, exception_from_insn)) return stop(StopReason::kBusError);
  return stop(StopReason::kVmexit);
}

}  // namespace snpemu::cpu
