// cpu/cpu.h: one x86-64 core of the emulated AMD EPYC host. Public header of //cpu.
//
// A Core executes machine code in 64-bit mode over one injected access interface (CpuBus) and
// returns why it stopped (STYLE rule 7). It owns its architectural state and cycle counter;
// every cycle comes from the timing table (cpu/timing/cost.h). Architectural faults are values
// delivered through the IDT, never C++ exceptions.
//
// Contents, by defining file:
//   cpu/state.h          ArchState, Segment, flag and control-register bits
//   cpu/fault.h          Vector, Fault
//   cpu/cpuid.h          CpuidLeaf, zen4_cpuid() (cpu/cpuid.cc)
//   cpu/core.cc          Core::run, Core::step, fetch/decode/execute loop (64-bit mode only),
//                        the predecode-cache fast path
//   cpu/exception.cc     IDT delivery, #DF escalation, triple fault
//   cpu/msr.cc           the MSR file
//   cpu/paging.cc        linear -> physical through mmu/ (walk + TLB; the 2-D walk through the
//                        nested page table in SVM guest mode), TLB maintenance by ASID
//   cpu/world_switch.cc  SVM: VMRUN, #VMEXIT, VMLOAD, VMSAVE, STGI, CLGI (instruction and
//                        host-instruction paths), event injection, EXITINTINFO
//   cpu/intercept.cc     SVM: which instruction, exception and interrupt exits to the host
//   cpu/vmsa_rmp.cc      SEV-SNP: VMRUN's RMP checks of the VMSA page, its in-use marking
//   cpu/predecode.h      the predecode cache (decoded instructions keyed by physical address)
//   cpu/decode/          opcode tables and the decoder
//   cpu/insn/            instruction semantics, one family per file
//   cpu/timing/          cost classes and the Zen 4 timing table
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <memory>
#include <span>
#include <vector>

#include "cpu/cpuid.h"
#include "cpu/decode/opcode.h"
#include "cpu/fault.h"
#include "cpu/state.h"
#include "cpu/svm/svm.h"
#include "cpu/timing/cost.h"
#include "emu/memcrypt/memcrypt.h"
#include "mmu/mmu.h"
#include "rmp/rmp.h"

