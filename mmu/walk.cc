// mmu/walk.cc: the long-mode guest page walk (APM vol 2, 5.3 long-mode translation, 5.4 entry
// fields and A/D bits, 5.6 page protection) and the access-rights check.
#include <array>

#include "mmu/mmu.h"
#include "mmu/rights_internal.h"
#include "mmu/walk_internal.h"

namespace snpemu::mmu {
namespace {

using internal::access_bits;
using internal::bit_range;

constexpr uint64_t kPkeyShift = 59;  // APM vol 2, 5.6: leaf bits 62:59 hold the protection key

Fault page_fault(uint64_t error_code, uint64_t address) {
  return Fault{Fault::Kind::kPageFault, error_code, address};
}

}  // namespace

uint64_t check_rights(const Translation& t, const PagingRegs& regs, const PagingConfig& config,
                      Access access) {
  return internal::rights_error(t, regs, config, access);
}

namespace internal {

std::expected<Translation, Fault> walk_tables(TableAccess& tables, const PagingRegs& regs,
                                              const PagingConfig& config, uint64_t address,
                                              Access access, const NestedPaging* final_nested,
                                              uint64_t* gpa_out) {
  const bool la57 = (regs.cr4 & kCr4La57) != 0;
  const bool nxe = (regs.efer & kEferNxe) != 0;
  const uint64_t c_mask = config.c_bit != 0 ? uint64_t{1} << (config.c_bit & 63) : 0;
  // PagingConfig documents 32..52; anything else is clamped rather than shifting out of range.
  const int maxphyaddr =
      config.maxphyaddr < 32 ? 32 : (config.maxphyaddr > 52 ? 52 : config.maxphyaddr);
  // APM vol 2, 5.3: bits 51:MAXPHYADDR of every entry are reserved (MBZ); the C-bit is not
  // (APM vol 2, 7.10: it is taken out of the physical address). NX (bit 63) is reserved when
  // EFER.NXE=0 (APM vol 2, 5.6).
  const uint64_t high_rsvd = (bit_range(maxphyaddr, 51) & ~c_mask) | (nxe ? 0 : kPteNx);
  const uint64_t addr_mask = bit_range(12, maxphyaddr - 1) & ~c_mask;

  std::array<uint64_t, 5> entry_pa{};
  std::array<uint64_t, 5> entry{};
  int walked = 0;
  bool writable = true, user = true, executable = true;
  uint64_t table = regs.cr3 & addr_mask;  // CR3[11:0] are PWT/PCD or the PCID
  int level = la57 ? 5 : 4;
  PageSize size = PageSize::k4K;
  for (;; --level) {
    const int shift = 12 + 9 * (level - 1);
    const uint64_t epa = table | (((address >> shift) & 0x1FF) << 3);
    auto read = tables.read_entry(epa);
    if (!read) return std::unexpected(read.error());
    const uint64_t e = *read;
    // APM vol 2, 5.4.1: P=0 anywhere ends the walk with a not-present fault; the other bits of
    // a not-present entry are ignored (no reserved-bit check).
    if (!(e & kPteP))
      return std::unexpected(page_fault(access_bits(regs, config, access), address));

    uint64_t rsvd = high_rsvd;
    bool leaf = false;
    switch (level) {
      case 5:
      case 4:
        // APM vol 2, 5.3 (PML5E/PML4E formats): bit 7 (PS) MBZ and, on AMD, bit 8 MBZ
        // (KVM mmu.c nonleaf_bit8_rsvd: "AMD ... reserves it in PML4Es").
        rsvd |= kPtePs | kPteG;
        break;
      case 3:
        if (e & kPtePs) {
          // 1 GiB page (APM vol 2, 5.3): bits 29:13 reserved (bit 12 is PAT). Without
          // Page1GB support PS=1 here is itself reserved.
          if (!config.gbpages) {
            rsvd |= kPtePs;
          } else {
            rsvd |= bit_range(13, 29);
            leaf = true;
            size = PageSize::k1G;
          }
        }
        break;
      case 2:
        if (e & kPtePs) {
          // 2 MiB page (APM vol 2, 5.3): bits 20:13 reserved (bit 12 is PAT).
          rsvd |= bit_range(13, 20);
          leaf = true;
          size = PageSize::k2M;
        }
        break;
      default:
        leaf = true;
        break;
    }
    if (e & rsvd) {
      // APM vol 2, 8.4.2: RSVD=1 with P=1; the walk stops at the first such entry.
      return std::unexpected(
          page_fault(kPfP | kPfRsvd | access_bits(regs, config, access), address));
    }
    // APM vol 2, 5.6: effective R/W and U/S are the AND over all levels, NX the OR.
    writable = writable && (e & kPteRw);
    user = user && (e & kPteUs);
    if (nxe && (e & kPteNx)) executable = false;
    entry_pa[walked] = epa;
    entry[walked] = e;
    ++walked;
    if (leaf) break;
    table = e & addr_mask;
  }

  const uint64_t leaf_e = entry[walked - 1];
  const uint64_t page_mask = page_bytes(size) - 1;
  Translation t;
  t.pa = ((leaf_e & addr_mask) & ~page_mask) | (address & page_mask);
  t.size = size;
  t.writable = writable;
  t.user = user;
  t.executable = executable;
  t.global = (leaf_e & kPteG) != 0;
  t.encrypted = (leaf_e & c_mask) != 0;
  t.pkey = (regs.cr4 & kCr4Pke) ? static_cast<uint8_t>((leaf_e >> kPkeyShift) & 0xF) : 0;
  const bool write = access.kind == AccessKind::kWrite;
  t.dirty = write || (leaf_e & kPteD);

  if (const uint64_t ec = internal::rights_error(t, regs, config, access); ec != 0) {
    return std::unexpected(page_fault(ec, address));
  }

  // Under nested paging the final GPA is translated before any A/D update, so an NPF on the
  // final access leaves the guest tables untouched (KVM paging_tmpl.h walk_addr_generic [L]:
  // translate_gpa of the final gfn precedes the A/D update). UNCONFIRMED for AMD silicon.
  Translation out = t;
  if (final_nested != nullptr) {
    auto h = nested_walk(*final_nested->host_tables, final_nested->regs, final_nested->host_config,
                         t.pa, access.kind, NestedStage::kGuestFinal);
    if (!h) {
      // PLATFORM-FACTS 4.8 [L]: NPF bit 34 (ENC) reports an encrypted access, here the guest
      // leaf's C-bit (KVM's SNP fault path reads it as "private" for every NPF, not only RMP
      // faults: svm.c npf_interception). Accesses the core forces private add it there.
      Fault f = h.error();
      if (f.kind == Fault::Kind::kNestedPageFault && t.encrypted) f.error_code |= kNpfEnc;
      return std::unexpected(f);
    }
    out.pa = h->pa;
    out.size = h->size < t.size ? h->size : t.size;
    out.writable = t.writable && h->writable;
    out.executable = t.executable && h->executable;
    out.dirty = t.dirty && h->dirty;
    out.gpa = t.pa;
    out.nested_size = h->size;
  }

  // APM vol 2, 5.4.2: the processor sets A in each entry it uses and D in the leaf on the first
  // write; it never clears them. Only entries whose bits are clear are written. Done after all
  // checks, so a faulting access writes nothing, as KVM's guest walker does (paging_tmpl.h
  // walk_addr_generic [L]: A/D are updated only after permission_fault passes). UNCONFIRMED:
  // whether AMD silicon leaves A set in upper levels of a walk that later faults (QEMU [3P]
  // does; Intel SDM 4.8 allows it).
  for (int i = 0; i < walked; ++i) {
    uint64_t bits = (entry[i] & kPteA) ? 0 : kPteA;
    if (i == walked - 1 && write && !(entry[i] & kPteD)) bits |= kPteD;
    if (bits == 0) continue;
    if (auto r = tables.set_bits(entry_pa[i], bits); !r) return std::unexpected(r.error());
  }
  if (gpa_out != nullptr) *gpa_out = t.pa;
  return out;
}

}  // namespace internal

std::expected<Translation, Fault> walk(TableAccess& tables, const PagingRegs& regs,
                                       const PagingConfig& config, uint64_t linear, Access access) {
  // APM vol 2, 5.3.1: a non-canonical address never reaches the tables; the core raises #GP
  // (or #SS for stack references).
  if (!is_canonical(linear, (regs.cr4 & kCr4La57) != 0)) {
    return std::unexpected(Fault{Fault::Kind::kNonCanonical, 0, linear});
  }
  return internal::walk_tables(tables, regs, config, linear, access);
}

}  // namespace snpemu::mmu
