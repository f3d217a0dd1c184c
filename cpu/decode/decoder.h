// cpu/decode/decoder.h: generic x86-64 instruction decoding driven by the opcode tables.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <span>

#include "cpu/decode/opcode.h"

namespace snpemu::cpu {

inline constexpr uint8_t kMaxInsnLength = 15;  // APM vol 3, 1.1: longer raises #GP(0)
inline constexpr uint8_t kNoReg = 0xFF;
inline constexpr uint8_t kRipBase = 16;  // base "register" of a RIP-relative operand
inline constexpr uint8_t kNoSeg = 0xFF;

/// Where an operand lives, resolved once at decode time so that operand access in the
/// executor is a table lookup rather than a walk over the APM operand types.
enum class OpKind : uint8_t {
  kOther,    // anything below not covered (CL, DX, Sw, O, X/Y, ...): the generic path
  kGpr,      // general-purpose register op_reg[k], op_size[k] bytes (low bytes)
  kGprHigh,  // AH/CH/DH/BH: bits 15:8 of register op_reg[k] (byte operand, no REX)
  kMem,      // the ModRM memory operand, op_size[k] bytes
  kImm,      // an immediate: imm, or imm2 when op_reg[k] = 1
};

/// A decoded instruction: the matched row plus everything the prefixes and ModRM said.
struct DecodedInsn {
  const OpcodeRow* row = nullptr;
  uint8_t length = 0;
  uint8_t opcode = 0;       // the opcode byte actually matched (row->opcode .. +count-1)
  uint8_t opsize = 4;       // bytes of a 'v' operand: 2, 4 or 8
  uint8_t addrsize = 8;     // bytes of an address: 4 or 8
  uint8_t seg = kNoSeg;     // segment override (FS/GS matter in 64-bit mode), or kNoSeg
  uint8_t rep = 0;          // 0, 0xF2 or 0xF3 (the last one seen)
  uint8_t rex = 0;          // the REX byte, or 0
  bool lock = false;
  bool has_modrm = false;
  bool mem = false;         // r/m names memory
  uint8_t mod = 0;
  uint8_t reg = 0;          // ModRM.reg with REX.R
  uint8_t rm = 0;           // ModRM.rm with REX.B (register operand), or opcode-register
  uint8_t base = kNoReg;    // memory: base register, kRipBase, or kNoReg
  uint8_t index = kNoReg;   // memory: index register or kNoReg
  uint8_t scale = 0;        // memory: log2 of the index scale
  int32_t disp = 0;
  uint64_t imm = 0;         // first immediate, sign-extended where the operand type says so
  uint64_t imm2 = 0;        // second immediate (ENTER)
  std::array<OpKind, 3> op_kind{};   // per row operand: where it lives
  std::array<uint8_t, 3> op_reg{};   // kGpr / kGprHigh: register; kImm: 1 = imm2
  std::array<uint8_t, 3> op_size{};  // operand_size(*this, row->ops[k])

  /// Low 3 bits of the opcode byte: the condition code of Jcc/SETcc/CMOVcc.
  uint8_t cc() const { return opcode & 0x0F; }
};

/// Why decoding failed.
enum class DecodeError : uint8_t {
  kUndefined,  // no row matches, or a prefix rule is broken: #UD
  kTooLong,    // the instruction would exceed 15 bytes: #GP(0)
  kTruncated,  // more bytes are needed than were given (fetch more and retry)
};

/// Decodes one instruction in 64-bit mode from `bytes` (at most 15 are examined).
std::expected<DecodedInsn, DecodeError> decode64(std::span<const uint8_t> bytes);

/// Byte size of an operand of type `op` for the instruction, 0 if it has no size.
uint8_t operand_size(const DecodedInsn& insn, Op op);

}  // namespace snpemu::cpu