namespace snpemu::cpu {

/// Result of a port I/O access through the bus.
enum class IoResult : uint8_t {
  kDone,  // access completed; continue
  kExit,  // access completed; stop the core with StopReason::kIoExit after this instruction
};

/// The core's only way out: physical memory and port I/O. Implemented by the machine (or by a
/// test over flat memory).
///
/// Instruction fetch and the predecode cache (cpu/predecode.h). The core keeps decoded
/// instructions keyed by the physical address of their first byte (64-bit mode is the only
/// decode mode; instructions that cross a page boundary are not cached) and, on every fetch that
/// hits, compares the bytes it decoded with the bytes memory holds now; a difference discards
/// the entry and decodes again. Hence code modified by anyone -- this core's stores and string
/// ops, another core, the hypervisor, DMA, a test poking memory between runs -- takes effect at
/// the next fetch of the changed bytes, with no write-notification call and no generation
/// counter to maintain. AMD processors likewise execute the new bytes after a store to the
/// instruction stream (APM vol 2, chapter 7 "Memory System", self-modifying code; UNCONFIRMED:
/// exact section, and the hardware's window for cross-modifying code is narrower than "the
/// next fetch" only in ways software cannot rely on). The bus contract this relies on is only:
///   * read() returns what memory holds at the time of the call, and
///   * readable_page(pfn), if implemented, returns a pointer through which reads see every
///     write to that frame by any writer (reading through it is equivalent to read()), valid
///     while the core is inside one run() or step() call; nullptr for frames that are not
///     ordinary memory (MMIO, holes), which then go through read().
/// readable_page() is the fast path (no virtual call and no copy per instruction or load); a
/// bus that does not implement it is still correct: cache hits are then checked with one read()
/// of the instruction's bytes. The cache never changes behaviour or cycles
/// (CoreConfig::predecode_cache).
class CpuBus {
 public:
  virtual ~CpuBus() = default;
  /// Fast path for instruction fetch and loads: host pointer to the 4 KiB physical frame `pfn`
  /// (physical address pfn << 12), or nullptr (then the core uses read()). See above.
  virtual const uint8_t* readable_page(uint64_t pfn) {
    (void)pfn;
    return nullptr;
  }
  /// Reads physical [pa, pa + out.size()); false if any byte is outside memory.
  virtual bool read(uint64_t pa, std::span<uint8_t> out) = 0;
  /// Writes physical [pa, pa + in.size()); false if any byte is outside memory.
  virtual bool write(uint64_t pa, std::span<const uint8_t> in) = 0;
  /// IN of `size` (1, 2, 4) bytes from `port` into `value`.
  virtual IoResult io_in(uint16_t port, uint8_t size, uint32_t& value) = 0;
  /// OUT of `size` (1, 2, 4) bytes of `value` to `port`.
  virtual IoResult io_out(uint16_t port, uint8_t size, uint32_t value) = 0;
};

/// Why run() or step() returned.
enum class StopReason : uint8_t {
  kBudget,         // the cycle budget is used up
  kHalt,           // HLT executed (RIP points after it)
  kShutdown,       // triple fault: the core is in shutdown
  kIoExit,         // the bus asked to stop after a port access
  kBusError,       // an access reached no memory (physical address in stop_info().address)
  kUnimplemented,  // decoded, but semantics are not modelled yet (stop_info().insn)
  kUnsupportedMode,// not in 64-bit mode (legacy and compatibility modes are not modelled yet)
  kFault,          // CoreConfig::stop_on_fault: an exception was raised and not delivered
  kVmexit,         // a #VMEXIT returned the core to host mode (exit information in the VMCB)
};

/// Details of the last stop.
struct StopInfo {
  StopReason reason = StopReason::kBudget;
  uint64_t address = 0;           // kBusError: the physical address
  InsnId insn = InsnId::kCount;   // kUnimplemented: the instruction
  Fault fault{};                  // kFault: the exception; kShutdown: the last one
};

/// Options of a core; recorded by whoever creates it.
struct CoreConfig {
  /// Timing profile (cycles per cost class).
  const TimingTable* timing = &zen4_timing();
  /// CPUID results; leaves not listed read as zero.
  std::vector<CpuidLeaf> cpuid = zen4_cpuid();
  /// Test hook: return StopReason::kFault instead of delivering exceptions through the IDT.
  bool stop_on_fault = false;
  /// Paging facts of the profile (C-bit position, physical-address width).
  mmu::PagingConfig paging{};
  /// The memory controller's key slots (shared by the machine's cores and the AMD-SP). With
  /// them, an SEV guest's private accesses (C-bit set; instruction fetches, guest page-table
  /// accesses and every access with guest paging off are always private, APM vol 2, 15.34.5)
  /// are encrypted with its ASID's key. nullptr: memory encryption is not modelled (C=1 reads
  /// and writes plain memory).
  const memcrypt::KeyTable* keys = nullptr;
  /// The host's RMP when SEV-SNP is enabled (SYSCFG.SNP_EN), shared by the machine's cores and
  /// the AMD-SP. With it, every guest access and every guest table access is checked against
  /// the RMP on its path (rmp::check_guest_access; SNP guests' private accesses with all rules,
  /// everything else as shared), PVALIDATE / RMPADJUST execute in SNP guests and RMPUPDATE /
  /// PSMASH on the host. nullptr: SNP is off and those instructions raise #UD.
  rmp::Rmp* rmp = nullptr;
  /// Keep decoded instructions in the predecode cache (cpu/predecode.h). Changes host speed
  /// only: architectural state, instruction counts and cycles are identical either way
  /// (test/cpu/predecode_test.cc runs programs both ways and compares).
  bool predecode_cache = true;
};

/// SVM guest mode as the core holds it between VMRUN and #VMEXIT: the VMCB control fields it
/// caches for the run (APM vol 2, 15.15: the processor may cache them; clean bits only permit
/// more caching, so reading them afresh at every VMRUN is always correct) and the host facts
/// the run needs. Read-only outside the core.
struct GuestMode {
  uint64_t vmcb_pa = 0;
  std::array<uint32_t, svm::kInterceptWords> intercepts{};
  uint64_t iopm_pa = 0;
  uint64_t msrpm_pa = 0;
  uint64_t tsc_offset = 0;  // guest TSC = host TSC + tsc_offset. APM vol 2, 15.30.5
  Asid asid{0};
  bool np = false;      // nested paging (NP_ENABLE)
  bool sev = false;     // SEV_ENABLE
  bool sev_es = false;  // SEV_ES_ENABLE
  uint64_t nested_cr3 = 0;
  bool host_nxe = true;  // host EFER.NXE: NX in nested entries
  uint32_t int_ctl = 0;     // V_TPR, V_IRQ, V_INTR_PRIO, V_IGN_TPR, V_INTR_MASKING
  uint8_t int_vector = 0;   // V_INTR vector
  uint16_t pause_count = 0; // PAUSE filter counter (0 = every PAUSE exits)
  bool host_if = false;     // host RFLAGS.IF at VMRUN (gates physical interrupts)
  uint64_t host_cr8 = 0;    // host TPR, while the guest's CR8 is V_TPR (V_INTR_MASKING)
  uint64_t vmsa_pa = 0;       // SEV-ES: the VMSA (host-physical)
  uint64_t ghcb_gpa = 0;      // SEV-ES: the GHCB MSR, exchanged through VMCB ghcb_gpa
  uint64_t sev_features = 0;  // SEV-ES: the VMSA's SEV_FEATURES
  bool snp = false;           // SEV_FEATURES.SNP_ACTIVE
  Vmpl vmpl{0};               // SNP: the VMSA's VMPL
  bool is_intercepted(svm::Intercept i) const {
    const auto bit = static_cast<unsigned>(i);
    return ((intercepts[bit / 32] >> (bit % 32)) & 1u) != 0;
  }
};

/// Sentinel of the `bus_error` out-parameters: no bus error happened.
inline constexpr uint64_t kNoBusError = ~uint64_t{0};

/// What a translated access is for.
struct LinearAccess {
  mmu::AccessKind kind = mmu::AccessKind::kRead;
  bool implicit_supervisor = false;  // descriptor tables, IDT, TSS
};

class PredecodeCache;
struct PredecodedInsn;
struct DecodedInsn;
class Exec;
struct Outcome;

class Core {
 public:
  Core(CpuBus& bus, CoreConfig config);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  /// Runs until `budget_cycles` more cycles are charged or another stop reason occurs.
  StopReason run(uint64_t budget_cycles);
  /// Executes one instruction (or one exception delivery) and returns kBudget if nothing else
  /// stopped the core.
  StopReason step();

