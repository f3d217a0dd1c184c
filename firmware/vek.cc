// firmware/vek.cc: the VM encryption key (VEK) of a guest context, derived deterministically from
// the platform seed (real firmware draws it from the AMD-SP's random number generator).
#include <bit>
#include <cstring>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {

static_assert(std::endian::native == std::endian::little);

std::expected<memcrypt::Key, FwError> derive_vek(std::span<const uint8_t> platform_seed,
                                                 uint64_t guest_id, Pfn gctx) {
  if (platform_seed.size() < ModelVcek::kMinSeedSize) {
    return std::unexpected(ossl::error(ErrorKind::kBadLength, Status::kInvalidParam,
                                       "platform seed is " + std::to_string(platform_seed.size()) +
                                           " bytes, at least " +
                                           std::to_string(ModelVcek::kMinSeedSize) + " required"));
  }
  std::array<uint8_t, 6 + 8 + 8> info{'V', 'E', 'K', ' ', 'v', '1'};
  std::memcpy(info.data() + 6, &guest_id, 8);     // little-endian host (asserted above)
  std::memcpy(info.data() + 14, &gctx.value, 8);
  std::array<uint8_t, 16> okm{};
  if (auto r = ossl::hkdf_sha384(platform_seed, ossl::bytes_of("snpemu VEK"), info, okm); !r) {
    return std::unexpected(r.error());
  }
  memcrypt::Key key;
  std::memcpy(&key.lo, okm.data(), 8);
  std::memcpy(&key.hi, okm.data() + 8, 8);
  return key;
}

}  // namespace snpemu::fw
