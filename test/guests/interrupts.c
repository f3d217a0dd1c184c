/* test/guests/interrupts.c: exception and interrupt delivery in 64-bit mode.
 *
 * The guest builds its own GDT (the loader's code/data segments plus a 64-bit TSS whose IST1
 * points at a separate stack), an IDT with interrupt gates, and triggers in order:
 *   #DE  DIV by zero             fault: saved RIP = the DIV; the handler skips it
 *   #UD  UD2                     fault: saved RIP = the UD2; skipped
 *   #BP  INT3, delivered on IST1 trap: saved RIP = after INT3
 *   INT 0x80                     trap: saved RIP = after INT 0x80
 *   #GP  WRMSR to an unknown MSR fault, error code 0; skipped
 *   #GP  load from a non-canonical address: fault, error code 0; skipped
 * For each delivery it prints the vector, the error code, the saved RIP as an offset from the
 * triggering instruction, CS and SS, whether the saved RFLAGS and RSP equal their values just
 * before the trigger, and where the frame sits: `frame=stack-0x28` means the saved RIP is at
 * (RSP before the trigger, aligned down to 16) - 0x28 (APM vol 2, 8.9.3), `frame=ist1-0x28`
 * the same below the IST1 stack top (8.9.4). The frame layout is APM vol 2, 8.9.3 Figure 8-14:
 * SS, RSP, RFLAGS, CS, RIP, then the error code if the vector has one.
 * Kernel-only: there is no native twin to compare with; the test holds the expected lines.
 */
#include "test/guests/lib/guest.h"

#ifdef GUEST_NATIVE

long guest_main(void) {
  guest_puts("interrupts: bare-metal only\n");
  return 0;
}

#else

#include "test/guests/kernel.h"

/* The triggers. Each saves RSP and RFLAGS just before its instruction (label trig_X_at) and
 * names the instruction's end (trig_X_end), where a fault handler resumes. */
uint64_t before_rsp, before_rflags;
#define TRIGGER(name, setup, insn)                                  \
  void name(void);                                                  \
  extern const char name##_at[], name##_end[];                      \
  __asm__(".text\n.globl " #name "\n" #name ":\n"                   \
          "  push %rbx\n" setup                                      \
          "  mov %rsp, before_rsp(%rip)\n"                          \
          "  pushfq\n  popq before_rflags(%rip)\n"                   \
          ".globl " #name "_at\n" #name "_at:\n  " insn "\n"        \
          ".globl " #name "_end\n" #name "_end:\n"                  \
          "  pop %rbx\n  ret\n")

TRIGGER(trig_de, "  xor %edx, %edx\n  mov $1, %eax\n  xor %ecx, %ecx\n", "div %rcx");
TRIGGER(trig_ud, "", "ud2");
TRIGGER(trig_bp, "", "int3");
/* RSP is 8 mod 16 here: the CPU aligns it down before pushing the frame. */
TRIGGER(trig_int, "  sub $8, %rsp\n", "int $0x80\n  add $8, %rsp");
TRIGGER(trig_wrmsr, "  mov $0xDEAD0000, %ecx\n  xor %eax, %eax\n  xor %edx, %edx\n", "wrmsr");
TRIGGER(trig_noncanon, "  movabs $0x8000000000000000, %rbx\n", "mov (%rbx), %rax");

/* 64-bit TSS. APM vol 2, 12.2.5 Figure 12-8. */
struct __attribute__((packed)) tss64 {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
};
_Static_assert(sizeof(struct tss64) == 104, "64-bit TSS is 104 bytes");

static struct tss64 tss __attribute__((aligned(16)));
static uint64_t gdt[6] __attribute__((aligned(16)));
static struct kernel_gate idt[256] __attribute__((aligned(16)));
static uint8_t ist1_stack[4096] __attribute__((aligned(16)));
#define TSS_SELECTOR 0x18

struct record {
  uint64_t vector, error_code, rip, cs, rflags, rsp, ss, frame_at;
};
#define MAX_RECORDS 16
static struct record records[MAX_RECORDS];
static unsigned record_count;
static const char* current_at;
static const char* current_end;

KERNEL_STUB(de_stub, 0);
KERNEL_STUB(bp_stub, 3);
KERNEL_STUB(ud_stub, 6);
KERNEL_STUB_ERR(gp_stub, 13);
KERNEL_STUB(int80_stub, 0x80);
void interrupts_trap(struct kernel_frame* f);
KERNEL_TRAP_COMMON(interrupts_trap);

