// firmware/mailbox_internal.h: package-private helpers of the mailbox: reading command buffers
// and naming the RMP page states listed in firmware.h's mailbox section.
#pragma once

#include <cstring>
#include <string>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw::detail {

/// The RMP page states the firmware tells apart (firmware.h, mailbox section).
inline bool is_hypervisor(const rmp::RmpEntry& e) { return e == rmp::RmpEntry{}; }
inline bool is_firmware(const rmp::RmpEntry& e) {
  return e.assigned && e.asid.value == 0 && e.immutable && !e.validated && !e.vmsa &&
         e.page_size == rmp::PageSize::k4K;
}
inline bool is_context(const rmp::RmpEntry& e) {
  return e.assigned && e.asid.value == 0 && e.immutable && e.validated && !e.vmsa &&
         e.page_size == rmp::PageSize::k4K;
}
inline rmp::RmpEntry firmware_entry() {
  rmp::RmpEntry e;
  e.assigned = true;
  e.immutable = true;
  return e;
}
inline rmp::RmpEntry context_entry() {
  rmp::RmpEntry e = firmware_entry();
  e.validated = true;
  return e;
}
inline rmp::RmpEntry hv_fixed_entry() {
  rmp::RmpEntry e;
  e.immutable = true;
  return e;
}

/// Little-endian load from a byte buffer.
template <class T>
T load_le(std::span<const uint8_t> b, size_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

/// Byte image of a trivially copyable struct.
template <class T>
std::span<const uint8_t> bytes_of(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof(T)};
}

}  // namespace snpemu::fw::detail
