/* test/guests/smc.c: self-modifying code. The guest writes instruction bytes into a buffer (the
 * loader maps all of low memory writable and executable), runs them, rewrites them in place
 * (whole instructions, and single opcode or immediate bytes) and runs them again; then it runs
 * code that stores into the very next instruction's immediate, and code that increments its own
 * immediate on every call. Every stale predecoded instruction shows up as a wrong result.
 * The native twin computes the same results in C without executing generated code.
 */
#include "test/guests/lib/guest.h"

typedef uint64_t (*binop_fn)(uint64_t, uint64_t);

/* x86-64 encodings of f(a = rdi, b = rsi) -> rax. */
enum { OP_ADD, OP_SUB, OP_IMUL, OP_XOR, OP_MOVABS, OP_COUNT };

static uint64_t model(unsigned op, uint64_t a, uint64_t b, uint64_t imm) {
  switch (op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_IMUL: return a * b;
    case OP_XOR: return a ^ b;
    default: return imm;
  }
}

static uint64_t next(uint64_t* x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

#ifdef GUEST_NATIVE

static uint64_t run_binop(unsigned op, uint64_t a, uint64_t b, uint64_t imm) {
  return model(op, a, b, imm);
}
/* A single-byte patch of the ALU opcode (01 add / 29 sub / 31 xor) of the last written op. */
static uint64_t run_patched(uint8_t alu, uint64_t a, uint64_t b) {
  return alu == 0x01 ? a + b : alu == 0x29 ? a - b : a ^ b;
}
static uint64_t run_store_next(uint32_t v) { return v; }
static uint64_t counter;
static uint64_t run_self_increment(void) { return ++counter; }
static void reset_self_increment(void) { counter = 0; }

#else

static uint8_t code[4096] __attribute__((aligned(4096)));
static uint8_t code2[256] __attribute__((aligned(64)));
static uint8_t code3[256] __attribute__((aligned(64)));

static void emit(volatile uint8_t* p, const uint8_t* bytes, unsigned n) {
  for (unsigned i = 0; i < n; ++i) p[i] = bytes[i];
}

/* Writes op's encoding at the start of `code`. */
static void write_binop(unsigned op, uint64_t imm) {
  volatile uint8_t* p = code;
  static const uint8_t mov_rax_rdi[] = {0x48, 0x89, 0xF8};
  if (op == OP_MOVABS) {
    p[0] = 0x48;
    p[1] = 0xB8;
    for (unsigned i = 0; i < 8; ++i) p[2 + i] = (uint8_t)(imm >> (8 * i));
    p[10] = 0xC3;
    return;
  }
  emit(p, mov_rax_rdi, 3);
  static const uint8_t add[] = {0x48, 0x01, 0xF0, 0xC3};        /* add %rsi,%rax; ret */
  static const uint8_t sub[] = {0x48, 0x29, 0xF0, 0xC3};        /* sub %rsi,%rax; ret */
  static const uint8_t imul[] = {0x48, 0x0F, 0xAF, 0xC6, 0xC3}; /* imul %rsi,%rax; ret */
  static const uint8_t xor_[] = {0x48, 0x31, 0xF0, 0xC3};       /* xor %rsi,%rax; ret */
  switch (op) {
    case OP_ADD: emit(p + 3, add, sizeof add); break;
    case OP_SUB: emit(p + 3, sub, sizeof sub); break;
    case OP_IMUL: emit(p + 3, imul, sizeof imul); break;
    default: emit(p + 3, xor_, sizeof xor_); break;
  }
}

static uint64_t run_binop(unsigned op, uint64_t a, uint64_t b, uint64_t imm) {
  write_binop(op, imm);
  return ((binop_fn)(void*)code)(a, b);
}

static uint64_t run_patched(uint8_t alu, uint64_t a, uint64_t b) {
  write_binop(OP_ADD, 0);
  ((volatile uint8_t*)code)[4] = alu; /* the ALU opcode byte only */
  return ((binop_fn)(void*)code)(a, b);
}

/* Stores EDI into the immediate of the instruction right after the store. */
void smc_store_next(void);
extern const char smc_store_next_end[];
__asm__(".text\n.globl smc_store_next\nsmc_store_next:\n"
        "  movl %edi, 1f+1(%rip)\n"
        "1: movl $0, %eax\n"
        "  ret\n"
        ".globl smc_store_next_end\nsmc_store_next_end:\n");

/* Increments its own immediate, then returns it: call n returns n. */
void smc_self_increment(void);
extern const char smc_self_increment_end[];
__asm__(".text\n.globl smc_self_increment\nsmc_self_increment:\n"
        "  addl $1, 1f+1(%rip)\n"
        "1: movl $0, %eax\n"
        "  ret\n"
        ".globl smc_self_increment_end\nsmc_self_increment_end:\n");

static void copy_template(uint8_t* dst, const void* begin, const void* end) {
  emit(dst, (const uint8_t*)begin, (unsigned)((const uint8_t*)end - (const uint8_t*)begin));
}

static uint64_t run_store_next(uint32_t v) {
  return ((uint64_t(*)(uint64_t))(void*)code2)(v);
}
static uint64_t run_self_increment(void) { return ((uint64_t(*)(void))(void*)code3)(); }
static void reset_self_increment(void) {
  copy_template(code3, (const void*)smc_self_increment, smc_self_increment_end);
}

#endif

long guest_main(void) {
  uint64_t x = 0x2545F4914F6CDD1Dull;
  uint64_t digest = 0;
  /* Whole-instruction rewrites of one buffer, 400 times. */
  for (unsigned i = 0; i < 400; ++i) {
    const unsigned op = (unsigned)(next(&x) % OP_COUNT);
    const uint64_t a = next(&x), b = next(&x), imm = next(&x);
    const uint64_t r = run_binop(op, a, b, imm);
    if (r != model(op, a, b, imm)) {
      guest_puts("binop mismatch at ");
      guest_put_dec(i);
      guest_putc('\n');
      return 1;
    }
    digest = digest * 31 + r;
  }
  guest_puts("binops ");
  guest_put_hex(digest);
  guest_putc('\n');
  /* One-byte opcode patches. */
  static const uint8_t alus[] = {0x01, 0x29, 0x31, 0x29, 0x01, 0x31};
  for (unsigned i = 0; i < sizeof alus; ++i) {
    const uint64_t r = run_patched(alus[i], 1000 + i, 7 * i);
    guest_puts("patch ");
    guest_put_hex(alus[i]);
    guest_putc(' ');
    guest_put_dec(r);
    guest_putc('\n');
  }
#ifndef GUEST_NATIVE
  copy_template(code2, (const void*)smc_store_next, smc_store_next_end);
#endif
  for (uint32_t v = 1; v < 0x40000000u; v = v * 5 + 3) {
    guest_puts("store-next ");
    guest_put_dec(run_store_next(v));
    guest_putc('\n');
  }
  reset_self_increment();
  uint64_t sum = 0;
  for (unsigned i = 0; i < 10; ++i) sum += run_self_increment();
  guest_puts("self-increment sum ");
  guest_put_dec(sum);
  guest_putc('\n');
  reset_self_increment();
  guest_puts("after reset ");
  guest_put_dec(run_self_increment());
  guest_putc('\n');
  return 0;
}
