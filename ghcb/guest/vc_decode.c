/* ghcb/guest/vc_decode.c: the little instruction decoding the #VC handler needs. An SEV-ES
 * guest gets only the exit code and RIP with a #VC (no EXITINFO), so it finds the port, size
 * and length from the instruction bytes itself, as Linux's vc_ioio_exitinfo / insn_decode do.
 * Opcodes: APM vol 3, "IN", "OUT", "INS", "OUTS"; prefixes: APM vol 3, 1.2. */
#include "ghcb/guest/ghcb_guest.h"

#define MAX_INSN_LEN 15u /* APM vol 3, 1.1 */

struct prefixes {
  unsigned count; /* bytes of prefix, REX included */
  int opsize;     /* 66 */
  int addrsize;   /* 67 */
  int rep;        /* F2 or F3 */
};

/* Legacy prefixes in any order, then at most one REX immediately before the opcode (a REX
 * followed by a legacy prefix is ignored by the CPU; such odd encodings are refused here). */
static int scan_prefixes(const uint8_t* insn, size_t avail, struct prefixes* p) {
  p->count = 0;
  p->opsize = p->addrsize = p->rep = 0;
  const size_t limit = avail < MAX_INSN_LEN ? avail : MAX_INSN_LEN;
  while (p->count < limit) {
    const uint8_t b = insn[p->count];
    if (b == 0x66) {
      p->opsize = 1;
    } else if (b == 0x67) {
      p->addrsize = 1;
    } else if (b == 0xF2 || b == 0xF3) {
      p->rep = 1;
    } else if (b == 0xF0 || b == 0x2E || b == 0x36 || b == 0x3E || b == 0x26 || b == 0x64 ||
               b == 0x65) {
      /* LOCK, segment overrides: no effect on what the handler needs. */
    } else {
      break;
    }
    ++p->count;
  }
  if (p->count < limit && (insn[p->count] & 0xF0) == 0x40) ++p->count; /* REX */
  return p->count < limit;
}

unsigned ghcb_decode_match(const uint8_t* insn, size_t avail, const uint8_t* opcode, unsigned n) {
  struct prefixes p;
  if (!scan_prefixes(insn, avail, &p)) return 0;
  const size_t limit = avail < MAX_INSN_LEN ? avail : MAX_INSN_LEN;
  if (p.count + n > limit) return 0;
  for (unsigned i = 0; i < n; ++i)
    if (insn[p.count + i] != opcode[i]) return 0;
  return p.count + n;
}

int ghcb_decode_io(const uint8_t* insn, size_t avail, struct ghcb_io_insn* out) {
  struct prefixes p;
  if (!scan_prefixes(insn, avail, &p)) return 0;
  const uint8_t op = insn[p.count];
  /* Byte forms have an even opcode; the others are 32-bit, 16-bit with 66. */
  const uint8_t wide_size = p.opsize ? 2 : 4;
  struct ghcb_io_insn io = {0, 0, 0, 0, (uint8_t)p.rep, 0, 0};
  unsigned imm = 0;
  switch (op) {
    case 0xE4: case 0xE5: /* IN AL/eAX, imm8 */
    case 0xE6: case 0xE7: /* OUT imm8, AL/eAX */
      io.in = op < 0xE6;
      io.port_imm = 1;
      imm = 1;
      break;
    case 0xEC: case 0xED: /* IN AL/eAX, DX */
    case 0xEE: case 0xEF: /* OUT DX, AL/eAX */
      io.in = op < 0xEE;
      break;
    case 0x6C: case 0x6D: /* INS */
    case 0x6E: case 0x6F: /* OUTS */
      io.in = op < 0x6E;
      io.string = 1;
      break;
    default:
      return 0;
  }
  io.size = (op & 1) ? wide_size : 1;
  const size_t limit = avail < MAX_INSN_LEN ? avail : MAX_INSN_LEN;
  if (p.count + 1 + imm > limit) return 0;
  if (imm) io.port = insn[p.count + 1];
  io.length = (uint8_t)(p.count + 1 + imm);
  *out = io;
  return 1;
}
