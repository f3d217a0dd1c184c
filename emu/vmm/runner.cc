// emu/vmm/runner.cc: the VMM main loop (see runner.h).
#include "emu/vmm/runner.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "base/hex.h"
#include "emu/elf/elf.h"
#include "emu/exec/boot_layout.h"
#include "emu/kvm/kvm.h"
#include "emu/machine/machine.h"
#include "emu/vmm/guest_boot.h"
#include "emu/vmm/sev_boot.h"
#include "emu/vmm/snp_boot.h"
#include "emu/vmm/vmm.h"

namespace snpemu::vmm {
namespace {

constexpr uint16_t kDebugExitPort = 0xF4;

std::string vcpu_prefix(uint32_t id) { return "vCPU " + std::to_string(id) + ": "; }

}  // namespace

std::expected<GuestRunResult, std::string> run_guest(std::span<const uint8_t> elf,
                                                     const GuestRunOptions& options,
                                                     std::ostream& console) {
  if (options.vcpus == 0 || options.vcpus > 30) {
    return std::unexpected("vcpus: " + std::to_string(options.vcpus) + " is not in 1..30");
  }
  if (options.mem_bytes < (uint64_t{2} << 20) || (options.mem_bytes & kPageOffsetMask)) {
    return std::unexpected("mem: " + std::to_string(options.mem_bytes) +
                           " is not a multiple of 4 KiB of at least 2 MiB");
  }
  MachineConfig mc = host_config(options.type, options.mem_bytes, options.vcpus);
  mc.seed = options.seed;
  auto machine = Machine::create(mc);
  if (!machine) return std::unexpected(machine.error());
  auto hyp = kvm::Hypervisor::create(**machine);
  if (!hyp) return std::unexpected(hyp.error().describe());
  kvm::VmSpec spec;
  spec.type = options.type;
  spec.memory_bytes = options.mem_bytes;
  spec.vcpus = options.vcpus;
  spec.options.hypercall_exit_enabled = uint64_t{1} << 12;  // KVM_HC_MAP_GPA_RANGE to the VMM
  spec.sev.ghcb_min = options.ghcb_min;
  spec.sev.ghcb_max = options.ghcb_max;
  spec.options.psc_handling = options.psc_handling;
  spec.options.rmp_update_timing = options.rmp_update_timing;
  auto vm = (*hyp)->create_vm(spec);
  if (!vm) return std::unexpected(vm.error().describe());
  kvm::VirtualMachine& v = **vm;
  GuestRunResult result;
  const uint64_t c_bit = v.vcpu(0).core().config().paging.c_bit;
  if (options.type == hv::VmType::kSnp) {
    LaunchOptions launch;
    launch.vcpus = options.vcpus;
    launch.policy = options.policy;
    launch.c_bit = static_cast<uint8_t>(c_bit);
    auto plan = launch_snp_guest(v, elf, launch);
    if (!plan) return std::unexpected(plan.error());
    const fw::GuestContextInfo* g = v.snp_context();
    if (g == nullptr) return std::unexpected("SNP launch: the firmware has no context for the VM");
    result.measurement = g->digest.digest();
  } else if (options.type == hv::VmType::kSevEs) {
    auto blob = launch_sev_es_guest(v, elf, options.mem_bytes, options.sev_policy);
    if (!blob) return std::unexpected(blob.error());
    result.sev_measurement = *blob;
  } else {
    const uint64_t pte_bits = hv::vm_features(options.type).memory_encryption && c_bit ? uint64_t{1} << c_bit : 0;
    auto entry = load_guest_image(v, elf, options.mem_bytes, pte_bits);
    if (!entry) return std::unexpected(entry.error());
    for (uint32_t i = 0; i < options.vcpus; ++i) {
      v.vcpu(i).set_long_mode_start(boot_start(*entry, i));
    }
  }
  std::vector<bool> stopped(options.vcpus, false);
  if (options.ap_start == GuestRunOptions::ApStart::kWaiting) {
    for (uint32_t i = 1; i < options.vcpus; ++i) {
      v.vcpu(i).set_mp_state(hv::MpState::kUninitialized);
      stopped[i] = true;
    }
  }
  hv::PioDevices& pio = v.context().pio;
  auto drain = [&] {
    if (!pio.debug_console.output.empty()) {
      console << pio.debug_console.output;
      pio.debug_console.output.clear();
    }
    if (!pio.com1.output().empty()) console << pio.com1.take_output();
    console.flush();
  };
  for (;;) {
    // A stopped vCPU the guest started (SNP AP creation) runs again.
    for (uint32_t i = 0; i < options.vcpus; ++i) {
      if (stopped[i] && v.vcpu(i).has_pending_event()) stopped[i] = false;
    }
    // The running vCPU with the lowest clock (ties: lowest id).
    uint32_t pick = options.vcpus;
    for (uint32_t i = 0; i < options.vcpus; ++i) {
      if (stopped[i]) continue;
      if (pick == options.vcpus || v.vcpu(i).core().cycles() < v.vcpu(pick).core().cycles()) pick = i;
    }
    if (pick == options.vcpus) {
      result.end = GuestRunResult::End::kHalt;
      break;
    }
    kvm::Vcpu& c = v.vcpu(pick);
    if (options.max_cycles != 0 && c.core().cycles() >= options.max_cycles) {
      result.end = GuestRunResult::End::kCycleLimit;
      break;
    }
    const kvm::RunStatus status = c.run(options.quantum);
    drain();
    if (status == kvm::RunStatus::kPreempted) continue;
    if (status == kvm::RunStatus::kBlocked) {
      stopped[pick] = true;  // offline until an event (KVM_RUN would block)
      continue;
    }
    ++result.vmm_exits;
    hv::KvmRun& run = c.kvm_run();
    const std::string who = vcpu_prefix(pick);
    // KVM_RUN returns -EFAULT with KVM_EXIT_MEMORY_FAULT: the VMM converts and runs again
    // (implicit conversion); every other error ends the run.
    const bool memory_fault = run.exit_reason == hv::KvmExitReason::kMemoryFault &&
                              c.last_error() == hv::KvmErrno::kEfault;
    if (auto e = c.last_error(); e && !memory_fault) {
      return std::unexpected(who + "KVM_RUN failed with " + hv::errno_name(*e) + " (exit " +
                             hv::kvm_exit_reason_name(run.exit_reason) + ")" +
                             (run.message.empty() ? "" : ": " + run.message));
    }
    switch (run.exit_reason) {
      case hv::KvmExitReason::kIo:
        if (run.io.direction == hv::kKvmExitIoOut && run.io.port == kDebugExitPort) {
          uint32_t value = 0;
          std::memcpy(&value, run.pio_data.data(), std::min<size_t>(run.io.size, 4));
          result.end = GuestRunResult::End::kExitPort;
          result.exit_status = static_cast<int>((value << 1) | 1);
          goto done;
        }
        if (run.io.direction == hv::kKvmExitIoIn) {
          // Nothing decodes the port: the bus floats high, as on a PC.
          std::fill(run.pio_data.begin(), run.pio_data.begin() + std::min<size_t>(run.io.size * run.io.count, run.pio_data.size()), 0xFF);
        }
        break;
      case hv::KvmExitReason::kHlt:
        stopped[pick] = true;
        break;
      case hv::KvmExitReason::kHypercall: {
        KvmRunHypercall h;
        h.nr = run.hypercall.nr;
        h.args = run.hypercall.args;
        h.flags = run.hypercall.flags;
        const ConvertResult r = handle_map_gpa_range(v.vm(), h, options.rmp_update_timing);
        run.hypercall.ret = h.ret;
        (void)r;  // a failure is the guest's answer (ret != 0), not the VMM's
        break;
      }
      case hv::KvmExitReason::kMemoryFault: {
        const ConvertResult r = handle_memory_fault(v.vm(), run.memory_fault, options.rmp_update_timing);
        if (!r.ok()) return std::unexpected(who + "memory fault at " + hex(run.memory_fault.gpa) + ": " + r.message);
        break;
      }
      case hv::KvmExitReason::kShutdown:
        return std::unexpected(who + "the guest shut down (triple fault)");
      case hv::KvmExitReason::kApResetHold:
        stopped[pick] = true;  // parked until a SIPI; nothing sends one in this VMM yet
        break;
      case hv::KvmExitReason::kSystemEvent:
        if (run.system_event.type == hv::kKvmSystemEventSevTerm) {
          // data[0]: the GHCB MSR termination request, reason set 15:12, code 23:16 (GHCB spec
          // 2.3.6; PLATFORM-FACTS 2.x).
          const uint64_t msr = run.system_event.ndata > 0 ? run.system_event.data[0] : 0;
          result.end = GuestRunResult::End::kTerminated;
          result.reason_set = static_cast<uint8_t>((msr >> 12) & 0xF);
          result.reason_code = static_cast<uint8_t>((msr >> 16) & 0xFF);
          result.exit_status = result.reason_set == 0 && result.reason_code == 0 ? 0 : 1;
          goto done;
        }
        return std::unexpected(who + "system event " + std::to_string(run.system_event.type));
      case hv::KvmExitReason::kFailEntry:
        return std::unexpected(who + "VMRUN failed (hardware_entry_failure_reason " +
                               hex(run.fail_entry.hardware_entry_failure_reason) + "): " + run.message);
      case hv::KvmExitReason::kInternalError:
        return std::unexpected(who + "internal error: " + run.message);
      default:
        return std::unexpected(who + "unexpected exit " + hv::kvm_exit_reason_name(run.exit_reason) +
                               (run.message.empty() ? "" : ": " + run.message));
    }
  }
done:
  drain();
  for (uint32_t i = 0; i < options.vcpus; ++i) {
    kvm::Vcpu& c = v.vcpu(i);
    result.cycles = std::max(result.cycles, c.core().cycles());
    result.instructions += c.core().instructions();
    for (uint64_t n : c.exit_counts()) result.exits += n;
  }
  return result;
}

}  // namespace snpemu::vmm
