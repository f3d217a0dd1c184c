/* ghcb/guest/vc.c: the #VC handler's dispatch. In an SEV-ES/SNP guest a non-automatic intercept
 * raises #VC (vector 29) with the SVM exit code as error code and RIP at the instruction
 * (PLATFORM-FACTS 2.3; cpu/svm/sev_es_exit.cc). One small function per exit code, each turning
 * the instruction into a GHCB request as Linux's vc_handle_exitcode does (facts only), then
 * advancing RIP past the instruction. */
#include "ghcb/guest/ghcb_guest.h"

#define MAX_INSN_LEN 15u

/* Terminates through the MSR protocol: works with or without a GHCB, and the VMM reads the
 * reason straight from the MSR value (PLATFORM-FACTS 1.7). */
static enum ghcb_result give_up(unsigned set, unsigned code) {
  ghcb_msr_terminate(set, code);
  return GHCB_TERMINATED;
}

/* A failed GHCB call: the hypervisor's #GP/#UD request becomes "unexpected vector" (there is
 * no handler for it), anything else a hypervisor error. */
static enum ghcb_result call_failed(struct ghcb_ctx* ctx, enum ghcb_result r) {
  if (r == GHCB_EXCEPTION) return give_up(GHCB_TERM_SET_VECTOR, ctx->fault_vector);
  if (r == GHCB_TERMINATED) return r;
  return give_up(GHCB_TERM_SET_VC, GHCB_TERM_VC_HV_ERROR);
}

static const uint8_t* insn_at(const struct ghcb_vc_frame* f) {
  return (const uint8_t*)(uintptr_t)f->rip;
}

/* Length of the expected instruction at RIP, or 0 after requesting termination. */
static unsigned expect(const struct ghcb_vc_frame* f, const uint8_t* opcode, unsigned n) {
  const unsigned len = ghcb_decode_match(insn_at(f), MAX_INSN_LEN, opcode, n);
  if (len == 0) ghcb_msr_terminate(GHCB_TERM_SET_VC, GHCB_TERM_VC_DECODE);
  return len;
}

static enum ghcb_result vc_cpuid(struct ghcb_ctx* ctx, struct ghcb_vc_frame* f) {
  static const uint8_t kCpuid[] = {0x0F, 0xA2};
  const unsigned len = expect(f, kCpuid, 2);
  if (len == 0) return GHCB_TERMINATED;
  const uint32_t fn = (uint32_t)f->rax, subfn = (uint32_t)f->rcx;
  uint32_t out[4];
  if (ghcb_ready(ctx)) {
    /* XCR0 = 1 (x87 only): these guests never set CR4.OSXSAVE; Linux passes 1 then too. */
    const enum ghcb_result r = ghcb_cpuid(ctx, fn, subfn, 1, out);
    if (r != GHCB_OK) return call_failed(ctx, r);
  } else {
    /* MSR protocol, one register per request; ECX cannot be conveyed (PLATFORM-FACTS 1.4). */
    for (unsigned reg = 0; reg < 4; ++reg)
      if (ghcb_msr_cpuid(fn, reg, &out[reg]) != GHCB_OK)
        return give_up(GHCB_TERM_SET_VC, GHCB_TERM_VC_HV_ERROR);
  }
  /* CPUID writes EAX..EDX zero-extended (APM vol 3 "CPUID"). */
  f->rax = out[0];
  f->rbx = out[1];
  f->rcx = out[2];
  f->rdx = out[3];
  f->rip += len;
  return GHCB_OK;
}

static enum ghcb_result vc_ioio(struct ghcb_ctx* ctx, struct ghcb_vc_frame* f) {
  struct ghcb_io_insn io;
  if (!ghcb_decode_io(insn_at(f), MAX_INSN_LEN, &io))
    return give_up(GHCB_TERM_SET_VC, GHCB_TERM_VC_DECODE);
  if (io.string) return give_up(GHCB_TERM_SET_VC, GHCB_TERM_VC_STRING_IO);
  if (!ghcb_ready(ctx)) return give_up(GHCB_TERM_SET_VC, GHCB_TERM_VC_NO_GHCB);
  const uint16_t port = io.port_imm ? io.port : (uint16_t)f->rdx;
  enum ghcb_result r;
  if (io.in) {
    uint32_t v = 0;
    r = ghcb_io_in(ctx, port, io.size, &v);
    if (r != GHCB_OK) return call_failed(ctx, r);
    /* IN AL/AX keeps the rest of RAX; IN EAX zero-extends into RAX (APM vol 3 1.4.1). */
    if (io.size == 4) {
      f->rax = v;
    } else {
      const uint64_t mask = io.size == 2 ? 0xFFFFull : 0xFFull;
      f->rax = (f->rax & ~mask) | (v & mask);
    }
  } else {
    const uint32_t mask = io.size == 4 ? 0xFFFFFFFFu : io.size == 2 ? 0xFFFFu : 0xFFu;
    r = ghcb_io_out(ctx, port, io.size, (uint32_t)f->rax & mask);
    if (r != GHCB_OK) return call_failed(ctx, r);
  }
  f->rip += io.length;
  return GHCB_OK;
}

