// emu/hv/exit_string_io.cc: INS/OUTS (with REP) emulated through the guest's page tables, as
// KVM's emulator does for a string IOIO intercept (svm.c io_interception -> emulate.c em_in /
// em_out with the rep loop). Elements are read or written through mmu::walk over the guest
// tables (GuestTableAccess) and the memslots' backing; in-kernel devices take them at once,
// other ports exit as KVM_EXIT_IO with up to one PIO page of elements.
#include <algorithm>
#include <cstring>

#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {
namespace {

constexpr uint64_t kRflagsDf = uint64_t{1} << 10;
// emulate.c (string instructions): KVM re-enters the guest after every 1024 iterations of an
// in-kernel rep loop ((RCX & 0x3ff) == 0), so one exit never runs an unbounded loop.
constexpr uint32_t kKernelChunk = 1024;

struct StringOp {
  svm::IoioInfo io;
  bool is_in = false;
  unsigned size = 1;
  uint64_t addr_mask = ~uint64_t{0};
  uint64_t seg_base = 0;
  int64_t step = 1;
  unsigned index_reg = kRsi;
};

StringOp make_op(const ExitContext& ctx, const svm::IoioInfo& io) {
  StringOp op;
  op.io = io;
  op.is_in = io.type == svm::IoType::kIn;
  op.size = io.operand_size;
  op.addr_mask = io.address_size == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * io.address_size)) - 1;
  // 64-bit mode: only FS and GS have a base (APM vol 2 4.5.3); INS always writes ES:rDI.
  if (!op.is_in && io.segment == svm::SegReg::kFs) op.seg_base = ctx.vmcb.save.fs.base;
  if (!op.is_in && io.segment == svm::SegReg::kGs) op.seg_base = ctx.vmcb.save.gs.base;
  op.step = (ctx.vmcb.save.rflags & kRflagsDf) != 0 ? -static_cast<int64_t>(op.size)
                                                    : static_cast<int64_t>(op.size);
  op.index_reg = op.is_in ? kRdi : kRsi;
  return op;
}

