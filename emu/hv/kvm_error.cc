// emu/hv/kvm_error.cc: KVM's errno results as values.
#include "emu/hv/hv.h"

namespace snpemu::hv {

const char* errno_name(KvmErrno e) {
  switch (e) {
    case KvmErrno::kEinval: return "EINVAL";
    case KvmErrno::kEexist: return "EEXIST";
    case KvmErrno::kEbadf: return "EBADF";
    case KvmErrno::kEnomem: return "ENOMEM";
    case KvmErrno::kEfault: return "EFAULT";
    case KvmErrno::kEio: return "EIO";
    case KvmErrno::kEfbig: return "EFBIG";
    case KvmErrno::kE2big: return "E2BIG";
    case KvmErrno::kEbusy: return "EBUSY";
  }
  return "E?";
}

// Linux asm-generic/errno-base.h.
int errno_value(KvmErrno e) {
  switch (e) {
    case KvmErrno::kEinval: return 22;
    case KvmErrno::kEexist: return 17;
    case KvmErrno::kEbadf: return 9;
    case KvmErrno::kEnomem: return 12;
    case KvmErrno::kEfault: return 14;
    case KvmErrno::kEio: return 5;
    case KvmErrno::kEfbig: return 27;
    case KvmErrno::kE2big: return 7;
    case KvmErrno::kEbusy: return 16;
  }
  return 0;
}

std::string KvmError::describe() const { return std::string(errno_name(code)) + ": " + message; }

}  // namespace snpemu::hv
