// emu/kvm/sev_launch.cc: the legacy SEV / SEV-ES launch of KVM (see kvm.h) and the platform's
// legacy initialisation. Sources: [L] KVM sev.c sev_launch_start (LAUNCH_START, then
// sev_bind_asid: ACTIVATE), sev_launch_update_data (the pinned pages of [uaddr, uaddr + len),
// one LAUNCH_UPDATE_DATA per physically contiguous run), sev_launch_update_vmsa
// (sev_es_sync_vmsa, then LAUNCH_UPDATE_VMSA per vCPU), sev_launch_measure (a query for the
// length, then the blob), sev_launch_finish, sev_unbind_asid / sev_decommission (DEACTIVATE,
// DECOMMISSION); drivers/crypto/ccp/sev-dev.c __sev_platform_init_locked (INIT with
// SEV_INIT_FLAGS_SEV_ES and a TMR, then WBINVD on every CPU and DF_FLUSH).
#include <cstring>

#include "base/hex.h"
#include "emu/kvm/snp_internal.h"
#include "firmware/sev_command_layout.h"

namespace snpemu::kvm {
namespace {

std::unexpected<hv::KvmError> error(hv::KvmErrno e, std::string message) {
  return std::unexpected(hv::KvmError{e, std::move(message)});
}

template <class T>
std::span<const uint8_t> raw(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof v};
}
template <class T>
std::span<uint8_t> raw_mut(T& v) {
  return {reinterpret_cast<uint8_t*>(&v), sizeof v};
}

}  // namespace

hv::KvmResult<void> Hypervisor::sev_platform_init() {
  // The TMR: 2 MiB, 2 MiB aligned with SNP initialised (firmware/sev_command_layout.h), carved
  // from host RAM the hypervisor never hands out.
  const uint64_t tmr_pages = fw::kSnpTmrSize >> kPageShift;
  next_pfn_ = (next_pfn_ + tmr_pages - 1) & ~(tmr_pages - 1);
  const Hpa tmr{next_pfn_ << kPageShift};
  next_pfn_ += tmr_pages;
  fw::SevDataInit init;
  init.flags = fw::kSevInitFlagsSevEs;
  init.tmr_address = tmr.value;
  init.tmr_len = static_cast<uint32_t>(fw::kSnpTmrSize);
  if (auto r = psp_->legacy_command(fw::CommandId::kInit, raw(init), machine_.core(0)); !r) return r;
  psp_->firmware().note_wbinvd_all_cpus();  // WBINVD on every core before DF_FLUSH [L]
  return psp_->legacy_command(fw::CommandId::kDfFlush, {}, machine_.core(0));
}

hv::KvmResult<void> VirtualMachine::sev_launch_start(uint32_t policy) {
  const hv::VmType t = vm_->type();
  if (t != hv::VmType::kSev && t != hv::VmType::kSevEs) return error(hv::KvmErrno::kEinval, "LAUNCH_START on a VM that is not SEV or SEV-ES");
  if (sev_stage_ != SevStage::kNone) return error(hv::KvmErrno::kEinval, "LAUNCH_START: the VM was already started");
  Psp* psp = hyp_.psp();
  cpu::Core* core = host_core();
  if (psp == nullptr || core == nullptr) return error(hv::KvmErrno::kEinval, "LAUNCH_START: the machine has no AMD-SP");
  fw::SevDataLaunchStart start;
  start.policy = policy;
  if (auto r = psp->legacy_command(fw::CommandId::kLaunchStart, raw(start), *core, raw_mut(start)); !r) return r;
  sev_handle_ = start.handle;
  const fw::SevDataActivate activate{start.handle, asid_.value};
  if (auto r = psp->legacy_command(fw::CommandId::kActivate, raw(activate), *core); !r) {
    sev_decommission();
    return r;
  }
  sev_stage_ = SevStage::kStarted;
  return {};
}

hv::KvmResult<void> VirtualMachine::sev_launch_update_data(uint64_t gpa, uint64_t len) {
  if (sev_stage_ != SevStage::kStarted) return error(hv::KvmErrno::kEinval, "LAUNCH_UPDATE_DATA outside the launch");
  // The firmware works on 16-byte units (firmware/sev_launch.cc); KVM rounds to whole pages.
  if (len == 0 || gpa + len < gpa) return error(hv::KvmErrno::kEinval, "LAUNCH_UPDATE_DATA of " + std::to_string(len) + " bytes");
  const uint64_t first = gpa & ~kPageOffsetMask;
  const uint64_t end = (gpa + len + kPageOffsetMask) & ~kPageOffsetMask;
  for (uint64_t at = first; at < end; at += kPageSize) {
    const hv::Memslot* slot = vm_->memslots().find(Gfn{at >> kPageShift});
    if (slot == nullptr) return error(hv::KvmErrno::kEfault, "LAUNCH_UPDATE_DATA: gpa " + hex(at) + " is in no memslot");
    auto pfn = vm_->shared_page(slot->hva_of(Gfn{at >> kPageShift}));
    if (!pfn) return std::unexpected(pfn.error());
    fw::SevDataLaunchUpdate u;
    u.handle = *sev_handle_;
    u.address = pfn->value << kPageShift;
    u.len = static_cast<uint32_t>(kPageSize);
    const std::pair<Hpa, uint64_t> written{Hpa{u.address}, kPageSize};
    cpu::Core* core = host_core();
    if (core == nullptr) return error(hv::KvmErrno::kEbusy, "LAUNCH_UPDATE_DATA: every core is inside a guest");
    if (auto r = hyp_.psp()->legacy_command(fw::CommandId::kLaunchUpdateData, raw(u), *core, {}, std::span(&written, 1)); !r) {
      return error(r.error().code, "LAUNCH_UPDATE_DATA of gpa " + hex(at) + ": " + r.error().message);
    }
  }
  return {};
}

