/* ghcb/guest/msr_protocol.c: GHCB MSR protocol calls, as Linux's guest makes them.
 * PLATFORM-FACTS 1.1-1.10 [L] sev-common.h, arch/x86/boot/startup/sev-shared.c,
 * arch/x86/coco/sev/. Value = GHCBData[63:12] | GHCBInfo[11:0]. */
#include "ghcb/guest/ghcb_guest.h"

static uint64_t msr_call(uint64_t request) {
  ghcb_msr_write(request);
  ghcb_vmgexit();
  return ghcb_msr_read();
}

static unsigned resp_code(uint64_t v) { return (unsigned)(v & GHCB_MSR_INFO_MASK); }

void ghcb_msr_terminate(unsigned reason_set, unsigned reason_code) {
  /* TERM_REQ: set in 15:12, code in 23:16 (PLATFORM-FACTS 1.7 [L]); Linux then HLTs forever. */
  ghcb_msr_write(GHCB_MSR_TERM_REQ | ((uint64_t)(reason_set & 0xF) << 12) |
                 ((uint64_t)(reason_code & 0xFF) << 16));
  ghcb_vmgexit();
  ghcb_halt();
}

enum ghcb_result ghcb_msr_negotiate(struct ghcb_ctx* ctx) {
  const uint64_t v = msr_call(GHCB_MSR_SEV_INFO_REQ);
  /* SEV_INFO_RESP: max 63:48, min 47:32, C-bit 31:24 (PLATFORM-FACTS 1.2, 1.3 [L]). */
  const unsigned hv_max = (unsigned)(v >> 48) & 0xFFFF;
  const unsigned hv_min = (unsigned)(v >> 32) & 0xFFFF;
  if (resp_code(v) != GHCB_MSR_SEV_INFO_RESP || hv_max < GHCB_PROTOCOL_MIN ||
      hv_min > GHCB_PROTOCOL_MAX) {
    /* Linux's startup code (sev_enable / do_early_sev_setup) terminates with set 0, code 1
     * (GHCB_SEV_ES_PROT_UNSUPPORTED); kernel-proper setup_ghcb used code 0 (GEN_REQ). */
    ghcb_msr_terminate(GHCB_TERM_SET_GEN, GHCB_TERM_PROT_UNSUPPORTED);
    return GHCB_TERMINATED;
  }
  ctx->version = (uint16_t)(hv_max < GHCB_PROTOCOL_MAX ? hv_max : GHCB_PROTOCOL_MAX);
  ctx->c_bit = (uint8_t)(v >> 24);
  return GHCB_OK;
}

enum ghcb_result ghcb_msr_cpuid(uint32_t fn, unsigned reg, uint32_t* value) {
  if (reg > 3 || value == NULL) return GHCB_BAD_ARGUMENT;
  /* CPUID_REQ: function 63:32, register 31:30 (PLATFORM-FACTS 1.2 [L]). */
  const uint64_t v = msr_call(((uint64_t)fn << 32) | ((uint64_t)reg << 30) | GHCB_MSR_CPUID_REQ);
  if (resp_code(v) != GHCB_MSR_CPUID_RESP) return GHCB_VMM_ERROR;
  *value = (uint32_t)(v >> 32);
  return GHCB_OK;
}

enum ghcb_result ghcb_msr_hv_features(struct ghcb_ctx* ctx, uint64_t* features) {
  *features = 0;
  /* HV features exist from protocol version 2 (PLATFORM-FACTS 1.3 [L] get_hv_features). */
  if (ctx->version < 2) return GHCB_UNSUPPORTED;
  const uint64_t v = msr_call(GHCB_MSR_HV_FT_REQ);
  if (resp_code(v) != GHCB_MSR_HV_FT_RESP) return GHCB_VMM_ERROR;
  *features = v >> 12;
  ctx->hv_features = *features;
  return GHCB_OK;
}

enum ghcb_result ghcb_msr_sev_setup(struct ghcb_ctx* ctx, int snp) {
  const enum ghcb_result r = ghcb_msr_negotiate(ctx);
  if (r != GHCB_OK) return r;
  if (!snp) return GHCB_OK;
  uint64_t features = 0;
  (void)ghcb_msr_hv_features(ctx, &features);
  if ((features & GHCB_HV_FT_SNP) == 0) {
    /* PLATFORM-FACTS 1.3 [L]: an SNP guest without HV feature bit 0 terminates set 0 code 2. */
    ghcb_msr_terminate(GHCB_TERM_SET_GEN, GHCB_TERM_SNP_UNSUPPORTED);
    return GHCB_TERMINATED;
  }
  return GHCB_OK;
}

