// emu/hv/ghcb_io.cc: NAE events that move data through the GHCB scratch area: string IOIO
// (sev.c sev_es_string_io -> x86.c kvm_sev_es_string_io: INS/OUTS in rounds of at most one PIO
// page, in-kernel devices first) and MMIO_READ/MMIO_WRITE (x86.c kvm_sev_es_mmio_read/write:
// in-kernel device, else KVM_EXIT_MMIO in 8-byte fragments, complete_sev_es_emulated_mmio), and
// the completions of every GHCB round trip. PLATFORM-FACTS 2.3, 2.5, 7.1.
#include <algorithm>
#include <cstring>

#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {
namespace {

// One PIO page per KVM_EXIT_IO round (x86.c: PAGE_SIZE / size elements).
uint32_t pio_chunk(const KvmRun& run, unsigned size, uint64_t left) {
  const uint64_t page = run.pio_data.size() / size;
  return static_cast<uint32_t>(std::min(page, left));
}

ExitOutcome string_io_step(ExitContext& ctx, bool is_in, ExitPath done_path) {
  SevEsVcpu& es = ctx.vcpu.sev_es;
  const unsigned size = es.io_size;
  const uint64_t total = es.scratch.size() / size;
  const bool kernel = ctx.vm.pio.claims(es.port);
  uint32_t moved = 0;
  while (es.progress < total) {
    uint8_t* elem = es.scratch.data() + uint64_t{es.progress} * size;
    if (kernel) {
      uint32_t value = 0;
      if (!is_in) std::memcpy(&value, elem, size);
      ctx.vm.pio.handle(es.port, size, is_in, value);
      if (is_in) std::memcpy(elem, &value, size);
      ++es.progress;
      ++moved;
      continue;
    }
    KvmRun& run = ctx.vcpu.run;
    const uint32_t n = pio_chunk(run, size, total - es.progress);
    begin_run(run, KvmExitReason::kIo,
              std::string(is_in ? "INS from port " : "OUTS to port ") + hex(es.port) + " x" +
                  std::to_string(n) + " (GHCB scratch)");
    run.io = {is_in ? kKvmExitIoIn : kKvmExitIoOut, static_cast<uint8_t>(size), es.port, n,
              kKvmPioDataOffset};
    if (!is_in) std::memcpy(run.pio_data.data(), elem, size_t{n} * size);
    es.pending = n;
    ctx.vcpu.completion = Completion{
        .kind = is_in ? Completion::Kind::kGhcbStringIn : Completion::Kind::kGhcbStringOut,
        .size = static_cast<uint8_t>(size),
        .count = n};
    return to_vmm(ExitPath::kGhcbStringIoExit, n);
  }
  return resume(kernel ? ExitPath::kGhcbStringIoKernel : done_path, moved);
}

ExitOutcome mmio_step(ExitContext& ctx, bool is_write) {
  SevEsVcpu& es = ctx.vcpu.sev_es;
  const uint64_t left = es.scratch.size() - es.progress;
  if (left == 0) return resume(ExitPath::kCompletion);
  const auto n = static_cast<uint32_t>(std::min<uint64_t>(8, left));
  KvmRun& run = ctx.vcpu.run;
  const uint64_t gpa = es.mmio_gpa + es.progress;
  begin_run(run, KvmExitReason::kMmio,
            std::string(is_write ? "MMIO write " : "MMIO read ") + hex(gpa) + " len " +
                std::to_string(n) + " (GHCB)");
  run.mmio.phys_addr = gpa;
  run.mmio.len = n;
  run.mmio.is_write = is_write ? 1 : 0;
  run.mmio.data = {};
  if (is_write) std::memcpy(run.mmio.data.data(), es.scratch.data() + es.progress, n);
  es.pending = n;
  ctx.vcpu.completion = Completion{.kind = Completion::Kind::kGhcbMmio, .size = 0, .count = n,
                                   .exit_info_1 = is_write ? 1u : 0u};
  return to_vmm(ExitPath::kGhcbMmioExit);
}

}  // namespace

