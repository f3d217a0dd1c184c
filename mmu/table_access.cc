// mmu/table_access.cc: FlatTableAccess, page-table entries read straight from Memory.
#include "emu/mem/memory.h"
#include "mmu/mmu.h"

namespace snpemu::mmu {

std::expected<uint64_t, Fault> FlatTableAccess::read_entry(uint64_t entry_pa) {
  ++reads_;
  auto v = memory_.read64(Hpa{entry_pa});
  if (!v) return std::unexpected(Fault{Fault::Kind::kBadTableAddress, 0, entry_pa});
  return *v;
}

std::expected<void, Fault> FlatTableAccess::set_bits(uint64_t entry_pa, uint64_t bits) {
  ++writes_;
  // APM vol 2, 5.4.2: A/D updates are locked read-modify-writes; a core runs alone within its
  // quantum here, so a plain read then write is the same operation.
  auto v = memory_.read64(Hpa{entry_pa});
  if (!v) return std::unexpected(Fault{Fault::Kind::kBadTableAddress, 0, entry_pa});
  if (!memory_.write64(Hpa{entry_pa}, *v | bits)) {
    return std::unexpected(Fault{Fault::Kind::kBadTableAddress, 0, entry_pa});
  }
  return {};
}

}  // namespace snpemu::mmu
