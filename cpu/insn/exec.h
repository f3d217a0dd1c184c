// cpu/insn/exec.h: what an instruction handler sees: the decoded instruction, the core, and the
// generic operand access (fetch by APM operand type, write back) so handlers hold only semantics.
#pragma once

#include <array>
#include <cstdint>
#include <expected>

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
  // accesses) when non-canonical, #PF from the walk. `system` marks implicit supervisor accesses
  // (descriptor tables, TSS).
  Result<uint64_t> load(uint64_t linear, unsigned size, bool stack = false, bool system = false);
  Outcome store(uint64_t linear, unsigned size, uint64_t v, bool stack = false, bool system = false);
  Outcome load_bytes(uint64_t linear, std::span<uint8_t> out, bool system = false);
  Outcome store_bytes(uint64_t linear, std::span<const uint8_t> in, bool system = false);

  // Operand k (0..2) of the row, by its APM type.
  unsigned size(unsigned k) const { return operand_size(d, d.row->ops[k]); }
  Result<uint64_t> read(unsigned k);
  Outcome write(unsigned k, uint64_t v);

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

/// A handler: semantics of one row.
using Handler = Outcome (*)(Exec&);
using HandlerTable = std::array<Handler, static_cast<size_t>(InsnId::kCount)>;

/// The handler table, built from every family's registration function (cpu/insn/dispatch.cc).
const HandlerTable& handlers();

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

}  // namespace snpemu::cpu
