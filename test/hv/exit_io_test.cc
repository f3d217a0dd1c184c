// IOIO exits: the 0xE9 debug console, the COM1 16550 UART as a polling driver uses it, ports
// without a device (KVM_EXIT_IO and its completion), and string I/O through the guest's page
// tables, including malicious inputs (garbage exit_info_1, huge REP counts, operands outside
// memory).
#include <gtest/gtest.h>

#include "test/hv/exit_fixture.h"

namespace snpemu::hv::test {
namespace {

using svm::ExitCode;

constexpr uint64_t kNext = kGuestRip + 1;

uint64_t ioio(svm::IoType type, uint16_t port, uint8_t size, bool str = false, bool rep = false,
              svm::SegReg seg = svm::SegReg::kDs) {
  auto v = svm::encode_ioio(svm::IoioInfo{.type = type,
                                          .string = str,
                                          .rep = rep,
                                          .operand_size = size,
                                          .address_size = 8,
                                          .segment = seg,
                                          .port = port});
  EXPECT_TRUE(v.has_value());
  return *v;
}

void out(ExitFixture& f, uint16_t port, uint8_t value) {
  f.vmcb.save.rax = value;
  f.vmcb.save.rip = kGuestRip;
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kOut, port, 1), kNext);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.path, ExitPath::kIoKernel) << "OUT to port " << std::hex << port;
  EXPECT_EQ(f.vmcb.save.rip, kNext);
}
uint8_t in(ExitFixture& f, uint16_t port) {
  f.vmcb.save.rax = 0xAAAA'AAAA'AAAA'AAAAull;
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kIn, port, 1), kNext);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.path, ExitPath::kIoKernel) << "IN from port " << std::hex << port;
  EXPECT_EQ(f.vmcb.save.rax >> 8, 0xAAAA'AAAA'AAAA'AAull) << "an 8-bit IN keeps RAX[63:8]";
  return static_cast<uint8_t>(f.vmcb.save.rax);
}

TEST(ExitIo, DebugPortCollectsBytesInOrder) {
  ExitFixture f;
  for (char c : std::string("hi!\n")) out(f, 0xE9, static_cast<uint8_t>(c));
  EXPECT_EQ(f.vmctx.pio.debug_console.output, "hi!\n");
  EXPECT_EQ(in(f, 0xE9), 0xE9) << "debugcon readback";
}

TEST(ExitIo, UartPollingDriver) {
  ExitFixture f;
  // 8250 init as a polling driver does it: IER 0, DLAB, divisor 1 (115200), 8N1, FIFO, MCR.
  out(f, 0x3F9, 0x00);
  out(f, 0x3FB, 0x80);
  out(f, 0x3F8, 0x01);
  out(f, 0x3F9, 0x00);
  EXPECT_EQ(f.vmctx.pio.com1.divisor(), 1);
  out(f, 0x3FB, 0x03);
  out(f, 0x3FA, 0xC7);
  out(f, 0x3FC, 0x0B);
  EXPECT_EQ(in(f, 0x3FB), 0x03);
  EXPECT_EQ(in(f, 0x3FA) & 0xC0, 0xC0) << "FIFO enabled in IIR";
  EXPECT_EQ(in(f, 0x3FA) & 0x0F, 0x01) << "no interrupt pending";
  out(f, 0x3FF, 0x5A);
  EXPECT_EQ(in(f, 0x3FF), 0x5A) << "scratch register";
  for (char c : std::string("boot ok")) {
    const uint8_t lsr = in(f, 0x3FD);
    EXPECT_EQ(lsr & 0x60, 0x60) << "THRE and TEMT must be set before each byte";
    out(f, 0x3F8, static_cast<uint8_t>(c));
  }
  EXPECT_EQ(f.vmctx.pio.com1.output(), "boot ok");
  EXPECT_EQ(f.vmctx.pio.debug_console.output, "") << "devices keep separate outputs";
  // Loopback: transmitted bytes come back, MSR mirrors MCR.
  out(f, 0x3FC, 0x1B);
  out(f, 0x3F8, 'Z');
  EXPECT_EQ(in(f, 0x3FD) & 0x01, 0x01) << "data ready";
  EXPECT_EQ(in(f, 0x3F8), 'Z');
  EXPECT_EQ(in(f, 0x3FD) & 0x01, 0x00);
  EXPECT_EQ(in(f, 0x3FE) & 0xF0, 0xB0) << "DCD(OUT2) | DSR(DTR) | CTS(RTS)";
  EXPECT_EQ(f.vmctx.pio.com1.output(), "boot ok") << "loopback bytes are not output";
  // THRI: enabling it reports a THR-empty interrupt once.
  out(f, 0x3FC, 0x0B);
  out(f, 0x3F9, 0x02);
  EXPECT_EQ(in(f, 0x3FA) & 0x0F, 0x02);
  EXPECT_EQ(in(f, 0x3FA) & 0x0F, 0x01) << "reading IIR clears THRI";
}

