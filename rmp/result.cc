// rmp/result.cc: names and text forms of RMP instruction outcomes and faults.
#include <cinttypes>
#include <cstdio>

#include "rmp/rmp.h"

namespace snpemu::rmp {

const char* rc_name(RmpRc rc, bool psmash) {
  switch (rc) {
    case RmpRc::kSuccess: return "SUCCESS";
    case RmpRc::kFailInput: return "FAIL_INPUT";
    case RmpRc::kFailPermission: return "FAIL_PERMISSION";
    case RmpRc::kFailInuse: return "FAIL_INUSE";
    case RmpRc::kFailOverlap: return psmash ? "FAIL_BADADDR" : "FAIL_OVERLAP";
    case RmpRc::kFailSizeMismatch: return "FAIL_SIZEMISMATCH";
  }
  return "UNKNOWN";
}

std::string Fault::to_string() const {
  const char* name = kind == Kind::kNpf ? "#NPF" : kind == Kind::kVc ? "#VC" : "host #PF";
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s error 0x%" PRIx64 " at 0x%" PRIx64, name, error_code,
                address);
  return buf;
}

std::string InsnResult::to_string() const {
  if (fault) return fault->to_string();
  return std::string(rc_name(rc)) + (cf ? " CF=1" : " CF=0");
}

}  // namespace snpemu::rmp
