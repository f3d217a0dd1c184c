// cpu/insn/segment.cc: descriptor reads and data-segment loads in 64-bit mode. APM vol 2, 4.7-4.8.
#include "cpu/insn/exec.h"

namespace snpemu::cpu {

Result<uint64_t> read_descriptor(Exec& x, uint16_t selector) {
  if (selector & 4) {  // LDT: not modelled yet (LLDT accepts only null)
    return std::unexpected(raise(gp(selector & 0xFFFC)));
  }
  const uint32_t offset = selector & 0xFFF8;
  if (offset + 7u > x.s.gdtr.limit) return std::unexpected(raise(gp(selector & 0xFFFC)));
  return x.load(x.s.gdtr.base + offset, 8, false, true);
}

Outcome load_data_segment(Exec& x, unsigned seg, uint16_t selector) {
  Segment& sr = x.s.seg[seg];
  if ((selector & 0xFFFC) == 0) {
    // Null selector: allowed for all but SS at CPL 3. APM vol 2, 4.8.1 / 14.x.
    if (seg == kSs && x.s.cpl == 3) return raise(gp(0));
    // UNCONFIRMED: AMD keeps the hidden FS/GS base when a null selector is loaded; modelled so.
    sr.selector = selector;
    sr.attrib = 0;
    if (seg != kFs && seg != kGs) sr.base = 0;
    return kNext;
  }
  auto desc = read_descriptor(x, selector);
  if (!desc) return desc.error();
  const uint64_t d = *desc;
  const bool s_bit = (d >> 44) & 1;
  const unsigned type = (d >> 40) & 0xF;
  const bool code = type & 8;
  const unsigned dpl = (d >> 45) & 3;
  const unsigned rpl = selector & 3;
  const uint32_t err = selector & 0xFFFC;
  if (!s_bit) return raise(gp(err));
  if (seg == kSs) {
    if (code || !(type & 2) || rpl != x.s.cpl || dpl != x.s.cpl) return raise(gp(err));
  } else if (code && !(type & 2)) {
    return raise(gp(err));  // execute-only code segment
  }
  if (!((d >> 47) & 1)) {
    return raise(Fault{seg == kSs ? Vector::kSs : Vector::kNp, true, err, 0});
  }
  if (!(type & 1)) {  // set the accessed bit as the processor does
    if (Outcome o = x.store(x.s.gdtr.base + (selector & 0xFFF8), 8, d | (uint64_t{1} << 40), false, true);
        o.kind != Outcome::Kind::kNext) {
      return o;
    }
  }
  sr.selector = selector;
  sr.attrib = descriptor_attrib(d | (uint64_t{1} << 40));
  sr.base = ((d >> 16) & 0xFFFFFF) | (((d >> 56) & 0xFF) << 24);
  sr.limit = static_cast<uint32_t>((d & 0xFFFF) | (((d >> 48) & 0xF) << 16));
  if ((d >> 55) & 1) sr.limit = (sr.limit << 12) | 0xFFF;
  return kNext;
}

}  // namespace snpemu::cpu
