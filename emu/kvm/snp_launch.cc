// emu/kvm/snp_launch.cc: KVM_SEV_SNP_LAUNCH_START / _UPDATE / _FINISH and the SNP VM's teardown
// (see kvm.h). Sources: PLATFORM-FACTS 8.2 (command buffers), 8.10 (launch order), 4.9; [L] KVM
// sev.c snp_launch_start (snp_context_create: a firmware page + SNP_GCTX_CREATE, then
// SNP_LAUNCH_START, then snp_bind_asid: SNP_ACTIVATE), snp_launch_update + sev_gmem_post_populate
// (the RMP entry must be unassigned; copy the source; rmp_make_private(immutable); LAUNCH_UPDATE;
// on failure snp_page_reclaim, and a refused CPUID page is copied back to the source),
// snp_launch_update_vmsa (each vCPU's VMSA page made private at INITIAL_VMSA_GPA and launched as
// a VMSA page), snp_launch_finish, snp_decommission_context.
#include <cstring>

#include "base/hex.h"
#include "emu/kvm/snp_internal.h"

namespace snpemu::kvm {
namespace {

std::unexpected<hv::KvmError> error(hv::KvmErrno e, std::string message) {
  return std::unexpected(hv::KvmError{e, std::move(message)});
}

}  // namespace

cpu::Core* VirtualMachine::host_core() {
  if (serving_ != nullptr && !serving_->in_guest()) return serving_;
  for (uint32_t i = 0; i < machine_.core_count(); ++i) {
    if (!machine_.core(i).in_guest()) return &machine_.core(i);
  }
  return nullptr;
}

const fw::GuestContextInfo* VirtualMachine::snp_context() const {
  if (gctx_.value == 0 || hyp_.psp() == nullptr) return nullptr;
  return hyp_.psp()->firmware().guest(gctx_);
}

uint64_t VirtualMachine::leaked_pages() const { return gmem_hooks_ ? gmem_hooks_->leaked().size() : 0; }

hv::KvmResult<void> VirtualMachine::snp_launch_start(const SnpLaunchStart& args) {
  if (vm_->type() != hv::VmType::kSnp) return error(hv::KvmErrno::kEinval, "SNP_LAUNCH_START on a non-SNP VM");
  if (snp_stage_ != SnpStage::kNone) return error(hv::KvmErrno::kEinval, "SNP_LAUNCH_START: the VM was already started");
  Psp* psp = hyp_.psp();
  cpu::Core* core = host_core();
  if (psp == nullptr || gmem_hooks_ == nullptr || core == nullptr) {
    return error(hv::KvmErrno::kEinval, "SNP_LAUNCH_START: the machine has no AMD-SP (SNP off)");
  }
  auto page = hv_pool_.allocate();
  if (!page) return error(hv::KvmErrno::kEnomem, "hypervisor pool exhausted (SNP guest context page)");
  if (auto r = gmem_hooks_->make_firmware(*page); !r) {
    (void)hv_pool_.free(*page);
    return std::unexpected(r.error());
  }
  const Hpa gctx{page->value << kPageShift};
  if (auto r = psp->command(fw::CommandId::kSnpGctxCreate, fw::serialize(fw::CmdAddr{gctx}), *core); !r) {
    if (gmem_hooks_->make_shared(*page)) (void)hv_pool_.free(*page);
    return r;
  }
  gctx_ = gctx;
  fw::CmdLaunchStart start;
  start.gctx_paddr = gctx;
  start.policy = args.policy;
  start.gosvw = args.gosvw;
  auto r = psp->command(fw::CommandId::kSnpLaunchStart, fw::serialize(start), *core);
  if (r) r = psp->command(fw::CommandId::kSnpActivate, fw::serialize(fw::CmdActivate{gctx, asid_}), *core);
  if (r) r = snp_guest_req_init();
  if (!r) {
    snp_decommission();
    return r;
  }
  snp_stage_ = SnpStage::kStarted;
  return {};
}

hv::KvmResult<void> VirtualMachine::snp_launch_update(const SnpLaunchUpdate& args) {
  if (snp_stage_ != SnpStage::kStarted) {
    return error(hv::KvmErrno::kEinval, "SNP_LAUNCH_UPDATE outside the launch (after LAUNCH_START, before LAUNCH_FINISH)");
  }
  using fw::PageType;
  const PageType t = args.type;
  if (t != PageType::kNormal && t != PageType::kZero && t != PageType::kUnmeasured &&
      t != PageType::kSecrets && t != PageType::kCpuid) {
    return error(hv::KvmErrno::kEinval, "SNP_LAUNCH_UPDATE: page type " + std::string(fw::page_type_name(t)) +
                                            " is not accepted (VMSA pages come from LAUNCH_FINISH)");
  }
  const bool needs_source = t == PageType::kNormal || t == PageType::kUnmeasured || t == PageType::kCpuid;
  if (args.pages == 0 || args.pages > (uint64_t{1} << 40)) {
    return error(hv::KvmErrno::kEinval, "SNP_LAUNCH_UPDATE: " + std::to_string(args.pages) + " pages");
  }
  if (needs_source && args.source.size() != args.pages * kPageSize) {
    return error(hv::KvmErrno::kEinval, "SNP_LAUNCH_UPDATE: source of " + std::to_string(args.source.size()) +
                                            " bytes for " + std::to_string(args.pages) + " pages");
  }
  Psp& psp = *hyp_.psp();
  Memory& mem = machine_.memory();
  for (uint64_t i = 0; i < args.pages; ++i) {
    const Gfn gfn{args.gfn_start.value + i};
    auto populated = vm_->gmem_populate(gfn, [&](Gfn g, Pfn pfn) -> hv::KvmResult<void> {
      const Hpa hpa{pfn.value << kPageShift};
      const std::string where = "gfn " + hex(g.value) + " (hpa " + hex(hpa.value) + ")";
      if (machine_.rmp()->entry(pfn).assigned) {
        return error(hv::KvmErrno::kEexist, "SNP_LAUNCH_UPDATE: " + where + " is already assigned in the RMP");
      }
      if (needs_source) {
        if (!mem.write(hpa, args.source.subspan(i * kPageSize, kPageSize))) {
          return error(hv::KvmErrno::kEfault, "SNP_LAUNCH_UPDATE: " + where + " is outside RAM");
        }
      }
      if (auto r = gmem_hooks_->make_private(pfn, Gpa{g.value << kPageShift}, /*immutable=*/true); !r) return r;
      fw::CmdLaunchUpdate cmd;
      cmd.gctx_paddr = gctx_;
      cmd.page_type = t;
      cmd.address = hpa;
      cpu::Core* core = host_core();
      auto r = core ? psp.command(fw::CommandId::kSnpLaunchUpdate, fw::serialize(cmd), *core)
                    : error(hv::KvmErrno::kEbusy, "SNP_LAUNCH_UPDATE: every core is inside a guest");
      if (r) return {};
      // snp_page_reclaim: the firmware gives the page back, then it is made shared.
      const fw::Status status = psp.last_status();
      if (core != nullptr &&
          psp.command(fw::CommandId::kSnpPageReclaim, fw::serialize(fw::CmdPageAddr{hpa, false}), *core) &&
          gmem_hooks_->make_shared(pfn)) {
        if (t == PageType::kCpuid && status == fw::Status::kInvalidParam) {
          // The firmware wrote the values it would accept: the VMM gets them back.
          (void)mem.read(hpa, args.source.subspan(i * kPageSize, kPageSize));
        }
      }
      return error(r.error().code, "SNP_LAUNCH_UPDATE of " + where + ": " + r.error().message);
    });
    if (!populated) return std::unexpected(populated.error());
  }
  return {};
}

hv::KvmResult<void> VirtualMachine::snp_launch_vmsa(Vcpu& c) {
  const Pfn pfn{c.vmsa_hpa_.value >> kPageShift};
  if (auto r = gmem_hooks_->make_private(pfn, fw::kVmsaGpa, /*immutable=*/true); !r) return r;
  fw::CmdLaunchUpdate cmd;
  cmd.gctx_paddr = gctx_;
  cmd.page_type = fw::PageType::kVmsa;
  cmd.address = c.vmsa_hpa_;
  cpu::Core* core = host_core();
  if (core == nullptr) return error(hv::KvmErrno::kEbusy, "VMSA launch: every core is inside a guest");
  if (auto r = hyp_.psp()->command(fw::CommandId::kSnpLaunchUpdate, fw::serialize(cmd), *core); !r) {
    return error(r.error().code, "LAUNCH_UPDATE of vCPU " + std::to_string(c.id()) + "'s VMSA: " + r.error().message);
  }
  return {};
}

hv::KvmResult<void> VirtualMachine::snp_launch_finish(const SnpLaunchFinish& args) {
  if (snp_stage_ != SnpStage::kStarted) {
    return error(hv::KvmErrno::kEinval, "SNP_LAUNCH_FINISH before SNP_LAUNCH_START or twice");
  }
  const bool id_block = !args.id_block.empty();
  if (id_block && (args.id_block.size() != sizeof(fw::IdBlock) || args.id_auth.size() != sizeof(fw::IdAuth))) {
    return error(hv::KvmErrno::kEinval, "SNP_LAUNCH_FINISH: ID block of " + std::to_string(args.id_block.size()) +
                                            " bytes and ID auth of " + std::to_string(args.id_auth.size()) +
                                            " (need " + std::to_string(sizeof(fw::IdBlock)) + " and " +
                                            std::to_string(sizeof(fw::IdAuth)) + ")");
  }
  if (!id_block && (args.auth_key_en || !args.id_auth.empty())) {
    return error(hv::KvmErrno::kEinval, "SNP_LAUNCH_FINISH: an ID auth or author key without an ID block");
  }
  for (auto& c : vcpus_) {
    if (auto r = snp_launch_vmsa(*c); !r) return r;
  }
  fw::CmdLaunchFinish cmd;
  cmd.gctx_paddr = gctx_;
  cmd.id_block_en = id_block;
  cmd.auth_key_en = args.auth_key_en;
  cmd.vcek_disabled = args.vcek_disabled;
  cmd.host_data = args.host_data;
  // KVM copies the ID block and auth into kernel pages for the firmware.
  std::optional<Pfn> block_page, auth_page;
  if (id_block) {
    block_page = hv_pool_.allocate();
    auth_page = hv_pool_.allocate();
    if (!block_page || !auth_page) return error(hv::KvmErrno::kEnomem, "hypervisor pool exhausted (ID block)");
    cmd.id_block_paddr = Hpa{block_page->value << kPageShift};
    cmd.id_auth_paddr = Hpa{auth_page->value << kPageShift};
    (void)machine_.memory().write(cmd.id_block_paddr, args.id_block);
    (void)machine_.memory().write(cmd.id_auth_paddr, args.id_auth);
  }
  cpu::Core* core = host_core();
  auto r = core ? hyp_.psp()->command(fw::CommandId::kSnpLaunchFinish, fw::serialize(cmd), *core)
                : error(hv::KvmErrno::kEbusy, "SNP_LAUNCH_FINISH: every core is inside a guest");
  if (block_page) (void)hv_pool_.free(*block_page);
  if (auth_page) (void)hv_pool_.free(*auth_page);
  if (!r) return r;
  for (auto& c : vcpus_) c->state_protected_ = true;
  snp_stage_ = SnpStage::kFinished;
  return {};
}

void VirtualMachine::snp_decommission() {
  snp_guest_req_free();
  if (gctx_.value == 0) return;
  Psp* psp = hyp_.psp();
  cpu::Core* core = host_core();
  const Pfn page{gctx_.value >> kPageShift};
  // SNP_DECOMMISSION, then the context page back through SNP_PAGE_RECLAIM and RMPUPDATE; a page
  // that cannot be reclaimed is leaked (KVM snp_leak_pages).
  bool ok = psp != nullptr && core != nullptr &&
            psp->command(fw::CommandId::kSnpDecommission, fw::serialize(fw::CmdAddr{gctx_}), *core) &&
            psp->command(fw::CommandId::kSnpPageReclaim, fw::serialize(fw::CmdPageAddr{gctx_, false}), *core) &&
            gmem_hooks_->make_shared(page);
  if (ok) (void)hv_pool_.free(page);
  gctx_ = Hpa{};
}

}  // namespace snpemu::kvm
