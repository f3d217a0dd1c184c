// cpu/insn/mov.cc: MOV family, LEA, MOVZX/MOVSX/MOVSXD, MOVBE, XCHG, CMPXCHG(16B), XADD,
// CBW..CQO, CMOVcc, SETcc, LAHF/SAHF, XLAT, flag-bit instructions, NOP forms. APM vol 3, ch. 3.
#include <bit>

#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

// MOV op0, op1 (every plain MOV form; immediates are already sized by the decoder).
Outcome MOV(Exec& x) {
  auto v = x.read(1);
  if (!v) return v.error();
  return x.write(0, *v);
}

Outcome MOV_EvSw(Exec& x) {
  if (x.d.reg >= kSegCount) return raise(ud());
  const uint16_t sel = x.s.seg[x.d.reg].selector;
  if (x.d.mem) return x.store(x.ea, 2, sel);  // memory form always stores 16 bits
  x.set_gpr(x.d.rm, x.d.opsize, sel);          // register form zero-extends
  return kNext;
}

Outcome MOV_SwEw(Exec& x) {
  if (x.d.reg >= kSegCount || x.d.reg == kCs) return raise(ud());
  auto v = x.read(1);
  if (!v) return v.error();
  return load_data_segment(x, x.d.reg, static_cast<uint16_t>(*v));
}

Outcome LEA_GvM(Exec& x) {
  x.set_gpr(x.d.reg, x.d.opsize, x.ea_offset);
  return kNext;
}

template <bool kSigned>
Outcome extend(Exec& x) {
  const unsigned from = x.size(1);
  auto v = x.read(1);
  if (!v) return v.error();
  const uint64_t r = kSigned ? static_cast<uint64_t>(to_signed(*v, from)) : *v;
  x.set_gpr(x.d.reg, x.d.opsize, r);
  return kNext;
}

uint64_t byteswap_n(uint64_t v, unsigned n) {
  if (n == 2) return std::byteswap(static_cast<uint16_t>(v));
  if (n == 4) return std::byteswap(static_cast<uint32_t>(v));
  return std::byteswap(v);
}

Outcome MOVBE_GvMv(Exec& x) {
  auto v = x.read(1);
  if (!v) return v.error();
  x.set_gpr(x.d.reg, x.d.opsize, byteswap_n(*v, x.d.opsize));
  return kNext;
}

Outcome MOVBE_MvGv(Exec& x) {
  return x.store(x.ea, x.d.opsize, byteswap_n(x.gpr(x.d.reg, x.d.opsize), x.d.opsize));
}

Outcome XCHG(Exec& x) {
  // 90 without REX.B is NOP, not XCHG eAX, eAX (which would zero-extend). APM vol 3, NOP.
  if (x.d.opcode == 0x90 && x.d.row->ops[0] == Op::Zv && x.d.rm == kRax) return kNext;
  auto a = x.read(0);
  if (!a) return a.error();
  auto b = x.read(1);
  if (!b) return b.error();
  if (Outcome o = x.write(0, *b); o.kind != Outcome::Kind::kNext) return o;
  return x.write(1, *a);
}

Outcome NOP(Exec&) { return kNext; }

// CMPXCHG Eb/Ev, Gb/Gv: compare rAX with the destination. The destination is written either
// way (with its old value on a mismatch: APM vol 3, CMPXCHG), so a 32-bit register destination
// is zero-extended in both cases (as Unicorn/QEMU do).
Outcome CMPXCHG(Exec& x) {
  const unsigned n = x.size(0);
  auto dst = x.read(0);
  if (!dst) return dst.error();
  const uint64_t acc = x.gpr(kRax, n);
  const FlagOut f = sub(acc, *dst, 0, n);
  const bool equal = (acc & size_mask(n)) == (*dst & size_mask(n));
  if (Outcome o = x.write(0, equal ? x.gpr(x.d.reg, n) : *dst); o.kind != Outcome::Kind::kNext) return o;
  if (!equal) x.set_gpr(kRax, n, *dst);
  x.set_flags(f);
  return kNext;
}

