/* ghcb/guest/call.c: the GHCB-page round trip and the NAE events built on it.
 * PLATFORM-FACTS 2.1-2.4 [L] asm/svm.h, arch/x86/coco/sev/ (sev_es_ghcb_hv_call,
 * verify_exception_info, __sev_cpuid_hv_ghcb, vc_handle_msr, vmgexit_ap_control). */
#include "ghcb/guest/ghcb_guest.h"

void ghcb_ctx_init(struct ghcb_ctx* ctx, struct ghcb* ghcb, uint64_t ghcb_gpa,
                   uint64_t va_offset) {
  ctx->ghcb = ghcb;
  ctx->ghcb_gpa = ghcb_gpa;
  ctx->va_offset = va_offset;
  ctx->version = 0;
  ctx->c_bit = 0;
  ctx->hv_features = 0;
  ctx->fault_vector = 0;
  ctx->fault_error_code = 0;
  ctx->vc_count = 0;
  ctx->vc_hook = NULL;
}

/* Event-injection format of EXITINFO2 when EXITINFO1 = 1 (PLATFORM-FACTS 2.2 [L]). */
#define EVTINJ_VEC_MASK 0xFFull
#define EVTINJ_TYPE_MASK (7ull << 8)
#define EVTINJ_TYPE_EXCEPTION (3ull << 8)
#define EVTINJ_VALID_ERR (1ull << 11)
#define EVTINJ_VALID (1ull << 31)
#define X86_TRAP_UD 6u
#define X86_TRAP_GP 13u

static enum ghcb_result verify_exception_info(struct ghcb_ctx* ctx) {
  const struct ghcb* g = ctx->ghcb;
  const uint32_t ret = (uint32_t)g->save.sw_exit_info_1;
  if (ret == 0) return GHCB_OK;
  if (ret == 1) {
    const uint64_t info = g->save.sw_exit_info_2;
    const unsigned v = (unsigned)(info & EVTINJ_VEC_MASK);
    /* Linux accepts only a valid #GP or #UD of type exception. */
    if ((info & EVTINJ_VALID) && (v == X86_TRAP_GP || v == X86_TRAP_UD) &&
        (info & EVTINJ_TYPE_MASK) == EVTINJ_TYPE_EXCEPTION) {
      ctx->fault_vector = (uint8_t)v;
      ctx->fault_error_code = (info & EVTINJ_VALID_ERR) ? (uint32_t)(info >> 32) : 0;
      return GHCB_EXCEPTION;
    }
  }
  return GHCB_VMM_ERROR;
}

enum ghcb_result ghcb_call(struct ghcb_ctx* ctx, uint64_t exit_code, uint64_t info1,
                           uint64_t info2) {
  struct ghcb* g = ctx->ghcb;
  if (g == NULL || ctx->ghcb_gpa == 0) return GHCB_BAD_ARGUMENT;
  g->protocol_version = ctx->version;
  g->ghcb_usage = 0; /* standard usage; KVM rejects any other (PLATFORM-FACTS 2.1) */
  ghcb_set_sw_exit_code(g, exit_code);
  ghcb_set_sw_exit_info_1(g, info1);
  ghcb_set_sw_exit_info_2(g, info2);
  ghcb_msr_write(ctx->ghcb_gpa);
  ghcb_vmgexit();
  return verify_exception_info(ctx);
}

enum ghcb_result ghcb_cpuid(struct ghcb_ctx* ctx, uint32_t fn, uint32_t subfn, uint64_t xcr0,
                            uint32_t out[4]) {
  struct ghcb* g = ctx->ghcb;
  if (g == NULL) return GHCB_BAD_ARGUMENT;
  ghcb_invalidate(g);
  ghcb_set_rax(g, fn);
  ghcb_set_rcx(g, subfn);
  ghcb_set_xcr0(g, xcr0);
  const enum ghcb_result r = ghcb_call(ctx, GHCB_EXIT_CPUID, 0, 0);
  if (r != GHCB_OK) return r;
  if (!(ghcb_rax_is_valid(g) && ghcb_rbx_is_valid(g) && ghcb_rcx_is_valid(g) &&
        ghcb_rdx_is_valid(g)))
    return GHCB_VMM_ERROR;
  out[0] = (uint32_t)g->save.rax;
  out[1] = (uint32_t)g->save.rbx;
  out[2] = (uint32_t)g->save.rcx;
  out[3] = (uint32_t)g->save.rdx;
  return GHCB_OK;
}

/* IOIO EXITINFO1 (APM vol 2 15.10.2; Linux vc_ioio_exitinfo): bit 0 IN, bit 2 string, bits 6:4
 * data size 32/16/8, bits 9:7 address size 64/32/16, bits 31:16 port. */
