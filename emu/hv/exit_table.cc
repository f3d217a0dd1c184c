// emu/hv/exit_table.cc: svm_handle_exit: the prologue every exit runs, the table from exit code
// to handler (svm.c svm_exit_handlers), VMEXIT_INVALID and exits without a handler.
#include <array>

#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv {

using internal::resume;

namespace {

using Handler = ExitOutcome (*)(ExitContext&);
using svm::ExitCode;

// Indexed by exit code up to VMGEXIT, as svm.c's array; codes at or above the size have none.
constexpr size_t kTableSize = 0x404;

constexpr size_t at(ExitCode c) { return static_cast<size_t>(c); }

constexpr std::array<Handler, kTableSize> make_table() {
  std::array<Handler, kTableSize> t{};
  t[at(ExitCode::kExcpBase) + internal::kUdVector] = internal::handle_reinject_ud;
  t[at(ExitCode::kExcpBase) + 18] = internal::handle_machine_check;  // #MC
  t[at(ExitCode::kExcpBase) + internal::kAcVector] = internal::handle_reinject_ac;
  t[at(ExitCode::kIntr)] = internal::handle_interrupt;
  t[at(ExitCode::kNmi)] = internal::handle_interrupt;
  t[at(ExitCode::kSmi)] = internal::handle_interrupt;   // svm.c: nop_on_interception
  t[at(ExitCode::kInit)] = internal::handle_interrupt;  // svm.c: nop_on_interception
  t[at(ExitCode::kVintr)] = internal::handle_vintr;
  t[at(ExitCode::kRdpmc)] = internal::handle_rdpmc;
  t[at(ExitCode::kCpuid)] = internal::handle_cpuid;
  t[at(ExitCode::kRsm)] = internal::handle_inject_ud;
  t[at(ExitCode::kInvd)] = internal::handle_nop_skip;
  t[at(ExitCode::kHlt)] = internal::handle_hlt;
  t[at(ExitCode::kInvlpga)] = internal::handle_inject_ud;
  t[at(ExitCode::kIoio)] = internal::handle_ioio;
  t[at(ExitCode::kMsr)] = internal::handle_msr;
  t[at(ExitCode::kShutdown)] = internal::handle_shutdown;
  t[at(ExitCode::kVmrun)] = internal::handle_inject_ud;
  t[at(ExitCode::kVmmcall)] = internal::handle_vmmcall;
  t[at(ExitCode::kVmload)] = internal::handle_inject_ud;
  t[at(ExitCode::kVmsave)] = internal::handle_inject_ud;
  t[at(ExitCode::kStgi)] = internal::handle_inject_ud;
  t[at(ExitCode::kClgi)] = internal::handle_inject_ud;
  t[at(ExitCode::kSkinit)] = internal::handle_inject_ud;
  t[at(ExitCode::kWbinvd)] = internal::handle_nop_skip;
  t[at(ExitCode::kMonitor)] = internal::handle_nop_skip;
  t[at(ExitCode::kMwait)] = internal::handle_nop_skip;
  t[at(ExitCode::kRdpru)] = internal::handle_inject_ud;
  t[at(ExitCode::kNpf)] = internal::handle_npf;
  t[at(ExitCode::kVmgexit)] = internal::handle_vmgexit;  // sev.c sev_handle_vmgexit
  t[at(ExitCode::kEferWriteTrap)] = internal::handle_write_trap;  // svm.c efer_trap
  t[at(ExitCode::kCr0WriteTrap)] = internal::handle_write_trap;   // svm.c cr_trap
  t[at(ExitCode::kCr0WriteTrap) + 4] = internal::handle_write_trap;
  t[at(ExitCode::kCr0WriteTrap) + 8] = internal::handle_write_trap;
  return t;
}
constexpr std::array<Handler, kTableSize> kHandlers = make_table();

// [L] svm.c handle_exit: exit code SVM_EXIT_ERR -> KVM_EXIT_FAIL_ENTRY with the exit code as
// hardware_entry_failure_reason and the CPU of the failed entry.
ExitOutcome fail_entry(ExitContext& ctx) {
  internal::begin_run(ctx.vcpu.run, KvmExitReason::kFailEntry,
                      "VMRUN failed its consistency checks (VMEXIT_INVALID)");
  ctx.vcpu.run.fail_entry.hardware_entry_failure_reason = ctx.vmcb.control.exit_code;
  ctx.vcpu.run.fail_entry.cpu = 0;  // the model has no host CPU number: UNCONFIRMED use
  return internal::to_vmm(ExitPath::kFailEntry);
}

// [L] svm.c svm_handle_invalid_exit / kvm_prepare_unexpected_reason_exit: internal error with
// suberror UNEXPECTED_EXIT_REASON, data[0] = exit code, data[1] = last vmentry CPU.
ExitOutcome unexpected(ExitContext& ctx) {
  const uint64_t code = ctx.vmcb.control.exit_code;
  const std::array<uint64_t, 2> data{code, 0};
  std::string name(svm::exit_code_name(code));
  return internal::internal_error(
      ctx, kKvmInternalErrorUnexpectedExitReason, data,
      "unexpected exit reason " + hex(code) + (name.empty() ? "" : " (" + name + ")"),
      ExitPath::kUnexpected);
}

// [L] svm.c svm_complete_interrupts: an event whose delivery the exit interrupted comes back in
// exit_int_info and is injected again; software interrupts (INTn) and the software exceptions
// #BP / #OF are not re-injected: the instruction runs again. Reserved types are dropped.
void requeue_exit_int_info(svm::Vmcb& vmcb) {
  const svm::Event e =
      svm::decode_event(vmcb.control.exit_int_info, vmcb.control.exit_int_info_err);
  if (!e.valid) return;
  const auto type = static_cast<svm::EventType>(e.type);
  const bool soft_exception =
      type == svm::EventType::kException && (e.vector == 3 || e.vector == 4);
  if (!(type == svm::EventType::kIntr || type == svm::EventType::kNmi ||
        (type == svm::EventType::kException && !soft_exception))) {
    return;
  }
  vmcb.control.event_inj = svm::encode_event_word(e);
  vmcb.control.event_inj_err = e.error_code_valid ? e.error_code : 0;
}

}  // namespace

