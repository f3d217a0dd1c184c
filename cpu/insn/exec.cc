// cpu/insn/exec.cc: operand fetch and write-back by APM operand type, memory and stack access.
#include "cpu/insn/exec.h"

#include <cstring>

#include "base/types.h"

namespace snpemu::cpu {

uint64_t Exec::gpr(unsigned r, unsigned size) const {
  if (size == 1 && d.rex == 0 && r >= 4 && r < 8) return (s.gpr[r - 4] >> 8) & 0xFF;
  return s.gpr[r] & size_mask(size);
}

void Exec::set_gpr(unsigned r, unsigned size, uint64_t v) {
  switch (size) {
    case 1:
      if (d.rex == 0 && r >= 4 && r < 8) {
        s.gpr[r - 4] = (s.gpr[r - 4] & ~uint64_t{0xFF00}) | ((v & 0xFF) << 8);
      } else {
        s.gpr[r] = (s.gpr[r] & ~uint64_t{0xFF}) | (v & 0xFF);
      }
      break;
    case 2: s.gpr[r] = (s.gpr[r] & ~uint64_t{0xFFFF}) | (v & 0xFFFF); break;
    case 4: s.gpr[r] = v & 0xFFFFFFFF; break;
    default: s.gpr[r] = v; break;
  }
}

namespace {

Outcome access_failed(const Fault& f, uint64_t bus_error) {
  if (bus_error != kNoBusError) return Outcome{Outcome::Kind::kBusError, {}, bus_error};
  return raise(f);
}

}  // namespace

Outcome Exec::load_bytes(uint64_t linear, std::span<uint8_t> out, bool system) {
  uint64_t bus_error = kNoBusError;
  auto r = core.read_linear(linear, out, LinearAccess{mmu::AccessKind::kRead, system}, &bus_error);
  return r ? kNext : access_failed(r.error(), bus_error);
}

Outcome Exec::store_bytes(uint64_t linear, std::span<const uint8_t> in, bool system) {
  uint64_t bus_error = kNoBusError;
  auto r = core.write_linear(linear, in, LinearAccess{mmu::AccessKind::kWrite, system}, &bus_error);
  return r ? kNext : access_failed(r.error(), bus_error);
}

Result<uint64_t> Exec::load_slow(uint64_t linear, unsigned size, bool stack, bool system) {
  if ((s.rflags & flag::kAc) && alignment_fault(linear, size, system)) return std::unexpected(raise(ac()));
  // Within one page: one translation (inline with CR0.PG = 0, as translate() does it), then
  // the bus's page pointer; the same accesses and faults as read_linear() below.
  if ((linear & kPageOffsetMask) + size <= kPageSize) {
    uint64_t bus_error = kNoBusError;
    const auto pa = !(s.cr0 & ctl::kCr0Pg) && !core.nested_paging() && is_canonical(linear)
                        ? std::expected<uint64_t, Fault>(linear)
                        : core.translate(linear, LinearAccess{mmu::AccessKind::kRead, system}, &bus_error);
    if (!pa) {
      Outcome o = access_failed(pa.error(), bus_error);
      if (stack && o.kind == Outcome::Kind::kFault && o.fault.vector == Vector::kGp) o.fault = ss(0);
      return std::unexpected(o);
    }
    uint64_t v = 0;
    const bool encrypted = core.last_access_encrypted();
    if (!encrypted) {
      if (const uint8_t* page = core.data_page_pointer(*pa >> 12)) {
        std::memcpy(&v, page + (*pa & kPageOffsetMask), size);  // little-endian host
        return v;
      }
    }
    if (!core.bus().read(*pa, std::span(reinterpret_cast<uint8_t*>(&v), size))) {
      return std::unexpected(Outcome{Outcome::Kind::kBusError, {}, *pa});
    }
    if (encrypted) core.crypt(*pa, std::span(reinterpret_cast<uint8_t*>(&v), size));
    return v;
  }
  std::array<uint8_t, 8> buf{};
  Outcome o = load_bytes(linear, std::span(buf.data(), size), system);
  if (o.kind != Outcome::Kind::kNext) {
    if (stack && o.kind == Outcome::Kind::kFault && o.fault.vector == Vector::kGp) o.fault = ss(0);
    return std::unexpected(o);
  }
  uint64_t v = 0;
  std::memcpy(&v, buf.data(), size);  // little-endian host
  return v;
}

Outcome Exec::store(uint64_t linear, unsigned size, uint64_t v, bool stack, bool system) {
  if ((s.rflags & flag::kAc) && alignment_fault(linear, size, system)) [[unlikely]] return raise(ac());
  std::array<uint8_t, 8> buf{};
  std::memcpy(buf.data(), &v, size);
  Outcome o = store_bytes(linear, std::span<const uint8_t>(buf.data(), size), system);
  if (stack && o.kind == Outcome::Kind::kFault && o.fault.vector == Vector::kGp) o.fault = ss(0);
  return o;
}

Result<uint64_t> Exec::read_generic(unsigned k) {
  const Op op = d.row->ops[k];
  const unsigned n = operand_size(d, op);
  switch (op) {
    case Op::Eb: case Op::Ew: case Op::Ed: case Op::Ev:
      if (d.mem) return load(ea, n);
      return gpr(d.rm, n);
    case Op::M: case Op::Mv:
      return load(ea, n);
    case Op::Gb: case Op::Gw: case Op::Gv:
      return gpr(d.reg, n);
    case Op::Zb: case Op::Zv:
      return gpr(d.rm, n);
    case Op::Rq:
      return s.gpr[d.rm];
    case Op::AL: case Op::rAX: case Op::eAX:
      return gpr(kRax, n);
    case Op::CL:
      return s.gpr[kRcx] & 0xFF;
    case Op::DX:
      return s.gpr[kRdx] & 0xFFFF;
    case Op::One:
      return 1;
    case Op::Ib: case Op::Ibs: case Op::Iw: case Op::Iz: case Op::Iv: case Op::Jb: case Op::Jz:
      // The second immediate of a row (ENTER Iw, Ib) was decoded into imm2.
      return k > 0 && d.row->ops[0] == Op::Iw ? d.imm2 : d.imm;
    case Op::Ob: case Op::Ov: {
      uint64_t a = d.imm;
      if (d.seg == kFs || d.seg == kGs) a += s.seg[d.seg].base;
      return load(a, n);
    }
    case Op::Sw:
      return d.reg < kSegCount ? s.seg[d.reg].selector : 0;
    default:
      return std::unexpected(raise(ud()));
  }
}

Outcome Exec::write_generic(unsigned k, uint64_t v) {
  const Op op = d.row->ops[k];
  const unsigned n = operand_size(d, op);
  switch (op) {
    case Op::Eb: case Op::Ew: case Op::Ed: case Op::Ev:
      if (d.mem) return store(ea, n, v);
      set_gpr(d.rm, n, v);
      return kNext;
    case Op::M: case Op::Mv:
      return store(ea, n, v);
    case Op::Gb: case Op::Gw: case Op::Gv:
      set_gpr(d.reg, n, v);
      return kNext;
    case Op::Zb: case Op::Zv:
      set_gpr(d.rm, n, v);
      return kNext;
    case Op::Rq:
      s.gpr[d.rm] = v;
      return kNext;
    case Op::AL: case Op::rAX: case Op::eAX:
      set_gpr(kRax, n, v);
      return kNext;
    case Op::Ob: case Op::Ov: {
      uint64_t a = d.imm;
      if (d.seg == kFs || d.seg == kGs) a += s.seg[d.seg].base;
      return store(a, n, v);
    }
    default:
      return raise(ud());
  }
}

Outcome Exec::push(uint64_t v, unsigned size) {
  const uint64_t rsp = s.gpr[kRsp] - size;
  Outcome o = store(rsp, size, v, true);
  if (o.kind == Outcome::Kind::kNext) s.gpr[kRsp] = rsp;
  return o;
}

Result<uint64_t> Exec::pop(unsigned size) {
  auto v = load(s.gpr[kRsp], size, true);
  if (v) s.gpr[kRsp] += size;
  return v;
}

uint64_t Exec::string_si() const {
  uint64_t a = s.gpr[kRsi] & size_mask(d.addrsize);
  if (d.seg == kFs || d.seg == kGs) a += s.seg[d.seg].base;
  return a;
}

uint64_t Exec::string_di() const { return s.gpr[kRdi] & size_mask(d.addrsize); }

}  // namespace snpemu::cpu