#define IOIO_TYPE_IN 1ull
#define IOIO_ADDR_64 (1ull << 9)

static int ioio_info(uint16_t port, unsigned size, uint64_t* info) {
  uint64_t data;
  switch (size) {
    case 1: data = 1ull << 4; break;
    case 2: data = 1ull << 5; break;
    case 4: data = 1ull << 6; break;
    default: return 0;
  }
  *info = ((uint64_t)port << 16) | data | IOIO_ADDR_64;
  return 1;
}

enum ghcb_result ghcb_io_out(struct ghcb_ctx* ctx, uint16_t port, unsigned size, uint32_t value) {
  uint64_t info;
  if (ctx->ghcb == NULL || !ioio_info(port, size, &info)) return GHCB_BAD_ARGUMENT;
  ghcb_invalidate(ctx->ghcb);
  ghcb_set_rax(ctx->ghcb, value); /* OUT requires RAX valid (PLATFORM-FACTS 2.4) */
  return ghcb_call(ctx, GHCB_EXIT_IOIO, info, 0);
}

enum ghcb_result ghcb_io_in(struct ghcb_ctx* ctx, uint16_t port, unsigned size, uint32_t* value) {
  uint64_t info;
  if (ctx->ghcb == NULL || !ioio_info(port, size, &info)) return GHCB_BAD_ARGUMENT;
  ghcb_invalidate(ctx->ghcb);
  const enum ghcb_result r = ghcb_call(ctx, GHCB_EXIT_IOIO, info | IOIO_TYPE_IN, 0);
  if (r != GHCB_OK) return r;
  if (!ghcb_rax_is_valid(ctx->ghcb)) return GHCB_VMM_ERROR;
  const uint64_t mask = size == 4 ? 0xFFFFFFFFull : ((1ull << (8 * size)) - 1);
  *value = (uint32_t)(ctx->ghcb->save.rax & mask);
  return GHCB_OK;
}

enum ghcb_result ghcb_rdmsr_nae(struct ghcb_ctx* ctx, uint32_t msr, uint64_t* value) {
  struct ghcb* g = ctx->ghcb;
  if (g == NULL) return GHCB_BAD_ARGUMENT;
  ghcb_invalidate(g);
  ghcb_set_rcx(g, msr);
  const enum ghcb_result r = ghcb_call(ctx, GHCB_EXIT_MSR, 0, 0);
  if (r != GHCB_OK) return r;
  if (!(ghcb_rax_is_valid(g) && ghcb_rdx_is_valid(g))) return GHCB_VMM_ERROR;
  *value = (g->save.rdx << 32) | (uint32_t)g->save.rax;
  return GHCB_OK;
}

enum ghcb_result ghcb_wrmsr_nae(struct ghcb_ctx* ctx, uint32_t msr, uint64_t value) {
  struct ghcb* g = ctx->ghcb;
  if (g == NULL) return GHCB_BAD_ARGUMENT;
  ghcb_invalidate(g);
  ghcb_set_rcx(g, msr);
  ghcb_set_rax(g, (uint32_t)value);
  ghcb_set_rdx(g, value >> 32);
  return ghcb_call(ctx, GHCB_EXIT_MSR, 1, 0);
}

enum ghcb_result ghcb_hv_features(struct ghcb_ctx* ctx, uint64_t* features) {
  if (ctx->ghcb == NULL) return GHCB_BAD_ARGUMENT;
  ghcb_invalidate(ctx->ghcb);
  const enum ghcb_result r = ghcb_call(ctx, GHCB_EXIT_HV_FEATURES, 0, 0);
  if (r != GHCB_OK) return r;
  *features = ctx->ghcb->save.sw_exit_info_2;
  ctx->hv_features = *features;
  return GHCB_OK;
}

enum ghcb_result ghcb_terminate(struct ghcb_ctx* ctx, unsigned reason_set, unsigned reason_code) {
  if (ctx->ghcb == NULL) return GHCB_BAD_ARGUMENT;
  ghcb_invalidate(ctx->ghcb);
  /* TERM_REQUEST: EXITINFO1[3:0] set, [11:4] code (PLATFORM-FACTS 1.7 [L uapi svm.h]). */
  (void)ghcb_call(ctx, GHCB_EXIT_TERM_REQUEST,
                  (uint64_t)(reason_set & 0xF) | ((uint64_t)(reason_code & 0xFF) << 4), 0);
  ghcb_halt();
  return GHCB_TERMINATED;
}

enum ghcb_result ghcb_ap_hlt_loop(struct ghcb_ctx* ctx) {
  if (ctx->ghcb == NULL) return GHCB_BAD_ARGUMENT;
  for (;;) {
    ghcb_invalidate(ctx->ghcb);
    (void)ghcb_call(ctx, GHCB_EXIT_AP_HLT_LOOP, 0, 0);
    /* Woken when EXITINFO2 is valid and non-zero (PLATFORM-FACTS 9.1 [L]). */
    if (ghcb_sw_exit_info_2_is_valid(ctx->ghcb) && ctx->ghcb->save.sw_exit_info_2 != 0)
      return GHCB_OK;
  }
}

