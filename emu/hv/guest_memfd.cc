// emu/hv/guest_memfd.cc: one guest_memfd instance (lookups; Vm drives allocation and binding).
#include <iterator>

#include "emu/hv/hv.h"

namespace snpemu::hv {

const GuestMemfd::Page* GuestMemfd::page(uint64_t index) const {
  auto it = pages_.find(index);
  return it == pages_.end() ? nullptr : &it->second;
}

std::optional<uint16_t> GuestMemfd::binding(uint64_t index) const {
  auto it = bindings_.upper_bound(index);
  if (it == bindings_.begin()) return std::nullopt;
  --it;
  if (index >= it->second.end) return std::nullopt;
  return it->second.slot_id;
}

}  // namespace snpemu::hv
