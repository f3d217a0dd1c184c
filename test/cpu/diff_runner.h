// test/cpu/diff_runner.h: runs generated sequences on snpemu and on Unicorn and compares GPRs,
// RIP, the defined flags (and DF), the exception raised if any, and the data and stack pages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace snpemu::cpu::testing {

struct DiffReport {
  int sequences = 0;
  int instructions = 0;
  int faulted = 0;                    // sequences that ended in the same exception on both
  std::vector<std::string> failures;  // one message per mismatching sequence (first 10 kept)
  int failure_count = 0;
};

/// Runs `count` sequences generated from `seed` (sequence i uses seed + i).
DiffReport run_differential(uint64_t seed, int count, int max_insns);

}  // namespace snpemu::cpu::testing
