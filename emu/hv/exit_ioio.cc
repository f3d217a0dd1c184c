// emu/hv/exit_ioio.cc: the IOIO intercept for IN/OUT (svm.c io_interception -> x86.c
// kvm_fast_pio): in-kernel devices answer at once, any other port exits as KVM_EXIT_IO.
#include <cstring>

#include "base/hex.h"
#include "emu/hv/exit_internal.h"

namespace snpemu::hv::internal {
namespace {

const char* ioio_error_name(svm::IoioError e) {
  switch (e) {
    case svm::IoioError::kBadOperandSize:
      return "operand size not exactly one of 8/16/32";
    case svm::IoioError::kBadAddressSize:
      return "address size not exactly one of 16/32/64";
    case svm::IoioError::kBadSegment:
      return "segment field above GS";
    case svm::IoioError::kReservedBits:
      return "reserved bits set";
  }
  return "?";
}

}  // namespace

// [L] x86.c complete_emulator_pio_in: an IN of 1 or 2 bytes replaces only those bytes of RAX;
// a 4-byte IN writes EAX, which zero-extends into RAX.
uint64_t merge_in(uint64_t rax, unsigned size, uint32_t value) {
  if (size >= 4) return value;
  const uint64_t mask = (uint64_t{1} << (8 * size)) - 1;
  return (rax & ~mask) | (value & mask);
}

ExitOutcome handle_ioio(ExitContext& ctx) {
  const uint64_t info = ctx.vmcb.control.exit_info_1;
  auto io = svm::decode_ioio(info);
  // [L] svm.c io_interception reads only TYPE, STR, the size field and the port of a plain
  // IN/OUT; the address-size and segment fields matter to string I/O alone. So a plain IN/OUT
  // is accepted with any of those (UNCONFIRMED whether hardware always sets an address size
  // for it); the operand size must still be exactly one of 8/16/32 and reserved bits clear.
  if (!io && (info & svm::ioio_bits::kStr) == 0 &&
      (io.error() == svm::IoioError::kBadAddressSize ||
       io.error() == svm::IoioError::kBadSegment)) {
    const uint64_t fixed =
        (info & ~(uint64_t{0x7} << 7) & ~(uint64_t{0x7} << svm::ioio_bits::kSegShift)) |
        svm::ioio_bits::kA64;
    io = svm::decode_ioio(fixed);
  }
  if (!io) {
    const std::array<uint64_t, 1> data{info};
    return internal_error(
        ctx, kKvmInternalErrorEmulation, data,
        "IOIO exit_info_1 " + hex(info) + " malformed: " + ioio_error_name(io.error()));
  }
  if (io->string) {
    // [L] svm.c io_interception: SEV-ES string I/O goes through the GHCB scratch area.
    if (ctx.vcpu.sev_es.mapped) return ghcb_string_io(ctx, *io);
    return handle_string_io(ctx, *io);
  }
  // APM vol 2 15.10.2: exit_info_2 holds the RIP after the IN/OUT (svm->next_rip, [L]).
  const uint64_t next_rip = ctx.vmcb.control.exit_info_2;
  if (next_rip == 0 && !protected_state(ctx)) return no_next_rip(ctx);
  const unsigned size = io->operand_size;
  const bool is_in = io->type == svm::IoType::kIn;
  uint32_t value = 0;
  if (!is_in) {
    value = static_cast<uint32_t>(read_gpr(ctx, kRax) &
                                  (size >= 4 ? 0xFFFF'FFFFull : (1ull << (8 * size)) - 1));
  }
  if (ctx.vm.pio.handle(io->port, size, is_in, value)) {
    if (is_in) write_gpr(ctx, kRax, merge_in(read_gpr(ctx, kRax), size, value));
    set_rip(ctx, next_rip);
    return resume(ExitPath::kIoKernel);
  }
  // [L] kvm_fast_pio_out / kvm_fast_pio_in: the exit carries one transfer in the PIO page; RIP
  // moves on when the next KVM_RUN completes it (complete_fast_pio_out / _in).
  KvmRun& run = ctx.vcpu.run;
  begin_run(run, KvmExitReason::kIo,
            std::string(is_in ? "IN from " : "OUT to ") + "port " + hex(io->port) +
                " (no in-kernel device)");
  run.io.direction = is_in ? kKvmExitIoIn : kKvmExitIoOut;
  run.io.size = static_cast<uint8_t>(size);
  run.io.port = io->port;
  run.io.count = 1;
  run.io.data_offset = kKvmPioDataOffset;
  std::memset(run.pio_data.data(), 0, 4);
  if (!is_in) std::memcpy(run.pio_data.data(), &value, size);
  ctx.vcpu.completion =
      Completion{.kind = is_in ? Completion::Kind::kPioIn : Completion::Kind::kPioOut,
                 .next_rip = next_rip,
                 .size = static_cast<uint8_t>(size),
                 .count = 1};
  return to_vmm(ExitPath::kIoUserspace);
}

}  // namespace snpemu::hv::internal
