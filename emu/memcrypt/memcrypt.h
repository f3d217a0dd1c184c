// emu/memcrypt/memcrypt.h: the memory controller's encryption engine, as SEV uses it.
//
// On hardware every access carrying the C-bit is encrypted by the memory controller with the
// key of the accessing guest's ASID (AES with an address-based tweak, APM vol 2, 7.10 and
// 15.34), so the same plaintext at two addresses or under two keys gives unrelated ciphertext,
// and whoever reads a guest's private page without its key (the hypervisor, another guest, a
// C=0 access of the guest itself) sees only ciphertext. The AMD-SP installs a guest's key in the
// slot of its ASID (SNP_ACTIVATE) and removes it at DECOMMISSION.
//
// This model keeps those properties with a fast keyed keystream instead of AES (ARCHITECTURE.md,
// "Memory encryption"): each 16-byte block is XORed with 16 bytes derived from (key, block
// address). It is NOT cryptographically strong -- nothing here protects real secrets -- but it is
// deterministic, cheap (a few multiplies per block), its own inverse, and it makes every
// mistake of the real design visible: wrong key, wrong address (a page moved without
// re-encryption), or a C-bit mismatch all read as garbage.
//
//   memcrypt.cc   Key, KeyTable (slots by ASID, with a generation per install), apply()
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/types.h"

namespace snpemu::memcrypt {

/// A memory encryption key (the model's stand-in for a 128-bit AES key).
struct Key {
  uint64_t lo = 0;
  uint64_t hi = 0;
  constexpr bool operator==(const Key&) const = default;
};

/// XORs `bytes`, which start at host-physical address `hpa`, with the keystream of `key`. The
/// keystream of each 16-byte-aligned block depends on the key and the block's address only, so
/// encrypting and decrypting are the same call and any byte range may be processed piecewise.
void apply(const Key& key, uint64_t hpa, std::span<uint8_t> bytes);

/// The key slots of the memory controller, indexed by ASID (slot 0: the host's SME key).
class KeyTable {
 public:
  /// Slots for ASIDs 0 .. max_asid.
  explicit KeyTable(uint32_t max_asid = 1006);
  /// Installs `key` for `asid` (SNP_ACTIVATE / ACTIVATE); false if the ASID has no slot.
  bool install(Asid asid, const Key& key);
  /// Clears the slot (DECOMMISSION / DEACTIVATE); false if the ASID has no slot.
  bool remove(Asid asid);
  /// The key of `asid`, or nullopt if none is installed (an access then uses no valid key: the
  /// caller decides what it reads; the core uses the all-zero key, i.e. garbage).
  std::optional<Key> key(Asid asid) const;
  /// Incremented by every install() and remove() of that slot: caches of decrypted data (the
  /// core's predecode cache) tag their entries with it.
  uint32_t generation(Asid asid) const;
  uint32_t max_asid() const { return static_cast<uint32_t>(slots_.size()) - 1; }

 private:
  struct Slot {
    bool valid = false;
    Key key{};
    uint32_t generation = 0;
  };
  std::vector<Slot> slots_;
};

}  // namespace snpemu::memcrypt
