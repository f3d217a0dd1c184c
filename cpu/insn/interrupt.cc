// cpu/insn/interrupt.cc: INT n, INT3, INT1 and IRET. Delivery itself is the core's
// (cpu/exception.cc); handlers only name the vector. APM vol 3, INT / IRET; vol 2, 8.9.
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

Outcome software(Vector v) { return Outcome{Outcome::Kind::kSoftwareInt, Fault{v, false, 0, 0}, 0}; }

Outcome INT_Ib(Exec& x) { return software(static_cast<Vector>(x.d.imm & 0xFF)); }
Outcome INT3(Exec&) { return software(Vector::kBp); }
// INT1 (ICEBP) raises #DB without the gate-DPL check; modelled as a software #DB.
// UNCONFIRMED: the DPL check exemption (APM vol 3, INT1) is not modelled separately.
Outcome INT1(Exec&) { return software(Vector::kDb); }

// IRET in 64-bit mode pops RIP, CS, RFLAGS, RSP and SS unconditionally. APM vol 3, IRET.
Outcome IRET(Exec& x) {
  const unsigned n = x.d.opsize;
  if (n == 2) return Outcome{Outcome::Kind::kUnimplemented, {}, 0};
  const uint64_t rsp = x.s.gpr[kRsp];
  uint64_t v[5];
  for (unsigned i = 0; i < 5; ++i) {
    auto w = x.load(rsp + i * n, n, true);
    if (!w) return w.error();
    v[i] = *w;
  }
  const uint64_t rip = v[0];
  const uint16_t cs = static_cast<uint16_t>(v[1]);
  const uint64_t new_flags = v[2];
  const uint16_t ss = static_cast<uint16_t>(v[4]);
  const unsigned new_cpl = cs & 3;
  if ((cs & 0xFFFC) == 0 || new_cpl < x.s.cpl) return raise(gp(cs & 0xFFFC));
  auto cs_desc = read_descriptor(x, cs);
  if (!cs_desc) return cs_desc.error();
  const uint16_t cs_attrib = descriptor_attrib(*cs_desc);
  if (!((*cs_desc >> 43) & 1) || !((*cs_desc >> 44) & 1)) return raise(gp(cs & 0xFFFC));
  if (!(cs_attrib & Segment::kPresent)) {
    return raise(Fault{Vector::kNp, true, static_cast<uint32_t>(cs & 0xFFFC), 0});
  }
  if (!(cs_attrib & Segment::kLong)) return Outcome{Outcome::Kind::kUnimplemented, {}, 0};
  if (!is_canonical(rip)) return raise(gp(0));
  // RFLAGS: as POPF at the old CPL (APM vol 3, IRET "RFLAGS").
  uint64_t mask = flag::kStatus | flag::kTf | flag::kDf | flag::kNt | flag::kAc | flag::kId |
                  flag::kRf | flag::kVif | flag::kVip;
  const unsigned iopl = (x.s.rflags >> 12) & 3;
  if (x.s.cpl == 0) mask |= flag::kIopl;
  if (x.s.cpl <= iopl) mask |= flag::kIf;
  mask &= size_mask(n);
  const unsigned old_cpl = x.s.cpl;
  x.s.cpl = static_cast<uint8_t>(new_cpl);
  Outcome o = load_data_segment(x, kSs, ss);
  if (o.kind != Outcome::Kind::kNext) {
    x.s.cpl = static_cast<uint8_t>(old_cpl);
    return o;
  }
  x.s.seg[kCs] = Segment{cs, cs_attrib, 0xFFFFFFFF, 0};
  x.s.rflags = (x.s.rflags & ~mask) | (new_flags & mask) | flag::kFixed1;
  x.s.gpr[kRsp] = n == 4 ? (v[3] & 0xFFFFFFFF) : v[3];
  x.next_rip = rip;
  return kNext;
}

}  // namespace

void register_interrupt(HandlerTable& t) {
  using I = InsnId;
  set(t, I::INT_Ib, &INT_Ib);
  set(t, I::INT3, &INT3);
  set(t, I::INT1, &INT1);
  set(t, I::IRET, &IRET);
}

}  // namespace snpemu::cpu
