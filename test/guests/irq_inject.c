/* test/guests/irq_inject.c: an external interrupt the VMM injects (KVM_INTERRUPT with a
 * userspace interrupt controller) arriving in the guest's IDT, first through an interrupt window
 * and then into a halted vCPU. Under the hypervisor only (the test drives the VMM side:
 * test/kvm/interrupt_test.cc); no native twin.
 *
 *   1. IDT gate 0x40; CLI; OUT 0x80 <- 1 (a userspace port exit: the VMM queues vector 0x40
 *      while RFLAGS.IF = 0, so KVM must open an interrupt window); a little work; STI; NOP
 *      (the STI shadow); the handler must have run exactly once, after the STI;
 *   2. OUT 0x80 <- 2, then HLT with IF = 1: the VMM queues 0x40 again at the KVM_EXIT_HLT; the
 *      vCPU wakes in the handler and resumes after the HLT;
 *   3. prints "irq_inject: window 1 halt 1" on port 0xE9 and exits with value 0 on port 0xF4
 *      (value 1 + step on any wrong count). */
#include "test/guests/kernel.h"
#include "test/guests/lib/guest.h"

#ifdef GUEST_NATIVE

long guest_main(void) { return 0; }

#else

static struct kernel_gate idt[256] __attribute__((aligned(16)));
static volatile unsigned irq_count;
static volatile unsigned seen_before_sti;

KERNEL_TRAP_COMMON(irq_inject_trap);
KERNEL_STUB(irq40_stub, 0x40);
void irq_inject_trap(struct kernel_frame* f);
void irq_inject_trap(struct kernel_frame* f) {
  (void)f;
  ++irq_count;
}

static void out80(uint8_t v) { __asm__ volatile("outb %0, $0x80" : : "a"(v) : "memory"); }

long guest_main(void) {
  kernel_set_gate(idt, 0x40, irq40_stub, 0);
  kernel_lidt(idt, sizeof idt - 1);
  __asm__ volatile("cli" ::: "memory");
  out80(1);
  for (volatile int i = 0; i < 100; ++i) {
  }
  seen_before_sti = irq_count;
  __asm__ volatile("sti\n nop" ::: "memory");
  const unsigned window = irq_count;
  if (seen_before_sti != 0 || window != 1) return 2;
  out80(2);
  __asm__ volatile("hlt" ::: "memory");
  const unsigned halt = irq_count - window;
  if (halt != 1) return 3;
  guest_puts("irq_inject: window ");
  guest_putc((char)('0' + window));
  guest_puts(" halt ");
  guest_putc((char)('0' + halt));
  guest_putc('\n');
  return 0;
}

#endif
