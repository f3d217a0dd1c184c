// emu/hv/exit.h: the SVM exit-handling layer of the hypervisor model (KVM's svm_exit_handlers
// and the x86.c emulation they call), part of hv.h's table of contents; include emu/hv/hv.h.
//
// The run loop (outside this layer) does, per KVM_RUN:
//   1. complete_userspace_exit() if the vCPU has a completion pending (complete_userspace_io),
//   2. prepare_vmrun() (TLB flush request of the NPT), write the Vmcb copy and the GPRs into
//      the core, Core::vmrun,
//   3. read the Vmcb back (exit_code, exit_info_*, save area) and the GPRs into VcpuState,
//      then handle_exit(): kResumeGuest -> back to 2; kExitToVmm -> VcpuState::run holds the
//      kvm_run record for the VMM.
// Handlers never read a clock and never hold cycle counts: each outcome names the path that ran
// (ExitPath) so the caller charges it from the timing table.
//
// Sources (facts only): Linux arch/x86/kvm/svm/svm.c (svm_exit_handlers, init_vmcb,
// svm_vcpu_init_msrpm, io_interception, msr_interception, handle_exit, svm_complete_interrupts,
// skip_emulated_instruction), arch/x86/kvm/x86.c (kvm_emulate_cpuid/rdmsr/wrmsr/hypercall,
// kvm_fast_pio, complete_fast_pio_*), arch/x86/kvm/cpuid.c (kvm_cpuid, cpuid_entry2_find),
// arch/x86/kvm/emulate.c (string I/O), include/uapi/linux/kvm.h; PLATFORM-FACTS 5, 6, 7.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cpu/svm/svm.h"
#include "emu/hv/hv.h"
#include "emu/hv/kvm_run.h"
#include "emu/mem/memory.h"

namespace snpemu::hv {

class Npt;

// ================================================================================= cpuid_table.cc

/// struct kvm_cpuid_entry2 (padding omitted), fields verbatim. [L] arch/x86/include/uapi/asm/kvm.h.
struct KvmCpuidEntry2 {
  uint32_t function = 0;
  uint32_t index = 0;
  uint32_t flags = 0;  ///< kKvmCpuidFlagSignificantIndex: `index` must match ECX
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};
inline constexpr uint32_t kKvmCpuidFlagSignificantIndex = 1;  // KVM_CPUID_FLAG_SIGNIFCANT_INDEX
inline constexpr size_t kKvmMaxCpuidEntries = 256;            // KVM_MAX_CPUID_ENTRIES

/// The guest CPUID table the VMM sets (KVM_SET_CPUID2) and the CPUID handler reads.
class CpuidTable {
 public:
  /// Replaces the table. E2BIG above kKvmMaxCpuidEntries; EINVAL for two entries that the
  /// lookup could not tell apart (same function, and same index or either one without a
  /// significant index). UNCONFIRMED: KVM accepts duplicates and uses the first; refusing them
  /// keeps the lookup unambiguous.
  KvmResult<void> set(std::span<const KvmCpuidEntry2> entries);
  /// cpuid_entry2_find: the entry for (function, index), or nullptr.
  const KvmCpuidEntry2* find(uint32_t function, uint32_t index) const;
  size_t size() const { return entries_.size(); }
  /// Writes or restores the entries (exit_serialize.cc); reading applies set()'s checks.
  void serialize(Serializer& s);

