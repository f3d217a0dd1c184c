// test/cpu/insn_gen.h: seeded random instruction sequences for the differential tests.
//
// Sequences draw rows from the opcode table (the integer subset both snpemu and the oracle model)
// and encode them with random prefixes, REX bits, registers, memory operands and immediates.
// Constraints keep both emulators inside mapped memory and give both the same defined state:
//  - explicit registers never name RSP (stack pointer) or R15 (the data-region base);
//  - memory operands are RIP-relative or [R15 + disp32] (with and without SIB) into the data page;
//  - string instructions are preceded by MOV ESI/EDI/ECX setting pointers into the data page;
//  - shifts by CL are preceded by MOV CL, imm8 so the count (and so which flags are defined) is known;
//  - Jcc / JMP / LOOPcc jump over the next instruction; CALL rel32 calls the next instruction.
// Flags the APM leaves undefined are tracked and masked in the comparison (`valid_flags`);
// instructions reading a flag that is currently undefined are not generated.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "test/util/splitmix64.h"

namespace snpemu::cpu::testing {

inline constexpr uint64_t kGenCode = 0x1000;
inline constexpr uint64_t kGenCodeSize = 0x1000;
inline constexpr uint64_t kGenData = 0x10000;
inline constexpr uint64_t kGenDataSize = 0x1000;
inline constexpr uint64_t kGenStack = 0x20000;
inline constexpr uint64_t kGenStackSize = 0x1000;
inline constexpr uint64_t kGenStackTop = kGenStack + 0x800;

struct Sequence {
  std::vector<uint8_t> code;           // at kGenCode
  std::vector<uint8_t> data;           // at kGenData
  std::vector<uint8_t> stack;          // at kGenStack
  uint64_t gpr[16] = {};
  uint64_t rflags = 0;
  uint64_t valid_flags = 0;            // status flags defined at the end of the sequence
  std::vector<std::string> mnemonics;  // instruction names, for failure messages
  std::vector<std::pair<uint64_t, uint64_t>> valid_after;  // (insn address, valid flags after it)
};

using SplitMix64 = snpemu::test::SplitMix64;

/// Generates one sequence of up to `max_insns` instructions.
Sequence generate_sequence(SplitMix64& rng, int max_insns);

/// Number of distinct handler ids the generator can emit (for the report).
int generator_insn_count();

}  // namespace snpemu::cpu::testing
