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
//
// Host memory (a choice of this model): RAM from 1 MiB up to the RMP is carved in order into
// the hypervisor's pool (VMCBs, host save areas, permission maps, NPT pages: kHvPoolPages) and
// then, per VM, the VMM's shared pool and the guest_memfd pool, each as large as the VM's memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cpu/cpu.h"
#include "emu/hv/hv.h"
#include "emu/machine/machine.h"

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
};

/// Why Vcpu::run returned.
enum class RunStatus : uint8_t {
  kExit,       ///< KVM_RUN returned: the kvm_run record says why
  kPreempted,  ///< the cycle budget ran out (the vCPU may be in the middle of a guest run)
};

class VirtualMachine;

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
  /// KVM_RUN's own error (-errno) of the last kExit, if it failed (e.g. EINVAL for an SNP guest
  /// using an unregistered GHCB); the kvm_run record then says what the exit was.
  std::optional<hv::KvmErrno> last_error() const { return last_error_; }
  /// SEV-ES: the INIT-SIPI-SIPI the VMM sends to wake a vCPU parked in AP reset hold.
  void deliver_sipi() { hv::sev_deliver_sipi(state_, vmcb_); }
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

  VirtualMachine& vm_;
  cpu::Core& core_;
  hv::VcpuState state_{};
  svm::Vmcb vmcb_{};
  Hpa vmcb_hpa_{};
  Hpa host_save_hpa_{};  // the host's VMSAVE/VMLOAD area (KVM's per-CPU save area)
  hv::PermissionMaps maps_{};
  Hpa vmsa_hpa_{};  // SEV-ES: the VMSA page
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

 private:
  friend class Hypervisor;
  friend class Vcpu;
  VirtualMachine(Machine& machine, hv::PagePool& hv_pool) : machine_(machine), hv_pool_(hv_pool) {}
  Machine& machine_;
  hv::PagePool& hv_pool_;
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

 private:
  explicit Hypervisor(Machine& machine) : machine_(machine) {}
  Machine& machine_;
  std::unique_ptr<hv::PagePool> hv_pool_;
  uint64_t next_pfn_ = 0;      // first host PFN not yet given to a pool
  uint32_t next_asid_ = 1;     // ASIDs handed out in order
};

/// The timing-table row a handler path charges (costs.cc).
cpu::Cost cost_of(hv::ExitPath path);

}  // namespace snpemu::kvm
