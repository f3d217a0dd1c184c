/* ghcb/guest/ghcb_guest.h: the freestanding C11 library SEV-ES / SEV-SNP test guests link.
 *
 * It does what Linux's guest code does (arch/x86/coco/sev/, arch/x86/boot/startup/sev-shared.c,
 * asm/sev.h, asm/sev-common.h; facts only, no code), with every hardware fact cited to
 * ../../shared/spec/PLATFORM-FACTS.md. No libc, no globals: all state lives in a caller-owned
 * `struct ghcb_ctx` passed explicitly (one per vCPU).
 *
 * Two builds of the same sources:
 *   - freestanding (guest flags of test/guests/guest.bzl; ghcb/guest/ghcb_guest.bzl links it into
 *     a guest ELF): the primitives are inline assembly (RDMSR, WRMSR, VMGEXIT, PVALIDATE,
 *     RMPADJUST, HLT);
 *   - native, with -DGHCB_GUEST_NATIVE (cc_library //ghcb/guest:ghcb_guest_native): each
 *     primitive calls a ghcb_native_* hook that a test provides (a fake hypervisor), so the
 *     library's protocol logic runs inside a unit test. The hooks are the only difference.
 *
 * Freestanding needs: only <stddef.h>/<stdint.h>; the compiled archive references no symbol
 * outside itself (no memcpy/memset). Build with -fno-strict-aliasing (the PSC descriptor lives
 * in the GHCB's byte-array shared buffer), as ghcb_guest.bzl does.
 *
 * Termination: on hardware a termination request never returns (the guest HLTs forever). In the
 * native build the halt hook returns, and every function that requested termination then returns
 * GHCB_TERMINATED so a test can observe it.
 *
 * Table of contents (one section per defining file):
 *   primitives.c    RDMSR/WRMSR, GHCB MSR and SEV_STATUS access, VMGEXIT, PVALIDATE, RMPADJUST,
 *                   halt; the native hook declarations
 *   msr_protocol.c  GHCB MSR protocol: termination, SEV_INFO negotiation, CPUID, HV features,
 *                   GHCB GPA registration, PSC per 4 KiB page, AP reset hold
 *   call.c          GHCB page: context set-up, the generic ghcb_call round trip and the NAE
 *                   events (CPUID, IOIO, MSR, HV_FEATURES, TERM_REQUEST, AP_HLT_LOOP,
 *                   AP_JUMP_TABLE, AP_CREATION), the VMSA RMPADJUST helpers and
 *                   ghcb_snp_start_ap (make a VMSA, create the AP)
 *   psc.c           Page State Change through the GHCB: descriptor, submit loop, PVALIDATE with
 *                   the 2 MiB size-mismatch fallback, whole-range conversion
 *   console.c       console over GHCB IOIO to the debug port 0xE9, exit via port 0xF4
 *   vc_decode.c     the instruction decoding the #VC handler needs (IN/OUT forms, lengths)
 *   vc.c            the #VC handler: dispatch on the exit code to the GHCB (or MSR protocol)
 *   idt.c           (freestanding only) IDT with the #VC stub and terminating stubs, LIDT
 *   setup.c         GHCB set-up: C-bit clearing in the boot identity map (PDE split), SNP
 *                   page-state change, registration; console through plain OUT (#VC path);
 *                   termination
 *   aes_gcm.c       AES-256 (forward cipher) and AES-256-GCM seal/open, integer-only
 *   attest.c        SNP guest messages (SNP_GUEST_REQUEST NAE): the channel under a VMPCK with
 *                   its sequence numbers, and the attestation report request
 *   (this header)   the GHCB layout, valid bitmap and set-field-and-valid-bit helpers
 */
#ifndef SNPEMU_GHCB_GUEST_GHCB_GUEST_H_
#define SNPEMU_GHCB_GUEST_GHCB_GUEST_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#define GHCB_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define GHCB_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

/* ============================================================================= constants */

#define GHCB_MSR_GHCB 0xC0010130u       /* PLATFORM-FACTS 0 [L] msr-index.h */
#define GHCB_MSR_SEV_STATUS 0xC0010131u /* PLATFORM-FACTS 0 [L] */
#define GHCB_SEV_STATUS_SEV (1ull << 0)
#define GHCB_SEV_STATUS_ES (1ull << 1)
#define GHCB_SEV_STATUS_SNP (1ull << 2)

/* Guest-supported GHCB protocol range (PLATFORM-FACTS 1.3 [L] GHCB_PROTOCOL_MIN/MAX). */
#define GHCB_PROTOCOL_MIN 1u
#define GHCB_PROTOCOL_MAX 2u

/* MSR protocol GHCBInfo codes (PLATFORM-FACTS 1.2 [L] sev-common.h). */
#define GHCB_MSR_INFO_MASK 0xFFFull
#define GHCB_MSR_SEV_INFO_RESP 0x001u
#define GHCB_MSR_SEV_INFO_REQ 0x002u
#define GHCB_MSR_CPUID_REQ 0x004u
#define GHCB_MSR_CPUID_RESP 0x005u
#define GHCB_MSR_AP_RESET_HOLD_REQ 0x006u
#define GHCB_MSR_AP_RESET_HOLD_RESP 0x007u
#define GHCB_MSR_PREF_GPA_REQ 0x010u
#define GHCB_MSR_PREF_GPA_RESP 0x011u
#define GHCB_MSR_REG_GPA_REQ 0x012u
#define GHCB_MSR_REG_GPA_RESP 0x013u
#define GHCB_MSR_PSC_REQ 0x014u
#define GHCB_MSR_PSC_RESP 0x015u
#define GHCB_MSR_HV_FT_REQ 0x080u
#define GHCB_MSR_HV_FT_RESP 0x081u
#define GHCB_MSR_TERM_REQ 0x100u

/* HV feature bits (PLATFORM-FACTS 1.5 [L]). */
#define GHCB_HV_FT_SNP (1ull << 0)
#define GHCB_HV_FT_SNP_AP_CREATION (1ull << 1)

/* Termination reason sets and codes (PLATFORM-FACTS 1.7 [L]). */
#define GHCB_TERM_SET_GEN 0u
#define GHCB_TERM_GEN_REQ 0u
#define GHCB_TERM_PROT_UNSUPPORTED 1u
#define GHCB_TERM_SNP_UNSUPPORTED 2u
#define GHCB_TERM_SET_LINUX 1u
#define GHCB_TERM_REGISTER 0u
#define GHCB_TERM_PSC 1u
#define GHCB_TERM_PVALIDATE 2u

/* NAE exit codes used here (PLATFORM-FACTS 2.3 [L] uapi svm.h). */
#define GHCB_EXIT_CPUID 0x072ull
#define GHCB_EXIT_IOIO 0x07Bull
#define GHCB_EXIT_MSR 0x07Cull
#define GHCB_EXIT_AP_HLT_LOOP 0x80000004ull
#define GHCB_EXIT_AP_JUMP_TABLE 0x80000005ull
#define GHCB_EXIT_PSC 0x80000010ull
#define GHCB_EXIT_AP_CREATION 0x80000013ull
#define GHCB_EXIT_HV_FEATURES 0x8000FFFDull
#define GHCB_EXIT_TERM_REQUEST 0x8000FFFEull