TEST(ExitIo, PortWithoutDeviceExitsAndCompletes) {
  ExitFixture f;
  f.vmcb.save.rax = 0x1122'3344;
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kOut, 0x80, 2), kGuestRip + 2);
  ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(o.path, ExitPath::kIoUserspace);
  const KvmRun& run = f.vcpu.run;
  EXPECT_EQ(run.exit_reason, KvmExitReason::kIo);
  EXPECT_EQ(run.io.direction, kKvmExitIoOut);
  EXPECT_EQ(run.io.size, 2);
  EXPECT_EQ(run.io.port, 0x80);
  EXPECT_EQ(run.io.count, 1u);
  EXPECT_EQ(run.io.data_offset, 4096u);
  EXPECT_EQ(run.pio_data[0], 0x44);
  EXPECT_EQ(run.pio_data[1], 0x33);
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip);
  f.complete();
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip + 2);

  f.vmcb.save.rax = 0xFFFF'FFFF'FFFF'FFFFull;
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kIn, 0x71, 4), kGuestRip + 4);
  o = f.run_exit();
  EXPECT_EQ(f.vcpu.run.io.direction, kKvmExitIoIn);
  f.vcpu.run.pio_data[0] = 0x78;
  f.vcpu.run.pio_data[1] = 0x56;
  f.vcpu.run.pio_data[2] = 0x34;
  f.vcpu.run.pio_data[3] = 0x12;
  f.complete();
  EXPECT_EQ(f.vmcb.save.rax, 0x1234'5678u) << "a 32-bit IN zero-extends RAX";
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip + 4);
}

TEST(ExitIo, PlainOutWithoutAddressSizeIsAccepted) {
  ExitFixture f;
  f.vmcb.save.rax = 'k';
  f.stage(ExitCode::kIoio, (0xE9u << 16) | 0x10, kNext);  // SZ8 only, as KVM reads it
  EXPECT_EQ(f.run_exit().path, ExitPath::kIoKernel);
  EXPECT_EQ(f.vmctx.pio.debug_console.output, "k");
}

TEST(ExitIo, GarbageExitInfoIsAClearInternalError) {
  ExitFixture f;
  for (uint64_t info :
       {0x0ull, 0x70ull, 0x1'0000'0010ull, 0xFFFF'FFFF'FFFF'FFFFull, 0x2ull | 0x10 | 0x200}) {
    f.stage(ExitCode::kIoio, info, kNext);
    const ExitOutcome o = f.run_exit();
    EXPECT_EQ(o.action, ExitAction::kExitToVmm) << std::hex << info;
    EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kInternalError);
    EXPECT_EQ(f.vcpu.run.internal.suberror, kKvmInternalErrorEmulation);
    EXPECT_EQ(f.vcpu.run.internal.data[0], info);
  }
}

