/* ghcb/guest/psc.c: Page State Change through the GHCB page, and the PVALIDATE pass around it.
 * PLATFORM-FACTS 3.1, 3.4, 4.5 [L] arch/x86/coco/sev/ (vmgexit_psc, __set_pages_state,
 * pval_pages / pvalidate_pages, snp_accept_memory). */
#include "ghcb/guest/ghcb_guest.h"

#define PAGES_PER_2M 512u
#define SIZE_2M (2ull << 20)

/* Copies the header and entries [0, count) into the shared buffer and loops until the hypervisor
 * has processed them all, checking every answer as Linux's vmgexit_psc does. */
static enum ghcb_result submit(struct ghcb_ctx* ctx, struct ghcb_psc_hdr hdr,
                               const uint64_t* entries, unsigned count) {
  struct ghcb* g = ctx->ghcb;
  if (g == NULL || count == 0 || count > GHCB_PSC_MAX_ENTRIES) return GHCB_BAD_ARGUMENT;
  struct ghcb_psc_desc* data = (struct ghcb_psc_desc*)(void*)g->shared_buffer;
  data->hdr = hdr;
  for (unsigned i = 0; i < count; ++i) data->entries[i] = entries[i];
  const uint16_t end_entry = hdr.end_entry;
  uint16_t cur_entry = hdr.cur_entry;
  while (cur_entry <= end_entry) {
    ghcb_invalidate(g);
    /* The descriptor sits in the shared buffer at GHCB + 0x800; EXITINFO2 (the length) is 0, as
     * Linux passes it (PLATFORM-FACTS 2.5). */
    ghcb_set_sw_scratch(g, ctx->ghcb_gpa + offsetof(struct ghcb, shared_buffer));
    const enum ghcb_result r = ghcb_call(ctx, GHCB_EXIT_PSC, 0, 0);
    if (r != GHCB_OK || g->save.sw_exit_info_2 != 0) return GHCB_VMM_ERROR;
    /* Read the guest-visible, hypervisor-writable header once. */
    const struct ghcb_psc_hdr now = data->hdr;
    if (now.reserved != 0) return GHCB_VMM_ERROR;
    /* Linux compares with the values at entry; checking against the previous call is the same
     * rule applied at every step (cur_entry never moves backwards). */
    if (now.end_entry > end_entry || now.cur_entry < cur_entry) return GHCB_VMM_ERROR;
    cur_entry = now.cur_entry;
  }
  return GHCB_OK;
}

enum ghcb_result ghcb_psc_submit(struct ghcb_ctx* ctx, const struct ghcb_psc_desc* desc) {
  if (desc->hdr.end_entry >= GHCB_PSC_MAX_ENTRIES) return GHCB_BAD_ARGUMENT;
  return submit(ctx, desc->hdr, desc->entries, (unsigned)desc->hdr.end_entry + 1);
}

/* PVALIDATE entries [0, count) from the guest's own copy (never from the shared buffer). */
static enum ghcb_result pvalidate_entries(struct ghcb_ctx* ctx, const uint64_t* entries,
                                          unsigned count) {
  for (unsigned i = 0; i < count; ++i) {
    const uint64_t e = entries[i];
    const uint64_t gpa = ghcb_psc_entry_gfn(e) << 12;
    const unsigned size = ghcb_psc_entry_2m(e) ? GHCB_PAGE_2M : GHCB_PAGE_4K;
    const unsigned validate = ghcb_psc_entry_op(e) == GHCB_PSC_PRIVATE;
    int rc = ghcb_pvalidate(gpa + ctx->va_offset, size, validate);
    if (rc == GHCB_PVALIDATE_FAIL_SIZEMISMATCH && size == GHCB_PAGE_2M) {
      /* The RMP maps this 2 MiB with 4 KiB entries: retry as 512 x 4 KiB (PLATFORM-FACTS 3.4). */
      rc = 0;
      for (unsigned p = 0; p < PAGES_PER_2M && rc == 0; ++p)
        rc = ghcb_pvalidate(gpa + ctx->va_offset + (uint64_t)p * 4096, GHCB_PAGE_4K, validate);
    }
    if (rc != 0) {
      ghcb_msr_terminate(GHCB_TERM_SET_LINUX, GHCB_TERM_PVALIDATE);
      return GHCB_TERMINATED;
    }
  }
  return GHCB_OK;
}

enum ghcb_result ghcb_psc_pvalidate(struct ghcb_ctx* ctx, const struct ghcb_psc_desc* desc) {
  if (desc->hdr.end_entry >= GHCB_PSC_MAX_ENTRIES) return GHCB_BAD_ARGUMENT;
  return pvalidate_entries(ctx, desc->entries, (unsigned)desc->hdr.end_entry + 1);
}

enum ghcb_result ghcb_set_pages_state(struct ghcb_ctx* ctx, uint64_t gpa, uint64_t npages,
                                      unsigned op) {
  if (op != GHCB_PSC_PRIVATE && op != GHCB_PSC_SHARED) return GHCB_BAD_ARGUMENT;
  if (ctx->ghcb == NULL || (gpa & 0xFFF) != 0) return GHCB_BAD_ARGUMENT;
  const uint64_t end = gpa + npages * 4096;
  uint64_t entries[GHCB_PSC_BATCH];
  while (gpa < end) {
    unsigned n = 0;
    for (; gpa < end && n < GHCB_PSC_BATCH; ++n) {
      /* A 2 MiB entry only for a 2 MiB-aligned whole 2 MiB (Linux: aligned direct-map VA; here
       * the GPA and its VA must both be aligned, PVALIDATE 2M needs the VA aligned). */
      const int large = (gpa & (SIZE_2M - 1)) == 0 && ((gpa + ctx->va_offset) & (SIZE_2M - 1)) == 0 &&
                        end - gpa >= SIZE_2M;
      entries[n] = ghcb_psc_entry(gpa >> 12, op, large ? 1u : 0u);
      gpa += large ? SIZE_2M : 4096;
    }
    enum ghcb_result r;
    /* Rescind before "shared", validate after "private" (PLATFORM-FACTS 3.4 [L]). */
    if (op == GHCB_PSC_SHARED && (r = pvalidate_entries(ctx, entries, n)) != GHCB_OK) return r;
    const struct ghcb_psc_hdr hdr = {0, (uint16_t)(n - 1), 0};
    if (submit(ctx, hdr, entries, n) != GHCB_OK) {
      ghcb_msr_terminate(GHCB_TERM_SET_LINUX, GHCB_TERM_PSC);
      return GHCB_TERMINATED;
    }
    if (op == GHCB_PSC_PRIVATE && (r = pvalidate_entries(ctx, entries, n)) != GHCB_OK) return r;
  }
  return GHCB_OK;
}

enum ghcb_result ghcb_accept_memory(struct ghcb_ctx* ctx, uint64_t start, uint64_t end) {
  if ((start & 0xFFF) != 0 || (end & 0xFFF) != 0 || end < start) return GHCB_BAD_ARGUMENT;
  return ghcb_set_pages_state(ctx, start, (end - start) >> 12, GHCB_PSC_PRIVATE);
}
