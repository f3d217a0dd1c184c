/* ghcb/guest/attest.c: SNP guest messages over the GUEST_REQUEST NAE event and the attestation
 * report request. Rules: PLATFORM-FACTS 2.3, 2.4, 2.6 (NAE 0x8000_0011, EXITINFO1/2 = request /
 * response page GPAs, page aligned and different; answer in SW_EXITINFO2: firmware status 31:0,
 * VMM status 63:32), 8.6 (MSG_REPORT_REQ / RSP, report), 8.7 (header, AES-256-GCM, IV, AAD,
 * sequence numbers) [L] asm/sev.h, drivers/virt/coco/sev-guest (snp_get_msg_seqno,
 * snp_inc_msg_seqno, enc_payload, verify_and_dec_payload, snp_disable_vmpck); facts only. */
#include "ghcb/guest/ghcb_guest.h"

#define PAGE_MASK 0xFFFull
/* Linux snp_get_msg_seqno: the GHCB v2 storage of the counter is 32 bits; a count that reaches
 * UINT32_MAX is refused (the firmware would treat 0 as invalid anyway). */
#define SEQNO_LIMIT 0xFFFFFFFFull

const char* ghcb_attest_result_name(enum ghcb_attest_result r) {
  switch (r) {
    case GHCB_ATTEST_OK:
      return "ok";
    case GHCB_ATTEST_BAD_ARGUMENT:
      return "bad_argument";
    case GHCB_ATTEST_UNSUPPORTED:
      return "unsupported";
    case GHCB_ATTEST_DISABLED:
      return "disabled";
    case GHCB_ATTEST_SEQNO_EXHAUSTED:
      return "seqno_exhausted";
    case GHCB_ATTEST_GHCB_CALL:
      return "ghcb_call";
    case GHCB_ATTEST_VMM_ERROR:
      return "vmm_error";
    case GHCB_ATTEST_FW_ERROR:
      return "fw_error";
    case GHCB_ATTEST_RSP_SEQNO:
      return "rsp_seqno";
    case GHCB_ATTEST_RSP_TYPE:
      return "rsp_type";
    case GHCB_ATTEST_RSP_VERSION:
      return "rsp_version";
    case GHCB_ATTEST_RSP_ALGO:
      return "rsp_algo";
    case GHCB_ATTEST_RSP_HDR_VERSION:
      return "rsp_hdr_version";
    case GHCB_ATTEST_RSP_HDR_SZ:
      return "rsp_hdr_sz";
    case GHCB_ATTEST_RSP_VMPCK:
      return "rsp_vmpck";
    case GHCB_ATTEST_RSP_MSG_SZ:
      return "rsp_msg_sz";
    case GHCB_ATTEST_RSP_AUTH:
      return "rsp_auth";
    case GHCB_ATTEST_RSP_SHORT:
      return "rsp_short";
    case GHCB_ATTEST_REPORT_STATUS:
      return "report_status";
    case GHCB_ATTEST_REPORT_SIZE:
      return "report_size";
    case GHCB_ATTEST_REPORT_TRUNCATED:
      return "report_truncated";
  }
  return "unknown";
}

static void copy_bytes(void* dst, const void* src, size_t n) {
  uint8_t* d = (uint8_t*)dst;
  const uint8_t* s = (const uint8_t*)src;
  for (size_t i = 0; i < n; ++i) d[i] = s[i];
}

/* Volatile: the shared pages are hypervisor-visible memory. */
static void zero_shared(uint8_t* page) {
  volatile uint8_t* b = page;
  for (size_t i = 0; i < GHCB_SNP_MSG_PAGE_SIZE; ++i) b[i] = 0;
}

static void copy_from_shared(uint8_t* dst, const uint8_t* page) {
  const volatile uint8_t* b = page;
  for (size_t i = 0; i < GHCB_SNP_MSG_PAGE_SIZE; ++i) dst[i] = b[i];
}

static void copy_to_shared(uint8_t* page, const uint8_t* src, size_t n) {
  volatile uint8_t* b = page;
  for (size_t i = 0; i < n; ++i) b[i] = src[i];
}

/* IV = msg_seqno little endian, zero-extended to 12 bytes (PLATFORM-FACTS 8.7). */
static void make_iv(uint64_t seqno, uint8_t iv[GHCB_GCM_IV_SIZE]) {
  for (unsigned i = 0; i < GHCB_GCM_IV_SIZE; ++i) iv[i] = i < 8 ? (uint8_t)(seqno >> (8 * i)) : 0;
}