// Guest buffer at GVA 0x7000'0000 (two pages, mapped to GPA 0x30'0000 and 0x50'0000: the string
// crosses a page into a non-contiguous GPA).
struct StringFixture : ExitFixture {
  static constexpr uint64_t kGva = 0x7000'0000;
  StringFixture() {
    map_guest(kGva, 0x30'0000);
    map_guest(kGva + 0x1000, 0x50'0000);
  }
};

TEST(ExitStringIo, RepOutsbThroughGuestPageTablesToDebugPort) {
  StringFixture f;
  const std::string msg = "crossing a page boundary!";
  const uint64_t start = StringFixture::kGva + 0x1000 - 10;
  f.write_gpa(0x30'0000 + 0x1000 - 10, msg.data(), 10);
  f.write_gpa(0x50'0000, msg.data() + 10, msg.size() - 10);
  f.vcpu.gprs.r[kRsi] = start;
  f.vcpu.gprs.r[kRcx] = msg.size();
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kOut, 0xE9, 1, true, true), kGuestRip + 2);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.path, ExitPath::kIoStringKernel);
  EXPECT_EQ(o.units, msg.size());
  EXPECT_EQ(f.vmctx.pio.debug_console.output, msg);
  EXPECT_EQ(f.vcpu.gprs.r[kRsi], start + msg.size());
  EXPECT_EQ(f.vcpu.gprs.r[kRcx], 0u);
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip + 2);
  // The guest walk set Accessed in the PTE it used.
  EXPECT_NE(f.read_gpa64(kPml4Gpa) & 0x20, 0u);
}

TEST(ExitStringIo, OutswToUserspaceExitsWithThePioPage) {
  StringFixture f;
  f.write_gpa(0x30'0000, "\x01\x02\x03\x04\x05\x06", 6);
  f.vcpu.gprs.r[kRsi] = StringFixture::kGva;
  f.vcpu.gprs.r[kRcx] = 3;
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kOut, 0x1F0, 2, true, true), kGuestRip + 3);
  ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.path, ExitPath::kIoStringUserspace);
  EXPECT_EQ(f.vcpu.run.io.count, 3u);
  EXPECT_EQ(f.vcpu.run.io.size, 2);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f.vcpu.run.pio_data.data()), 6),
            std::string("\x01\x02\x03\x04\x05\x06", 6));
  f.complete();
  EXPECT_EQ(f.vcpu.gprs.r[kRcx], 0u);
  EXPECT_EQ(f.vcpu.gprs.r[kRsi], StringFixture::kGva + 6);
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip + 3);

  // INSB from a userspace port: memory is written when the VMM's data comes back.
  f.vmcb.save.rip = kGuestRip;
  f.vcpu.gprs.r[kRdi] = StringFixture::kGva + 0x800;
  f.vcpu.gprs.r[kRcx] = 4;
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kIn, 0x1F0, 1, true, true, svm::SegReg::kEs),
          kGuestRip + 2);
  o = f.run_exit();
  EXPECT_EQ(o.path, ExitPath::kIoStringUserspace);
  EXPECT_EQ(f.vcpu.run.io.direction, kKvmExitIoIn);
  std::memcpy(f.vcpu.run.pio_data.data(), "WXYZ", 4);
  f.complete();
  EXPECT_EQ(f.read_gpa_string(0x30'0800, 4), "WXYZ");
  EXPECT_EQ(f.vcpu.gprs.r[kRdi], StringFixture::kGva + 0x804);
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip + 2);
}

TEST(ExitStringIo, HugeRepCountIsChunkedAndNeverHangs) {
  StringFixture f;
  f.vcpu.gprs.r[kRsi] = StringFixture::kGva;
  f.vcpu.gprs.r[kRcx] = ~uint64_t{0};
  f.vmcb.save.rflags |= 1u << 10;  // DF: walk down... into an unmapped page after 1 element?
  f.vmcb.save.rflags &= ~(uint64_t{1} << 10);
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kOut, 0xE9, 1, true, true), kGuestRip + 2);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kResumeGuest);
  EXPECT_EQ(o.units, 1024u) << "KVM re-enters the guest every 1024 iterations";
  EXPECT_EQ(f.vcpu.gprs.r[kRcx], ~uint64_t{0} - 1024);
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip) << "REP not finished: the instruction runs again";
  EXPECT_EQ(f.vmctx.pio.debug_console.output.size(), 1024u);
}

