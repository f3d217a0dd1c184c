// cpu/decode/opcode_table.cc: the opcode maps as data, in APM vol 3 Appendix A order.
//
// One row per opcode (or run of opcodes, or ModRM group member): mnemonic, handler id, operand
// types in APM notation, then checks. Rows never overlap (test/cpu/opcode_table_test.cc);
// anything no row matches is #UD. 64-bit mode only in this table's flags.
#include <array>

#include "cpu/decode/opcode.h"

namespace snpemu::cpu {
namespace {

using enum Op;
using enum InsnId;
using Cost::kAlu;
using Cost::kMov;
using Cost::kLea;
using Cost::kL1Load;
using Cost::kStore;
using Cost::kLocked;
using Cost::kImul;
using Cost::kMulWide;
using Cost::kDiv8;
using Cost::kDiv16;
using Cost::kDiv32;
using Cost::kDiv64;
using Cost::kShift;
using Cost::kShiftCl;
using Cost::kRotateCarry;
using Cost::kDoubleShift;
using Cost::kBitScan;
using Cost::kBitTest;
using Cost::kBranch;
using Cost::kCall;
using Cost::kIndirect;
using Cost::kPush;
using Cost::kStringIter;
using Cost::kCmpxchg16b;
using Cost::kFlagsOp;
using Cost::kCliSti;
using Cost::kCpuid;
using Cost::kRdtsc;
using Cost::kMsr;
using Cost::kMovCr;
using Cost::kDescTable;
using Cost::kInvlpg;
using Cost::kIo;
using Cost::kHlt;
using Cost::kSyscall;
using Cost::kIntDelivery;
using Cost::kIret;
using Cost::kFence;
using Cost::kPause;
using Cost::kUnmodelled;
using Cost::kVmrun;
using Cost::kVmload;
using Cost::kVmsave;
using Cost::kGif;
using Cost::kPvalidate;
using Cost::kRmpadjust;
using Cost::kRmpupdate;
using Cost::kPsmash;
using Cost::kRmpread;
using row::kCpl0;
using row::kDefault64;
using row::kForce64;
using row::kLockable;
using row::kRep;
using row::kRegMod;
using row::kNoOpsize;
constexpr auto kF3 = RepPrefix::kF3;
constexpr auto kF2 = RepPrefix::kF2;
constexpr auto kNoRep = RepPrefix::kNone;

template <class... O>
constexpr OpcodeRow make(Map map, uint8_t opc, std::string_view mn, InsnId id, O... ops) {
  OpcodeRow r;
  r.map = map;
  r.opcode = opc;
  r.mnemonic = mn;
  r.id = id;
  r.ops = {ops...};
  return r;
}
template <class... O>
constexpr OpcodeRow A(uint8_t opc, std::string_view mn, InsnId id, O... ops) {
  return make(Map::kOneByte, opc, mn, id, ops...);
}
template <class... O>
constexpr OpcodeRow B(uint8_t opc, std::string_view mn, InsnId id, O... ops) {
  return make(Map::k0F, opc, mn, id, ops...);
}
template <class... O>
constexpr OpcodeRow C(uint8_t opc, std::string_view mn, InsnId id, O... ops) {
  return make(Map::k0F38, opc, mn, id, ops...);
}

constexpr OpcodeRow kRows[] = {
    // ---- One-byte map, APM vol 3 Table A-1 ----
    A(0x00, "add", ADD_EbGb, Eb, Gb).f(kLockable), A(0x01, "add", ADD_EvGv, Ev, Gv).f(kLockable),
    A(0x02, "add", ADD_GbEb, Gb, Eb), A(0x03, "add", ADD_GvEv, Gv, Ev),
    A(0x04, "add", ADD_ALIb, AL, Ib), A(0x05, "add", ADD_rAXIz, rAX, Iz),
    A(0x08, "or", OR_EbGb, Eb, Gb).f(kLockable), A(0x09, "or", OR_EvGv, Ev, Gv).f(kLockable),
    A(0x0A, "or", OR_GbEb, Gb, Eb), A(0x0B, "or", OR_GvEv, Gv, Ev),
    A(0x0C, "or", OR_ALIb, AL, Ib), A(0x0D, "or", OR_rAXIz, rAX, Iz),
    A(0x10, "adc", ADC_EbGb, Eb, Gb).f(kLockable), A(0x11, "adc", ADC_EvGv, Ev, Gv).f(kLockable),
    A(0x12, "adc", ADC_GbEb, Gb, Eb), A(0x13, "adc", ADC_GvEv, Gv, Ev),
    A(0x14, "adc", ADC_ALIb, AL, Ib), A(0x15, "adc", ADC_rAXIz, rAX, Iz),
    A(0x18, "sbb", SBB_EbGb, Eb, Gb).f(kLockable), A(0x19, "sbb", SBB_EvGv, Ev, Gv).f(kLockable),
    A(0x1A, "sbb", SBB_GbEb, Gb, Eb), A(0x1B, "sbb", SBB_GvEv, Gv, Ev),
    A(0x1C, "sbb", SBB_ALIb, AL, Ib), A(0x1D, "sbb", SBB_rAXIz, rAX, Iz),
    A(0x20, "and", AND_EbGb, Eb, Gb).f(kLockable), A(0x21, "and", AND_EvGv, Ev, Gv).f(kLockable),
    A(0x22, "and", AND_GbEb, Gb, Eb), A(0x23, "and", AND_GvEv, Gv, Ev),
    A(0x24, "and", AND_ALIb, AL, Ib), A(0x25, "and", AND_rAXIz, rAX, Iz),
    A(0x28, "sub", SUB_EbGb, Eb, Gb).f(kLockable), A(0x29, "sub", SUB_EvGv, Ev, Gv).f(kLockable),
    A(0x2A, "sub", SUB_GbEb, Gb, Eb), A(0x2B, "sub", SUB_GvEv, Gv, Ev),
    A(0x2C, "sub", SUB_ALIb, AL, Ib), A(0x2D, "sub", SUB_rAXIz, rAX, Iz),
    A(0x30, "xor", XOR_EbGb, Eb, Gb).f(kLockable), A(0x31, "xor", XOR_EvGv, Ev, Gv).f(kLockable),
    A(0x32, "xor", XOR_GbEb, Gb, Eb), A(0x33, "xor", XOR_GvEv, Gv, Ev),
    A(0x34, "xor", XOR_ALIb, AL, Ib), A(0x35, "xor", XOR_rAXIz, rAX, Iz),
    A(0x38, "cmp", CMP_EbGb, Eb, Gb), A(0x39, "cmp", CMP_EvGv, Ev, Gv),
    A(0x3A, "cmp", CMP_GbEb, Gb, Eb), A(0x3B, "cmp", CMP_GvEv, Gv, Ev),
    A(0x3C, "cmp", CMP_ALIb, AL, Ib), A(0x3D, "cmp", CMP_rAXIz, rAX, Iz),
    // 06 07 0E 16 17 1E 1F 27 2F 37 3F: invalid in 64-bit mode (no row -> #UD).
    // 40-4F: REX prefixes in 64-bit mode.
    A(0x50, "push", PUSH_Zv, Zv).n(8).f(kDefault64).c(kPush),
    A(0x58, "pop", POP_Zv, Zv).n(8).f(kDefault64).c(kPush),
    // 60 61 62: invalid in 64-bit mode (62 = EVEX escape, not supported).
    A(0x63, "movsxd", MOVSXD_GvEd, Gv, Ed).c(kMov),
    A(0x68, "push", PUSH_Iz, Iz).f(kDefault64).c(kPush),
    A(0x69, "imul", IMUL_GvEvIz, Gv, Ev, Iz).c(kImul),
    A(0x6A, "push", PUSH_Ibs, Ibs).f(kDefault64).c(kPush),
    A(0x6B, "imul", IMUL_GvEvIbs, Gv, Ev, Ibs).c(kImul),
    A(0x6C, "insb", INS_YbDX, Yb, DX).f(kRep).c(kIo).intercept(Svm::kIoio),
    A(0x6D, "insd", INS_YzDX, Yz, DX).f(kRep).c(kIo).intercept(Svm::kIoio),
    A(0x6E, "outsb", OUTS_DXXb, DX, Xb).f(kRep).c(kIo).intercept(Svm::kIoio),
    A(0x6F, "outsd", OUTS_DXXz, DX, Xz).f(kRep).c(kIo).intercept(Svm::kIoio),
    A(0x70, "jcc", JCC_Jb, Jb).n(16).f(kDefault64).c(kBranch),
    // Group 1, Table A-6.
    A(0x80, "add", ADD_EbIb, Eb, Ib).g(0).f(kLockable), A(0x80, "or", OR_EbIb, Eb, Ib).g(1).f(kLockable),
    A(0x80, "adc", ADC_EbIb, Eb, Ib).g(2).f(kLockable), A(0x80, "sbb", SBB_EbIb, Eb, Ib).g(3).f(kLockable),
    A(0x80, "and", AND_EbIb, Eb, Ib).g(4).f(kLockable), A(0x80, "sub", SUB_EbIb, Eb, Ib).g(5).f(kLockable),
    A(0x80, "xor", XOR_EbIb, Eb, Ib).g(6).f(kLockable), A(0x80, "cmp", CMP_EbIb, Eb, Ib).g(7),
    A(0x81, "add", ADD_EvIz, Ev, Iz).g(0).f(kLockable), A(0x81, "or", OR_EvIz, Ev, Iz).g(1).f(kLockable),
    A(0x81, "adc", ADC_EvIz, Ev, Iz).g(2).f(kLockable), A(0x81, "sbb", SBB_EvIz, Ev, Iz).g(3).f(kLockable),
    A(0x81, "and", AND_EvIz, Ev, Iz).g(4).f(kLockable), A(0x81, "sub", SUB_EvIz, Ev, Iz).g(5).f(kLockable),
    A(0x81, "xor", XOR_EvIz, Ev, Iz).g(6).f(kLockable), A(0x81, "cmp", CMP_EvIz, Ev, Iz).g(7),
    // 82: invalid in 64-bit mode.
    A(0x83, "add", ADD_EvIbs, Ev, Ibs).g(0).f(kLockable), A(0x83, "or", OR_EvIbs, Ev, Ibs).g(1).f(kLockable),
    A(0x83, "adc", ADC_EvIbs, Ev, Ibs).g(2).f(kLockable), A(0x83, "sbb", SBB_EvIbs, Ev, Ibs).g(3).f(kLockable),
    A(0x83, "and", AND_EvIbs, Ev, Ibs).g(4).f(kLockable), A(0x83, "sub", SUB_EvIbs, Ev, Ibs).g(5).f(kLockable),
    A(0x83, "xor", XOR_EvIbs, Ev, Ibs).g(6).f(kLockable), A(0x83, "cmp", CMP_EvIbs, Ev, Ibs).g(7),
    A(0x84, "test", TEST_EbGb, Eb, Gb), A(0x85, "test", TEST_EvGv, Ev, Gv),
    A(0x86, "xchg", XCHG_EbGb, Eb, Gb).f(kLockable).c(kMov),
    A(0x87, "xchg", XCHG_EvGv, Ev, Gv).f(kLockable).c(kMov),
    A(0x88, "mov", MOV_EbGb, Eb, Gb).c(kMov), A(0x89, "mov", MOV_EvGv, Ev, Gv).c(kMov),
    A(0x8A, "mov", MOV_GbEb, Gb, Eb).c(kMov), A(0x8B, "mov", MOV_GvEv, Gv, Ev).c(kMov),
    A(0x8C, "mov", MOV_EvSw, Ev, Sw).c(kMov),
    A(0x8D, "lea", LEA_GvM, Gv, M).mem().c(kLea),
    A(0x8E, "mov", MOV_SwEw, Sw, Ew).c(kDescTable),
    A(0x8F, "pop", POP_Ev, Ev).g(0).f(kDefault64).c(kPush),  // Group 1a
    A(0x90, "pause", PAUSE).pfx(kF3).c(kPause),
    A(0x90, "xchg", XCHG_ZvrAX, Zv, rAX).pfx(kNoRep).c(kMov),  // 90 without REX.B is NOP
    A(0x90, "xchg", XCHG_ZvrAX, Zv, rAX).pfx(kF2).c(kMov),
    A(0x91, "xchg", XCHG_ZvrAX, Zv, rAX).n(7).c(kMov),
    A(0x98, "cwde", CBW).c(kMov), A(0x99, "cdq", CWD).c(kMov),
    // 9A: invalid in 64-bit mode. 9B FWAIT: x87, not supported.
    A(0x9C, "pushfq", PUSHF).f(kDefault64).c(kFlagsOp).intercept(Svm::kPushf),
    A(0x9D, "popfq", POPF).f(kDefault64).c(kFlagsOp).intercept(Svm::kPopf),
    A(0x9E, "sahf", SAHF).c(kFlagsOp).cpuid(Feature::kLahfLm),
    A(0x9F, "lahf", LAHF).c(kFlagsOp).cpuid(Feature::kLahfLm),
    A(0xA0, "mov", MOV_ALOb, AL, Ob).c(kMov), A(0xA1, "mov", MOV_rAXOv, rAX, Ov).c(kMov),
    A(0xA2, "mov", MOV_ObAL, Ob, AL).c(kMov), A(0xA3, "mov", MOV_OvrAX, Ov, rAX).c(kMov),
    A(0xA4, "movsb", MOVS_YbXb, Yb, Xb).f(kRep).c(kStringIter),
    A(0xA5, "movsd", MOVS_YvXv, Yv, Xv).f(kRep).c(kStringIter),
    A(0xA6, "cmpsb", CMPS_XbYb, Xb, Yb).f(kRep).c(kStringIter),
    A(0xA7, "cmpsd", CMPS_XvYv, Xv, Yv).f(kRep).c(kStringIter),
    A(0xA8, "test", TEST_ALIb, AL, Ib), A(0xA9, "test", TEST_rAXIz, rAX, Iz),
    A(0xAA, "stosb", STOS_YbAL, Yb, AL).f(kRep).c(kStringIter),
    A(0xAB, "stosd", STOS_YvrAX, Yv, rAX).f(kRep).c(kStringIter),
    A(0xAC, "lodsb", LODS_ALXb, AL, Xb).f(kRep).c(kStringIter),
    A(0xAD, "lodsd", LODS_rAXXv, rAX, Xv).f(kRep).c(kStringIter),
    A(0xAE, "scasb", SCAS_ALYb, AL, Yb).f(kRep).c(kStringIter),
    A(0xAF, "scasd", SCAS_rAXYv, rAX, Yv).f(kRep).c(kStringIter),
    A(0xB0, "mov", MOV_ZbIb, Zb, Ib).n(8).c(kMov),
    A(0xB8, "mov", MOV_ZvIv, Zv, Iv).n(8).c(kMov),
    // Group 2, Table A-6 (/6 is an alias of SHL).
    A(0xC0, "rol", ROL_Eb, Eb, Ib).g(0).c(kShift), A(0xC0, "ror", ROR_Eb, Eb, Ib).g(1).c(kShift),
    A(0xC0, "rcl", RCL_Eb, Eb, Ib).g(2).c(kRotateCarry), A(0xC0, "rcr", RCR_Eb, Eb, Ib).g(3).c(kRotateCarry),
    A(0xC0, "shl", SHL_Eb, Eb, Ib).g(4).c(kShift), A(0xC0, "shr", SHR_Eb, Eb, Ib).g(5).c(kShift),
    A(0xC0, "shl", SHL_Eb, Eb, Ib).g(6).c(kShift), A(0xC0, "sar", SAR_Eb, Eb, Ib).g(7).c(kShift),
    A(0xC1, "rol", ROL_Ev, Ev, Ib).g(0).c(kShift), A(0xC1, "ror", ROR_Ev, Ev, Ib).g(1).c(kShift),
    A(0xC1, "rcl", RCL_Ev, Ev, Ib).g(2).c(kRotateCarry), A(0xC1, "rcr", RCR_Ev, Ev, Ib).g(3).c(kRotateCarry),
    A(0xC1, "shl", SHL_Ev, Ev, Ib).g(4).c(kShift), A(0xC1, "shr", SHR_Ev, Ev, Ib).g(5).c(kShift),
    A(0xC1, "shl", SHL_Ev, Ev, Ib).g(6).c(kShift), A(0xC1, "sar", SAR_Ev, Ev, Ib).g(7).c(kShift),
    A(0xC2, "ret", RET_Iw, Iw).f(kDefault64).c(kCall), A(0xC3, "ret", RET).f(kDefault64).c(kCall),
    // C4 C5: VEX escapes in 64-bit mode, not supported (#UD).
    A(0xC6, "mov", MOV_EbIb, Eb, Ib).g(0).c(kMov), A(0xC7, "mov", MOV_EvIz, Ev, Iz).g(0).c(kMov),
    A(0xC8, "enter", ENTER_IwIb, Iw, Ib).f(kDefault64).c(kCall),
    A(0xC9, "leave", LEAVE).f(kDefault64).c(kPush),
    A(0xCA, "retf", RETF_Iw, Iw).c(kIret), A(0xCB, "retf", RETF).c(kIret),
    A(0xCC, "int3", INT3).c(kIntDelivery), A(0xCD, "int", INT_Ib, Ib).c(kIntDelivery).intercept(Svm::kIntn),
    // CE INTO: invalid in 64-bit mode.
    A(0xCF, "iretd", IRET).c(kIret).intercept(Svm::kIret),
    A(0xD0, "rol", ROL_Eb, Eb, One).g(0).c(kShift), A(0xD0, "ror", ROR_Eb, Eb, One).g(1).c(kShift),
    A(0xD0, "rcl", RCL_Eb, Eb, One).g(2).c(kRotateCarry), A(0xD0, "rcr", RCR_Eb, Eb, One).g(3).c(kRotateCarry),
    A(0xD0, "shl", SHL_Eb, Eb, One).g(4).c(kShift), A(0xD0, "shr", SHR_Eb, Eb, One).g(5).c(kShift),
    A(0xD0, "shl", SHL_Eb, Eb, One).g(6).c(kShift), A(0xD0, "sar", SAR_Eb, Eb, One).g(7).c(kShift),
    A(0xD1, "rol", ROL_Ev, Ev, One).g(0).c(kShift), A(0xD1, "ror", ROR_Ev, Ev, One).g(1).c(kShift),
    A(0xD1, "rcl", RCL_Ev, Ev, One).g(2).c(kRotateCarry), A(0xD1, "rcr", RCR_Ev, Ev, One).g(3).c(kRotateCarry),
    A(0xD1, "shl", SHL_Ev, Ev, One).g(4).c(kShift), A(0xD1, "shr", SHR_Ev, Ev, One).g(5).c(kShift),
    A(0xD1, "shl", SHL_Ev, Ev, One).g(6).c(kShift), A(0xD1, "sar", SAR_Ev, Ev, One).g(7).c(kShift),
    A(0xD2, "rol", ROL_Eb, Eb, CL).g(0).c(kShiftCl), A(0xD2, "ror", ROR_Eb, Eb, CL).g(1).c(kShiftCl),
    A(0xD2, "rcl", RCL_Eb, Eb, CL).g(2).c(kRotateCarry), A(0xD2, "rcr", RCR_Eb, Eb, CL).g(3).c(kRotateCarry),
    A(0xD2, "shl", SHL_Eb, Eb, CL).g(4).c(kShiftCl), A(0xD2, "shr", SHR_Eb, Eb, CL).g(5).c(kShiftCl),
    A(0xD2, "shl", SHL_Eb, Eb, CL).g(6).c(kShiftCl), A(0xD2, "sar", SAR_Eb, Eb, CL).g(7).c(kShiftCl),
    A(0xD3, "rol", ROL_Ev, Ev, CL).g(0).c(kShiftCl), A(0xD3, "ror", ROR_Ev, Ev, CL).g(1).c(kShiftCl),
    A(0xD3, "rcl", RCL_Ev, Ev, CL).g(2).c(kRotateCarry), A(0xD3, "rcr", RCR_Ev, Ev, CL).g(3).c(kRotateCarry),
    A(0xD3, "shl", SHL_Ev, Ev, CL).g(4).c(kShiftCl), A(0xD3, "shr", SHR_Ev, Ev, CL).g(5).c(kShiftCl),
    A(0xD3, "shl", SHL_Ev, Ev, CL).g(6).c(kShiftCl), A(0xD3, "sar", SAR_Ev, Ev, CL).g(7).c(kShiftCl),
    // D4 D5 D6: invalid in 64-bit mode. D8-DF: x87 escapes, not supported.
    A(0xD7, "xlat", XLAT).c(kMov),
    A(0xE0, "loopne", LOOPNE_Jb, Jb).f(kDefault64).c(kBranch),
    A(0xE1, "loope", LOOPE_Jb, Jb).f(kDefault64).c(kBranch),
    A(0xE2, "loop", LOOP_Jb, Jb).f(kDefault64).c(kBranch),
    A(0xE3, "jrcxz", JRCXZ_Jb, Jb).f(kDefault64).c(kBranch),
    A(0xE4, "in", IN_ALIb, AL, Ib).c(kIo).intercept(Svm::kIoio),
    A(0xE5, "in", IN_eAXIb, eAX, Ib).c(kIo).intercept(Svm::kIoio),
    A(0xE6, "out", OUT_IbAL, Ib, AL).c(kIo).intercept(Svm::kIoio),
    A(0xE7, "out", OUT_IbeAX, Ib, eAX).c(kIo).intercept(Svm::kIoio),
    A(0xE8, "call", CALL_Jz, Jz).f(kDefault64).c(kCall),
    A(0xE9, "jmp", JMP_Jz, Jz).f(kDefault64).c(kBranch),
    // EA: invalid in 64-bit mode.
    A(0xEB, "jmp", JMP_Jb, Jb).f(kDefault64).c(kBranch),
    A(0xEC, "in", IN_ALDX, AL, DX).c(kIo).intercept(Svm::kIoio),
    A(0xED, "in", IN_eAXDX, eAX, DX).c(kIo).intercept(Svm::kIoio),
    A(0xEE, "out", OUT_DXAL, DX, AL).c(kIo).intercept(Svm::kIoio),
    A(0xEF, "out", OUT_DXeAX, DX, eAX).c(kIo).intercept(Svm::kIoio),
    A(0xF1, "int1", INT1).c(kIntDelivery).intercept(Svm::kIcebp),
    A(0xF4, "hlt", HLT).f(kCpl0).c(kHlt).intercept(Svm::kHlt),
    A(0xF5, "cmc", CMC).c(kFlagsOp),
    // Group 3, Table A-6. /1 is an alias of TEST: Zydis decodes it so and an AMD EPYC host
    // executes F7 C8 as TEST (checked with inline assembly); QEMU/Unicorn 2.0.1 raise #UD.
    A(0xF6, "test", TEST_EbIb, Eb, Ib).g(0), A(0xF6, "test", TEST_EbIb, Eb, Ib).g(1),
    A(0xF6, "not", NOT_Eb, Eb).g(2).f(kLockable), A(0xF6, "neg", NEG_Eb, Eb).g(3).f(kLockable),
    A(0xF6, "mul", MUL_Eb, Eb).g(4).c(kMulWide), A(0xF6, "imul", IMUL_Eb, Eb).g(5).c(kMulWide),
    A(0xF6, "div", DIV_Eb, Eb).g(6).c(kDiv8), A(0xF6, "idiv", IDIV_Eb, Eb).g(7).c(kDiv8),
    A(0xF7, "test", TEST_EvIz, Ev, Iz).g(0), A(0xF7, "test", TEST_EvIz, Ev, Iz).g(1),
    A(0xF7, "not", NOT_Ev, Ev).g(2).f(kLockable), A(0xF7, "neg", NEG_Ev, Ev).g(3).f(kLockable),
    A(0xF7, "mul", MUL_Ev, Ev).g(4).c(kMulWide), A(0xF7, "imul", IMUL_Ev, Ev).g(5).c(kMulWide),
    A(0xF7, "div", DIV_Ev, Ev).g(6).c(kDiv64), A(0xF7, "idiv", IDIV_Ev, Ev).g(7).c(kDiv64),
    A(0xF8, "clc", CLC).c(kFlagsOp), A(0xF9, "stc", STC).c(kFlagsOp),
    A(0xFA, "cli", CLI).c(kCliSti), A(0xFB, "sti", STI).c(kCliSti),
    A(0xFC, "cld", CLD).c(kFlagsOp), A(0xFD, "std", STD).c(kFlagsOp),
    // Groups 4 and 5.
    A(0xFE, "inc", INC_Eb, Eb).g(0).f(kLockable), A(0xFE, "dec", DEC_Eb, Eb).g(1).f(kLockable),
    A(0xFF, "inc", INC_Ev, Ev).g(0).f(kLockable), A(0xFF, "dec", DEC_Ev, Ev).g(1).f(kLockable),
    A(0xFF, "call", CALL_Ev, Ev).g(2).f(kForce64).c(kIndirect),
    A(0xFF, "call", CALLF_M, M).g(3).mem().c(kIret),
    A(0xFF, "jmp", JMP_Ev, Ev).g(4).f(kForce64).c(kIndirect),
    A(0xFF, "jmp", JMPF_M, M).g(5).mem().c(kIret),
    A(0xFF, "push", PUSH_Ev, Ev).g(6).f(kDefault64).c(kPush),

    // ---- Two-byte map 0F, APM vol 3 Table A-2 ----
    B(0x00, "sldt", SLDT_Ev, Ev).g(0).c(kDescTable).intercept(Svm::kSldt),
    B(0x00, "str", STR_Ev, Ev).g(1).c(kDescTable).intercept(Svm::kStr),
    B(0x00, "lldt", LLDT_Ew, Ew).g(2).f(kCpl0).c(kDescTable).intercept(Svm::kLldt),
    B(0x00, "ltr", LTR_Ew, Ew).g(3).f(kCpl0).c(kDescTable).intercept(Svm::kLtr),
    B(0x00, "verr", VERR_Ew, Ew).g(4).c(kDescTable), B(0x00, "verw", VERW_Ew, Ew).g(5).c(kDescTable),
    // Group 7, Table A-6 (memory forms) and A-7 (register forms by ModRM byte).
    B(0x01, "sgdt", SGDT_M, M).g(0).mem().c(kDescTable).intercept(Svm::kSgdt),
    B(0x01, "sidt", SIDT_M, M).g(1).mem().c(kDescTable).intercept(Svm::kSidt),
    B(0x01, "lgdt", LGDT_M, M).g(2).mem().f(kCpl0).c(kDescTable).intercept(Svm::kLgdt),
    B(0x01, "lidt", LIDT_M, M).g(3).mem().f(kCpl0).c(kDescTable).intercept(Svm::kLidt),
    B(0x01, "smsw", SMSW_Ev, Ev).g(4).c(kMovCr).intercept(Svm::kLmswSmsw),
    B(0x01, "lmsw", LMSW_Ew, Ew).g(6).f(kCpl0).c(kMovCr).intercept(Svm::kLmswSmsw),
    B(0x01, "invlpg", INVLPG_M, M).g(7).mem().f(kCpl0).c(kInvlpg).intercept(Svm::kInvlpg),
    B(0x01, "xgetbv", XGETBV).reg_form(2, 0).pfx(kNoRep).f(kNoOpsize).c(kMovCr).cpuid(Feature::kXsave),
    B(0x01, "xsetbv", XSETBV).reg_form(2, 1).pfx(kNoRep).f(kNoOpsize).f(kCpl0).c(kMovCr).intercept(Svm::kXsetbv).cpuid(Feature::kXsave),
    B(0x01, "clac", CLAC).reg_form(1, 2).pfx(kNoRep).f(kNoOpsize).f(kCpl0).c(kFlagsOp).cpuid(Feature::kSmap),
    B(0x01, "stac", STAC).reg_form(1, 3).pfx(kNoRep).f(kNoOpsize).f(kCpl0).c(kFlagsOp).cpuid(Feature::kSmap),
    // SVM, APM vol 3 Table A-7 row /3: D8..DF. UNCONFIRMED: F2/F3/66 on the 0F 01 register
    // forms follow Zydis 4.0 (rejected for XGETBV..MWAITX, ignored for the SVM instructions).
    B(0x01, "vmrun", VMRUN).reg_form(3, 0).f(kCpl0).c(kVmrun).intercept(Svm::kVmrun).cpuid(Feature::kSvm),
    B(0x01, "vmmcall", VMMCALL).reg_form(3, 1).pfx(kNoRep).c(kUnmodelled).intercept(Svm::kVmmcall).cpuid(Feature::kSvm),
    B(0x01, "vmmcall", VMMCALL).reg_form(3, 1).pfx(kF2).c(kUnmodelled).intercept(Svm::kVmmcall).cpuid(Feature::kSvm),
    // VMGEXIT = REP VMMCALL. APM vol 3, VMGEXIT; PLATFORM-FACTS (GHCB spec 2.x).
    B(0x01, "vmgexit", VMGEXIT).reg_form(3, 1).pfx(kF3).c(kUnmodelled).intercept(Svm::kVmgexit).cpuid(Feature::kSvm),
    B(0x01, "vmload", VMLOAD).reg_form(3, 2).f(kCpl0).c(kVmload).intercept(Svm::kVmload).cpuid(Feature::kSvm),
    B(0x01, "vmsave", VMSAVE).reg_form(3, 3).f(kCpl0).c(kVmsave).intercept(Svm::kVmsave).cpuid(Feature::kSvm),
    B(0x01, "stgi", STGI).reg_form(3, 4).f(kCpl0).c(kGif).intercept(Svm::kStgi).cpuid(Feature::kSvm),
    B(0x01, "clgi", CLGI).reg_form(3, 5).f(kCpl0).c(kGif).intercept(Svm::kClgi).cpuid(Feature::kSvm),
    B(0x01, "skinit", SKINIT).reg_form(3, 6).f(kCpl0).c(kUnmodelled).intercept(Svm::kSkinit).cpuid(Feature::kSvm),
    B(0x01, "invlpga", INVLPGA).reg_form(3, 7).f(kCpl0).c(kInvlpg).intercept(Svm::kInvlpga).cpuid(Feature::kSvm),
    B(0x01, "swapgs", SWAPGS).reg_form(7, 0).f(kCpl0).c(kSyscall),
    B(0x01, "rdtscp", RDTSCP).reg_form(7, 1).c(kRdtsc).intercept(Svm::kRdtscp).cpuid(Feature::kRdtscp),
    B(0x01, "monitorx", MONITORX).reg_form(7, 2).pfx(kNoRep).f(kNoOpsize).c(kUnmodelled).intercept(Svm::kMonitor).cpuid(Feature::kMonitorx),
    B(0x01, "mwaitx", MWAITX).reg_form(7, 3).pfx(kNoRep).f(kNoOpsize).c(kUnmodelled).intercept(Svm::kMwait).cpuid(Feature::kMonitorx),
    B(0x01, "clzero", CLZERO).reg_form(7, 4).c(kUnmodelled).cpuid(Feature::kClzero),
    // SEV-SNP, APM vol 3 (PVALIDATE, RMPADJUST, RMPUPDATE, PSMASH, RMPREAD).
    B(0x01, "rmpread", RMPREAD).reg_form(7, 5).pfx(kF2).f(kCpl0).c(kRmpread).cpuid(Feature::kSnp),
    B(0x01, "rmpadjust", RMPADJUST).reg_form(7, 6).pfx(kF3).c(kRmpadjust).cpuid(Feature::kSnp),
    B(0x01, "rmpupdate", RMPUPDATE).reg_form(7, 6).pfx(kF2).f(kCpl0).c(kRmpupdate).cpuid(Feature::kSnp),
    B(0x01, "psmash", PSMASH).reg_form(7, 7).pfx(kF3).f(kCpl0).c(kPsmash).cpuid(Feature::kSnp),
    B(0x01, "pvalidate", PVALIDATE).reg_form(7, 7).pfx(kF2).f(kCpl0).c(kPvalidate).cpuid(Feature::kSnp),
    B(0x05, "syscall", SYSCALL).c(kSyscall),
    B(0x06, "clts", CLTS).f(kCpl0).c(kMovCr),
    B(0x07, "sysret", SYSRET).f(kCpl0).c(kSyscall),
    B(0x08, "invd", INVD).f(kCpl0).c(kUnmodelled).intercept(Svm::kInvd),
    B(0x09, "wbinvd", WBINVD).f(kCpl0).c(kUnmodelled).intercept(Svm::kWbinvd),
    B(0x0B, "ud2", UD2),
    B(0x18, "prefetch", PREFETCH_M, M).mem().c(kMov),  // Group 16 hints
    B(0x18, "nop", NOP_Ev, Ev).reg_form(kAnyField, kAnyField).c(kMov),
    B(0x19, "nop", NOP_Ev, Ev).n(7).c(kMov),  // 0F 19-1F: reserved NOP / hint NOP
    B(0x20, "mov", MOV_RqCd, Rq, Cd).f(kCpl0 | kRegMod | kForce64).c(kMovCr).intercept(Svm::kCr),
    B(0x21, "mov", MOV_RqDd, Rq, Dd).f(kCpl0 | kRegMod | kForce64).c(kMovCr).intercept(Svm::kDr),
    B(0x22, "mov", MOV_CdRq, Cd, Rq).f(kCpl0 | kRegMod | kForce64).c(kMovCr).intercept(Svm::kCr),
    B(0x23, "mov", MOV_DdRq, Dd, Rq).f(kCpl0 | kRegMod | kForce64).c(kMovCr).intercept(Svm::kDr),
    B(0x30, "wrmsr", WRMSR).f(kCpl0).c(kMsr).intercept(Svm::kMsr),
    B(0x31, "rdtsc", RDTSC).c(kRdtsc).intercept(Svm::kRdtsc),
    B(0x32, "rdmsr", RDMSR).f(kCpl0).c(kMsr).intercept(Svm::kMsr),
    B(0x33, "rdpmc", RDPMC).c(kUnmodelled).intercept(Svm::kRdpmc),
    B(0x40, "cmovcc", CMOVCC_GvEv, Gv, Ev).n(16).c(kMov),
    B(0x80, "jcc", JCC_Jz, Jz).n(16).f(kDefault64).c(kBranch),
    B(0x90, "setcc", SETCC_Eb, Eb).n(16).c(kMov),
    B(0xA0, "push", PUSH_FS).f(kDefault64).c(kPush), B(0xA1, "pop", POP_FS).f(kDefault64).c(kDescTable),
    B(0xA2, "cpuid", CPUID).c(kCpuid).intercept(Svm::kCpuid),
    B(0xA3, "bt", BT_EvGv, Ev, Gv).c(kBitTest),
    B(0xA4, "shld", SHLD_EvGvIb, Ev, Gv, Ib).c(kDoubleShift),
    B(0xA5, "shld", SHLD_EvGvCL, Ev, Gv, CL).c(kDoubleShift),
    B(0xA8, "push", PUSH_GS).f(kDefault64).c(kPush), B(0xA9, "pop", POP_GS).f(kDefault64).c(kDescTable),
    B(0xAB, "bts", BTS_EvGv, Ev, Gv).f(kLockable).c(kBitTest),
    B(0xAC, "shrd", SHRD_EvGvIb, Ev, Gv, Ib).c(kDoubleShift),
    B(0xAD, "shrd", SHRD_EvGvCL, Ev, Gv, CL).c(kDoubleShift),
    // Group 15: only the fences and CLFLUSH (no x87/SSE state instructions).
    B(0xAE, "clflush", CLFLUSH_M, M).g(7).mem().pfx(kNoRep).f(kNoOpsize).c(kFence),
    B(0xAE, "lfence", LFENCE).reg_form(5, kAnyField).pfx(kNoRep).f(kNoOpsize).c(kFence),
    B(0xAE, "mfence", MFENCE).reg_form(6, kAnyField).pfx(kNoRep).f(kNoOpsize).c(kFence),
    B(0xAE, "sfence", SFENCE).reg_form(7, kAnyField).pfx(kNoRep).f(kNoOpsize).c(kFence),
    B(0xAF, "imul", IMUL_GvEv, Gv, Ev).c(kImul),
    B(0xB0, "cmpxchg", CMPXCHG_EbGb, Eb, Gb).f(kLockable).c(kAlu),
    B(0xB1, "cmpxchg", CMPXCHG_EvGv, Ev, Gv).f(kLockable).c(kAlu),
    B(0xB3, "btr", BTR_EvGv, Ev, Gv).f(kLockable).c(kBitTest),
    B(0xB6, "movzx", MOVZX_GvEb, Gv, Eb).c(kMov), B(0xB7, "movzx", MOVZX_GvEw, Gv, Ew).c(kMov),
    B(0xB8, "popcnt", POPCNT_GvEv, Gv, Ev).pfx(kF3).c(kBitScan).cpuid(Feature::kPopcnt),
    B(0xB9, "ud1", UD1_GvEv, Gv, Ev),
    // Group 8.
    B(0xBA, "bt", BT_EvIb, Ev, Ib).g(4).c(kBitTest),
    B(0xBA, "bts", BTS_EvIb, Ev, Ib).g(5).f(kLockable).c(kBitTest),
    B(0xBA, "btr", BTR_EvIb, Ev, Ib).g(6).f(kLockable).c(kBitTest),
    B(0xBA, "btc", BTC_EvIb, Ev, Ib).g(7).f(kLockable).c(kBitTest),
    B(0xBB, "btc", BTC_EvGv, Ev, Gv).f(kLockable).c(kBitTest),
    B(0xBC, "bsf", BSF_GvEv, Gv, Ev).pfx(kNoRep).c(kBitScan),
    B(0xBC, "bsf", BSF_GvEv, Gv, Ev).pfx(kF2).c(kBitScan),
    B(0xBC, "tzcnt", TZCNT_GvEv, Gv, Ev).pfx(kF3).c(kBitScan).cpuid(Feature::kBmi1),
    B(0xBD, "bsr", BSR_GvEv, Gv, Ev).pfx(kNoRep).c(kBitScan),
    B(0xBD, "bsr", BSR_GvEv, Gv, Ev).pfx(kF2).c(kBitScan),
    B(0xBD, "lzcnt", LZCNT_GvEv, Gv, Ev).pfx(kF3).c(kBitScan).cpuid(Feature::kAbm),
    B(0xBE, "movsx", MOVSX_GvEb, Gv, Eb).c(kMov), B(0xBF, "movsx", MOVSX_GvEw, Gv, Ew).c(kMov),
    B(0xC0, "xadd", XADD_EbGb, Eb, Gb).f(kLockable), B(0xC1, "xadd", XADD_EvGv, Ev, Gv).f(kLockable),
    // Group 9 /1: CMPXCHG16B with REX.W, CMPXCHG8B without. APM vol 3, CMPXCHG8B / CMPXCHG16B.
    // ESTIMATE: CMPXCHG8B charged as CMPXCHG16B (both microcoded locked compare-exchanges).
    B(0xC7, "cmpxchg16b", CMPXCHG16B_M, M).g(1).mem().w().f(kLockable).c(kCmpxchg16b).cpuid(Feature::kCx16),
    B(0xC7, "cmpxchg8b", CMPXCHG8B_M, M).g(1).mem().nw().f(kLockable).c(kCmpxchg16b),
    B(0xC8, "bswap", BSWAP_Zv, Zv).n(8).c(kAlu),

    // ---- Three-byte map 0F 38, APM vol 3 Table A-4 (integer subset) ----
    C(0xF0, "movbe", MOVBE_GvMv, Gv, Mv).mem().pfx(kNoRep).c(kMov).cpuid(Feature::kMovbe),
    C(0xF1, "movbe", MOVBE_MvGv, Mv, Gv).mem().pfx(kNoRep).c(kMov).cpuid(Feature::kMovbe),
    // ---- Three-byte map 0F 3A: no integer instructions outside VEX; every byte is #UD ----
};

}  // namespace

std::span<const OpcodeRow> opcode_rows() { return kRows; }

std::string_view insn_name(InsnId id) {
  static constexpr std::string_view kNames[] = {
#define X(name) #name,
#include "cpu/decode/insn_ids.inc"
#undef X
  };
  auto i = static_cast<size_t>(id);
  return i < std::size(kNames) ? kNames[i] : std::string_view("?");
}

}  // namespace snpemu::cpu
