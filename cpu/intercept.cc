// cpu/intercept.cc: which events of an SVM guest exit to the host, and with what exit
// information: instruction intercepts (the decode table names each row's intercept), MSR and
// I/O through the permission maps, exceptions through the exception bitmap, nested page
// faults, and physical and virtual interrupts.
//
// Sources: APM vol 2, 15.7 (intercept priority), 15.8-15.13 (intercept words), 15.10 (IOIO and
// the IOPM), 15.11 (MSRPM), 15.12 (exceptions, shutdown), 15.21 (interrupts, V_IRQ), 15.33
// (decode assists: CR/DR GPR number, INVLPG address, INTn vector); the pure rules live in
// cpu/svm (permission_map.cc, ioio.cc, exit_info.cc).
#include <array>

#include "cpu/cpu.h"
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

using svm::ExitCode;
using svm::Intercept;

struct Simple {
  Intercept bit;
  ExitCode code;
};

// Instruction intercepts whose exit information is zero. APM vol 2, 15.9 and appendix C.
std::optional<Simple> simple_intercept(Svm s) {
  switch (s) {
    case Svm::kSidt: return Simple{Intercept::kStoreIdtr, ExitCode::kIdtrRead};
    case Svm::kSgdt: return Simple{Intercept::kStoreGdtr, ExitCode::kGdtrRead};
    case Svm::kSldt: return Simple{Intercept::kStoreLdtr, ExitCode::kLdtrRead};
    case Svm::kStr: return Simple{Intercept::kStoreTr, ExitCode::kTrRead};
    case Svm::kLidt: return Simple{Intercept::kLoadIdtr, ExitCode::kIdtrWrite};
    case Svm::kLgdt: return Simple{Intercept::kLoadGdtr, ExitCode::kGdtrWrite};
    case Svm::kLldt: return Simple{Intercept::kLoadLdtr, ExitCode::kLdtrWrite};
    case Svm::kLtr: return Simple{Intercept::kLoadTr, ExitCode::kTrWrite};
    case Svm::kRdtsc: return Simple{Intercept::kRdtsc, ExitCode::kRdtsc};
    case Svm::kRdpmc: return Simple{Intercept::kRdpmc, ExitCode::kRdpmc};
    case Svm::kPushf: return Simple{Intercept::kPushf, ExitCode::kPushf};
    case Svm::kPopf: return Simple{Intercept::kPopf, ExitCode::kPopf};
    case Svm::kCpuid: return Simple{Intercept::kCpuid, ExitCode::kCpuid};
    case Svm::kIret: return Simple{Intercept::kIret, ExitCode::kIret};
    case Svm::kInvd: return Simple{Intercept::kInvd, ExitCode::kInvd};
    case Svm::kHlt: return Simple{Intercept::kHlt, ExitCode::kHlt};
    case Svm::kInvlpga: return Simple{Intercept::kInvlpga, ExitCode::kInvlpga};
    case Svm::kVmrun: return Simple{Intercept::kVmrun, ExitCode::kVmrun};
    case Svm::kVmmcall: return Simple{Intercept::kVmmcall, ExitCode::kVmmcall};
    case Svm::kVmload: return Simple{Intercept::kVmload, ExitCode::kVmload};
    case Svm::kVmsave: return Simple{Intercept::kVmsave, ExitCode::kVmsave};
    case Svm::kStgi: return Simple{Intercept::kStgi, ExitCode::kStgi};
    case Svm::kClgi: return Simple{Intercept::kClgi, ExitCode::kClgi};
    case Svm::kSkinit: return Simple{Intercept::kSkinit, ExitCode::kSkinit};
    case Svm::kRdtscp: return Simple{Intercept::kRdtscp, ExitCode::kRdtscp};
    case Svm::kIcebp: return Simple{Intercept::kIcebp, ExitCode::kIcebp};
    case Svm::kWbinvd: return Simple{Intercept::kWbinvd, ExitCode::kWbinvd};
    case Svm::kMonitor: return Simple{Intercept::kMonitor, ExitCode::kMonitor};
    case Svm::kMwait: return Simple{Intercept::kMwait, ExitCode::kMwait};
    case Svm::kXsetbv: return Simple{Intercept::kXsetbv, ExitCode::kXsetbv};
    case Svm::kRdpru: return Simple{Intercept::kRdpru, ExitCode::kRdpru};
    default: return std::nullopt;
  }
}