// CMPXCHG8B m64: EDX:EAX = m64 ? (ZF = 1, m64 <- ECX:EBX) : (ZF = 0, EDX:EAX <- m64); no
// alignment requirement (#AC only under alignment checking). APM vol 3, CMPXCHG8B.
// Like CMPXCHG16B, the destination is written in both cases (a locked read-modify-write).
Outcome CMPXCHG8B_M(Exec& x) {
  auto m = x.load(x.ea, 8);
  if (!m) return m.error();
  const uint64_t edx_eax = (x.s.gpr[kRdx] << 32) | (x.s.gpr[kRax] & 0xFFFFFFFF);
  if (*m == edx_eax) {
    const uint64_t ecx_ebx = (x.s.gpr[kRcx] << 32) | (x.s.gpr[kRbx] & 0xFFFFFFFF);
    if (Outcome o = x.store(x.ea, 8, ecx_ebx); o.kind != Outcome::Kind::kNext) return o;
    x.set_flags({0, flag::kZf, flag::kZf, 0});
  } else {
    if (Outcome o = x.store(x.ea, 8, *m); o.kind != Outcome::Kind::kNext) return o;
    x.s.gpr[kRax] = *m & 0xFFFFFFFF;  // 32-bit writes zero-extend. APM vol 1, 3.1.2
    x.s.gpr[kRdx] = *m >> 32;
    x.set_flags({0, 0, flag::kZf, 0});
  }
  return kNext;
}

Outcome CMPXCHG16B_M(Exec& x) {
  if (x.ea & 15) return raise(gp(0));  // APM vol 3, CMPXCHG16B: 16-byte alignment
  auto lo = x.load(x.ea, 8);
  if (!lo) return lo.error();
  auto hi = x.load(x.ea + 8, 8);
  if (!hi) return hi.error();
  if (*lo == x.s.gpr[kRax] && *hi == x.s.gpr[kRdx]) {
    if (Outcome o = x.store(x.ea, 8, x.s.gpr[kRbx]); o.kind != Outcome::Kind::kNext) return o;
    if (Outcome o = x.store(x.ea + 8, 8, x.s.gpr[kRcx]); o.kind != Outcome::Kind::kNext) return o;
    x.set_flags({0, flag::kZf, flag::kZf, 0});
  } else {
    if (Outcome o = x.store(x.ea, 8, *lo); o.kind != Outcome::Kind::kNext) return o;
    x.s.gpr[kRax] = *lo;
    x.s.gpr[kRdx] = *hi;
    x.set_flags({0, 0, flag::kZf, 0});
  }
  return kNext;
}

// XADD: TEMP <- SRC + DEST; SRC <- DEST; DEST <- TEMP (DEST last: XADD r, r keeps the sum).
Outcome XADD(Exec& x) {
  const unsigned n = x.size(0);
  auto dst = x.read(0);
  if (!dst) return dst.error();
  const uint64_t src = x.gpr(x.d.reg, n);
  const FlagOut f = add(*dst, src, 0, n);
  if (x.d.mem) {
    if (Outcome o = x.write(0, f.value); o.kind != Outcome::Kind::kNext) return o;
    x.set_gpr(x.d.reg, n, *dst);
  } else {
    x.set_gpr(x.d.reg, n, *dst);
    x.write(0, f.value);
  }
  x.set_flags(f);
  return kNext;
}

// CBW / CWDE / CDQE.
Outcome CBW(Exec& x) {
  const unsigned n = x.d.opsize;
  x.set_gpr(kRax, n, static_cast<uint64_t>(to_signed(x.gpr(kRax, n / 2), n / 2)));
  return kNext;
}

// CWD / CDQ / CQO.
Outcome CWD(Exec& x) {
  const unsigned n = x.d.opsize;
  const bool neg = x.gpr(kRax, n) & sign_bit(n);
  x.set_gpr(kRdx, n, neg ? ~uint64_t{0} : 0);
  return kNext;
}

// CMOVcc: the source is read either way; a 32-bit destination is zero-extended either way.
Outcome CMOVCC_GvEv(Exec& x) {
  auto v = x.read(1);
  if (!v) return v.error();
  const unsigned n = x.d.opsize;
  x.set_gpr(x.d.reg, n, x.cond(x.d.cc()) ? *v : x.gpr(x.d.reg, n));
  return kNext;
}

Outcome SETCC_Eb(Exec& x) { return x.write(0, x.cond(x.d.cc()) ? 1 : 0); }

