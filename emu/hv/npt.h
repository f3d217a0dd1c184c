// emu/hv/npt.h: the nested page table of one VM (KVM's TDP MMU role), part of hv.h's table of
// contents; include emu/hv/hv.h.
//
// A 4-level table in host memory, in the host's long-mode entry format (AMD NPT uses it:
// APM vol 2 15.25.3), built on demand by the NPF handler from the memslots (kvm_tdp_mmu_map) and
// zapped when the Vm invalidates GFNs (kvm_tdp_mmu_unmap_gfn_range). Table pages come from a
// host PagePool the hypervisor owns, never from guest backing. mmu::nested_walk, the walker the
// core uses, reads it.
#pragma once

#include <cstdint>
#include <optional>

#include "emu/hv/hv.h"

namespace snpemu::hv {

/// How NPT leaves are built.
struct NptConfig {
  /// C-bit position (CPUID 0x8000_001F EBX[5:0], PLATFORM-FACTS 0) set in leaves that map a
  /// private (guest_memfd) page of a VM with memory encryption; 0 = never set.
  uint8_t c_bit = 0;
};

/// The rights and encryption of one NPT leaf.
struct NptRights {
  bool writable = true;
  bool executable = true;  ///< false sets NX (bit 63)
  bool encrypted = false;  ///< sets NptConfig::c_bit
};

/// The NPT of one VM. Also the Vm's MmuNotifier: an invalidated GFN range loses its leaves and
/// every vCPU must flush its ASID before the next VMRUN (flush_generation()).
class Npt final : public MmuNotifier {
 public:
  /// Allocates the (zeroed) root table from `pool`. ENOMEM if the pool is empty; EINVAL if
  /// c_bit is set but not in 32..51 (UNCONFIRMED range: below 32 would alias RAM addresses).
  /// `memory` and `pool` must outlive the Npt.
  static KvmResult<Npt> create(Memory& memory, PagePool& pool, NptConfig config);

  /// The root table's host-physical address: VMCB nested_cr3.
  Hpa root() const { return hpa_of(root_); }

  /// kvm_tdp_mmu_map for one 4 KiB page: installs (or replaces) the leaf for `gfn` mapping
  /// host page `pfn`, allocating missing tables. Leaf = P | US | RW (if writable) | NX (if not
  /// executable) | C-bit (if encrypted); non-leaf entries = P | RW | US (AMD NPT checks every
  /// nested access as a user access, APM vol 2 15.25.5). EINVAL if the GFN is beyond the 48-bit
  /// GPA space a 4-level table covers or the PFN collides with the C-bit; ENOMEM if a table
  /// page cannot be allocated (nothing is left half-built: tables allocated stay, empty).
  KvmResult<void> map(Gfn gfn, Pfn pfn, NptRights rights);

  /// Removes the leaves in [range); tables stay allocated (as kvm_tdp_mmu_zap_leafs). Returns
  /// the number of leaves removed and advances flush_generation() if any.
  uint64_t zap(GfnRange range);
  /// Frees every table but the root and clears the root (kvm_mmu_zap_all); advances
  /// flush_generation().
  void zap_all();

  /// True if the leaf of `gfn` already maps `pfn` with exactly these rights (Accessed and
  /// Dirty, which the walker sets, are ignored): the fault was spurious.
  bool maps(Gfn gfn, Pfn pfn, NptRights rights) const;
  /// The leaf entry mapping `gfn`, or nullopt (reads the table, changes nothing).
  std::optional<uint64_t> leaf(Gfn gfn) const;

  /// MmuNotifier: zap(range) and remember `seq` as handled.
  void invalidate_gfn_range(GfnRange range, uint64_t seq) override;
  /// kvm->mmu_invalidate_seq check before mapping: if the Vm's sequence moved without this NPT
  /// hearing every range (no notifier installed, or a restored Vm), zap everything. Returns
  /// true if it zapped.
  bool sync(uint64_t vm_mmu_invalidate_seq);

  /// Bumped by every zap that removed something: a vCPU that last flushed at an older
  /// generation must VMRUN with TLB_CONTROL = flush this ASID (prepare_vmrun() does it).
  uint64_t flush_generation() const { return flush_generation_; }
  uint64_t mapped_pages() const { return mapped_pages_; }
  /// Table pages in use, the root included.
  uint64_t table_pages() const { return table_pages_; }
  const NptConfig& config() const { return config_; }
  /// Writes or restores the bookkeeping (exit_serialize.cc); the tables are host memory and
  /// the table pages the pool's state, each serialized by its owner. Reading rejects a
  /// different root or C-bit (configuration) and a table count of 0.
  void serialize(Serializer& s);

 private:
  Npt(Memory& memory, PagePool& pool, NptConfig config, Pfn root)
      : memory_(&memory), pool_(&pool), config_(config), root_(root) {}
  uint64_t* table(Pfn pfn) const;
  uint64_t leaf_value(Pfn pfn, NptRights rights) const;
  uint64_t zap_level(Pfn table, int level, uint64_t base_gfn, uint64_t start, uint64_t end);
  void free_level(Pfn table, int level);

  Memory* memory_;
  PagePool* pool_;
  NptConfig config_;
  Pfn root_{};
  uint64_t mapped_pages_ = 0;
  uint64_t table_pages_ = 1;
  uint64_t flush_generation_ = 0;
  uint64_t synced_seq_ = 0;
};

}  // namespace snpemu::hv
