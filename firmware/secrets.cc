// firmware/secrets.cc: the secrets page SNP_LAUNCH_UPDATE(SECRETS) writes, with VMPCKs derived
// from the platform seed. PLATFORM-FACTS 8.8 [L asm/sev.h snp_secrets_page].
#include <bit>
#include <cstring>
#include <type_traits>

#include "firmware/firmware.h"
#include "firmware/ossl.h"

namespace snpemu::fw {

static_assert(std::endian::native == std::endian::little);
static_assert(std::is_trivially_copyable_v<SecretsPage>);

std::expected<std::array<Vmpck, 4>, FwError> derive_vmpcks(std::span<const uint8_t> platform_seed,
                                                           uint64_t guest_id) {
  if (platform_seed.size() < ModelVcek::kMinSeedSize) {
    return std::unexpected(ossl::error(ErrorKind::kBadLength, Status::kInvalidParam,
                                       "platform seed is " + std::to_string(platform_seed.size()) +
                                           " bytes, at least " +
                                           std::to_string(ModelVcek::kMinSeedSize) + " required"));
  }
  std::array<Vmpck, 4> keys{};
  for (uint8_t i = 0; i < 4; ++i) {
    std::array<uint8_t, 5 + 1 + 8> info{'V', 'M', 'P', 'C', 'K', i};
    std::memcpy(info.data() + 6, &guest_id, sizeof(guest_id));  // little-endian host
    if (auto r = ossl::hkdf_sha384(platform_seed, ossl::bytes_of("snpemu VMPCK"), info, keys[i]);
        !r) {
      return std::unexpected(r.error());
    }
  }
  return keys;
}

SecretsPage build_secrets_page(const std::array<Vmpck, 4>& vmpcks, const SecretsInputs& in) {
  SecretsPage page;
  page.version = kSecretsPageVersion;
  page.imi_en = in.imi_en ? 1 : 0;
  page.fms = in.fms;
  page.gosvw = in.gosvw;
  page.vmpck = vmpcks;
  page.tsc_factor = in.tsc_factor;
  return page;
}

std::array<uint8_t, 4096> serialize_secrets_page(const SecretsPage& page) {
  std::array<uint8_t, 4096> out;
  std::memcpy(out.data(), &page, out.size());
  return out;
}

std::expected<SecretsPage, FwError> parse_secrets_page(std::span<const uint8_t> bytes) {
  if (bytes.size() != sizeof(SecretsPage)) {
    return std::unexpected(
        ossl::error(ErrorKind::kBadLength, Status::kInvalidLength,
                    "secrets page is " + std::to_string(bytes.size()) + " bytes, expected 4096"));
  }
  SecretsPage page;
  std::memcpy(&page, bytes.data(), sizeof(page));
  return page;
}

}  // namespace snpemu::fw
