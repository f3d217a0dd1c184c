/* test/guests/snp_psc_loop.c: Page State Change in a loop (SNP only), the payload of
 * //bench:psc_bench and of the PSC option tests.
 *
 * A block of PSC_LOOP_PAGES 4 KiB pages at GPA PSC_LOOP_GPA (4 MiB, outside the image: private
 * per the VMM's launch-time attributes, neither launched nor validated) is
 *   1. accepted: PSC private + PVALIDATE validate (Linux snp_accept_memory),
 *   2. made shared: PVALIDATE rescind + PSC shared, then the C-bit cleared in the page tables,
 * and then, `rounds` times, converted shared -> private -> shared as Linux's set_memory_encrypted
 * / set_memory_decrypted do (PLATFORM-FACTS 1.10, 3.4): private = C-bit set, PSC, PVALIDATE
 * validate; shared = PVALIDATE rescind, PSC, C-bit cleared; the TLB flushed (CR3 reload) after
 * each page-table change. After every conversion each page is touched: after "shared" its first
 * and last quadwords must read zero (the VMM or kernel discarded the old backing), then both are
 * written and read back; after "private" they are written and read back (the first private
 * access of a page takes the gmem_prepare path unless the RMP update was eager).
 * The PSC form comes from psc_loop_config (in .data, found by its magic so a VMM or benchmark can
 * patch it in the ELF): form 0 alternates by round (even: MSR protocol, one page per request;
 * odd: GHCB page, one multi-entry descriptor per batch of <= 64 pages), 1 = MSR only, 2 = GHCB
 * only; the set-up steps 1-2 use round 0's form. `rounds` may be 0 (set-up only). With
 * extra_private = 1 the block is converted to private (and touched) once more after the rounds,
 * so that a benchmark can tell the two directions apart.
 * Expected console (form 0, rounds >= 2):
 *   snp_psc_loop: accept (msr) ok
 *   snp_psc_loop: shared (msr) ok
 *   snp_psc_loop: round 0 private (msr) ok
 *   snp_psc_loop: round 0 shared (msr) ok
 *   snp_psc_loop: round 1 private (ghcb) ok
 *   snp_psc_loop: round 1 shared (ghcb) ok
 *   snp_psc_loop: ok, <rounds> rounds of 64 pages
 * (phase lines for rounds 0 and 1 only, so the console does not weigh on the measurement), then
 * MSR-protocol TERM_REQ set 0 code 0. A PSC or PVALIDATE failure terminates inside the library
 * (set 1, codes 1/2); this file's failures terminate with set 0xF (GHCB_TERM_SET_TEST) and code:
 *   0x10 not an SNP guest, 0x11 GHCB set-up failed, 0x12 bad psc_loop_config,
 *   0x20 | step  a PSC call returned an error (step 1 accept, 2 first shared, 3 private, 4 shared),
 *   0x30 | step  the page-table update failed (same steps),
 *   0x40 private write/read-back mismatch, 0x41 shared page not zero after the conversion,
 *   0x42 shared write/read-back mismatch.
 * Bare-metal only: no native twin. */
#include "ghcb/guest/ghcb_guest.h"
#include "test/guests/lib/guest.h"

#ifdef GUEST_NATIVE

long guest_main(void) { return 0; }

#else

#define PSC_LOOP_PAGES 64u
#define PSC_LOOP_GPA 0x400000ull
#define PSC_LOOP_MAGIC 0x31504F4F4C435350ull /* "PSCLOOP1" */

struct psc_loop_config {
  uint64_t magic;
  uint32_t form;   /* 0 alternate, 1 MSR, 2 GHCB */
  uint32_t rounds;
  uint32_t extra_private; /* 1: one more shared -> private conversion after the rounds */
  uint32_t reserved;
};
volatile struct psc_loop_config psc_loop_config = {PSC_LOOP_MAGIC, 0, 8, 0, 0};

static struct ghcb_idt idt __attribute__((aligned(16)));
static struct ghcb ghcb_page __attribute__((aligned(4096)));
static uint64_t ghcb_pt[512] __attribute__((aligned(4096)));
static uint64_t block_pt[512] __attribute__((aligned(4096))); /* the split of the block's 2 MiB */
static struct ghcb_ctx ctx;

static void fail(unsigned code) { ghcb_msr_terminate(GHCB_TERM_SET_TEST, code); }

static uint64_t read_cr3(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr3, %0" : "=r"(v));
  return v;
}
static void write_cr3(uint64_t v) { __asm__ volatile("mov %0, %%cr3" : : "r"(v) : "memory"); }