void interrupts_trap(struct kernel_frame* f) {
  if (record_count < MAX_RECORDS) {
    struct record* r = &records[record_count++];
    r->vector = f->vector;
    r->error_code = f->error_code;
    r->rip = f->rip;
    r->cs = f->cs;
    r->rflags = f->rflags;
    r->rsp = f->rsp;
    r->ss = f->ss;
    r->frame_at = (uint64_t)&f->rip;
  }
  /* Faults resume after the faulting instruction; traps already point past it. */
  if (f->rip == (uint64_t)current_at &&
      (f->vector == 0 || f->vector == 6 || f->vector == 13)) {
    f->rip = (uint64_t)current_end;
  }
}

static void put_offset(const char* what, int64_t off) {
  guest_puts(what);
  if (off < 0) {
    guest_putc('-');
    off = -off;
  } else {
    guest_putc('+');
  }
  guest_put_dec((uint64_t)off);
}

static void put_hex_short(uint64_t v) {
  static const char kDigits[] = "0123456789abcdef";
  guest_puts("0x");
  int shift = 60;
  while (shift > 0 && ((v >> shift) & 15) == 0) shift -= 4;
  for (; shift >= 0; shift -= 4) guest_putc(kDigits[(v >> shift) & 15]);
}

static void run(const char* name, void (*trigger)(void), const char* at, const char* end,
                int has_error_code) {
  const unsigned before = record_count;
  current_at = at;
  current_end = end;
  trigger();
  guest_puts(name);
  if (record_count != before + 1) {
    guest_puts(" deliveries=");
    guest_put_dec(record_count - before);
    guest_putc('\n');
    return;
  }
  const struct record* r = &records[before];
  guest_puts(" vec=");
  put_hex_short(r->vector);
  guest_puts(" err=");
  if (has_error_code) {
    put_hex_short(r->error_code);
  } else {
    guest_puts("none");
  }
  put_offset(" rip=at", (int64_t)(r->rip - (uint64_t)at));
  guest_puts(" cs=");
  put_hex_short(r->cs);
  guest_puts(" ss=");
  put_hex_short(r->ss);
  guest_puts(r->rflags == before_rflags ? " rflags=same" : " rflags=DIFFERENT");
  guest_puts(r->rsp == before_rsp ? " rsp=same" : " rsp=DIFFERENT");
  const uint64_t ist_top = (uint64_t)(ist1_stack + sizeof ist1_stack);
  if (r->frame_at < ist_top && r->frame_at >= (uint64_t)ist1_stack) {
    put_offset(" frame=ist1", (int64_t)(r->frame_at - ist_top));
  } else {
    put_offset(" frame=stack", (int64_t)(r->frame_at - (before_rsp & ~15ull)));
  }
  guest_putc('\n');
}

long guest_main(void) {
  /* GDT: the loader's null, code (0x08) and data (0x10) descriptors, then the TSS (0x18). */
  const struct kernel_table_reg loader_gdt = kernel_sgdt();
  const uint64_t* old = (const uint64_t*)loader_gdt.base;
  gdt[0] = old[0];
  gdt[1] = old[1];
  gdt[2] = old[2];
  tss.ist[0] = (uint64_t)(ist1_stack + sizeof ist1_stack);
  tss.iomap_base = sizeof tss;
  const uint64_t base = (uint64_t)&tss;
  const uint64_t limit = sizeof tss - 1;
  /* 64-bit TSS descriptor: type 9 (available), P. APM vol 2, 4.8.3 Figure 4-22. */
  gdt[3] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ull << 40) |
           (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
  gdt[4] = base >> 32;
  kernel_lgdt(gdt, 5 * 8 - 1);
  kernel_ltr(TSS_SELECTOR);

  kernel_set_gate(idt, 0, de_stub, 0);
  kernel_set_gate(idt, 3, bp_stub, 1);
  kernel_set_gate(idt, 6, ud_stub, 0);
  kernel_set_gate(idt, 13, gp_stub, 0);
  kernel_set_gate(idt, 0x80, int80_stub, 0);
  kernel_lidt(idt, sizeof idt - 1);

  run("de", trig_de, trig_de_at, trig_de_end, 0);
  run("ud", trig_ud, trig_ud_at, trig_ud_end, 0);
  run("bp", trig_bp, trig_bp_at, trig_bp_end, 0);
  run("int80", trig_int, trig_int_at, trig_int_end, 0);
  run("wrmsr", trig_wrmsr, trig_wrmsr_at, trig_wrmsr_end, 1);
  run("noncanon", trig_noncanon, trig_noncanon_at, trig_noncanon_end, 1);
  guest_puts("ss now ");
  put_hex_short(kernel_read_ss());
  guest_puts(" deliveries ");
  guest_put_dec(record_count);
  guest_putc('\n');
  return 0;
}

#endif