// LAHF: AH <- SF:ZF:0:AF:0:PF:1:CF. SAHF: the reverse. APM vol 3, LAHF/SAHF.
constexpr uint64_t kAhFlags = flag::kSf | flag::kZf | flag::kAf | flag::kPf | flag::kCf;
Outcome LAHF(Exec& x) {
  const uint64_t ah = (x.s.rflags & kAhFlags) | flag::kFixed1;
  x.s.gpr[kRax] = (x.s.gpr[kRax] & ~uint64_t{0xFF00}) | (ah << 8);
  return kNext;
}
Outcome SAHF(Exec& x) {
  const uint64_t ah = (x.s.gpr[kRax] >> 8) & 0xFF;
  x.s.rflags = (x.s.rflags & ~kAhFlags) | (ah & kAhFlags);
  return kNext;
}

Outcome XLAT(Exec& x) {
  uint64_t a = (x.s.gpr[kRbx] + (x.s.gpr[kRax] & 0xFF)) & size_mask(x.d.addrsize);
  if (x.d.seg == kFs || x.d.seg == kGs) a += x.s.seg[x.d.seg].base;
  auto v = x.load(a, 1);
  if (!v) return v.error();
  x.s.gpr[kRax] = (x.s.gpr[kRax] & ~uint64_t{0xFF}) | *v;
  return kNext;
}

template <uint64_t kBit, int kOp>  // kOp: 0 clear, 1 set, 2 complement
Outcome flag_op(Exec& x) {
  if (kOp == 0) x.s.rflags &= ~kBit;
  if (kOp == 1) x.s.rflags |= kBit;
  if (kOp == 2) x.s.rflags ^= kBit;
  return kNext;
}

}  // namespace

void register_mov(HandlerTable& t) {
  using I = InsnId;
  for (InsnId id : {I::MOV_EbGb, I::MOV_EvGv, I::MOV_GbEb, I::MOV_GvEv, I::MOV_ALOb, I::MOV_rAXOv, I::MOV_ObAL,
                    I::MOV_OvrAX, I::MOV_ZbIb, I::MOV_ZvIv, I::MOV_EbIb, I::MOV_EvIz}) {
    set(t, id, &MOV);
  }
  set(t, I::MOV_EvSw, &MOV_EvSw);
  set(t, I::MOV_SwEw, &MOV_SwEw);
  set(t, I::LEA_GvM, &LEA_GvM);
  set(t, I::MOVZX_GvEb, &extend<false>);
  set(t, I::MOVZX_GvEw, &extend<false>);
  set(t, I::MOVSX_GvEb, &extend<true>);
  set(t, I::MOVSX_GvEw, &extend<true>);
  set(t, I::MOVSXD_GvEd, &extend<true>);
  set(t, I::MOVBE_GvMv, &MOVBE_GvMv);
  set(t, I::MOVBE_MvGv, &MOVBE_MvGv);
  set(t, I::XCHG_EbGb, &XCHG);
  set(t, I::XCHG_EvGv, &XCHG);
  set(t, I::XCHG_ZvrAX, &XCHG);
  set(t, I::PAUSE, &NOP);
  set(t, I::NOP_Ev, &NOP);
  set(t, I::PREFETCH_M, &NOP);
  set(t, I::CMPXCHG_EbGb, &CMPXCHG);
  set(t, I::CMPXCHG_EvGv, &CMPXCHG);
  set(t, I::CMPXCHG8B_M, &CMPXCHG8B_M);
  set(t, I::CMPXCHG16B_M, &CMPXCHG16B_M);
  set(t, I::XADD_EbGb, &XADD);
  set(t, I::XADD_EvGv, &XADD);
  set(t, I::CBW, &CBW);
  set(t, I::CWD, &CWD);
  set(t, I::CMOVCC_GvEv, &CMOVCC_GvEv);
  set(t, I::SETCC_Eb, &SETCC_Eb);
  set(t, I::LAHF, &LAHF);
  set(t, I::SAHF, &SAHF);
  set(t, I::XLAT, &XLAT);
  set(t, I::CLC, &flag_op<flag::kCf, 0>);
  set(t, I::STC, &flag_op<flag::kCf, 1>);
  set(t, I::CMC, &flag_op<flag::kCf, 2>);
  set(t, I::CLD, &flag_op<flag::kDf, 0>);
  set(t, I::STD, &flag_op<flag::kDf, 1>);
}

}  // namespace snpemu::cpu
