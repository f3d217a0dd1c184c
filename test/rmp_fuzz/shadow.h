// test/rmp_fuzz/shadow.h: the fuzzer's small SNP host and its independent shadow.
//
// The shadow is written from the *effects* the rules in rmp/rmp.h and PLATFORM-FACTS 4 give to a
// successful instruction (which pages an RMPUPDATE assigns, what PSMASH keeps, what PVALIDATE and
// RMPADJUST set), and from the bytes each actor was allowed to write. It never asks rmp/ what the
// state "should" be: rmp/ is compared against it after every step.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "emu/mem/memory.h"
#include "rmp/rmp.h"

namespace snpemu::rmp::fuzz {

inline constexpr uint64_t kPagesPer2M = 512;
/// Canonical GPA of host page `hpa` (what a cooperative hypervisor's NPT would map).
inline constexpr uint64_t kGpaBase = 0x1'0000'0000;

struct PfnRange {
  uint64_t first = 0;
  uint64_t end = 0;  // exclusive
  bool contains(uint64_t pfn) const { return pfn >= first && pfn < end; }
};

/// A small machine: 8 MiB (+12 KiB) with a contiguous RMP or 16 MiB with a segmented one, variant
/// chosen by the first input byte. Every variant is a valid configuration (Rmp::create must accept
/// it).
struct Layout {
  uint64_t ram_size = 0;
  bool segmented = false;
  RmpMsrs msrs;
  SegmentedRmpCpuid cpuid;
  std::vector<std::pair<uint64_t, uint64_t>> rst;  // (HPA, value) written before Rmp::create
  std::vector<PfnRange> covered;                   // PFNs that have an RMP entry
  std::vector<PfnRange> rmp_pages;                 // bookkeeping, RST, entry tables
  char name[96] = {};
  uint64_t pages() const { return ram_size >> kPageShift; }
};
Layout make_layout(uint8_t selector);

/// Names the failing step in every message: step index, its byte offset in the input, the op
/// with its operands, the input's size and FNV-1a hash, and the layout.
struct StepContext {
  const Layout* layout = nullptr;
  const uint8_t* input = nullptr;
  size_t input_size = 0;
  uint64_t input_hash = 0;
  uint64_t step = 0;
  size_t offset = 0;
  char desc[320] = {};
};
/// Prints the message with the context, saves the input to $TEST_UNDECLARED_OUTPUTS_DIR (if set)
/// and aborts.
[[noreturn]] void fail(const StepContext& ctx, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

/// What the fuzzer knows about one host page, from successful outcomes only.
struct ShadowPage {
  bool assigned = false;
  bool big = false;  // part of a 2 MiB RMP page
  bool immutable = false;
  bool validated = false;
  bool vmsa = false;
  uint32_t asid = 0;
  uint64_t gpa = 0;
  std::array<uint8_t, 3> perms{};  // VMPL1..3
  uint32_t validated_by = 0;       // ASID whose PVALIDATE set `validated`
  /// The typed entry rmp/ must hold for this page.
  RmpEntry entry() const;
  uint8_t perms_of(unsigned vmpl) const { return vmpl == 0 ? perm::kAll : perms[vmpl - 1]; }
};

class Shadow {
 public:
  Shadow(const Layout& layout, Memory& mem, Rmp& rmp, StepContext& ctx);

  bool in_ram(uint64_t pfn) const { return pfn < layout_.pages(); }
  bool covered(uint64_t pfn) const;
  bool is_rmp_page(uint64_t pfn) const;
  bool region_has_rmp_page(uint64_t pfn) const;
  /// Shadow state of `pfn` (an unassigned page if uncovered).
  const ShadowPage& page(uint64_t pfn) const;
  bool in_use(uint64_t pfn) const;
  const std::vector<uint64_t>& in_use_list() const { return in_use_; }
  /// Recently assigned pages (to aim guest operations at pages that exist).
  const std::vector<uint64_t>& recent() const { return recent_; }

  // Effects of successful instructions (the caller has checked the outcome is allowed).
  void apply_rmpupdate(uint64_t pfn, const RmpStateView& s);
  void apply_psmash(uint64_t head);
  void apply_pvalidate(uint64_t pfn, bool big, bool validate, uint32_t asid);
  void apply_rmpadjust(uint64_t pfn, bool big, unsigned target, uint8_t perms, bool vmsa);
  void set_in_use(uint64_t pfn, bool in_use);

  // Page contents. `hpa` ranges never cross a page here (the caller splits accesses).
  /// Bytes every allowed write so far left at [hpa, hpa + out.size()) (zero if never written).
  void expected_bytes(uint64_t hpa, std::span<uint8_t> out) const;
  /// Records an allowed write that Memory performed.
  void record_write(uint64_t hpa, std::span<const uint8_t> bytes);

  /// Marks the 2 MiB region of `pfn` and the page itself for the end-of-step check.
  void touch(uint64_t pfn);
  /// The invariants checked after every step: every touched region's 512 entries are
  /// self-consistent and equal the shadow, every touched page's contents equal the shadow, the
  /// resident page count shows no write outside the RMP and the recorded writes, and the VMSA
  /// in-use set matches. `full` checks every region and every written page.
  void end_step(bool full);

 private:
  void check_region(uint64_t head);
  void check_contents(uint64_t pfn) const;
  ShadowPage* mutable_page(uint64_t pfn);
  void note_recent(uint64_t pfn);

  const Layout& layout_;
  Memory& mem_;
  Rmp& rmp_;
  StepContext& ctx_;
  std::unordered_map<uint64_t, ShadowPage> pages_;  // pages ever changed (others unassigned)
  std::map<uint64_t, std::unique_ptr<std::array<uint8_t, kPageSize>>> contents_;
  std::vector<uint64_t> in_use_;
  std::vector<uint64_t> recent_;
  size_t recent_next_ = 0;
  std::vector<uint64_t> touched_;
};

}  // namespace snpemu::rmp::fuzz