/* AP_CREATION requests in EXITINFO1[31:0] (PLATFORM-FACTS 9.2 [L]). */
#define GHCB_AP_CREATE_ON_INIT 0u
#define GHCB_AP_CREATE 1u
#define GHCB_AP_DESTROY 2u

/* PSC operations and page sizes (PLATFORM-FACTS 1.2, 3.1 [L]). */
#define GHCB_PSC_PRIVATE 1u
#define GHCB_PSC_SHARED 2u
#define GHCB_PSC_MAX_ENTRIES 253u /* VMGEXIT_PSC_MAX_COUNT: fills the shared buffer */
#define GHCB_PSC_BATCH 64u        /* Linux VMGEXIT_PSC_MAX_ENTRY, entries per call */

/* PVALIDATE / RMPADJUST (PLATFORM-FACTS 4.5, 4.6 [L] asm/sev.h). */
#define GHCB_PAGE_4K 0u
#define GHCB_PAGE_2M 1u
#define GHCB_PVALIDATE_FAIL_INPUT 1
#define GHCB_PVALIDATE_FAIL_SIZEMISMATCH 6
#define GHCB_PVALIDATE_FAIL_NOUPDATE 255 /* software code for CF=1, as Linux maps it */
#define GHCB_RMPADJUST_VMSA_PAGE (1ull << 16)

/* Console ports (test/guests/lib/guest.h): debug console and isa-debug-exit. */
#define GHCB_CONSOLE_PORT 0xE9u
#define GHCB_EXIT_PORT 0xF4u

/* ============================================================================ GHCB layout */
/* PLATFORM-FACTS 2.1 [L] asm/svm.h struct ghcb_save_area / struct ghcb; names verbatim. */

struct ghcb_save_area {
  uint8_t reserved_0x0[203];
  uint8_t cpl;
  uint8_t reserved_0xcc[116];
  uint64_t xss;
  uint8_t reserved_0x148[24];
  uint64_t dr7;
  uint8_t reserved_0x168[16];
  uint64_t rip;
  uint8_t reserved_0x180[88];
  uint64_t rsp;
  uint8_t reserved_0x1e0[24];
  uint64_t rax;
  uint8_t reserved_0x200[264];
  uint64_t rcx, rdx, rbx;
  uint8_t reserved_0x320[8];
  uint64_t rbp, rsi, rdi;
  uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
  uint8_t reserved_0x380[16];
  uint64_t sw_exit_code, sw_exit_info_1, sw_exit_info_2, sw_scratch;
  uint8_t reserved_0x3b0[56];
  uint64_t xcr0;
  uint8_t valid_bitmap[16];
  uint64_t x87_state_gpa; /* v2 field, no bitmap bit */
};

struct ghcb {
  struct ghcb_save_area save;
  uint8_t reserved_0x408[0x800 - 0x408];
  uint8_t shared_buffer[0x7F0];
  uint8_t reserved_0xff0[10];
  uint16_t protocol_version;
  uint32_t ghcb_usage;
};

#define GHCB_OFFSET(f, off) \
  GHCB_STATIC_ASSERT(offsetof(struct ghcb_save_area, f) == (off), #f " (PLATFORM-FACTS 2.1)")
GHCB_OFFSET(cpl, 0x0CB);
GHCB_OFFSET(xss, 0x140);
GHCB_OFFSET(dr7, 0x160);
GHCB_OFFSET(rip, 0x178);
GHCB_OFFSET(rsp, 0x1D8);
GHCB_OFFSET(rax, 0x1F8);
GHCB_OFFSET(rcx, 0x308);
GHCB_OFFSET(rdx, 0x310);
GHCB_OFFSET(rbx, 0x318);
GHCB_OFFSET(rbp, 0x328);
GHCB_OFFSET(rsi, 0x330);
GHCB_OFFSET(rdi, 0x338);
GHCB_OFFSET(r8, 0x340);
GHCB_OFFSET(r15, 0x378);
GHCB_OFFSET(sw_exit_code, 0x390);
GHCB_OFFSET(sw_exit_info_1, 0x398);
GHCB_OFFSET(sw_exit_info_2, 0x3A0);
GHCB_OFFSET(sw_scratch, 0x3A8);
GHCB_OFFSET(xcr0, 0x3E8);
GHCB_OFFSET(valid_bitmap, 0x3F0);
GHCB_OFFSET(x87_state_gpa, 0x400);
#undef GHCB_OFFSET
GHCB_STATIC_ASSERT(sizeof(struct ghcb_save_area) == 0x408, "save area size");
GHCB_STATIC_ASSERT(offsetof(struct ghcb, shared_buffer) == 0x800, "shared buffer at 0x800");
GHCB_STATIC_ASSERT(offsetof(struct ghcb, protocol_version) == 0xFFA, "protocol_version");
GHCB_STATIC_ASSERT(offsetof(struct ghcb, ghcb_usage) == 0xFFC, "ghcb_usage");
GHCB_STATIC_ASSERT(sizeof(struct ghcb) == 4096, "GHCB is one page");

/* Valid bitmap: bit i (= save-area offset / 8) at byte i / 8, bit i % 8 [L]. */
static inline void ghcb_mark_valid(struct ghcb* g, unsigned bit) {
  g->save.valid_bitmap[bit / 8] = (uint8_t)(g->save.valid_bitmap[bit / 8] | (1u << (bit % 8)));
}
static inline int ghcb_test_valid(const struct ghcb* g, unsigned bit) {
  return (g->save.valid_bitmap[bit / 8] >> (bit % 8)) & 1;
}
/* Clears sw_exit_code and the whole valid bitmap before building a request (Linux
 * vc_ghcb_invalidate). */
static inline void ghcb_invalidate(struct ghcb* g) {
  g->save.sw_exit_code = 0;
  for (unsigned i = 0; i < sizeof g->save.valid_bitmap; ++i) g->save.valid_bitmap[i] = 0;
}

/* ghcb_set_<field>(g, v) stores the field and sets its valid bit; ghcb_<field>_is_valid(g)
 * tests the bit (Linux DEFINE_GHCB_ACCESSORS). The bit index is the field offset / 8. */
#define GHCB_FIELD_ACCESSORS(field, type)                                                   \
  static inline void ghcb_set_##field(struct ghcb* g, type v) {                            \
    g->save.field = v;                                                                      \
    ghcb_mark_valid(g, (unsigned)(offsetof(struct ghcb_save_area, field) / 8));             \
  }                                                                                         \
  static inline int ghcb_##field##_is_valid(const struct ghcb* g) {                        \
    return ghcb_test_valid(g, (unsigned)(offsetof(struct ghcb_save_area, field) / 8));     \
  }
