// emu/vmm/snp_boot.cc: the SNP launch flow of the VMM (see snp_boot.h).
#include "emu/vmm/snp_boot.h"

#include <cstring>

#include "base/hex.h"
#include "emu/vmm/vmm.h"

namespace snpemu::vmm {

std::expected<LaunchPlan, std::string> launch_snp_guest(kvm::VirtualMachine& vm, std::span<const uint8_t> elf,
                                                        const LaunchOptions& options) {
  if (options.vcpus != vm.vcpu_count()) {
    return std::unexpected("SNP launch: the plan is for " + std::to_string(options.vcpus) + " vCPUs, the VM has " +
                           std::to_string(vm.vcpu_count()));
  }
  auto plan = make_launch_plan(elf, options);
  if (!plan) return std::unexpected("SNP launch plan: " + plan.error().message);
  uint64_t ram = 0;
  for (const hv::Memslot* s : vm.vm().memslots().all()) ram = std::max(ram, s->end_gfn().value << kPageShift);
  const ConvertResult priv = convert_memory(vm.vm(), 0, ram, /*to_private=*/true);
  if (!priv.ok()) return std::unexpected("SNP launch: making guest RAM private: " + priv.message);
  if (auto r = vm.snp_launch_start(kvm::SnpLaunchStart{.policy = plan->policy}); !r) {
    return std::unexpected("SNP_LAUNCH_START: " + r.error().describe());
  }
  uint32_t vmsas = 0;
  for (LaunchRange& range : plan->ranges) {
    if (range.type == fw::PageType::kVmsa) {
      // KVM_SET_REGS / SREGS / FPU for vCPU `vmsas`, as the plan's VMSA image.
      svm::SevEsSaveArea vmsa{};
      if (range.contents.size() < sizeof vmsa || vmsas >= vm.vcpu_count()) {
        return std::unexpected("SNP launch: malformed VMSA range (" + range.what + ")");
      }
      std::memcpy(&vmsa, range.contents.data(), sizeof vmsa);
      if (auto r = vm.vcpu(vmsas++).set_vmsa(vmsa); !r) return std::unexpected(range.what + ": " + r.error().describe());
      continue;
    }
    if (range.gpa.value + range.pages * kPageSize > ram) {
      return std::unexpected("SNP launch: " + range.what + " at " + hex(range.gpa.value) + " (" +
                             std::to_string(range.pages) + " pages) is outside guest memory of " + hex(ram) + " bytes");
    }
    const kvm::SnpLaunchUpdate update{.gfn_start = Gfn{range.gpa.value >> kPageShift},
                                      .pages = range.pages,
                                      .type = range.type,
                                      .source = range.contents};
    if (auto r = vm.snp_launch_update(update); !r) {
      return std::unexpected("SNP_LAUNCH_UPDATE of " + range.what + ": " + r.error().describe());
    }
  }
  if (auto r = vm.snp_launch_finish(kvm::SnpLaunchFinish{}); !r) {
    return std::unexpected("SNP_LAUNCH_FINISH: " + r.error().describe());
  }
  return std::move(*plan);
}

}  // namespace snpemu::vmm
