// test/mmu/pt_builder.h: builds long-mode page tables in a Memory for MMU tests and benches.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "base/hex.h"
#include "emu/mem/memory.h"
#include "mmu/mmu.h"

namespace snpemu::mmu::testing {

/// Bump-allocates 4 KiB table pages from `next_table` upward and writes entries.
class PtBuilder {
 public:
  /// `levels` 4 or 5; tables are allocated from `first_table` (must be 4 KiB aligned).
  PtBuilder(Memory& mem, int levels, uint64_t first_table)
      : mem_(mem), levels_(levels), next_(first_table) {
    root_ = alloc();
  }

  uint64_t root() const { return root_; }

  /// Maps `va` to `pa` with a leaf of `size`; the leaf gets `leaf_flags` (P is not implied), the
  /// upper entries created on the way get `upper_flags`. Existing upper entries are reused.
  void map(uint64_t va, uint64_t pa, PageSize size, uint64_t leaf_flags,
           uint64_t upper_flags = kPteP | kPteRw | kPteUs) {
    const int leaf_level = 1 + static_cast<int>(size);
    uint64_t table = root_;
    for (int level = levels_; level > leaf_level; --level) {
      const uint64_t epa = entry_addr(table, va, level);
      uint64_t e = *mem_.read64(Hpa{epa});
      if (!(e & kPteP)) {
        e = alloc() | upper_flags;
        (void)mem_.write64(Hpa{epa}, e);
      }
      table = e & 0x000FFFFFFFFFF000ull;
    }
    uint64_t leaf = pa | leaf_flags;
    if (size != PageSize::k4K) leaf |= kPtePs;
    (void)mem_.write64(Hpa{entry_addr(table, va, leaf_level)}, leaf);
  }

  /// Physical address of the entry at `level` (5..1) used to translate `va`; 0 if an upper
  /// entry on the way is not present.
  uint64_t entry_pa(uint64_t va, int level) const {
    uint64_t table = root_;
    for (int l = levels_; l > level; --l) {
      const uint64_t e = *mem_.read64(Hpa{entry_addr(table, va, l)});
      if (!(e & kPteP)) return 0;
      table = e & 0x000FFFFFFFFFF000ull;
    }
    return entry_addr(table, va, level);
  }
  uint64_t entry(uint64_t va, int level) const { return *mem_.read64(Hpa{entry_pa(va, level)}); }
  void set_entry(uint64_t va, int level, uint64_t value) {
    (void)mem_.write64(Hpa{entry_pa(va, level)}, value);
  }

 private:
  static uint64_t entry_addr(uint64_t table, uint64_t va, int level) {
    return table | (((va >> (12 + 9 * (level - 1))) & 0x1FF) << 3);
  }
  uint64_t alloc() {
    const uint64_t p = next_;
    next_ += kPageSize;
    return p;
  }

  Memory& mem_;
  int levels_;
  uint64_t next_;
  uint64_t root_ = 0;
};

/// "0x..." for failure messages.
using ::snpemu::hex;

}  // namespace snpemu::mmu::testing
