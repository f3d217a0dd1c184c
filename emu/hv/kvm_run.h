// emu/hv/kvm_run.h: the kvm_run exit record the hypervisor model fills for the VMM (a pure
// table, included by hv.h). Names follow Linux include/uapi/linux/kvm.h (struct kvm_run and its
// union members, KVM_EXIT_*, KVM_INTERNAL_ERROR_*, KVM_SYSTEM_EVENT_*) and
// include/uapi/linux/kvm_para.h (KVM_HC_*, KVM_E*). The union is flattened into separate members
// (only the one named by exit_reason is meaningful); padding is omitted.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "emu/hv/uapi.h"

namespace snpemu::hv {

/// kvm_run.exit_reason values used here. [L] include/uapi/linux/kvm.h.
enum class KvmExitReason : uint32_t {
  kUnknown = 0,         ///< KVM_EXIT_UNKNOWN
  kIo = 2,              ///< KVM_EXIT_IO
  kHypercall = 3,       ///< KVM_EXIT_HYPERCALL
  kHlt = 5,             ///< KVM_EXIT_HLT
  kMmio = 6,            ///< KVM_EXIT_MMIO
  kShutdown = 8,        ///< KVM_EXIT_SHUTDOWN
  kFailEntry = 9,       ///< KVM_EXIT_FAIL_ENTRY
  kInternalError = 17,  ///< KVM_EXIT_INTERNAL_ERROR
  kSystemEvent = 24,    ///< KVM_EXIT_SYSTEM_EVENT
  kApResetHold = 32,    ///< KVM_EXIT_AP_RESET_HOLD (SEV-ES AP parked, no in-kernel LAPIC)
  kMemoryFault = 39,    ///< KVM_EXIT_MEMORY_FAULT
};
/// "KVM_EXIT_IO", "KVM_EXIT_HLT", ... (exit_table.cc).
const char* kvm_exit_reason_name(KvmExitReason r);

/// kvm_run.internal.suberror. [L] include/uapi/linux/kvm.h.
inline constexpr uint32_t kKvmInternalErrorEmulation = 1;
inline constexpr uint32_t kKvmInternalErrorSimulEx = 2;
inline constexpr uint32_t kKvmInternalErrorDeliveryEv = 3;
inline constexpr uint32_t kKvmInternalErrorUnexpectedExitReason = 4;

/// kvm_run.io.direction. [L] include/uapi/linux/kvm.h.
inline constexpr uint8_t kKvmExitIoIn = 0;
inline constexpr uint8_t kKvmExitIoOut = 1;
/// The PIO data page: KVM_PIO_PAGE_OFFSET (1) pages after the start of kvm_run.
/// [L] arch/x86/include/uapi/asm/kvm.h.
inline constexpr uint64_t kKvmPioPageOffset = 1;
inline constexpr uint64_t kKvmPioDataOffset = kKvmPioPageOffset * 4096;

/// kvm_run.system_event.type. [L] include/uapi/linux/kvm.h; PLATFORM-FACTS 7.1.
inline constexpr uint32_t kKvmSystemEventShutdown = 1;
inline constexpr uint32_t kKvmSystemEventReset = 2;
inline constexpr uint32_t kKvmSystemEventCrash = 3;
inline constexpr uint32_t kKvmSystemEventSevTerm = 6;

/// Hypercall numbers and the guest-visible error values (returned negated in RAX).
/// [L] include/uapi/linux/kvm_para.h; PLATFORM-FACTS 7.2.
inline constexpr uint64_t kKvmHcVapicPollIrq = 1;
inline constexpr uint64_t kKvmEnosys = 1000;
inline constexpr uint64_t kKvmEfault = 14;  // EFAULT
inline constexpr uint64_t kKvmEinval = 22;  // EINVAL
inline constexpr uint64_t kKvmEperm = 1;    // EPERM
inline constexpr uint64_t kKvmEopnotsupp = 95;
/// kvm_run.hypercall.flags bit 0. [L] arch/x86/include/uapi/asm/kvm.h.
inline constexpr uint64_t kKvmExitHypercallLongMode = 1;

/// The exit record of one vCPU (struct kvm_run, the "out" half). The hypervisor writes it when a
/// handler returns ExitAction::kExitToVmm; the VMM reads it, may write the "in" fields named
/// below, and runs the vCPU again (complete_userspace_exit() consumes them).
struct KvmRun {
  KvmExitReason exit_reason = KvmExitReason::kUnknown;
  struct {
    uint64_t hardware_exit_reason = 0;
  } hw;
  struct {
    uint64_t hardware_entry_failure_reason = 0;
    uint32_t cpu = 0;
  } fail_entry;
  struct {
    uint8_t direction = 0;  ///< kKvmExitIoIn / kKvmExitIoOut
    uint8_t size = 0;       ///< bytes per transfer: 1, 2, 4
    uint16_t port = 0;
    uint32_t count = 0;  ///< transfers in pio_data (more than 1 only for string I/O)
    uint64_t data_offset = kKvmPioDataOffset;  ///< relative to kvm_run: pio_data below
  } io;
  struct {
    uint64_t phys_addr = 0;
    std::array<uint8_t, 8> data{};
    uint32_t len = 0;
    uint8_t is_write = 0;
  } mmio;
  struct {
    uint64_t nr = 0;
    std::array<uint64_t, 6> args{};
    uint64_t ret = 0;    ///< in: written by the VMM, returned to the guest in RAX
    uint64_t flags = 0;  ///< kKvmExitHypercallLongMode
  } hypercall;
  struct {
    uint32_t suberror = 0;
    uint32_t ndata = 0;
    std::array<uint64_t, 16> data{};
  } internal;
  struct {
    uint32_t type = 0;
    uint32_t ndata = 0;
    std::array<uint64_t, 16> data{};
  } system_event;
  KvmMemoryFault memory_fault{};
  /// The PIO data page at io.data_offset: OUT data written by the hypervisor, IN data written by
  /// the VMM (count * size bytes).
  std::array<uint8_t, 4096> pio_data{};
  /// Model only (not ABI): one line saying which rule produced this exit.
  std::string message{};
};

}  // namespace snpemu::hv