// A register update with the instruction's address size: 64 replaces, 32 zero-extends (a 32-bit
// register write in 64-bit mode; UNCONFIRMED for string ops), 16 keeps bits 63:16.
uint64_t update(uint64_t reg, int64_t delta, uint64_t mask) {
  const uint64_t v = reg + static_cast<uint64_t>(delta);
  if (mask == ~uint64_t{0}) return v;
  if (mask == 0xFFFF'FFFFull) return v & mask;
  return (reg & ~mask) | (v & mask);
}

void advance(ExitContext& ctx, const StringOp& op, uint32_t n) {
  if (n == 0) return;
  const int64_t delta = op.step * static_cast<int64_t>(n);
  write_gpr(ctx, op.index_reg, update(read_gpr(ctx, op.index_reg), delta, op.addr_mask));
  if (op.io.rep) {
    write_gpr(ctx, kRcx, update(read_gpr(ctx, kRcx), -static_cast<int64_t>(n), op.addr_mask));
  }
}

uint64_t remaining(const ExitContext& ctx, const StringOp& op) {
  return op.io.rep ? (read_gpr(ctx, kRcx) & op.addr_mask) : 1;
}

// The linear address of element `i` counted from the current index register.
uint64_t element_linear(const ExitContext& ctx, const StringOp& op, uint32_t i) {
  const uint64_t off =
      (read_gpr(ctx, op.index_reg) + static_cast<uint64_t>(op.step * i)) & op.addr_mask;
  return op.seg_base + off;
}

// The GPAs of one element (two when it crosses a page), or the fault.
struct ElementGpa {
  uint64_t gpa[2] = {0, 0};
  unsigned first_len = 0;
};
std::expected<ElementGpa, mmu::Fault> translate(ExitContext& ctx, uint64_t linear, unsigned size,
                                                mmu::AccessKind kind) {
  GuestTableAccess tables(ctx.vm);
  const mmu::PagingRegs regs = guest_paging_regs(ctx.vmcb);
  const mmu::PagingConfig config{};
  const mmu::Access access{kind, ctx.vmcb.save.cpl, false};
  ElementGpa out;
  auto t = mmu::walk(tables, regs, config, linear, access);
  if (!t) return std::unexpected(t.error());
  out.gpa[0] = t->pa;
  out.first_len =
      static_cast<unsigned>(std::min<uint64_t>(size, kPageSize - (linear & kPageOffsetMask)));
  if (out.first_len < size) {
    auto t2 = mmu::walk(tables, regs, config, linear + out.first_len, access);
    if (!t2) return std::unexpected(t2.error());
    out.gpa[1] = t2->pa;
  }
  return out;
}

std::expected<void, GuestMemError> access_element(ExitContext& ctx, const ElementGpa& g,
                                                  unsigned size, uint8_t* bytes, bool write) {
  const unsigned n1 = g.first_len, n2 = size - g.first_len;
  if (write) {
    if (auto r = write_guest_phys(ctx.vm, g.gpa[0], std::span<const uint8_t>(bytes, n1)); !r)
      return r;
    if (n2 != 0)
      return write_guest_phys(ctx.vm, g.gpa[1], std::span<const uint8_t>(bytes + n1, n2));
    return {};
  }
  if (auto r = read_guest_phys(ctx.vm, g.gpa[0], std::span<uint8_t>(bytes, n1)); !r) return r;
  if (n2 != 0) return read_guest_phys(ctx.vm, g.gpa[1], std::span<uint8_t>(bytes + n1, n2));
  return {};
}

// A fault of element translation: #PF with CR2 (kvm_inject_emulated_page_fault), #GP(0) or
// #SS(0) for a non-canonical address; a guest table outside RAM is an emulation failure.
ExitOutcome deliver_fault(ExitContext& ctx, const StringOp& op, const mmu::Fault& f) {
  switch (f.kind) {
    case mmu::Fault::Kind::kPageFault:
      ctx.vmcb.save.cr2 = f.address;
      ctx.vmcb.control.clean &= ~svm::clean::kCr2;
      return inject_or_fail(ctx, kPfVector, static_cast<uint32_t>(f.error_code),
                            ExitPath::kIoStringFault);
    case mmu::Fault::Kind::kNonCanonical:
      return inject_or_fail(ctx,
                            op.io.segment == svm::SegReg::kSs && !op.is_in ? kSsVector : kGpVector,
                            0u, ExitPath::kIoStringFault);
    default: {
      const std::array<uint64_t, 1> data{f.address};
      return internal_error(ctx, kKvmInternalErrorEmulation, data,
                            "string I/O: guest page table at GPA " + hex(f.address) +
                                " is not readable by the hypervisor");
    }
  }
}

ExitOutcome memory_error(ExitContext& ctx, uint64_t linear, GuestMemError e) {
  const std::array<uint64_t, 1> data{linear};
  return internal_error(ctx, kKvmInternalErrorEmulation, data,
                        "string I/O operand at " + hex(linear) + ": " + guest_mem_error_name(e) +
                            " (MMIO string operands are not modelled)");
}

}  // namespace

