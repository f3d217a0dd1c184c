// firmware/status_code.h: the SNP firmware status codes (a pure table of spec values). Included
// by firmware/firmware.h; include that instead.
#pragma once

#include <cstdint>

namespace snpemu::fw {

/// SNP firmware status codes. PLATFORM-FACTS 8.9 [L uapi psp-sev.h, values after the 2025 fix].
enum class Status : uint32_t {
  kSuccess = 0x00,
  kInvalidPlatformState = 0x01,
  kInvalidGuestState = 0x02,
  kInvalidConfig = 0x03,
  kInvalidLength = 0x04,
  kAlreadyOwned = 0x05,
  kInvalidCertificate = 0x06,
  kPolicyFailure = 0x07,
  kInactive = 0x08,
  kInvalidAddress = 0x09,
  kBadSignature = 0x0A,
  kBadMeasurement = 0x0B,
  kAsidOwned = 0x0C,
  kInvalidAsid = 0x0D,
  kWbinvdRequired = 0x0E,
  kDfflushRequired = 0x0F,
  kInvalidGuest = 0x10,
  kInvalidCommand = 0x11,
  kActive = 0x12,
  kHwerrorPlatform = 0x13,
  kHwerrorUnsafe = 0x14,
  kUnsupported = 0x15,
  kInvalidParam = 0x16,
  kResourceLimit = 0x17,
  kSecureDataInvalid = 0x18,
  kInvalidPageSize = 0x19,
  kInvalidPageState = 0x1A,
  kInvalidMdataEntry = 0x1B,
  kInvalidPageOwner = 0x1C,
  kAeadOflow = 0x1D,
  kExitRingBuffer = 0x1F,
  kRmpInitRequired = 0x20,
  kBadSvn = 0x21,
  kBadVersion = 0x22,
  kShutdownRequired = 0x23,
  kUpdateFailed = 0x24,
  kRestoreRequired = 0x25,
  kRmpInitializationFailed = 0x26,
  kInvalidKey = 0x27,
  kShutdownIncomplete = 0x28,  // [L-patch]
};

}  // namespace snpemu::fw
