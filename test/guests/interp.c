/* test/guests/interp.c: what gcc -O2 emits for freestanding code. A register-machine bytecode
 * interpreter (a dense switch gcc turns into a jump table) runs seeded random programs and two
 * structured ones (a loop with 64-bit multiplies and divides; a bit-twiddling hash), and a
 * record table exercises struct copies, string functions and an insertion sort by key.
 * Exercised: indirect jumps through tables, MUL/IMUL/DIV/IDIV (64- and 128-bit products),
 * shifts and rotates by register, BSF/BSR/TZCNT-style bit scans, BSWAP, SETcc/CMOVcc, string
 * loops and block copies. The native twin prints the same lines.
 */
#include "test/guests/lib/guest.h"

enum {
  I_LOADI, I_MOV, I_ADD, I_SUB, I_MUL, I_MULHU, I_MULHS, I_DIVU, I_DIVS, I_REMU, I_REMS,
  I_AND, I_OR, I_XOR, I_SHL, I_SHR, I_SAR, I_ROL, I_ROR, I_CLZ, I_CTZ, I_POPC, I_BSWAP,
  I_SLT, I_SLTU, I_MIN, I_MAXU, I_NEG, I_NOT, I_JNZ, I_DEC, I_HALT, I_COUNT
};

struct insn {
  uint8_t op, a, b, c;
  int32_t imm;
};

struct vm {
  uint64_t r[8];
  uint64_t steps;
};

static uint64_t rol64(uint64_t v, unsigned s) {
  s &= 63;
  return s ? (v << s) | (v >> (64 - s)) : v;
}

static unsigned popcount64(uint64_t v) {
  unsigned n = 0;
  while (v) {
    v &= v - 1;
    ++n;
  }
  return n;
}

static uint64_t run(struct vm* m, const struct insn* prog, unsigned n, uint64_t max_steps) {
  unsigned pc = 0;
  uint64_t* r = m->r;
  while (pc < n && m->steps < max_steps) {
    const struct insn i = prog[pc++];
    const uint64_t x = r[i.b & 7], y = r[i.c & 7];
    uint64_t* d = &r[i.a & 7];
    ++m->steps;
    switch (i.op) {
      case I_LOADI: *d = (uint64_t)(int64_t)i.imm; break;
      case I_MOV: *d = x; break;
      case I_ADD: *d = x + y; break;
      case I_SUB: *d = x - y; break;
      case I_MUL: *d = x * y; break;
      case I_MULHU: *d = (uint64_t)(((unsigned __int128)x * y) >> 64); break;
      case I_MULHS: *d = (uint64_t)(((__int128)(int64_t)x * (int64_t)y) >> 64); break;
      case I_DIVU: *d = y ? x / y : ~0ull; break;
      case I_DIVS:
        *d = y == 0 ? ~0ull
             : ((int64_t)x == INT64_MIN && (int64_t)y == -1) ? x
                                                              : (uint64_t)((int64_t)x / (int64_t)y);
        break;
      case I_REMU: *d = y ? x % y : x; break;
      case I_REMS:
        *d = y == 0 ? x
             : ((int64_t)x == INT64_MIN && (int64_t)y == -1) ? 0
                                                              : (uint64_t)((int64_t)x % (int64_t)y);
        break;
      case I_AND: *d = x & y; break;
      case I_OR: *d = x | y; break;
      case I_XOR: *d = x ^ y; break;
      case I_SHL: *d = x << (y & 63); break;
      case I_SHR: *d = x >> (y & 63); break;
      case I_SAR: *d = (uint64_t)((int64_t)x >> (y & 63)); break;
      case I_ROL: *d = rol64(x, (unsigned)y); break;
      case I_ROR: *d = rol64(x, 64 - (unsigned)(y & 63)); break;
      case I_CLZ: *d = x ? (uint64_t)__builtin_clzll(x) : 64; break;
      case I_CTZ: *d = x ? (uint64_t)__builtin_ctzll(x) : 64; break;
      case I_POPC: *d = popcount64(x); break;
      case I_BSWAP: *d = __builtin_bswap64(x); break;
      case I_SLT: *d = (int64_t)x < (int64_t)y; break;
      case I_SLTU: *d = x < y; break;
      case I_MIN: *d = (int64_t)x < (int64_t)y ? x : y; break;
      case I_MAXU: *d = x > y ? x : y; break;
      case I_NEG: *d = -x; break;
      case I_NOT: *d = ~x; break;
      case I_JNZ:
        if (*d != 0) pc = (unsigned)((int)pc + i.imm);
        break;
      case I_DEC: *d -= 1; break;
      case I_HALT: return r[0];
      default: return ~0ull;
    }
  }
  return r[0];
}

