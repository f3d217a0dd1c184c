/* ghcb/guest/idt.c: the guest's IDT: vector 29 (#VC) -> a stub that saves every GPR into a
 * struct ghcb_vc_frame, calls ghcb_vc_handle and returns with IRETQ; every other vector -> a
 * stub that reports the vector and terminates. Freestanding build only (the native build has
 * no IDT; its tests call ghcb_vc_handle directly).
 *
 * The handler finds its context through SIDT: struct ghcb_idt keeps the ctx pointer right
 * after the 256 gates, so per-vCPU IDTs give per-vCPU contexts and the library holds no global
 * (Linux uses per-CPU GS data instead). */
#include "ghcb/guest/ghcb_guest.h"

#ifndef GHCB_GUEST_NATIVE

#define VC_VECTOR 29u          /* PLATFORM-FACTS 0 [3P] */
#define CODE_SELECTOR 0x08u    /* emu/exec/boot_layout.h kCodeSelector */
#define GATE_INTERRUPT 0x8Eu   /* P=1, DPL=0, 64-bit interrupt gate (APM vol 2 4.8.4) */
#define EXC_STUB_STRIDE 16u

void ghcb_vc_stub(void);
extern const char ghcb_exc_stubs[];
void ghcb_vc_entry(struct ghcb_vc_frame* frame) __attribute__((used));
void ghcb_exc_entry(unsigned vector, const uint64_t* sp) __attribute__((used));

/* #VC pushes an error code: after the CPU's 6 qwords (RSP aligned to 16 first, APM vol 2 8.9.3)
 * the stub pushes the vector and 15 GPRs, 176 bytes in all, so RSP is 16-aligned at the call.
 * The push order makes r15 the lowest field of struct ghcb_vc_frame. */
__asm__(".text\n"
        ".globl ghcb_vc_stub\n"
        ".type ghcb_vc_stub, @function\n"
        "ghcb_vc_stub:\n"
        "  pushq $29\n"
        "  push %rax\n  push %rcx\n  push %rdx\n  push %rbx\n  push %rbp\n"
        "  push %rsi\n  push %rdi\n  push %r8\n  push %r9\n  push %r10\n"
        "  push %r11\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
        "  mov %rsp, %rdi\n"
        "  cld\n"
        "  call ghcb_vc_entry\n"
        "  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %r11\n"
        "  pop %r10\n  pop %r9\n  pop %r8\n  pop %rdi\n  pop %rsi\n"
        "  pop %rbp\n  pop %rbx\n  pop %rdx\n  pop %rcx\n  pop %rax\n"
        "  add $16, %rsp\n" /* vector and error code */
        "  iretq\n"
        ".size ghcb_vc_stub, . - ghcb_vc_stub\n");

/* 256 stubs of EXC_STUB_STRIDE bytes: EDI = vector, RSI = RSP at entry (the CPU's frame, with
 * an error code first for the vectors that push one); they never return. */
__asm__(".text\n"
        ".balign 16\n"
        ".globl ghcb_exc_stubs\n"
        "ghcb_exc_stubs:\n"
        ".set ghcb_exc_vec, 0\n"
        ".rept 256\n"
        ".balign 16\n"
        "  mov %rsp, %rsi\n"
        "  mov $ghcb_exc_vec, %edi\n"
        "  jmp ghcb_exc_common\n"
        ".set ghcb_exc_vec, ghcb_exc_vec + 1\n"
        ".endr\n"
        "ghcb_exc_common:\n"
        "  and $-16, %rsp\n"
        "  cld\n"
        "  call ghcb_exc_entry\n"
        "1:\n  cli\n  hlt\n  jmp 1b\n");

static struct ghcb_ctx* idt_ctx(void) {
  struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
  } r;
  __asm__ volatile("sidt %0" : "=m"(r));
  return ((const struct ghcb_idt*)(uintptr_t)r.base)->ctx;
}

void ghcb_vc_entry(struct ghcb_vc_frame* frame) {
  struct ghcb_ctx* ctx = idt_ctx();
  if (ctx == NULL) {
    ghcb_msr_terminate(GHCB_TERM_SET_VC, GHCB_TERM_VC_NO_GHCB);
    return;
  }
  (void)ghcb_vc_handle(ctx, frame);
}

/* Vectors whose exceptions push an error code (APM vol 2 8.2, Table 8-1; #VC 29, #SX 30). */
static int has_error_code(unsigned v) {
  return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30;
}

void ghcb_exc_entry(unsigned vector, const uint64_t* sp) {
  struct ghcb_ctx* ctx = idt_ctx();
  if (ctx != NULL && ghcb_ready(ctx)) {
    const int err = has_error_code(vector);
    ghcb_console_puts(ctx, "ghcb_guest: unexpected vector ");
    ghcb_console_put_hex(ctx, vector);
    ghcb_console_puts(ctx, " rip ");
    ghcb_console_put_hex(ctx, sp[err ? 1 : 0]);
    if (err) {
      ghcb_console_puts(ctx, " error ");
      ghcb_console_put_hex(ctx, sp[0]);
    }
    ghcb_console_putc(ctx, '\n');
  }
  ghcb_msr_terminate(GHCB_TERM_SET_VECTOR, vector & 0xFF);
}

void ghcb_idt_install(struct ghcb_idt* idt, struct ghcb_ctx* ctx) {
  for (unsigned v = 0; v < 256; ++v) {
    const uint64_t a = v == VC_VECTOR ? (uint64_t)(uintptr_t)ghcb_vc_stub
                                      : (uint64_t)(uintptr_t)(ghcb_exc_stubs + v * EXC_STUB_STRIDE);
    struct ghcb_gate* g = &idt->gates[v];
    g->offset_lo = (uint16_t)a;
    g->selector = CODE_SELECTOR;
    g->ist = 0;
    g->type_attr = GATE_INTERRUPT;
    g->offset_mid = (uint16_t)(a >> 16);
    g->offset_hi = (uint32_t)(a >> 32);
    g->reserved = 0;
  }
  idt->ctx = ctx;
  struct __attribute__((packed)) {
    uint16_t limit;
    uint64_t base;
  } r = {(uint16_t)(sizeof idt->gates - 1), (uint64_t)(uintptr_t)idt};
  __asm__ volatile("lidt %0" : : "m"(r) : "memory");
}

#endif
