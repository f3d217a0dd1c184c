// firmware/id_block_layout.h: the ID block, the ID authentication structure and the firmware's
// public-key format that SNP_LAUNCH_FINISH reads; pure layout tables, every offset
// static_assert'ed (PLATFORM-FACTS 8.4). Included by firmware/firmware.h; include that instead.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "firmware/abi_types.h"
#include "firmware/report_layout.h"

namespace snpemu::fw {

/// A public key in the firmware's format (1028 bytes): curve 2 = P-384, Qx and Qy little-endian
/// zero-padded to 72 bytes. PLATFORM-FACTS 8.4 [3P sev-snp-measure id_block.py].
struct SnpPublicKey {
  uint32_t curve = 2;
  std::array<uint8_t, 72> qx{};
  std::array<uint8_t, 72> qy{};
  std::array<uint8_t, 880> reserved{};
};
static_assert(offsetof(SnpPublicKey, qy) == 0x4C);
static_assert(sizeof(SnpPublicKey) == 1028);
inline constexpr uint32_t kCurveP384 = 2;

/// The ID block SNP_LAUNCH_FINISH may carry (96 bytes). PLATFORM-FACTS 8.4.
struct IdBlock {
  Digest384 ld{};  // expected launch digest
  std::array<uint8_t, 16> family_id{};
  std::array<uint8_t, 16> image_id{};
  uint32_t version = 1;
  uint32_t guest_svn = 0;
  uint64_t policy = 0;
};
static_assert(offsetof(IdBlock, version) == 0x50);
static_assert(offsetof(IdBlock, policy) == 0x58);
static_assert(sizeof(IdBlock) == 96);

/// The ID authentication information structure (4096 bytes). PLATFORM-FACTS 8.4.
struct IdAuth {
  uint32_t id_key_algo = kSigAlgoEcdsaP384Sha384;
  uint32_t auth_key_algo = kSigAlgoEcdsaP384Sha384;
  std::array<uint8_t, 56> reserved1{};
  EcdsaSignature id_block_sig{};  // by the ID key, over the 96-byte ID block
  SnpPublicKey id_key{};
  std::array<uint8_t, 60> reserved2{};
  EcdsaSignature id_key_sig{};  // by the author key, over the 1028-byte ID key
  SnpPublicKey author_key{};
  std::array<uint8_t, 892> reserved3{};
};
static_assert(offsetof(IdAuth, id_block_sig) == 0x040);
static_assert(offsetof(IdAuth, id_key) == 0x240);
static_assert(offsetof(IdAuth, id_key_sig) == 0x680);
static_assert(offsetof(IdAuth, author_key) == 0x880);
static_assert(sizeof(IdAuth) == 4096);

}  // namespace snpemu::fw
