// test/rmp_fuzz/actors.h: the input decoder and the two malicious actors' operations.
//   host.cc   hypervisor: RMPUPDATE, PSMASH, RMPREAD, host reads/writes, VMSA in-use marking
//   guest.cc  SNP guests (several ASIDs, VMPL 0-3): PVALIDATE, RMPADJUST, reads/writes/fetches
// Each op decodes its operands, runs the rmp/ function, checks the outcome against the shadow
// (fail() on a broken invariant) and applies its effects to Memory and the shadow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "test/rmp_fuzz/shadow.h"

namespace snpemu::rmp::fuzz {

/// Consumes the input; reads past the end as zeros (so every input decodes).
struct Reader {
  const uint8_t* p;
  size_t n;
  size_t offset;  // offset of `p` in the whole input
  uint64_t take(size_t bytes) {
    uint64_t v = 0;
    const size_t k = bytes < n ? bytes : n;
    std::memcpy(&v, p, k);
    p += k;
    n -= k;
    offset += k;
    return v;
  }
};

struct Actors {
  const Layout& layout;
  Memory& mem;
  Rmp& rmp;
  Shadow& shadow;
  StepContext& ctx;
  Reader& in;

  /// A host page: mostly one of a few pages of each 2 MiB region or a recently assigned page,
  /// sometimes any page, an RMP page, or beyond RAM (near it or anywhere in 52 bits).
  uint64_t pick_pfn();
  /// Mapping size: mostly the one matching the shadow's RMP page size, else any.
  MappingSize pick_mapping(uint64_t pfn);
};

void host_rmpupdate(Actors& a);
void host_psmash(Actors& a);
void host_rmpread(Actors& a);
void host_read(Actors& a);
void host_write(Actors& a);
void host_vmsa_in_use(Actors& a);

void guest_pvalidate(Actors& a);
void guest_rmpadjust(Actors& a);
void guest_access(Actors& a);

}  // namespace snpemu::rmp::fuzz
