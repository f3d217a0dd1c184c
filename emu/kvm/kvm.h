// emu/kvm/kvm.h: the KVM facade on a Machine -- VMs and vCPUs, and KVM_RUN executing guests on
// the machine's cores. Public header of //emu/kvm.
//
// emu/hv holds KVM's models (memory, NPT, the SVM exit handlers); this package owns the parts
// that touch a core: host memory for the hypervisor, "hardware enable" of each core (EFER.SVME,
// VM_HSAVE_PA), and the run loop svm_vcpu_run does:
//   complete_userspace_exit -> [prepare_vmrun -> VMLOAD guest -> VMRUN ... #VMEXIT -> VMSAVE
//   guest -> VMLOAD host -> handle_exit] until a handler exits to the VMM,
// with every step's cycles charged to the core: the instructions through the core's
// host-instruction path, the C++ handlers from the timing table by the path that ran.
//
//   kvm.h          Hypervisor, VirtualMachine, Vcpu, VmSpec, RunStatus
//   hypervisor.cc  host memory layout, core enable, create_vm, guest memory access
//   vcpu_run.cc    Vcpu::run (KVM_RUN)
//   costs.cc       cost_of(ExitPath): which timing-table row each handler path charges
//   asid.cc        ASID ranges by VM type (KVM sev_asid_new and the non-SEV range)
//   psp.cc         Psp: the hypervisor's AMD-SP driver (command buffers, cycles of a command)
//   gmem_hooks.cc  SnpGmemHooks: sev_gmem_prepare / sev_gmem_invalidate / the RMP-fault fix-up
//   snp_launch.cc  KVM_SEV_SNP_LAUNCH_START / _UPDATE / _FINISH
//   guest_request.cc  SnpGuestRequests: SNP_GUEST_REQUEST for the hypervisor's NAE handler
//   sev_launch.cc  legacy SEV / SEV-ES launch (KVM_SEV_LAUNCH_*), the platform's legacy INIT
//
// SNP guests (PLATFORM-FACTS 8.10, 4.9 [L] KVM sev.c): the VM gets an ASID below the CPU's
// minimum SEV ASID, a firmware context (SNP_GCTX_CREATE, LAUNCH_START, ACTIVATE), its launch
// pages through gmem_populate (RMPUPDATE to guest-owned + immutable, SNP_LAUNCH_UPDATE), its
// VMSAs at LAUNCH_FINISH, and every later private page through gmem_prepare at its first fault.
// The hypervisor's RMPUPDATE / PSMASH run as host instructions on the core of the vCPU being
// served (or core 0 for VMM-time work), so their cycles and faults are the core's.
//
// Host memory (a choice of this model): RAM from 1 MiB up to the RMP is carved in order into
// the hypervisor's pool (VMCBs, host save areas, permission maps, NPT pages: kHvPoolPages) and
// then, per VM, the VMM's shared pool and the guest_memfd pool, each as large as the VM's memory.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "cpu/cpu.h"
#include "emu/hv/hv.h"
#include "emu/machine/machine.h"
#include "firmware/firmware.h"

