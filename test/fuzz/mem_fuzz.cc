// test/fuzz/mem_fuzz.cc: random operation sequences on Memory, checked against a flat array.
//
// Invariants: every access inside RAM behaves as the flat array; every access that leaves RAM
// (including 64-bit address wrap-around) fails with kOutOfRange and changes nothing.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "emu/mem/memory.h"

namespace {

constexpr uint64_t kSize = 16 * snpemu::kPageSize;

struct Reader {
  const uint8_t* p;
  size_t n;
  uint64_t take(size_t bytes) {
    uint64_t v = 0;
    const size_t k = bytes < n ? bytes : n;
    std::memcpy(&v, p, k);
    p += k;
    n -= k;
    return v;
  }
};

[[noreturn]] void fail(const char* what, uint64_t pa) {
  std::fprintf(stderr, "mem_fuzz invariant broken: %s at pa 0x%llx\n", what,
               static_cast<unsigned long long>(pa));
  std::abort();
}

// Picks addresses mostly near page and RAM boundaries, sometimes anywhere in 64 bits.
uint64_t pick_address(Reader& in) {
  const uint64_t sel = in.take(1);
  const uint64_t raw = in.take(8);
  switch (sel & 3) {
    case 0:
      return raw % (kSize + 64);
    case 1:
      return ((raw >> 8) % 17) * snpemu::kPageSize - (raw & 15);
    case 2:
      return kSize - (raw & 31);
    default:
      return raw;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using snpemu::Hpa;
  auto created = snpemu::Memory::create(kSize);
  if (!created) fail("create", 0);
  snpemu::Memory& mem = **created;
  std::vector<uint8_t> ref(kSize, 0);
  Reader in{data, size};
  while (in.n > 0) {
    const uint64_t op = in.take(1) % 5;
    const uint64_t pa = pick_address(in);
    const uint64_t len = in.take(2) % (3 * snpemu::kPageSize);
    const bool inside = pa <= kSize && len <= kSize - pa;
    switch (op) {
      case 0: {  // span write
        std::vector<uint8_t> buf(len, static_cast<uint8_t>(in.take(1)));
        for (size_t i = 0; i < buf.size(); i += 97) buf[i] ^= static_cast<uint8_t>(i);
        const bool ok = mem.write(Hpa{pa}, buf).has_value();
        if (ok != inside) fail("write range check", pa);
        if (ok && len > 0) std::memcpy(ref.data() + pa, buf.data(), len);
        break;
      }
      case 1: {  // span read
        std::vector<uint8_t> buf(len, 0xCC);
        const bool ok = mem.read(Hpa{pa}, buf).has_value();
        if (ok != inside) fail("read range check", pa);
        if (ok && len > 0 && std::memcmp(buf.data(), ref.data() + pa, len) != 0)
          fail("read contents", pa);
        break;
      }
      case 2: {  // fill
        const uint8_t v = static_cast<uint8_t>(in.take(1));
        const bool ok = mem.fill(Hpa{pa}, len, v).has_value();
        if (ok != inside) fail("fill range check", pa);
        if (ok && len > 0) std::memset(ref.data() + pa, v, len);
        break;
      }
      case 3: {  // 8-byte store then 1/2/4/8-byte loads
        const uint64_t v = in.take(8);
        const bool ok8 = pa <= kSize && 8 <= kSize - pa;
        if (mem.write64(Hpa{pa}, v).has_value() != ok8) fail("store range check", pa);
        if (ok8) std::memcpy(ref.data() + pa, &v, 8);
        break;
      }
      default: {
        const bool ok4 = pa <= kSize && 4 <= kSize - pa;
        auto r = mem.read32(Hpa{pa});
        if (r.has_value() != ok4) fail("load range check", pa);
        if (!r && r.error().kind != snpemu::MemError::Kind::kOutOfRange) fail("error kind", pa);
        if (r) {
          uint32_t want;
          std::memcpy(&want, ref.data() + pa, 4);
          if (*r != want) fail("load contents", pa);
        }
        break;
      }
    }
  }
  // Final full comparison.
  std::vector<uint8_t> all(kSize);
  if (!mem.read(Hpa{0}, all) || all != ref) fail("final contents", 0);
  return 0;
}