ExitOutcome ghcb_string_io(ExitContext& ctx, const svm::IoioInfo& io) {
  // [L] sev_es_string_io: count = EXITINFO2 (<= INT_MAX), bytes = count * size without int
  // overflow, else KVM_RUN -EINVAL; scratch synced back for IN.
  const bool is_in = io.type == svm::IoType::kIn;
  auto len = ghcb::string_io_scratch_len(ctx.vmcb.control.exit_info_2, io.operand_size);
  if (!len) {
    begin_run(ctx.vcpu.run, KvmExitReason::kUnknown,
              "string IOIO count " + hex(ctx.vmcb.control.exit_info_2) + " too large");
    ExitOutcome o = to_vmm(ExitPath::kGhcbUnsupported);
    o.kvm_run_error = KvmErrno::kEinval;
    return o;
  }
  if (auto err = ghcb_setup_scratch(ctx, *len, is_in)) return *err;
  SevEsVcpu& es = ctx.vcpu.sev_es;
  es.port = io.port;
  es.io_size = io.operand_size;
  es.progress = 0;
  es.pending = 0;
  return string_io_step(ctx, is_in, ExitPath::kGhcbStringIoKernel);
}

ExitOutcome ghcb_mmio(ExitContext& ctx, bool is_write) {
  // [L] MMIO_READ/WRITE: EXITINFO1 = GPA, EXITINFO2 = length; scratch synced back for a read.
  if (auto err = ghcb_setup_scratch(ctx, ctx.vmcb.control.exit_info_2, !is_write)) return *err;
  SevEsVcpu& es = ctx.vcpu.sev_es;
  es.mmio_gpa = ctx.vmcb.control.exit_info_1;
  es.progress = 0;
  es.pending = 0;
  if (es.scratch.empty()) return resume(ExitPath::kGhcbMmioKernel);  // handled == bytes (0)
  // UNCONFIRMED simplification: an in-kernel device takes the whole access or none of it (KVM
  // may split a partly handled access into a device part and a userspace remainder).
  if (ctx.vm.mmio != nullptr && ctx.vm.mmio->mmio(es.mmio_gpa, es.scratch, is_write)) {
    return resume(ExitPath::kGhcbMmioKernel);
  }
  return mmio_step(ctx, is_write);
}

ExitOutcome complete_ghcb(ExitContext& ctx, const Completion& c) {
  SevEsVcpu& es = ctx.vcpu.sev_es;
  KvmRun& run = ctx.vcpu.run;
  const bool data_kind = c.kind == Completion::Kind::kGhcbStringIn ||
                         c.kind == Completion::Kind::kGhcbStringOut ||
                         c.kind == Completion::Kind::kGhcbMmio;
  // A completion without its mapping (a restored or hand-made record) has nothing to finish.
  if (data_kind && (!es.mapped || (c.kind != Completion::Kind::kGhcbMmio && es.io_size == 0))) {
    return resume(ExitPath::kCompletion);
  }
  switch (c.kind) {
    case Completion::Kind::kGhcbStringIn: {
      // complete_sev_es_emulated_ins: the VMM's data into the scratch buffer, then the rest.
      const size_t off = size_t{es.progress} * es.io_size;
      const size_t n = std::min(size_t{es.pending} * es.io_size, es.scratch.size() - off);
      std::memcpy(es.scratch.data() + off, run.pio_data.data(), std::min(n, run.pio_data.size()));
      es.progress += es.pending;
      es.pending = 0;
      return string_io_step(ctx, true, ExitPath::kCompletion);
    }
    case Completion::Kind::kGhcbStringOut:
      es.progress += es.pending;
      es.pending = 0;
      return string_io_step(ctx, false, ExitPath::kCompletion);
    case Completion::Kind::kGhcbMmio: {
      const bool is_write = c.exit_info_1 != 0;
      const uint32_t n = std::min<uint32_t>(es.pending, 8);
      if (!is_write && es.progress + n <= es.scratch.size()) {
        std::memcpy(es.scratch.data() + es.progress, run.mmio.data.data(), n);
      }
      es.progress += n;
      es.pending = 0;
      return mmio_step(ctx, is_write);
    }
    case Completion::Kind::kApResetHold:
      // The VMM ran the vCPU again (after sev_deliver_sipi, or not: the guest then sees a
      // spurious wake-up, result 0, and holds again). KVM clears the hold type at unmap.
      if (!es.mapped) es.hold = ApResetHoldType::kNone;
      es.mp_state = MpState::kRunnable;
      return resume(ExitPath::kCompletion);
    case Completion::Kind::kGhcbPsc:
    case Completion::Kind::kPscMsr:
      return psc_complete(ctx, c);
    default:
      return resume(ExitPath::kCompletion);
  }
}

}  // namespace snpemu::hv::internal
