// rmp/guest_insn.cc: PVALIDATE and RMPADJUST (SNP guest, CPL0). PLATFORM-FACTS 4.5 / 4.6.
#include "rmp/internal.h"

namespace snpemu::rmp {
namespace {

using detail::kPagesPer2M;
using detail::rc;

// Shared by both instructions: the ownership and page-size rules once the inputs are checked.
// Returns the entry of the page RAX translates to, or the outcome that ends the instruction.
std::expected<RmpEntry, InsnResult> owned_entry(const Rmp& rmp, const GuestContext& ctx,
                                                const GuestPageRef& page, PageSize size) {
  const Gpa gpa_page{page.gpa.value & ~kPageOffsetMask};
  const std::optional<RawRmpEntry> r = rmp.lookup(pfn_of(page.hpa));
  // Not assigned to this guest at this GPA -> #NPF RMP [3P VeriSMo].
  if (!r) return std::unexpected(detail::insn_npf(page.gpa, 0));
  const RmpEntry e = decode(*r);
  if (!e.assigned || e.asid != ctx.asid || e.gpa != gpa_page) {
    return std::unexpected(detail::insn_npf(page.gpa, 0));
  }
  if (size == PageSize::k2M) {
    // 2M request over 4K RMP entries or a 4K mapping -> FAIL_SIZEMISMATCH [L + 3P].
    if (page.mapping == MappingSize::k4K || e.page_size != PageSize::k2M) {
      return std::unexpected(rc(RmpRc::kFailSizeMismatch));
    }
  } else if (e.page_size == PageSize::k2M) {
    // 4K request inside a 2M RMP entry -> #NPF SIZEM; KVM PSMASHes [L sev_handle_rmp_fault].
    return std::unexpected(detail::insn_npf(page.gpa, npf::kSizem));
  }
  return e;
}

// Applies `change` to the page's entry, or to all 512 entries of its 2 MiB RMP page.
template <class Change>
void apply(Rmp& rmp, Pfn pfn, PageSize size, Change change) {
  if (size == PageSize::k4K) {
    RmpEntry e = rmp.entry(pfn);
    change(e);
    rmp.store(pfn, e);
    return;
  }
  const Pfn head = detail::head_of(pfn);
  for (uint64_t i = 0; i < kPagesPer2M; ++i) {
    RmpEntry e = rmp.entry(Pfn{head.value + i});
    change(e);
    rmp.store(Pfn{head.value + i}, e);
  }
}

}  // namespace

InsnResult pvalidate(Rmp& rmp, const GuestContext& ctx, const GuestPageRef& page, PageSize size,
                     bool validate) {
  // UNCONFIRMED (PLATFORM-FACTS 11.4): PVALIDATE is VMPL0-only [L]; failure mode chosen here.
  if (ctx.vmpl.value != 0) return rc(RmpRc::kFailPermission);
  if (size == PageSize::k2M && (page.va.value & detail::k2MMask) != 0) {
    return rc(RmpRc::kFailInput);  // [L] FAIL_INPUT for a 2M request on an unaligned VA
  }
  const auto e = owned_entry(rmp, ctx, page, size);
  if (!e) return e.error();
  // Unchanged -> success with CF = 1, nothing written [L asm/sev.h].
  if (e->validated == validate) return rc(RmpRc::kSuccess, /*cf=*/true);
  apply(rmp, pfn_of(page.hpa), size, [validate](RmpEntry& x) { x.validated = validate; });
  return rc(RmpRc::kSuccess);
}

InsnResult rmpadjust(Rmp& rmp, const GuestContext& ctx, const GuestPageRef& page, PageSize size,
                     uint64_t attrs) {
  const uint64_t target = attrs & adjust::kTargetVmplMask;
  const uint8_t perms = static_cast<uint8_t>((attrs >> adjust::kPermShift) & perm::kAll);
  const bool vmsa = (attrs & adjust::kVmsa) != 0;
  if ((attrs & adjust::kReservedMask) != 0 || target > 3) return rc(RmpRc::kFailInput);
  if (size == PageSize::k2M && (page.va.value & detail::k2MMask) != 0) {
    return rc(RmpRc::kFailInput);
  }
  if (vmsa && size == PageSize::k2M) return rc(RmpRc::kFailInput);  // UNCONFIRMED: VMSAs are 4K
  // Only a more privileged (numerically lower) VMPL may adjust [L comment].
  if (target <= ctx.vmpl.value) return rc(RmpRc::kFailPermission);
  const auto e = owned_entry(rmp, ctx, page, size);
  if (!e) return e.error();
  // Granted permissions must be a subset of the caller's own [3P VeriSMo].
  if ((perms & ~e->perms_of(ctx.vmpl)) != 0) return rc(RmpRc::kFailPermission);
  // UNCONFIRMED: only VMPL0 may change the VMSA bit (Linux/SVSM create VMSAs from VMPL0).
  if (ctx.vmpl.value != 0 && vmsa != e->vmsa) return rc(RmpRc::kFailPermission);
  apply(rmp, pfn_of(page.hpa), size, [&](RmpEntry& x) {
    x.vmpl_perms[target - 1] = perms;
    x.vmsa = vmsa;
  });
  return rc(RmpRc::kSuccess);
}

}  // namespace snpemu::rmp
