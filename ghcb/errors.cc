// ghcb/errors.cc: the protocol's answers to bad input.
#include "ghcb/ghcb.h"

namespace snpemu::ghcb {

uint64_t error_sw_exit_info_1(const GhcbError& e) {
  // PLATFORM-FACTS 2.2 [L]: malformed input answers EXITINFO1 = 2; a PSC status answers
  // EXITINFO1 = 0 ("no action") with the status in EXITINFO2 (3.2).
  return e.kind == GhcbErrorKind::kMalformedInput ? kExitInfo1MalformedInput : kExitInfo1NoAction;
}

uint64_t error_sw_exit_info_2(const GhcbError& e) { return e.code; }

std::string_view ghcb_error_code_name(uint64_t code) {
  switch (code) {
    case 1: return "NOT_REGISTERED";
    case 2: return "INVALID_USAGE";
    case 3: return "INVALID_SCRATCH_AREA";
    case 4: return "MISSING_INPUT";
    case 5: return "INVALID_INPUT";
    case 6: return "INVALID_EVENT";
    default: return "UNKNOWN";
  }
}

}  // namespace snpemu::ghcb