namespace snpemu::kvm {

/// Pages of host RAM reserved for the hypervisor's own structures (64 MiB).
inline constexpr uint64_t kHvPoolPages = 16384;
/// First host PFN handed to the hypervisor (1 MiB: low memory stays free, as firmware leaves it).
inline constexpr uint64_t kHostFirstPfn = 0x100;
/// The VMM address (userspace_addr) of guest RAM: an arbitrary, page-aligned value.
inline constexpr uint64_t kGuestRamHva = 0x7F00'0000'0000;

/// What the VMM asks for (KVM_CREATE_VM + one memslot + KVM_SET_CPUID2 + KVM_CREATE_VCPU).
struct VmSpec {
  hv::VmType type = hv::VmType::kDefault;
  /// Guest RAM: one memslot at GPA 0 (page aligned, > 0).
  uint64_t memory_bytes = uint64_t{256} << 20;
  uint32_t vcpus = 1;
  /// KVM_SET_CPUID2; empty = the machine's own CPUID leaves passed through.
  std::vector<hv::KvmCpuidEntry2> cpuid;
  hv::ExitOptions options{};
  /// SEV-ES / SNP: the GHCB protocol as the VMM configures it (advertised range, C-bit, ...).
  hv::SevOptions sev{};
  /// KVM_SEV_INIT2 vmsa_features: the SEV_FEATURES of every VMSA of the VM (KVM adds
  /// SNP_ACTIVE for SNP VMs). SNP AP creation requires exactly these.
  uint64_t vmsa_features = 0;
  /// Where "this NPF was a private access" comes from; nullopt = KVM's choice by VM type: the
  /// hardware's encryption bit for SNP ([L] svm.c npf_interception), the memory attributes
  /// otherwise. Overrides spec.options.private_fault_source when set.
  std::optional<hv::PrivateFaultSource> private_fault_source;
};

/// KVM_SEV_SNP_LAUNCH_START (struct kvm_sev_snp_launch_start).
struct SnpLaunchStart {
  uint64_t policy = 0x30000;  ///< PLATFORM-FACTS 8.5 (0x30000: SMT allowed + reserved bit 17)
  std::array<uint8_t, 16> gosvw{};
};

/// KVM_SEV_SNP_LAUNCH_UPDATE (struct kvm_sev_snp_launch_update): `pages` pages from
/// `gfn_start`, each populated into the guest_memfd, made guest-owned and immutable in the RMP
/// and handed to SNP_LAUNCH_UPDATE. `source` is the VMM's buffer (uaddr): pages * 4096 bytes for
/// NORMAL, UNMEASURED and CPUID, ignored for ZERO and SECRETS. A CPUID page the firmware refuses
/// is written back corrected into `source` (KVM copies it back to uaddr) and the call fails.
struct SnpLaunchUpdate {
  Gfn gfn_start{};
  uint64_t pages = 1;
  fw::PageType type = fw::PageType::kNormal;  ///< VMSA pages come from LAUNCH_FINISH (EINVAL)
  std::span<uint8_t> source;
};

/// KVM_SEV_SNP_LAUNCH_FINISH (struct kvm_sev_snp_launch_finish).
struct SnpLaunchFinish {
  std::vector<uint8_t> id_block;  ///< empty: no ID block (else exactly sizeof(fw::IdBlock))
  std::vector<uint8_t> id_auth;   ///< with an ID block: exactly sizeof(fw::IdAuth)
  bool auth_key_en = false;
  bool vcek_disabled = false;
  std::array<uint8_t, 32> host_data{};
};

/// Why Vcpu::run returned.
enum class RunStatus : uint8_t {
  kExit,       ///< KVM_RUN returned: the kvm_run record says why
  kPreempted,  ///< the cycle budget ran out (the vCPU may be in the middle of a guest run)
  kBlocked,    ///< the vCPU is not runnable (MP state HALTED / UNINITIALIZED): KVM_RUN would
               ///< block until an event (an SNP AP creation, INIT/SIPI) makes it runnable
};

class VirtualMachine;
class Hypervisor;
class Psp;
class SnpGmemHooks;
class SnpGuestRequests;

/// One vCPU, bound to one machine core.
class Vcpu {
 public:
  /// KVM_RUN with a cycle budget (the scheduler's quantum). Returns kExit with kvm_run() filled,
  /// or kPreempted. A vCPU that hit an internal error keeps returning it.
  RunStatus run(uint64_t budget_cycles);
  /// The exit record of the last kExit (read by the VMM; its "in" fields written back).
  hv::KvmRun& kvm_run() { return state_.run; }
  /// The 64-bit start state (KVM_SET_SREGS/REGS as a VMM does for a direct 64-bit boot). For
  /// an SEV-ES guest it becomes the initial VMSA (make_initial_vmsa), written to its page.
  void set_long_mode_start(const hv::LongModeStart& start);
  /// SEV-ES / SNP: the register state the VMM sets before launch (KVM_SET_REGS / SREGS / FPU /
  /// XCRS), given directly as the VMSA image sev_es_sync_vmsa makes of it; it is what
  /// LAUNCH_FINISH measures for an SNP guest. EINVAL for a VM without protected state, or once
  /// the state is protected (after LAUNCH_FINISH, as KVM refuses KVM_SET_REGS then).
  hv::KvmResult<void> set_vmsa(const svm::SevEsSaveArea& vmsa);
  /// KVM_RUN's own error (-errno) of the last kExit, if it failed (e.g. EINVAL for an SNP guest
  /// using an unregistered GHCB); the kvm_run record then says what the exit was.
  std::optional<hv::KvmErrno> last_error() const { return last_error_; }
  /// SEV-ES: the INIT-SIPI-SIPI the VMM sends to wake a vCPU parked in AP reset hold.
  void deliver_sipi() { hv::sev_deliver_sipi(state_, vmcb_); }
  /// KVM_INTERRUPT (userspace irqchip): queue external interrupt `vector`; injected at the next
  /// entry once the guest can take it (else through an interrupt window). EEXIST if one is
  /// still pending.
  hv::KvmResult<void> interrupt(uint8_t vector) { return hv::queue_external_interrupt(state_, vector); }
  /// An INIT (from the VMM's interrupt controller): for SNP, applies a pending AP creation
  /// recorded with CREATE_ON_INIT ([L] KVM svm_vcpu_reset -> sev_snp_init_protected_guest_state).
  void deliver_init();
  /// KVM_GET_MP_STATE / KVM_SET_MP_STATE (RUNNABLE, UNINITIALIZED, HALTED, AP_RESET_HOLD).
  hv::MpState mp_state() const { return state_.sev_es.mp_state; }
  void set_mp_state(hv::MpState s) { state_.sev_es.mp_state = s; }
  /// An event is pending that KVM_RUN will act on (a kicked AP-creation request): a blocked vCPU
  /// should be run again.
  bool has_pending_event() const { return state_.sev_es.update_protected_state; }
  uint32_t id() const { return state_.id; }
  /// Exits handled, by path (hv::ExitPath), since creation.
  const std::array<uint64_t, static_cast<size_t>(hv::ExitPath::kCount)>& exit_counts() const {
    return exit_counts_;
  }
  cpu::Core& core() { return core_; }
  /// The VMCB as the hypervisor last saw it (host copy).
  const svm::Vmcb& vmcb() const { return vmcb_; }

