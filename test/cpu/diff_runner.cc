// test/cpu/diff_runner.cc
#include "test/cpu/diff_runner.h"

#include <cstdio>
#include <sstream>

#include "base/hex.h"
#include "cpu/cpu.h"
#include "test/cpu/flat_bus.h"
#include "test/cpu/insn_gen.h"
#include "test/cpu/unicorn_oracle.h"

namespace snpemu::cpu::testing {
namespace {

struct Final {
  uint64_t gpr[16] = {};
  uint64_t rip = 0;
  uint64_t rflags = 0;
  int vector = -1;
  std::string error;  // a stop that is neither the end of the code nor an exception
  std::vector<uint8_t> data, stack;
};

constexpr int kMaxSteps = 20000;

Final run_snpemu(Core& core, FlatBus& bus, const Sequence& seq, uint64_t end) {
  std::fill(bus.bytes().begin() + kGenCode, bus.bytes().begin() + kGenCode + kGenCodeSize, 0);
  bus.load(kGenCode, seq.code);
  bus.load(kGenData, seq.data);
  bus.load(kGenStack, seq.stack);
  ArchState& s = core.state();
  s = long_mode_state(kGenCode, kGenStackTop);
  for (int r = 0; r < 16; ++r) s.gpr[r] = seq.gpr[r];
  s.rflags = seq.rflags;
  Final f;
  for (int i = 0; i < kMaxSteps && s.rip != end; ++i) {
    const StopReason r = core.step();
    if (r == StopReason::kFault) {
      f.vector = static_cast<int>(core.stop_info().fault.vector);
      break;
    }
    if (r != StopReason::kBudget) {
      f.error = "snpemu stopped with reason " + std::to_string(static_cast<int>(r)) + " at rip 0x" +
                std::to_string(s.rip);
      break;
    }
  }
  for (int r = 0; r < 16; ++r) f.gpr[r] = s.gpr[r];
  f.rip = s.rip;
  f.rflags = s.rflags;
  f.data.assign(bus.bytes().begin() + kGenData, bus.bytes().begin() + kGenData + kGenDataSize);
  f.stack.assign(bus.bytes().begin() + kGenStack, bus.bytes().begin() + kGenStack + kGenStackSize);
  return f;
}

Final run_unicorn(UnicornX86& uc, const Sequence& seq, uint64_t end) {
  std::vector<uint8_t> page(kGenCodeSize, 0);
  std::copy(seq.code.begin(), seq.code.end(), page.begin());
  uc.write(kGenCode, page);
  uc.forget_code(kGenCode, kGenCode + kGenCodeSize);
  uc.write(kGenData, seq.data);
  uc.write(kGenStack, seq.stack);
  UnicornX86::Regs r;
  for (int i = 0; i < 16; ++i) r.gpr[i] = seq.gpr[i];
  r.rip = kGenCode;
  r.rflags = seq.rflags;
  uc.set_regs(r);
  Final f;
  const auto run = uc.run(kGenCode, end, kMaxSteps);
  if (run.interrupt >= 0) {
    f.vector = run.interrupt;
  } else if (run.error != 0) {
    f.error = "unicorn error " + std::to_string(run.error);
  }
  const auto out = uc.regs();
  for (int i = 0; i < 16; ++i) f.gpr[i] = out.gpr[i];
  f.rip = out.rip;
  f.rflags = out.rflags;
  f.data.resize(kGenDataSize);
  f.stack.resize(kGenStackSize);
  uc.read(kGenData, f.data);
  uc.read(kGenStack, f.stack);
  return f;
}

// Empty if equal; else a description of the first differences.
std::string compare(const Final& ours, const Final& theirs, uint64_t flag_mask) {
  std::ostringstream o;
  if (!ours.error.empty() || !theirs.error.empty())
    o << "errors: snpemu '" << ours.error << "' unicorn '" << theirs.error << "'; ";
  if (ours.vector != theirs.vector)
    o << "exception: snpemu " << ours.vector << " unicorn " << theirs.vector << "; ";
  static const char* kNames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                   "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  for (int r = 0; r < 16; ++r) {
    if (ours.gpr[r] != theirs.gpr[r])
      o << kNames[r] << ": expected " << hex(theirs.gpr[r]) << " got " << hex(ours.gpr[r]) << "; ";
  }
  if (ours.rip != theirs.rip)
    o << "rip: expected " << hex(theirs.rip) << " got " << hex(ours.rip) << "; ";
  if ((ours.rflags ^ theirs.rflags) & flag_mask) {
    o << "rflags (mask " << hex(flag_mask) << "): expected " << hex(theirs.rflags & flag_mask)
      << " got " << hex(ours.rflags & flag_mask) << "; ";
  }
  for (size_t i = 0; i < ours.data.size(); ++i) {
    if (ours.data[i] != theirs.data[i]) {
      o << "data byte at " << hex(kGenData + i) << ": expected " << hex(theirs.data[i]) << " got "
        << hex(ours.data[i]) << "; ";
      break;
    }
  }
  for (size_t i = 0; i < ours.stack.size(); ++i) {
    if (ours.stack[i] != theirs.stack[i]) {
      o << "stack byte at " << hex(kGenStack + i) << ": expected " << hex(theirs.stack[i])
        << " got " << hex(ours.stack[i]) << "; ";
      break;
    }
  }
  return o.str();
}

// Re-runs a failing sequence one instruction at a time on both and describes the first
// instruction after which the GPRs, RIP or exception differ.
std::string first_divergence(Core& core, FlatBus& bus, UnicornX86& uc, const Sequence& seq,
                             uint64_t end) {
  // Set both up as for a full run, but with an empty code end so nothing executes yet.
  run_snpemu(core, bus, seq, kGenCode);
  run_unicorn(uc, seq, kGenCode);
  ArchState& s = core.state();
  uint64_t valid = flag::kStatus;
  std::string previous;
  for (int i = 0; i < 200 && s.rip != end; ++i) {
    const uint64_t rip = s.rip;
    for (const auto& [at, v] : seq.valid_after) {
      if (at == rip) valid = v;
    }
    std::string bytes;
    for (int k = 0; k < 15 && rip - kGenCode + k < seq.code.size(); ++k) {
      char t[4];
      std::snprintf(t, sizeof t, "%02X ", seq.code[rip - kGenCode + k]);
      bytes += t;
    }
    const StopReason r = core.step();
    // Unicorn runs to where snpemu went (a different branch outcome shows as a RIP difference).
    const auto run = uc.run(rip, r == StopReason::kBudget && s.rip != rip ? s.rip : end, 0);
    const auto u = uc.regs();
    std::ostringstream o;
    if ((r == StopReason::kFault) != (run.interrupt >= 0)) {
      o << "exception differs: snpemu stop " << static_cast<int>(r) << " vector "
        << static_cast<int>(core.stop_info().fault.vector) << ", unicorn error " << run.error
        << " interrupt " << run.interrupt << "; ";
    }
    for (int g = 0; g < 16; ++g) {
      if (s.gpr[g] != u.gpr[g])
        o << "gpr" << g << " expected " << hex(u.gpr[g]) << " got " << hex(s.gpr[g]) << "; ";
    }
    if (s.rip != u.rip) o << "rip expected " << hex(u.rip) << " got " << hex(s.rip) << "; ";
    if ((s.rflags ^ u.rflags) & valid) {
      o << "defined flags (" << hex(valid) << ") expected " << hex(u.rflags & valid) << " got "
        << hex(s.rflags & valid) << "; ";
    }
    std::vector<uint8_t> mine(kGenDataSize), theirs(kGenDataSize);
    std::copy(bus.bytes().begin() + kGenData, bus.bytes().begin() + kGenData + kGenDataSize,
              mine.begin());
    uc.read(kGenData, theirs);
    for (size_t k = 0; k < mine.size(); ++k) {
      if (mine[k] != theirs[k]) {
        o << "data at " << hex(kGenData + k) << " expected " << hex(theirs[k]) << " got "
          << hex(mine[k]) << "; ";
        break;
      }
    }
    if (!o.str().empty() || r != StopReason::kBudget) {
      return "first divergence at " + hex(rip) + " [" + bytes + "] after [" + previous +
             "]: " + o.str();
    }
    previous = bytes;
  }
  return "no per-instruction divergence found (memory or flags only)";
}

}  // namespace

