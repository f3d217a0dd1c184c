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
#include "ghcb/ghcb.h"

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
  enum class Kind : uint8_t {
    kNone, kPioIn, kPioOut, kStringIn, kStringOut, kHypercall,
    // SEV-ES / SNP (ghcb_*.cc): the GHCB stays mapped until these finish.
    kGhcbStringIn, kGhcbStringOut, kGhcbMmio, kGhcbPsc, kPscMsr, kApResetHold,
  };
  Kind kind = Kind::kNone;
  uint64_t next_rip = 0;     ///< RIP after the instruction
  uint8_t size = 0;          ///< PIO element size
  uint32_t count = 0;        ///< string I/O: elements transferred in this round trip
  bool op_64bit = true;      ///< hypercall: 64-bit mode at the exit
  uint64_t exit_info_1 = 0;  ///< string I/O: the IOIO exit_info_1; kGhcbMmio: 1 = write
};

/// KVM_MP_STATE_* the model uses (PLATFORM-FACTS 7.4 [L] uapi kvm.h).
enum class MpState : uint8_t { kRunnable = 0, kUninitialized = 1, kHalted = 3, kApResetHold = 9 };

/// AP reset hold kinds (sev.c AP_RESET_HOLD_*): which protocol parked the vCPU.
enum class ApResetHoldType : uint8_t { kNone = 0, kNaeEvent = 1, kMsrProtocol = 2 };

/// The per-vCPU SEV-ES state of KVM's struct vcpu_sev_es_state (ghcb_*.cc): the registered
/// GHCB, the AP reset hold, and the GHCB "mapping" of an in-flight VMGEXIT: the one copy of the
/// page, the response to write back, the scratch buffer and the progress of multi-exit events.
struct SevEsVcpu {
  static constexpr uint64_t kNoGpa = ~uint64_t{0};
  uint64_t registered_gpa = kNoGpa;  ///< SNP GHCB GPA registration (REG_GPA_REQ)
  ApResetHoldType hold = ApResetHoldType::kNone;
  MpState mp_state = MpState::kRunnable;
  bool received_first_sipi = false;
  /// CR0, CR4, CR8 and EFER as the write traps reported them (vcpu->arch.cr0/cr4/cr8/efer).
  uint64_t cr0 = 0, cr4 = 0, cr8 = 0, efer = 0;
  // ---- the mapped GHCB of the VMGEXIT in flight (KVM svm->sev_es.ghcb != NULL) ----
  bool mapped = false;
  uint64_t ghcb_gpa = 0;
  ghcb::GhcbSnapshot snapshot{};  ///< the one copy of the guest page (valid bitmap as read)
  bool has_exit_info = false;     ///< a response was set (svm_vmgexit_set_return_code)
  uint64_t sw_exit_info_1 = 0, sw_exit_info_2 = 0;
  // ---- scratch area (setup_vmgexit_scratch) ----
  std::vector<uint8_t> scratch{};  ///< copy of the area (in the GHCB or in guest memory)
  uint64_t scratch_gpa = 0;
  bool scratch_sync = false;  ///< written back to guest memory at unmap (IN, MMIO read, PSC)
  // ---- progress of a multi-exit event ----
  uint64_t mmio_gpa = 0;      ///< MMIO: next fragment's GPA
  uint32_t progress = 0;      ///< MMIO bytes / string I/O elements done
  uint32_t pending = 0;       ///< elements (string I/O) or bytes (MMIO) of the current exit
  uint16_t port = 0;
  uint8_t io_size = 0;
  ghcb::PscScan psc{};        ///< GHCB PSC: the copy of the descriptor and KVM's bookkeeping
  // ---- SNP AP creation (sev_snp_ap_creation, set on the target by another vCPU's request) ----
  uint64_t snp_vmsa_gpa = kNoGpa;        ///< the VMSA GPA to switch to (kNoGpa: destroy)
  bool snp_ap_waiting_for_reset = false;  ///< a request is recorded for this vCPU
  /// KVM_REQ_UPDATE_PROTECTED_GUEST_STATE: apply the request before the next VMRUN (not set for
  /// CREATE_ON_INIT, which waits for the vCPU's next INIT).
  bool update_protected_state = false;
};

