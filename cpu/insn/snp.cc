// cpu/insn/snp.cc: the SEV-SNP instructions on the core. Guest: PVALIDATE and RMPADJUST (in an
// SNP guest; the core translates RAX through the guest tables and the NPT, the rmp module
// applies the rules). Host: RMPUPDATE, PSMASH and RMPREAD as instructions and through the
// host-instruction path the hypervisor model uses. APM vol 3, the instruction pages;
// PLATFORM-FACTS 4.4-4.6 (operands, return codes, order of checks).
#include <cstring>

#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

// Result flags: CF from the rmp module, the other status flags cleared. UNCONFIRMED: the APM
// pages say CF reports "not updated"; clearing ZF/SF/OF/AF/PF follows the convention of the
// other SNP instructions as Linux reads them (it tests CF only).
void set_rmp_flags(Exec& x, const rmp::InsnResult& r) {
  x.s.rflags &= ~flag::kStatus;
  if (r.cf) x.s.rflags |= flag::kCf;
}

rmp::MappingSize mapping_of(mmu::PageSize s) {
  return s == mmu::PageSize::k4K ? rmp::MappingSize::k4K
         : s == mmu::PageSize::k2M ? rmp::MappingSize::k2M
                                   : rmp::MappingSize::k1G;
}

bool in_snp_guest(const Core& c) { return c.in_guest() && c.guest_mode().snp && c.config().rmp; }

// The page operand of PVALIDATE / RMPADJUST: RAX translated like a data read (a guest #PF or
// an NPF on the way is raised as usual).
Result<rmp::GuestPageRef> page_operand(Exec& x) {
  uint64_t bus_error = kNoBusError;
  const uint64_t va = x.s.gpr[kRax];
  auto t = x.core.translate_full(va, LinearAccess{mmu::AccessKind::kRead, false}, &bus_error,
                                 /*rmp_check=*/false);
  if (!t) {
    if (bus_error != kNoBusError) return std::unexpected(Outcome{Outcome::Kind::kBusError, {}, bus_error});
    return std::unexpected(raise(t.error()));
  }
  return rmp::GuestPageRef{Gva{va}, Gpa{t->gpa}, Hpa{t->pa}, mapping_of(t->size)};
}

Outcome finish(Exec& x, const rmp::InsnResult& r) {
  if (r.fault) return raise(x.core.rmp_fault(*r.fault));
  x.s.gpr[kRax] = static_cast<uint32_t>(r.rc);
  set_rmp_flags(x, r);
  return kNext;
}

// PVALIDATE: RAX = guest VA, ECX[0] = page size, EDX[0] = validate. #UD outside an SNP guest.
Outcome PVALIDATE(Exec& x) {
  if (!in_snp_guest(x.core)) return raise(ud());
  auto page = page_operand(x);
  if (!page) return page.error();
  const auto size = (x.s.gpr[kRcx] & 1) ? rmp::PageSize::k2M : rmp::PageSize::k4K;
  const rmp::GuestContext ctx{x.core.guest_mode().asid, x.core.guest_mode().vmpl};
  return finish(x, rmp::pvalidate(*x.core.config().rmp, ctx, *page, size, (x.s.gpr[kRdx] & 1) != 0));
}

// RMPADJUST: RAX = guest VA, ECX[0] = page size, RDX = attributes. #UD outside an SNP guest.
Outcome RMPADJUST(Exec& x) {
  if (!in_snp_guest(x.core)) return raise(ud());
  auto page = page_operand(x);
  if (!page) return page.error();
  const auto size = (x.s.gpr[kRcx] & 1) ? rmp::PageSize::k2M : rmp::PageSize::k4K;
  const rmp::GuestContext ctx{x.core.guest_mode().asid, x.core.guest_mode().vmpl};
  return finish(x, rmp::rmpadjust(*x.core.config().rmp, ctx, *page, size, x.s.gpr[kRdx]));
}

// Host instructions: #UD without SNP or inside a guest (CPL 0 is the decode row's check).
bool host_snp(const Core& c) { return !c.in_guest() && c.config().rmp != nullptr; }

Outcome host_result(Exec& x, const rmp::InsnResult& r) {
  if (r.fault) {
    // A host-side RMP instruction fault (UNCONFIRMED which ones exist) is a #PF on the host.
    return raise(Fault{Vector::kPf, true, static_cast<uint32_t>(r.fault->error_code), r.fault->address});
  }
  x.s.gpr[kRax] = static_cast<uint32_t>(r.rc);
  set_rmp_flags(x, r);
  return kNext;
}

// RMPUPDATE: RAX = host PA, RCX = linear address of the 16-byte new state.
Outcome RMPUPDATE(Exec& x) {
  if (!host_snp(x.core)) return raise(ud());
  rmp::RmpStateView v{};
  static_assert(sizeof v == 16);
  if (Outcome o = x.load_bytes(x.s.gpr[kRcx], std::span(reinterpret_cast<uint8_t*>(&v), sizeof v));
      o.kind != Outcome::Kind::kNext) {
    return o;
  }
  return host_result(x, rmp::rmpupdate(*x.core.config().rmp, Hpa{x.s.gpr[kRax]}, v));
}

// PSMASH: RAX = host PA of a 2 MiB page.
Outcome PSMASH(Exec& x) {
  if (!host_snp(x.core)) return raise(ud());
  return host_result(x, rmp::psmash(*x.core.config().rmp, Hpa{x.s.gpr[kRax]}));
}

// RMPREAD: RAX = host PA, RCX = linear address receiving the 16-byte state.
Outcome RMPREAD(Exec& x) {
  if (!host_snp(x.core)) return raise(ud());
  const rmp::RmpReadResult r = rmp::rmpread(*x.core.config().rmp, Hpa{x.s.gpr[kRax]});
  if (!r.result.fault && r.result.rc == rmp::RmpRc::kSuccess) {
    if (Outcome o = x.store_bytes(x.s.gpr[kRcx], std::span(reinterpret_cast<const uint8_t*>(&r.view), sizeof r.view));
        o.kind != Outcome::Kind::kNext) {
      return o;
    }
  }
  return host_result(x, r.result);
}

}  // namespace

std::expected<rmp::InsnResult, Fault> Core::rmpupdate(uint64_t hpa, const rmp::RmpStateView& state) {
  if (guest_active_ || config_.rmp == nullptr) return std::unexpected(ud());
  if (state_.cpl != 0) return std::unexpected(gp(0));
  charge(Cost::kRmpupdate);
  return rmp::rmpupdate(*config_.rmp, Hpa{hpa}, state);
}

std::expected<rmp::InsnResult, Fault> Core::psmash(uint64_t hpa) {
  if (guest_active_ || config_.rmp == nullptr) return std::unexpected(ud());
  if (state_.cpl != 0) return std::unexpected(gp(0));
  charge(Cost::kPsmash);
  return rmp::psmash(*config_.rmp, Hpa{hpa});
}

void register_snp(HandlerTable& t) {
  using I = InsnId;
  set(t, I::PVALIDATE, &PVALIDATE);
  set(t, I::RMPADJUST, &RMPADJUST);
  set(t, I::RMPUPDATE, &RMPUPDATE);
  set(t, I::PSMASH, &PSMASH);
  set(t, I::RMPREAD, &RMPREAD);
}

}  // namespace snpemu::cpu