enum ghcb_result ghcb_msr_pref_gpa(uint64_t* gfn) {
  const uint64_t v = msr_call(GHCB_MSR_PREF_GPA_REQ);
  if (resp_code(v) != GHCB_MSR_PREF_GPA_RESP) return GHCB_VMM_ERROR;
  *gfn = v >> 12;
  return GHCB_OK;
}

enum ghcb_result ghcb_msr_register_ghcb(struct ghcb_ctx* ctx, uint64_t gpa) {
  const uint64_t gfn = gpa >> 12;
  /* REG_GPA_REQ: GFN in 63:12; the response must echo it (PLATFORM-FACTS 1.6 [L]). */
  const uint64_t v = msr_call((gfn << 12) | GHCB_MSR_REG_GPA_REQ);
  if (resp_code(v) != GHCB_MSR_REG_GPA_RESP || (v >> 12) != gfn) {
    ghcb_msr_terminate(GHCB_TERM_SET_LINUX, GHCB_TERM_REGISTER);
    return GHCB_TERMINATED;
  }
  ctx->ghcb_gpa = gfn << 12;
  return GHCB_OK;
}

static enum ghcb_result pvalidate_4k_or_terminate(uint64_t va, unsigned validate) {
  /* Any non-zero code (including CF=1 "no update") terminates set 1 code 2, as current Linux
   * pvalidate_4k_page does. PLATFORM-FACTS 1.10 names code 1 for the current code; the Linux
   * source read (sev-shared.c pvalidate_4k_page) uses GHCB_TERM_PVALIDATE = 2. */
  if (ghcb_pvalidate(va, GHCB_PAGE_4K, validate) != 0) {
    ghcb_msr_terminate(GHCB_TERM_SET_LINUX, GHCB_TERM_PVALIDATE);
    return GHCB_TERMINATED;
  }
  return GHCB_OK;
}

enum ghcb_result ghcb_msr_psc(struct ghcb_ctx* ctx, uint64_t gpa, uint64_t npages, unsigned op) {
  if (op != GHCB_PSC_PRIVATE && op != GHCB_PSC_SHARED) return GHCB_BAD_ARGUMENT;
  gpa &= ~0xFFFull;
  for (uint64_t i = 0; i < npages; ++i, gpa += 4096) {
    const uint64_t va = gpa + ctx->va_offset;
    enum ghcb_result r;
    if (op == GHCB_PSC_SHARED && (r = pvalidate_4k_or_terminate(va, 0)) != GHCB_OK) return r;
    const uint64_t saved = ghcb_msr_read();
    /* PSC_REQ: GFN 51:12, operation 55:52 (PLATFORM-FACTS 1.2 [L]). */
    const uint64_t v = msr_call(((uint64_t)op << 52) | (((gpa >> 12) & ((1ull << 40) - 1)) << 12) |
                                GHCB_MSR_PSC_REQ);
    if (resp_code(v) != GHCB_MSR_PSC_RESP || (v >> 32) != 0) {
      ghcb_msr_terminate(GHCB_TERM_SET_LINUX, GHCB_TERM_PSC);
      return GHCB_TERMINATED;
    }
    ghcb_msr_write(saved);
    if (op == GHCB_PSC_PRIVATE && (r = pvalidate_4k_or_terminate(va, 1)) != GHCB_OK) return r;
  }
  return GHCB_OK;
}

enum ghcb_result ghcb_msr_ap_reset_hold(void) {
  for (;;) {
    const uint64_t v = msr_call(GHCB_MSR_AP_RESET_HOLD_REQ);
    /* AP_RESET_HOLD_RESP: 63:12 = 0 spurious wake-up, non-zero woken by SIPI (1.8 [L]).
     * UNCONFIRMED: a response with another code is reported as a VMM error rather than
     * retried (the guest code read only loops on the result). */
    if (resp_code(v) != GHCB_MSR_AP_RESET_HOLD_RESP) return GHCB_VMM_ERROR;
    if ((v >> 12) != 0) return GHCB_OK;
  }
}
