// emu/exec/bare_metal.h: the bare-metal run mode behind `snpemu exec IMAGE.elf`.
//
// Loads an ELF64 executable into host memory, starts one core in 64-bit mode at its entry with
// the low 4 GiB identity-mapped (2 MiB pages) and a stack, and runs it until the guest
// - writes to the isa-debug-exit port 0xF4: exit status (value << 1) | 1, as QEMU does;
// - executes HLT with interrupts disabled: exit status 0;
// - reaches the instruction limit; or
// - fails: triple fault, an access outside memory, an instruction not modelled, HLT with
//   interrupts enabled and no interrupt source (the guest would sleep forever).
// Bytes written to port 0xE9 and to COM1's transmit register (0x3F8) go to `console`, in order.
//
// Fixed low-memory layout set up by the loader (the image must not overlap it; defined in
// emu/exec/boot_layout.h and shared with the VMM's SNP launch plan, emu/vmm/launch_plan.h):
//   0x1000-0x6FFF  page tables (PML4, PDPT, 4 page directories of 2 MiB pages)
//   0x7000-0x7FFF  GDT (null, 64-bit code, data)
//   0x8000-0x7FFFF stack, RSP starts at 0x80000
#pragma once

#include <cstdint>
#include <expected>
#include <ostream>
#include <span>
#include <string>

namespace snpemu {

/// Options of a bare-metal run.
struct BareMetalOptions {
  uint64_t mem_bytes = uint64_t{4} << 30;
  /// 0 = no limit.
  uint64_t max_insns = 0;
};

/// How a bare-metal run ended.
struct BareMetalResult {
  enum class End : uint8_t {
    kExitPort,    // the guest wrote to port 0xF4
    kHalt,        // HLT with RFLAGS.IF = 0
    kInsnLimit,   // max_insns reached
  };
  End end = End::kHalt;
  /// Process exit status snpemu reports: (value << 1) | 1 for kExitPort, 0 for kHalt,
  /// 0 for kInsnLimit.
  int exit_status = 0;
  uint64_t instructions = 0;
  uint64_t cycles = 0;  // modelled cycles
};

/// Runs `elf` bare-metal. A malformed image or a guest failure is an error message (one line,
/// naming RIP and the cause where there is one).
std::expected<BareMetalResult, std::string> run_bare_metal(std::span<const uint8_t> elf,
                                                           const BareMetalOptions& options,
                                                           std::ostream& console);

}  // namespace snpemu