bool has_exit_handler(uint64_t exit_code) {
  return exit_code == svm::to_u64(ExitCode::kInvalid) ||
         (exit_code < kTableSize && kHandlers[exit_code] != nullptr);
}

ExitOutcome handle_exit(ExitContext& ctx) {
  svm::VmcbControlArea& c = ctx.vmcb.control;
  // The previous VMRUN consumed event_inj (an undelivered event is back in exit_int_info) and
  // tlb_ctl; KVM resets tlb_ctl and marks the VMCB clean after every run (svm_vcpu_run [L]).
  c.event_inj = 0;
  c.event_inj_err = 0;
  c.tlb_ctl = 0;
  c.clean = svm::clean::kAllDefined;
  ctx.vcpu.completion = Completion{};
  requeue_exit_int_info(ctx.vmcb);

  if (ctx.vm.memory == nullptr || ctx.vm.vm == nullptr || ctx.vm.npt == nullptr) {
    const std::array<uint64_t, 1> data{c.exit_code};
    return internal::internal_error(ctx, kKvmInternalErrorEmulation, data,
                                    "VmContext without Memory, Vm or Npt: a run-loop bug");
  }
  if (c.exit_code == svm::to_u64(ExitCode::kInvalid)) return fail_entry(ctx);
  if (c.exit_code >= kTableSize || kHandlers[c.exit_code] == nullptr) return unexpected(ctx);
  return kHandlers[c.exit_code](ctx);
}

