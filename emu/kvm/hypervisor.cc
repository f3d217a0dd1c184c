// emu/kvm/hypervisor.cc: host memory for the hypervisor, enabling SVM on the cores, VM and vCPU
// creation, and the VMM's access to guest RAM (see kvm.h).
#include <algorithm>
#include <cstring>

#include "base/hex.h"
#include "emu/kvm/kvm.h"
#include "emu/kvm/snp_internal.h"

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
  // The AMD-SP driver and SNP_INIT, as the PSP driver does at start-up on an SNP host
  // (sev-dev.c __sev_snp_init_locked) [L].
  if (fw::Firmware* firmware = machine.firmware()) {
    auto buffer = h->hv_pool_->allocate();
    if (!buffer) return error(KvmErrno::kEnomem, "hypervisor pool exhausted (PSP command buffer)");
    auto backup = h->hv_pool_->allocate();
    if (!backup) return error(KvmErrno::kEnomem, "hypervisor pool exhausted (PSP command buffers)");
    h->psp_ = std::make_unique<Psp>(*firmware, machine.memory(), Hpa{buffer->value << kPageShift},
                                    Hpa{backup->value << kPageShift});
    if (auto r = h->psp_->command(fw::CommandId::kSnpInit, {}, machine.core(0)); !r) return std::unexpected(r.error());
    // Then the legacy platform for SEV and SEV-ES guests (SNP_INIT must come first [L]).
    if (auto r = h->sev_platform_init(); !r) return std::unexpected(r.error());
  }
  return h;
}

Hypervisor::~Hypervisor() = default;

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
  if (spec.type == hv::VmType::kSnp && (psp_ == nullptr || machine_.rmp() == nullptr)) {
    return error(KvmErrno::kEinval, "SNP VMs need a machine with SNP enabled (RMP and AMD-SP)");
  }
  if (features.memory_encryption && machine_.core(0).config().keys != nullptr && psp_ == nullptr) {
    // The keys of encrypted guests come from the AMD-SP's launch.
    return error(KvmErrno::kEinval, std::string(hv::vm_type_name(spec.type)) +
                                        " guests on a machine with memory encryption need the AMD-SP (SNP enabled)");
  }
  std::unique_ptr<VirtualMachine> v(new VirtualMachine(*this, machine_, *hv_pool_));
  auto asid = allocate_asid(spec.type);
  if (!asid) return std::unexpected(asid.error());
  v->asid_ = *asid;
  if (spec.type == hv::VmType::kSnp) v->gmem_hooks_ = std::make_unique<SnpGmemHooks>(*v, *machine_.rmp(), *asid);
  const Pfn shared_first{next_pfn_};
  const Pfn private_first{next_pfn_ + pages};
  auto vm = hv::Vm::create(machine_.memory(),
                           hv::VmConfig{.type = spec.type,
                                        .shared_pool_first = shared_first,
                                        .shared_pool_pages = pages,
                                        .private_pool_first = private_first,
                                        .private_pool_pages = features.has_private_mem ? pages : 0,
                                        .hooks = v->gmem_hooks_.get()});
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
  v->ctx_.options.private_fault_source =
      spec.private_fault_source.value_or(spec.type == hv::VmType::kSnp ? hv::PrivateFaultSource::kHardwareEncBit
                                                                        : spec.options.private_fault_source);
  v->ctx_.sev = spec.sev;
  v->ctx_.vmsa_features = spec.vmsa_features | (spec.type == hv::VmType::kSnp ? svm::sev_features::kSnpActive : 0);
  std::vector<hv::KvmCpuidEntry2> cpuid = spec.cpuid;
  if (cpuid.empty()) {
    for (const cpu::CpuidLeaf& l : machine_.core(0).config().cpuid) cpuid.push_back(entry_of(l));
  }
  if (auto r = v->ctx_.cpuid.set(cpuid); !r) return std::unexpected(r.error());
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
                           hv::SevEsVmcbSetup{.vmsa_pa = c->vmsa_hpa_, .vmsa_features = v->ctx_.vmsa_features,
                                              .sev = spec.sev});
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
  for (auto& c : v->vcpus_) v->ctx_.vcpus.push_back(&c->state_);
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

hv::KvmResult<void> Vcpu::set_vmsa(const svm::SevEsSaveArea& vmsa) {
  if (vmsa_hpa_.value == 0) return error(KvmErrno::kEinval, "set_vmsa on a vCPU without protected state");
  if (state_protected_) return error(KvmErrno::kEinval, "set_vmsa after LAUNCH_FINISH: the state is protected");
  std::array<uint8_t, kPageSize> page{};
  std::memcpy(page.data(), &vmsa, sizeof vmsa);
  if (!vm_.machine_.memory().write(vmsa_hpa_, page)) return error(KvmErrno::kEio, "VMSA page outside RAM");
  return {};
}

VirtualMachine::VirtualMachine(Hypervisor& hyp, Machine& machine, hv::PagePool& hv_pool)
    : hyp_(hyp), machine_(machine), hv_pool_(hv_pool) {}

VirtualMachine::~VirtualMachine() {
  sev_decommission();
  if (gmem_hooks_ == nullptr) return;
  // KVM's SNP VM destruction: the context decommissioned and reclaimed, the guest_memfd's pages
  // returned to the hypervisor in the RMP (kvm_gmem_release -> sev_gmem_invalidate), every VMSA
  // page made shared before it is freed. Work that needs a core while every core is inside a
  // guest (a run that ended with vCPUs preempted) is skipped and its pages leak, as KVM leaks
  // pages it cannot reclaim.
  snp_decommission();
  for (const hv::Memslot* slot : vm_->memslots().all()) {
    if (slot->gmem) (void)vm_->gmem_punch_hole(slot->gmem->guest_memfd, slot->gmem->pgoff << kPageShift, slot->npages << kPageShift);
  }
  for (auto& c : vcpus_) {
    const Pfn page{c->vmsa_hpa_.value >> kPageShift};
    if (c->vmsa_hpa_.value != 0 && machine_.rmp()->entry(page).assigned) (void)gmem_hooks_->make_shared(page);
  }
}

void Vcpu::set_long_mode_start(const hv::LongModeStart& start) {
  hv::init_long_mode_save_area(vmcb_.save, start);
  state_.gprs.r = {};
  state_.gprs.r[hv::kRdi] = state_.id;  // the VMM's convention: RDI = vCPU index
  if (vmsa_hpa_.value != 0 && !state_protected_) {
    svm::SevEsSaveArea vmsa = hv::make_initial_vmsa(start, 0);
    vmsa.rdi = state_.id;
    (void)vm_.machine_.memory().write(
        vmsa_hpa_, std::span(reinterpret_cast<const uint8_t*>(&vmsa), sizeof vmsa));
  }
}

}  // namespace snpemu::kvm
