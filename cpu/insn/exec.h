// cpu/insn/exec.h: what an instruction handler sees: the decoded instruction, the core, and the
// generic operand access (fetch by APM operand type, write back) so handlers hold only semantics.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <expected>

#include "base/types.h"

#include "cpu/cpu.h"
#include "cpu/decode/decoder.h"
#include "cpu/insn/flags.h"

namespace snpemu::cpu {

/// How an instruction ended.
struct Outcome {
  enum class Kind : uint8_t {
    kNext,           // retired; RIP <- next_rip
    kFault,          // raised `fault`; nothing architectural was committed past the fault
    kHalt,           // HLT
    kIoExit,         // port access completed, bus asked to stop
    kBusError,       // access to no memory at `address`
    kUnimplemented,  // no semantics yet
    kSoftwareInt,    // INT n / INT3 / INT1: deliver `fault.vector` with return RIP = next_rip
    kVmexit,         // the handler performed a world switch to the host (#VMEXIT)
  };
  Kind kind = Kind::kNext;
  Fault fault{};
  uint64_t address = 0;
};
inline constexpr Outcome kNext{};
inline constexpr Outcome raise(Fault f) { return Outcome{Outcome::Kind::kFault, f, 0}; }

template <class T>
using Result = std::expected<T, Outcome>;

/// Execution context of one instruction.
class Exec {
 public:
  Exec(Core& c, const DecodedInsn& insn, uint64_t next)
      : core(c), s(c.state()), d(insn), next_rip(next) {}

  Core& core;
  ArchState& s;
  const DecodedInsn& d;
  uint64_t next_rip;  // RIP after this instruction; branches overwrite it
  uint64_t ea = 0;         // linear address of the ModRM memory operand (set by compute_ea)
  uint64_t ea_offset = 0;  // the same without the segment base (what LEA returns)

  /// Computes `ea` from ModRM/SIB/displacement, the segment base and the address size.
  void compute_ea();

  // General-purpose registers by number and size (1, 2, 4, 8). Byte registers 4-7 are AH..BH
  // when the instruction has no REX prefix. 32-bit writes zero-extend. APM vol 1, 3.1.2.
  uint64_t gpr(unsigned r, unsigned size) const;
  void set_gpr(unsigned r, unsigned size, uint64_t v);

  // Memory by linear address (translated when CR0.PG = 1); #GP(0) (or #SS(0) for stack
  // accesses) when non-canonical, #AC(0) when misaligned under alignment checking (see
  // alignment_fault), #PF from the walk. `system` marks implicit supervisor accesses
  // (descriptor tables, TSS), which are never alignment-checked.
  Result<uint64_t> load(uint64_t linear, unsigned size, bool stack = false, bool system = false);
  Result<uint64_t> load_slow(uint64_t linear, unsigned size, bool stack, bool system);
  Outcome store(uint64_t linear, unsigned size, uint64_t v, bool stack = false, bool system = false);
  /// True when a `size`-byte data access at `linear` raises #AC: CR0.AM = 1, RFLAGS.AC = 1,
  /// CPL 3, not an implicit supervisor access, and `linear` not a multiple of `size`
  /// (APM vol 2, 8.2.18). Callers test RFLAGS.AC first (the one hot-path branch).
  bool alignment_fault(uint64_t linear, unsigned size, bool system) const;
  Outcome load_bytes(uint64_t linear, std::span<uint8_t> out, bool system = false);
  Outcome store_bytes(uint64_t linear, std::span<const uint8_t> in, bool system = false);