const char* kvm_exit_reason_name(KvmExitReason r) {
  switch (r) {
    case KvmExitReason::kUnknown:
      return "KVM_EXIT_UNKNOWN";
    case KvmExitReason::kIo:
      return "KVM_EXIT_IO";
    case KvmExitReason::kHypercall:
      return "KVM_EXIT_HYPERCALL";
    case KvmExitReason::kHlt:
      return "KVM_EXIT_HLT";
    case KvmExitReason::kMmio:
      return "KVM_EXIT_MMIO";
    case KvmExitReason::kShutdown:
      return "KVM_EXIT_SHUTDOWN";
    case KvmExitReason::kFailEntry:
      return "KVM_EXIT_FAIL_ENTRY";
    case KvmExitReason::kInternalError:
      return "KVM_EXIT_INTERNAL_ERROR";
    case KvmExitReason::kSystemEvent:
      return "KVM_EXIT_SYSTEM_EVENT";
    case KvmExitReason::kApResetHold:
      return "KVM_EXIT_AP_RESET_HOLD";
    case KvmExitReason::kMemoryFault:
      return "KVM_EXIT_MEMORY_FAULT";
  }
  return "KVM_EXIT_?";
}

const char* exit_path_name(ExitPath p) {
  static constexpr std::array<const char*, static_cast<size_t>(ExitPath::kCount)> kNames = {
      "cpuid",
      "msr-read",
      "msr-write",
      "msr-inject-gp",
      "io-kernel",
      "io-userspace",
      "io-string-kernel",
      "io-string-userspace",
      "io-string-fault",
      "hlt",
      "npf-map",
      "npf-spurious",
      "npf-memory-fault",
      "npf-mmio",
      "hypercall",
      "hypercall-exit",
      "shutdown",
      "interrupt",
      "reinject-exception",
      "inject-ud",
      "inject-gp",
      "nop-skip",
      "fail-entry",
      "unexpected",
      "internal-error",
      "completion",
      "ghcb-msr-protocol",
      "ghcb-no-ghcb",
      "ghcb-unregistered",
      "ghcb-bad-input",
      "ghcb-nae",
      "ghcb-terminate",
      "ghcb-ap-reset-hold",
      "ghcb-psc-exit",
      "ghcb-psc-done",
      "ghcb-mmio-kernel",
      "ghcb-mmio-exit",
      "ghcb-string-io-kernel",
      "ghcb-string-io-exit",
      "ghcb-unsupported",
      "ghcb-guest-request",
      "write-trap",
  };
  const auto i = static_cast<size_t>(p);
  return i < kNames.size() && kNames[i] != nullptr ? kNames[i] : "?";
}

// ---------------------------------------------------------------- helpers (exit_internal.h)

uint64_t read_gpr(const ExitContext& ctx, unsigned reg) {
  reg &= 15;
  // SEV-ES: the register file is KVM's vcpu->arch.regs filled from the GHCB (all 16 here).
  if (internal::protected_state(ctx)) return ctx.vcpu.gprs.r[reg];
  if (reg == kRax) return ctx.vmcb.save.rax;
  if (reg == kRsp) return ctx.vmcb.save.rsp;
  return ctx.vcpu.gprs.r[reg];
}

void write_gpr(ExitContext& ctx, unsigned reg, uint64_t value) {
  reg &= 15;
  if (internal::protected_state(ctx)) {
    ctx.vcpu.gprs.r[reg] = value;
  } else if (reg == kRax) {
    ctx.vmcb.save.rax = value;
  } else if (reg == kRsp) {
    ctx.vmcb.save.rsp = value;
  } else {
    ctx.vcpu.gprs.r[reg] = value;
  }
}