GHCB_FIELD_ACCESSORS(cpl, uint8_t)
GHCB_FIELD_ACCESSORS(xss, uint64_t)
GHCB_FIELD_ACCESSORS(dr7, uint64_t)
GHCB_FIELD_ACCESSORS(rax, uint64_t)
GHCB_FIELD_ACCESSORS(rbx, uint64_t)
GHCB_FIELD_ACCESSORS(rcx, uint64_t)
GHCB_FIELD_ACCESSORS(rdx, uint64_t)
GHCB_FIELD_ACCESSORS(rsi, uint64_t)
GHCB_FIELD_ACCESSORS(rdi, uint64_t)
GHCB_FIELD_ACCESSORS(sw_exit_code, uint64_t)
GHCB_FIELD_ACCESSORS(sw_exit_info_1, uint64_t)
GHCB_FIELD_ACCESSORS(sw_exit_info_2, uint64_t)
GHCB_FIELD_ACCESSORS(sw_scratch, uint64_t)
GHCB_FIELD_ACCESSORS(xcr0, uint64_t)
#undef GHCB_FIELD_ACCESSORS

/* ==================================================================== PSC descriptor */
/* PLATFORM-FACTS 3.1 [L] sev-common.h struct psc_hdr / psc_entry / snp_psc_desc. */

struct ghcb_psc_hdr {
  uint16_t cur_entry;
  uint16_t end_entry; /* inclusive */
  uint32_t reserved;
};
struct ghcb_psc_desc {
  struct ghcb_psc_hdr hdr;
  uint64_t entries[GHCB_PSC_MAX_ENTRIES];
};
GHCB_STATIC_ASSERT(sizeof(struct ghcb_psc_desc) == 2032, "PSC descriptor fills shared buffer");

/* Entry bits: cur_page 11:0, gfn 51:12, operation 55:52, pagesize 56, reserved 63:57. */
static inline uint64_t ghcb_psc_entry(uint64_t gfn, unsigned op, unsigned pagesize) {
  return ((gfn & ((1ull << 40) - 1)) << 12) | ((uint64_t)(op & 0xF) << 52) |
         ((uint64_t)(pagesize & 1) << 56);
}
static inline uint64_t ghcb_psc_entry_gfn(uint64_t e) { return (e >> 12) & ((1ull << 40) - 1); }
static inline unsigned ghcb_psc_entry_op(uint64_t e) { return (unsigned)(e >> 52) & 0xF; }
static inline unsigned ghcb_psc_entry_2m(uint64_t e) { return (unsigned)(e >> 56) & 1; }
static inline unsigned ghcb_psc_entry_cur_page(uint64_t e) { return (unsigned)e & 0xFFF; }

/* ===================================================================== context, results */

struct ghcb_vc_frame;

/* Outcome of a library call (Linux's enum es_result plus the termination case). */
enum ghcb_result {
  GHCB_OK = 0,
  GHCB_VMM_ERROR = 1,    /* bad response code, EXITINFO1 not 0, or missing output register */
  GHCB_EXCEPTION = 2,    /* hypervisor asked for #GP/#UD (EXITINFO1 = 1); see ctx->fault_* */
  GHCB_TERMINATED = 3,   /* termination was requested (returns only in the native build) */
  GHCB_BAD_ARGUMENT = 4, /* caller error (operation, size, alignment, missing context) */
  GHCB_UNSUPPORTED = 5,  /* needs a newer negotiated protocol version */
};

/* Per-vCPU state. Fill with ghcb_ctx_init; ghcb_msr_negotiate sets version and c_bit. */
struct ghcb_ctx {
  struct ghcb* ghcb;      /* GHCB page as the guest addresses it (may be NULL before set-up) */
  uint64_t ghcb_gpa;      /* its GPA, written to the GHCB MSR for every GHCB call */
  uint64_t va_offset;     /* VA of a GPA = gpa + va_offset (Linux __va); 0 when identity mapped */
  uint16_t version;       /* negotiated GHCB protocol version (0 = not negotiated) */
  uint8_t c_bit;          /* C-bit position from SEV_INFO */
  uint64_t hv_features;   /* HV feature bitmap once read */
  uint8_t fault_vector;   /* exception requested by the hypervisor (GHCB_EXCEPTION) */
  uint32_t fault_error_code;
  /* #VC handler (vc.c): events handled, and an optional payload hook for the error codes the
   * library does not handle; it returns 1 when it handled the event (frame updated). */
  uint64_t vc_count;
  int (*vc_hook)(struct ghcb_ctx* ctx, struct ghcb_vc_frame* frame);
};

/* ======================================================================== primitives.c */

/* RDMSR / WRMSR of any MSR (CPL0). */
uint64_t ghcb_rdmsr(uint32_t msr);
void ghcb_wrmsr(uint32_t msr, uint64_t value);
/* The GHCB MSR 0xC0010130 and SEV_STATUS 0xC0010131 (read-only). */
uint64_t ghcb_msr_read(void);
void ghcb_msr_write(uint64_t value);
uint64_t ghcb_sev_status(void);
/* VMGEXIT: `rep; vmmcall` (F3 0F 01 D9), a full compiler memory barrier. */
void ghcb_vmgexit(void);
/* PVALIDATE (F2 0F 01 FF): RAX = va, ECX = page size (GHCB_PAGE_4K/2M), EDX = 1 validate /
 * 0 rescind. Returns EAX, or GHCB_PVALIDATE_FAIL_NOUPDATE (255) when CF = 1. */
int ghcb_pvalidate(uint64_t va, unsigned page_size, unsigned validate);
/* The same instruction with both outputs as the hardware gives them: EAX returned, CF in *cf. */
int ghcb_pvalidate_raw(uint64_t va, unsigned page_size, unsigned validate, int* cf);
/* RMPADJUST (F3 0F 01 FE): RAX = va, RCX = page size, RDX = attributes (target VMPL 7:0,
 * permissions 11:8, VMSA bit 16). Returns EAX. */
int ghcb_rmpadjust(uint64_t va, unsigned page_size, uint64_t attrs);
/* HLT forever after a termination request. Returns only in the native build. */
void ghcb_halt(void);

#ifdef GHCB_GUEST_NATIVE
/* Hooks the native build calls instead of the instructions; a test defines them. */
uint64_t ghcb_native_rdmsr(uint32_t msr);
void ghcb_native_wrmsr(uint32_t msr, uint64_t value);
void ghcb_native_vmgexit(void);
/* Returns EAX; sets *cf to the carry flag. */
int ghcb_native_pvalidate(uint64_t va, unsigned page_size, unsigned validate, int* cf);
int ghcb_native_rmpadjust(uint64_t va, unsigned page_size, uint64_t attrs);
void ghcb_native_halt(void);
#endif

/* ====================================================================== msr_protocol.c */

/* TERM_REQ (0x100): set in 15:12, code in 23:16, then halt (PLATFORM-FACTS 1.7). Native build:
 * returns after the hook. */
