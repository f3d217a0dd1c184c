/* test/guests/snp_attest.c: an SNP guest asks the AMD-SP for its attestation report (SNP only).
 *
 * Proves, end to end: the guest reads VMPCK0 from the secrets page the firmware launched at GPA
 * 0x80000 (PLATFORM-FACTS 8.8; emu/vmm/launch_plan.h kSecretsGpa; private, identity mapped),
 * makes two more pages of its image shared (request, response; the same split page table as
 * the GHCB when they share its 2 MiB, else ATTEST_PT), seals MSG_REPORT_REQ v1 under VMPCK0
 * with msg_seqno 1 (AES-256-GCM, ghcb/guest/aes_gcm.c), sends the GUEST_REQUEST NAE event
 * (0x8000_0011, EXITINFO1/2 = request / response GPA), requires SW_EXITINFO2 == 0, opens the
 * MSG_REPORT_RSP (seqno 2, type 6) and checks the report: VERSION >= 2, REPORT_DATA echoed
 * (bytes 0x00..0x3F), VMPL 0, POLICY 0x30000 (the launch policy of `snpemu run --sev snp`),
 * SIGNATURE_ALGO 1 (ECDSA P-384 with SHA-384). The signature itself is the host test's job: the
 * whole report is printed for it.
 *
 * Expected console on success (lowercase hex):
 *   snp_attest: report ok
 *   measurement <96 hex chars: MEASUREMENT, report bytes 0x90..0xBF>
 *   report 0x000 <128 hex chars: report bytes 0x000..0x03F>
 *   report 0x040 <128 hex chars>
 *   ... one line per 64 bytes ...
 *   report 0x480 <64 hex chars: the last 32 bytes, 0x480..0x49F>
 *   snp_attest: ok
 * then MSR-protocol TERM_REQ set 0 (GHCB_TERM_SET_GEN) code 0 (GHCB_TERM_GEN_REQ).
 *
 * Failures terminate (MSR protocol) with set 0xF (GHCB_TERM_SET_TEST) and code:
 *   0x01  not an SNP guest (SEV_STATUS bit 2 clear)
 *   0x02  GHCB set-up failed (ghcb_es_init)
 *   0x03  making the request page shared failed
 *   0x04  making the response page shared failed
 *   0x05  ghcb_snp_channel_init refused the pages
 *   0x06  report VERSION < 2
 *   0x07  REPORT_DATA not echoed
 *   0x08  VMPL != 0
 *   0x09  POLICY != 0x30000
 *   0x0A  SIGNATURE_ALGO != 1
 *   0x40 + r  ghcb_snp_get_report failed with enum ghcb_attest_result r (1..20; e.g. 0x47 =
 *         GHCB_ATTEST_FW_ERROR); the console line "snp_attest: get_report failed: <name>
 *         exitinfo2 0x<16 hex>" comes first when the GHCB console works.
 * Bare-metal only: no native twin (the library's native tests cover the protocol,
 * test/ghcb_guest/attest_test.cc). */
#include "ghcb/guest/ghcb_guest.h"
#include "test/guests/lib/guest.h"

#ifdef GUEST_NATIVE

long guest_main(void) { return 0; }

#else

/* emu/vmm/launch_plan.h kSecretsGpa: the SNP secrets page, identity mapped (PLATFORM-FACTS 8.8). */
#define SECRETS_GPA 0x80000ull
#define EXPECTED_POLICY 0x30000ull /* ABI major 0, minor 0, SMT (16), reserved-1 (17) */

static struct ghcb_idt idt __attribute__((aligned(16)));
static struct ghcb ghcb_page __attribute__((aligned(4096)));
static uint64_t ghcb_pt[512] __attribute__((aligned(4096)));
/* A second split table, used only if the message pages are in another 2 MiB than the GHCB. */
static uint64_t attest_pt[512] __attribute__((aligned(4096)));
/* Request and response pages: 8 KiB aligned, so both lie in one 2 MiB. */
static uint8_t msg_pages[2][4096] __attribute__((aligned(8192)));
static struct ghcb_snp_channel channel __attribute__((aligned(8)));
static struct ghcb_snp_report report __attribute__((aligned(8)));
static struct ghcb_ctx ctx;

static void fail(unsigned code) { ghcb_msr_terminate(GHCB_TERM_SET_TEST, code); }

