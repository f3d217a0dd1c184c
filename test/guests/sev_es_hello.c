/* test/guests/sev_es_hello.c: the first SEV-ES / SNP guest (ghcb/guest library).
 *
 * Proves, on the emulator, end to end: GHCB protocol negotiation over the MSR protocol (guest
 * range 1..2; the HV's SEV_INFO range must overlap it), the #VC path (IDT vector 29 -> stub ->
 * ghcb_vc_handle) for CPUID before any GHCB exists (MSR-protocol CPUID), GHCB set-up (C-bit
 * cleared on the GHCB's own 4 KiB PTE after splitting the boot 2 MiB PDE; for SNP also
 * PVALIDATE rescind + PSC shared by MSR and GHCB GPA registration), console output by plain
 * OUT imm8 to port 0xE9 -> #VC 0x7B -> GHCB IOIO, IN from port 0xE9 (the debug console answers
 * 0xE9), CPUID 0x8000001F read three ways (MSR protocol, GHCB CPUID NAE, CPUID instruction ->
 * #VC -> GHCB) that must agree, and a clean end: MSR-protocol TERM_REQ set 0 code 0 (general
 * termination request; the VMM reads the reason in the MSR value, PLATFORM-FACTS 1.7).
 *
 * Expected console (C-bit 51 on the zen4 profile):
 *   sev_es_hello: protocol v2 snp=<0|1>
 *   cbit msr=51 ghcb=51 insn=51
 *   in 0xe9 -> 0x00000000000000e9
 *   sev_es_hello: ok vc=<count>
 * vc=113 counts every #VC: 2 CPUID instructions, 1 IN and 110 OUTs (so the count also shows
 * that SEV_STATUS and GHCB MSR accesses raised none).
 * Failures terminate with set 0xF (GHCB_TERM_SET_TEST) and code = the step number below, or
 * with the library's own reasons (ghcb_guest.h).
 *
 * Native twin (-DGUEST_NATIVE): the same code without the IDT; test/ghcb_guest/payloads_test
 * runs it against the fake KVM, whose OUT/IN/CPUID hooks enter ghcb_vc_handle as a #VC would
 * and whose CR3 points at tables the test builds around sev_es_hello_ghcb. */
#include "ghcb/guest/ghcb_guest.h"
#include "test/guests/lib/guest.h"

#ifndef GUEST_NATIVE
static struct ghcb_idt idt __attribute__((aligned(16)));
#endif
struct ghcb sev_es_hello_ghcb __attribute__((aligned(4096)));
uint64_t sev_es_hello_pt[512] __attribute__((aligned(4096))); /* the split PDE's table */
struct ghcb_ctx sev_es_hello_ctx;

/* Terminates (never returns on hardware); the native twin returns the step. */
static long fail(unsigned step) {
  ghcb_msr_terminate(GHCB_TERM_SET_TEST, step);
  return (long)step;
}

static void put_dec(uint64_t v) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) ghcb_out_putc(buf[--n]);
}

static uint32_t cpuid_ebx(uint32_t fn) {
  uint32_t r[4];
  ghcb_cpuid_insn(fn, 0, r);
  return r[1];
}

long guest_main(void) {
  struct ghcb_ctx* const c = &sev_es_hello_ctx;
  ghcb_ctx_init(c, NULL, 0, 0);
#ifndef GUEST_NATIVE
  ghcb_idt_install(&idt, c);
#endif
  /* 1: CPUID before the GHCB: #VC -> MSR-protocol CPUID inside the handler. */
  const uint32_t early = cpuid_ebx(0x8000001F);
  if (ghcb_es_init(c, &sev_es_hello_ghcb, sev_es_hello_pt) != GHCB_OK) return fail(2);
  const int snp = (ghcb_sev_status() & GHCB_SEV_STATUS_SNP) != 0;
  ghcb_out_puts("sev_es_hello: protocol v");
  put_dec(c->version);
  ghcb_out_puts(snp ? " snp=1\n" : " snp=0\n");

  uint32_t msr_ebx = 0, regs[4] = {0, 0, 0, 0};
  if (ghcb_msr_cpuid(0x8000001F, 1, &msr_ebx) != GHCB_OK) return fail(3);
  if (ghcb_cpuid(c, 0x8000001F, 0, 1, regs) != GHCB_OK) return fail(4);
  const uint32_t insn_ebx = cpuid_ebx(0x8000001F);
  ghcb_out_puts("cbit msr=");
  put_dec(msr_ebx & 0x3F);
  ghcb_out_puts(" ghcb=");
  put_dec(regs[1] & 0x3F);
  ghcb_out_puts(" insn=");
  put_dec(insn_ebx & 0x3F);
  ghcb_out_putc('\n');
  if ((msr_ebx & 0x3F) != (regs[1] & 0x3F) || (insn_ebx & 0x3F) != (regs[1] & 0x3F) ||
      (early & 0x3F) != (regs[1] & 0x3F) || (regs[1] & 0x3F) != c->c_bit)
    return fail(5);

  const uint8_t in = ghcb_in_byte(GHCB_CONSOLE_PORT);
  ghcb_out_puts("in 0xe9 -> ");
  ghcb_out_put_hex(in);
  ghcb_out_putc('\n');

  ghcb_out_puts("sev_es_hello: ok vc=");
  put_dec(c->vc_count);
  ghcb_out_putc('\n');
  ghcb_msr_terminate(GHCB_TERM_SET_GEN, GHCB_TERM_GEN_REQ);
  return 0;
}