bool is_in(InsnId id) {
  return id == InsnId::IN_ALIb || id == InsnId::IN_eAXIb || id == InsnId::IN_ALDX ||
         id == InsnId::IN_eAXDX || id == InsnId::INS_YbDX || id == InsnId::INS_YzDX;
}
bool is_string_io(InsnId id) {
  return id == InsnId::INS_YbDX || id == InsnId::INS_YzDX || id == InsnId::OUTS_DXXb ||
         id == InsnId::OUTS_DXXz;
}
bool port_in_imm(InsnId id) {
  return id == InsnId::IN_ALIb || id == InsnId::IN_eAXIb || id == InsnId::OUT_IbAL ||
         id == InsnId::OUT_IbeAX;
}

template <class T>
bool read_bytes(CpuBus& bus, uint64_t pa, T* out, size_t n) {
  return bus.read(pa, std::span(reinterpret_cast<uint8_t*>(out), n));
}

}  // namespace

std::optional<Core::InterceptExit> Core::instruction_intercept(const DecodedInsn& d, uint64_t next_rip) {
  const ArchState& s = state_;
  const OpcodeRow& row = *d.row;
  const InsnId id = row.id;
  const GuestMode& g = guest_;
  auto exit = [](ExitCode c, uint64_t i1 = 0, uint64_t i2 = 0) {
    return std::optional<InterceptExit>(InterceptExit{svm::to_u64(c), i1, i2});
  };
  if (auto simple = simple_intercept(row.svm)) {
    if (!g.is_intercepted(simple->bit)) return std::nullopt;
    return exit(simple->code);
  }
  switch (row.svm) {
    case Svm::kVmgexit:
      // VMGEXIT exits unconditionally from an SEV-ES guest; elsewhere it is VMMCALL.
      // APM vol 3, VMGEXIT.
      if (g.sev_es) return exit(ExitCode::kVmgexit);
      if (!g.is_intercepted(Intercept::kVmmcall)) return std::nullopt;
      return exit(ExitCode::kVmmcall);
    case Svm::kPause:
      // PAUSE filter: with a non-zero count, only the PAUSE that brings it to zero exits.
      // APM vol 2, 15.14.4. UNCONFIRMED: the threshold (pause_filter_thresh) is not modelled.
      if (!g.is_intercepted(Intercept::kPause)) return std::nullopt;
      if (guest_.pause_count != 0 && --guest_.pause_count != 0) return std::nullopt;
      return exit(ExitCode::kPause);
    case Svm::kIntn:
      if (!g.is_intercepted(Intercept::kIntn)) return std::nullopt;
      return exit(ExitCode::kSwint, d.imm & 0xFF);  // decode assist: the vector
    case Svm::kInvlpg: {
      if (!g.is_intercepted(Intercept::kInvlpg)) return std::nullopt;
      Exec x(*this, d, next_rip);
      x.compute_ea();
      return exit(ExitCode::kInvlpg, x.ea);  // decode assist: the linear address
    }
    case Svm::kCr: {
      const bool write = id == InsnId::MOV_CdRq;
      const unsigned cr = d.reg & 15;
      const Intercept bit = write ? svm::cr_write_intercept(cr) : svm::cr_read_intercept(cr);
      if (!g.is_intercepted(bit)) return std::nullopt;
      const ExitCode code = write ? svm::exit_write_cr(cr) : svm::exit_read_cr(cr);
      return exit(code, svm::crdr_exit_info_1(true, d.rm));
    }
    case Svm::kDr: {
      const bool write = id == InsnId::MOV_DdRq;
      const unsigned dr = d.reg & 15;
      const Intercept bit = write ? svm::dr_write_intercept(dr) : svm::dr_read_intercept(dr);
      if (!g.is_intercepted(bit)) return std::nullopt;
      const ExitCode code = write ? svm::exit_write_dr(dr) : svm::exit_read_dr(dr);
      return exit(code, svm::crdr_exit_info_1(true, d.rm));
    }
    case Svm::kLmswSmsw: {
      // SMSW reads CR0, LMSW writes it; exit_info_1 bit 63 clear (not a MOV). APM vol 2, 15.33.
      const bool write = id == InsnId::LMSW_Ew;
      const Intercept bit = write ? Intercept::kCr0Write : Intercept::kCr0Read;
      if (!g.is_intercepted(bit)) return std::nullopt;
      return exit(write ? ExitCode::kWriteCr0 : ExitCode::kReadCr0, svm::crdr_exit_info_1(false, 0));
    }
    case Svm::kMsr: {
      // MSR_PROT, then the MSRPM bit of this MSR and direction. APM vol 2, 15.11.
      if (!g.is_intercepted(Intercept::kMsrProt)) return std::nullopt;
      const auto access = id == InsnId::WRMSR ? svm::MsrAccess::kWrite : svm::MsrAccess::kRead;
      const uint32_t msr = static_cast<uint32_t>(s.gpr[kRcx]);
      // SEV_STATUS reads by an SEV guest are never intercepted: Linux reads it in sme_enable()
      // before any #VC handler exists, while KVM leaves its MSRPM bit set. UNCONFIRMED:
      // inferred from that, not read in the APM.
      if (g.sev && msr == 0xC0010131 && access == svm::MsrAccess::kRead) return std::nullopt;
      if (auto slot = svm::msrpm_slot(msr, access)) {
        uint8_t byte = 0;
        if (!read_bytes(bus_, g.msrpm_pa + slot->byte_offset, &byte, 1)) byte = 0xFF;
        if (!((byte >> slot->bit) & 1)) return std::nullopt;
      }
      return exit(ExitCode::kMsr, svm::msr_exit_info_1(access));
    }
    case Svm::kIoio: {
      // The I/O permission check (IOPL, then the TSS bitmap: #GP, or a fault reading the TSS)
      // comes first; then IOIO_PROT and the IOPM bits of every byte of the access. APM vol 2,
      // 15.10.1. UNCONFIRMED: priority against the #GP follows APM 15.7's general rule (simple
      // exceptions before intercepts) and KVM's emulator (IN/OUT intercept checked
      // post-exception). A denied or faulting check executes the instruction, which raises it.
      const bool in = is_in(id);
      const bool str = is_string_io(id);
      const unsigned size = in ? d.op_size[0] : d.op_size[1];
      const uint16_t port = port_in_imm(id) ? static_cast<uint16_t>(d.imm & 0xFF)
                                            : static_cast<uint16_t>(s.gpr[kRdx]);
      if (auto allowed = io_permitted(*this, port, size); !allowed || !*allowed) return std::nullopt;
      if (!g.is_intercepted(Intercept::kIoioProt)) return std::nullopt;
      std::array<uint8_t, 2> bytes{0xFF, 0xFF};
      if (auto probe = svm::iopm_probe(port, size)) {
        if (!read_bytes(bus_, g.iopm_pa + probe->byte_offset, bytes.data(), probe->byte_count)) {
          bytes = {0xFF, 0xFF};
        }
        const uint16_t word = static_cast<uint16_t>(bytes[0] | (bytes[1] << 8));
        if (!(word & probe->mask)) return std::nullopt;
      }
      svm::IoioInfo info;
      info.type = in ? svm::IoType::kIn : svm::IoType::kOut;
      info.string = str;
      info.rep = str && d.rep != 0;
      info.operand_size = static_cast<uint8_t>(size);
      info.address_size = d.addrsize;
      info.segment = in ? svm::SegReg::kEs
                        : (str && d.seg != kNoSeg ? static_cast<svm::SegReg>(d.seg) : svm::SegReg::kDs);
      info.port = port;
      auto e = svm::make_ioio_exit(info, next_rip);
      if (!e) return exit(ExitCode::kIoio, 0, next_rip);  // unreachable for decoded sizes
      return exit(ExitCode::kIoio, e->exit_info_1, e->exit_info_2);
    }
    default:
      return std::nullopt;
  }
}