static volatile uint64_t* page_at(unsigned i) {
  return (volatile uint64_t*)(uintptr_t)(PSC_LOOP_GPA + (uint64_t)i * 4096);
}

static int use_msr(unsigned round) {
  const uint32_t form = psc_loop_config.form;
  return form == 1 || (form == 0 && (round & 1) == 0);
}

/* C-bit of every page of the block (shared = clear), then one TLB flush. */
static void set_c_bits(int shared, unsigned step) {
  const uint64_t cr3 = read_cr3();
  for (unsigned i = 0; i < PSC_LOOP_PAGES; ++i) {
    if (ghcb_pt_set_shared(cr3, (uint64_t)(uintptr_t)page_at(i), ctx.c_bit, shared, block_pt, 0) !=
        GHCB_OK)
      fail(0x30 | step);
  }
  write_cr3(cr3);
}

static void psc(int msr, unsigned op, unsigned step) {
  const enum ghcb_result r = msr ? ghcb_msr_psc(&ctx, PSC_LOOP_GPA, PSC_LOOP_PAGES, op)
                                 : ghcb_set_pages_state(&ctx, PSC_LOOP_GPA, PSC_LOOP_PAGES, op);
  if (r != GHCB_OK) fail(0x20 | step);
}

static void touch(uint64_t tag, int shared) {
  for (unsigned i = 0; i < PSC_LOOP_PAGES; ++i) {
    volatile uint64_t* p = page_at(i);
    if (shared && (p[0] != 0 || p[511] != 0)) fail(0x41);
    const uint64_t v = tag ^ ((uint64_t)i << 32);
    p[0] = v;
    p[511] = ~v;
    if (p[0] != v || p[511] != ~v) fail(shared ? 0x42 : 0x40);
  }
}

static void phase(const char* what, int round, int msr) {
  ghcb_console_puts(&ctx, "snp_psc_loop: ");
  if (round >= 0) {
    ghcb_console_puts(&ctx, "round ");
    ghcb_console_putc(&ctx, (char)('0' + round));
    ghcb_console_putc(&ctx, ' ');
  }
  ghcb_console_puts(&ctx, what);
  ghcb_console_puts(&ctx, msr ? " (msr) ok\n" : " (ghcb) ok\n");
}

static void to_private(int msr, unsigned step) {
  set_c_bits(0, step); /* Linux: the page tables first, then PSC + PVALIDATE (enc_status_change_finish) */
  psc(msr, GHCB_PSC_PRIVATE, step);
}

static void to_shared(int msr, unsigned step) {
  psc(msr, GHCB_PSC_SHARED, step); /* PVALIDATE rescind + PSC, then the page tables */
  set_c_bits(1, step);
}

long guest_main(void) {
  ghcb_ctx_init(&ctx, NULL, 0, 0);
  ghcb_idt_install(&idt, &ctx);
  if (!(ghcb_sev_status() & GHCB_SEV_STATUS_SNP)) fail(0x10);
  if (ghcb_es_init(&ctx, &ghcb_page, ghcb_pt) != GHCB_OK) fail(0x11);
  const uint32_t rounds = psc_loop_config.rounds;
  /* The magic is not compared here: its bytes must appear once in the ELF, in .data. */
  if (psc_loop_config.form > 2) fail(0x12);

  const int msr0 = use_msr(0);
  to_private(msr0, 1); /* accept: attributes already private, PVALIDATE validate */
  touch(0xACCE97ull << 40, 0);
  phase("accept", -1, msr0);
  to_shared(msr0, 2);
  touch(0x5A4BEDull << 40, 1);
  phase("shared", -1, msr0);

  for (uint32_t r = 0; r < rounds; ++r) {
    const int msr = use_msr(r);
    to_private(msr, 3);
    touch(((uint64_t)r << 48) | 0x9917A7E, 0);
    if (r < 2) phase("private", (int)r, msr);
    to_shared(msr, 4);
    touch(((uint64_t)r << 48) | 0x5A4ED, 1);
    if (r < 2) phase("shared", (int)r, msr);
  }
  if (psc_loop_config.extra_private) {  /* isolates the private direction for the benchmark */
    to_private(use_msr(rounds), 3);
    touch(((uint64_t)rounds << 48) | 0x9917A7E, 0);
  }
  ghcb_console_puts(&ctx, "snp_psc_loop: ok, ");
  ghcb_console_put_hex(&ctx, rounds);
  ghcb_console_puts(&ctx, " rounds of 64 pages\n");
  ghcb_msr_terminate(GHCB_TERM_SET_GEN, GHCB_TERM_GEN_REQ);
  return 0;
}

#endif