  // Operand k (0..2) of the row, by its APM type. Registers, the memory operand and
  // immediates take the decode-time resolution (DecodedInsn::op_kind); the rest the generic path.
  unsigned size(unsigned k) const { return d.op_size[k]; }
  Result<uint64_t> read(unsigned k) {
    switch (d.op_kind[k]) {
      case OpKind::kGpr: return s.gpr[d.op_reg[k]] & size_mask(d.op_size[k]);
      case OpKind::kGprHigh: return (s.gpr[d.op_reg[k]] >> 8) & 0xFF;
      case OpKind::kMem: return load(ea, d.op_size[k]);
      case OpKind::kImm: return d.op_reg[k] ? d.imm2 : d.imm;
      case OpKind::kOther: break;
    }
    return read_generic(k);
  }
  Outcome write(unsigned k, uint64_t v) {
    switch (d.op_kind[k]) {
      case OpKind::kGpr: set_low(d.op_reg[k], d.op_size[k], v); return kNext;
      case OpKind::kGprHigh: {
        uint64_t& r = s.gpr[d.op_reg[k]];
        r = (r & ~uint64_t{0xFF00}) | ((v & 0xFF) << 8);
        return kNext;
      }
      case OpKind::kMem: return store(ea, d.op_size[k], v);
      case OpKind::kImm: case OpKind::kOther: break;
    }
    return write_generic(k, v);
  }
  Result<uint64_t> read_generic(unsigned k);
  Outcome write_generic(unsigned k, uint64_t v);
  /// Writes the low `size` bytes of register r (32-bit writes zero-extend). APM vol 1, 3.1.2.
  void set_low(unsigned r, unsigned size, uint64_t v) {
    switch (size) {
      case 1: s.gpr[r] = (s.gpr[r] & ~uint64_t{0xFF}) | (v & 0xFF); break;
      case 2: s.gpr[r] = (s.gpr[r] & ~uint64_t{0xFFFF}) | (v & 0xFFFF); break;
      case 4: s.gpr[r] = v & 0xFFFFFFFF; break;
      default: s.gpr[r] = v; break;
    }
  }

  // Stack (64-bit mode: SS base 0). APM vol 1, 2.x.
  Outcome push(uint64_t v, unsigned size);
  Result<uint64_t> pop(unsigned size);

  /// Merges a flag computation into RFLAGS.
  void set_flags(const FlagOut& f) { s.rflags = (s.rflags & ~f.written) | (f.flags & f.written); }
  bool flag(uint64_t bit) const { return (s.rflags & bit) != 0; }
  /// Condition code cc (0..15) of Jcc/SETcc/CMOVcc. APM vol 3, Table A-? (tttn encoding).
  bool cond(unsigned cc) const;

