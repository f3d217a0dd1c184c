// emu/memcrypt/memcrypt.cc: the keystream and the key slots (see memcrypt.h).
#include "emu/memcrypt/memcrypt.h"

#include <algorithm>
#include <cstring>

namespace snpemu::memcrypt {
namespace {

// A 64-bit mixing function (the splitmix64 finaliser: Steele, Lea, Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014). Any good avalanche function would do.
constexpr uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// The 16 keystream bytes of the block at `block` (an address divided by 16).
inline void block_stream(const Key& key, uint64_t block, uint64_t out[2]) {
  const uint64_t t = mix(block ^ key.lo);
  out[0] = mix(t ^ key.hi);
  out[1] = mix(out[0] ^ key.lo ^ 0x9E3779B97F4A7C15ull);
}

}  // namespace

void apply(const Key& key, uint64_t hpa, std::span<uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const uint64_t at = hpa + done;
    const size_t in_block = at & 15;
    const size_t n = std::min<size_t>(16 - in_block, bytes.size() - done);
    uint64_t ks[2];
    block_stream(key, at >> 4, ks);
    uint8_t stream[16];
    std::memcpy(stream, ks, 16);
    for (size_t i = 0; i < n; ++i) bytes[done + i] ^= stream[in_block + i];
    done += n;
  }
}

KeyTable::KeyTable(uint32_t max_asid) : slots_(size_t{max_asid} + 1) {}

bool KeyTable::install(Asid asid, const Key& key) {
  if (asid.value >= slots_.size()) return false;
  Slot& s = slots_[asid.value];
  s.valid = true;
  s.key = key;
  ++s.generation;
  return true;
}

bool KeyTable::remove(Asid asid) {
  if (asid.value >= slots_.size()) return false;
  Slot& s = slots_[asid.value];
  s.valid = false;
  s.key = Key{};
  ++s.generation;
  return true;
}

std::optional<Key> KeyTable::key(Asid asid) const {
  if (asid.value >= slots_.size() || !slots_[asid.value].valid) return std::nullopt;
  return slots_[asid.value].key;
}

uint32_t KeyTable::generation(Asid asid) const {
  return asid.value < slots_.size() ? slots_[asid.value].generation : 0;
}

}  // namespace snpemu::memcrypt
