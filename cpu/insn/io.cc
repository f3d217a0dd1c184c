// cpu/insn/io.cc: IN OUT INS OUTS through the bus's port callback. APM vol 3, IN/OUT.
// Privilege: with CPL > IOPL the TSS I/O permission bitmap decides (io_permitted below).
#include <algorithm>
#include <array>
#include <span>

#include "cpu/insn/exec.h"

namespace snpemu::cpu {

Result<bool> io_permitted(Core& core, uint16_t port, unsigned size) {
  const ArchState& s = core.state();
  if (s.cpl <= ((s.rflags >> 12) & 3)) return true;  // APM vol 2, 13.2.2
  // The 16-bit I/O map base lives at TSS offset 0x66; a TSS whose limit does not cover it has
  // no bitmap. APM vol 2, 12.2.4 (64-bit TSS, Figure 12-8).
  constexpr uint32_t kIoMapBaseOffset = 0x66;
  const Segment& tr = s.tr;
  if (tr.limit < kIoMapBaseOffset + 1) return false;
  auto read = [&](uint64_t offset, std::span<uint8_t> out) -> Result<void> {
    uint64_t bus_error = kNoBusError;
    auto r = core.read_linear(tr.base + offset, out, LinearAccess{mmu::AccessKind::kRead, true}, &bus_error);
    if (r) return {};
    if (bus_error != kNoBusError) return std::unexpected(Outcome{Outcome::Kind::kBusError, {}, bus_error});
    return std::unexpected(raise(r.error()));
  };
  std::array<uint8_t, 2> base_bytes{};
  if (auto r = read(kIoMapBaseOffset, base_bytes); !r) return std::unexpected(r.error());
  const uint32_t map_base = base_bytes[0] | (uint32_t{base_bytes[1]} << 8);
  // Every bit for ports port..port+size-1 must be clear; a bit whose byte lies beyond the TSS
  // limit counts as set. APM vol 2, 13.2.2. UNCONFIRMED: hardware may also demand the byte
  // after the last one needed (Intel SDM vol 1, 19.5.2 reads two bytes; Bochs does); this
  // model reads only the bytes that hold the needed bits.
  const uint32_t first = port, last = port + size - 1;  // no 16-bit wrap: port FFFF + 1 is bit 0x10000
  for (uint32_t byte = first / 8; byte <= last / 8; ++byte) {
    const uint64_t offset = uint64_t{map_base} + byte;
    if (offset > tr.limit) return false;
    std::array<uint8_t, 1> bits{};
    if (auto r = read(offset, bits); !r) return std::unexpected(r.error());
    for (uint32_t p = std::max(first, byte * 8); p <= std::min(last, byte * 8 + 7); ++p) {
      if ((bits[0] >> (p % 8)) & 1) return false;
    }
  }
  return true;
}

namespace {

Outcome io_check(Exec& x, uint16_t port, unsigned size) {
  auto ok = io_permitted(x.core, port, size);
  if (!ok) return ok.error();
  return *ok ? kNext : raise(gp(0));
}

Outcome io_done(IoResult r) {
  return r == IoResult::kExit ? Outcome{Outcome::Kind::kIoExit, {}, 0} : kNext;
}

// IN AL|eAX, Ib|DX.
Outcome IN(Exec& x) {
  const unsigned n = x.size(0);
  const uint16_t port = static_cast<uint16_t>(*x.read(1) & 0xFFFF);
  if (Outcome o = io_check(x, port, n); o.kind != Outcome::Kind::kNext) return o;
  uint32_t v = 0;
  const IoResult r = x.core.bus().io_in(port, static_cast<uint8_t>(n), v);
  x.set_gpr(kRax, n, v);
  return io_done(r);
}

// OUT Ib|DX, AL|eAX.
Outcome OUT(Exec& x) {
  const unsigned n = x.size(1);
  const uint16_t port = static_cast<uint16_t>(*x.read(0) & 0xFFFF);
  if (Outcome o = io_check(x, port, n); o.kind != Outcome::Kind::kNext) return o;
  const IoResult r = x.core.bus().io_out(port, static_cast<uint8_t>(n), static_cast<uint32_t>(x.gpr(kRax, n)));
  return io_done(r);
}

// INS / OUTS, one element per step (REP re-executes until rCX is 0).
template <bool kIn>
Outcome string_io(Exec& x) {
  const unsigned n = kIn ? x.size(0) : x.size(1);
  const unsigned a = x.d.addrsize;
  const uint16_t port = static_cast<uint16_t>(x.s.gpr[kRdx]);
  // UNCONFIRMED: the permission check precedes the REP count test (a denied REP INS/OUTS
  // with rCX = 0 still raises #GP), as Bochs and QEMU order them; not stated in the APM.
  if (Outcome o = io_check(x, port, n); o.kind != Outcome::Kind::kNext) return o;
  if (x.d.rep && x.gpr(kRcx, a) == 0) return kNext;
  const uint64_t delta = x.flag(flag::kDf) ? uint64_t{0} - n : n;
  IoResult r;
  if (kIn) {
    uint32_t v = 0;
    r = x.core.bus().io_in(port, static_cast<uint8_t>(n), v);
    if (Outcome o = x.store(x.string_di(), n, v); o.kind != Outcome::Kind::kNext) return o;
    x.set_gpr(kRdi, a == 4 ? 4 : 8, x.s.gpr[kRdi] + delta);
  } else {
    auto v = x.load(x.string_si(), n);
    if (!v) return v.error();
    r = x.core.bus().io_out(port, static_cast<uint8_t>(n), static_cast<uint32_t>(*v));
    x.set_gpr(kRsi, a == 4 ? 4 : 8, x.s.gpr[kRsi] + delta);
  }
  if (x.d.rep) {
    x.set_gpr(kRcx, a == 4 ? 4 : 8, x.gpr(kRcx, a) - 1);
    if (x.gpr(kRcx, a) != 0) x.next_rip -= x.d.length;
  }
  return io_done(r);
}

}  // namespace

void register_io(HandlerTable& t) {
  using I = InsnId;
  for (InsnId id : {I::IN_ALIb, I::IN_eAXIb, I::IN_ALDX, I::IN_eAXDX}) set(t, id, &IN);
  for (InsnId id : {I::OUT_IbAL, I::OUT_IbeAX, I::OUT_DXAL, I::OUT_DXeAX}) set(t, id, &OUT);
  set(t, I::INS_YbDX, &string_io<true>);
  set(t, I::INS_YzDX, &string_io<true>);
  set(t, I::OUTS_DXXb, &string_io<false>);
  set(t, I::OUTS_DXXz, &string_io<false>);
}

}  // namespace snpemu::cpu
