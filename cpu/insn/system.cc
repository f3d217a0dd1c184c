// cpu/insn/system.cc: CPUID RDTSC(P) RDMSR WRMSR MOV CR LGDT LIDT SGDT SIDT LTR STR LLDT SLDT
// SMSW LMSW INVLPG CLTS HLT CLI STI SWAPGS SYSCALL SYSRET XGETBV XSETBV fences UD2 UD1.
// CPL-0-only rows are checked by the generic path (row::kCpl0). APM vol 3, chapter 4.
#include "cpu/insn/exec.h"

namespace snpemu::cpu {
namespace {

Outcome CPUID(Exec& x) {
  const uint32_t fn = static_cast<uint32_t>(x.s.gpr[kRax]);
  const uint32_t sub = static_cast<uint32_t>(x.s.gpr[kRcx]);
  const CpuidLeaf l = find_cpuid(x.core.config().cpuid, fn, sub).value_or(CpuidLeaf{});
  x.s.gpr[kRax] = l.eax;
  x.s.gpr[kRbx] = l.ebx;
  x.s.gpr[kRcx] = l.ecx;
  x.s.gpr[kRdx] = l.edx;
  return kNext;
}

// RDTSC: CR4.TSD makes it CPL-0-only. APM vol 3, RDTSC.
Outcome RDTSC(Exec& x) {
  if ((x.s.cr4 & ctl::kCr4Tsd) && x.s.cpl != 0) return raise(gp(0));
  const uint64_t tsc = x.core.tsc();
  x.s.gpr[kRax] = tsc & 0xFFFFFFFF;
  x.s.gpr[kRdx] = tsc >> 32;
  return kNext;
}

Outcome RDTSCP(Exec& x) {
  if (Outcome o = RDTSC(x); o.kind != Outcome::Kind::kNext) return o;
  x.s.gpr[kRcx] = x.s.msr.tsc_aux & 0xFFFFFFFF;
  return kNext;
}

Outcome RDMSR(Exec& x) {
  uint64_t v = 0;
  if (!x.core.read_msr(static_cast<uint32_t>(x.s.gpr[kRcx]), v)) return raise(gp(0));
  x.s.gpr[kRax] = v & 0xFFFFFFFF;
  x.s.gpr[kRdx] = v >> 32;
  return kNext;
}

Outcome WRMSR(Exec& x) {
  const uint64_t v = (x.s.gpr[kRdx] << 32) | (x.s.gpr[kRax] & 0xFFFFFFFF);
  if (!x.core.write_msr(static_cast<uint32_t>(x.s.gpr[kRcx]), v)) return raise(gp(0));
  return kNext;
}

// CR0 bits software may set (PE MP EM TS ET NE WP AM NW CD PG). APM vol 2, 3.1.1.
constexpr uint64_t kCr0Writable = 0xE005003F;
// CR4 bits modelled as writable: VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT UMIP (0-11),
// FSGSBASE PCIDE OSXSAVE (16-18), SMEP SMAP PKE CET (20-23). LA57 (12) is not: 4-level paging
// only. APM vol 2, 3.1.3.
constexpr uint64_t kCr4Writable = 0x00F70FFF;

Outcome MOV_RqCd(Exec& x) {
  uint64_t v;
  switch (x.d.reg) {
    case 0: v = x.s.cr0; break;
    case 2: v = x.s.cr2; break;
    case 3: v = x.s.cr3; break;
    case 4: v = x.s.cr4; break;
    case 8: v = x.s.cr8; break;
    default: return raise(ud());
  }
  x.s.gpr[x.d.rm] = v;
  return kNext;
}

Outcome MOV_CdRq(Exec& x) {
  const uint64_t v = x.s.gpr[x.d.rm];
  switch (x.d.reg) {
    case 0:
      if (v & ~kCr0Writable) return raise(gp(0));
      if ((v & ctl::kCr0Pg) && !(v & ctl::kCr0Pe)) return raise(gp(0));
      // Leaving long mode by clearing PG from 64-bit mode is #GP. APM vol 2, 14.7.
      if (in_64bit_mode(x.s) && !(v & ctl::kCr0Pg) && (x.s.cr0 & ctl::kCr0Pg)) return raise(gp(0));
      {
        const uint64_t old = x.s.cr0;
        x.s.cr0 = v | ctl::kCr0Et;
        x.core.paging_changed(old, x.s.cr4, x.s.efer);
      }
      return kNext;
    case 2: x.s.cr2 = v; return kNext;
    case 3:
      // Bits 62:52 reserved (MBZ); bit 63 is the PCID no-flush hint, not stored. APM vol 2, 3.1.2.
      if ((v << 1) >> 53) return raise(gp(0));
      x.s.cr3 = v;
      x.core.flush_cr3();
      x.s.cr3 = v & ~(uint64_t{1} << 63);
      return kNext;
    case 4:
      if (v & ~kCr4Writable) return raise(gp(0));
      if ((x.s.efer & ctl::kEferLma) && !(v & ctl::kCr4Pae)) return raise(gp(0));
      {
        const uint64_t old = x.s.cr4;
        x.s.cr4 = v;
        x.core.paging_changed(x.s.cr0, old, x.s.efer);
      }
      return kNext;
    case 8:
      if (v >> 4) return raise(gp(0));  // TPR bits 3:0. APM vol 2, 3.1.5
      x.s.cr8 = v;
      return kNext;
    default:
      return raise(ud());
  }
}

// LGDT / LIDT m16&64 (64-bit mode: 8-byte base). SGDT / SIDT store the same.
template <bool kIdt>
Outcome load_table(Exec& x) {
  auto limit = x.load(x.ea, 2);
  if (!limit) return limit.error();
  auto base = x.load(x.ea + 2, 8);
  if (!base) return base.error();
  if (!is_canonical(*base)) return raise(gp(0));
  DescriptorTable& t = kIdt ? x.s.idtr : x.s.gdtr;
  t.limit = static_cast<uint16_t>(*limit);
  t.base = *base;
  return kNext;
}

template <bool kIdt>
Outcome store_table(Exec& x) {
  const DescriptorTable& t = kIdt ? x.s.idtr : x.s.gdtr;
  if (Outcome o = x.store(x.ea, 2, t.limit); o.kind != Outcome::Kind::kNext) return o;
  return x.store(x.ea + 2, 8, t.base);
}

// LTR: a 16-byte available 64-bit TSS descriptor in the GDT; marks it busy. APM vol 2, 12.2.5.
Outcome LTR_Ew(Exec& x) {
  auto sel = x.read(0);
  if (!sel) return sel.error();
  const uint16_t s = static_cast<uint16_t>(*sel);
  if ((s & 0xFFFC) == 0 || (s & 4)) return raise(gp(s & 0xFFFC));
  auto lo = read_descriptor(x, s);
  if (!lo) return lo.error();
  auto hi = read_descriptor(x, static_cast<uint16_t>(s + 8));
  if (!hi) return hi.error();
  const unsigned type = (*lo >> 40) & 0x1F;  // S=0, type 9 = available 64-bit TSS
  if (type != 0x09) return raise(gp(s & 0xFFFC));
  if (!((*lo >> 47) & 1)) return Outcome{Outcome::Kind::kFault, Fault{Vector::kNp, true, s & 0xFFFCu, 0}, 0};
  const uint64_t busy = *lo | (uint64_t{2} << 40);
  if (Outcome o = x.store(x.s.gdtr.base + (s & 0xFFF8), 8, busy, false, true); o.kind != Outcome::Kind::kNext) return o;
  Segment& tr = x.s.tr;
  tr.selector = s;
  tr.base = ((*lo >> 16) & 0xFFFFFF) | (((*lo >> 56) & 0xFF) << 24) | ((*hi & 0xFFFFFFFF) << 32);
  tr.limit = static_cast<uint32_t>((*lo & 0xFFFF) | (((*lo >> 48) & 0xF) << 16));
  if ((*lo >> 55) & 1) tr.limit = (tr.limit << 12) | 0xFFF;
  tr.attrib = descriptor_attrib(busy);
  return kNext;
}

// LLDT: only the null selector is modelled (an LDT is never used by 64-bit kernels we run).
Outcome LLDT_Ew(Exec& x) {
  auto sel = x.read(0);
  if (!sel) return sel.error();
  if ((*sel & 0xFFFC) != 0) return Outcome{Outcome::Kind::kUnimplemented, {}, 0};
  x.s.ldtr = Segment{};
  return kNext;
}

template <bool kTr>
Outcome store_selector(Exec& x) {
  const uint16_t sel = kTr ? x.s.tr.selector : x.s.ldtr.selector;
  if (x.d.mem) return x.store(x.ea, 2, sel);
  x.set_gpr(x.d.rm, x.d.opsize, sel);
  return kNext;
}

Outcome SMSW_Ev(Exec& x) {
  if (x.d.mem) return x.store(x.ea, 2, x.s.cr0 & 0xFFFF);
  x.set_gpr(x.d.rm, x.d.opsize, x.s.cr0);
  return kNext;
}

// LMSW: loads CR0 bits 3:0; cannot clear PE. APM vol 3, LMSW.
Outcome LMSW_Ew(Exec& x) {
  auto v = x.read(0);
  if (!v) return v.error();
  x.s.cr0 = (x.s.cr0 & ~uint64_t{0xE}) | (*v & 0xF) | (x.s.cr0 & ctl::kCr0Pe);
  return kNext;
}

// INVLPG: the address is not accessed; no fault for an unmapped page. APM vol 3, INVLPG.
Outcome INVLPG_M(Exec& x) {
  x.core.flush_page(x.ea);
  return kNext;
}

Outcome CLTS(Exec& x) {
  x.s.cr0 &= ~uint64_t{8};
  return kNext;
}

Outcome HLT(Exec&) { return Outcome{Outcome::Kind::kHalt, {}, 0}; }

// CLI / STI: IOPL-sensitive (no PVI/VME modelled). STI opens a one-instruction shadow.
Outcome CLI(Exec& x) {
  if (x.s.cpl > ((x.s.rflags >> 12) & 3)) return raise(gp(0));
  x.s.rflags &= ~flag::kIf;
  return kNext;
}
Outcome STI(Exec& x) {
  if (x.s.cpl > ((x.s.rflags >> 12) & 3)) return raise(gp(0));
  if (!(x.s.rflags & flag::kIf)) x.s.interrupt_shadow = true;
  x.s.rflags |= flag::kIf;
  return kNext;
}

// SWAPGS: exchange GS.base with KERNEL_GS_BASE. APM vol 3, SWAPGS.
Outcome SWAPGS(Exec& x) {
  std::swap(x.s.seg[kGs].base, x.s.msr.kernel_gs_base);
  return kNext;
}

// SYSCALL (64-bit caller): RCX <- RIP, R11 <- RFLAGS, CS/SS from STAR[47:32], RIP <- LSTAR,
// RFLAGS &= ~SFMASK. APM vol 3, SYSCALL.
Outcome SYSCALL(Exec& x) {
  if (!(x.s.efer & ctl::kEferSce)) return raise(ud());
  const uint16_t sel = static_cast<uint16_t>(x.s.msr.star >> 32);
  x.s.gpr[kRcx] = x.next_rip;
  x.s.gpr[kR11] = x.s.rflags & ~flag::kRf;
  x.s.seg[kCs] = Segment{static_cast<uint16_t>(sel & 0xFFFC), 0x29B, 0xFFFFFFFF, 0};  // L, P, DPL0 code
  x.s.seg[kSs] = Segment{static_cast<uint16_t>(sel + 8), 0xC93, 0xFFFFFFFF, 0};
  x.s.cpl = 0;
  x.s.rflags = (x.s.rflags & ~x.s.msr.sfmask & ~flag::kRf) | flag::kFixed1;
  x.next_rip = x.s.msr.lstar;
  return kNext;
}

// SYSRET to 64-bit code (REX.W): CS <- STAR[63:48] + 16, SS <- STAR[63:48] + 8, RPL 3.
// UNCONFIRMED: AMD does not #GP on a non-canonical RCX here (Intel does); we follow AMD.
Outcome SYSRET(Exec& x) {
  if (!(x.s.efer & ctl::kEferSce)) return raise(ud());
  const uint16_t base = static_cast<uint16_t>(x.s.msr.star >> 48);
  if (x.d.rex & 8) {
    x.s.seg[kCs] = Segment{static_cast<uint16_t>((base + 16) | 3), 0x2FB, 0xFFFFFFFF, 0};
    x.next_rip = x.s.gpr[kRcx];
  } else {
    return Outcome{Outcome::Kind::kUnimplemented, {}, 0};  // return to compatibility mode
  }
  x.s.seg[kSs].selector = static_cast<uint16_t>((base + 8) | 3);
  x.s.cpl = 3;
  x.s.rflags = (x.s.gpr[kR11] & ~(flag::kRf | flag::kVm)) | flag::kFixed1;
  return kNext;
}

Outcome XGETBV(Exec& x) {
  if (static_cast<uint32_t>(x.s.gpr[kRcx]) != 0) return raise(gp(0));
  x.s.gpr[kRax] = x.s.xcr0 & 0xFFFFFFFF;
  x.s.gpr[kRdx] = x.s.xcr0 >> 32;
  return kNext;
}

// XSETBV: only x87 (bit 0, must be 1) and SSE/AVX bits 1-2 are accepted. APM vol 2, 11.5.2.
Outcome XSETBV(Exec& x) {
  const uint64_t v = (x.s.gpr[kRdx] << 32) | (x.s.gpr[kRax] & 0xFFFFFFFF);
  if (static_cast<uint32_t>(x.s.gpr[kRcx]) != 0 || !(v & 1) || (v & ~uint64_t{7}) ||
      ((v & 4) && !(v & 2))) {
    return raise(gp(0));
  }
  x.s.xcr0 = v;
  return kNext;
}

template <bool kSet>
Outcome ac_flag(Exec& x) {
  x.s.rflags = kSet ? (x.s.rflags | flag::kAc) : (x.s.rflags & ~flag::kAc);
  return kNext;
}

Outcome NOP(Exec&) { return kNext; }
Outcome UD(Exec&) { return raise(ud()); }
Outcome unimplemented(Exec&) { return Outcome{Outcome::Kind::kUnimplemented, {}, 0}; }

}  // namespace

void register_system(HandlerTable& t) {
  using I = InsnId;
  set(t, I::CPUID, &CPUID);
  set(t, I::RDTSC, &RDTSC);
  set(t, I::RDTSCP, &RDTSCP);
  set(t, I::RDMSR, &RDMSR);
  set(t, I::WRMSR, &WRMSR);
  set(t, I::MOV_RqCd, &MOV_RqCd);
  set(t, I::MOV_CdRq, &MOV_CdRq);
  set(t, I::LGDT_M, &load_table<false>);
  set(t, I::LIDT_M, &load_table<true>);
  set(t, I::SGDT_M, &store_table<false>);
  set(t, I::SIDT_M, &store_table<true>);
  set(t, I::LTR_Ew, &LTR_Ew);
  set(t, I::LLDT_Ew, &LLDT_Ew);
  set(t, I::STR_Ev, &store_selector<true>);
  set(t, I::SLDT_Ev, &store_selector<false>);
  set(t, I::SMSW_Ev, &SMSW_Ev);
  set(t, I::LMSW_Ew, &LMSW_Ew);
  set(t, I::INVLPG_M, &INVLPG_M);
  set(t, I::CLTS, &CLTS);
  set(t, I::INVD, &NOP);
  set(t, I::WBINVD, &NOP);
  set(t, I::HLT, &HLT);
  set(t, I::CLI, &CLI);
  set(t, I::STI, &STI);
  set(t, I::SWAPGS, &SWAPGS);
  set(t, I::SYSCALL, &SYSCALL);
  set(t, I::SYSRET, &SYSRET);
  set(t, I::XGETBV, &XGETBV);
  set(t, I::XSETBV, &XSETBV);
  set(t, I::CLAC, &ac_flag<false>);
  set(t, I::STAC, &ac_flag<true>);
  for (InsnId id : {I::LFENCE, I::MFENCE, I::SFENCE, I::CLFLUSH_M}) set(t, id, &NOP);
  set(t, I::UD2, &UD);
  set(t, I::UD1_GvEv, &UD);
  for (InsnId id : {I::MOV_RqDd, I::MOV_DdRq, I::RDPMC, I::VERR_Ew, I::VERW_Ew, I::MONITORX, I::MWAITX, I::CLZERO}) {
    set(t, id, &unimplemented);
  }
}

}  // namespace snpemu::cpu