void ghcb_msr_terminate(unsigned reason_set, unsigned reason_code);
/* SEV_INFO negotiation (PLATFORM-FACTS 1.3): response code must be 0x001, HV max >= 1 and HV
 * min <= 2, else terminate (set 0, code 1, GHCB_TERM_PROT_UNSUPPORTED). On success
 * ctx->version = min(HV max, 2) and ctx->c_bit are set. */
enum ghcb_result ghcb_msr_negotiate(struct ghcb_ctx* ctx);
/* CPUID_REQ for one register (0 EAX .. 3 EDX) of leaf `fn` (ECX is always 0 in this form).
 * GHCB_VMM_ERROR if the response code is not 0x005. No termination: the caller decides. */
enum ghcb_result ghcb_msr_cpuid(uint32_t fn, unsigned reg, uint32_t* value);
/* HV_FT_REQ: needs version >= 2 (else GHCB_UNSUPPORTED, *features = 0); response code must be
 * 0x081. Stores the bitmap in ctx->hv_features too. */
enum ghcb_result ghcb_msr_hv_features(struct ghcb_ctx* ctx, uint64_t* features);
/* Linux's early SEV set-up: negotiate; if `snp`, read HV features and terminate (set 0, code 2)
 * unless bit 0 (SNP) is present. */
enum ghcb_result ghcb_msr_sev_setup(struct ghcb_ctx* ctx, int snp);
/* PREF_GPA_REQ: the hypervisor's preferred GHCB GFN (0xFFFFFFFFFFFFF = none). */
enum ghcb_result ghcb_msr_pref_gpa(uint64_t* gfn);
/* REG_GPA_REQ with gpa >> 12; the response must be 0x013 echoing that GFN, else terminate (set
 * 1, code 0). On success ctx->ghcb_gpa = gpa. (PLATFORM-FACTS 1.6) */
enum ghcb_result ghcb_msr_register_ghcb(struct ghcb_ctx* ctx, uint64_t gpa);
/* PSC over the MSR protocol, one 4 KiB page at a time from `gpa` (PLATFORM-FACTS 1.10):
 * shared: PVALIDATE rescind first; private: PVALIDATE after. Response must be 0x015 with 0 in
 * 63:32, else terminate (set 1, code 1); a PVALIDATE failure terminates (set 1, code 2). The
 * GHCB MSR value is saved and restored around each request, as current Linux does. */
enum ghcb_result ghcb_msr_psc(struct ghcb_ctx* ctx, uint64_t gpa, uint64_t npages, unsigned op);
/* AP_RESET_HOLD_REQ, repeated until the response (0x007) carries a non-zero result. */
enum ghcb_result ghcb_msr_ap_reset_hold(void);

/* ============================================================================== call.c */

/* Sets ctx->ghcb / ghcb_gpa / va_offset and clears the rest. */
void ghcb_ctx_init(struct ghcb_ctx* ctx, struct ghcb* ghcb, uint64_t ghcb_gpa, uint64_t va_offset);
/* The round trip (Linux sev_es_ghcb_hv_call): protocol_version = ctx->version, ghcb_usage = 0,
 * sw_exit_code / info_1 / info_2 set with their valid bits, GHCB MSR = ctx->ghcb_gpa, VMGEXIT,
 * then the response convention (PLATFORM-FACTS 2.2): EXITINFO1[31:0] 0 -> GHCB_OK; 1 with a valid
 * #GP or #UD exception in EXITINFO2 -> GHCB_EXCEPTION (ctx->fault_*); anything else ->
 * GHCB_VMM_ERROR. Register inputs must be set (after ghcb_invalidate) before the call.
 * GHCB_BAD_ARGUMENT without a GHCB or with ghcb_gpa 0 (KVM ignores a GHCB at GPA 0). */
enum ghcb_result ghcb_call(struct ghcb_ctx* ctx, uint64_t exit_code, uint64_t info1,
                           uint64_t info2);
/* CPUID NAE: RAX = fn, RCX = subfn, XCR0 always set (Linux passes 1 without OSXSAVE); the
 * response must have RAX, RBX, RCX, RDX valid. out[0..3] = EAX, EBX, ECX, EDX. */
enum ghcb_result ghcb_cpuid(struct ghcb_ctx* ctx, uint32_t fn, uint32_t subfn, uint64_t xcr0,
                            uint32_t out[4]);
/* IOIO NAE, non-string: EXITINFO1 = port << 16 | size bit (1, 2, 4 bytes) | 64-bit address size,
 * bit 0 = IN. OUT sets RAX; IN requires RAX valid in the response. */
enum ghcb_result ghcb_io_out(struct ghcb_ctx* ctx, uint16_t port, unsigned size, uint32_t value);
enum ghcb_result ghcb_io_in(struct ghcb_ctx* ctx, uint16_t port, unsigned size, uint32_t* value);
/* MSR NAE: RCX = msr; read (EXITINFO1 0) needs RAX and RDX valid back; write (EXITINFO1 1)
 * sends RAX = low, RDX = high. */
enum ghcb_result ghcb_rdmsr_nae(struct ghcb_ctx* ctx, uint32_t msr, uint64_t* value);
enum ghcb_result ghcb_wrmsr_nae(struct ghcb_ctx* ctx, uint32_t msr, uint64_t value);
/* HV_FEATURES NAE: bitmap in EXITINFO2 (also stored in ctx->hv_features). */
enum ghcb_result ghcb_hv_features(struct ghcb_ctx* ctx, uint64_t* features);
/* TERM_REQUEST NAE: EXITINFO1 = set [3:0] | code [11:4], then halt. */
enum ghcb_result ghcb_terminate(struct ghcb_ctx* ctx, unsigned reason_set, unsigned reason_code);
/* AP_HLT_LOOP NAE repeated until EXITINFO2 is valid and non-zero (Linux sev_es_ap_hlt_loop). */
enum ghcb_result ghcb_ap_hlt_loop(struct ghcb_ctx* ctx);
/* AP_JUMP_TABLE NAE (PLATFORM-FACTS 9.1): set (EXITINFO1 0, EXITINFO2 = page-aligned GPA) and
 * get (EXITINFO1 1; needs EXITINFO1 and EXITINFO2 valid back, result in EXITINFO2). */
enum ghcb_result ghcb_ap_jump_table_set(struct ghcb_ctx* ctx, uint64_t gpa);
enum ghcb_result ghcb_ap_jump_table_get(struct ghcb_ctx* ctx, uint64_t* gpa);
/* AP_CREATION NAE (PLATFORM-FACTS 9.2): RAX = sev_features, EXITINFO1 = apic_id << 32 |
 * vmpl << 16 | request, EXITINFO2 = vmsa_gpa. Success needs EXITINFO1 valid with 0 in 31:0.
 * Rejects (GHCB_BAD_ARGUMENT) an unknown request or a VMSA GPA that is not page aligned. */
enum ghcb_result ghcb_ap_create(struct ghcb_ctx* ctx, unsigned request, uint32_t apic_id,
                                unsigned vmpl, uint64_t vmsa_gpa, uint64_t sev_features);