 private:
  friend class VirtualMachine;
  friend class Hypervisor;
  Vcpu(VirtualMachine& vm, cpu::Core& core, uint32_t id) : vm_(vm), core_(core) { state_.id = id; }
  bool enter();                 // VMLOAD + VMRUN; false: the VMRUN exited at once
  void leave();                 // VMSAVE + VMLOAD host + read the VMCB and GPRs back
  RunStatus internal_error(std::string message);
  void snp_update_protected_state();  // sev_snp_init_protected_guest_state

  VirtualMachine& vm_;
  cpu::Core& core_;
  hv::VcpuState state_{};
  svm::Vmcb vmcb_{};
  Hpa vmcb_hpa_{};
  Hpa host_save_hpa_{};  // the host's VMSAVE/VMLOAD area (KVM's per-CPU save area)
  hv::PermissionMaps maps_{};
  Hpa vmsa_hpa_{};  // SEV-ES: the VMSA page
  bool state_protected_ = false;  // SNP: after LAUNCH_FINISH (guest_state_protected)
  bool dead_ = false;
  bool vmrun_faulted_ = false;
  std::optional<hv::KvmErrno> last_error_;
  std::array<uint64_t, static_cast<size_t>(hv::ExitPath::kCount)> exit_counts_{};
};

/// One VM: its memory model, NPT, exit context and vCPUs.
class VirtualMachine {
 public:
  hv::Vm& vm() { return *vm_; }
  hv::VmContext& context() { return ctx_; }
  Vcpu& vcpu(uint32_t i) { return *vcpus_.at(i); }
  uint32_t vcpu_count() const { return static_cast<uint32_t>(vcpus_.size()); }
  Asid asid() const { return asid_; }
  /// The VMM writing its guest RAM (the memslot's shared backing, i.e. its mmap): EFAULT outside
  /// the slot, ENOMEM when the shared pool is exhausted.
  hv::KvmResult<void> write_guest(uint64_t gpa, std::span<const uint8_t> bytes);
  hv::KvmResult<void> read_guest(uint64_t gpa, std::span<uint8_t> out);