/// One vCPU as the hypervisor sees it (struct kvm_vcpu + vcpu_svm, the parts used here).
struct VcpuState {
  uint32_t id = 0;
  GuestGprs gprs{};
  MsrState msr{};
  KvmRun run{};             ///< the exit record (the mmap'ed kvm_run page)
  Completion completion{};  ///< set when a handler exits to the VMM and needs finishing
  uint64_t npt_flush_seen = ~uint64_t{0};  ///< NPT flush generation last applied (none yet)
  SevEsVcpu sev_es{};  ///< SEV-ES / SNP only
  /// KVM_INTERRUPT (userspace irqchip): the external interrupt waiting to be injected.
  std::optional<uint8_t> pending_irq{};
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
  /// SNP Page State Change (MSR and GHCB forms): kVmm = KVM, every range exits to the VMM as
  /// KVM_HC_MAP_GPA_RANGE (needs bit 12 above); kInKernel = the hypervisor converts itself with
  /// convert_memory and answers the guest without a VMM round trip (convert.h).
  PscHandling psc_handling = PscHandling::kVmm;
  /// RMP update timing of conversions to private done in the kernel (kInKernel); the VMM passes
  /// its own to map_gpa_range. kLazy = KVM (gmem_prepare at the first private fault).
  RmpUpdateTiming rmp_update_timing = RmpUpdateTiming::kLazy;
};

/// The GHCB protocol as the VMM configures it (KVM_SEV_INIT2 ghcb_version and KVM's fixed
/// answers made options). Recorded with the hypervisor options.
struct SevOptions {
  /// SEV_INFO answer: KVM answers min = GHCB_VERSION_MIN (1), max = the VM's ghcb_version
  /// (default 2) [L] sev.c; here the VMM sets both.
  uint16_t ghcb_min = 1;
  uint16_t ghcb_max = 2;
  uint8_t c_bit = 51;  ///< CPUID 0x8000_001F EBX[5:0] of the host (ESTIMATE: Zen 4 value)
  uint64_t hv_features = ghcb::kHvFtKvmSupported;  ///< HV_FT answer [L] GHCB_HV_FT_SUPPORTED
  /// AP_JUMP_TABLE with an unknown sub-function: current KVM answers malformed input (2, 5);
  /// KVM 5.11-5.x asked the guest to take #UD (PLATFORM-FACTS 2.6). true = the old answer.
  bool ap_jump_table_bad_op_ud = false;
  /// RDTSC/RDTSCP NAE events: false = emulate as the GHCB spec describes (RAX/RDX = guest TSC,
  /// RCX = TSC_AUX); true = as upstream KVM, through the SVM exit table (no RDTSC handler:
  /// internal error; RDTSCP: #UD) [L] svm.c svm_exit_handlers.
  bool nae_tsc_via_exit_table = false;
};

/// An in-kernel MMIO device (kvm_io_bus): SEV-ES MMIO NAE events try it before KVM_EXIT_MMIO.
class MmioHandler {
 public:
  virtual ~MmioHandler() = default;
  /// True if the device at `gpa` handled all of `data` (read fills it).
  virtual bool mmio(uint64_t gpa, std::span<uint8_t> data, bool is_write) = 0;
};