/* RMPADJUST of a 4 KiB page to target VMPL1 with (make = 1) or without the VMSA bit, as Linux
 * snp_set_vmsa does. Returns the RMPADJUST code. */
int ghcb_snp_set_vmsa(uint64_t va, int make);
/* Starts an AP from a VMSA the caller filled at vmsa_gpa (private, validated, VMPL0 guest):
 * GHCB_UNSUPPORTED without HV feature bit 1 (read by ghcb_msr_sev_setup / ghcb_hv_features);
 * GHCB_BAD_ARGUMENT for a VMSA GPA not page aligned or 2 MiB aligned (erratum); GHCB_VMM_ERROR
 * if RMPADJUST fails. Otherwise makes the page a VMSA and sends AP_CREATION CREATE with VMPL 0;
 * if the hypervisor refuses, the VMSA bit is cleared again (Linux wakeup_cpu_via_vmgexit). */
enum ghcb_result ghcb_snp_start_ap(struct ghcb_ctx* ctx, uint32_t apic_id, uint64_t vmsa_gpa,
                                   uint64_t sev_features);
/* 1 when running at VMPL0: RMPADJUST of `va` for VMPL1 succeeds (Linux's check). */
int ghcb_snp_is_vmpl0(uint64_t va);

/* =============================================================================== psc.c */

/* Copies `desc` into the shared buffer and loops VMGEXIT(PSC, scratch = its GPA) while
 * cur_entry <= end_entry (PLATFORM-FACTS 3.4). After each call: ghcb_call OK, EXITINFO2 == 0,
 * hdr.reserved == 0, end_entry not grown, cur_entry not below its start, else GHCB_VMM_ERROR (the
 * caller terminates). */
enum ghcb_result ghcb_psc_submit(struct ghcb_ctx* ctx, const struct ghcb_psc_desc* desc);
/* PVALIDATE every entry 0..end_entry of `desc` (validate = operation is private); a 2 MiB entry
 * that fails with FAIL_SIZEMISMATCH is retried as 512 x 4 KiB. Any other failure terminates
 * (set 1, code 2). */
enum ghcb_result ghcb_psc_pvalidate(struct ghcb_ctx* ctx, const struct ghcb_psc_desc* desc);
/* Converts [gpa, gpa + npages * 4 KiB) through the GHCB in batches of at most 64 entries, using
 * a 2 MiB entry wherever a 2 MiB-aligned whole 2 MiB lies in the range (Linux
 * __set_pages_state): rescind before "shared", validate after "private"; a PSC failure
 * terminates (set 1, code 1). */
enum ghcb_result ghcb_set_pages_state(struct ghcb_ctx* ctx, uint64_t gpa, uint64_t npages,
                                      unsigned op);
/* Accepts (makes private and validates) [start, end), page aligned (Linux snp_accept_memory). */
enum ghcb_result ghcb_accept_memory(struct ghcb_ctx* ctx, uint64_t start, uint64_t end);

/* =========================================================================== console.c */

/* Console over GHCB IOIO (OUT 8-bit to port 0xE9, the debug port the emulator prints), because
 * a plain OUT would raise #VC in an SEV-ES guest. */
enum ghcb_result ghcb_console_putc(struct ghcb_ctx* ctx, char c);
enum ghcb_result ghcb_console_puts(struct ghcb_ctx* ctx, const char* s);
enum ghcb_result ghcb_console_put_hex(struct ghcb_ctx* ctx, uint64_t v);
/* isa-debug-exit over GHCB IOIO (OUT 32-bit to port 0xF4): status becomes (value << 1) | 1. */
enum ghcb_result ghcb_console_exit(struct ghcb_ctx* ctx, uint32_t value);

/* ========================================================================= vc_decode.c */

/* snpemu's own termination reason sets. UNCONFIRMED: sets 2..15 are assigned neither by Linux
 * (which uses 0 and 1, PLATFORM-FACTS 1.7) nor by anything read; chosen here. */
#define GHCB_TERM_SET_VC 2u           /* the #VC handler gave up; codes below */
#define GHCB_TERM_VC_UNSUPPORTED 1u   /* error code the handler does not handle */
#define GHCB_TERM_VC_DECODE 2u        /* bytes at RIP are not the instruction the code names */
#define GHCB_TERM_VC_STRING_IO 3u     /* INS/OUTS: refused */
#define GHCB_TERM_VC_HV_ERROR 4u      /* hypervisor error answer or missing output register */
#define GHCB_TERM_VC_NO_GHCB 5u       /* the event needs a GHCB and none is set up yet */
#define GHCB_TERM_SET_VECTOR 3u       /* unexpected exception; code = the vector (also used when
                                       * the hypervisor asks for #GP/#UD: code = that vector) */
#define GHCB_TERM_SET_TEST 0xFu       /* test payloads' own codes */

/* More NAE exit codes the #VC handler forwards (PLATFORM-FACTS 2.3). 0x404: private access to
 * a page that is not validated (PLATFORM-FACTS 4.7 [AMD-eng]); not forwarded. */
#define GHCB_EXIT_RDTSC 0x06Eull
#define GHCB_EXIT_VMMCALL 0x081ull
#define GHCB_EXIT_RDTSCP 0x087ull
#define GHCB_EXIT_NOT_VALIDATED 0x404ull

/* An IN/OUT/INS/OUTS instruction as the #VC handler needs it. */
struct ghcb_io_insn {
  uint8_t length;   /* bytes, prefixes included */
  uint8_t size;     /* data size 1, 2 or 4 */
  uint8_t in;       /* 1 IN/INS, 0 OUT/OUTS */
  uint8_t string;   /* INS/OUTS */
  uint8_t rep;      /* F2/F3 prefix seen */
  uint8_t port_imm; /* 1: port is the imm8 (in `port`); 0: port is DX */
  uint16_t port;
};
/* Decodes the instruction at insn[0..avail) (at most 15 bytes are looked at): legacy prefixes
 * (66 operand size, 67, F2/F3, F0, segment overrides), an optional REX (W is ignored: IN/OUT
 * have no 64-bit form, APM vol 3 "IN", "OUT"), then E4-E7/EC-EF or 6C-6F. 0 if it is no I/O
 * instruction. */
int ghcb_decode_io(const uint8_t* insn, size_t avail, struct ghcb_io_insn* out);
/* Length of the instruction at insn if, after legacy/REX prefixes, its opcode bytes are exactly
 * `opcode[0..n)` (e.g. 0F A2 CPUID); 0 otherwise. */
unsigned ghcb_decode_match(const uint8_t* insn, size_t avail, const uint8_t* opcode, unsigned n);

/* ================================================================================ vc.c */

/* The registers the #VC / exception stubs save (lowest address first), then the vector and
 * error code, then the CPU's interrupt frame (APM vol 2 8.9.3). Handlers may write any field;
 * the stub restores the GPRs, RIP, RFLAGS and RSP from it on IRETQ. */