  /// SNP launch (snp_launch.cc), in KVM's order: start (GCTX_CREATE, LAUNCH_START, ACTIVATE),
  /// updates, finish (each vCPU's VMSA, then SNP_LAUNCH_FINISH). EINVAL for other VM types or
  /// out of order; EIO with the firmware's status and message when a command fails.
  hv::KvmResult<void> snp_launch_start(const SnpLaunchStart& args);
  hv::KvmResult<void> snp_launch_update(const SnpLaunchUpdate& args);
  hv::KvmResult<void> snp_launch_finish(const SnpLaunchFinish& args);
  /// Legacy SEV / SEV-ES launch (sev_launch.cc; KVM_SEV_LAUNCH_START / _UPDATE_DATA /
  /// _UPDATE_VMSA / _MEASURE / _FINISH), for SEV and SEV-ES VMs on a machine with memory
  /// encryption: start gets a handle and binds the VM's ASID (ACTIVATE); update_data encrypts
  /// guest RAM [gpa, gpa + len) in place (the memslot's pages, page by page); update_vmsa
  /// encrypts every vCPU's VMSA (SEV-ES); measure returns the 48-byte blob (HMAC-SHA-256
  /// measurement, then the MNONCE); finish. EINVAL for other VM types or out of order; EIO with
  /// the firmware's status and message when a command fails.
  hv::KvmResult<void> sev_launch_start(uint32_t policy);
  hv::KvmResult<void> sev_launch_update_data(uint64_t gpa, uint64_t len);
  hv::KvmResult<void> sev_launch_update_vmsa();
  hv::KvmResult<std::array<uint8_t, 48>> sev_launch_measure();
  hv::KvmResult<void> sev_launch_finish();
  /// The firmware's view of this VM's guest context (policy, digest, ...), or null before start.
  const fw::GuestContextInfo* snp_context() const;
  /// The guest context page (host-physical), or 0 before start.
  Hpa snp_gctx() const { return gctx_; }
  /// Private pages whose return to the hypervisor failed (KVM leaks them: never reused).
  uint64_t leaked_pages() const;

  ~VirtualMachine();

 private:
  friend class Hypervisor;
  friend class Vcpu;
  VirtualMachine(Hypervisor& hyp, Machine& machine, hv::PagePool& hv_pool);
  // The core the hypervisor runs on for work not tied to a running vCPU (core 0 unless it is
  // inside a guest, then the first core in host mode).
  cpu::Core* host_core();
  hv::KvmResult<void> snp_launch_vmsa(Vcpu& vcpu);
  void snp_decommission();  // SNP_DECOMMISSION + reclaim of the context page (teardown, failures)
  hv::KvmResult<void> snp_guest_req_init();  // the guest-request bounce pages
  void snp_guest_req_free();
  friend class SnpGmemHooks;
  friend class SnpGuestRequests;
  Hypervisor& hyp_;
  Machine& machine_;
  hv::PagePool& hv_pool_;
  std::unique_ptr<SnpGmemHooks> gmem_hooks_;  // SNP: the RMP side of guest_memfd
  std::unique_ptr<SnpGuestRequests> guest_requests_;  // SNP: after LAUNCH_START
  Hpa gctx_{};                                      // SNP: the firmware context page
  std::optional<uint32_t> sev_handle_;              // legacy SEV: the firmware's guest handle
  Hpa sev_measure_page_{};                          // legacy SEV: LAUNCH_MEASURE output page
  enum class SevStage : uint8_t { kNone, kStarted, kMeasured, kFinished } sev_stage_ = SevStage::kNone;
  void sev_decommission();  // DEACTIVATE + DECOMMISSION (teardown)
  enum class SnpStage : uint8_t { kNone, kStarted, kFinished } snp_stage_ = SnpStage::kNone;
  cpu::Core* serving_ = nullptr;  // the core of the vCPU whose exit is being handled
  std::unique_ptr<hv::Vm> vm_;
  std::unique_ptr<hv::Npt> npt_;
  hv::VmContext ctx_{};
  Asid asid_{1};
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
};

/// The hypervisor on one machine.
class Hypervisor {
 public:
  /// Enables SVM on every core (EFER.SVME, VM_HSAVE_PA) and reserves the hypervisor's pool.
  static hv::KvmResult<std::unique_ptr<Hypervisor>> create(Machine& machine);
  /// KVM_CREATE_VM and the rest of VmSpec; vCPU i runs on core i (EINVAL if too few cores,
  /// ENOMEM if host RAM below the RMP cannot hold the VM's pools).
  hv::KvmResult<std::unique_ptr<VirtualMachine>> create_vm(const VmSpec& spec);
  Machine& machine() { return machine_; }
  /// The AMD-SP driver (psp.cc), or nullptr on a machine without SNP.
  Psp* psp() { return psp_.get(); }
  ~Hypervisor();

