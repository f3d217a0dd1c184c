// rmp/entry.cc: RMP entry text forms and the architected 16-byte state view codec.
#include <cinttypes>
#include <cstdio>

#include "rmp/rmp.h"

namespace snpemu::rmp {

// Compile-time codec checks: every field lands in its documented bit and round-trips.
static_assert(encode(RmpEntry{.assigned = true}).lo == raw::kAssigned);
static_assert(encode(RmpEntry{.page_size = PageSize::k2M}).lo == raw::kPageSize2M);
static_assert(encode(RmpEntry{.immutable = true}).lo == raw::kImmutable);
static_assert(encode(RmpEntry{.validated = true}).lo == raw::kValidated);
static_assert(encode(RmpEntry{.vmsa = true}).lo == raw::kVmsa);
static_assert(encode(RmpEntry{.asid = Asid{1023}}).lo == uint64_t{1023} << 51);
static_assert(encode(RmpEntry{.gpa = Gpa{0x7FFF'FFFF'F000}}).lo == 0x7FFF'FFFF'F000);
static_assert(encode(RmpEntry{.vmpl_perms = {0x1, 0x2, 0x8}}).hi == 0x0008'0201'00);
static_assert(decode(encode(RmpEntry{true, PageSize::k2M, true, true, true, Asid{77},
                                     Gpa{0x4'0020'0000}, {0xF, 0x3, 0x5}})) ==
              RmpEntry{true, PageSize::k2M, true, true, true, Asid{77}, Gpa{0x4'0020'0000},
                       {0xF, 0x3, 0x5}});
static_assert(encode(RmpEntry{}) == RawRmpEntry{});  // all-zero == unassigned (sparse memory)

std::string RmpEntry::to_string() const {
  if (!assigned && *this == RmpEntry{}) return "unassigned";
  char buf[192];
  std::snprintf(buf, sizeof buf, "%s %s asid %" PRIu32 " gpa 0x%" PRIx64 "%s%s%s perms %x/%x/%x",
                assigned ? "assigned" : "unassigned", page_size == PageSize::k2M ? "2M" : "4K",
                asid.value, gpa.value, immutable ? " immutable" : "", validated ? " validated" : "",
                vmsa ? " vmsa" : "", vmpl_perms[0], vmpl_perms[1], vmpl_perms[2]);
  return buf;
}

RmpStateView state_view_from_bytes(const std::array<uint8_t, 16>& bytes) {
  RmpStateView v;
  std::memcpy(&v.gpa, bytes.data(), 8);  // little-endian host, as the emulated machine
  v.assigned = bytes[8];
  v.pagesize = bytes[9];
  v.immutable = bytes[10];
  v.rsvd = bytes[11];
  std::memcpy(&v.asid, bytes.data() + 12, 4);
  return v;
}

std::array<uint8_t, 16> state_view_to_bytes(const RmpStateView& view) {
  std::array<uint8_t, 16> b{};
  std::memcpy(b.data(), &view.gpa, 8);
  b[8] = view.assigned;
  b[9] = view.pagesize;
  b[10] = view.immutable;
  b[11] = view.rsvd;
  std::memcpy(b.data() + 12, &view.asid, 4);
  return b;
}

}  // namespace snpemu::rmp
