// firmware/sev_keys.cc: the keys of a legacy SEV guest, derived deterministically from the
// platform seed (real firmware draws them at random), and the LAUNCH_MEASURE HMAC.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {

std::expected<SevGuestKeys, FwError> derive_sev_guest_keys(std::span<const uint8_t> platform_seed,
                                                           uint32_t handle) {
  if (platform_seed.size() < ModelVcek::kMinSeedSize) {
    return std::unexpected(ossl::error(ErrorKind::kBadLength, Status::kInvalidParam,
                                       "platform seed is " + std::to_string(platform_seed.size()) +
                                           " bytes, at least " +
                                           std::to_string(ModelVcek::kMinSeedSize) + " required"));
  }
  constexpr std::string_view kLabel = "SEV guest keys v1";
  std::array<uint8_t, kLabel.size() + 4> info{};
  std::memcpy(info.data(), kLabel.data(), kLabel.size());
  std::memcpy(info.data() + kLabel.size(), &handle, 4);  // little-endian host (layout header)
  std::array<uint8_t, 64> okm{};
  if (auto r = ossl::hkdf_sha384(platform_seed, ossl::bytes_of("snpemu legacy SEV"), info, okm);
      !r) {
    return std::unexpected(r.error());
  }
  SevGuestKeys k;
  std::memcpy(&k.vek.lo, okm.data(), 8);
  std::memcpy(&k.vek.hi, okm.data() + 8, 8);
  std::memcpy(k.tek.data(), okm.data() + 16, 16);
  std::memcpy(k.tik.data(), okm.data() + 32, 16);
  std::memcpy(k.mnonce.data(), okm.data() + 48, 16);
  return k;
}

std::expected<std::array<uint8_t, 32>, FwError> sev_launch_measurement(
    const std::array<uint8_t, 16>& tik, uint8_t api_major, uint8_t api_minor, uint8_t build,
    uint32_t policy, const std::array<uint8_t, 32>& launch_digest,
    const std::array<uint8_t, 16>& mnonce) {
  // SEV API spec LAUNCH_MEASURE: 0x04 || API_MAJOR || API_MINOR || BUILD || GCTX.POLICY ||
  // GCTX.LD || MNONCE (policy little endian, 4 bytes).
  std::array<uint8_t, 1 + 3 + 4 + 32 + 16> msg{};
  msg[0] = 0x04;
  msg[1] = api_major;
  msg[2] = api_minor;
  msg[3] = build;
  std::memcpy(msg.data() + 4, &policy, 4);
  std::memcpy(msg.data() + 8, launch_digest.data(), 32);
  std::memcpy(msg.data() + 40, mnonce.data(), 16);
  std::array<uint8_t, 32> out{};
  unsigned int out_len = 0;
  if (HMAC(EVP_sha256(), tik.data(), static_cast<int>(tik.size()), msg.data(), msg.size(),
           out.data(), &out_len) == nullptr ||
      out_len != out.size()) {
    return std::unexpected(ossl::crypto_error("HMAC-SHA256"));
  }
  return out;
}

}  // namespace snpemu::fw
