// mmu/rights_internal.h: package-private. The access-rights check (APM vol 2, 5.6) and the
// #PF error-code bits of an access (APM vol 2, 8.4.2), inline so that the TLB hit path in
// tlb.cc and the walk in walk.cc share one definition without a call.
#pragma once

#include <cstdint>

#include "mmu/mmu.h"

namespace snpemu::mmu::internal {

// The error-code bits that describe the access itself (APM vol 2, 8.4.2).
inline uint64_t access_bits(const PagingRegs& regs, const PagingConfig& config, Access access) {
  uint64_t ec = 0;
  if (access.kind == AccessKind::kWrite) ec |= kPfW;
  // APM vol 2, 8.4.2: U/S = 1 when the access was made in user mode. Implicit supervisor
  // accesses are supervisor-mode accesses. UNCONFIRMED: the APM words U/S by CPL only; this
  // follows the Intel SDM 4.7 / KVM treatment of implicit accesses (U/S = 0 at CPL 3).
  if (access.is_user()) ec |= kPfU;
  // APM vol 2, 8.4.2: I/D "is only defined if the no-execute feature is enabled (EFER.NXE=1 &&
  // CR4.PAE=1)" (PAE is always 1 in long mode). PagingConfig::id_bit_with_smep adds the Intel
  // SDM 4.7 rule (also when CR4.SMEP=1).
  const bool id_defined =
      (regs.efer & kEferNxe) || (config.id_bit_with_smep && (regs.cr4 & kCr4Smep));
  if (access.kind == AccessKind::kFetch && id_defined) ec |= kPfId;
  return ec;
}

inline uint64_t rights_error(const Translation& t, const PagingRegs& regs,
                             const PagingConfig& config, Access access) {
  const bool user = access.is_user();
  const bool wp = (regs.cr0 & kCr0Wp) != 0;
  // APM vol 2, 5.6 SMAP: a supervisor data access to a user page faults when CR4.SMAP=1,
  // unless it is an explicit access with RFLAGS.AC=1; implicit supervisor accesses always fault.
  const bool smap = (regs.cr4 & kCr4Smap) && t.user && !user &&
                    (access.implicit_supervisor || !(regs.rflags & kRflagsAc));
  bool fault = false;
  switch (access.kind) {
    case AccessKind::kFetch:
      // APM vol 2, 5.6: NX=1 at any level forbids fetches (when EFER.NXE=1).
      if (!t.executable) fault = true;
      // APM vol 2, 5.6: user mode may only touch pages with U/S=1 at every level.
      if (user && !t.user) fault = true;
      // APM vol 2, 5.6 SMEP: supervisor fetches from user pages fault when CR4.SMEP=1.
      if (!user && t.user && (regs.cr4 & kCr4Smep)) fault = true;
      break;
    case AccessKind::kWrite:
      if (user) {
        if (!t.user || !t.writable) fault = true;
      } else {
        // APM vol 2, 5.6: supervisor writes to read-only pages fault only when CR0.WP=1.
        if (!t.writable && wp) fault = true;
        if (smap) fault = true;
      }
      break;
    case AccessKind::kRead:
      if (user && !t.user) fault = true;
      if (smap) fault = true;
      break;
  }
  uint64_t pk = 0;
  // APM vol 2, 5.6 protection keys: data accesses to user pages (U/S=1) are checked against
  // PKRU[2k] (AD, access disable) and PKRU[2k+1] (WD, write disable; supervisor writes only when
  // CR0.WP=1). Instruction fetches are not checked.
  if ((regs.cr4 & kCr4Pke) && t.user && access.kind != AccessKind::kFetch) {
    const uint32_t ad = (regs.pkru >> (2 * t.pkey)) & 1;
    const uint32_t wd = (regs.pkru >> (2 * t.pkey + 1)) & 1;
    if (ad || (access.kind == AccessKind::kWrite && wd && (user || wp))) pk = kPfPk;
  }
  // UNCONFIRMED: PK is ORed in independently of other violations, as KVM's permission_fault
  // computes it; the APM does not say which bits accompany a combined violation.
  if (!fault && pk == 0) return 0;
  return kPfP | access_bits(regs, config, access) | pk;
}

}  // namespace snpemu::mmu::internal
