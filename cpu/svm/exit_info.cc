// cpu/svm/exit_info.cc: exit_info_1 encodings of the MSR and CR/DR access intercepts.
#include "cpu/svm/svm.h"

namespace snpemu::svm {

uint64_t msr_exit_info_1(MsrAccess access) {
  return access == MsrAccess::kWrite ? 1 : 0;  // APM vol 2 15.11
}

std::optional<MsrAccess> decode_msr_exit_info_1(uint64_t exit_info_1) {
  if (exit_info_1 == 0) return MsrAccess::kRead;
  if (exit_info_1 == 1) return MsrAccess::kWrite;
  return std::nullopt;
}

uint64_t crdr_exit_info_1(bool is_mov, unsigned gpr) {
  // APM vol 2 15.33 (decode assists); only MOV names a GPR.
  return is_mov ? (crdr_exit_info::kMov | (gpr & crdr_exit_info::kGprMask)) : 0;
}

}  // namespace snpemu::svm
