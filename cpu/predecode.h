// cpu/predecode.h: the predecode cache (package-internal; the bus contract it relies on is
// documented at CpuBus in cpu/cpu.h).
//
// Decoded instructions are kept in a direct-mapped table keyed by the physical address of their
// first byte. Decoding depends only on the instruction bytes and the mode (64-bit mode is the
// only mode the core decodes; a second mode would add its bits to the key). An entry remembers
// the bytes it was decoded from and is used only while memory still holds exactly those bytes:
// every hit compares them with live memory (two masked 8-byte compares through the bus's page
// pointer). So a store by this core (MOV, string ops, a page walk setting A/D bits), a write
// by another core, the hypervisor or DMA, or a page being remapped all take effect at the very
// next fetch of the changed bytes, with no notification. Instructions that cross a page
// boundary are never cached (they are fetched and decoded every time).
//
// An entry also carries what execution needs without looking anything up: the handler
// (specialised by operand form where one exists, cpu/insn/dispatch.cc) and the sum of its
// timing-table rows. The cache holds no architectural state: hits and misses perform the same
// translations and charge identical cycles (test/cpu/predecode_test.cc).
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cpu/decode/decoder.h"
#include "cpu/insn/exec.h"

namespace snpemu::cpu {

/// One cached instruction.
struct alignas(64) PredecodedInsn {
  uint64_t pa = ~uint64_t{0};  // physical address of the first byte; ~0 = empty
  // The instruction bytes it was decoded from, as two little-endian words, and the masks of the
  // bytes that belong to the instruction (length <= 15, so 16 bytes cover it).
  uint64_t lo = 0, hi = 0, lo_mask = 0, hi_mask = 0;
  Handler handler = nullptr;  // handlers()[row->id], resolved once
  uint32_t fixed_cycles = 0;  // row cost + L1 load (memory operand) + locked, summed once
  bool inline_ok = false;     // has a handler and no CPL check: the run loop may execute it inline
  // 0 for an instruction fetched from plain memory; for an SEV guest's private (encrypted)
  // code, the key's identity (Core::fetch_tag()). The bytes kept are then the ciphertext, so a
  // hit compares raw memory as usual and never decrypts; the tag keeps one key's decode from
  // serving another's.
  uint64_t key_tag = 0;
  DecodedInsn insn{};

  /// Remembers the first insn.length bytes of `b` as the bytes to check.
  void set_bytes(const uint8_t* b) {
    std::array<uint8_t, 16> w{};
    std::memcpy(w.data(), b, insn.length);
    std::memcpy(&lo, w.data(), 8);
    std::memcpy(&hi, w.data() + 8, 8);
    const unsigned n = insn.length;
    lo_mask = n >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * n)) - 1;
    hi_mask = n <= 8 ? 0 : (uint64_t{1} << (8 * (n - 8))) - 1;  // n <= 15
  }
  /// True if `live` still holds the decoded bytes. `room` is how many bytes may be read at
  /// `live` (at least insn.length).
  bool matches(const uint8_t* live, size_t room) const {
    uint64_t a = 0, b = 0;
    if (room >= 16) {
      std::memcpy(&a, live, 8);
      std::memcpy(&b, live + 8, 8);
    } else {
      std::array<uint8_t, 16> w{};
      std::memcpy(w.data(), live, insn.length);
      std::memcpy(&a, w.data(), 8);
      std::memcpy(&b, w.data() + 8, 8);
    }
    return ((a & lo_mask) == lo) & ((b & hi_mask) == hi);
  }
};

/// Direct-mapped table of PredecodedInsn, allocated on first use.
class PredecodeCache {
 public:
  static constexpr size_t kEntries = 4096;  // power of two

  /// The slot `pa` maps to (it may hold another address or nothing).
  PredecodedInsn& slot(uint64_t pa) {
    allocate();
    return entries_[index(pa)];
  }
  /// The same after allocate().
  PredecodedInsn& allocated_slot(uint64_t pa) { return entries_[index(pa)]; }
  void allocate() {
    if (entries_.empty()) entries_.resize(kEntries);
  }
  /// Forgets everything.
  void clear() { entries_.clear(); }

 private:
  static size_t index(uint64_t pa) { return (pa ^ (pa >> 12)) & (kEntries - 1); }
  std::vector<PredecodedInsn> entries_;
};

}  // namespace snpemu::cpu
