// test/cpu/insn_gen.cc
#include "test/cpu/insn_gen.h"

#include <map>

#include "cpu/decode/decoder.h"
#include "cpu/decode/opcode.h"
#include "cpu/state.h"

namespace snpemu::cpu::testing {
namespace {

constexpr uint64_t S = flag::kStatus;
constexpr uint64_t CF = flag::kCf, PF = flag::kPf, AF = flag::kAf, ZF = flag::kZf, SF = flag::kSf,
                   OF = flag::kOf;

// Flag behaviour classes, from the APM vol 3 instruction pages.
enum class Fx : uint8_t {
  kArith, kArithCarry, kLogic, kIncDec, kNone, kShift, kRotate, kRotateCarry, kDoubleShift, kMul,
  kDiv, kBitTest, kBitScan, kSetCf, kCmc, kLahf, kSahf, kPushf, kCond, kLoopZ, kString,
};

// The generator's instruction set: handler id -> flag class. Everything else is not generated:
//  - POPCNT LZCNT TZCNT MOVBE: Unicorn 2.0.1 masks the CPUID features (unicorn#1787); tested by
//    state vectors instead.
//  - RET, JMP/CALL Ev, ENTER, LEAVE, XLAT, POPF: targets / pointers come from random data.
//  - system, I/O and SVM instructions: no oracle semantics in user-mode Unicorn.
std::map<InsnId, Fx> eligible() {
  using I = InsnId;
  std::map<InsnId, Fx> m;
  auto all = [&](std::initializer_list<InsnId> ids, Fx fx) {
    for (InsnId id : ids) m[id] = fx;
  };
  all({I::ADD_EbGb, I::ADD_EvGv, I::ADD_GbEb, I::ADD_GvEv, I::ADD_ALIb, I::ADD_rAXIz, I::ADD_EbIb, I::ADD_EvIz, I::ADD_EvIbs,
       I::SUB_EbGb, I::SUB_EvGv, I::SUB_GbEb, I::SUB_GvEv, I::SUB_ALIb, I::SUB_rAXIz, I::SUB_EbIb, I::SUB_EvIz, I::SUB_EvIbs,
       I::CMP_EbGb, I::CMP_EvGv, I::CMP_GbEb, I::CMP_GvEv, I::CMP_ALIb, I::CMP_rAXIz, I::CMP_EbIb, I::CMP_EvIz, I::CMP_EvIbs,
       I::NEG_Eb, I::NEG_Ev, I::XADD_EbGb, I::XADD_EvGv, I::CMPXCHG_EbGb, I::CMPXCHG_EvGv},
      Fx::kArith);
  all({I::ADC_EbGb, I::ADC_EvGv, I::ADC_GbEb, I::ADC_GvEv, I::ADC_ALIb, I::ADC_rAXIz, I::ADC_EbIb, I::ADC_EvIz, I::ADC_EvIbs,
       I::SBB_EbGb, I::SBB_EvGv, I::SBB_GbEb, I::SBB_GvEv, I::SBB_ALIb, I::SBB_rAXIz, I::SBB_EbIb, I::SBB_EvIz, I::SBB_EvIbs},
      Fx::kArithCarry);
  all({I::AND_EbGb, I::AND_EvGv, I::AND_GbEb, I::AND_GvEv, I::AND_ALIb, I::AND_rAXIz, I::AND_EbIb, I::AND_EvIz, I::AND_EvIbs,
       I::OR_EbGb, I::OR_EvGv, I::OR_GbEb, I::OR_GvEv, I::OR_ALIb, I::OR_rAXIz, I::OR_EbIb, I::OR_EvIz, I::OR_EvIbs,
       I::XOR_EbGb, I::XOR_EvGv, I::XOR_GbEb, I::XOR_GvEv, I::XOR_ALIb, I::XOR_rAXIz, I::XOR_EbIb, I::XOR_EvIz, I::XOR_EvIbs,
       I::TEST_EbGb, I::TEST_EvGv, I::TEST_ALIb, I::TEST_rAXIz, I::TEST_EbIb, I::TEST_EvIz},
      Fx::kLogic);
  all({I::INC_Eb, I::INC_Ev, I::DEC_Eb, I::DEC_Ev}, Fx::kIncDec);
  all({I::NOT_Eb, I::NOT_Ev, I::MOV_EbGb, I::MOV_EvGv, I::MOV_GbEb, I::MOV_GvEv, I::MOV_ALOb, I::MOV_rAXOv,
       I::MOV_ObAL, I::MOV_OvrAX, I::MOV_ZbIb, I::MOV_ZvIv, I::MOV_EbIb, I::MOV_EvIz, I::MOVZX_GvEb,
       I::MOVZX_GvEw, I::MOVSX_GvEb, I::MOVSX_GvEw, I::MOVSXD_GvEd, I::LEA_GvM, I::XCHG_EbGb, I::XCHG_EvGv,
       I::XCHG_ZvrAX, I::NOP_Ev, I::PAUSE, I::CBW, I::CWD, I::BSWAP_Zv, I::PUSH_Zv, I::POP_Zv, I::PUSH_Ev,
       I::POP_Ev, I::PUSH_Iz, I::PUSH_Ibs, I::JMP_Jb, I::JMP_Jz, I::CALL_Jz, I::LOOP_Jb, I::JRCXZ_Jb,
       I::CLD, I::STD},
      Fx::kNone);
  all({I::SHL_Eb, I::SHL_Ev, I::SHR_Eb, I::SHR_Ev, I::SAR_Eb, I::SAR_Ev}, Fx::kShift);
  all({I::ROL_Eb, I::ROL_Ev, I::ROR_Eb, I::ROR_Ev}, Fx::kRotate);
  all({I::RCL_Eb, I::RCL_Ev, I::RCR_Eb, I::RCR_Ev}, Fx::kRotateCarry);
  all({I::SHLD_EvGvIb, I::SHLD_EvGvCL, I::SHRD_EvGvIb, I::SHRD_EvGvCL}, Fx::kDoubleShift);
  all({I::MUL_Eb, I::MUL_Ev, I::IMUL_Eb, I::IMUL_Ev, I::IMUL_GvEv, I::IMUL_GvEvIz, I::IMUL_GvEvIbs}, Fx::kMul);
  all({I::DIV_Eb, I::DIV_Ev, I::IDIV_Eb, I::IDIV_Ev}, Fx::kDiv);
  all({I::BT_EvGv, I::BTS_EvGv, I::BTR_EvGv, I::BTC_EvGv, I::BT_EvIb, I::BTS_EvIb, I::BTR_EvIb, I::BTC_EvIb}, Fx::kBitTest);
  all({I::BSF_GvEv, I::BSR_GvEv}, Fx::kBitScan);
  all({I::CLC, I::STC}, Fx::kSetCf);
  m[I::CMC] = Fx::kCmc;
  m[I::LAHF] = Fx::kLahf;
  m[I::SAHF] = Fx::kSahf;
  m[I::PUSHF] = Fx::kPushf;
  all({I::JCC_Jb, I::JCC_Jz, I::SETCC_Eb, I::CMOVCC_GvEv}, Fx::kCond);
  all({I::LOOPE_Jb, I::LOOPNE_Jb}, Fx::kLoopZ);
  all({I::MOVS_YbXb, I::MOVS_YvXv, I::STOS_YbAL, I::STOS_YvrAX, I::LODS_ALXb, I::LODS_rAXXv}, Fx::kNone);
  all({I::CMPS_XbYb, I::CMPS_XvYv, I::SCAS_ALYb, I::SCAS_rAXYv}, Fx::kString);
  m[I::CMPXCHG16B_M] = Fx::kNone;  // writes ZF only: handled below
  m[I::CMPXCHG8B_M] = Fx::kNone;   // writes ZF only: handled below
  return m;
}

const std::map<InsnId, Fx>& table() {
  static const std::map<InsnId, Fx> kTable = eligible();
  return kTable;
}

uint64_t cond_reads(unsigned cc) {
  static constexpr uint64_t kReads[8] = {OF, CF, ZF, CF | ZF, SF, PF, SF | OF, ZF | SF | OF};
  return kReads[(cc >> 1) & 7];
}

bool is_v(Op op) {
  switch (op) {
    case Op::Ev: case Op::Gv: case Op::Zv: case Op::Iz: case Op::Iv: case Op::rAX: case Op::eAX:
    case Op::Xv: case Op::Yv: case Op::Mv: case Op::Ov:
      return true;
    default:
      return false;
  }
}
bool is_byte_reg(Op op) { return op == Op::Eb || op == Op::Gb || op == Op::Zb; }

struct Encoder {
  SplitMix64& rng;
  Sequence& seq;
  std::vector<uint8_t>& out;

