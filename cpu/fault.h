// cpu/fault.h: architectural exceptions as returned values (never C++ exceptions).
#pragma once

#include <cstdint>

namespace snpemu::cpu {

/// Exception vectors. APM vol 2, 8.2 Table 8-1.
enum class Vector : uint8_t {
  kDe = 0, kDb = 1, kNmi = 2, kBp = 3, kOf = 4, kBr = 5, kUd = 6, kNm = 7, kDf = 8,
  kTs = 10, kNp = 11, kSs = 12, kGp = 13, kPf = 14, kMf = 16, kAc = 17, kMc = 18, kXf = 19,
  kCp = 21, kVc = 29, kSx = 30,
  /// Not an architectural vector: a guest access took a nested page fault. The core turns it
  /// into #VMEXIT(NPF) with the exit information it recorded at the fault (cpu/paging.cc).
  kNestedPageFault = 0xFE,
};

/// An exception raised by an instruction, to be delivered through the IDT.
struct Fault {
  Vector vector = Vector::kUd;
  bool has_error_code = false;
  uint32_t error_code = 0;
  uint64_t cr2 = 0;  // faulting linear address, #PF only
  bool operator==(const Fault&) const = default;
};

inline constexpr Fault ud() { return Fault{Vector::kUd, false, 0, 0}; }
inline constexpr Fault gp(uint32_t code = 0) { return Fault{Vector::kGp, true, code, 0}; }
inline constexpr Fault ss(uint32_t code = 0) { return Fault{Vector::kSs, true, code, 0}; }
inline constexpr Fault de() { return Fault{Vector::kDe, false, 0, 0}; }
/// Alignment check: error code 0. APM vol 2, 8.2.18.
inline constexpr Fault ac() { return Fault{Vector::kAc, true, 0, 0}; }

/// True for vectors that push an error code in protected/long mode. APM vol 2, 8.2.
constexpr bool pushes_error_code(Vector v) {
  switch (v) {
    case Vector::kDf: case Vector::kTs: case Vector::kNp: case Vector::kSs: case Vector::kGp:
    case Vector::kPf: case Vector::kAc: case Vector::kCp: case Vector::kVc: case Vector::kSx:
      return true;
    default:
      return false;
  }
}

}  // namespace snpemu::cpu
