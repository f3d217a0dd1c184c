// mmu/nested.cc: the nested (NPT) walk and the two-dimensional guest translation
// (APM vol 2, 15.25 nested paging; NPF error code per PLATFORM-FACTS 4.8 [L]).
#include "mmu/mmu.h"
#include "mmu/walk_internal.h"

namespace snpemu::mmu {

std::expected<Translation, Fault> nested_walk(TableAccess& host_tables, const NestedRegs& regs,
                                              const PagingConfig& host_config, uint64_t gpa,
                                              AccessKind kind, NestedStage stage) {
  // PLATFORM-FACTS 4.8 [L]: bit 32 GUEST_FINAL for the final GPA, bit 33 GUEST_PAGE for a guest
  // page-table access.
  const uint64_t stage_bit = stage == NestedStage::kGuestFinal ? kNpfGuestFinal : kNpfGuestPage;
  // APM vol 2, 15.25 (nested paging): the NPT has the host's long-mode format (4 or 5 levels
  // per host CR4.LA57; NX per host EFER.NXE) and every nested access is checked as a user
  // access, so the NPF error code has U=1 (QEMU's NPT walk [3P] does the same). UNCONFIRMED
  // against a hardware trace.
  PagingRegs host;
  host.cr0 = kCr0Pg | kCr0Wp;
  host.cr3 = regs.nested_cr3;
  host.cr4 = regs.la57 ? kCr4La57 : 0;
  host.efer = regs.nxe ? kEferNxe : 0;
  const Access access{kind, 3, false};
  const int width = regs.la57 ? 57 : 48;
  if ((gpa >> width) != 0) {
    // UNCONFIRMED: a GPA wider than the NPT covers has no translation; reported as a
    // not-present NPF (P=0) rather than silently aliasing lower GPAs.
    uint64_t ec = kNpfUser | stage_bit;
    if (kind == AccessKind::kWrite) ec |= kNpfWrite;
    if (kind == AccessKind::kFetch && regs.nxe) ec |= kNpfFetch;
    return std::unexpected(Fault{Fault::Kind::kNestedPageFault, ec, gpa});
  }
  auto t = internal::walk_tables(host_tables, host, host_config, gpa, access);
  if (!t) {
    Fault f = t.error();
    // #PF error-code bits 4:0 (P, W/R, U/S, RSVD, I/D) are the NPF bits 4:0 (PLATFORM-FACTS 4.8).
    if (f.kind == Fault::Kind::kPageFault) {
      return std::unexpected(Fault{Fault::Kind::kNestedPageFault, f.error_code | stage_bit, gpa});
    }
    return std::unexpected(f);
  }
  return t;
}

std::expected<uint64_t, Fault> NestedTableAccess::read_entry(uint64_t entry_gpa) {
  ++nested_walks_;
  auto t = nested_walk(*host_, regs_, host_config_, entry_gpa, AccessKind::kRead,
                       NestedStage::kGuestPage);
  if (!t) return std::unexpected(t.error());
  if (check_ != nullptr) {
    if (auto f = check_->check(entry_gpa, *t, false)) return std::unexpected(*f);
  }
  if (memory_ == nullptr) return entries_->read_entry(t->pa);
  auto v = memory_->read64(Hpa{t->pa});
  if (!v) return std::unexpected(Fault{Fault::Kind::kBadTableAddress, 0, t->pa});
  return *v;
}

std::expected<void, Fault> NestedTableAccess::set_bits(uint64_t entry_gpa, uint64_t bits) {
  // The A/D update writes the guest table, so its nested translation is a write access.
  // UNCONFIRMED: APM 15.25 wording on how guest A/D updates are classified; KVM's
  // PFERR_NESTED_GUEST_PAGE (GUEST_PAGE | WRITE | PRESENT) handling implies W=1 for them.
  ++nested_walks_;
  auto t = nested_walk(*host_, regs_, host_config_, entry_gpa, AccessKind::kWrite,
                       NestedStage::kGuestPage);
  if (!t) return std::unexpected(t.error());
  if (check_ != nullptr) {
    if (auto f = check_->check(entry_gpa, *t, true)) return std::unexpected(*f);
  }
  if (memory_ == nullptr) return entries_->set_bits(t->pa, bits);
  auto v = memory_->read64(Hpa{t->pa});
  if (!v || !memory_->write64(Hpa{t->pa}, *v | bits)) {
    return std::unexpected(Fault{Fault::Kind::kBadTableAddress, 0, t->pa});
  }
  return {};
}

std::expected<Translation, Fault> translate_nested(
    TableAccess& guest_tables, const NestedPaging& nested, const PagingRegs& guest_regs,
    const PagingConfig& guest_config, uint64_t linear, Access access, uint64_t* gpa_out) {
  if (!is_canonical(linear, (guest_regs.cr4 & kCr4La57) != 0)) {
    return std::unexpected(Fault{Fault::Kind::kNonCanonical, 0, linear});
  }
  return internal::walk_tables(guest_tables, guest_regs, guest_config, linear, access, &nested,
                               gpa_out);
}

}  // namespace snpemu::mmu