 private:
  std::vector<KvmCpuidEntry2> entries_;  // sorted by (function, index)
};

// ======================================================================================== pio.cc

/// The debug console (Bochs/QEMU "debugcon") on one port: every byte written is output; a read
/// returns the port number's low byte (0xE9 for port 0xE9), QEMU's isa-debugcon readback [3P].
struct DebugConsole {
  uint16_t port = 0xE9;
  std::string output;
};

/// A 16550A UART at `base` .. base+7 with the register behaviour a polling driver needs:
/// RBR/THR, IER, IIR/FCR, LCR (DLAB), MCR (loopback), LSR, MSR, SCR, DLL/DLM. Transmission is
/// instant: LSR.THRE and LSR.TEMT are always set and written bytes go to `output` in order
/// (or, in loopback, to the receive queue). No interrupt line is modelled: IIR reports what
/// would be pending. Sources: the National/TI PC16550D data sheet register map (UNCONFIRMED:
/// recalled, not re-read), QEMU hw/char/serial.c [3P] for IIR/MSR details.
class Uart16550 {
 public:
  explicit Uart16550(uint16_t base = 0x3F8) : base_(base) {}
  uint16_t base() const { return base_; }
  bool covers(uint16_t port) const { return static_cast<uint16_t>(port - base_) < 8; }
  /// One byte-wide register access at `port` (must be covered).
  uint8_t read(uint16_t port);
  void write(uint16_t port, uint8_t value);
  /// Bytes the guest transmitted, in order.
  const std::string& output() const { return output_; }
  std::string take_output() { return std::exchange(output_, std::string()); }
  /// Queues bytes for the guest to receive (LSR.DR set while any remain).
  void push_input(std::string_view bytes) { rx_.append(bytes); }
  uint8_t lcr() const { return lcr_; }
  uint16_t divisor() const { return static_cast<uint16_t>(dll_ | (dlm_ << 8)); }
  /// Writes or restores registers and queues (exit_serialize.cc).
  void serialize(Serializer& s);

