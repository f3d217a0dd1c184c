// cpu/decode/opcode.h: the vocabulary of the opcode tables (APM vol 3, Appendix A notation).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "cpu/timing/cost.h"

namespace snpemu::cpu {

/// Handler ids, named mnemonic_operand-form (ADD_EvGv). See insn_ids.inc.
enum class InsnId : uint16_t {
#define X(name) name,
#include "cpu/decode/insn_ids.inc"
#undef X
  kCount,
};

/// Name of a handler id, e.g. "ADD_EvGv".
std::string_view insn_name(InsnId id);

/// Operand types in APM notation (vol 3, A.1): addressing method + size.
/// E: ModRM r/m (reg or memory); G: ModRM reg; M: ModRM memory only; R: ModRM r/m register
/// (mod ignored); C/D: control/debug register in ModRM reg; S: segment register in ModRM reg;
/// I: immediate; J: RIP-relative offset; O: absolute offset (moffs); Z: register in opcode bits
/// 2:0 (+REX.B); X/Y: DS:rSI / ES:rDI string operands; fixed registers by name.
/// Sizes: b 8, w 16, d 32, q 64, v operand size, z min(operand size, 32), bs byte sign-extended.
enum class Op : uint8_t {
  None,
  Eb, Ew, Ed, Ev, Gb, Gw, Gv, M, Mv, Rq, Cd, Dd, Sw,
  Ib, Ibs, Iw, Iz, Iv, Jb, Jz, Ob, Ov, Zb, Zv,
  AL, rAX, eAX, CL, DX, One, Xb, Xv, Xz, Yb, Yv, Yz,
};

/// Opcode maps. APM vol 3, A.2-A.3.
enum class Map : uint8_t { kOneByte, k0F, k0F38, k0F3A, kCount };

/// ModRM.mod constraint of a row.
enum class ModForm : uint8_t { kAny, kMem, kReg };

/// Mandatory-prefix constraint of a row (the last F2/F3 prefix seen).
enum class RepPrefix : uint8_t { kAny, kNone, kF3, kF2 };

/// SVM intercept that guards the instruction (APM vol 2, 15.9-15.13; VMCB intercept words).
enum class Svm : uint8_t {
  kNone, kCr, kDr, kSidt, kSgdt, kSldt, kStr, kLidt, kLgdt, kLldt, kLtr, kRdtsc, kRdpmc,
  kPushf, kPopf, kCpuid, kIret, kIntn, kInvd, kPause, kHlt, kInvlpg, kInvlpga, kIoio, kMsr,
  kVmrun, kVmmcall, kVmload, kVmsave, kStgi, kClgi, kSkinit, kRdtscp, kIcebp, kWbinvd,
  kMonitor, kMwait, kXsetbv, kRdpru, kVmgexit, kLmswSmsw,
};

/// CPUID feature an instruction depends on (all present in the Zen 4 profile).
enum class Feature : uint8_t {
  kBase, kCx16, kPopcnt, kAbm, kBmi1, kRdtscp, kMovbe, kSvm, kSnp, kSmap, kMonitorx, kClzero,
  kXsave, kLahfLm,
};

/// Row flags.
namespace row {
inline constexpr uint16_t kInvalid64 = 1u << 0;   // #UD in 64-bit mode
inline constexpr uint16_t kDefault64 = 1u << 1;   // operand size defaults to 64 (66 -> 16)
inline constexpr uint16_t kForce64 = 1u << 2;     // operand size 64 regardless of 66
inline constexpr uint16_t kLockable = 1u << 3;    // LOCK allowed (memory destination only)
inline constexpr uint16_t kCpl0 = 1u << 4;        // #GP(0) unless CPL 0
inline constexpr uint16_t kRep = 1u << 5;         // REP / REPE / REPNE apply
inline constexpr uint16_t kByteOp = 1u << 6;      // handler works on bytes (derived)
inline constexpr uint16_t kModRm = 1u << 7;       // has a ModRM byte (derived)
inline constexpr uint16_t kRegMod = 1u << 8;      // ModRM.mod is ignored: always a register
inline constexpr uint16_t kNoOpsize = 1u << 9;    // 66 does not change the operand size
}  // namespace row

inline constexpr int8_t kAnyField = -1;

/// One row of an opcode map: the key it matches and what it decodes to.
struct OpcodeRow {
  Map map = Map::kOneByte;
  uint8_t opcode = 0;
  uint8_t count = 1;        // rows may cover a run of opcodes (e.g. 70..7F Jcc)
  int8_t reg = kAnyField;   // ModRM.reg (group rows), or any
  ModForm mod = ModForm::kAny;
  int8_t rm = kAnyField;    // ModRM.rm when mod == 3, or any
  RepPrefix rep = RepPrefix::kAny;
  bool rex_w_only = false;  // row matches only with REX.W
  bool no_rex_w = false;    // row matches only without REX.W
  InsnId id = InsnId::kCount;
  std::array<Op, 3> ops{};
  uint16_t flags = 0;
  Svm svm = Svm::kNone;
  Feature feature = Feature::kBase;
  Cost cost = Cost::kAlu;
  std::string_view mnemonic;  // lower-case assembler mnemonic, for oracles and traces

  // Builders, so that table rows read like the APM map.
  constexpr OpcodeRow g(int r) const { OpcodeRow x = *this; x.reg = static_cast<int8_t>(r); return x; }
  constexpr OpcodeRow mem() const { OpcodeRow x = *this; x.mod = ModForm::kMem; return x; }
  constexpr OpcodeRow reg_form(int r, int m) const {
    OpcodeRow x = *this; x.mod = ModForm::kReg; x.reg = static_cast<int8_t>(r);
    x.rm = static_cast<int8_t>(m); return x;
  }
  constexpr OpcodeRow pfx(RepPrefix p) const { OpcodeRow x = *this; x.rep = p; return x; }
  constexpr OpcodeRow n(int c) const { OpcodeRow x = *this; x.count = static_cast<uint8_t>(c); return x; }
  constexpr OpcodeRow f(uint16_t fl) const { OpcodeRow x = *this; x.flags |= fl; return x; }
  constexpr OpcodeRow intercept(Svm s) const { OpcodeRow x = *this; x.svm = s; return x; }
  constexpr OpcodeRow cpuid(Feature ft) const { OpcodeRow x = *this; x.feature = ft; return x; }
  constexpr OpcodeRow w() const { OpcodeRow x = *this; x.rex_w_only = true; return x; }
  constexpr OpcodeRow nw() const { OpcodeRow x = *this; x.no_rex_w = true; return x; }
  constexpr OpcodeRow c(Cost k) const { OpcodeRow x = *this; x.cost = k; return x; }
};

/// All rows of all maps, in APM order (cpu/decode/opcode_table.cc).
std::span<const OpcodeRow> opcode_rows();

/// True if the operand type is encoded through ModRM.
constexpr bool uses_modrm(Op op) {
  switch (op) {
    case Op::Eb: case Op::Ew: case Op::Ed: case Op::Ev: case Op::Gb: case Op::Gw: case Op::Gv:
    case Op::M: case Op::Mv: case Op::Rq: case Op::Cd: case Op::Dd: case Op::Sw:
      return true;
    default:
      return false;
  }
}

}  // namespace snpemu::cpu