static enum ghcb_result vc_msr(struct ghcb_ctx* ctx, struct ghcb_vc_frame* f) {
  static const uint8_t kRdmsr[] = {0x0F, 0x32}, kWrmsr[] = {0x0F, 0x30};
  const uint8_t* p = insn_at(f);
  unsigned len = ghcb_decode_match(p, MAX_INSN_LEN, kRdmsr, 2);
  const int write = len == 0;
  if (write) len = ghcb_decode_match(p, MAX_INSN_LEN, kWrmsr, 2);
  if (len == 0) return give_up(GHCB_TERM_SET_VC, GHCB_TERM_VC_DECODE);
  if (!ghcb_ready(ctx)) return give_up(GHCB_TERM_SET_VC, GHCB_TERM_VC_NO_GHCB);
  const uint32_t msr = (uint32_t)f->rcx;
  enum ghcb_result r;
  if (write) {
    r = ghcb_wrmsr_nae(ctx, msr, (f->rdx << 32) | (uint32_t)f->rax);
  } else {
    uint64_t v = 0;
    r = ghcb_rdmsr_nae(ctx, msr, &v);
    if (r == GHCB_OK) {
      f->rax = (uint32_t)v;
      f->rdx = v >> 32;
    }
  }
  if (r != GHCB_OK) return call_failed(ctx, r);
  f->rip += len;
  return GHCB_OK;
}

/* RDTSC (0F 31) and RDTSCP (0F 01 F9): EDX:EAX, plus ECX = TSC_AUX for RDTSCP; the response
 * must carry RAX and RDX (and RCX) valid (Linux vc_handle_rdtsc). */
static enum ghcb_result vc_rdtsc(struct ghcb_ctx* ctx, struct ghcb_vc_frame* f, int rdtscp) {
  static const uint8_t kRdtsc[] = {0x0F, 0x31}, kRdtscp[] = {0x0F, 0x01, 0xF9};
  const unsigned len = rdtscp ? expect(f, kRdtscp, 3) : expect(f, kRdtsc, 2);
  if (len == 0) return GHCB_TERMINATED;
  if (!ghcb_ready(ctx)) return give_up(GHCB_TERM_SET_VC, GHCB_TERM_VC_NO_GHCB);
  struct ghcb* g = ctx->ghcb;
  ghcb_invalidate(g);
  const enum ghcb_result r = ghcb_call(ctx, rdtscp ? GHCB_EXIT_RDTSCP : GHCB_EXIT_RDTSC, 0, 0);
  if (r != GHCB_OK) return call_failed(ctx, r);
  if (!(ghcb_rax_is_valid(g) && ghcb_rdx_is_valid(g) && (!rdtscp || ghcb_rcx_is_valid(g))))
    return give_up(GHCB_TERM_SET_VC, GHCB_TERM_VC_HV_ERROR);
  f->rax = (uint32_t)g->save.rax;
  f->rdx = (uint32_t)g->save.rdx;
  if (rdtscp) f->rcx = (uint32_t)g->save.rcx;
  f->rip += len;
  return GHCB_OK;
}

/* VMMCALL (0F 01 D9): RAX and CPL are required (PLATFORM-FACTS 2.4); KVM also takes RBX, RCX,
 * RDX, RSI as hypercall arguments (Linux kvm_sev_es_hcall_prepare); the result is RAX. */
static enum ghcb_result vc_vmmcall(struct ghcb_ctx* ctx, struct ghcb_vc_frame* f) {
  static const uint8_t kVmmcall[] = {0x0F, 0x01, 0xD9};
  const unsigned len = expect(f, kVmmcall, 3);
  if (len == 0) return GHCB_TERMINATED;
  if (!ghcb_ready(ctx)) return give_up(GHCB_TERM_SET_VC, GHCB_TERM_VC_NO_GHCB);
  struct ghcb* g = ctx->ghcb;
  ghcb_invalidate(g);
  ghcb_set_rax(g, f->rax);
  ghcb_set_cpl(g, 0);
  ghcb_set_rbx(g, f->rbx);
  ghcb_set_rcx(g, f->rcx);
  ghcb_set_rdx(g, f->rdx);
  ghcb_set_rsi(g, f->rsi);
  const enum ghcb_result r = ghcb_call(ctx, GHCB_EXIT_VMMCALL, 0, 0);
  if (r != GHCB_OK) return call_failed(ctx, r);
  if (!ghcb_rax_is_valid(g)) return give_up(GHCB_TERM_SET_VC, GHCB_TERM_VC_HV_ERROR);
  f->rax = g->save.rax;
  f->rip += len;
  return GHCB_OK;
}

enum ghcb_result ghcb_vc_handle(struct ghcb_ctx* ctx, struct ghcb_vc_frame* f) {
  ++ctx->vc_count;
  switch (f->error_code) {
    case GHCB_EXIT_CPUID: return vc_cpuid(ctx, f);
    case GHCB_EXIT_IOIO: return vc_ioio(ctx, f);
    case GHCB_EXIT_MSR: return vc_msr(ctx, f);
    case GHCB_EXIT_RDTSC: return vc_rdtsc(ctx, f, 0);
    case GHCB_EXIT_RDTSCP: return vc_rdtsc(ctx, f, 1);
    case GHCB_EXIT_VMMCALL: return vc_vmmcall(ctx, f);
    default:
      if (ctx->vc_hook != NULL && ctx->vc_hook(ctx, f)) return GHCB_OK;
      return give_up(GHCB_TERM_SET_VC, GHCB_TERM_VC_UNSUPPORTED);
  }
}
