/* test/guests/kernel.h: the small-kernel pieces the system test guests share: an IDT,
 * interrupt stubs that save every GPR and call a C handler, control registers, LIDT/LGDT/LTR.
 *
 * Include after guest.h. Everything here is bare-metal only (#ifndef GUEST_NATIVE): a guest's
 * native twin runs the same computation without the kernel part.
 *
 *   KERNEL_TRAP_COMMON(handler)     once per guest: `void handler(struct kernel_frame*)` is called
 *                                   for every vector with a stub
 *   KERNEL_STUB(name, vector)       a stub for a vector without an error code (pushes 0)
 *   KERNEL_STUB_ERR(name, vector)   a stub for a vector whose exception pushes an error code
 * A handler may change the saved registers (e.g. frame->rip to skip a faulting instruction);
 * the stub restores them and returns with IRETQ.
 */
#ifndef SNPEMU_TEST_GUESTS_KERNEL_H_
#define SNPEMU_TEST_GUESTS_KERNEL_H_

#ifndef GUEST_NATIVE

#include <stdint.h>

/* What a stub leaves on the stack: saved GPRs, then vector and error code (0 when the vector
 * has none), then the 64-bit interrupt frame the CPU pushed. APM vol 2, 8.9.3 Figure 8-14. */
struct kernel_frame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
  uint64_t vector, error_code;
  uint64_t rip, cs, rflags, rsp, ss;
};

/* A 64-bit interrupt-gate descriptor. APM vol 2, 4.8.4 Figure 4-24. */
struct kernel_gate {
  uint16_t offset_lo;
  uint16_t selector;
  uint8_t ist;        /* bits 2:0 */
  uint8_t type_attr;  /* P, DPL, type (0xE interrupt gate, 0xF trap gate) */
  uint16_t offset_mid;
  uint32_t offset_hi;
  uint32_t reserved;
};
_Static_assert(sizeof(struct kernel_gate) == 16, "64-bit IDT gate is 16 bytes");

#define KERNEL_CODE_SELECTOR 0x08u /* the loader's 64-bit code segment (bare_metal.h) */

static inline void kernel_set_gate(struct kernel_gate* idt, unsigned vector, void (*stub)(void),
                                   unsigned ist) {
  const uint64_t a = (uint64_t)stub;
  struct kernel_gate* g = &idt[vector];
  g->offset_lo = (uint16_t)a;
  g->selector = KERNEL_CODE_SELECTOR;
  g->ist = (uint8_t)(ist & 7);
  g->type_attr = 0x8E; /* P=1, DPL=0, 64-bit interrupt gate */
  g->offset_mid = (uint16_t)(a >> 16);
  g->offset_hi = (uint32_t)(a >> 32);
  g->reserved = 0;
}

struct __attribute__((packed)) kernel_table_reg {
  uint16_t limit;
  uint64_t base;
};

static inline void kernel_lidt(const void* base, uint16_t limit) {
  struct kernel_table_reg r = {limit, (uint64_t)base};
  __asm__ volatile("lidt %0" : : "m"(r) : "memory");
}
static inline void kernel_lgdt(const void* base, uint16_t limit) {
  struct kernel_table_reg r = {limit, (uint64_t)base};
  __asm__ volatile("lgdt %0" : : "m"(r) : "memory");
}
static inline struct kernel_table_reg kernel_sgdt(void) {
  struct kernel_table_reg r;
  __asm__ volatile("sgdt %0" : "=m"(r));
  return r;
}
static inline void kernel_ltr(uint16_t selector) {
  __asm__ volatile("ltr %0" : : "r"(selector) : "memory");
}
static inline uint64_t kernel_read_cr2(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr2, %0" : "=r"(v));
  return v;
}
static inline uint64_t kernel_read_cr3(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr3, %0" : "=r"(v));
  return v;
}
static inline void kernel_write_cr3(uint64_t v) {
  __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}
static inline void kernel_invlpg(uint64_t linear) {
  __asm__ volatile("invlpg (%0)" : : "r"(linear) : "memory");
}
static inline uint16_t kernel_read_ss(void) {
  uint16_t v;
  __asm__ volatile("mov %%ss, %0" : "=r"(v));
  return v;
}

/* The common tail: save GPRs, call handler(frame), restore, drop vector and error code, IRETQ.
 * On entry RSP = 16-aligned - 56 (the CPU aligns before pushing, APM vol 2 8.9.3; the stub
 * pushed 16 bytes), so after 15 pushes RSP is 16-aligned for the call. */
#define KERNEL_TRAP_COMMON(handler)                                                        \
  __asm__(".text\n"                                                                        \
          "kernel_trap_common:\n"                                                          \
          "  push %rax\n  push %rcx\n  push %rdx\n  push %rbx\n  push %rbp\n"              \
          "  push %rsi\n  push %rdi\n  push %r8\n  push %r9\n  push %r10\n"                \
          "  push %r11\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"              \
          "  mov %rsp, %rdi\n"                                                             \
          "  cld\n"                                                                        \
          "  call " #handler "\n"                                                          \
          "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %r11\n"                   \
          "  pop %r10\n  pop %r9\n  pop %r8\n  pop %rdi\n  pop %rsi\n"                     \
          "  pop %rbp\n  pop %rbx\n  pop %rdx\n  pop %rcx\n  pop %rax\n"                   \
          "  add $16, %rsp\n"                                                              \
          "  iretq\n")

#define KERNEL_STUB(name, vector)                                                          \
  void name(void);                                                                         \
  __asm__(".text\n.globl " #name "\n" #name ":\n  pushq $0\n  pushq $" #vector "\n"         \
          "  jmp kernel_trap_common\n")

#define KERNEL_STUB_ERR(name, vector)                                                      \
  void name(void);                                                                         \
  __asm__(".text\n.globl " #name "\n" #name ":\n  pushq $" #vector "\n"                     \
          "  jmp kernel_trap_common\n")

#endif /* GUEST_NATIVE */

#endif /* SNPEMU_TEST_GUESTS_KERNEL_H_ */
