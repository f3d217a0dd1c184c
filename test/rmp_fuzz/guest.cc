// test/rmp_fuzz/guest.cc: malicious SNP guests (ASIDs 1-3, VMPL 0-3) on a hypervisor-chosen
// nested mapping: PVALIDATE, RMPADJUST and private / shared reads, writes and fetches.
#include <cinttypes>
#include <cstdio>
#include <vector>

#include "test/rmp_fuzz/actors.h"

namespace snpemu::rmp::fuzz {
namespace {

constexpr uint64_t k2MMask = kLargePageSize - 1;

const char* type_name(AccessType t) {
  return t == AccessType::kRead ? "read" : t == AccessType::kWrite ? "write" : "fetch";
}

// Half the time a recently assigned or validated page, so that multi-step scenarios (assign,
// validate, adjust, access) land on the same page.
uint64_t pick_guest_pfn(Actors& a) {
  const uint64_t s = a.in.take(1);
  const std::vector<uint64_t>& recent = a.shadow.recent();
  if ((s & 1) == 0 && !recent.empty()) return recent[(s >> 1) % recent.size()];
  return a.pick_pfn();
}

// Mostly the page owner's ASID, else ASID 1-3, rarely an unrepresentable alias (ASID + 1024).
// VMPL: uniform, or 0 three times in four when `mostly_vmpl0`.
GuestContext pick_ctx(Actors& a, uint64_t pfn, bool mostly_vmpl0) {
  const uint64_t b = a.in.take(1);
  const ShadowPage& p = a.shadow.page(pfn);
  const uint32_t owner = p.assigned && p.asid != 0 ? p.asid : 1;
  uint32_t asid = (b & 3) != 3 ? owner : 1 + static_cast<uint32_t>(((b >> 2) & 3) % 3);
  if ((b & 0x0F) == 0x0F) asid += 1024;
  uint8_t vmpl = static_cast<uint8_t>((b >> 4) & 3);
  if (mostly_vmpl0 && (b >> 6) != 3) vmpl = 0;
  return GuestContext{Asid{asid}, Vmpl{vmpl}};
}

// The translation of a guest address as the core's walks would produce it. The GPA is mostly the
// page's owning GPA (a cooperative NPT), else canonical, a neighbour or anything; the low bits
// of VA, GPA and HPA agree as the mapping size implies. 1 in 16 breaks that agreement
// (robustness only: a real walk cannot produce it).
GuestPageRef make_ref(Actors& a, uint64_t pfn, uint64_t offset, MappingSize mapping) {
  const uint64_t hpa = (pfn << kPageShift) | offset;
  const ShadowPage& p = a.shadow.page(pfn);
  const uint64_t canonical = kGpaBase + (pfn << kPageShift);
  const uint64_t m = a.in.take(1);
  uint64_t gpa;
  switch (m & 7) {
    case 5:
      gpa = canonical;
      break;
    case 6:
      gpa = (m & 8) != 0 ? canonical + kPageSize : canonical - kPageSize;
      break;
    case 7:
      gpa = a.in.take(8) & ~kPageOffsetMask;
      break;
    default:
      gpa = p.assigned ? p.gpa : canonical;
      break;
  }
  const uint64_t va_base = a.in.take(4) << 21;
  if ((m >> 4) == 15) return GuestPageRef{Gva{a.in.take(8)}, Gpa{gpa | offset}, Hpa{hpa}, mapping};
  const uint64_t low = mapping == MappingSize::k4K ? kPageOffsetMask : k2MMask;
  return GuestPageRef{Gva{va_base | (hpa & low)}, Gpa{(gpa & ~low) | (hpa & low)}, Hpa{hpa},
                      mapping};
}

// PLATFORM-FACTS 4.7 [3P VeriSMo]: assigned to this ASID at this GPA.
bool owns(const Actors& a, uint64_t pfn, const GuestContext& c, uint64_t gpa) {
  const ShadowPage& p = a.shadow.page(pfn);
  return p.assigned && p.asid == c.asid.value && p.gpa == (gpa & ~kPageOffsetMask) &&
         !a.shadow.is_rmp_page(pfn);
}

// A #NPF from PVALIDATE / RMPADJUST: RMP bit, the GPA of RAX (PLATFORM-FACTS 4.5).
void check_insn_fault(Actors& a, const InsnResult& r, const GuestPageRef& ref, const char* insn) {
  if (r.fault->kind != Fault::Kind::kNpf || (r.fault->error_code & npf::kRmp) == 0 ||
      r.fault->address != ref.gpa.value) {
    fail(a.ctx, "%s raised %s; expected #NPF with the RMP bit at gpa 0x%" PRIx64, insn,
         r.fault->to_string().c_str(), ref.gpa.value);
  }
}

}  // namespace

void guest_pvalidate(Actors& a) {
  const uint64_t f = a.in.take(1);
  const bool big = (f & 3) == 0;
  const bool validate = ((f >> 2) & 3) != 0;
  uint64_t pfn = pick_guest_pfn(a);
  if (big && (f & 0x30) != 0) pfn &= ~(kPagesPer2M - 1);
  const GuestContext c = pick_ctx(a, pfn, true);
  const MappingSize mapping = a.pick_mapping(pfn);
  const uint64_t offset = (f & 0xC0) == 0xC0 ? a.in.take(2) & kPageOffsetMask : 0;
  const GuestPageRef ref = make_ref(a, pfn, offset, mapping);
  std::snprintf(a.ctx.desc, sizeof a.ctx.desc,
                "guest asid %u vmpl %u PVALIDATE %s %s va 0x%" PRIx64 " gpa 0x%" PRIx64
                " hpa 0x%" PRIx64 " mapping %d",
                c.asid.value, c.vmpl.value, big ? "2M" : "4K", validate ? "validate" : "rescind",
                ref.va.value, ref.gpa.value, ref.hpa.value, int(mapping));
  const InsnResult r = pvalidate(a.rmp, c, ref, big ? PageSize::k2M : PageSize::k4K, validate);
  a.shadow.touch(pfn);
  if (r.fault) return check_insn_fault(a, r, ref, "PVALIDATE");
  if (r.rc != RmpRc::kSuccess) return;
  const ShadowPage& p = a.shadow.page(pfn);
  if (c.vmpl.value != 0)
    fail(a.ctx, "PVALIDATE succeeded at VMPL %u (VMPL0 only, PLATFORM-FACTS 4.5 [L])",
         c.vmpl.value);
  if (!owns(a, pfn, c, ref.gpa.value)) {
    fail(a.ctx,
         "PVALIDATE by asid %u succeeded on pfn 0x%" PRIx64
         " not assigned to it at gpa "
         "0x%" PRIx64 ": %s",
         c.asid.value, pfn, ref.gpa.value, p.entry().to_string().c_str());
  }
  if (big && ((ref.va.value & k2MMask) != 0 || !p.big || mapping == MappingSize::k4K)) {
    fail(a.ctx,
         "2M PVALIDATE succeeded on a misaligned VA, a 4K RMP page or a 4K mapping "
         "(FAIL_INPUT / FAIL_SIZEMISMATCH expected, PLATFORM-FACTS 4.5)");
  }
  if (!big && p.big)
    fail(a.ctx,
         "4K PVALIDATE inside a 2M RMP page succeeded (#NPF SIZEM expected, PLATFORM-FACTS 4.5)");
  if (r.cf != (p.validated == validate)) {
    fail(a.ctx, "PVALIDATE CF %d, expected %d (Validated was %d)", r.cf, p.validated == validate,
         p.validated);
  }
  if (!r.cf) a.shadow.apply_pvalidate(pfn, big, validate, c.asid.value);
}

void guest_rmpadjust(Actors& a) {
  const uint64_t f = a.in.take(1);
  const bool big = (f & 3) == 0;
  uint64_t pfn = pick_guest_pfn(a);
  if (big && (f & 0x30) != 0) pfn &= ~(kPagesPer2M - 1);
  const GuestContext c = pick_ctx(a, pfn, true);
  const MappingSize mapping = a.pick_mapping(pfn);
  const GuestPageRef ref = make_ref(a, pfn, 0, mapping);
  const ShadowPage& p = a.shadow.page(pfn);
  const uint64_t t = a.in.take(1);
  const uint64_t target = t < 224 ? 1 + t % 3 : t;  // rarely 0 or > 3
  uint64_t perms = a.in.take(1) & perm::kAll;
  if ((f & 4) != 0) perms &= p.perms_of(c.vmpl.value);
  const bool vmsa_in = (f & 8) != 0 ? p.vmsa : (f & 0x40) != 0;
  uint64_t attrs = target | (perms << adjust::kPermShift) | (vmsa_in ? adjust::kVmsa : 0);
  if ((f & 0x80) != 0 && (t & 0x10) != 0) attrs ^= uint64_t{1} << (12 + a.in.take(1) % 52);
  const bool vmsa = (attrs & adjust::kVmsa) != 0;
  std::snprintf(a.ctx.desc, sizeof a.ctx.desc,
                "guest asid %u vmpl %u RMPADJUST %s attrs 0x%" PRIx64 " va 0x%" PRIx64
                " gpa 0x%" PRIx64 " hpa 0x%" PRIx64 " mapping %d",
                c.asid.value, c.vmpl.value, big ? "2M" : "4K", attrs, ref.va.value, ref.gpa.value,
                ref.hpa.value, int(mapping));
  const InsnResult r = rmpadjust(a.rmp, c, ref, big ? PageSize::k2M : PageSize::k4K, attrs);
  a.shadow.touch(pfn);
  if (r.fault) return check_insn_fault(a, r, ref, "RMPADJUST");
  if (r.rc != RmpRc::kSuccess) return;
  if (r.cf) fail(a.ctx, "RMPADJUST succeeded with CF set");
  // PLATFORM-FACTS 4.6: well-formed attrs, target VMPL less privileged than the caller [L],
  // owned page, size rules as PVALIDATE, permissions a subset of the caller's [3P VeriSMo].
  if ((attrs & adjust::kReservedMask) != 0 || target < 1 || target > 3 || target <= c.vmpl.value) {
    fail(a.ctx,
         "RMPADJUST succeeded with target VMPL %" PRIu64 " from VMPL %u (attrs 0x%" PRIx64
         "; PLATFORM-FACTS 4.6)",
         target, c.vmpl.value, attrs);
  }
  if (!owns(a, pfn, c, ref.gpa.value)) {
    fail(a.ctx,
         "RMPADJUST by asid %u succeeded on pfn 0x%" PRIx64
         " not assigned to it at gpa "
         "0x%" PRIx64 ": %s",
         c.asid.value, pfn, ref.gpa.value, p.entry().to_string().c_str());
  }
  if (big ? (!p.big || mapping == MappingSize::k4K || (ref.va.value & k2MMask) != 0 || vmsa)
          : p.big) {
    fail(a.ctx, "RMPADJUST %s succeeded against a %s RMP page (size rules, PLATFORM-FACTS 4.6)",
         big ? "2M" : "4K", p.big ? "2M" : "4K");
  }
  if ((perms & ~p.perms_of(c.vmpl.value)) != 0) {
    fail(a.ctx, "VMPL %u granted perms 0x%" PRIx64 " beyond its own 0x%x (PLATFORM-FACTS 4.6)",
         c.vmpl.value, perms, p.perms_of(c.vmpl.value));
  }
  // Only VMPL0 changes the VMSA bit. rmp.h (UNCONFIRMED) fails a change from VMPL > 0 with
  // FAIL_PERMISSION; edk2's AMD-authored SevSnpRmpAdjust comment says the change is ignored and
  // the instruction succeeds. Either way the bit stays: the shadow keeps it and the end-of-step
  // entry comparison catches any change.
  const bool new_vmsa = c.vmpl.value == 0 ? vmsa : p.vmsa;
  a.shadow.apply_rmpadjust(pfn, big, static_cast<unsigned>(target), static_cast<uint8_t>(perms),
                           new_vmsa);
}

void guest_access(Actors& a) {
  const uint64_t f = a.in.take(1);
  const uint64_t pfn = pick_guest_pfn(a);
  const GuestContext c = pick_ctx(a, pfn, false);
  const size_t len = size_t{1} << (f & 3);
  const uint64_t offset = (a.in.take(2) & kPageOffsetMask) & ~uint64_t{len - 1};
  const uint64_t t = (f >> 2) & 3;
  const AccessType type = t == 1   ? AccessType::kWrite
                          : t == 2 ? AccessType::kExecute
                                   : AccessType::kRead;
  const bool c_bit = ((f >> 4) & 3) != 0;
  const bool user = (f & 0x40) != 0;
  const MappingSize mapping = a.pick_mapping(pfn);
  const GuestPageRef ref = make_ref(a, pfn, offset, mapping);
  const bool walk = (f & 0x80) != 0 && (offset & 0x100) != 0;
  const GuestAccess acc{c, ref.gpa, ref.hpa, type, user, c_bit, mapping, walk};
  std::snprintf(a.ctx.desc, sizeof a.ctx.desc,
                "guest asid %u vmpl %u %s %s len %zu gpa 0x%" PRIx64 " hpa 0x%" PRIx64
                " mapping %d user %d walk %d",
                c.asid.value, c.vmpl.value, c_bit ? "private" : "shared", type_name(type), len,
                ref.gpa.value, ref.hpa.value, int(mapping), user, walk);
  const AccessResult r = check_guest_access(a.rmp, acc);
  a.shadow.touch(pfn);
  const ShadowPage& p = a.shadow.page(pfn);
  const bool rmp_page = a.shadow.is_rmp_page(pfn);
  const bool owned = owns(a, pfn, c, ref.gpa.value);
  const bool size_ok = (mapping != MappingSize::k4K) == p.big;
  const uint8_t need = type == AccessType::kRead    ? perm::kRead
                       : type == AccessType::kWrite ? perm::kWrite
                       : user                       ? perm::kUserExec
                                                    : perm::kSupervisorExec;
  const bool vmpl_ok = c.vmpl.value == 0 || ((p.perms_of(c.vmpl.value) & need) != 0 &&
                                             !(type == AccessType::kWrite && p.vmsa));
  const bool expect_allowed =
      c_bit ? owned && size_ok && p.validated && vmpl_ok : !p.assigned && !rmp_page;
  if (r.fault) {
    // Liveness: the guest can use its own memory (PLATFORM-FACTS 4.7 rules, in rmp.h's order).
    const Fault& fl = *r.fault;
    const bool vc_ok = fl.kind == Fault::Kind::kVc && c_bit && owned && size_ok && !p.validated &&
                       fl.error_code == kVcPageNotValidated && fl.address == ref.gpa.value;
    const bool npf_ok = fl.kind == Fault::Kind::kNpf && (fl.error_code & npf::kRmp) != 0 &&
                        ((fl.error_code & npf::kEnc) != 0) == c_bit && fl.address == ref.gpa.value;
    if (expect_allowed || !(vc_ok || npf_ok)) {
      fail(a.ctx, "guest access: expected %s, got %s (page %s)",
           expect_allowed ? "no fault" : "#NPF RMP or #VC 0x404", fl.to_string().c_str(),
           p.entry().to_string().c_str());
    }
    return;
  }
  // Allowed: the security invariants of issue 5.
  if (rmp_page) fail(a.ctx, "guest %s of RMP page pfn 0x%" PRIx64 " allowed", type_name(type), pfn);
  if (c_bit) {
    if (!owned) {
      fail(a.ctx,
           "guest asid %u %s of private page pfn 0x%" PRIx64
           " not assigned to it at gpa "
           "0x%" PRIx64 " allowed: %s",
           c.asid.value, type_name(type), pfn, ref.gpa.value, p.entry().to_string().c_str());
    }
    if (!p.validated || p.validated_by != c.asid.value) {
      fail(a.ctx, "guest asid %u %s of a page it had not validated allowed: %s", c.asid.value,
           type_name(type), p.entry().to_string().c_str());
    }
    if (!vmpl_ok) {
      fail(a.ctx, "guest VMPL %u %s without permission allowed: %s", c.vmpl.value, type_name(type),
           p.entry().to_string().c_str());
    }
    if (!size_ok)
      fail(a.ctx, "private access through a mapping of the wrong size allowed: %s",
           p.entry().to_string().c_str());
  } else if (p.assigned) {
    fail(a.ctx, "guest shared %s of assigned page pfn 0x%" PRIx64 " allowed: %s", type_name(type),
         pfn, p.entry().to_string().c_str());
  }
  if (!expect_allowed) fail(a.ctx, "guest access allowed against the rules");
  const Hpa hpa = ref.hpa;
  const bool inside = a.mem.contains(hpa, len);
  uint8_t bytes[8];
  if (type == AccessType::kWrite) {
    const uint64_t v = a.in.take(1);
    for (size_t i = 0; i < len; ++i) bytes[i] = static_cast<uint8_t>(v * 7 + i + c.asid.value);
    const std::span<const uint8_t> b(bytes, len);
    const bool ok = a.mem.write(hpa, b).has_value();
    if (ok != inside)
      fail(a.ctx, "Memory write at 0x%" PRIx64 ": ok %d, inside RAM %d", hpa.value, ok, inside);
    if (ok) a.shadow.record_write(hpa.value, b);
    return;
  }
  uint8_t want[8];
  const bool ok = a.mem.read(hpa, std::span<uint8_t>(bytes, len)).has_value();
  if (ok != inside)
    fail(a.ctx, "Memory read at 0x%" PRIx64 ": ok %d, inside RAM %d", hpa.value, ok, inside);
  if (!ok) return;
  a.shadow.expected_bytes(hpa.value, std::span<uint8_t>(want, len));
  for (size_t i = 0; i < len; ++i) {
    if (bytes[i] != want[i]) {
      fail(a.ctx, "guest %s: expected byte 0x%02x at hpa 0x%" PRIx64 ", got 0x%02x",
           type_name(type), want[i], hpa.value + i, bytes[i]);
    }
  }
}

}  // namespace snpemu::rmp::fuzz