struct ghcb_vc_frame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
  uint64_t vector, error_code;
  uint64_t rip, cs, rflags, rsp, ss;
};

/* Handles one #VC (error_code = SVM exit code; frame->rip = the instruction), as Linux's
 * vc_handle_exitcode: CPUID 0x72 (GHCB NAE when a GHCB is set up, else the MSR protocol one
 * register at a time, ECX ignored, as Linux's early do_vc_no_ghcb), IOIO 0x7B (IN/OUT imm8 and
 * DX forms, 1/2/4 bytes; INS/OUTS refused), MSR 0x7C (RDMSR/WRMSR), RDTSC 0x6E, RDTSCP 0x87,
 * VMMCALL 0x81 (RAX, CPL 0, RBX, RCX, RDX, RSI in; RAX out). Checks the bytes at RIP are the
 * instruction the code names and advances RIP past it. Anything else goes to ctx->vc_hook if
 * set, else terminates through the MSR protocol: set GHCB_TERM_SET_VC with the code above, or
 * set GHCB_TERM_SET_VECTOR with #GP/#UD when the hypervisor asks for that exception.
 * Returns GHCB_OK (resume) or GHCB_TERMINATED (native build only: the halt hook returned). */
enum ghcb_result ghcb_vc_handle(struct ghcb_ctx* ctx, struct ghcb_vc_frame* frame);

/* =============================================================================== idt.c */

/* A 64-bit interrupt gate (APM vol 2 4.8.4). */
struct ghcb_gate {
  uint16_t offset_lo, selector;
  uint8_t ist, type_attr;
  uint16_t offset_mid;
  uint32_t offset_hi, reserved;
};
GHCB_STATIC_ASSERT(sizeof(struct ghcb_gate) == 16, "64-bit gate is 16 bytes");
/* The IDT plus the context its #VC handler uses: the stub finds `ctx` with SIDT (base + 4096),
 * so each vCPU with its own IDT has its own context and the library keeps no global. */
struct ghcb_idt {
  struct ghcb_gate gates[256];
  struct ghcb_ctx* ctx;
};
#ifndef GHCB_GUEST_NATIVE
/* Fills `idt` (vector 29 -> the #VC stub, every other vector -> a stub that prints "unexpected
 * vector" if the GHCB is up and terminates with set GHCB_TERM_SET_VECTOR, code = the vector),
 * code selector 0x08 (emu/exec/boot_layout.h), and loads it with LIDT. */
void ghcb_idt_install(struct ghcb_idt* idt, struct ghcb_ctx* ctx);
#endif

/* ============================================================================= setup.c */

/* Clears (shared = 1) or sets the C-bit of the 4 KiB mapping of `va` in the 4-level table at
 * `cr3` (identity map: table GPA + va_offset = its VA). A 2 MiB leaf covering va is first split
 * into the caller's zeroed, 4 KiB-aligned `pt_page` (512 entries with the leaf's bits, the
 * C-bit kept), which the PDE then points to. Does not flush the TLB. GHCB_BAD_ARGUMENT if a
 * level is not present, a 1 GiB leaf is met, or a split is needed without `pt_page`. */
enum ghcb_result ghcb_pt_set_shared(uint64_t cr3, uint64_t va, unsigned c_bit, int shared,
                                    uint64_t* pt_page, uint64_t va_offset);
/* Makes the 4 KiB page at `va` (identity-mapped, gpa = va - ctx->va_offset) shared as Linux's
 * set_page_decrypted does: CLFLUSH the page, for SNP (`snp`) PVALIDATE rescind + PSC shared
 * over the MSR protocol, clear the C-bit (ctx->c_bit) with ghcb_pt_set_shared, reload CR3.
 * The page's contents are undefined afterwards (the caller zeroes it). */
enum ghcb_result ghcb_make_page_shared(struct ghcb_ctx* ctx, uint64_t va, int snp,
                                       uint64_t* pt_page);
/* Whole set-up of a vCPU's GHCB: SEV_STATUS says SNP or not; negotiate (and for SNP check HV
 * feature bit 0); make `page` shared (PDE split into `pt_page` when needed); zero it; for SNP
 * register its GPA; then ctx->ghcb/ghcb_gpa point at it. Keeps ctx->vc_hook. GHCB_UNSUPPORTED
 * if SEV_STATUS lacks SEV-ES; else GHCB_OK or the first failure (terminating as the called
 * functions do). */
enum ghcb_result ghcb_es_init(struct ghcb_ctx* ctx, struct ghcb* page, uint64_t* pt_page);
/* 1 if ctx has a GHCB ready for NAE calls. */
static inline int ghcb_ready(const struct ghcb_ctx* ctx) {
  return ctx->ghcb != NULL && ctx->ghcb_gpa != 0;
}
/* Console through plain `outb %al, $0xE9` (raises #VC in an SEV-ES guest, so the handler's
 * IOIO path carries it) and `inb $0xE9`. */
void ghcb_out_putc(char c);
void ghcb_out_puts(const char* s);
void ghcb_out_put_hex(uint64_t v);
uint8_t ghcb_in_byte(uint16_t port);
/* The CPUID instruction itself (raises #VC 0x72 in an SEV-ES guest): out = EAX, EBX, ECX, EDX. */
void ghcb_cpuid_insn(uint32_t fn, uint32_t subfn, uint32_t out[4]);

#ifdef GHCB_GUEST_NATIVE
/* Native hooks of setup.c's instructions: OUT/IN/CPUID (a test may route them through
 * ghcb_vc_handle), CR3 read/write (CLFLUSH is a no-op natively). */
void ghcb_native_out(uint16_t port, unsigned size, uint32_t value);
uint32_t ghcb_native_in(uint16_t port, unsigned size);
void ghcb_native_cpuid(uint32_t fn, uint32_t subfn, uint32_t out[4]);
uint64_t ghcb_native_read_cr3(void);
void ghcb_native_write_cr3(uint64_t v);
#endif

/* =========================================================================== aes_gcm.c */
/* AES-256 (FIPS-197) and AES-256-GCM with a 96-bit IV and a 128-bit tag (NIST SP 800-38D),
 * integer-only (no SSE / AES-NI / PCLMUL) so it runs in a -mgeneral-regs-only guest. */

#define GHCB_AES256_KEY_SIZE 32u
#define GHCB_AES256_ROUND_KEY_WORDS 60u /* Nb * (Nr + 1) = 4 * 15 (FIPS-197 5.2) */
#define GHCB_GCM_IV_SIZE 12u
#define GHCB_GCM_TAG_SIZE 16u

/* An expanded AES-256 key: the S-box (computed by ghcb_aes256_init from its FIPS-197 5.1.1
 * definition) and the 60 round-key words, bytes little-endian in each word. */