  /// Linear address of a string operand: DS:rSI (X) honours segment overrides, ES:rDI (Y) not.
  uint64_t string_si() const;
  uint64_t string_di() const;
  unsigned addr_bytes() const { return d.addrsize; }
};

inline bool Exec::cond(unsigned cc) const {
  bool r = false;
  switch (cc >> 1) {
    case 0: r = flag(flag::kOf); break;                                      // O
    case 1: r = flag(flag::kCf); break;                                      // B
    case 2: r = flag(flag::kZf); break;                                      // Z
    case 3: r = flag(flag::kCf) || flag(flag::kZf); break;                   // BE
    case 4: r = flag(flag::kSf); break;                                      // S
    case 5: r = flag(flag::kPf); break;                                      // P
    case 6: r = flag(flag::kSf) != flag(flag::kOf); break;                   // L
    default: r = flag(flag::kZf) || flag(flag::kSf) != flag(flag::kOf); break;  // LE
  }
  return (cc & 1) ? !r : r;
}

/// A handler: semantics of one row.
using Handler = Outcome (*)(Exec&);
using HandlerTable = std::array<Handler, static_cast<size_t>(InsnId::kCount)>;

/// The handler table, built from every family's registration function (cpu/insn/dispatch.cc).
const HandlerTable& handlers();

/// Operand-form specialisations of a row's handler, with the operand size fixed at compile
/// time: register destination with a register (`reg`) or immediate (`imm`) source, or a
/// register operand alone (`reg`, unary rows). Same semantics as the generic handler for those
/// forms; the predecode cache picks one once per cached instruction (cpu/insn/dispatch.cc).
struct SpecialisedForms {
  Handler reg32 = nullptr, imm32 = nullptr, reg64 = nullptr, imm64 = nullptr;
};
using SpecialisedTable = std::array<SpecialisedForms, static_cast<size_t>(InsnId::kCount)>;
/// The specialised handler for this decoded instruction, or handlers()[id] if it has none.
Handler specialised_handler(const DecodedInsn& d);
/// Jcc with the condition code fixed at compile time (cpu/insn/control.cc).
Handler jcc_specialised(unsigned cc);
void register_alu_specialised(SpecialisedTable& t);
void register_muldiv_specialised(SpecialisedTable& t);

// Registration, one function per family file.
void register_alu(HandlerTable& t);
void register_shift(HandlerTable& t);
void register_muldiv(HandlerTable& t);
void register_bit(HandlerTable& t);
void register_mov(HandlerTable& t);
void register_stack(HandlerTable& t);
void register_control(HandlerTable& t);
void register_string(HandlerTable& t);
void register_io(HandlerTable& t);
void register_system(HandlerTable& t);
void register_interrupt(HandlerTable& t);
void register_svm(HandlerTable& t);
void register_snp(HandlerTable& t);

/// Whether an I/O access of `size` bytes at `port` is allowed: CPL <= IOPL, or else every bit
/// for those ports in the TSS I/O permission bitmap is clear (cpu/insn/io.cc). APM vol 2,
/// 13.2.2. false means #GP(0); an error is a fault (or bus error) reading the TSS.
Result<bool> io_permitted(Core& core, uint16_t port, unsigned size);

/// Loads a data segment register (ES SS DS FS GS) from the GDT/LDT in 64-bit mode
/// (cpu/insn/segment.cc). APM vol 2, 4.5 and 4.8.
Outcome load_data_segment(Exec& x, unsigned seg, uint16_t selector);
/// Reads the 8-byte descriptor of `selector`; #GP(selector) beyond the table limit.
Result<uint64_t> read_descriptor(Exec& x, uint16_t selector);
/// Segment attributes (VMCB packing) of a descriptor.
constexpr uint16_t descriptor_attrib(uint64_t desc) {
  return static_cast<uint16_t>(((desc >> 40) & 0xFF) | ((desc >> 44) & 0xF00));
}

inline void set(HandlerTable& t, InsnId id, Handler h) { t[static_cast<size_t>(id)] = h; }

/// True if `v` is canonical for 48-bit linear addresses. APM vol 2, 5.3.1.
constexpr bool is_canonical(uint64_t v) {
  return static_cast<uint64_t>(static_cast<int64_t>(v << 16) >> 16) == v;
}

inline bool Exec::alignment_fault(uint64_t linear, unsigned size, bool system) const {
  // UNCONFIRMED: a non-canonical address raises #GP/#SS before #AC (Bochs's order; the APM
  // lists both in one priority class, vol 2 8.5 Table 8-8).
  return (s.cr0 & ctl::kCr0Am) && s.cpl == 3 && !system && (linear & (size - 1)) != 0 &&
         is_canonical(linear);
}

inline void Exec::compute_ea() {
  uint64_t a = static_cast<uint64_t>(static_cast<int64_t>(d.disp));
  if (d.base == kRipBase) {
    a += next_rip;
  } else if (d.base != kNoReg) {
    a += s.gpr[d.base];
  }
  if (d.index != kNoReg) a += s.gpr[d.index] << d.scale;
  if (d.addrsize == 4) a &= 0xFFFFFFFF;
  ea_offset = a;
  if (d.seg == kFs || d.seg == kGs) a += s.seg[d.seg].base;  // APM vol 2, 4.5.3
  ea = a;
}

/// With CR0.PG = 0 a canonical address inside one page of ordinary memory is read through the
/// bus's page pointer (what load_slow() does then, minus the calls); everything else, and
/// every fault, takes load_slow().
inline Result<uint64_t> Exec::load(uint64_t linear, unsigned size, bool stack, bool system) {
  if (!(s.rflags & flag::kAc) && !(s.cr0 & ctl::kCr0Pg) && !core.nested_paging() && is_canonical(linear) &&
      (linear & kPageOffsetMask) + size <= kPageSize) {
    if (const uint8_t* page = core.data_page_pointer(linear >> 12)) {
      uint64_t v = 0;
      std::memcpy(&v, page + (linear & kPageOffsetMask), size);  // little-endian host
      return v;
    }
  }
  return load_slow(linear, size, stack, system);
}

}  // namespace snpemu::cpu
