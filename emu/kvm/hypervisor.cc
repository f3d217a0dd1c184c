// emu/kvm/hypervisor.cc: host memory for the hypervisor, enabling SVM on the cores, VM and vCPU
// creation, and the VMM's access to guest RAM (see kvm.h).
#include <algorithm>

#include "base/hex.h"
#include "emu/kvm/kvm.h"

namespace snpemu::kvm {
namespace {

using hv::KvmErrno;
using hv::KvmError;

std::unexpected<KvmError> error(KvmErrno e, std::string message) {
  return std::unexpected(KvmError{e, std::move(message)});
}

hv::KvmCpuidEntry2 entry_of(const cpu::CpuidLeaf& l) {
  hv::KvmCpuidEntry2 e;
  e.function = l.function;
  e.flags = l.subleaf == cpu::kAnySubleaf ? 0 : hv::kKvmCpuidFlagSignificantIndex;
  e.index = l.subleaf == cpu::kAnySubleaf ? 0 : l.subleaf;
  e.eax = l.eax;
  e.ebx = l.ebx;
  e.ecx = l.ecx;
  e.edx = l.edx;
  return e;
}

constexpr uint64_t kMsrVmHsavePa = 0xC0010117;
constexpr uint32_t kMsrSevEsGhcb = 0xC0010130;

}  // namespace

hv::KvmResult<std::unique_ptr<Hypervisor>> Hypervisor::create(Machine& machine) {
  std::unique_ptr<Hypervisor> h(new Hypervisor(machine));
  const uint64_t limit = machine.rmp_base() >> kPageShift;
  if (kHostFirstPfn + kHvPoolPages > limit) {
    return error(KvmErrno::kEnomem, "host RAM below the RMP (" + std::to_string(limit) +
                                        " pages) cannot hold the hypervisor's pool");
  }
  auto pool = hv::PagePool::create(machine.memory(), Pfn{kHostFirstPfn}, kHvPoolPages, "hypervisor");
  if (!pool) return std::unexpected(pool.error());
  h->hv_pool_ = std::make_unique<hv::PagePool>(std::move(*pool));
  h->next_pfn_ = kHostFirstPfn + kHvPoolPages;
  // "Hardware enable" (svm_hardware_enable): EFER.SVME and a host save area per core. The host
  // runs at CPL 0 in long mode with interrupts enabled (physical interrupts then exit guests).
  for (uint32_t i = 0; i < machine.core_count(); ++i) {
    cpu::Core& core = machine.core(i);
    core.state() = cpu::long_mode_state(0, 0);
    core.state().efer |= cpu::ctl::kEferSvme;
    core.state().rflags |= cpu::flag::kIf;
    auto hsave = h->hv_pool_->allocate();
    if (!hsave) return error(KvmErrno::kEnomem, "hypervisor pool exhausted (host save areas)");
    if (!core.write_msr(kMsrVmHsavePa, hsave->value << kPageShift)) {
      return error(KvmErrno::kEio, "core " + std::to_string(i) + " refused VM_HSAVE_PA");
    }
  }
  return h;
}

hv::KvmResult<std::unique_ptr<VirtualMachine>> Hypervisor::create_vm(const VmSpec& spec) {
  if (spec.memory_bytes == 0 || (spec.memory_bytes & kPageOffsetMask) != 0) {
    return error(KvmErrno::kEinval, "guest memory " + std::to_string(spec.memory_bytes) +
                                        " is not a non-zero multiple of 4 KiB");
  }
  if (spec.vcpus == 0 || spec.vcpus > machine_.core_count()) {
    return error(KvmErrno::kEinval, std::to_string(spec.vcpus) + " vCPUs on a machine with " +
                                        std::to_string(machine_.core_count()) + " cores");
  }
  const hv::VmFeatures features = hv::vm_features(spec.type);
  const uint64_t pages = spec.memory_bytes >> kPageShift;
  const uint64_t need = pages * (features.has_private_mem ? 2 : 1);
  const uint64_t limit = machine_.rmp_base() >> kPageShift;
  if (next_pfn_ + need > limit) {
    return error(KvmErrno::kEnomem, "host RAM below the RMP cannot back " +
                                        std::to_string(spec.memory_bytes) + " more bytes of guest memory");
  }
  std::unique_ptr<VirtualMachine> v(new VirtualMachine(machine_, *hv_pool_));
  const Pfn shared_first{next_pfn_};
  const Pfn private_first{next_pfn_ + pages};
  auto vm = hv::Vm::create(machine_.memory(),
                           hv::VmConfig{.type = spec.type,
                                        .shared_pool_first = shared_first,
                                        .shared_pool_pages = pages,
                                        .private_pool_first = private_first,
                                        .private_pool_pages = features.has_private_mem ? pages : 0,
                                        .hooks = nullptr});
  if (!vm) return std::unexpected(vm.error());
  next_pfn_ += need;
  v->vm_ = std::move(*vm);
  const uint8_t c_bit = machine_.core(0).config().paging.c_bit;
  auto npt = hv::Npt::create(machine_.memory(), *hv_pool_,
                             hv::NptConfig{.c_bit = static_cast<uint8_t>(features.memory_encryption ? c_bit : 0)});
  if (!npt) return std::unexpected(npt.error());
  v->npt_ = std::make_unique<hv::Npt>(std::move(*npt));
  v->vm_->set_mmu_notifier(v->npt_.get());
  // One memslot over all guest RAM (with a guest_memfd for types with private memory).
  hv::KvmUserspaceMemoryRegion2 region{.slot = 0,
                                       .guest_phys_addr = 0,
                                       .memory_size = spec.memory_bytes,
                                       .userspace_addr = kGuestRamHva};
  if (features.has_private_mem) {
    auto fd = v->vm_->create_guest_memfd(hv::KvmCreateGuestMemfd{.size = spec.memory_bytes});
    if (!fd) return std::unexpected(fd.error());
    region.flags = hv::kKvmMemGuestMemfd;
    region.guest_memfd = *fd;
  }
  if (auto r = v->vm_->set_user_memory_region(region); !r) return std::unexpected(r.error());
  v->ctx_.memory = &machine_.memory();
  v->ctx_.vm = v->vm_.get();
  v->ctx_.npt = v->npt_.get();
  v->ctx_.options = spec.options;
  v->ctx_.sev = spec.sev;
  if (features.has_protected_state && machine_.core(0).config().keys != nullptr) {
    // The keys of SEV-ES guests come from the AMD-SP's legacy SEV launch (LAUNCH_START,
    // ACTIVATE, LAUNCH_UPDATE_DATA/VMSA), which the firmware model does not have; SNP guests
    // launch through the SNP commands (not wired into the VMM yet).
    return error(KvmErrno::kEinval, std::string(hv::vm_type_name(spec.type)) +
                                        " guests need the AMD-SP's launch, which the VMM does not "
                                        "drive yet (a machine without memory encryption runs SEV-ES "
                                        "guests in plaintext)");
  }
  std::vector<hv::KvmCpuidEntry2> cpuid = spec.cpuid;
  if (cpuid.empty()) {
    for (const cpu::CpuidLeaf& l : machine_.core(0).config().cpuid) cpuid.push_back(entry_of(l));
  }
  if (auto r = v->ctx_.cpuid.set(cpuid); !r) return std::unexpected(r.error());
  v->asid_ = Asid{next_asid_++};
  for (uint32_t i = 0; i < spec.vcpus; ++i) {
    std::unique_ptr<Vcpu> c(new Vcpu(*v, machine_.core(i), i));
    auto vmcb = hv_pool_->allocate();
    auto host = hv_pool_->allocate();
    if (!vmcb || !host) return error(KvmErrno::kEnomem, "hypervisor pool exhausted (VMCB)");
    c->vmcb_hpa_ = Hpa{vmcb->value << kPageShift};
    c->host_save_hpa_ = Hpa{host->value << kPageShift};
    auto maps = hv::create_permission_maps(machine_.memory(), *hv_pool_);
    if (!maps) return std::unexpected(maps.error());
    c->maps_ = *maps;
    const hv::VmcbSetup setup{.maps = c->maps_, .asid = v->asid_, .nested_cr3 = v->npt_->root()};
    if (features.has_protected_state) {
      auto vmsa = hv_pool_->allocate();
      if (!vmsa) return error(KvmErrno::kEnomem, "hypervisor pool exhausted (VMSA)");
      c->vmsa_hpa_ = Hpa{vmsa->value << kPageShift};
      hv::init_vmcb_sev_es(c->vmcb_, setup,
                           hv::SevEsVmcbSetup{.vmsa_pa = c->vmsa_hpa_, .sev = spec.sev});
      // sev_es_init_vmcb [L]: the guest reads and writes the GHCB MSR itself.
      hv::pass_through_msr(machine_.memory(), c->maps_.msrpm, kMsrSevEsGhcb);
    } else {
      hv::init_vmcb(c->vmcb_, setup);
    }
    // The host's own VMSAVE area (KVM's per-CPU save area), filled once.
    if (auto r = c->core_.vmsave(c->host_save_hpa_.value); !r) {
      return error(KvmErrno::kEio, "VMSAVE of the host state faulted");
    }
    v->vcpus_.push_back(std::move(c));
  }
  return v;
}

namespace {

// Each page of [gpa, gpa + n) through the slot's shared backing: op(host_pa, offset, len).
template <class Op>
hv::KvmResult<void> for_guest_pages(hv::Vm& vm, uint64_t gpa, size_t n, Op op) {
  size_t done = 0;
  while (done < n) {
    const uint64_t at = gpa + done;
    const hv::Memslot* slot = vm.memslots().find(Gfn{at >> kPageShift});
    if (slot == nullptr) return error(KvmErrno::kEfault, "GPA " + hex(at) + " is in no memslot");
    auto pfn = vm.shared_page(slot->hva_of(Gfn{at >> kPageShift}));
    if (!pfn) return std::unexpected(pfn.error());
    const size_t chunk = std::min<size_t>(n - done, kPageSize - (at & kPageOffsetMask));
    if (!op((pfn->value << kPageShift) | (at & kPageOffsetMask), done, chunk)) {
      return error(KvmErrno::kEfault, "host page of GPA " + hex(at) + " is outside RAM");
    }
    done += chunk;
  }
  return {};
}

}  // namespace

hv::KvmResult<void> VirtualMachine::write_guest(uint64_t gpa, std::span<const uint8_t> bytes) {
  // The VMM's (and the hypervisor's) writes are host accesses: with SNP on, a write to a page
  // the RMP assigns to a guest (or to the RMP itself) takes the RMP #PF and writes nothing.
  // PLATFORM-FACTS 4.7. Every page is checked before any byte is written.
  if (rmp::Rmp* table = machine_.rmp()) {
    std::string refused;
    auto checked = for_guest_pages(*vm_, gpa, bytes.size(), [&](uint64_t hpa, size_t, size_t) {
      const rmp::AccessResult r =
          rmp::check_host_access(*table, rmp::HostAccess{Hpa{hpa}, rmp::AccessType::kWrite, false,
                                                         rmp::MappingSize::k4K});
      if (r.fault) refused = "host write to " + hex(hpa) + " refused: RMP #PF, error code " + hex(r.fault->error_code);
      return !r.fault;
    });
    if (!refused.empty()) return error(KvmErrno::kEfault, refused);
    if (!checked) return checked;
  }
  return for_guest_pages(*vm_, gpa, bytes.size(), [&](uint64_t hpa, size_t off, size_t len) {
    return machine_.memory().write(Hpa{hpa}, bytes.subspan(off, len)).has_value();
  });
}

hv::KvmResult<void> VirtualMachine::read_guest(uint64_t gpa, std::span<uint8_t> out) {
  return for_guest_pages(*vm_, gpa, out.size(), [&](uint64_t hpa, size_t off, size_t len) {
    return machine_.memory().read(Hpa{hpa}, out.subspan(off, len)).has_value();
  });
}

void Vcpu::set_long_mode_start(const hv::LongModeStart& start) {
  hv::init_long_mode_save_area(vmcb_.save, start);
  state_.gprs.r = {};
  state_.gprs.r[hv::kRdi] = state_.id;  // the VMM's convention: RDI = vCPU index
  if (vmsa_hpa_.value != 0) {
    svm::SevEsSaveArea vmsa = hv::make_initial_vmsa(start, 0);
    vmsa.rdi = state_.id;
    (void)vm_.machine_.memory().write(
        vmsa_hpa_, std::span(reinterpret_cast<const uint8_t*>(&vmsa), sizeof vmsa));
  }
}

}  // namespace snpemu::kvm