DiffReport run_differential(uint64_t seed, int count, int max_insns) {
  DiffReport rep;
  UnicornX86 uc;
  if (!uc.ok()) {
    rep.failures.push_back("unicorn: " + uc.error());
    rep.failure_count = 1;
    return rep;
  }
  uc.map(kGenCode, kGenCodeSize);
  uc.map(kGenData, kGenDataSize);
  uc.map(kGenStack, kGenStackSize);
  FlatBus bus(kGenStack + kGenStackSize);
  Core core(bus, CoreConfig{.stop_on_fault = true});
  for (int i = 0; i < count; ++i) {
    SplitMix64 rng(seed + static_cast<uint64_t>(i));
    const Sequence seq = generate_sequence(rng, max_insns);
    const uint64_t end = kGenCode + seq.code.size();
    const Final ours = run_snpemu(core, bus, seq, end);
    const Final theirs = run_unicorn(uc, seq, end);
    ++rep.sequences;
    rep.instructions += static_cast<int>(seq.mnemonics.size());
    // After an exception the generator's flag bookkeeping (made for the whole sequence) does not
    // apply: flags are not compared then.
    const uint64_t mask =
        ours.vector >= 0 || theirs.vector >= 0 ? 0 : (seq.valid_flags | flag::kDf);
    if (ours.vector >= 0 && ours.vector == theirs.vector) ++rep.faulted;
    const std::string diff = compare(ours, theirs, mask);
    if (diff.empty()) continue;
    ++rep.failure_count;
    if (rep.failures.size() < 10) {
      std::ostringstream o;
      o << "seed " << seed << " + " << i << " (" << hex(seed + static_cast<uint64_t>(i)) << "): ";
      for (const auto& m : seq.mnemonics) o << m << " ";
      o << "\n  code:";
      for (uint8_t b : seq.code) {
        char t[4];
        std::snprintf(t, sizeof t, " %02X", b);
        o << t;
      }
      o << "\n  initial:";
      for (int r = 0; r < 16; ++r) o << " " << hex(seq.gpr[r]);
      o << " rflags " << hex(seq.rflags) << "\n  " << diff << "\n  "
        << first_divergence(core, bus, uc, seq, end);
      rep.failures.push_back(o.str());
    }
  }
  return rep;
}

}  // namespace snpemu::cpu::testing
