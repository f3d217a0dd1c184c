// cpu/decode/decoder.cc: prefixes, REX, ModRM/SIB, displacement and immediates (APM vol 3,
// chapter 1), with the opcode row chosen from the tables in opcode_table.cc.
#include "cpu/decode/decoder.h"

#include <array>
#include <vector>

namespace snpemu::cpu {
namespace {

struct Slot {
  uint16_t first = 0;
  uint8_t count = 0;
  bool modrm = false;
  bool reg_mod = false;  // ModRM.mod ignored (MOV CR/DR)
};

struct Index {
  std::array<Slot, static_cast<size_t>(Map::kCount) * 256> slots{};
  std::vector<const OpcodeRow*> rows;
};

bool row_has_modrm(const OpcodeRow& r) {
  if (r.reg != kAnyField || r.rm != kAnyField || r.mod != ModForm::kAny) return true;
  for (Op op : r.ops) {
    if (uses_modrm(op)) return true;
  }
  return false;
}

Index build_index() {
  Index idx;
  for (size_t m = 0; m < static_cast<size_t>(Map::kCount); ++m) {
    for (unsigned opc = 0; opc < 256; ++opc) {
      Slot& s = idx.slots[m * 256 + opc];
      s.first = static_cast<uint16_t>(idx.rows.size());
      for (const OpcodeRow& r : opcode_rows()) {
        if (static_cast<size_t>(r.map) != m || opc < r.opcode || opc >= r.opcode + r.count) continue;
        idx.rows.push_back(&r);
        ++s.count;
        s.modrm = s.modrm || row_has_modrm(r);
        s.reg_mod = s.reg_mod || (r.flags & row::kRegMod);
      }
    }
  }
  return idx;
}

const Index& index() {
  static const Index kIndex = build_index();
  return kIndex;
}

constexpr uint8_t kCsReg = 1;

bool rep_matches(RepPrefix want, uint8_t rep) {
  switch (want) {
    case RepPrefix::kAny: return true;
    case RepPrefix::kNone: return rep == 0;
    case RepPrefix::kF3: return rep == 0xF3;
    case RepPrefix::kF2: return rep == 0xF2;
  }
  return false;
}

// Reads `n` little-endian bytes at `pos`.
uint64_t read_le(std::span<const uint8_t> b, size_t pos, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{b[pos + i]} << (8 * i);
  return v;
}

uint64_t sign_extend(uint64_t v, size_t bytes) {
  if (bytes >= 8) return v;
  unsigned shift = static_cast<unsigned>(64 - 8 * bytes);
  return static_cast<uint64_t>(static_cast<int64_t>(v << shift) >> shift);
}

}  // namespace

namespace {

// Fills op_kind / op_reg / op_size from the row's APM operand types (the same cases as the
// executor's generic operand access in cpu/insn/exec.cc).
void resolve_operands(DecodedInsn& d) {
  for (size_t k = 0; k < d.row->ops.size(); ++k) {
    const Op op = d.row->ops[k];
    const uint8_t n = operand_size(d, op);
    d.op_size[k] = n;
    auto gpr = [&](uint8_t r) {
      if (n == 1 && d.rex == 0 && r >= 4 && r < 8) {
        d.op_kind[k] = OpKind::kGprHigh;
        d.op_reg[k] = static_cast<uint8_t>(r - 4);
      } else {
        d.op_kind[k] = OpKind::kGpr;
        d.op_reg[k] = r;
      }
    };
    switch (op) {
      case Op::Eb: case Op::Ew: case Op::Ed: case Op::Ev:
        if (d.mem) {
          d.op_kind[k] = OpKind::kMem;
        } else {
          gpr(d.rm);
        }
        break;
      case Op::M: case Op::Mv: d.op_kind[k] = OpKind::kMem; break;
      case Op::Gb: case Op::Gw: case Op::Gv: gpr(d.reg); break;
      case Op::Zb: case Op::Zv: gpr(d.rm); break;
      case Op::Rq: d.op_kind[k] = OpKind::kGpr; d.op_reg[k] = d.rm; break;
      case Op::AL: case Op::rAX: case Op::eAX: gpr(0); break;
      case Op::Ib: case Op::Ibs: case Op::Iw: case Op::Iz: case Op::Iv: case Op::Jb: case Op::Jz:
        d.op_kind[k] = OpKind::kImm;
        d.op_reg[k] = k > 0 && d.row->ops[0] == Op::Iw ? 1 : 0;
        break;
      default: d.op_kind[k] = OpKind::kOther; break;
    }
  }
}

}  // namespace

uint8_t operand_size(const DecodedInsn& insn, Op op) {
  switch (op) {
    case Op::Eb: case Op::Gb: case Op::Ib: case Op::Ibs: case Op::Jb: case Op::Ob: case Op::Zb:
    case Op::AL: case Op::CL: case Op::Xb: case Op::Yb: case Op::One:
      return 1;
    case Op::Ew: case Op::Gw: case Op::Iw: case Op::Sw: case Op::DX:
      return 2;
    case Op::Ed:
      return 4;
    case Op::Ev: case Op::Gv: case Op::Mv: case Op::Iv: case Op::Ov: case Op::Zv: case Op::rAX:
    case Op::Xv: case Op::Yv:
      return insn.opsize;
    case Op::Iz: case Op::Jz: case Op::eAX: case Op::Xz: case Op::Yz:
      return insn.opsize == 2 ? 2 : 4;
    case Op::Rq: case Op::Cd: case Op::Dd:
      return 8;
    case Op::None: case Op::M:
      return 0;
  }
  return 0;
}

std::expected<DecodedInsn, DecodeError> decode64(std::span<const uint8_t> bytes) {
  DecodedInsn d;
  const size_t avail = bytes.size() < kMaxInsnLength ? bytes.size() : kMaxInsnLength;
  // Needing byte `pos` means the instruction is at least pos + 1 bytes long.
  auto need = [&](size_t count) -> std::expected<void, DecodeError> {
    if (count > kMaxInsnLength) return std::unexpected(DecodeError::kTooLong);
    if (count > avail) return std::unexpected(DecodeError::kTruncated);
    return {};
  };
  size_t pos = 0;
  bool opsize_prefix = false;
  bool addr_prefix = false;
  // Legacy prefixes in any order; a REX counts only immediately before the opcode. APM vol 3, 1.2.
  for (;;) {
    if (auto ok = need(pos + 1); !ok) return std::unexpected(ok.error());
    uint8_t b = bytes[pos];
    if (b >= 0x40 && b <= 0x4F) {
      d.rex = b;
      ++pos;
      continue;
    }
    bool legacy = true;
    switch (b) {
      case 0x66: opsize_prefix = true; break;
      case 0x67: addr_prefix = true; break;
      case 0x26: case 0x2E: case 0x36: case 0x3E: break;  // ignored in 64-bit mode (APM vol 3, 1.2.4)
      case 0x64: d.seg = 4; break;                       // FS
      case 0x65: d.seg = 5; break;                       // GS
      case 0xF0: d.lock = true; break;
      case 0xF2: case 0xF3: d.rep = b; break;
      default: legacy = false; break;
    }
    if (!legacy) break;
    d.rex = 0;
    ++pos;
  }
  Map map = Map::kOneByte;
  uint8_t opc = bytes[pos++];
  if (opc == 0x0F) {
    if (auto ok = need(pos + 1); !ok) return std::unexpected(ok.error());
    opc = bytes[pos++];
    map = Map::k0F;
    if (opc == 0x38 || opc == 0x3A) {
      map = opc == 0x38 ? Map::k0F38 : Map::k0F3A;
      if (auto ok = need(pos + 1); !ok) return std::unexpected(ok.error());
      opc = bytes[pos++];
    }
  }
  d.opcode = opc;
  const Index& idx = index();
  const Slot& slot = idx.slots[static_cast<size_t>(map) * 256 + opc];
  if (slot.count == 0) return std::unexpected(DecodeError::kUndefined);

  const bool rex_w = d.rex & 8;
  const uint8_t rex_r = (d.rex & 4) ? 8 : 0;
  const uint8_t rex_x = (d.rex & 2) ? 8 : 0;
  const uint8_t rex_b = (d.rex & 1) ? 8 : 0;
  d.addrsize = addr_prefix ? 4 : 8;
  uint8_t raw_reg = 0, raw_rm = 0;
  if (slot.modrm) {
    if (auto ok = need(pos + 1); !ok) return std::unexpected(ok.error());
    uint8_t modrm = bytes[pos++];
    d.has_modrm = true;
    d.mod = modrm >> 6;
    raw_reg = (modrm >> 3) & 7;
    raw_rm = modrm & 7;
    d.reg = raw_reg | rex_r;
    d.rm = raw_rm | rex_b;
    if (slot.reg_mod) d.mod = 3;
    if (d.mod != 3) {
      d.mem = true;
      size_t disp_bytes = d.mod == 1 ? 1 : d.mod == 2 ? 4 : 0;
      if (raw_rm == 4) {  // SIB. APM vol 3, 1.4.2 Table 1-13
        if (auto ok = need(pos + 1); !ok) return std::unexpected(ok.error());
        uint8_t sib = bytes[pos++];
        d.scale = sib >> 6;
        uint8_t index = ((sib >> 3) & 7) | rex_x;
        d.index = index == 4 ? kNoReg : index;
        if ((sib & 7) == 5 && d.mod == 0) {
          d.base = kNoReg;
          disp_bytes = 4;
        } else {
          d.base = (sib & 7) | rex_b;
        }
      } else if (raw_rm == 5 && d.mod == 0) {  // RIP-relative. APM vol 3, 1.7
        d.base = kRipBase;
        disp_bytes = 4;
      } else {
        d.base = d.rm;
      }
      if (disp_bytes) {
        if (auto ok = need(pos + disp_bytes); !ok) return std::unexpected(ok.error());
        d.disp = static_cast<int32_t>(sign_extend(read_le(bytes, pos, disp_bytes), disp_bytes));
        pos += disp_bytes;
      }
    }
  } else {
    d.rm = (opc & 7) | rex_b;  // Z operands: register in the opcode's low bits
  }

  const OpcodeRow* row = nullptr;
  for (uint8_t i = 0; i < slot.count; ++i) {
    const OpcodeRow* r = idx.rows[slot.first + i];
    if (r->reg != kAnyField && r->reg != raw_reg) continue;
    if (r->mod == ModForm::kMem && d.mod == 3) continue;
    if (r->mod == ModForm::kReg && d.mod != 3) continue;
    if (r->rm != kAnyField && r->rm != raw_rm) continue;
    if (!rep_matches(r->rep, d.rep)) continue;
    if (r->rex_w_only && !rex_w) continue;
    if (r->no_rex_w && rex_w) continue;
    row = r;
    break;
  }
  if (row == nullptr || (row->flags & row::kInvalid64)) return std::unexpected(DecodeError::kUndefined);
  if (d.lock && !((row->flags & row::kLockable) && d.mem)) return std::unexpected(DecodeError::kUndefined);
  if (opsize_prefix && (row->flags & row::kNoOpsize)) return std::unexpected(DecodeError::kUndefined);
  // Register fields that name no register: Sreg 6-7 and MOV to CS; CR other than 0, 2, 3, 4, 8;
  // DR 8-15. APM vol 3, MOV (segment / CRn / DRn).
  for (size_t k = 0; k < row->ops.size(); ++k) {
    const Op op = row->ops[k];
    if (op == Op::Sw && (raw_reg >= 6 || (k == 0 && raw_reg == kCsReg))) return std::unexpected(DecodeError::kUndefined);
    if (op == Op::Cd && d.reg != 0 && d.reg != 2 && d.reg != 3 && d.reg != 4 && d.reg != 8) {
      return std::unexpected(DecodeError::kUndefined);
    }
    if (op == Op::Dd && d.reg >= 8) return std::unexpected(DecodeError::kUndefined);
  }
  d.row = row;
  if (row->flags & row::kForce64) {
    d.opsize = 8;
  } else if (row->flags & row::kDefault64) {
    d.opsize = rex_w ? 8 : opsize_prefix ? 2 : 8;  // REX.W beats 66. APM vol 3, 1.2.3
  } else {
    d.opsize = rex_w ? 8 : opsize_prefix ? 2 : 4;
  }

  bool first_imm = true;
  for (Op op : row->ops) {
    size_t n = 0;
    bool sign = false;
    switch (op) {
      case Op::Ib: n = 1; break;
      case Op::Ibs: case Op::Jb: n = 1; sign = true; break;
      case Op::Iw: n = 2; break;
      case Op::Iz: case Op::Jz: n = d.opsize == 2 ? 2 : 4; sign = true; break;
      case Op::Iv: n = d.opsize; break;
      case Op::Ob: case Op::Ov: n = d.addrsize; break;
      default: break;
    }
    if (n == 0) continue;
    if (auto ok = need(pos + n); !ok) return std::unexpected(ok.error());
    uint64_t v = read_le(bytes, pos, n);
    if (sign) v = sign_extend(v, n);
    pos += n;
    (first_imm ? d.imm : d.imm2) = v;
    first_imm = false;
  }
  d.length = static_cast<uint8_t>(pos);
  resolve_operands(d);
  return d;
}

}  // namespace snpemu::cpu