 private:
  explicit Hypervisor(Machine& machine) : machine_(machine) {}
  hv::KvmResult<Asid> allocate_asid(hv::VmType type);
  hv::KvmResult<void> sev_platform_init();  // legacy INIT (SEV-ES) with its TMR, then DF_FLUSH
  Machine& machine_;
  std::unique_ptr<hv::PagePool> hv_pool_;
  std::unique_ptr<Psp> psp_;
  uint64_t next_pfn_ = 0;      // first host PFN not yet given to a pool
  std::vector<bool> asid_used_;  // by ASID; asid_used_[0] unused
};

/// The hypervisor's AMD-SP driver (KVM's sev_issue_cmd / the PSP driver's __sev_do_cmd_locked):
/// one command buffer page in the hypervisor's pool, commands issued synchronously, each one's
/// cost (mailbox round trip plus the firmware's work: pages hashed, encrypted, signatures)
/// charged from the timing table to the core that waited for it.
class Psp {
 public:
  Psp(fw::Firmware& firmware, Memory& memory, Hpa buffer, Hpa backup)
      : fw_(firmware), mem_(memory), buffer_(buffer), backup_(backup) {}
  /// Writes `in` to the command buffer, runs the command, reads the buffer back into `out`
  /// (output fields), charges `core`. On failure: EIO naming the command, status and the
  /// firmware's message.
  hv::KvmResult<void> command(fw::CommandId id, std::span<const uint8_t> in, cpu::Core& core,
                              std::span<uint8_t> out = {});
  /// A legacy SEV command with SNP initialised ([L] sev-dev.c snp_prep_cmd_buf /
  /// snp_reclaim_cmd_buf): the pages the firmware writes -- the command buffer of the commands
  /// with output fields, and `written` (host-physical ranges) -- are made firmware-owned with
  /// RMPUPDATE on `core` before the command and reclaimed (SNP_PAGE_RECLAIM from a second buffer
  /// page, then RMPUPDATE shared) after it. Without SNP initialised, as command().
  hv::KvmResult<void> legacy_command(fw::CommandId id, std::span<const uint8_t> in, cpu::Core& core,
                                     std::span<uint8_t> out = {},
                                     std::span<const std::pair<Hpa, uint64_t>> written = {});
  fw::Firmware& firmware() { return fw_; }
  /// The status of the last command (kSuccess after success).
  fw::Status last_status() const { return last_status_; }

 private:
  fw::Firmware& fw_;
  Memory& mem_;
  Hpa buffer_;
  Hpa backup_;  // the reclaim commands' buffer while buffer_ is firmware-owned
  fw::Status last_status_ = fw::Status::kSuccess;
};

/// The timing-table row a handler path charges (costs.cc).
cpu::Cost cost_of(hv::ExitPath path);

}  // namespace snpemu::kvm