  /// Details of the last stop.
  const StopInfo& stop_info() const { return stop_; }
  ArchState& state() { return state_; }
  const ArchState& state() const { return state_; }
  /// Cycles charged since creation (the core's clock; the TSC is this plus TSC offset).
  uint64_t cycles() const { return cycles_; }
  /// Instructions retired since creation.
  uint64_t instructions() const { return instructions_; }
  const CoreConfig& config() const { return config_; }
  /// Requests external interrupt `vector`; delivered at the next instruction boundary with
  /// RFLAGS.IF = 1 and no STI / MOV SS shadow (a halted core resumes on the next run()). In SVM
  /// guest mode with the INTR intercept, it causes #VMEXIT(INTR) instead (GIF = 1 and, with
  /// V_INTR_MASKING, the host's RFLAGS.IF = 1) and stays pending for the host.
  void request_interrupt(uint8_t vector) { pending_irq_ = vector; has_pending_irq_ = true; }
  bool interrupt_pending() const { return has_pending_irq_; }

  // ---- SVM (cpu/world_switch.cc) --------------------------------------------------------------
  // The host-instruction path: the hypervisor model is C++ code running "as" host code at CPL 0
  // on this core. Each call executes one SVM instruction with rAX = `pa`, exactly as the
  // instruction would -- same checks, state changes and cycles -- and returns the fault the
  // instruction would raise instead of delivering it (EFER.SVME = 0: #UD; CPL != 0, rAX not
  // 4 KiB aligned or beyond memory: #GP(0)). They are refused with #UD in guest mode (the
  // hypervisor model never runs there).