enum ghcb_attest_result ghcb_snp_channel_init(struct ghcb_snp_channel* ch, const uint8_t* vmpck,
                                              unsigned vmpck_id, uint64_t seqno, void* req_page,
                                              uint64_t req_gpa, void* rsp_page, uint64_t rsp_gpa) {
  if (ch == NULL) return GHCB_ATTEST_BAD_ARGUMENT;
  ch->disabled = 1; /* until every argument checks out */
  if (vmpck == NULL || vmpck_id > 3 || req_page == NULL || rsp_page == NULL ||
      (req_gpa & PAGE_MASK) != 0 || (rsp_gpa & PAGE_MASK) != 0 || req_gpa == rsp_gpa ||
      ((uintptr_t)req_page & PAGE_MASK) != 0 || ((uintptr_t)rsp_page & PAGE_MASK) != 0)
    return GHCB_ATTEST_BAD_ARGUMENT;
  copy_bytes(ch->vmpck, vmpck, GHCB_VMPCK_SIZE);
  ch->vmpck_id = (uint8_t)vmpck_id;
  ch->disabled = 0;
  ch->seqno = seqno;
  ch->req_page = (uint8_t*)req_page;
  ch->req_gpa = req_gpa;
  ch->rsp_page = (uint8_t*)rsp_page;
  ch->rsp_gpa = rsp_gpa;
  ch->exit_info_2 = 0;
  ch->call_result = GHCB_OK;
  ch->report_status = 0;
  return GHCB_ATTEST_OK;
}

static enum ghcb_attest_result disable(struct ghcb_snp_channel* ch, enum ghcb_attest_result r) {
  ghcb_secure_zero(ch->vmpck, sizeof ch->vmpck);
  ch->disabled = 1;
  return r;
}

/* The response header checks of Linux verify_and_dec_payload plus the fixed fields. */
static enum ghcb_attest_result check_response(const struct ghcb_snp_msg_hdr* rsp, uint64_t seqno,
                                              unsigned type, unsigned version, uint8_t vmpck_id) {
  if (rsp->msg_seqno != seqno + 1) return GHCB_ATTEST_RSP_SEQNO;
  if (rsp->msg_type != type + 1) return GHCB_ATTEST_RSP_TYPE;
  if (rsp->msg_version != version) return GHCB_ATTEST_RSP_VERSION;
  if (rsp->algo != GHCB_SNP_AEAD_AES_256_GCM) return GHCB_ATTEST_RSP_ALGO;
  if (rsp->hdr_version != GHCB_SNP_MSG_HDR_VERSION) return GHCB_ATTEST_RSP_HDR_VERSION;
  if (rsp->hdr_sz != GHCB_SNP_MSG_HDR_SIZE) return GHCB_ATTEST_RSP_HDR_SZ;
  if (rsp->msg_vmpck != vmpck_id) return GHCB_ATTEST_RSP_VMPCK;
  if (rsp->msg_sz > GHCB_SNP_MSG_MAX_PAYLOAD) return GHCB_ATTEST_RSP_MSG_SZ;
  return GHCB_ATTEST_OK;
}

