// KVM_INTERRUPT with a userspace interrupt controller, end to end on a gcc-compiled guest
// (test/guests/irq_inject.c): a vector queued while the guest has interrupts disabled opens an
// interrupt window (V_IRQ + VINTR exit) and arrives in the guest's IDT right after its STI; a
// vector queued at KVM_EXIT_HLT wakes the halted vCPU in its handler. APM vol 2 15.20-15.21;
// [L] x86.c kvm_vcpu_ioctl_interrupt, svm.c svm_enable_irq_window / svm_inject_irq.
#include <gtest/gtest.h>

#include <cstring>

#include "emu/kvm/kvm.h"
#include "emu/vmm/guest_boot.h"
#include "test/util/runfiles.h"

namespace snpemu::kvm {
namespace {

constexpr uint64_t kMem = uint64_t{64} << 20;

struct GuestRun {
  std::unique_ptr<Machine> machine;
  std::unique_ptr<Hypervisor> hyp;
  std::unique_ptr<VirtualMachine> vm;
  GuestRun() {
    machine = std::move(*Machine::create(vmm::host_config(hv::VmType::kDefault, kMem, 1)));
    hyp = std::move(*Hypervisor::create(*machine));
    VmSpec s;
    s.memory_bytes = kMem;
    vm = std::move(*hyp->create_vm(s));
    const auto elf = test::read_runfile("test/guests/irq_inject.elf");
    auto entry = vmm::load_guest_image(*vm, elf, kMem);
    EXPECT_TRUE(entry.has_value()) << entry.error();
    vm->vcpu(0).set_long_mode_start(vmm::boot_start(*entry, 0));
  }
  // Runs to the next KVM_RUN return.
  hv::KvmRun& next() {
    RunStatus st = RunStatus::kPreempted;
    for (int i = 0; i < 100 && st == RunStatus::kPreempted; ++i) st = vm->vcpu(0).run(1'000'000);
    EXPECT_EQ(st, RunStatus::kExit);
    return vm->vcpu(0).kvm_run();
  }
  uint32_t out_value(const hv::KvmRun& r) {
    uint32_t v = 0;
    std::memcpy(&v, r.pio_data.data(), std::min<size_t>(r.io.size, 4));
    return v;
  }
};

TEST(KvmInterrupt, WindowThenHaltedWakeUp) {
  GuestRun r;
  hv::KvmRun& a = r.next();
  ASSERT_EQ(a.exit_reason, hv::KvmExitReason::kIo) << a.message;
  ASSERT_EQ(a.io.port, 0x80);
  ASSERT_EQ(r.out_value(a), 1u);
  ASSERT_TRUE(r.vm->vcpu(0).interrupt(0x40).has_value());
  auto twice = r.vm->vcpu(0).interrupt(0x41);
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error().code, hv::KvmErrno::kEexist) << "one pending vector at a time";
  const uint64_t windows_before = r.vm->vcpu(0).exit_counts()[static_cast<size_t>(hv::ExitPath::kInterrupt)];
  hv::KvmRun& b = r.next();
  ASSERT_EQ(b.exit_reason, hv::KvmExitReason::kIo) << b.message;
  ASSERT_EQ(r.out_value(b), 2u) << "the guest saw the wrong interrupt count around its STI";
  EXPECT_EQ(r.vm->vcpu(0).exit_counts()[static_cast<size_t>(hv::ExitPath::kInterrupt)], windows_before + 1)
      << "IF was 0: the vector waited for the VINTR window exit";
  hv::KvmRun& c = r.next();
  ASSERT_EQ(c.exit_reason, hv::KvmExitReason::kHlt) << c.message;
  ASSERT_TRUE(r.vm->vcpu(0).interrupt(0x40).has_value());
  hv::KvmRun& d = r.next();
  ASSERT_EQ(d.exit_reason, hv::KvmExitReason::kIo) << d.message;
  EXPECT_EQ(d.io.port, 0xF4);
  EXPECT_EQ(r.out_value(d), 0u) << "guest status (2: window, 3: halt wake-up)";
  EXPECT_EQ(r.vm->context().pio.debug_console.output, "irq_inject: window 1 halt 1\n");
}

}  // namespace
}  // namespace snpemu::kvm