  uint64_t random_value() {
    switch (rng.below(6)) {
      case 0: return rng.below(256);
      case 1: {
        static constexpr uint64_t kEdges[] = {0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
                                              0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
                                              0x7FFFFFFFFFFFFFFF, 0x8000000000000000, ~uint64_t{0}};
        return kEdges[rng.below(std::size(kEdges))];
      }
      case 2: return static_cast<uint64_t>(-static_cast<int64_t>(rng.below(256)));
      default: return rng.next();
    }
  }
};

// Register number for an explicit operand: never RSP/SPL (4 unless it means AH) or R15.
uint8_t pick_reg(SplitMix64& rng, bool rex, bool byte) {
  for (;;) {
    const uint8_t r = static_cast<uint8_t>(rng.below(rex ? 16 : 8));
    if (r == 15) continue;
    if (r == 4 && (rex || !byte)) continue;
    return r;
  }
}

void put_le(std::vector<uint8_t>& v, uint64_t x, unsigned n) {
  for (unsigned i = 0; i < n; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

struct Pending {
  size_t at = 0;     // offset of the rel8/rel32 field
  unsigned size = 0;
  size_t end = 0;    // offset of the end of the branch
};

}  // namespace

int generator_insn_count() { return static_cast<int>(table().size()); }

Sequence generate_sequence(SplitMix64& rng, int max_insns) {
  Sequence seq;
  seq.data.resize(kGenDataSize);
  seq.stack.resize(kGenStackSize);
  for (auto& b : seq.data) b = static_cast<uint8_t>(rng.next());
  for (auto& b : seq.stack) b = static_cast<uint8_t>(rng.next());
  Encoder enc{rng, seq, seq.code};
  for (int r = 0; r < 16; ++r) seq.gpr[r] = enc.random_value();
  seq.gpr[kRsp] = kGenStackTop;
  seq.gpr[kR15] = kGenData;
  seq.rflags = flag::kFixed1 | flag::kIf | (rng.next() & S);
  uint64_t valid = S;
  std::vector<uint8_t>& code = seq.code;
  Pending pending;  // a forward branch waiting for the next instruction's end (size 0: none)

  const auto rows = opcode_rows();
  const int n = 1 + static_cast<int>(rng.below(static_cast<uint32_t>(max_insns)));
  int emitted = 0;
  int attempts = 0;
  while (emitted < n && attempts++ < 1000 && code.size() < kGenCodeSize - 64) {
    const OpcodeRow& row = rows[rng.below(static_cast<uint32_t>(rows.size()))];
    auto it = table().find(row.id);
    if (it == table().end()) continue;
    // F6/F7 /1 (TEST alias): QEMU/Unicorn raise #UD; the host AMD EPYC executes it as TEST
    // (checked with inline assembly while writing this test) and so does snpemu.
    if (row.map == Map::kOneByte && (row.opcode == 0xF6 || row.opcode == 0xF7) && row.reg == 1) continue;
    const Fx fx = it->second;
    const InsnId id = row.id;
    uint8_t opcode = row.opcode;
    unsigned cc = 0;
    if (row.count == 16) {
      cc = rng.below(16);
      opcode = static_cast<uint8_t>(row.opcode + cc);
    }
    // Flags the instruction reads must currently be defined.
    uint64_t reads = 0;
    if (fx == Fx::kArithCarry || fx == Fx::kRotateCarry || fx == Fx::kCmc) reads = CF;
    if (fx == Fx::kLahf || fx == Fx::kPushf) reads = S;
    if (fx == Fx::kCond) reads = cond_reads(cc);
    if (fx == Fx::kLoopZ) reads = ZF;
    if (reads & ~valid) continue;

    bool has_v = false, has_byte_reg = false, has_modrm = row.reg != kAnyField || row.mod != ModForm::kAny;
    for (Op op : row.ops) {
      has_v = has_v || is_v(op);
      has_byte_reg = has_byte_reg || is_byte_reg(op);
      has_modrm = has_modrm || uses_modrm(op);
    }
    const bool is_string = row.flags & row::kRep;
    const bool branch = row.flags & (row::kDefault64 | row::kForce64);
    // 16-bit SHLD/SHRD counts above 16 and 16-bit BSWAP give undefined results: no 66 for them.
    const bool no_opsize = branch || id == InsnId::SHLD_EvGvIb || id == InsnId::SHLD_EvGvCL ||
                           id == InsnId::SHRD_EvGvIb || id == InsnId::SHRD_EvGvCL ||
                           id == InsnId::BSWAP_Zv || id == InsnId::CMPXCHG16B_M ||
                           id == InsnId::CMPXCHG8B_M;
    const bool opsize16 = has_v && !no_opsize && rng.chance(4);
    bool rex_w = (has_v && !(row.flags & row::kDefault64) && rng.chance(2)) || row.rex_w_only;
    // BSF/BSR r32 with a zero source: the host AMD EPYC leaves all 64 bits of the destination
    // unchanged (checked with inline assembly; snpemu agrees), QEMU zero-extends. 32-bit forms
    // are not generated.
    if ((id == InsnId::BSF_GvEv || id == InsnId::BSR_GvEv) && !opsize16) rex_w = true;
    // CMPXCHG r/m32 when EAX equals the destination: the host AMD EPYC leaves RAX untouched
    // (checked with inline assembly; snpemu agrees), QEMU rewrites (zero-extends) RAX.
    if (id == InsnId::CMPXCHG_EvGv && !opsize16) rex_w = true;
    if (branch && (row.flags & row::kDefault64)) rex_w = false;
    // LAHF/SAHF with a REX prefix: QEMU 5 (Unicorn 2.0.1) uses SPL instead of AH; hardware
    // ignores REX here (APM vol 3, LAHF). Not generated with REX.
    const bool rex_forbidden = id == InsnId::LAHF || id == InsnId::SAHF;
    bool use_rex = !rex_forbidden && (rex_w || rng.chance(2));
    const unsigned opsize = rex_w ? 8 : opsize16 ? 2 : 4;

    // Pre-instructions: known shift counts, string pointers, a zero high half for DIV sometimes.
    unsigned count = 0;
    uint32_t string_count = 1;
    std::vector<uint8_t> pre;
    const bool cl_form = row.ops[1] == Op::CL || row.ops[2] == Op::CL;
    if (cl_form) {
      count = rng.chance(3) ? rng.below(256) : rng.below(2 * 8 * opsize + 1);
      pre = {0xB1, static_cast<uint8_t>(count)};  // mov cl, imm8
    }
    if (is_string) {
      const uint32_t si = static_cast<uint32_t>(kGenData + 512 + rng.below(3072));
      const uint32_t di = static_cast<uint32_t>(kGenData + 512 + rng.below(3072));
      pre.push_back(0xBE);  // mov esi, imm32
      put_le(pre, si, 4);
      pre.push_back(0xBF);  // mov edi, imm32
      put_le(pre, di, 4);
      pre.push_back(0xB9);  // mov ecx, imm32
      string_count = rng.below(9);
      put_le(pre, string_count, 4);
      pre.push_back(rng.chance(2) ? 0xFC : 0xFD);  // cld / std
    }

    std::vector<uint8_t> b;
    const bool lockable = (row.flags & row::kLockable);
    // ModRM choices: memory form first, since [R15 + disp] forces a REX prefix (and with it,
    // byte registers 4-7 mean SPL..DIL rather than AH..BH).
    uint8_t reg = 0, rm = 0, mod = 3;
    bool mem = false, sib = false, rip_rel = false, addr32 = false, lea_sib = false;
    if (has_modrm) {
      if (row.mod == ModForm::kMem) mem = true;
      else if (row.mod == ModForm::kReg) mem = false;
      else mem = rng.chance(2);
      // BT* Ev,Gv with memory: the bit offset in Gv reaches anywhere; keep them register-only.
      if (id == InsnId::BT_EvGv || id == InsnId::BTS_EvGv || id == InsnId::BTR_EvGv || id == InsnId::BTC_EvGv) mem = false;
      if (fx == Fx::kDiv) mem = false;  // the divisor register is conditioned below
      // 0F 18 with a register operand: QEMU (Unicorn 2.0.1) raises #UD; Zydis and the APM
      // (0F 18-1F hint NOPs) say NOP. Generated with memory operands only.
      if (row.map == Map::k0F && row.opcode == 0x18) mem = true;
      if (mem) {
        addr32 = rng.chance(8);
        lea_sib = id == InsnId::LEA_GvM && rng.chance(2);
        rip_rel = !lea_sib && rng.chance(3);
        // SHLD/SHRD Ev,Gv,Ib with a RIP-relative operand: QEMU 5 (Unicorn 2.0.1) forgets the
        // immediate byte when computing RIP + disp (it addresses one byte too low); snpemu uses
        // the end of the instruction (APM vol 3, 2.2.1.6). Not generated RIP-relative.
        if (id == InsnId::SHLD_EvGvIb || id == InsnId::SHRD_EvGvIb) rip_rel = false;
        if (!lea_sib && !rip_rel) use_rex = true;
      }
      // Register fields follow their own operand's size: MOVZX Gv, Eb has a byte r/m but a
      // full-width reg (where 4 is ESP, not AH).
      bool reg_byte = false, rm_byte = false;
      for (Op op : row.ops) {
        reg_byte = reg_byte || op == Op::Gb;
        rm_byte = rm_byte || op == Op::Eb;
      }
      has_byte_reg = rm_byte;  // used below for the r/m pick and the DIV conditioning
      reg = row.reg != kAnyField ? static_cast<uint8_t>(row.reg) : pick_reg(rng, use_rex, reg_byte);
      if (mem) {
        if (lea_sib) {
          // LEA computes only: any base and index registers.
          mod = static_cast<uint8_t>(rng.below(3));
          rm = 4;
          sib = true;
        } else {
          mod = rip_rel ? 0 : 2;
          rm = rip_rel ? 5 : (rng.chance(2) ? 4 : 15);
          sib = rm == 4;
        }
      } else {
        do {
          rm = pick_reg(rng, use_rex, has_byte_reg);
        } while (fx == Fx::kDiv && (rm == kRax || rm == kRdx || (rm == 4 && !use_rex)));
      }
    }
    uint8_t zreg = 0;
    const bool has_z = row.ops[0] == Op::Zv || row.ops[0] == Op::Zb;
    if (has_z) {
      zreg = pick_reg(rng, use_rex, row.ops[0] == Op::Zb);
      opcode = static_cast<uint8_t>((row.opcode & ~7) + (zreg & 7));
    }
    uint8_t sib_byte = 0;
    uint8_t rex_x = 0;
    if (sib) {
      if (lea_sib) {
        const uint8_t base = pick_reg(rng, use_rex, false);
        const uint8_t index = rng.chance(4) ? 4 : pick_reg(rng, use_rex, false);
        sib_byte = static_cast<uint8_t>((rng.below(4) << 6) | ((index & 7) << 3) | (base & 7));
        rex_x = index >= 8 ? 2 : 0;
        rm = static_cast<uint8_t>(4 | (base & 8));
        if ((base & 7) == 5 && mod == 0) mod = 1;  // keep a real base register
      } else {
        sib_byte = static_cast<uint8_t>((rng.below(4) << 6) | (4 << 3) | 7);  // [r15 + disp32], no index
        rm = 4 | 8;
        mod = 2;
      }
    }
    // Prefixes.
    if (opsize16) b.push_back(0x66);
    if (addr32) b.push_back(0x67);
    // LOCK NEG: QEMU 5 (Unicorn 2.0.1) computes SF/AF/PF of LOCK NEG from the wrong value; the
    // unlocked form agrees with snpemu and with the host (flags_test). Not generated with LOCK.
    const bool lock_ok = id != InsnId::NEG_Eb && id != InsnId::NEG_Ev;
    if (lockable && lock_ok && mem && id != InsnId::LEA_GvM && rng.chance(4)) b.push_back(0xF0);
    if (row.rep == RepPrefix::kF3) b.push_back(0xF3);
    const bool rep = is_string && rng.chance(2);
    if (rep) b.push_back((fx == Fx::kString && rng.chance(2)) ? 0xF2 : 0xF3);
    uint8_t rex = 0x40 | (rex_w ? 8 : 0) | rex_x;
    if (has_modrm && (reg & 8)) rex |= 4;
    if (has_modrm && (rm & 8)) rex |= 1;
    if (has_z && (zreg & 8)) rex |= 1;
    if (use_rex || rex != 0x40) b.push_back(rex);
    if (row.map != Map::kOneByte) b.push_back(0x0F);
    if (row.map == Map::k0F38) b.push_back(0x38);
    if (row.map == Map::k0F3A) b.push_back(0x3A);
    b.push_back(opcode);
    size_t disp_at = 0;
    if (has_modrm) {
      b.push_back(static_cast<uint8_t>((mod << 6) | ((reg & 7) << 3) | (rm & 7)));
      if (sib) b.push_back(sib_byte);
      if (mem) {
        const unsigned dn = mod == 1 ? 1 : (mod == 2 || rip_rel) ? 4 : 0;
        disp_at = b.size();
        uint32_t off = rng.below(kGenDataSize - 32);
        if (id == InsnId::CMPXCHG16B_M) off &= ~15u;
        put_le(b, off, dn);
      }
    }
    // Immediates.
    size_t rel_at = 0;
    unsigned rel_size = 0;
    for (Op op : row.ops) {
      switch (op) {
        case Op::Ib: {
          uint8_t v = static_cast<uint8_t>(rng.next());
          if (fx == Fx::kShift || fx == Fx::kRotate || fx == Fx::kRotateCarry || fx == Fx::kDoubleShift) {
            v = static_cast<uint8_t>(rng.chance(3) ? rng.below(256) : rng.below(2 * 8 * opsize + 1));
            count = v;
          }
          b.push_back(v);
          break;
        }
        case Op::Ibs: case Op::Iw: case Op::Iz: case Op::Iv: {
          const unsigned sz = op == Op::Ibs ? 1 : op == Op::Iw ? 2 : op == Op::Iz ? (opsize == 2 ? 2 : 4) : opsize;
          put_le(b, enc.random_value(), sz);
          break;
        }
        case Op::One:
          count = 1;
          break;
        case Op::Jb: rel_at = b.size(); rel_size = 1; put_le(b, 0, 1); break;
        case Op::Jz: rel_at = b.size(); rel_size = 4; put_le(b, 0, 4); break;
        case Op::Ob: case Op::Ov:
          put_le(b, kGenData + rng.below(kGenDataSize - 16), addr32 ? 4 : 8);
          break;
        default: break;
      }
    }
    if (fx == Fx::kDiv) {
      // No #DE (Unicorn cannot report it, see unicorn_oracle_test): divisor in 1..127, and the
      // dividend is the sign- or zero-extension of rAX, so every quotient fits.
      const bool byte_op = has_byte_reg;
      const uint8_t grp = byte_op ? 0x80 : 0x83;
      auto emit_rm_imm = [&](uint8_t ext, uint8_t imm) {
        if (opsize16) pre.push_back(0x66);
        if (use_rex || rex != 0x40) pre.push_back(rex & 0x49);  // W and B only
        pre.insert(pre.end(), {grp, static_cast<uint8_t>(0xC0 | (ext << 3) | (rm & 7)), imm});
      };
      emit_rm_imm(4, 0x7F);  // and divisor, 0x7F
      emit_rm_imm(1, 0x01);  // or divisor, 1
      const bool is_signed = id == InsnId::IDIV_Eb || id == InsnId::IDIV_Ev;
      if (byte_op) {
        if (is_signed) pre.insert(pre.end(), {0x66, 0x98});        // cbw
        else pre.insert(pre.end(), {0x0F, 0xB6, 0xC0});            // movzx eax, al
      } else if (is_signed) {
        if (opsize16) pre.push_back(0x66);
        if (rex_w) pre.push_back(0x48);
        pre.push_back(0x99);                                        // cwd / cdq / cqo
      } else {
        pre.insert(pre.end(), {0x31, 0xD2});                        // xor edx, edx
      }
    }
    // Sanity: our decoder must see exactly this row and length.
    auto d = decode64(b);
    if (!d || d->row->id != id || d->length != b.size()) continue;
    // Place it.
    code.insert(code.end(), pre.begin(), pre.end());
    const size_t start = code.size();
    code.insert(code.end(), b.begin(), b.end());
    if (mem && rip_rel) {
      const uint64_t next = kGenCode + code.size();
      uint32_t off = static_cast<uint32_t>(code[start + disp_at]) | (uint32_t{code[start + disp_at + 1]} << 8) |
                     (uint32_t{code[start + disp_at + 2]} << 16) | (uint32_t{code[start + disp_at + 3]} << 24);
      const uint32_t disp = static_cast<uint32_t>(kGenData + off - next);
      for (int i = 0; i < 4; ++i) code[start + disp_at + i] = static_cast<uint8_t>(disp >> (8 * i));
    }
    const bool skippable = pending.size != 0;
    if (pending.size) {  // the previous branch skips exactly this instruction (with its set-up)
      const uint64_t rel = code.size() - pending.end;
      for (unsigned i = 0; i < pending.size; ++i) code[pending.at + i] = static_cast<uint8_t>(rel >> (8 * i));
      pending = Pending{};
    }
    if (rel_size && id != InsnId::CALL_Jz) pending = Pending{start + rel_at, rel_size, code.size()};
    // Flag bookkeeping (APM vol 3 "rFLAGS affected" of each instruction).
    const unsigned width = 8 * (has_byte_reg && !has_v ? 1 : opsize);
    const unsigned masked = count & (width == 64 ? 63 : 31);
    uint64_t def = 0, undef = 0;
    switch (fx) {
      case Fx::kArith: case Fx::kArithCarry: def = S; break;
      case Fx::kString: def = rep && string_count == 0 ? 0 : S; break;  // REP with rCX = 0: no flags
      case Fx::kLogic: def = S & ~AF; undef = AF; break;
      case Fx::kIncDec: def = S & ~CF; break;
      case Fx::kShift:
        if (masked) {
          def = CF | SF | ZF | PF | (masked == 1 ? OF : 0);
          undef = AF | (masked == 1 ? 0 : OF) | (masked >= width ? CF : 0);
        }
        break;
      case Fx::kRotate: case Fx::kRotateCarry:
        if (masked) {
          def = CF | (masked == 1 ? OF : 0);
          undef = masked == 1 ? 0 : OF;
        }
        break;
      case Fx::kDoubleShift:
        if (masked) {
          def = CF | SF | ZF | PF | (masked == 1 ? OF : 0);
          undef = AF | (masked == 1 ? 0 : OF);
        }
        break;
      case Fx::kMul: def = CF | OF; undef = SF | ZF | AF | PF; break;
      case Fx::kDiv: undef = S; break;
      case Fx::kBitTest: def = CF; undef = OF | SF | AF | PF | ZF; break;
      case Fx::kBitScan: def = ZF; undef = CF | OF | SF | AF | PF; break;
      case Fx::kSetCf: case Fx::kCmc: def = CF; break;
      case Fx::kSahf: def = SF | ZF | AF | PF | CF; break;
      default: break;
    }
    if (id == InsnId::CMPXCHG16B_M || id == InsnId::CMPXCHG8B_M) def = ZF;
    // An instruction a branch may jump over defines flags on one path only: after it, a flag is
    // defined only if it is defined on both paths.
    const uint64_t before = valid;
    valid = (valid & ~undef) | def;
    if (skippable) valid &= before;
    seq.mnemonics.emplace_back(insn_name(id));
    seq.valid_after.emplace_back(kGenCode + start, valid);
    ++emitted;
  }
  // A trailing branch keeps displacement 0: it ends at the end of the code either way.
  seq.valid_flags = valid;
  return seq;
}

}  // namespace snpemu::cpu::testing
