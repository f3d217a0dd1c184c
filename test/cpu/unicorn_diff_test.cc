// Differential test against Unicorn 2.0.1: seeded random sequences of supported integer
// instructions (test/cpu/insn_gen.h lists the constraints and exclusions with reasons).
// 100,000 sequences per run in 10 parameterised chunks (sharded by Bazel); the `manual` long
// variant runs 2,000,000. SNPEMU_SEED overrides the base seed; it is printed in every failure.
#include <gtest/gtest.h>

#include <cstdlib>

#include "test/cpu/diff_runner.h"
#include "test/cpu/insn_gen.h"

#ifndef SNPEMU_DIFF_SEQUENCES_PER_CHUNK
#define SNPEMU_DIFF_SEQUENCES_PER_CHUNK 10000
#endif

namespace snpemu::cpu::testing {
namespace {

uint64_t base_seed() {
  const char* env = std::getenv("SNPEMU_SEED");
  return env ? std::strtoull(env, nullptr, 10) : 0xD1FF0003ull << 20;
}

class UnicornDiff : public ::testing::TestWithParam<int> {};

TEST_P(UnicornDiff, SequencesMatch) {
  const int per_chunk = SNPEMU_DIFF_SEQUENCES_PER_CHUNK;
  const uint64_t seed = base_seed() + static_cast<uint64_t>(GetParam()) * per_chunk;
  const DiffReport r = run_differential(seed, per_chunk, 12);
  std::printf("chunk %d seed %llu: %d sequences, %d instructions, %d ended in the same exception, %d generator ids\n",
              GetParam(), static_cast<unsigned long long>(seed), r.sequences, r.instructions, r.faulted,
              generator_insn_count());
  for (const auto& f : r.failures) ADD_FAILURE() << f;
  EXPECT_EQ(r.failure_count, 0) << "base seed " << base_seed() << ", chunk " << GetParam();
  EXPECT_EQ(r.sequences, per_chunk);
}

INSTANTIATE_TEST_SUITE_P(Chunks, UnicornDiff, ::testing::Range(0, 10));

}  // namespace
}  // namespace snpemu::cpu::testing