struct ghcb_aes256 {
  uint8_t sbox[256];
  uint32_t rk[GHCB_AES256_ROUND_KEY_WORDS];
};
void ghcb_aes256_init(struct ghcb_aes256* aes, const uint8_t key[GHCB_AES256_KEY_SIZE]);
/* One block through the forward cipher (FIPS-197 5.1); in == out allowed. */
void ghcb_aes256_encrypt_block(const struct ghcb_aes256* aes, const uint8_t in[16],
                               uint8_t out[16]);
/* GCM authenticated encryption: ciphertext[0..len) and the 16-byte tag. ciphertext may equal
 * plaintext (in place); aad / plaintext may be NULL when their length is 0. */
void ghcb_aes256_gcm_seal(const uint8_t key[GHCB_AES256_KEY_SIZE],
                          const uint8_t iv[GHCB_GCM_IV_SIZE], const uint8_t* aad, size_t aad_len,
                          const uint8_t* plaintext, size_t len, uint8_t* ciphertext,
                          uint8_t tag[GHCB_GCM_TAG_SIZE]);
/* GCM authenticated decryption: 1 and plaintext[0..len) when the tag verifies (constant-time
 * compare); 0 and plaintext untouched otherwise. plaintext may equal ciphertext. */
int ghcb_aes256_gcm_open(const uint8_t key[GHCB_AES256_KEY_SIZE],
                         const uint8_t iv[GHCB_GCM_IV_SIZE], const uint8_t* aad, size_t aad_len,
                         const uint8_t* ciphertext, size_t len,
                         const uint8_t tag[GHCB_GCM_TAG_SIZE], uint8_t* plaintext);
/* 1 iff a[0..n) == b[0..n); the time does not depend on where they differ. */
int ghcb_tag_equal(const uint8_t* a, const uint8_t* b, size_t n);
/* Zeroes n bytes through a volatile pointer (not optimised away). */
void ghcb_secure_zero(void* p, size_t n);

/* ============================================================================ attest.c */
/* SNP guest messages through the GUEST_REQUEST NAE event (PLATFORM-FACTS 2.3, 2.6, 8.6-8.8;
 * Linux drivers/virt/coco/sev-guest, arch/x86/coco/sev: facts only). The layouts below are
 * checked against firmware/msg_layout.h and firmware/report_layout.h by
 * test/ghcb_guest/attest_test.cc. */

#define GHCB_EXIT_GUEST_REQUEST 0x80000011ull /* EXITINFO1 = request GPA, EXITINFO2 = response */

#define GHCB_SNP_MSG_PAGE_SIZE 4096u
#define GHCB_SNP_MSG_HDR_SIZE 0x60u
#define GHCB_SNP_MSG_AAD_OFFSET 0x30u /* AAD = header bytes 0x30-0x5F */
#define GHCB_SNP_MSG_MAX_PAYLOAD (GHCB_SNP_MSG_PAGE_SIZE - GHCB_SNP_MSG_HDR_SIZE)
#define GHCB_SNP_AEAD_AES_256_GCM 1u
#define GHCB_SNP_MSG_HDR_VERSION 1u
#define GHCB_SNP_MSG_REPORT_REQ 5u
#define GHCB_SNP_MSG_REPORT_RSP 6u
#define GHCB_SNP_MSG_VERSION 1u
#define GHCB_SNP_REPORT_SIZE 0x4A0u
#define GHCB_SNP_REPORT_SIGNED_SIZE 0x2A0u
#define GHCB_SNP_SIG_ALGO_ECDSA_P384_SHA384 1u

/* Secrets page (PLATFORM-FACTS 8.8 [L] asm/sev.h): VMPCKn at 0x20 + 0x20 * n, 32 bytes each. */
#define GHCB_SECRETS_VMPCK_OFFSET(n) (0x20u + 0x20u * (unsigned)(n))
#define GHCB_VMPCK_SIZE 32u

/* The 96-byte message header (PLATFORM-FACTS 8.7 [L] asm/sev.h snp_guest_msg_hdr). */
struct ghcb_snp_msg_hdr {
  uint8_t authtag[32]; /* the 16-byte GCM tag, then zeros */
  uint64_t msg_seqno;
  uint8_t rsvd1[8];
  uint8_t algo;
  uint8_t hdr_version;
  uint16_t hdr_sz;
  uint8_t msg_type;
  uint8_t msg_version;
  uint16_t msg_sz;
  uint32_t rsvd2;
  uint8_t msg_vmpck;
  uint8_t rsvd3[35];
};
GHCB_STATIC_ASSERT(sizeof(struct ghcb_snp_msg_hdr) == GHCB_SNP_MSG_HDR_SIZE, "message header");
GHCB_STATIC_ASSERT(offsetof(struct ghcb_snp_msg_hdr, algo) == GHCB_SNP_MSG_AAD_OFFSET, "AAD");
GHCB_STATIC_ASSERT(offsetof(struct ghcb_snp_msg_hdr, msg_vmpck) == 0x3C, "msg_vmpck");

/* MSG_REPORT_REQ payload (PLATFORM-FACTS 8.6). key_sel (bits 1:0: 0 any, 1 VCEK, 2 VLEK):
 * UNCONFIRMED, from the SNP ABI via newer Linux; the Linux uapi copy read has rsvd[28] there.
 * This library always sends 0, which reads the same under both layouts. */
struct ghcb_snp_report_req {
  uint8_t user_data[64];
  uint32_t vmpl;
  uint32_t key_sel;
  uint8_t rsvd[24];
};
GHCB_STATIC_ASSERT(sizeof(struct ghcb_snp_report_req) == 96, "MSG_REPORT_REQ");

/* MSG_REPORT_RSP payload: this 32-byte part, then the report when status is 0. */
struct ghcb_snp_report_rsp {
  uint32_t status;
  uint32_t report_size;
  uint8_t rsvd[24];
};
GHCB_STATIC_ASSERT(sizeof(struct ghcb_snp_report_rsp) == 0x20, "MSG_REPORT_RSP status part");

/* The attestation report (PLATFORM-FACTS 8.6), field names as in firmware/report_layout.h. */
struct ghcb_snp_report {
  uint32_t version;
  uint32_t guest_svn;
  uint64_t policy;
  uint8_t family_id[16];
  uint8_t image_id[16];
  uint32_t vmpl;
  uint32_t signature_algo;
  uint64_t platform_version;
  uint64_t platform_info;
  uint32_t flags;
  uint32_t reserved0;
  uint8_t report_data[64];
  uint8_t measurement[48];
  uint8_t host_data[32];
  uint8_t id_key_digest[48];
  uint8_t author_key_digest[48];
  uint8_t report_id[32];
  uint8_t report_id_ma[32];
  uint64_t reported_tcb;
  uint8_t cpuid_fam_id, cpuid_mod_id, cpuid_step;
  uint8_t reserved1[21];
  uint8_t chip_id[64];
  uint64_t committed_tcb;
  uint8_t current_build, current_minor, current_major, reserved2;
  uint8_t committed_build, committed_minor, committed_major, reserved3;
  uint64_t launch_tcb;
  uint64_t launch_mit_vector;
  uint64_t current_mit_vector;
  uint8_t reserved4[152];
  uint8_t signature[512]; /* R[72] at 0x2A0, S[72] at 0x2E8, little endian */
};
GHCB_STATIC_ASSERT(offsetof(struct ghcb_snp_report, report_data) == 0x50, "REPORT_DATA");
GHCB_STATIC_ASSERT(offsetof(struct ghcb_snp_report, measurement) == 0x90, "MEASUREMENT");
GHCB_STATIC_ASSERT(offsetof(struct ghcb_snp_report, chip_id) == 0x1A0, "CHIP_ID");
GHCB_STATIC_ASSERT(offsetof(struct ghcb_snp_report, signature) == GHCB_SNP_REPORT_SIGNED_SIZE,
                   "SIGNATURE");
