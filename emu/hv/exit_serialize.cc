// emu/hv/exit_serialize.cc: serialize() of the exit layer's state (STYLE rule 10): the NPT's
// bookkeeping, the CPUID table, the port devices and the vCPU with its pending completion.
#include "base/hex.h"
#include "emu/hv/exit_internal.h"
#include "emu/hv/hv.h"

namespace snpemu::hv {
namespace {

constexpr uint64_t kMaxDeviceText = uint64_t{1} << 24;  // 16 MiB of console text per device

}  // namespace

void Npt::serialize(Serializer& s) {
  uint64_t root = root_.value;
  uint8_t c_bit = config_.c_bit;
  s.io("npt.root", root);
  s.io("npt.c_bit", c_bit);
  if (s.reading() && s.ok() && (root != root_.value || c_bit != config_.c_bit)) {
    s.fail("npt.root", "NPT root " + hex(root) + " / C-bit " + std::to_string(c_bit) +
                           " differ from this NPT's configuration");
    return;
  }
  uint64_t mapped = mapped_pages_, tables = table_pages_, gen = flush_generation_,
           seq = synced_seq_;
  s.io("npt.mapped_pages", mapped);
  s.io("npt.table_pages", tables);
  s.io("npt.flush_generation", gen);
  s.io("npt.synced_seq", seq);
  if (s.reading() && s.ok()) {
    if (tables == 0) {
      s.fail("npt.table_pages", "0: the root is always a table page");
      return;
    }
    mapped_pages_ = mapped;
    table_pages_ = tables;
    flush_generation_ = gen;
    synced_seq_ = seq;
  }
}

void CpuidTable::serialize(Serializer& s) {
  uint64_t n = entries_.size();
  s.io("cpuid.count", n);
  if (s.reading() && s.ok() && n > kKvmMaxCpuidEntries) {
    s.fail("cpuid.count",
           std::to_string(n) + " entries, at most " + std::to_string(kKvmMaxCpuidEntries));
    return;
  }
  std::vector<KvmCpuidEntry2> v = s.writing() ? entries_ : std::vector<KvmCpuidEntry2>(n);
  for (KvmCpuidEntry2& e : v) {
    s.io("cpuid.function", e.function);
    s.io("cpuid.index", e.index);
    s.io("cpuid.flags", e.flags);
    s.io("cpuid.eax", e.eax);
    s.io("cpuid.ebx", e.ebx);
    s.io("cpuid.ecx", e.ecx);
    s.io("cpuid.edx", e.edx);
  }
  if (s.reading() && s.ok()) {
    if (auto r = set(v); !r) s.fail("cpuid.function", r.error().describe());
  }
}

void Uart16550::serialize(Serializer& s) {
  uint16_t base = base_;
  s.io("uart.base", base);
  if (s.reading() && s.ok() && base != base_) {
    s.fail("uart.base", "UART at " + hex(base) + ", this one is at " + hex(base_));
    return;
  }
  s.io("uart.ier", ier_);
  s.io("uart.lcr", lcr_);
  s.io("uart.mcr", mcr_);
  s.io("uart.scr", scr_);
  s.io("uart.dll", dll_);
  s.io("uart.dlm", dlm_);
  s.io("uart.fcr", fcr_);
  s.io("uart.thr_ipending", thr_ipending_);
  s.io("uart.output", output_, kMaxDeviceText);
  s.io("uart.rx", rx_, kMaxDeviceText);
}

void PioDevices::serialize(Serializer& s) {
  s.io("pio.debug_console_enabled", debug_console_enabled);
  s.io("pio.uart_enabled", uart_enabled);
  s.io("pio.debug_console.port", debug_console.port);
  s.io("pio.debug_console.output", debug_console.output, kMaxDeviceText);
  com1.serialize(s);
}

void VcpuState::serialize(Serializer& s) {
  s.io("vcpu.id", id);
  for (uint64_t& r : gprs.r) s.io("vcpu.gpr", r);
  s.io("vcpu.apic_base", msr.apic_base);
  s.io("vcpu.tsc_aux", msr.tsc_aux);
  s.io("vcpu.microcode_version", msr.microcode_version);
  s.io("vcpu.npt_flush_seen", npt_flush_seen);

  s.io("completion.kind", completion.kind);
  s.io("completion.next_rip", completion.next_rip);
  s.io("completion.size", completion.size);
  s.io("completion.count", completion.count);
  s.io("completion.op_64bit", completion.op_64bit);
  s.io("completion.exit_info_1", completion.exit_info_1);
  if (s.reading() && s.ok()) {
    if (static_cast<uint8_t>(completion.kind) >
        static_cast<uint8_t>(Completion::Kind::kApResetHold)) {
      s.fail("completion.kind",
             "unknown completion " + std::to_string(static_cast<unsigned>(completion.kind)));
      return;
    }
    const unsigned sz = completion.size;
    using K = Completion::Kind;
    const K k = completion.kind;
    const bool pio = k == K::kPioIn || k == K::kPioOut || k == K::kStringIn ||
                     k == K::kStringOut || k == K::kGhcbStringIn || k == K::kGhcbStringOut;
    if (pio && (sz != 1 && sz != 2 && sz != 4)) {
      s.fail("completion.size", "PIO size " + std::to_string(sz) + " is not 1, 2 or 4");
      return;
    }
    if (completion.count > run.pio_data.size()) {
      s.fail("completion.count",
             std::to_string(completion.count) + " elements exceed the PIO page");
      return;
    }
  }

  s.io("run.exit_reason", run.exit_reason);
  s.io("run.hw", run.hw.hardware_exit_reason);
  s.io("run.fail_entry.reason", run.fail_entry.hardware_entry_failure_reason);
  s.io("run.fail_entry.cpu", run.fail_entry.cpu);
  s.io("run.io.direction", run.io.direction);
  s.io("run.io.size", run.io.size);
  s.io("run.io.port", run.io.port);
  s.io("run.io.count", run.io.count);
  s.io("run.io.data_offset", run.io.data_offset);
  s.io("run.mmio.phys_addr", run.mmio.phys_addr);
  s.io_bytes("run.mmio.data", run.mmio.data);
  s.io("run.mmio.len", run.mmio.len);
  s.io("run.mmio.is_write", run.mmio.is_write);
  s.io("run.hypercall.nr", run.hypercall.nr);
  for (uint64_t& a : run.hypercall.args) s.io("run.hypercall.args", a);
  s.io("run.hypercall.ret", run.hypercall.ret);
  s.io("run.hypercall.flags", run.hypercall.flags);
  s.io("run.internal.suberror", run.internal.suberror);
  s.io("run.internal.ndata", run.internal.ndata);
  for (uint64_t& d : run.internal.data) s.io("run.internal.data", d);
  s.io("run.system_event.type", run.system_event.type);
  s.io("run.system_event.ndata", run.system_event.ndata);
  for (uint64_t& d : run.system_event.data) s.io("run.system_event.data", d);
  s.io("run.memory_fault.flags", run.memory_fault.flags);
  s.io("run.memory_fault.gpa", run.memory_fault.gpa);
  s.io("run.memory_fault.size", run.memory_fault.size);
  s.io_bytes("run.pio_data", run.pio_data);
  s.io("run.message", run.message, 4096);
  if (s.reading() && s.ok() &&
      (run.internal.ndata > run.internal.data.size() ||
       run.system_event.ndata > run.system_event.data.size())) {
    s.fail("run.internal.ndata", "ndata beyond the 16 data words");
  }
  internal::serialize_sev_es(s, sev_es);
  bool irq = pending_irq.has_value();
  uint8_t irq_vector = pending_irq.value_or(0);
  s.io("vcpu.pending_irq", irq);
  s.io("vcpu.pending_irq_vector", irq_vector);
  if (s.reading()) pending_irq = irq ? std::optional<uint8_t>(irq_vector) : std::nullopt;
}

}  // namespace snpemu::hv