  /// VMRUN: true if the core entered the guest (then run() executes it until #VMEXIT, which
  /// returns StopReason::kVmexit); false if a #VMEXIT happened already (a failed consistency
  /// check, VMEXIT_INVALID, or an intercept while injecting EVENTINJ): the VMCB holds the exit.
  std::expected<bool, Fault> vmrun(uint64_t vmcb_pa);
  std::expected<void, Fault> vmload(uint64_t vmcb_pa);
  std::expected<void, Fault> vmsave(uint64_t vmcb_pa);
  std::expected<void, Fault> stgi();
  std::expected<void, Fault> clgi();
  /// RMPUPDATE (rAX = hpa, the 16-byte state operand given by value) and PSMASH on the host
  /// (cpu/insn/snp.cc). #UD without SNP or in guest mode.
  std::expected<rmp::InsnResult, Fault> rmpupdate(uint64_t hpa, const rmp::RmpStateView& state);
  std::expected<rmp::InsnResult, Fault> psmash(uint64_t hpa);
  /// True between VMRUN and #VMEXIT.
  bool in_guest() const { return guest_active_; }
  /// The cached VMCB state of the current guest run (meaningful when in_guest()).
  const GuestMode& guest_mode() const { return guest_; }
  /// The ASID TLB entries are tagged with now: the guest's in guest mode, else 0.
  Asid current_asid() const { return guest_active_ ? guest_.asid : Asid{0}; }
  /// True when guest-physical addresses go through the nested page table.
  bool nested_paging() const { return nested_; }
  /// True when the last translate() produced a private access of an SEV guest whose bytes the
  /// core encrypts / decrypts (crypt()) with the guest's key.
  bool last_access_encrypted() const { return sev_crypt_ && last_enc_; }
  /// Encrypts or decrypts (the same operation) `bytes` at host-physical `pa` with the current
  /// guest's key.
  void crypt(uint64_t pa, std::span<uint8_t> bytes) const { memcrypt::apply(guest_key_, pa, bytes); }
  /// The predecode-cache tag of the last fetch: 0 for plain memory, else the key's identity.
  uint64_t fetch_tag() const { return last_access_encrypted() ? fetch_tag_ : 0; }
  /// The outcome of the last VMRUN's consistency checks (kOk if it entered the guest); says
  /// which rule a VMEXIT_INVALID broke.
  svm::VmrunCheck last_vmrun_check() const { return last_vmrun_check_; }

  // Used by the SVM instruction handlers and the intercept checks (cpu/insn/svm.cc,
  // cpu/intercept.cc); not for other folders.
  enum class Enter : uint8_t { kEntered, kExited, kBusError };
  /// VMRUN's work after the instruction's own checks; `host_next_rip` is the host RIP saved.
  Enter enter_guest(uint64_t vmcb_pa, uint64_t host_next_rip);
  /// VMLOAD / VMSAVE state transfer after the checks; false on a bus error (stop_info().address).
  bool transfer_vmload(uint64_t vmcb_pa, bool load);
  /// #VMEXIT with this exit code and information; `next_rip` is written to the VMCB when NRIPS
  /// says so (svm::exit_writes_next_rip). Returns false on a bus error.
  bool vmexit(uint64_t exit_code, uint64_t info1, uint64_t info2, uint64_t next_rip,
              bool exception_from_insn = false);
  /// The exit an intercepted instruction takes in guest mode, checked after the instruction's
  /// CPL check and before it executes (APM vol 2, 15.7); nullopt if it executes.
  struct InterceptExit {
    uint64_t code = 0, info1 = 0, info2 = 0;
  };
  std::optional<InterceptExit> instruction_intercept(const DecodedInsn& d, uint64_t next_rip);
  /// True when exception `v` exits in guest mode (exception intercept bitmap).
  bool exception_intercepted(Vector v) const {
    return guest_active_ && static_cast<unsigned>(v) < 32 &&
           ((guest_.intercepts[2] >> static_cast<unsigned>(v)) & 1u);
  }
  /// Takes an intercept: #VMEXIT, or #VC in an SEV-ES guest for a non-automatic exit
  /// (svm::classify_sev_es_exit). Returns the stop reason.
  StopReason take_intercept(const InterceptExit& e, uint64_t next_rip, bool exception_from_insn);