namespace internal {

void begin_run(KvmRun& run, KvmExitReason reason, std::string message) {
  run.exit_reason = reason;
  run.message = std::move(message);
}

ExitOutcome internal_error(ExitContext& ctx, uint32_t suberror, std::span<const uint64_t> data,
                           std::string message, ExitPath path) {
  KvmRun& run = ctx.vcpu.run;
  begin_run(run, KvmExitReason::kInternalError, std::move(message));
  run.internal.suberror = suberror;
  run.internal.data = {};
  const size_t n = data.size() < run.internal.data.size() ? data.size() : run.internal.data.size();
  for (size_t i = 0; i < n; ++i) run.internal.data[i] = data[i];
  run.internal.ndata = static_cast<uint32_t>(n);
  return to_vmm(path);
}

void set_rip(ExitContext& ctx, uint64_t next_rip) {
  // [L] svm.c svm_skip_emulated_instruction: nothing for SEV-ES (VMGEXIT is trap-like; the
  // hardware already moved RIP, which the hypervisor cannot see).
  if (protected_state(ctx)) return;
  ctx.vmcb.save.rip = next_rip;
  // svm.c skip_emulated_instruction: svm_set_interrupt_shadow(vcpu, 0).
  ctx.vmcb.control.int_state &= ~svm::int_state::kInterruptShadow;
}

bool skip_instruction(ExitContext& ctx) {
  if (protected_state(ctx)) return true;
  if (ctx.vmcb.control.next_rip == 0) return false;
  set_rip(ctx, ctx.vmcb.control.next_rip);
  return true;
}

bool protected_state(const ExitContext& ctx) {
  return ctx.vm.vm != nullptr && ctx.vm.vm->features().has_protected_state;
}

bool has_next_rip(const ExitContext& ctx) {
  return protected_state(ctx) || ctx.vmcb.control.next_rip != 0;
}

ExitOutcome invoke_exit_handler(ExitContext& ctx, uint64_t exit_code) {
  if (exit_code >= kTableSize || kHandlers[exit_code] == nullptr ||
      exit_code == svm::to_u64(ExitCode::kVmgexit)) {
    return unexpected(ctx);
  }
  return kHandlers[exit_code](ctx);
}

ExitOutcome no_next_rip(ExitContext& ctx) {
  const std::array<uint64_t, 2> data{ctx.vmcb.control.exit_code, ctx.vmcb.save.rip};
  return internal_error(ctx, kKvmInternalErrorEmulation, data,
                        "next_rip is 0 for exit " + hex(ctx.vmcb.control.exit_code) +
                            ": the model needs NRIPS to skip an instruction");
}

// [L] svm.c svm_queue_exception (svm_inject_exception): event_inj = vector | VALID |
// (VALID_ERR if an error code) | TYPE_EXEPT, event_inj_err = the error code.
bool inject_exception(ExitContext& ctx, uint8_t vector, std::optional<uint32_t> error_code) {
  if ((ctx.vmcb.control.event_inj & svm::event_bits::kValid) != 0) return false;
  const svm::Event e = svm::make_event(svm::EventType::kException, vector, error_code);
  ctx.vmcb.control.event_inj = svm::encode_event_word(e);
  ctx.vmcb.control.event_inj_err = error_code.value_or(0);
  return true;
}

ExitOutcome inject_or_fail(ExitContext& ctx, uint8_t vector, std::optional<uint32_t> error_code,
                           ExitPath path) {
  if (inject_exception(ctx, vector, error_code)) return resume(path);
  const std::array<uint64_t, 2> data{ctx.vmcb.control.event_inj, vector};
  return internal_error(ctx, kKvmInternalErrorSimulEx, data,
                        "exception " + std::to_string(vector) + " while re-injecting event " +
                            hex(ctx.vmcb.control.event_inj) + " (double fault not modelled)");
}

bool guest_64bit(const svm::Vmcb& vmcb) {
  return (vmcb.save.efer & svm::efer::kLma) != 0 &&
         (vmcb.save.cs.attrib & svm::seg_attrib::kL) != 0;
}

}  // namespace internal
}  // namespace snpemu::hv