static void hex_line(const char* prefix, const uint8_t* p, unsigned n) {
  static const char kDigits[] = "0123456789abcdef";
  char buf[2 * 64 + 2];
  unsigned k = 0;
  for (unsigned i = 0; i < n && i < 64; ++i) {
    buf[k++] = kDigits[p[i] >> 4];
    buf[k++] = kDigits[p[i] & 15];
  }
  buf[k++] = '\n';
  buf[k] = '\0';
  ghcb_console_puts(&ctx, prefix);
  ghcb_console_puts(&ctx, buf);
}

/* "report 0x%03x " */
static void report_prefix(unsigned offset, char out[14]) {
  static const char kDigits[] = "0123456789abcdef";
  const char* head = "report 0x";
  unsigned k = 0;
  while (head[k] != '\0') {
    out[k] = head[k];
    ++k;
  }
  out[k++] = kDigits[(offset >> 8) & 15];
  out[k++] = kDigits[(offset >> 4) & 15];
  out[k++] = kDigits[offset & 15];
  out[k++] = ' ';
  out[k] = '\0';
}

static int make_shared(void* page) {
  if (ghcb_make_page_shared(&ctx, (uint64_t)(uintptr_t)page, 1, attest_pt) != GHCB_OK) return 0;
  volatile uint8_t* b = (volatile uint8_t*)page; /* contents undefined after the change */
  for (unsigned i = 0; i < 4096; ++i) b[i] = 0;
  return 1;
}

long guest_main(void) {
  ghcb_ctx_init(&ctx, NULL, 0, 0);
  ghcb_idt_install(&idt, &ctx);
  if (!(ghcb_sev_status() & GHCB_SEV_STATUS_SNP)) fail(0x01);
  if (ghcb_es_init(&ctx, &ghcb_page, ghcb_pt) != GHCB_OK) fail(0x02);
  if (!make_shared(msg_pages[0])) fail(0x03);
  if (!make_shared(msg_pages[1])) fail(0x04);

  uint8_t vmpck0[GHCB_VMPCK_SIZE];
  const volatile uint8_t* secrets = (const volatile uint8_t*)(uintptr_t)SECRETS_GPA;
  for (unsigned i = 0; i < GHCB_VMPCK_SIZE; ++i)
    vmpck0[i] = secrets[GHCB_SECRETS_VMPCK_OFFSET(0) + i];
  const enum ghcb_attest_result init = ghcb_snp_channel_init(
      &channel, vmpck0, 0, 0, msg_pages[0], (uint64_t)(uintptr_t)msg_pages[0] - ctx.va_offset,
      msg_pages[1], (uint64_t)(uintptr_t)msg_pages[1] - ctx.va_offset);
  ghcb_secure_zero(vmpck0, sizeof vmpck0);
  if (init != GHCB_ATTEST_OK) fail(0x05);

  uint8_t data[64];
  for (unsigned i = 0; i < 64; ++i) data[i] = (uint8_t)i;
  const enum ghcb_attest_result r = ghcb_snp_get_report(&ctx, &channel, data, 0, (uint8_t*)&report);
  if (r != GHCB_ATTEST_OK) {
    ghcb_console_puts(&ctx, "snp_attest: get_report failed: ");
    ghcb_console_puts(&ctx, ghcb_attest_result_name(r));
    ghcb_console_puts(&ctx, " exitinfo2 ");
    ghcb_console_put_hex(&ctx, channel.exit_info_2);
    ghcb_console_puts(&ctx, "\n");
    fail(0x40u + (unsigned)r);
  }

  if (report.version < 2) fail(0x06);
  for (unsigned i = 0; i < 64; ++i)
    if (report.report_data[i] != data[i]) fail(0x07);
  if (report.vmpl != 0) fail(0x08);
  if (report.policy != EXPECTED_POLICY) fail(0x09);
  if (report.signature_algo != GHCB_SNP_SIG_ALGO_ECDSA_P384_SHA384) fail(0x0A);

  ghcb_console_puts(&ctx, "snp_attest: report ok\n");
  hex_line("measurement ", report.measurement, sizeof report.measurement);
  const uint8_t* bytes = (const uint8_t*)&report;
  for (unsigned off = 0; off < GHCB_SNP_REPORT_SIZE; off += 64) {
    char prefix[14];
    report_prefix(off, prefix);
    const unsigned n = GHCB_SNP_REPORT_SIZE - off < 64 ? GHCB_SNP_REPORT_SIZE - off : 64;
    hex_line(prefix, bytes + off, n);
  }
  ghcb_console_puts(&ctx, "snp_attest: ok\n");
  ghcb_msr_terminate(GHCB_TERM_SET_GEN, GHCB_TERM_GEN_REQ);
  return 0;
}

#endif
