// test/rmp_fuzz/rmp_fuzz.cc: a malicious hypervisor and malicious SNP guests against rmp/.
//
// Input: byte 0 picks the machine (shadow.cc make_layout); the rest decodes into steps, each a
// hypervisor op (RMPUPDATE, PSMASH, RMPREAD, host read, host write, VMRUN/#VMEXIT marking a VMSA
// in use) or a guest op (PVALIDATE, RMPADJUST, read/write/fetch) with arbitrary operands. Every
// access is checked with check_host_access / check_guest_access first and performed on Memory
// only if allowed. After every step (shadow.h end_step, plus the per-outcome checks here):
//   - no assigned page and no RMP page was written by the host (PLATFORM-FACTS 4.7 [L]);
//   - every allowed guest read or write is of a page assigned to that ASID at that GPA and
//     validated by that guest, with the VMPL permission (PLATFORM-FACTS 4.7);
//   - page contents change only through allowed writes (Memory equals the shadow);
//   - RMP pages are never writable nor assignable; every entry is self-consistent (reserved bits,
//     unassigned all-zero, 2 MiB pages uniform over 512 PFNs) and equals the shadow;
//   - instruction successes respect the security rules (immutable, in-use VMSA, VMPL order).
// Crashes, hangs and out-of-bounds accesses are caught by ASan/UBSan under tools/fuzz.sh.
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "test/rmp_fuzz/actors.h"
#include "test/rmp_fuzz/shadow.h"

namespace snpemu::rmp::fuzz {
namespace {

constexpr uint64_t kFullCheckEvery = 64;

uint64_t fnv1a(const uint8_t* data, size_t size) {
  uint64_t h = 0xCBF2'9CE4'8422'2325;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 0x100'0000'01B3;
  return h;
}

void run(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const Layout layout = make_layout(data[0]);
  StepContext ctx;
  ctx.layout = &layout;
  ctx.input = data;
  ctx.input_size = size;
  ctx.input_hash = fnv1a(data, size);
  auto mem = Memory::create(layout.ram_size);
  if (!mem) fail(ctx, "Memory::create: %s", mem.error().c_str());
  for (const auto& [hpa, value] : layout.rst) {
    if (!(*mem)->write64(Hpa{hpa}, value)) fail(ctx, "RST write at 0x%" PRIx64, hpa);
  }
  auto rmp = Rmp::create(**mem, layout.msrs, layout.cpuid);
  if (!rmp) fail(ctx, "Rmp::create rejected a valid layout: %s", rmp.error().message().c_str());
  Shadow shadow(layout, **mem, *rmp, ctx);
  Reader in{data + 1, size - 1, 1};
  Actors actors{layout, **mem, *rmp, shadow, ctx, in};
  while (in.n > 0) {
    ctx.offset = in.offset;
    std::snprintf(ctx.desc, sizeof ctx.desc, "(decoding)");
    const uint64_t op = in.take(1) % 16;
    if (op < 3) {
      host_rmpupdate(actors);
    } else if (op == 3) {
      host_psmash(actors);
    } else if (op == 4) {
      host_rmpread(actors);
    } else if (op == 5) {
      host_read(actors);
    } else if (op < 8) {
      host_write(actors);
    } else if (op == 8) {
      host_vmsa_in_use(actors);
    } else if (op < 11) {
      guest_pvalidate(actors);
    } else if (op == 11) {
      guest_rmpadjust(actors);
    } else {
      guest_access(actors);
    }
    shadow.end_step(ctx.step % kFullCheckEvery == kFullCheckEvery - 1);
    ++ctx.step;
  }
  std::snprintf(ctx.desc, sizeof ctx.desc, "(final full check)");
  shadow.end_step(/*full=*/true);
}

}  // namespace
}  // namespace snpemu::rmp::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  snpemu::rmp::fuzz::run(data, size);
  return 0;
}
