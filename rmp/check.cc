// rmp/check.cc: RMP checks on host and guest accesses. PLATFORM-FACTS 4.7 / 4.8.
#include "rmp/internal.h"

namespace snpemu::rmp {

AccessResult check_host_access(const Rmp& rmp, const HostAccess& a) {
  // UNCONFIRMED (PLATFORM-FACTS 11.1): host reads and fetches are not RMP-checked here.
  if (a.type != AccessType::kWrite) return {RmpCheck::kNone, std::nullopt};
  const Pfn pfn = pfn_of(a.hpa);
  bool refused;
  RmpCheck check;
  if (a.mapping == MappingSize::k4K) {
    check = RmpCheck::kHostPage;
    const std::optional<RawRmpEntry> r = rmp.lookup(pfn);
    refused = (r && (r->lo & raw::kAssigned) != 0) || rmp.is_rmp_page(pfn);
  } else {
    // "even 1GB mappings are treated as 2MB accesses as far as RMP checks are concerned" [L].
    check = RmpCheck::kHost2MRange;
    refused = rmp.region_has_rmp_page(pfn) ||
              detail::scan_region(rmp, detail::head_of(pfn)).any_assigned;
  }
  if (!refused) return {check, std::nullopt};
  const uint64_t code =
      hostpf::kPresent | hostpf::kWrite | (a.user ? hostpf::kUser : 0) | hostpf::kRmp;
  return {check, Fault{Fault::Kind::kHostPf, code, a.hpa.value}};
}

namespace {

Fault guest_npf(const GuestAccess& a, uint64_t bits) {
  uint64_t code = npf::kPresent | (a.page_table_walk ? npf::kGuestPage : npf::kGuestFinal) |
                  (a.user ? npf::kUser : 0) | (a.c_bit ? npf::kEnc : 0) | bits;
  if (a.type == AccessType::kWrite) code |= npf::kWrite;
  if (a.type == AccessType::kExecute) code |= npf::kFetch;
  return Fault{Fault::Kind::kNpf, code, a.gpa.value};
}

// VMPL permission and VMSA rules on an entry that passed the other private-access rules.
bool vmpl_allows(const GuestAccess& a, RawRmpEntry e) {
  if (a.ctx.vmpl.value == 0) return true;
  // A VMPL above 3 does not exist: it has no permissions.
  const unsigned vmpl = a.ctx.vmpl.value;
  const uint64_t mask = vmpl <= 3 ? (e.hi >> raw::perm_shift(vmpl)) & perm::kAll : 0;
  const uint64_t need = a.type == AccessType::kRead    ? perm::kRead
                        : a.type == AccessType::kWrite ? perm::kWrite
                        : a.user                       ? perm::kUserExec
                                                       : perm::kSupervisorExec;
  const bool vmsa_write = (e.lo & raw::kVmsa) != 0 && a.type == AccessType::kWrite;  // UNCONFIRMED
  return (mask & need) != 0 && !vmsa_write;
}

}  // namespace

namespace detail {

AccessResult check_guest_access_rules(const Rmp& rmp, const GuestAccess& a) {
  const Pfn pfn = pfn_of(a.hpa);
  const std::optional<RawRmpEntry> r = rmp.lookup(pfn);
  const auto npf_fault = [&](uint64_t bits) { return guest_npf(a, bits); };
  const RawRmpEntry e = r.value_or(RawRmpEntry{});
  const uint64_t lo = e.lo;
  const uint64_t want = raw::kAssigned | (a.gpa.value & raw::kGpaMask) |
                        ((uint64_t{a.ctx.asid.value} & raw::kAsidMax) << raw::kAsidShift);
  // GPA bits above 50 and ASID bits above 9 cannot be held by an entry: never owned.
  const bool representable = (a.gpa.value >> 51) == 0 && a.ctx.asid.value <= raw::kAsidMax;
  const uint64_t ownership_mask = raw::kAssigned | raw::kGpaMask | (raw::kAsidMax << raw::kAsidShift);
  const bool mapping_2m = a.mapping != MappingSize::k4K;
  if (!a.c_bit) {
    // Shared access to an assigned page (or an RMP page, UNCONFIRMED) -> #NPF RMP [L].
    if ((r && (r->lo & raw::kAssigned) != 0) || rmp.is_rmp_page(pfn)) {
      return {RmpCheck::kGuestShared, npf_fault(npf::kRmp)};
    }
    return {RmpCheck::kGuestShared, std::nullopt};
  }
  // Private access (ENC set: KVM reads ENC as private [L]). Assigned to this ASID at this GPA
  // [3P VeriSMo].
  if ((lo & ownership_mask) != want || !representable) {
    return {RmpCheck::kGuestPrivate, npf_fault(npf::kRmp)};
  }
  // Nested mapping size must equal the RMP page size (1G counts as 2M) [L]; the larger-mapping
  // direction is UNCONFIRMED.
  if (((lo & raw::kPageSize2M) != 0) != mapping_2m) {
    return {RmpCheck::kGuestPrivate, npf_fault(npf::kRmp | npf::kSizem)};
  }
  // Not validated -> #VC 0x404 [AMD-eng].
  if ((lo & raw::kValidated) == 0) {
    return {RmpCheck::kGuestPrivate, Fault{Fault::Kind::kVc, kVcPageNotValidated, a.gpa.value}};
  }
  if (!vmpl_allows(a, e)) return {RmpCheck::kGuestPrivate, npf_fault(npf::kRmp | npf::kVmpl)};
  return {RmpCheck::kGuestPrivate, std::nullopt};
}

}  // namespace detail

}  // namespace snpemu::rmp