  /// Charges work that software modelled in C++ (the hypervisor and VMM models) did on this
  /// core: `count` times the cost class's cycles from this core's timing table.
  void account(Cost cost, uint64_t count = 1) {
    cycles_ += (*config_.timing)[static_cast<size_t>(cost)].cycles * count;
  }

  // Used by the instruction handlers (cpu/insn/); not for other folders.
  CpuBus& bus() { return bus_; }
  void charge(Cost cost) { cycles_ += (*config_.timing)[static_cast<size_t>(cost)].cycles; }
  uint64_t tsc() const { return cycles_ + state_.msr.tsc_offset; }
  /// Reads an MSR (cpu/msr.cc); #GP(0) for unknown ones. APM vol 2, RDMSR.
  bool read_msr(uint32_t index, uint64_t& value) const;
  /// Writes an MSR; false (#GP(0)) for unknown MSRs and reserved bits.
  bool write_msr(uint32_t index, uint64_t value);
  /// Linear -> physical for one access that does not cross a page (cpu/paging.cc): identity
  /// with CR0.PG = 0, else the TLB and the page walk. A page fault becomes #PF (CR2, error
  /// code), a non-canonical address #GP(0); an entry or page outside memory sets *bus_error to
  /// its physical address (the returned Fault is then meaningless).
  std::expected<uint64_t, Fault> translate(uint64_t linear, LinearAccess access, uint64_t* bus_error);
  /// translate() returning the whole translation (for a 2-D one: GPA, page sizes). `rmp_check`
  /// false skips the RMP check of the final access (PVALIDATE / RMPADJUST apply their own).
  std::expected<mmu::Translation, Fault> translate_full(uint64_t linear, LinearAccess access,
                                                        uint64_t* bus_error, bool rmp_check = true);
  /// A fault value for an rmp::Fault raised in guest mode (NPF -> the NPF exit, #VC).
  Fault rmp_fault(const rmp::Fault& f);
  /// The RMP check of a host write made by code on this core (#PF with the RMP bit).
  std::optional<Fault> host_rmp_check(const mmu::Translation& t, LinearAccess access, uint64_t linear);
  /// Reads / writes linear memory, split at page boundaries (cpu/paging.cc).
  std::expected<void, Fault> read_linear(uint64_t linear, std::span<uint8_t> out, LinearAccess access,
                                         uint64_t* bus_error);
  std::expected<void, Fault> write_linear(uint64_t linear, std::span<const uint8_t> in,
                                          LinearAccess access, uint64_t* bus_error);
  /// TLB maintenance after a control-register or EFER change (cpu/paging.cc). APM vol 2, 5.5.
  void paging_changed(uint64_t old_cr0, uint64_t old_cr4, uint64_t old_efer);
  void flush_cr3();
  void flush_page(uint64_t linear);
  /// INVLPGA: the page of `linear` in `asid`, every PCID.
  void invlpga(uint64_t linear, Asid asid) { tlb_.flush_page_all_pcids(asid, linear); }
  const mmu::Tlb& tlb() const { return tlb_; }
  /// CpuBus::readable_page(pfn) for loads, remembered for the last frame (valid inside one
  /// run() / step() call).
  const uint8_t* data_page_pointer(uint64_t pfn) {
    if (pfn != data_pfn_) {
      data_page_ = bus_.readable_page(pfn);
      data_pfn_ = pfn;
    }
    return data_page_;
  }
  /// Predecode-cache statistics (host-side only; never architectural).
  struct PredecodeStats {
    uint64_t hits = 0;
    uint64_t misses = 0;    // no entry for the address (decoded and, unless it straddles, cached)
    uint64_t modified = 0;  // an entry whose bytes memory no longer holds (decoded again)
  };
  const PredecodeStats& predecode_stats() const { return predecode_stats_; }