std::optional<StopReason> Core::guest_fault_exit(const Fault& fault, bool software,
                                                 const std::optional<svm::Event>& delivering) {
  if (fault.vector == Vector::kNestedPageFault) {
    pending_exit_int_info_ = delivering.value_or(svm::Event{});
    const InterceptExit e{svm::to_u64(ExitCode::kNpf), npf_info1_, npf_gpa_};
    if (guest_.sev_es && !delivering &&
        svm::classify_sev_es_exit(e.code, e.info1) == svm::SevEsExitKind::kVc) {
      // SEV-ES MMIO (NPF with RSVD): #VC in the guest, error code = the NPF exit code.
      // APM vol 2, 15.35.5. UNCONFIRMED: the same NPF while delivering an event exits instead.
      pending_exit_int_info_ = svm::Event{};
      return raise_fault(Fault{Vector::kVc, true, static_cast<uint32_t>(e.code), 0}, false, state_.rip);
    }
    if (!vmexit(e.code, e.info1, e.info2, state_.rip)) return stop(StopReason::kBusError);
    return stop(StopReason::kVmexit);
  }
  // Exception intercepts (APM vol 2, 15.12): exit_info_1 = error code, exit_info_2 = the
  // faulting address for #PF (CR2 is not written). Software INT n is not an exception; INT3 and
  // INTO are (and write next_rip).
  const bool int_n = software && fault.vector != Vector::kBp && fault.vector != Vector::kOf;
  if (int_n || !exception_intercepted(fault.vector)) return std::nullopt;
  pending_exit_int_info_ = delivering.value_or(svm::Event{});
  const uint64_t info1 = fault.has_error_code ? fault.error_code : 0;
  const uint64_t info2 = fault.vector == Vector::kPf ? fault.cr2 : 0;
  const uint64_t code = svm::to_u64(svm::exit_exception(static_cast<unsigned>(fault.vector)));
  if (!vmexit(code, info1, info2, state_.rip, software)) return stop(StopReason::kBusError);
  return stop(StopReason::kVmexit);
}

