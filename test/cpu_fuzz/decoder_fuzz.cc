// test/cpu_fuzz/decoder_fuzz.cc: arbitrary bytes as 64-bit code on a cpu::Core (see probe.h:
// the decoder is package-private to //cpu, so lengths are measured through the core).
//
// Invariants, each a std::abort with a message naming the bytes:
//   1. never a crash (ASan/UBSan under --config=fuzz);
//   2. the length L is in 1..15: with 15 bytes the core never asks for more (APM vol 3, 1.1:
//      longer is #GP(0), a decision rather than a request for bytes);
//   3. the first instruction ends in an architected way: it retires, halts, is reported as not
//      modelled, or raises an exception whose error code, if any, belongs to its vector, with
//      RIP left at the instruction (traps: #DB after it); a #PF error code has only P, W/R,
//      RSV and I/D bits at CPL 0 (APM vol 2, 8.4.2); never a bus error or shutdown;
//   4. #UD is decided by the instruction's own bytes: with all 15 bytes fetchable the core
//      still wants no more than L and raises #UD exactly when the L-byte placement did;
//   5. determinism: the first instruction alone on a fresh core stops the same way at the same
//      RIP as in the length probe; a run of up to kSteps instructions of the whole input on two
//      fresh cores gives the same state, stop, cycles, instruction count and memory.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

#include "test/cpu_fuzz/probe.h"

namespace {

using snpemu::cpu::Fault;
using snpemu::cpu::StopReason;
using snpemu::cpu::Vector;
using snpemu::cpu_fuzz::kCodePage;
using snpemu::cpu_fuzz::kFence;
using snpemu::cpu_fuzz::kMaxInsn;
using snpemu::cpu_fuzz::ProbeResult;

constexpr int kSteps = 8;
constexpr size_t kMaxProgram = 0x1000;
// #PF error-code bits. APM vol 2, 8.4.2 Figure 8-8.
constexpr uint32_t kPfP = 1, kPfW = 2, kPfRsv = 8, kPfId = 0x10;

[[noreturn]] void fail(const char* what, std::span<const uint8_t> bytes) {
  std::fprintf(stderr, "decoder_fuzz: %s; bytes:", what);
  for (uint8_t b : bytes) std::fprintf(stderr, " %02x", b);
  std::fprintf(stderr, "\n");
  std::abort();
}

bool is_ud(const ProbeResult& r) {
  return r.reason == StopReason::kFault && r.fault.vector == Vector::kUd;
}

// Invariant 3 for a first instruction placed at `at`.
void check_first(const ProbeResult& r, uint64_t at, std::span<const uint8_t> bytes) {
  switch (r.reason) {
    case StopReason::kBudget:
    case StopReason::kHalt:
    case StopReason::kUnimplemented:
      return;
    case StopReason::kFault:
      break;
    default:
      fail("first instruction stopped the core with a bus error, shutdown or mode change", bytes);
  }
  const Fault& f = r.fault;
  if (f.has_error_code && !snpemu::cpu::pushes_error_code(f.vector)) {
    fail("error code on a vector that has none", bytes);
  }
  // Traps report RIP after the instruction (#DB single step); faults, and INT n under
  // stop_on_fault, leave RIP at the instruction.
  if (f.vector != Vector::kDb && r.state.rip != at) fail("fault moved RIP", bytes);
  if (f.vector == Vector::kPf) {
    if (!f.has_error_code) fail("#PF without an error code", bytes);
    if ((f.error_code & ~(kPfP | kPfW | kPfRsv | kPfId)) != 0) {
      fail("#PF error code has bits other than P, W/R, RSV, I/D at CPL 0", bytes);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::span<const uint8_t> input(data, std::min(size, kMaxProgram));
  std::array<uint8_t, kMaxInsn> first{};
  std::memcpy(first.data(), input.data(), std::min(input.size(), kMaxInsn));

  ProbeResult at_length;
  const size_t length = snpemu::cpu_fuzz::probe_length(first, &at_length);
  if (length == 0) fail("the core asked for more than 15 bytes of one instruction", first);
  const std::span<const uint8_t> insn(first.data(), length);
  check_first(at_length, kFence - length, insn);

  if (length < kMaxInsn) {
    const ProbeResult wide = snpemu::cpu_fuzz::probe_run(first, kFence - kMaxInsn, 1);
    if (snpemu::cpu_fuzz::needs_more_bytes(wide)) {
      fail("more fetchable bytes made the instruction longer", first);
    }
    if (is_ud(wide) != is_ud(at_length)) fail("#UD depends on bytes after the instruction", first);
    check_first(wide, kFence - kMaxInsn, first);
  }

  const ProbeResult again = snpemu::cpu_fuzz::probe_run(insn, kFence - length, 1);
  // Not the whole state: the probe's core has run earlier placements, so RDTSC would differ.
  if (again.reason != at_length.reason || again.state.rip != at_length.state.rip ||
      (again.reason == StopReason::kFault && !(again.fault == at_length.fault))) {
    fail("the same instruction gave two different results", insn);
  }
  if (!(snpemu::cpu_fuzz::probe_run(input, kCodePage, kSteps) ==
        snpemu::cpu_fuzz::probe_run(input, kCodePage, kSteps))) {
    fail("the same program gave two different results", input);
  }
  return 0;
}