ExitOutcome handle_string_io(ExitContext& ctx, const svm::IoioInfo& io) {
  if (!guest_64bit(ctx.vmcb)) {
    const std::array<uint64_t, 1> data{ctx.vmcb.control.exit_info_1};
    return internal_error(ctx, kKvmInternalErrorEmulation, data,
                          "string I/O outside 64-bit mode is not modelled");
  }
  const uint64_t next_rip = ctx.vmcb.control.exit_info_2;
  if (next_rip == 0) return no_next_rip(ctx);
  const StringOp op = make_op(ctx, io);
  const uint64_t total = remaining(ctx, op);
  if (total == 0) {  // REP with rCX = 0 does nothing
    set_rip(ctx, next_rip);
    return resume(ExitPath::kIoStringKernel);
  }
  const bool kernel = ctx.vm.pio.claims(io.port);
  const uint64_t limit = kernel ? kKernelChunk : ctx.vcpu.run.pio_data.size() / op.size;
  const auto chunk = static_cast<uint32_t>(total < limit ? total : limit);

  if (!kernel && op.is_in) {
    // [L] x86.c emulator_pio_in: the VMM supplies the data first; the memory writes happen when
    // the next KVM_RUN completes the exit (complete_string_io).
    KvmRun& run = ctx.vcpu.run;
    begin_run(run, KvmExitReason::kIo,
              "INS from port " + hex(io.port) + " x" + std::to_string(chunk));
    run.io = {kKvmExitIoIn, static_cast<uint8_t>(op.size), io.port, chunk, kKvmPioDataOffset};
    ctx.vcpu.completion = Completion{.kind = Completion::Kind::kStringIn,
                                     .next_rip = next_rip,
                                     .size = static_cast<uint8_t>(op.size),
                                     .count = chunk,
                                     .exit_info_1 = ctx.vmcb.control.exit_info_1};
    return to_vmm(ExitPath::kIoStringUserspace, chunk);
  }

  uint32_t done = 0;
  for (; done < chunk; ++done) {
    const uint64_t linear = element_linear(ctx, op, done);
    auto g = translate(ctx, linear, op.size,
                       op.is_in ? mmu::AccessKind::kWrite : mmu::AccessKind::kRead);
    if (!g) {
      if (!kernel && done > 0) break;  // send what is gathered; the guest faults on re-execution
      advance(ctx, op, done);
      return deliver_fault(ctx, op, g.error());
    }
    uint8_t bytes[4] = {0, 0, 0, 0};
    uint32_t value = 0;
    if (op.is_in) {  // in-kernel device -> memory
      ctx.vm.pio.handle(io.port, op.size, true, value);
      std::memcpy(bytes, &value, op.size);
      if (auto r = access_element(ctx, *g, op.size, bytes, true); !r) {
        advance(ctx, op, done);
        return memory_error(ctx, linear, r.error());
      }
      continue;
    }
    if (auto r = access_element(ctx, *g, op.size, bytes, false); !r) {
      if (!kernel && done > 0) break;
      advance(ctx, op, done);
      return memory_error(ctx, linear, r.error());
    }
    if (kernel) {
      std::memcpy(&value, bytes, op.size);
      ctx.vm.pio.handle(io.port, op.size, false, value);
    } else {
      std::memcpy(ctx.vcpu.run.pio_data.data() + done * op.size, bytes, op.size);
    }
  }

  if (kernel) {
    advance(ctx, op, done);
    if (remaining(ctx, op) == 0 || !io.rep) set_rip(ctx, next_rip);
    return resume(ExitPath::kIoStringKernel, done);
  }
  KvmRun& run = ctx.vcpu.run;
  begin_run(run, KvmExitReason::kIo, "OUTS to port " + hex(io.port) + " x" + std::to_string(done));
  run.io = {kKvmExitIoOut, static_cast<uint8_t>(op.size), io.port, done, kKvmPioDataOffset};
  ctx.vcpu.completion = Completion{.kind = Completion::Kind::kStringOut,
                                   .next_rip = next_rip,
                                   .size = static_cast<uint8_t>(op.size),
                                   .count = done,
                                   .exit_info_1 = ctx.vmcb.control.exit_info_1};
  return to_vmm(ExitPath::kIoStringUserspace, done);
}

ExitOutcome complete_string_io(ExitContext& ctx, const Completion& c) {
  auto io = svm::decode_ioio(c.exit_info_1);
  if (!io) return resume(ExitPath::kCompletion);  // cannot happen: it decoded at the exit
  const StringOp op = make_op(ctx, *io);
  uint32_t done = 0;
  if (c.kind == Completion::Kind::kStringIn) {
    const uint32_t count =
        std::min<uint32_t>(c.count, static_cast<uint32_t>(ctx.vcpu.run.pio_data.size() / op.size));
    for (; done < count; ++done) {
      const uint64_t linear = element_linear(ctx, op, done);
      auto g = translate(ctx, linear, op.size, mmu::AccessKind::kWrite);
      if (!g) {
        advance(ctx, op, done);
        return deliver_fault(ctx, op, g.error());
      }
      if (auto r =
              access_element(ctx, *g, op.size, ctx.vcpu.run.pio_data.data() + done * op.size, true);
          !r) {
        advance(ctx, op, done);
        return memory_error(ctx, linear, r.error());
      }
    }
  } else {
    done = c.count;
  }
  advance(ctx, op, done);
  if (remaining(ctx, op) == 0 || !io->rep) set_rip(ctx, c.next_rip);
  return resume(ExitPath::kCompletion, done);
}

}  // namespace snpemu::hv::internal