static uint64_t xorshift(uint64_t* s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static uint64_t digest_vm(const struct vm* m) {
  uint64_t h = m->steps;
  for (unsigned i = 0; i < 8; ++i) h = rol64(h, 17) * 0x9E3779B97F4A7C15ull + m->r[i];
  return h;
}

#define RANDOM_LEN 200
static struct insn random_prog[RANDOM_LEN];

/* gcd(r1, r2) by remainders, iterated over a sequence; accumulates with multiplies. */
static const struct insn gcd_prog[] = {
    {I_LOADI, 7, 0, 0, 300},     /* r7 = iterations */
    {I_LOADI, 1, 0, 0, 1234567}, /* loop: */
    {I_MUL, 1, 1, 7, 0},
    {I_LOADI, 2, 0, 0, 7654321},
    {I_ADD, 2, 2, 7, 0},
    {I_MOV, 3, 2, 0, 0},       /* inner: r3 = r2 */
    {I_REMU, 2, 1, 2, 0},      /* r2 = r1 % r2 */
    {I_MOV, 1, 3, 0, 0},       /* r1 = r3 */
    {I_JNZ, 2, 0, 0, -4},      /* while r2 */
    {I_MULHU, 4, 1, 7, 0},
    {I_ADD, 0, 0, 1, 0},
    {I_XOR, 0, 0, 4, 0},
    {I_DEC, 7, 0, 0, 0},
    {I_JNZ, 7, 0, 0, -13},
    {I_HALT, 0, 0, 0, 0},
};

/* Records: struct copies, strings, sort by key. */
struct record {
  char name[24];
  uint64_t key;
  int32_t weight;
  uint16_t tag;
};

static size_t my_strlen(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  return n;
}

static int my_strcmp(const char* a, const char* b) {
  while (*a && *a == *b) {
    ++a;
    ++b;
  }
  return (unsigned char)*a - (unsigned char)*b;
}

static void my_strcpy(char* d, const char* s) {
  while ((*d++ = *s++) != '\0') {
  }
}

#define NRECORDS 64
static struct record records[NRECORDS];

static uint64_t records_test(uint64_t seed) {
  static const char* const kWords[] = {"alpha", "bravo", "charlie", "delta", "echo",
                                       "foxtrot", "golf", "hotel", "india", "juliet"};
  for (unsigned i = 0; i < NRECORDS; ++i) {
    struct record rec;
    memset(&rec, 0, sizeof rec);
    const uint64_t v = xorshift(&seed);
    my_strcpy(rec.name, kWords[v % 10]);
    const size_t len = my_strlen(rec.name);
    rec.name[len] = (char)('a' + (v >> 8) % 26);
    rec.name[len + 1] = '\0';
    rec.key = v >> 3;
    rec.weight = (int32_t)(v >> 40) - (1 << 23);
    rec.tag = (uint16_t)i;
    records[i] = rec; /* struct copy */
  }
  /* insertion sort by (name, key) */
  for (unsigned i = 1; i < NRECORDS; ++i) {
    const struct record cur = records[i];
    unsigned j = i;
    while (j > 0) {
      const int c = my_strcmp(records[j - 1].name, cur.name);
      if (c < 0 || (c == 0 && records[j - 1].key <= cur.key)) break;
      records[j] = records[j - 1];
      --j;
    }
    records[j] = cur;
  }
  uint64_t h = 0;
  for (unsigned i = 0; i < NRECORDS; ++i) {
    h = h * 1000003 + records[i].tag;
    h ^= (uint64_t)(int64_t)records[i].weight;
    h += my_strlen(records[i].name);
  }
  return h;
}

long guest_main(void) {
  uint64_t seed = 0xD1B54A32D192ED03ull;
  uint64_t total = 0;
  for (unsigned round = 0; round < 40; ++round) {
    for (unsigned i = 0; i < RANDOM_LEN; ++i) {
      const uint64_t v = xorshift(&seed);
      struct insn in;
      in.op = (uint8_t)(v % (I_JNZ));  /* straight-line: no jumps, no halt */
      in.a = (uint8_t)(v >> 8);
      in.b = (uint8_t)(v >> 11);
      in.c = (uint8_t)(v >> 14);
      in.imm = (int32_t)(v >> 32);
      random_prog[i] = in;
    }
    struct vm m;
    for (unsigned i = 0; i < 8; ++i) m.r[i] = xorshift(&seed);
    m.steps = 0;
    run(&m, random_prog, RANDOM_LEN, 1u << 20);
    total = rol64(total, 7) ^ digest_vm(&m);
  }
  guest_puts("random ");
  guest_put_hex(total);
  guest_putc('\n');

  struct vm g;
  memset(&g, 0, sizeof g);
  const uint64_t r = run(&g, gcd_prog, sizeof gcd_prog / sizeof gcd_prog[0], 1u << 22);
  guest_puts("gcd ");
  guest_put_hex(r);
  guest_puts(" steps ");
  guest_put_dec(g.steps);
  guest_putc('\n');

  guest_puts("records ");
  guest_put_hex(records_test(0x8BADF00DDEADBEEFull));
  guest_puts(" first ");
  guest_puts(records[0].name);
  guest_puts(" last ");
  guest_puts(records[NRECORDS - 1].name);
  guest_putc('\n');
  return 0;
}