 private:
  uint8_t iir();
  uint16_t base_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0x0C, dlm_ = 0, fcr_ = 0;
  bool thr_ipending_ = false;
  std::string output_, rx_;
};

/// The in-kernel port devices of one VM. An access is handled in the kernel when its first
/// port belongs to a device (a wider access gives the device its low byte: UNCONFIRMED, both
/// devices are byte-wide); everything else exits to the VMM as KVM_EXIT_IO.
struct PioDevices {
  bool debug_console_enabled = true;
  bool uart_enabled = true;
  DebugConsole debug_console{};
  Uart16550 com1{0x3F8};
  /// True if an access starting at `port` goes to an in-kernel device (no side effect).
  bool claims(uint16_t port) const {
    return (debug_console_enabled && port == debug_console.port) ||
           (uart_enabled && com1.covers(port));
  }
  /// True if the kernel handled the access; for an IN, `value` receives the data.
  bool handle(uint16_t port, unsigned size, bool is_in, uint32_t& value);
  /// Writes or restores both devices (exit_serialize.cc).
  void serialize(Serializer& s);
};

// =================================================================================== exit context

/// The guest GPRs the hypervisor keeps across an exit (vcpu->arch.regs), indexed by the
/// architectural register number (0 RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP, 5 RBP, 6 RSI, 7 RDI,
/// 8-15 R8-R15). RAX and RSP live in the VMCB save area (VMRUN/#VMEXIT move them): entries 0
/// and 4 here are ignored; use read_gpr()/write_gpr().
struct GuestGprs {
  std::array<uint64_t, 16> r{};
};
inline constexpr unsigned kRax = 0, kRcx = 1, kRdx = 2, kRbx = 3, kRsp = 4, kRbp = 5, kRsi = 6,
                          kRdi = 7;

/// MSR state the hypervisor emulates outside the VMCB (vcpu->arch.*).
struct MsrState {
  uint64_t apic_base = 0xFEE0'0000 | (1u << 11) | (1u << 8);  ///< APIC_DEFAULT_PHYS_BASE | EN | BSP
  uint64_t tsc_aux = 0;
  uint64_t microcode_version = 0x0100'0065;  ///< svm.c svm_vcpu_reset / create_vcpu value [L]
};

/// What the next KVM_RUN must finish before entering the guest (vcpu->arch.complete_userspace_io).
struct Completion {
  enum class Kind : uint8_t { kNone, kPioIn, kPioOut, kStringIn, kStringOut, kHypercall };
  Kind kind = Kind::kNone;
  uint64_t next_rip = 0;     ///< RIP after the instruction
  uint8_t size = 0;          ///< PIO element size
  uint32_t count = 0;        ///< string I/O: elements transferred in this round trip
  bool op_64bit = true;      ///< hypercall: 64-bit mode at the exit
  uint64_t exit_info_1 = 0;  ///< string I/O: the IOIO exit_info_1 (address size, REP, port)
};

/// One vCPU as the hypervisor sees it (struct kvm_vcpu + vcpu_svm, the parts used here).
struct VcpuState {
  uint32_t id = 0;
  GuestGprs gprs{};
  MsrState msr{};
  KvmRun run{};             ///< the exit record (the mmap'ed kvm_run page)
  Completion completion{};  ///< set when a handler exits to the VMM and needs finishing
  uint64_t npt_flush_seen = ~uint64_t{0};  ///< NPT flush generation last applied (none yet)
  /// Writes or restores the vCPU (exit_serialize.cc): GPRs, MSRs, the pending completion and
  /// the kvm_run record it refers to. Reading rejects unknown enum values and sizes.
  void serialize(Serializer& s);
};

/// Policies of the exit layer (recorded with the hypervisor options).
struct ExitOptions {
  /// KVM_CAP_EXIT_HYPERCALL mask: bit n lets hypercall n exit to the VMM (only bit 12,
  /// KVM_HC_MAP_GPA_RANGE, is meaningful). KVM's default is 0.
  uint64_t hypercall_exit_enabled = 0;
  PrivateFaultSource private_fault_source = PrivateFaultSource::kAttributes;
};

/// What the handlers of one VM use besides the vCPU (struct kvm, the parts used here). Not
/// owned: the run loop keeps them alive. `npt` must be the Vm's MmuNotifier
/// (vm->set_mmu_notifier(npt) once the Npt has its final address).
struct VmContext {
  Memory* memory = nullptr;
  Vm* vm = nullptr;
  Npt* npt = nullptr;
  CpuidTable cpuid{};
  PioDevices pio{};
  ExitOptions options{};
};

/// The input of one exit: the VM, the vCPU and the host-side copy of its VMCB (read after
/// #VMEXIT, written back before the next VMRUN). `host_tsc` is the TSC at the exit (RDMSR TSC
/// returns it plus tsc_offset).
struct ExitContext {
  VmContext& vm;
  VcpuState& vcpu;
  svm::Vmcb& vmcb;
  uint64_t host_tsc = 0;
};

uint64_t read_gpr(const ExitContext& ctx, unsigned reg);
void write_gpr(ExitContext& ctx, unsigned reg, uint64_t value);

// ===================================================================================== outcomes

/// Whether the guest runs again or KVM_RUN returns to the VMM (STYLE rule 11).
enum class ExitAction : uint8_t { kResumeGuest, kExitToVmm };

/// Which handler path ran: the cost class the caller charges from the timing table.
enum class ExitPath : uint8_t {
  kCpuid,
  kMsrRead,
  kMsrWrite,
  kMsrInjectGp,        ///< unknown MSR or bad value: #GP(0) injected
  kIoKernel,           ///< IN/OUT handled by an in-kernel device
  kIoUserspace,        ///< IN/OUT exits as KVM_EXIT_IO
  kIoStringKernel,     ///< INS/OUTS to an in-kernel device; `units` = elements moved
  kIoStringUserspace,  ///< INS/OUTS exits as KVM_EXIT_IO with count > 0
  kIoStringFault,      ///< a string element faulted: #PF/#GP injected
  kHlt,
  kNpfMap,          ///< page faulted in and mapped in the NPT
  kNpfSpurious,     ///< the NPT already allows the access: resume
  kNpfMemoryFault,  ///< KVM_EXIT_MEMORY_FAULT
  kNpfMmio,         ///< MMIO emulation needed (not modelled): internal error
  kHypercall,       ///< VMMCALL answered in the kernel
  kHypercallExit,   ///< VMMCALL exits as KVM_EXIT_HYPERCALL
  kShutdown,
  kInterrupt,          ///< INTR / NMI / SMI / INIT / VINTR: nothing to do, resume
  kReinjectException,  ///< #UD / #AC intercept reflected into the guest
  kInjectUd,           ///< SVM instruction, RSM, RDPRU, SKINIT: #UD injected
  kInjectGp,           ///< RDPMC: #GP(0) injected
  kNopSkip,            ///< INVD, WBINVD, MONITOR, MWAIT emulated as NOP
  kFailEntry,          ///< VMEXIT_INVALID
  kUnexpected,         ///< no handler: KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON
  kInternalError,      ///< a handler could not emulate (see KvmRun::message)
  kCompletion,         ///< complete_userspace_exit
  kCount,
};
const char* exit_path_name(ExitPath p);

/// The result of one handler.
struct ExitOutcome {
  ExitAction action = ExitAction::kResumeGuest;
  ExitPath path = ExitPath::kUnexpected;
  /// Work units for paths that scale (string I/O elements); 0 otherwise.
  uint32_t units = 0;
  /// KVM_RUN's own return value when it is an error (-EFAULT with KVM_EXIT_MEMORY_FAULT,
  /// -ENOMEM for an exhausted NPT pool); nullopt = KVM_RUN returns 0.
  std::optional<KvmErrno> kvm_run_error{};
};

// ================================================================================= exit_table.cc

/// svm_handle_exit: prologue (event_inj and tlb_ctl cleared, clean bits all set, an event cut
/// short by the exit re-queued from exit_int_info as svm_complete_interrupts does), then the
/// handler for vmcb.control.exit_code. Never throws, never aborts on guest or VMCB contents.
ExitOutcome handle_exit(ExitContext& ctx);

/// The handler table's view: is there a handler for this exit code?
bool has_exit_handler(uint64_t exit_code);

// ================================================================================= completion.cc

/// complete_userspace_io: finishes the exit the VMM just handled (IN data into RAX or guest
/// memory, hypercall ret into RAX, RIP past the instruction). No-op (kResumeGuest) when
/// nothing is pending. May inject #PF (string IN to a page that faults now).
ExitOutcome complete_userspace_exit(ExitContext& ctx);

/// Before each VMRUN: syncs the NPT with the Vm's invalidation sequence and requests
/// TLB_CONTROL_FLUSH_ASID (3) when the NPT changed since this vCPU's last flush.
void prepare_vmrun(VmContext& vm, VcpuState& vcpu, svm::Vmcb& vmcb);

// =================================================================================== vmcb_init.cc

/// Host pages of a vCPU's permission maps (MSRPM 8 KiB, IOPM 12 KiB: contiguous runs).
struct PermissionMaps {
  Hpa msrpm{};
  Hpa iopm{};
};
/// Allocates both maps from `pool` (each a contiguous run) and fills them as KVM does: IOPM all
/// ones (every port intercepted, svm_hardware_setup); MSRPM all ones except read and write of
/// the MSRs KVM always passes through (direct_access_msrs with .always: STAR, SYSENTER_CS,
/// FS_BASE, GS_BASE, KERNEL_GS_BASE, LSTAR, CSTAR, SYSCALL_MASK). ENOMEM without a run.
KvmResult<PermissionMaps> create_permission_maps(Memory& memory, PagePool& pool);

/// What init_vmcb needs from the VM.
struct VmcbSetup {
  PermissionMaps maps{};
  Asid asid{1};
  Hpa nested_cr3{};
};
/// init_vmcb for a plain SVM guest: the intercepts KVM sets that this layer handles (see
/// vmcb_init.cc for each choice), MSRPM/IOPM bases, ASID, int_ctl V_INTR_MASKING, NP_ENABLE +
/// nested_cr3, clean bits 0. Leaves the save area alone.
void init_vmcb(svm::Vmcb& vmcb, const VmcbSetup& setup);

/// The long-mode start state the VMM supplies (flat 64-bit segments, paging on).
struct LongModeStart {
  uint64_t rip = 0;
  uint64_t rsp = 0;
  uint64_t rax = 0;
  uint64_t cr3 = 0;
  uint64_t rflags = 0x2;
  uint64_t gdtr_base = 0;
  uint16_t gdtr_limit = 0;
  uint64_t idtr_base = 0;
  uint16_t idtr_limit = 0;
  bool nxe = true;
};
/// Fills the save area: CS 0x08 64-bit code (L=1), DS/ES/SS/FS/GS 0x10 flat data, TR busy
/// 64-bit TSS, EFER LME|LMA|SVME (+NXE; VMRUN requires SVME, KVM's svm_set_efer always sets
/// it), CR0 PE|MP|ET|NE|WP|PG, CR4 PAE|OSFXSR|OSXMMEXCPT, DR6 0xFFFF0FF0, DR7 0x400, g_pat the
/// power-on PAT, CPL 0.
void init_long_mode_save_area(svm::VmcbSaveArea& save, const LongModeStart& start);

}  // namespace snpemu::hv