TEST(ExitStringIo, UnmappedGuestPageInjectsPageFaultWithPartialProgress) {
  StringFixture f;
  const uint64_t start = StringFixture::kGva + 0x2000 - 4;  // 4 bytes, then an unmapped page
  f.vcpu.gprs.r[kRsi] = start;
  f.vcpu.gprs.r[kRcx] = 10;
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kOut, 0xE9, 1, true, true), kGuestRip + 2);
  const ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.path, ExitPath::kIoStringFault);
  EXPECT_EQ(f.vmctx.pio.debug_console.output.size(), 4u);
  EXPECT_EQ(f.vcpu.gprs.r[kRcx], 6u);
  EXPECT_EQ(f.vcpu.gprs.r[kRsi], start + 4);
  // #PF: vector 14, exception, EV, V; error code = not present, read, supervisor.
  EXPECT_EQ(f.vmcb.control.event_inj, 0x8000'0B0Eu);
  EXPECT_EQ(f.vmcb.control.event_inj_err, 0u);
  EXPECT_EQ(f.vmcb.save.cr2, StringFixture::kGva + 0x2000);
  EXPECT_EQ(f.vmcb.save.rip, kGuestRip);
  // INS into a read-only guest page: #PF with P | W.
  f.map_guest(StringFixture::kGva + 0x3000, 0x60'0000, /*writable=*/false);
  f.vmcb.save.cr0 |= 1u << 16;  // WP already set by the start state
  f.vcpu.gprs.r[kRdi] = StringFixture::kGva + 0x3000;
  f.vcpu.gprs.r[kRcx] = 1;
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kIn, 0xE9, 1, true, true, svm::SegReg::kEs),
          kGuestRip + 2);
  EXPECT_EQ(f.run_exit().path, ExitPath::kIoStringFault);
  EXPECT_EQ(f.vmcb.control.event_inj_err, 0x3u);
}

TEST(ExitStringIo, OperandsOutsideMemoryAndNonCanonical) {
  StringFixture f;
  // A guest page mapped to a GPA in no memslot: MMIO operand, not modelled: internal error.
  f.map_guest(StringFixture::kGva + 0x4000, 0x4000'0000);
  f.vcpu.gprs.r[kRsi] = StringFixture::kGva + 0x4000;
  f.vcpu.gprs.r[kRcx] = 1;
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kOut, 0xE9, 1, true, true), kGuestRip + 2);
  ExitOutcome o = f.run_exit();
  EXPECT_EQ(o.action, ExitAction::kExitToVmm);
  EXPECT_EQ(f.vcpu.run.internal.suberror, kKvmInternalErrorEmulation);
  // A guest page table pointing outside every memslot: internal error too.
  f.write_gpa64(kPml4Gpa + 8 * 300, 0xFFFF'0000'0000ull | 7);
  f.vcpu.gprs.r[kRsi] = uint64_t{300} << 39;
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kOut, 0xE9, 1, true, true), kGuestRip + 2);
  o = f.run_exit();
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kInternalError);
  // A non-canonical RSI: #GP(0).
  f.vcpu.gprs.r[kRsi] = 0x8000'0000'0000'0000ull;
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kOut, 0xE9, 1, true, true), kGuestRip + 2);
  o = f.run_exit();
  EXPECT_EQ(o.path, ExitPath::kIoStringFault);
  EXPECT_EQ(f.vmcb.control.event_inj, 0x8000'0B0Du);
  // Not in 64-bit mode: string I/O is refused clearly.
  f.vmcb.save.cs.attrib &= ~svm::seg_attrib::kL;
  f.stage(ExitCode::kIoio, ioio(svm::IoType::kOut, 0xE9, 1, true, false), kGuestRip + 2);
  o = f.run_exit();
  EXPECT_EQ(f.vcpu.run.exit_reason, KvmExitReason::kInternalError);
}

}  // namespace
}  // namespace snpemu::hv::test