/// The AMD-SP side of SNP guest requests (KVM snp_handle_guest_req: SNP_GUEST_REQUEST with the
/// VM's guest context, its request bounce page and its firmware-owned response page). emu/kvm
/// implements it over the machine's firmware; nothing here knows the firmware.
class GuestRequestChannel {
 public:
  virtual ~GuestRequestChannel() = default;
  struct Result {
    bool issued = false;    ///< false: the command could not be issued (KVM_RUN returns -EIO)
    uint32_t fw_error = 0;  ///< the firmware's status (0 = success), for SW_EXITINFO2[31:0]
    std::string message{};  ///< why, when not issued or failed
  };
  /// Runs one request: `request` and `response` are 4 KiB each.
  virtual Result guest_request(std::span<const uint8_t> request, std::span<uint8_t> response) = 0;
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
  SevOptions sev{};
  uint64_t ap_jump_table = 0;       ///< SEV-ES AP jump table GPA (per VM, sev->ap_jump_table)
  MmioHandler* mmio = nullptr;      ///< in-kernel MMIO devices (not owned); nullptr = none
  /// SNP: the AMD-SP channel for guest requests (not owned); nullptr = none (KVM_RUN -EINVAL).
  GuestRequestChannel* guest_requests = nullptr;
  /// Every vCPU of the VM by id (kvm_get_vcpu_by_id), for events that target another vCPU.
  std::vector<VcpuState*> vcpus{};
  /// SEV-ES / SNP: the SEV_FEATURES every VMSA of the VM carries (sev->vmsa_features, from the
  /// VMM at KVM_SEV_INIT2); SNP AP creation requires it in RAX.
  uint64_t vmsa_features = 0;
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
  // SEV-ES / SNP VMGEXIT (ghcb_*.cc). A GHCB-page event that runs an SVM handler (CPUID, MSR,
  // IOIO, VMMCALL, ...) reports that handler's path with ExitOutcome::ghcb set.
  kGhcbMsrProtocol,   ///< MSR-protocol request answered in the kernel (or left as is)
  kGhcbNoGhcb,        ///< GHCB GPA 0 or not mappable: resume with nothing done
  kGhcbUnregistered,  ///< SNP: GHCB GPA not the registered one: KVM_RUN -EINVAL
  kGhcbBadInput,      ///< GHCB error response (malformed input, bad scratch area)
  kGhcbNae,           ///< NAE event answered in the kernel (HV features, jump table, TSC...)
  kGhcbTerminate,     ///< termination request: KVM_EXIT_SYSTEM_EVENT SEV_TERM
  kGhcbApResetHold,   ///< AP reset hold: KVM_EXIT_AP_RESET_HOLD
  kGhcbPscExit,       ///< PSC range forwarded as KVM_HC_MAP_GPA_RANGE (MSR or GHCB form)
  kGhcbPscDone,       ///< PSC answered in the kernel (error, or nothing left to convert)
  kGhcbMmioKernel,    ///< MMIO NAE handled by an in-kernel device
  kGhcbMmioExit,      ///< MMIO NAE: KVM_EXIT_MMIO (one 8-byte fragment)
  kGhcbStringIoKernel,  ///< string IOIO through the scratch area, in-kernel device; units
  kGhcbStringIoExit,    ///< string IOIO through the scratch area: KVM_EXIT_IO; units
  kGhcbUnsupported,   ///< UNSUPPORTED_EVENT or an impossible input: KVM_RUN -EINVAL
  kGhcbGuestRequest,  ///< SNP guest request forwarded to the AMD-SP and answered
  kWriteTrap,         ///< SEV-ES EFER/CR0/CR4/CR8 write trap: new value recorded, resume
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
  /// The exit came through a GHCB page (VMGEXIT): the caller charges the GHCB map, copy and
  /// write-back on top of `path`.
  bool ghcb = false;
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
/// KVM_INTERRUPT (interrupt.cc): queues `vector` for the vCPU; EEXIST if one is still pending.
KvmResult<void> queue_external_interrupt(VcpuState& vcpu, uint8_t vector);
/// Before VMRUN (kvm_check_and_inject_events): injects the pending interrupt through EVENTINJ if
/// the guest can take it (RFLAGS.IF, no interrupt shadow), else opens an interrupt window
/// (V_IRQ + the VINTR intercept).
void inject_pending_interrupt(VcpuState& vcpu, svm::Vmcb& vmcb);

// ============================================= ghcb_msr.cc ghcb_map.cc ghcb_nae.cc ghcb_io.cc ghcb_psc.cc
// SEV-ES / SNP guests (VmType kSevEs / kSnp, Vm::features().has_protected_state): the exit
// table's SVM_EXIT_VMGEXIT handler (sev.c sev_handle_vmgexit) answers the GHCB MSR protocol
// (ghcb_gpa low 12 bits non-zero) or maps the GHCB page: one copy of the page, validated with
// ghcb::validate_vmgexit, the NAE event dispatched (CPUID/MSR/IOIO/VMMCALL/... through the SVM
// handlers with the register file taken from the GHCB, as KVM's vcpu->arch.regs), and the
// answer (valid bitmap cleared, SW_EXITINFO1/2, RAX/RBX/RCX/RDX, scratch data) written back into
// guest memory when the exit finishes (sev_es_unmap_ghcb): at once, or in
// complete_userspace_exit() after a VMM round trip. For these guests RIP is never touched
// (VMGEXIT is trap-like) and read_gpr/write_gpr use the GHCB register file.
// After a GHCB-page VMGEXIT the VMCB exit_code/exit_info_1/2 hold the NAE values (as KVM's
// sev_es_sync_from_ghcb writes them).

/// sev_vcpu_deliver_sipi_vector: the first SIPI only records itself (the vCPU starts from the
/// VMSA the VMM built); a later one wakes a vCPU parked in AP reset hold: NAE hold ->
/// SW_EXITINFO2 = 1 in the still-mapped GHCB, MSR hold -> GHCB MSR (1 << 12) | 0x007; then
/// mp_state is runnable. The VMM calls it before the next KVM_RUN of that vCPU.
void sev_deliver_sipi(VcpuState& vcpu, svm::Vmcb& vmcb);

/// The SEV_INFO response the VMM's range produces (GHCB MSR protocol 0x001: max 63:48, min
/// 47:32, C-bit 31:24); KVM preloads it into VMCB ghcb_gpa at vCPU RESET (sev_es_vcpu_reset).
uint64_t sev_info_msr_value(const SevOptions& sev);

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
/// Clears the MSRPM read and write intercepts of `msr` in the map at `msrpm` (KVM's
/// set_msr_interception(..., 1, 1)); MSRs outside the mapped ranges are left alone.
void pass_through_msr(Memory& memory, Hpa msrpm, uint32_t msr);

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

// =============================================================================== vmcb_init_sev.cc

/// What init_vmcb_sev_es needs beyond VmcbSetup.
struct SevEsVmcbSetup {
  Hpa vmsa_pa{};               ///< host PA of the VMSA page, no C-bit (KVM __pa(sev_es.vmsa))
  uint64_t vmsa_features = 0;  ///< the VM's SEV_FEATURES (KVM sev->vmsa_features)
  /// The CPU supports "allowed SEV features": KVM writes vmsa_features | bit 63 into 0x138.
  bool allowed_sev_features = false;
  SevOptions sev{};            ///< for the GHCB MSR reset value
};
/// init_vmcb + sev_init_vmcb + sev_es_init_vmcb + sev_es_vcpu_reset [L] sev.c: SEV_ENABLE |
/// SEV_ES_ENABLE (NP_ENABLE from init_vmcb), vmsa_pa, #UD/#GP intercepts off, no CR0/CR4/CR8
/// read/write or selective-CR0 intercepts, EFER/CR0/CR4/CR8 write traps on, DR intercepts only
/// DR7 read/write (none, and no #DB intercept, with DebugSwap), XSETBV intercept off,
/// allowed_sev_features, and ghcb_gpa preloaded with the SEV_INFO response. The write traps
/// are answered by exit_trap.cc (value recorded in SevEsVcpu, resume).
void init_vmcb_sev_es(svm::Vmcb& vmcb, const VmcbSetup& setup, const SevEsVmcbSetup& sev);

/// The initial VMSA the VMM supplies (before LAUNCH_UPDATE_VMSA): the long-mode start state of
/// init_long_mode_save_area, plus what KVM's sev_es_sync_vmsa adds: xcr0 = 1 (x87), MXCSR
/// 0x1F80, x87 FCW 0x37F, sev_features, vmpl 0 (PLATFORM-FACTS 5.3/5.4; values UNCONFIRMED
/// against the APM reset table, taken from the architectural reset values).
svm::SevEsSaveArea make_initial_vmsa(const LongModeStart& start, uint64_t sev_features);

}  // namespace snpemu::hv