std::optional<StopReason> Core::guest_interrupt_check(bool shadow) {
  ArchState& s = state_;
  if (!s.gif) return std::nullopt;
  // Physical interrupt: exits when intercepted; with V_INTR_MASKING the host's RFLAGS.IF gates
  // it, else the guest's. APM vol 2, 15.21.1.
  if (has_pending_irq_ && guest_.is_intercepted(svm::Intercept::kIntr)) {
    const bool masking = (guest_.int_ctl & svm::int_ctl::kVIntrMasking) != 0;
    const bool open = masking ? guest_.host_if : (s.rflags & flag::kIf) != 0;
    if (open) {
      if (!vmexit(svm::to_u64(ExitCode::kIntr), 0, 0, s.rip)) return stop(StopReason::kBusError);
      return stop(StopReason::kVmexit);
    }
  }
  // Virtual interrupt (V_IRQ): taken when the guest can take interrupts and its priority beats
  // V_TPR (unless V_IGN_TPR). VINTR intercept exits; otherwise deliver int_vector. APM vol 2,
  // 15.21.4.
  const uint32_t ic = guest_.int_ctl;
  if ((ic & svm::int_ctl::kVIrq) && !shadow && (s.rflags & flag::kIf)) {
    const uint32_t prio = (ic & svm::int_ctl::kVIntrPrioMask) >> svm::int_ctl::kVIntrPrioShift;
    const uint32_t tpr = (ic & svm::int_ctl::kVIntrMasking) ? static_cast<uint32_t>(s.cr8 & 0xF)
                                                            : (ic & svm::int_ctl::kVTprMask);
    if ((ic & svm::int_ctl::kVIgnTpr) || prio > tpr) {
      if (guest_.is_intercepted(svm::Intercept::kVintr)) {
        if (!vmexit(svm::to_u64(ExitCode::kVintr), 0, 0, s.rip)) return stop(StopReason::kBusError);
        return stop(StopReason::kVmexit);
      }
      guest_.int_ctl &= ~svm::int_ctl::kVIrq;
      const StopReason r =
          raise_fault(Fault{static_cast<Vector>(guest_.int_vector), false, 0, 0}, false, s.rip, true);
      return r == StopReason::kBudget ? std::optional<StopReason>(StopReason::kBudget) : r;
    }
  }
  return std::nullopt;
}

}  // namespace snpemu::cpu
