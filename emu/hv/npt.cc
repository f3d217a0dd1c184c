// emu/hv/npt.cc: the nested page table (KVM's TDP MMU: kvm_tdp_mmu_map, zap of leaves, zap all).
#include "emu/hv/npt.h"

#include <cstring>

#include "base/hex.h"

namespace snpemu::hv {
namespace {

// Long-mode entry bits (APM vol 2 5.4.1); the NPT uses the host format (APM vol 2 15.25.3).
constexpr uint64_t kP = uint64_t{1} << 0;
constexpr uint64_t kRw = uint64_t{1} << 1;
constexpr uint64_t kUs = uint64_t{1} << 2;
constexpr uint64_t kNx = uint64_t{1} << 63;
constexpr uint64_t kAddrMask = 0x000F'FFFF'FFFF'F000ull;  // bits 51:12
constexpr int kLevels = 4;
constexpr uint64_t kMaxGfn = (uint64_t{1} << 36) - 1;  // 48-bit GPAs under 4 levels

constexpr unsigned index_at(uint64_t gfn, int level) {
  return static_cast<unsigned>((gfn >> (9 * (level - 1))) & 0x1FF);
}

KvmError error(KvmErrno code, std::string what) { return KvmError{code, std::move(what)}; }

}  // namespace

KvmResult<Npt> Npt::create(Memory& memory, PagePool& pool, NptConfig config) {
  if (config.c_bit != 0 && (config.c_bit < 32 || config.c_bit > 51)) {
    return std::unexpected(
        error(KvmErrno::kEinval,
              "NPT C-bit position " + std::to_string(config.c_bit) + " is not in 32..51"));
  }
  std::optional<Pfn> root = pool.allocate();
  if (!root) {
    return std::unexpected(
        error(KvmErrno::kEnomem, "no page for the NPT root in pool '" + pool.name() + "'"));
  }
  if (memory.page_pointer(*root) == nullptr) {
    return std::unexpected(
        error(KvmErrno::kEinval, "NPT root pfn " + hex(root->value) + " is outside RAM"));
  }
  return Npt(memory, pool, config, *root);
}

uint64_t* Npt::table(Pfn pfn) const {
  return reinterpret_cast<uint64_t*>(memory_->page_pointer(pfn));
}

KvmResult<void> Npt::map(Gfn gfn, Pfn pfn, NptRights rights) {
  if (gfn.value > kMaxGfn) {
    return std::unexpected(error(KvmErrno::kEinval, "gfn " + hex(gfn.value) +
                                                        " beyond the 48-bit GPA space of a "
                                                        "4-level NPT"));
  }
  const uint64_t c_mask = config_.c_bit != 0 ? uint64_t{1} << config_.c_bit : 0;
  const uint64_t pa = pfn.value << kPageShift;
  if ((pa & ~kAddrMask) != 0 || (pa & c_mask) != 0) {
    return std::unexpected(
        error(KvmErrno::kEinval, "pfn " + hex(pfn.value) + " does not fit an NPT entry"));
  }
  Pfn cur = root_;
  for (int level = kLevels; level > 1; --level) {
    uint64_t* t = table(cur);
    uint64_t& e = t[index_at(gfn.value, level)];
    if ((e & kP) == 0) {
      std::optional<Pfn> next = pool_->allocate();  // zeroed by the pool
      if (!next || memory_->page_pointer(*next) == nullptr) {
        return std::unexpected(error(
            KvmErrno::kEnomem,
            "NPT table pool '" + pool_->name() + "' exhausted mapping gfn " + hex(gfn.value)));
      }
      ++table_pages_;
      // APM vol 2 15.25.5: nested accesses are user accesses, so every level has US=1; RW=1 so
      // the leaf alone decides writability (rights are the AND over levels, APM vol 2 5.6).
      e = (next->value << kPageShift) | kP | kRw | kUs;
    }
    cur = Pfn{(e & kAddrMask) >> kPageShift};
  }
  uint64_t& leaf_e = table(cur)[index_at(gfn.value, 1)];
  if ((leaf_e & kP) == 0) ++mapped_pages_;
  leaf_e = leaf_value(pfn, rights);
  return {};
}

uint64_t Npt::leaf_value(Pfn pfn, NptRights rights) const {
  uint64_t v = (pfn.value << kPageShift) | kP | kUs;
  if (rights.writable) v |= kRw;
  if (!rights.executable) v |= kNx;
  if (rights.encrypted && config_.c_bit != 0) v |= uint64_t{1} << config_.c_bit;
  return v;
}

bool Npt::maps(Gfn gfn, Pfn pfn, NptRights rights) const {
  constexpr uint64_t kAccessedDirty = (uint64_t{1} << 5) | (uint64_t{1} << 6);
  const std::optional<uint64_t> e = leaf(gfn);
  return e && ((*e ^ leaf_value(pfn, rights)) & ~kAccessedDirty) == 0;
}

std::optional<uint64_t> Npt::leaf(Gfn gfn) const {
  if (gfn.value > kMaxGfn) return std::nullopt;
  Pfn cur = root_;
  for (int level = kLevels; level > 1; --level) {
    const uint64_t e = table(cur)[index_at(gfn.value, level)];
    if ((e & kP) == 0) return std::nullopt;
    cur = Pfn{(e & kAddrMask) >> kPageShift};
  }
  const uint64_t e = table(cur)[index_at(gfn.value, 1)];
  if ((e & kP) == 0) return std::nullopt;
  return e;
}

// Visits only present entries that intersect [start, end), so zapping a huge, sparsely mapped
// range costs what is mapped, not what is covered.
uint64_t Npt::zap_level(Pfn t_pfn, int level, uint64_t base_gfn, uint64_t start, uint64_t end) {
  uint64_t* t = table(t_pfn);
  const uint64_t span = uint64_t{1} << (9 * (level - 1));  // GFNs per entry at this level
  uint64_t removed = 0;
  for (unsigned i = 0; i < 512; ++i) {
    const uint64_t lo = base_gfn + i * span, hi = lo + span;
    if (hi <= start || lo >= end) continue;
    uint64_t& e = t[i];
    if ((e & kP) == 0) continue;
    if (level == 1) {
      e = 0;
      ++removed;
    } else {
      removed += zap_level(Pfn{(e & kAddrMask) >> kPageShift}, level - 1, lo, start, end);
    }
  }
  return removed;
}

uint64_t Npt::zap(GfnRange range) {
  if (range.start.value >= range.end.value || range.start.value > kMaxGfn) return 0;
  const uint64_t end = range.end.value > kMaxGfn ? kMaxGfn + 1 : range.end.value;
  const uint64_t removed = zap_level(root_, kLevels, 0, range.start.value, end);
  mapped_pages_ -= removed;
  if (removed != 0) ++flush_generation_;
  return removed;
}

void Npt::free_level(Pfn t_pfn, int level) {
  uint64_t* t = table(t_pfn);
  for (unsigned i = 0; i < 512; ++i) {
    const uint64_t e = t[i];
    if ((e & kP) == 0) continue;
    const Pfn child{(e & kAddrMask) >> kPageShift};
    if (level > 2) free_level(child, level - 1);
    pool_->free(child);  // zeroes the page
    --table_pages_;
  }
}

void Npt::zap_all() {
  free_level(root_, kLevels);
  std::memset(table(root_), 0, kPageSize);
  mapped_pages_ = 0;
  ++flush_generation_;
}

void Npt::invalidate_gfn_range(GfnRange range, uint64_t seq) {
  zap(range);
  synced_seq_ = seq;
}

bool Npt::sync(uint64_t vm_mmu_invalidate_seq) {
  if (vm_mmu_invalidate_seq == synced_seq_) return false;
  zap_all();
  synced_seq_ = vm_mmu_invalidate_seq;
  return true;
}

}  // namespace snpemu::hv
