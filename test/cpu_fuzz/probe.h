// test/cpu_fuzz/probe.h: runs raw bytes as 64-bit code on a cpu::Core over flat memory and
// measures instruction lengths through the core (the decoder is package-private to //cpu).
//
// Memory (linear = physical): page tables at 0x1000-0x4FFF, data pages 0x5000-0xAFFF, the code
// page 0xB000, then kFence: a page that is memory but not mapped, so fetching into it is an
// instruction-fetch #PF (CR2 = kFence, error code I/D = 1), never a bus error. Code placed to
// end at kFence lets the core fetch exactly its bytes. The core runs with stop_on_fault, so
// exceptions come back as values.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "cpu/cpu.h"

namespace snpemu::cpu_fuzz {

inline constexpr uint64_t kCodePage = 0xB000;
inline constexpr uint64_t kFence = 0xC000;
inline constexpr size_t kMaxInsn = 15;  // APM vol 3, 1.1

/// Everything observable after a run.
struct ProbeResult {
  cpu::StopReason reason = cpu::StopReason::kBudget;
  cpu::Fault fault{};
  uint64_t stop_address = 0;
  cpu::ArchState state{};
  uint64_t cycles = 0;
  uint64_t instructions = 0;
  std::vector<uint8_t> memory;
  bool operator==(const ProbeResult&) const = default;
};

/// The initial memory image (page tables only; everything else zero).
const std::vector<uint8_t>& probe_image();

/// Runs up to `steps` instructions of `code` placed at linear `at` (code must fit below kFence)
/// on a fresh core: 64-bit mode, CPL 0, paging on, GPRs pointing into the data pages.
ProbeResult probe_run(std::span<const uint8_t> code, uint64_t at, int steps);

/// True if the run stopped because the core needed bytes from the fence page.
bool needs_more_bytes(const ProbeResult& r);

/// Length of the first instruction of `bytes` (at most 15 are used): the smallest k for which
/// the first k bytes placed before the fence do not make the core fetch further; 0 if even 15
/// bytes do. `*at_length` receives that run, without `memory` and with `cycles` and
/// `instructions` counted over all placements (one core measures them all).
size_t probe_length(std::span<const uint8_t> bytes, ProbeResult* at_length);

}  // namespace snpemu::cpu_fuzz
