// firmware/abi_types.h: the byte-array vocabulary of the SNP firmware ABI (SHA-384 digests,
// VMPCKs) shared by the layout tables. Included by firmware/firmware.h; include that instead.
#pragma once

#include <array>
#include <cstdint>

namespace snpemu::fw {

using Digest384 = std::array<uint8_t, 48>;  // a SHA-384 digest
using Vmpck = std::array<uint8_t, 32>;      // an AES-256-GCM VM platform communication key

}  // namespace snpemu::fw