 private:
  StopReason step_one();
  StopReason step_at(uint64_t pa);
  StopReason run_predecoded(uint64_t end);
  StopReason execute(const DecodedInsn& d, const PredecodedInsn* cached);
  StopReason complete(const Outcome& o, const Exec& x, bool single_step);
  const uint8_t* code_page_pointer(uint64_t pfn);
  bool cached_bytes_match(const PredecodedInsn& e, uint64_t pa);
  enum class Delivery : uint8_t { kDelivered, kShutdown, kBusError, kVmexit };
  /// Delivers through the IDT; `external` marks an external interrupt (for EXITINTINFO).
  Delivery deliver(Fault fault, bool software, uint64_t return_rip, bool external = false);
  StopReason raise_fault(Fault fault, bool software, uint64_t return_rip, bool external = false);
  StopReason stop(StopReason r) { stop_.reason = r; return r; }
  /// In guest mode: the exit for a fault about to be delivered (NPF, intercepted exception), or
  /// nullopt to deliver it. `delivering` is the event whose delivery raised it (EXITINTINFO).
  std::optional<StopReason> guest_fault_exit(const Fault& fault, bool software,
                                             const std::optional<svm::Event>& delivering);
  /// Guest-mode interrupt checks at an instruction boundary (INTR intercept, V_IRQ).
  std::optional<StopReason> guest_interrupt_check(bool shadow);
  void leave_guest_mode();
  /// translate_full() in parts (cpu/paging.cc): the TLB-hit test of a guest access with nested
  /// and guest paging on, the walk path, and what follows the translation of a guest access.
  bool guest_tlb_hit(uint64_t linear, const mmu::Access& a, mmu::Translation& out);
  std::expected<mmu::Translation, Fault> translate_walk(uint64_t linear, LinearAccess access,
                                                        const mmu::Access& a, uint64_t* bus_error,
                                                        bool rmp_check);
  std::optional<Fault> guest_access_checks(const mmu::Translation& t, mmu::AccessKind kind, bool user,
                                           bool walked, bool rmp_check);
  /// SEV-SNP (cpu/vmsa_rmp.cc; config_.rmp set): the RMP rules of the VMSA at `vmsa_pa` for a
  /// guest of `asid`; marking the VMSA in use at VMRUN and clearing it at #VMEXIT.
  svm::VmrunCheck snp_vmsa_check(uint64_t vmsa_pa, Asid asid) const;
  void mark_vmsa_running(uint64_t vmsa_pa);
  void release_vmsa();

  CpuBus& bus_;
  CoreConfig config_;
  ArchState state_;
  StopInfo stop_;
  uint64_t cycles_ = 0;
  uint64_t instructions_ = 0;
  mmu::Tlb tlb_;
  bool shutdown_ = false;
  bool guest_active_ = false;
  bool nested_ = false;  // guest_active_ && guest_.np
  GuestMode guest_;
  // The last nested page fault (exit_info_1, GPA) behind a Vector::kNestedPageFault fault.
  uint64_t npf_info1_ = 0;
  uint64_t npf_gpa_ = 0;
  // EXITINTINFO of the exit being taken: the event whose delivery was interrupted.
  svm::Event pending_exit_int_info_{};
  svm::VmrunCheck last_vmrun_check_ = svm::VmrunCheck::kOk;
  std::optional<Pfn> running_vmsa_;  // SNP: the VMSA this core marked in use in the RMP
  std::optional<svm::SvmCaps> svm_caps_;  // from config_.cpuid, worked out at the first VMRUN
  // SEV memory encryption of the current guest run (CoreConfig::keys).
  bool sev_crypt_ = false;       // guest mode, SEV, keys modelled
  bool last_enc_ = false;        // the last translate() was a private access
  memcrypt::Key guest_key_{};    // the ASID's key at VMRUN (all-zero if none installed)
  uint64_t fetch_tag_ = 0;       // (generation, ASID) of that key, bit 63 set
  bool has_pending_irq_ = false;
  uint8_t pending_irq_ = 0;
  std::unique_ptr<PredecodeCache> predecode_;
  PredecodeStats predecode_stats_;
  // Last frame fetched from through CpuBus::readable_page (valid inside one run() / step()).
  uint64_t code_pfn_ = ~uint64_t{0};
  const uint8_t* code_page_ = nullptr;
  uint64_t data_pfn_ = ~uint64_t{0};
  const uint8_t* data_page_ = nullptr;
};

}  // namespace snpemu::cpu