GHCB_STATIC_ASSERT(sizeof(struct ghcb_snp_report) == GHCB_SNP_REPORT_SIZE, "report size");

/* Outcome of a guest message exchange; every failure has its own value. */
enum ghcb_attest_result {
  GHCB_ATTEST_OK = 0,
  GHCB_ATTEST_BAD_ARGUMENT = 1,   /* NULL, vmpck_id > 3, pages unaligned / equal, payload size */
  GHCB_ATTEST_UNSUPPORTED = 2,    /* no GHCB, or negotiated GHCB protocol < 2 */
  GHCB_ATTEST_DISABLED = 3,       /* an earlier exchange failed after sending: key wiped */
  GHCB_ATTEST_SEQNO_EXHAUSTED = 4,
  GHCB_ATTEST_GHCB_CALL = 5,      /* ghcb_call failed (SW_EXITINFO1 != 0): ch->call_result */
  GHCB_ATTEST_VMM_ERROR = 6,      /* SW_EXITINFO2[63:32] != 0: ch->exit_info_2 */
  GHCB_ATTEST_FW_ERROR = 7,       /* SW_EXITINFO2[31:0] != 0 (firmware status) */
  GHCB_ATTEST_RSP_SEQNO = 8,      /* response msg_seqno != request + 1 */
  GHCB_ATTEST_RSP_TYPE = 9,       /* msg_type != request type + 1 */
  GHCB_ATTEST_RSP_VERSION = 10,   /* msg_version != the request's */
  GHCB_ATTEST_RSP_ALGO = 11,      /* algo != 1 */
  GHCB_ATTEST_RSP_HDR_VERSION = 12,
  GHCB_ATTEST_RSP_HDR_SZ = 13,    /* hdr_sz != 96 */
  GHCB_ATTEST_RSP_VMPCK = 14,     /* msg_vmpck != the request's */
  GHCB_ATTEST_RSP_MSG_SZ = 15,    /* msg_sz beyond the page */
  GHCB_ATTEST_RSP_AUTH = 16,      /* AES-GCM tag mismatch */
  GHCB_ATTEST_RSP_SHORT = 17,     /* payload shorter than the 32-byte status part */
  GHCB_ATTEST_REPORT_STATUS = 18, /* MSG_REPORT_RSP status != 0: ch->report_status */
  GHCB_ATTEST_REPORT_SIZE = 19,   /* report_size != 0x4A0 */
  GHCB_ATTEST_REPORT_TRUNCATED = 20, /* msg_sz < 0x20 + report_size */
};
/* Short name of a result ("ok", "rsp_auth", ...); "unknown" for other values. */
const char* ghcb_attest_result_name(enum ghcb_attest_result r);

/* One VMPCK channel: the caller's private state for SNP_GUEST_REQUEST exchanges. Keep it in
 * private (encrypted) memory; req_page / rsp_page are the two SHARED pages. */
struct ghcb_snp_channel {
  uint8_t vmpck[GHCB_VMPCK_SIZE]; /* private copy of VMPCK[vmpck_id]; zeroed once disabled */
  uint8_t vmpck_id;               /* msg_vmpck, 0..3 */
  uint8_t disabled;               /* 1 after a failure once a request was sent (IV reuse guard) */
  uint64_t seqno;                 /* the stored counter: last sequence number used */
  uint8_t* req_page;              /* shared request page as the guest addresses it */
  uint64_t req_gpa;
  uint8_t* rsp_page;              /* shared response page */
  uint64_t rsp_gpa;
  uint64_t exit_info_2;           /* SW_EXITINFO2 of the last exchange */
  enum ghcb_result call_result;   /* ghcb_call's result of the last exchange */
  uint32_t report_status;         /* MSG_REPORT_RSP status of the last report request */
  uint8_t buf[GHCB_SNP_MSG_PAGE_SIZE]; /* private working copy of a message */
};

/* Fills `ch`: copies the 32-byte key, stored counter `seqno` (0 for a fresh launch), the
 * shared pages (4 KiB aligned GPAs, different). GHCB_ATTEST_BAD_ARGUMENT otherwise. */
enum ghcb_attest_result ghcb_snp_channel_init(struct ghcb_snp_channel* ch, const uint8_t* vmpck,
                                              unsigned vmpck_id, uint64_t seqno, void* req_page,
                                              uint64_t req_gpa, void* rsp_page, uint64_t rsp_gpa);
/* One exchange (Linux snp_send_guest_request + verify_and_dec_payload): seals `payload` as
 * message `type` / `version` with seqno = stored + 1 (IV = seqno LE, AAD = header 0x30-0x5F)
 * into the request page, GUEST_REQUEST NAE, requires SW_EXITINFO2 == 0, advances the stored
 * counter by 2, copies the response page into ch->buf (private) and checks its header (seqno
 * + 1, type + 1, same version, algo 1, hdr_version 1, hdr_sz 96, same msg_vmpck, msg_sz within
 * the page) before opening it. On success *rsp = the plaintext (inside ch->buf, valid until the
 * next exchange) and *rsp_len = msg_sz. Any failure after the request went out (up to and
 * including authentication) zeroes the key and disables the channel, as Linux's
 * snp_disable_vmpck does (a resend would reuse the IV). */
enum ghcb_attest_result ghcb_snp_guest_request(struct ghcb_ctx* ctx, struct ghcb_snp_channel* ch,
                                               unsigned type, unsigned version,
                                               const void* payload, size_t len,
                                               const uint8_t** rsp, size_t* rsp_len);
/* MSG_REPORT_REQ (version 1, key_sel 0) with `report_data` and `vmpl`; on success copies the
 * 1184-byte report into `report` (untouched on failure). A non-zero response status is
 * GHCB_ATTEST_REPORT_STATUS with the value in ch->report_status. These payload-level failures
 * (RSP_SHORT, REPORT_*) come from an authentic response: the channel stays usable. */
enum ghcb_attest_result ghcb_snp_get_report(struct ghcb_ctx* ctx, struct ghcb_snp_channel* ch,
                                            const uint8_t report_data[64], uint32_t vmpl,
                                            uint8_t report[GHCB_SNP_REPORT_SIZE]);

#ifdef __cplusplus
}
#endif

#endif /* SNPEMU_GHCB_GUEST_GHCB_GUEST_H_ */