hv::KvmResult<void> VirtualMachine::sev_launch_update_vmsa() {
  if (sev_stage_ != SevStage::kStarted || vm_->type() != hv::VmType::kSevEs) {
    return error(hv::KvmErrno::kEinval, "LAUNCH_UPDATE_VMSA outside an SEV-ES launch");
  }
  for (auto& c : vcpus_) {
    fw::SevDataLaunchUpdate u;
    u.handle = *sev_handle_;
    u.address = c->vmsa_hpa_.value;
    u.len = static_cast<uint32_t>(kPageSize);
    const std::pair<Hpa, uint64_t> written{c->vmsa_hpa_, kPageSize};
    cpu::Core* core = host_core();
    if (core == nullptr) return error(hv::KvmErrno::kEbusy, "LAUNCH_UPDATE_VMSA: every core is inside a guest");
    if (auto r = hyp_.psp()->legacy_command(fw::CommandId::kLaunchUpdateVmsa, raw(u), *core, {}, std::span(&written, 1)); !r) {
      return error(r.error().code, "LAUNCH_UPDATE_VMSA of vCPU " + std::to_string(c->id()) + ": " + r.error().message);
    }
    c->state_protected_ = true;
  }
  return {};
}

hv::KvmResult<std::array<uint8_t, 48>> VirtualMachine::sev_launch_measure() {
  if (sev_stage_ != SevStage::kStarted) return error(hv::KvmErrno::kEinval, "LAUNCH_MEASURE outside the launch");
  if (sev_measure_page_.value == 0) {
    auto page = hv_pool_.allocate();
    if (!page) return error(hv::KvmErrno::kEnomem, "hypervisor pool exhausted (measurement page)");
    sev_measure_page_ = Hpa{page->value << kPageShift};
  }
  fw::SevDataLaunchMeasure m;
  m.handle = *sev_handle_;
  m.address = sev_measure_page_.value;
  m.len = sizeof(fw::SevMeasurementBlob);
  const std::pair<Hpa, uint64_t> written{sev_measure_page_, sizeof(fw::SevMeasurementBlob)};
  cpu::Core* core = host_core();
  if (core == nullptr) return error(hv::KvmErrno::kEbusy, "LAUNCH_MEASURE: every core is inside a guest");
  if (auto r = hyp_.psp()->legacy_command(fw::CommandId::kLaunchMeasure, raw(m), *core, raw_mut(m), std::span(&written, 1)); !r) {
    return std::unexpected(r.error());
  }
  std::array<uint8_t, 48> blob{};
  (void)machine_.memory().read(sev_measure_page_, blob);
  sev_stage_ = SevStage::kMeasured;
  return blob;
}

hv::KvmResult<void> VirtualMachine::sev_launch_finish() {
  if (sev_stage_ != SevStage::kMeasured) return error(hv::KvmErrno::kEinval, "LAUNCH_FINISH before LAUNCH_MEASURE");
  cpu::Core* core = host_core();
  if (core == nullptr) return error(hv::KvmErrno::kEbusy, "LAUNCH_FINISH: every core is inside a guest");
  if (auto r = hyp_.psp()->legacy_command(fw::CommandId::kLaunchFinish, raw(fw::SevDataHandle{*sev_handle_}), *core); !r) return r;
  sev_stage_ = SevStage::kFinished;
  return {};
}

void VirtualMachine::sev_decommission() {
  if (!sev_handle_ || hyp_.psp() == nullptr) return;
  cpu::Core* core = host_core();
  if (core != nullptr) {
    (void)hyp_.psp()->legacy_command(fw::CommandId::kDeactivate, raw(fw::SevDataHandle{*sev_handle_}), *core);
    (void)hyp_.psp()->legacy_command(fw::CommandId::kDecommission, raw(fw::SevDataHandle{*sev_handle_}), *core);
  }
  sev_handle_.reset();
  if (sev_measure_page_.value != 0) (void)hv_pool_.free(Pfn{sev_measure_page_.value >> kPageShift});
  sev_measure_page_ = Hpa{};
}

}  // namespace snpemu::kvm
