// firmware/status.cc: names of firmware status codes and error kinds.
#include "firmware/firmware.h"

namespace snpemu::fw {

std::string_view status_name(Status status) {
  // PLATFORM-FACTS 8.9 [L uapi psp-sev.h]
  switch (status) {
    case Status::kSuccess:
      return "SUCCESS";
    case Status::kInvalidPlatformState:
      return "INVALID_PLATFORM_STATE";
    case Status::kInvalidGuestState:
      return "INVALID_GUEST_STATE";
    case Status::kInvalidConfig:
      return "INVALID_CONFIG";
    case Status::kInvalidLength:
      return "INVALID_LENGTH";
    case Status::kAlreadyOwned:
      return "ALREADY_OWNED";
    case Status::kInvalidCertificate:
      return "INVALID_CERTIFICATE";
    case Status::kPolicyFailure:
      return "POLICY_FAILURE";
    case Status::kInactive:
      return "INACTIVE";
    case Status::kInvalidAddress:
      return "INVALID_ADDRESS";
    case Status::kBadSignature:
      return "BAD_SIGNATURE";
    case Status::kBadMeasurement:
      return "BAD_MEASUREMENT";
    case Status::kAsidOwned:
      return "ASID_OWNED";
    case Status::kInvalidAsid:
      return "INVALID_ASID";
    case Status::kWbinvdRequired:
      return "WBINVD_REQUIRED";
    case Status::kDfflushRequired:
      return "DFFLUSH_REQUIRED";
    case Status::kInvalidGuest:
      return "INVALID_GUEST";
    case Status::kInvalidCommand:
      return "INVALID_COMMAND";
    case Status::kActive:
      return "ACTIVE";
    case Status::kHwerrorPlatform:
      return "HWERROR_PLATFORM";
    case Status::kHwerrorUnsafe:
      return "HWERROR_UNSAFE";
    case Status::kUnsupported:
      return "UNSUPPORTED";
    case Status::kInvalidParam:
      return "INVALID_PARAM";
    case Status::kResourceLimit:
      return "RESOURCE_LIMIT";
    case Status::kSecureDataInvalid:
      return "SECURE_DATA_INVALID";
    case Status::kInvalidPageSize:
      return "INVALID_PAGE_SIZE";
    case Status::kInvalidPageState:
      return "INVALID_PAGE_STATE";
    case Status::kInvalidMdataEntry:
      return "INVALID_MDATA_ENTRY";
    case Status::kInvalidPageOwner:
      return "INVALID_PAGE_OWNER";
    case Status::kAeadOflow:
      return "AEAD_OFLOW";
    case Status::kExitRingBuffer:
      return "EXIT_RING_BUFFER";
    case Status::kRmpInitRequired:
      return "RMP_INIT_REQUIRED";
    case Status::kBadSvn:
      return "BAD_SVN";
    case Status::kBadVersion:
      return "BAD_VERSION";
    case Status::kShutdownRequired:
      return "SHUTDOWN_REQUIRED";
    case Status::kUpdateFailed:
      return "UPDATE_FAILED";
    case Status::kRestoreRequired:
      return "RESTORE_REQUIRED";
    case Status::kRmpInitializationFailed:
      return "RMP_INITIALIZATION_FAILED";
    case Status::kInvalidKey:
      return "INVALID_KEY";
    case Status::kShutdownIncomplete:
      return "SHUTDOWN_INCOMPLETE";
  }
  return "UNKNOWN";
}

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kBadLength:
      return "bad length";
    case ErrorKind::kBadVersion:
      return "bad version";
    case ErrorKind::kBadAlgorithm:
      return "bad algorithm";
    case ErrorKind::kBadField:
      return "bad field";
    case ErrorKind::kBadCertificate:
      return "bad certificate";
    case ErrorKind::kBadSignature:
      return "bad signature";
    case ErrorKind::kAuthFailed:
      return "authentication failed";
    case ErrorKind::kBadSequence:
      return "bad sequence number";
    case ErrorKind::kPolicyFailure:
      return "policy failure";
    case ErrorKind::kCrypto:
      return "crypto failure";
  }
  return "unknown";
}

}  // namespace snpemu::fw