enum ghcb_result ghcb_ap_jump_table_set(struct ghcb_ctx* ctx, uint64_t gpa) {
  if (ctx->ghcb == NULL || (gpa & 0xFFF) != 0) return GHCB_BAD_ARGUMENT;
  ghcb_invalidate(ctx->ghcb);
  return ghcb_call(ctx, GHCB_EXIT_AP_JUMP_TABLE, 0, gpa);
}

enum ghcb_result ghcb_ap_jump_table_get(struct ghcb_ctx* ctx, uint64_t* gpa) {
  struct ghcb* g = ctx->ghcb;
  if (g == NULL) return GHCB_BAD_ARGUMENT;
  ghcb_invalidate(g);
  const enum ghcb_result r = ghcb_call(ctx, GHCB_EXIT_AP_JUMP_TABLE, 1, 0);
  if (r != GHCB_OK) return r;
  /* Linux get_jump_table_addr: both exit-info fields must come back valid. */
  if (!(ghcb_sw_exit_info_1_is_valid(g) && ghcb_sw_exit_info_2_is_valid(g))) return GHCB_VMM_ERROR;
  *gpa = g->save.sw_exit_info_2;
  return GHCB_OK;
}

enum ghcb_result ghcb_ap_create(struct ghcb_ctx* ctx, unsigned request, uint32_t apic_id,
                                unsigned vmpl, uint64_t vmsa_gpa, uint64_t sev_features) {
  struct ghcb* g = ctx->ghcb;
  if (g == NULL || request > GHCB_AP_DESTROY || (vmsa_gpa & 0xFFF) != 0 || vmpl > 3)
    return GHCB_BAD_ARGUMENT;
  ghcb_invalidate(g);
  /* Linux always sets RAX = the VMSA's sev_features (KVM needs it unless DESTROY) and puts the
   * VMPL in bits 16+ (PLATFORM-FACTS 2.3, 9.2 [L]). Upstream KVM compares the whole low 32
   * bits with the request codes, so vmpl != 0 is refused there. */
  ghcb_set_rax(g, sev_features);
  const enum ghcb_result r =
      ghcb_call(ctx, GHCB_EXIT_AP_CREATION,
                ((uint64_t)apic_id << 32) | ((uint64_t)vmpl << 16) | request, vmsa_gpa);
  if (r != GHCB_OK) return r;
  if (!ghcb_sw_exit_info_1_is_valid(g) || (uint32_t)g->save.sw_exit_info_1 != 0)
    return GHCB_VMM_ERROR;
  return GHCB_OK;
}

int ghcb_snp_set_vmsa(uint64_t va, int make) {
  /* Target VMPL1 (attrs bits 7:0 = 1), plus the VMSA bit 16 to make a VMSA (PLATFORM-FACTS 4.6
   * [L] snp_set_vmsa). */
  return ghcb_rmpadjust(va, GHCB_PAGE_4K, 1ull | (make ? GHCB_RMPADJUST_VMSA_PAGE : 0));
}

int ghcb_snp_is_vmpl0(uint64_t va) { return ghcb_rmpadjust(va, GHCB_PAGE_4K, 1) == 0; }

enum ghcb_result ghcb_snp_start_ap(struct ghcb_ctx* ctx, uint32_t apic_id, uint64_t vmsa_gpa,
                                   uint64_t sev_features) {
  /* Linux wakeup_cpu_via_vmgexit (PLATFORM-FACTS 9.2): needs HV feature bit 1; the VMSA page
   * must not be 2 MiB aligned (erratum, KVM refuses it too); RMPADJUST makes it a VMSA, then
   * AP_CREATION CREATE; on failure the VMSA bit is cleared again. */
  if ((ctx->hv_features & GHCB_HV_FT_SNP_AP_CREATION) == 0) return GHCB_UNSUPPORTED;
  if ((vmsa_gpa & 0xFFF) != 0 || (vmsa_gpa & ((2ull << 20) - 1)) == 0) return GHCB_BAD_ARGUMENT;
  const uint64_t va = vmsa_gpa + ctx->va_offset;
  if (ghcb_snp_set_vmsa(va, 1) != 0) return GHCB_VMM_ERROR;
  const enum ghcb_result r = ghcb_ap_create(ctx, GHCB_AP_CREATE, apic_id, 0, vmsa_gpa,
                                            sev_features);
  if (r != GHCB_OK) (void)ghcb_snp_set_vmsa(va, 0);
  return r;
}