enum ghcb_attest_result ghcb_snp_guest_request(struct ghcb_ctx* ctx, struct ghcb_snp_channel* ch,
                                               unsigned type, unsigned version, const void* payload,
                                               size_t len, const uint8_t** rsp, size_t* rsp_len) {
  if (ctx == NULL || ch == NULL || rsp == NULL || rsp_len == NULL || type == 0 || type > 0xFE ||
      version > 0xFF || len > GHCB_SNP_MSG_MAX_PAYLOAD || (payload == NULL && len != 0))
    return GHCB_ATTEST_BAD_ARGUMENT;
  if (ch->disabled) return GHCB_ATTEST_DISABLED;
  if (!ghcb_ready(ctx) || ctx->version < 2) return GHCB_ATTEST_UNSUPPORTED; /* SNP: GHCB v2 */
  if (ch->seqno + 1 >= SEQNO_LIMIT) return GHCB_ATTEST_SEQNO_EXHAUSTED;
  const uint64_t seqno = ch->seqno + 1;

  /* Build and seal in private memory; only the ciphertext reaches the shared page. */
  struct ghcb_snp_msg_hdr* hdr = (struct ghcb_snp_msg_hdr*)(void*)ch->buf;
  ghcb_secure_zero(ch->buf, sizeof ch->buf);
  hdr->msg_seqno = seqno;
  hdr->algo = GHCB_SNP_AEAD_AES_256_GCM;
  hdr->hdr_version = GHCB_SNP_MSG_HDR_VERSION;
  hdr->hdr_sz = GHCB_SNP_MSG_HDR_SIZE;
  hdr->msg_type = (uint8_t)type;
  hdr->msg_version = (uint8_t)version;
  hdr->msg_sz = (uint16_t)len;
  hdr->msg_vmpck = ch->vmpck_id;
  uint8_t* body = ch->buf + GHCB_SNP_MSG_HDR_SIZE;
  copy_bytes(body, payload, len);
  uint8_t iv[GHCB_GCM_IV_SIZE];
  make_iv(seqno, iv);
  ghcb_aes256_gcm_seal(ch->vmpck, iv, ch->buf + GHCB_SNP_MSG_AAD_OFFSET,
                       GHCB_SNP_MSG_HDR_SIZE - GHCB_SNP_MSG_AAD_OFFSET, body, len, body,
                       hdr->authtag);
  zero_shared(ch->req_page);
  zero_shared(ch->rsp_page);
  copy_to_shared(ch->req_page, ch->buf, GHCB_SNP_MSG_HDR_SIZE + len);

  /* From here on the request is out: a failure disables the channel. */
  ghcb_invalidate(ctx->ghcb);
  ch->call_result = ghcb_call(ctx, GHCB_EXIT_GUEST_REQUEST, ch->req_gpa, ch->rsp_gpa);
  if (ch->call_result != GHCB_OK) return disable(ch, GHCB_ATTEST_GHCB_CALL);
  ch->exit_info_2 = ctx->ghcb->save.sw_exit_info_2;
  if ((ch->exit_info_2 >> 32) != 0) return disable(ch, GHCB_ATTEST_VMM_ERROR);
  if ((uint32_t)ch->exit_info_2 != 0) return disable(ch, GHCB_ATTEST_FW_ERROR);
  /* The firmware used seqno and seqno + 1 (Linux snp_inc_msg_seqno: += 2 before decoding;
   * a decode failure disables the key anyway). */
  ch->seqno += 2;

  /* Read the hypervisor-writable page once, into private memory, before any check. */
  copy_from_shared(ch->buf, ch->rsp_page);
  const enum ghcb_attest_result h = check_response(hdr, seqno, type, version, ch->vmpck_id);
  if (h != GHCB_ATTEST_OK) return disable(ch, h);
  const size_t n = hdr->msg_sz;
  make_iv(hdr->msg_seqno, iv);
  if (!ghcb_aes256_gcm_open(ch->vmpck, iv, ch->buf + GHCB_SNP_MSG_AAD_OFFSET,
                            GHCB_SNP_MSG_HDR_SIZE - GHCB_SNP_MSG_AAD_OFFSET, body, n, hdr->authtag,
                            body))
    return disable(ch, GHCB_ATTEST_RSP_AUTH);
  *rsp = body;
  *rsp_len = n;
  return GHCB_ATTEST_OK;
}

static uint32_t load_le32(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

enum ghcb_attest_result ghcb_snp_get_report(struct ghcb_ctx* ctx, struct ghcb_snp_channel* ch,
                                            const uint8_t report_data[64], uint32_t vmpl,
                                            uint8_t report[GHCB_SNP_REPORT_SIZE]) {
  if (ch == NULL || report_data == NULL || report == NULL || vmpl > 3)
    return GHCB_ATTEST_BAD_ARGUMENT;
  struct ghcb_snp_report_req req;
  ghcb_secure_zero(&req, sizeof req); /* reserved bytes and key_sel = 0 */
  copy_bytes(req.user_data, report_data, sizeof req.user_data);
  req.vmpl = vmpl;
  const uint8_t* rsp = NULL;
  size_t n = 0;
  const enum ghcb_attest_result r = ghcb_snp_guest_request(
      ctx, ch, GHCB_SNP_MSG_REPORT_REQ, GHCB_SNP_MSG_VERSION, &req, sizeof req, &rsp, &n);
  if (r != GHCB_ATTEST_OK) return r;
  const size_t head = sizeof(struct ghcb_snp_report_rsp);
  if (n < head) return GHCB_ATTEST_RSP_SHORT;
  ch->report_status = load_le32(rsp + offsetof(struct ghcb_snp_report_rsp, status));
  if (ch->report_status != 0) return GHCB_ATTEST_REPORT_STATUS;
  if (load_le32(rsp + offsetof(struct ghcb_snp_report_rsp, report_size)) != GHCB_SNP_REPORT_SIZE)
    return GHCB_ATTEST_REPORT_SIZE;
  if (n < head + GHCB_SNP_REPORT_SIZE) return GHCB_ATTEST_REPORT_TRUNCATED;
  copy_bytes(report, rsp + head, GHCB_SNP_REPORT_SIZE);
  return GHCB_ATTEST_OK;
}
