// Seeded fuzzing of SVM_EXIT_VMGEXIT from a malicious guest: random GHCB MSR values and random
// GHCB pages (random valid bitmaps, exit codes from the NAE table and elsewhere, scratch pointers
// in and around the GHCB, PSC descriptors), with the VMM answering every round trip with random
// data. Every exit must end in a defined outcome (ASan/UBSan find the rest): a known path, no
// mapping left behind when the guest resumes, and a valid bitmap in guest memory holding only
// fields the answer may set. Seeds are printed in every failure.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "base/hex.h"
#include "base/serializer.h"
#include "test/hv/ghcb_fixture.h"

namespace snpemu::hv::test {
namespace {

constexpr uint64_t kIterations = 1500;

uint64_t pick_msr(std::mt19937_64& rng) {
  static constexpr uint16_t kCodes[] = {0x002, 0x004, 0x006, 0x010, 0x012, 0x014,
                                        0x016, 0x080, 0x100, 0x001, 0xFFF};
  const uint64_t data = rng() & ~uint64_t{0xFFF};
  switch (rng() % 3) {
    case 0:
      return data | kCodes[rng() % std::size(kCodes)];
    case 1:
      return rng() | 1;  // any non-zero GHCBInfo
    default:
      return (data & ((uint64_t{0xF} << 52) | (uint64_t{0xFFFF} << 12))) | 0x014;
  }
}

void random_page(GhcbFixture& f, std::mt19937_64& rng) {
  auto* bytes = reinterpret_cast<uint8_t*>(&f.page);
  if (rng() % 4 == 0) {
    for (size_t i = 0; i < sizeof f.page; ++i) bytes[i] = static_cast<uint8_t>(rng());
  } else {
    f.page = ghcb::GhcbPage{};
    for (int i = 0; i < 64; ++i) bytes[0x800 + rng() % 0x7F0] = static_cast<uint8_t>(rng());
  }
  const auto table = ghcb::nae_event_table();
  const uint64_t code = rng() % 4 != 0 ? static_cast<uint64_t>(table[rng() % table.size()].code)
                                        : rng() % 0x500;
  const uint64_t info1 = rng() % 2 ? rng() % 8 : (rng() & 0xFFFF'007F);
  const uint64_t info2 = rng() % 2 ? rng() % 64 : rng();
  f.call(code, info1, info2);
  static constexpr F kFields[] = {F::kRax, F::kRbx, F::kRcx, F::kRdx, F::kRsi, F::kCpl,
                                  F::kXcr0, F::kSwScratch};
  for (F fld : kFields) {
    if (rng() % 3 == 0) continue;
    uint64_t v = rng() % 2 ? rng() % 0x100 : rng();
    if (fld == F::kSwScratch) {
      const uint64_t choices[] = {kGhcbGpa + 0x800 + rng() % 0x800, kGhcbGpa + rng() % 0x1000,
                                  rng() % (kSlotBytes + 0x10000), 0, rng()};
      v = choices[rng() % 5];
    }
    f.set(fld, v);
  }
  if (rng() % 5 == 0) {  // a well-formed IOIO, plain or string, to a kernel or VMM port
    static constexpr uint16_t kPorts[] = {0xE9, 0x3F8, 0x3FD, 0x60, 0x70};
    const uint64_t sz = uint64_t{1} << (4 + rng() % 3);
    const uint64_t str = rng() % 2 ? svm::ioio_bits::kStr : 0;
    const uint64_t info = (uint64_t{kPorts[rng() % std::size(kPorts)]} << 16) | sz |
                          svm::ioio_bits::kA64 | str | (rng() % 2 ? svm::ioio_bits::kTypeIn : 0);
    f.call(0x7B, info, rng() % 4 == 0 ? rng() : rng() % 3000);
    f.set(F::kRax, rng());
    f.set(F::kSwScratch, rng() % 4 == 0 ? rng() % kSlotBytes : kGhcbGpa + 0x800 + rng() % 16);
  }
  if (rng() % 4 == 0) {  // a plausible PSC descriptor at the start of the shared buffer
    f.call(0x8000'0010, 0, rng() % 3 == 0 ? rng() % 4096 : 0);
    const uint16_t hdr[2] = {static_cast<uint16_t>(rng() % 3),
                             static_cast<uint16_t>(rng() % 8 == 0 ? 253 : rng() % 6)};
    f.put_shared(0x800, hdr, 4);
    for (unsigned e = 0; e < 6; ++e) {
      const ghcb::PscEntry entry{.cur_page = static_cast<uint16_t>(rng() % 8 == 0 ? rng() % 600 : 0),
                                 .gfn = rng() % 4 == 0 ? rng() : 0x200 + e * (rng() % 2 ? 1 : 512),
                                 .operation = static_cast<uint8_t>(1 + rng() % 4),
                                 .pagesize = rng() % 4 == 0};
      const uint64_t raw = entry.encode();
      f.put_shared(0x808 + 8 * e, &raw, 8);
    }
    f.set(F::kSwScratch, rng() % 8 == 0 ? rng() : kGhcbGpa + 0x800);
  }
  if (rng() % 8 == 0) {  // drop a required bit
    f.page.save.valid_bitmap[rng() % 16] = static_cast<uint8_t>(rng());
  }
  if (rng() % 16 == 0) f.page.ghcb_usage = static_cast<uint32_t>(rng());
}

// Paths every seed must reach, so the generator keeps exercising the interesting branches.
void fuzz(VmType type, uint64_t seed, std::map<ExitPath, uint64_t>& seen) {
  std::mt19937_64 rng(seed);
  std::mt19937_64 design(seed ^ 0x5053'4344);  // the PSC design per request (its own stream)
  GhcbFixture f(type);
  if (type == VmType::kSnp) f.vmgexit_msr(((kGhcbGpa >> 12) << 12) | 0x012);
  for (uint64_t i = 0; i < kIterations; ++i) {
    const std::string where = "seed " + std::to_string(seed) + " iteration " + std::to_string(i);
    f.vmctx.options.hypercall_exit_enabled = rng() % 4 ? uint64_t{1} << 12 : 0;
    f.vmctx.sev.ap_jump_table_bad_op_ud = rng() % 2;
    // Both PSC designs: in the hypervisor the conversions really happen, so the ownership
    // invariants below are checked after converted, discarded and prepared pages too.
    f.vmctx.options.psc_handling = design() % 2 ? PscHandling::kInKernel : PscHandling::kVmm;
    f.vmctx.options.rmp_update_timing = design() % 2 ? RmpUpdateTiming::kEager : RmpUpdateTiming::kLazy;
    const std::optional<Pfn> ghcb_backing = f.vm->shared_backing(Gfn{kGhcbGpa >> kPageShift});
    ExitOutcome o;
    const bool msr = rng() % 2 == 0;
    if (msr && rng() % 10 == 0) {
      // A GHCB page request at a random page: in RAM, in no memslot, or GPA 0.
      const uint64_t gpa = rng() % 3 == 0 ? 0 : (rng() % (rng() % 2 ? kSlotBytes : ~uint64_t{0}));
      o = f.vmgexit_msr(gpa & ~uint64_t{0xFFF});
    } else if (msr) {
      o = f.vmgexit_msr(pick_msr(rng));
    } else {
      random_page(f, rng);
      // SNP: keep the GHCB registered most of the time (random REG_GPA requests move it).
      if (type == VmType::kSnp && rng() % 8 != 0) f.vcpu.sev_es.registered_gpa = kGhcbGpa;
      o = f.vmgexit(rng());
    }
    ++seen[o.path];
    for (int round = 0; round < 64 && f.vcpu.completion.kind != Completion::Kind::kNone; ++round) {
      ASSERT_EQ(o.action, ExitAction::kExitToVmm) << where;
      f.vcpu.run.hypercall.ret = rng() % 3 == 0 ? rng() : 0;
      for (auto& b : f.vcpu.run.pio_data) b = static_cast<uint8_t>(rng());
      for (auto& b : f.vcpu.run.mmio.data) b = static_cast<uint8_t>(rng());
      if (rng() % 2) sev_deliver_sipi(f.vcpu, f.vmcb);
      o = f.complete();
      ++seen[o.path];
    }
    ASSERT_LT(static_cast<size_t>(o.path), static_cast<size_t>(ExitPath::kCount)) << where;
    if (i % 16 == 0) {  // the vCPU state, including an in-flight GHCB mapping, round-trips
      Serializer w = Serializer::writer();
      f.vcpu.serialize(w);
      VcpuState restored;
      Serializer r = Serializer::reader(w.bytes());
      restored.serialize(r);
      ASSERT_TRUE(r.ok()) << where << ": " << r.status().error().message();
      Serializer w2 = Serializer::writer();
      restored.serialize(w2);
      ASSERT_EQ(w2.bytes(), w.bytes()) << where;
    }
    ASSERT_STRNE(exit_path_name(o.path), "?") << where;
    if (f.vcpu.completion.kind != Completion::Kind::kNone) {
      // Long string I/O: abandon it like a VMM that never re-enters; start over.
      f.vcpu.completion = Completion{};
      f.vcpu.sev_es.mapped = false;
      continue;
    }
    if (o.action == ExitAction::kResumeGuest || o.path == ExitPath::kGhcbTerminate) {
      ASSERT_FALSE(f.vcpu.sev_es.mapped) << where << ": GHCB left mapped";
    }
    // A PSC that converted the GHCB's own page (in-kernel: done during the event) discarded the
    // page the answer was written to, as the VMM's discard does under KVM: nothing to check.
    const bool ghcb_converted = f.vm->mem_is_private(Gfn{kGhcbGpa >> kPageShift}) ||
                                f.vm->shared_backing(Gfn{kGhcbGpa >> kPageShift}) != ghcb_backing;
    if (!msr && o.ghcb && !ghcb_converted) {
      const ghcb::ValidBitmap v = f.bitmap();
      ghcb::ValidBitmap extra = v;
      for (F fld : {F::kSwExitInfo1, F::kSwExitInfo2, F::kRax, F::kRbx, F::kRcx, F::kRdx}) {
        extra.clear(static_cast<unsigned>(fld));
      }
      ASSERT_EQ(extra, ghcb::ValidBitmap{}) << where << ": stale valid bits after the answer";
      ASSERT_TRUE(v.test(F::kRax)) << where << " path " << exit_path_name(o.path);
    }
    ASSERT_TRUE(f.vm->check_invariants().has_value()) << where;
    // The guest makes its GHCB shared again (else every later VMGEXIT finds no GHCB).
    if (ghcb_converted && f.vm->mem_is_private(Gfn{kGhcbGpa >> kPageShift})) {
      ASSERT_TRUE(convert_memory(*f.vm, kGhcbGpa, kPageSize, false).ok()) << where;
    }
  }
}

void expect_reached(const std::map<ExitPath, uint64_t>& seen, std::initializer_list<ExitPath> want,
                    uint64_t seed) {
  std::string got;
  for (const auto& [p, n] : seen) got += std::string(exit_path_name(p)) + "=" + std::to_string(n) + " ";
  for (ExitPath p : want) {
    EXPECT_TRUE(seen.contains(p)) << "seed " << seed << " never reached " << exit_path_name(p)
                                  << "; reached: " << got;
  }
}

TEST(GhcbFuzz, SevEsSeeds) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    std::map<ExitPath, uint64_t> seen;
    fuzz(VmType::kSevEs, seed, seen);
    expect_reached(seen,
                   {ExitPath::kGhcbMsrProtocol, ExitPath::kGhcbBadInput, ExitPath::kGhcbNae,
                    ExitPath::kGhcbTerminate, ExitPath::kGhcbApResetHold, ExitPath::kCompletion,
                    ExitPath::kCpuid, ExitPath::kIoUserspace, ExitPath::kGhcbStringIoExit,
                    ExitPath::kGhcbMmioExit, ExitPath::kHypercall, ExitPath::kGhcbNoGhcb},
                   seed);
  }
}

// The three SNP seeds together (half their PSC requests convert in the hypervisor, so the
// paths a seed reaches depend on the memory state it builds): the campaign must reach them all.
TEST(GhcbFuzz, SnpSeeds) {
  std::map<ExitPath, uint64_t> seen;
  for (uint64_t seed : {11u, 12u, 13u}) fuzz(VmType::kSnp, seed, seen);
  expect_reached(seen,
                 {ExitPath::kGhcbMsrProtocol, ExitPath::kGhcbBadInput, ExitPath::kGhcbPscExit,
                  ExitPath::kGhcbPscDone, ExitPath::kGhcbMmioExit, ExitPath::kCompletion},
                 11);
}

}  // namespace
}  // namespace snpemu::hv::test
