/* ghcb/guest/aes_gcm.c: AES-256 (forward cipher only) and AES-256-GCM with a 96-bit IV and a
 * 128-bit tag, integer-only for guests built with -mgeneral-regs-only (no SSE, AES-NI, PCLMUL).
 *
 * Algorithm facts:
 *   FIPS-197 (AES): S-box = multiplicative inverse in GF(2^8) mod x^8+x^4+x^3+x+1 followed by
 *     the affine map b ^ rotl(b,1..4) ^ 0x63 (5.1.1); ShiftRows row r rotates left by r (5.1.2);
 *     MixColumns with {02 03 01 01} (5.1.3); KeyExpansion with Nk = 8, Nr = 14, RotWord /
 *     SubWord every Nk words and SubWord alone at i mod Nk = 4 (5.2); state byte order: byte
 *     r + 4c of the block is row r, column c (3.4).
 *   NIST SP 800-38D (GCM): H = CIPH_K(0^128) (7.1 step 1); J0 = IV || 0^31 || 1 for a 96-bit IV
 *     (7.1 step 2); C = GCTR_K(inc32(J0), P) (step 3); S = GHASH_H(A || 0^v || C || 0^u ||
 *     [len(A)]_64 || [len(C)]_64) in bits (steps 4-5); T = MSB_128(GCTR_K(J0, S)) (step 6);
 *     GF(2^128) multiply by Algorithm 1 (6.3), R = 11100001 || 0^120, bit 0 = the leftmost bit
 *     (the most significant bit of byte 0); decryption verifies T before releasing P (7.2).
 *
 * Structure: every loop bound and branch depends only on lengths, never on key or data bits
 * (GHASH uses masks, the tag compare ORs all differences). The S-box is a 256-byte table in the
 * key context, so SubBytes does data-dependent loads (cache timing is not modelled by snpemu;
 * a hardened guest would use a bitsliced S-box). */
#include "ghcb/guest/ghcb_guest.h"

/* ================================================================================ AES-256 */

/* GF(2^8) multiply modulo x^8 + x^4 + x^3 + x + 1 (FIPS-197 4.2), branch-free. */
static uint8_t gf_mul(uint8_t a, uint8_t b) {
  uint8_t p = 0;
  for (int i = 0; i < 8; ++i) {
    p = (uint8_t)(p ^ (a & (uint8_t) - (b & 1)));
    a = (uint8_t)((a << 1) ^ (0x1B & (uint8_t) - (a >> 7)));
    b = (uint8_t)(b >> 1);
  }
  return p;
}

static uint8_t rotl8(uint8_t b, unsigned n) { return (uint8_t)((b << n) | (b >> (8 - n))); }

/* S-box entry of x (FIPS-197 5.1.1): inverse = x^254 (0 maps to 0), then the affine map. */
static uint8_t sbox_entry(uint8_t x) {
  uint8_t x2 = gf_mul(x, x), acc = x2; /* x^254 = x^2 * x^4 * ... * x^128 */
  for (int i = 0; i < 6; ++i) {
    x2 = gf_mul(x2, x2);
    acc = gf_mul(acc, x2);
  }
  return (uint8_t)(acc ^ rotl8(acc, 1) ^ rotl8(acc, 2) ^ rotl8(acc, 3) ^ rotl8(acc, 4) ^ 0x63);
}

static uint32_t sub_word(const uint8_t* sbox, uint32_t w) {
  return (uint32_t)sbox[w & 0xFF] | ((uint32_t)sbox[(w >> 8) & 0xFF] << 8) |
         ((uint32_t)sbox[(w >> 16) & 0xFF] << 16) | ((uint32_t)sbox[w >> 24] << 24);
}

void ghcb_aes256_init(struct ghcb_aes256* aes, const uint8_t key[GHCB_AES256_KEY_SIZE]) {
  for (unsigned x = 0; x < 256; ++x) aes->sbox[x] = sbox_entry((uint8_t)x);
  /* Words hold bytes little-endian: byte 0 of w[i] is the first key byte of that word, so
   * RotWord([a0 a1 a2 a3]) = [a1 a2 a3 a0] is a right rotation by 8 here (FIPS-197 5.2). */
  for (unsigned i = 0; i < 8; ++i) {
    aes->rk[i] = (uint32_t)key[4 * i] | ((uint32_t)key[4 * i + 1] << 8) |
                 ((uint32_t)key[4 * i + 2] << 16) | ((uint32_t)key[4 * i + 3] << 24);
  }
  uint8_t rcon = 0x01;
  for (unsigned i = 8; i < GHCB_AES256_ROUND_KEY_WORDS; ++i) {
    uint32_t t = aes->rk[i - 1];
    if (i % 8 == 0) {
      t = sub_word(aes->sbox, (t >> 8) | (t << 24)) ^ rcon;
      rcon = gf_mul(rcon, 2);
    } else if (i % 8 == 4) {
      t = sub_word(aes->sbox, t);
    }
    aes->rk[i] = aes->rk[i - 8] ^ t;
  }
}

static void add_round_key(uint8_t s[16], const uint32_t* rk) {
  for (unsigned c = 0; c < 4; ++c)
    for (unsigned r = 0; r < 4; ++r) s[4 * c + r] = (uint8_t)(s[4 * c + r] ^ (rk[c] >> (8 * r)));
}

/* SubBytes then ShiftRows: new (r, c) = S(old (r, c + r mod 4)) (FIPS-197 5.1.1, 5.1.2). */
static void sub_shift(uint8_t s[16], const uint8_t* sbox) {
  uint8_t t[16];
  for (unsigned c = 0; c < 4; ++c)
    for (unsigned r = 0; r < 4; ++r) t[4 * c + r] = sbox[s[4 * ((c + r) % 4) + r]];
  for (unsigned i = 0; i < 16; ++i) s[i] = t[i];
}

static uint8_t xtime(uint8_t b) { return (uint8_t)((b << 1) ^ (0x1B & (uint8_t) - (b >> 7))); }

/* MixColumns: each column times {03}x^3 + {01}x^2 + {01}x + {02} (FIPS-197 5.1.3). */
static void mix_columns(uint8_t s[16]) {
  for (unsigned c = 0; c < 4; ++c) {
    uint8_t* col = s + 4 * c;
    const uint8_t a0 = col[0], a1 = col[1], a2 = col[2], a3 = col[3];
    const uint8_t all = (uint8_t)(a0 ^ a1 ^ a2 ^ a3);
    col[0] = (uint8_t)(a0 ^ all ^ xtime((uint8_t)(a0 ^ a1)));
    col[1] = (uint8_t)(a1 ^ all ^ xtime((uint8_t)(a1 ^ a2)));
    col[2] = (uint8_t)(a2 ^ all ^ xtime((uint8_t)(a2 ^ a3)));
    col[3] = (uint8_t)(a3 ^ all ^ xtime((uint8_t)(a3 ^ a0)));
  }
}

void ghcb_aes256_encrypt_block(const struct ghcb_aes256* aes, const uint8_t in[16],
                               uint8_t out[16]) {
  uint8_t s[16];
  for (unsigned i = 0; i < 16; ++i) s[i] = in[i];
  add_round_key(s, aes->rk);
  for (unsigned round = 1; round < 14; ++round) { /* Nr = 14 (FIPS-197 5.1, Cipher()) */
    sub_shift(s, aes->sbox);
    mix_columns(s);
    add_round_key(s, aes->rk + 4 * round);
  }
  sub_shift(s, aes->sbox);
  add_round_key(s, aes->rk + 4 * 14);
  for (unsigned i = 0; i < 16; ++i) out[i] = s[i];
}

/* ==================================================================================== GCM */

struct gf128 {
  uint64_t hi, lo; /* hi = bytes 0..7 big-endian: bit 0 of the block is hi's bit 63 */
};

static uint64_t load_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (unsigned i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

static void store_be64(uint8_t* p, uint64_t v) {
  for (unsigned i = 0; i < 8; ++i) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* X * Y in GF(2^128), NIST SP 800-38D 6.3 Algorithm 1, with masks instead of branches. */
static struct gf128 gf128_mul(struct gf128 x, struct gf128 y) {
  struct gf128 z = {0, 0}, v = y;
  for (unsigned i = 0; i < 128; ++i) {
    const uint64_t xi = i < 64 ? (x.hi >> (63 - i)) & 1 : (x.lo >> (127 - i)) & 1;
    const uint64_t take = (uint64_t)0 - xi;
    z.hi ^= v.hi & take;
    z.lo ^= v.lo & take;
    const uint64_t reduce = (uint64_t)0 - (v.lo & 1);
    v.lo = (v.lo >> 1) | (v.hi << 63);
    v.hi = (v.hi >> 1) ^ (0xE100000000000000ull & reduce); /* R = 11100001 || 0^120 */
  }
  return z;
}

struct ghash {
  struct gf128 h, y;
};

/* Absorbs `len` bytes, zero-padding the last partial block (the 0^v / 0^u of 7.1 step 4). */
static void ghash_update(struct ghash* g, const uint8_t* data, size_t len) {
  while (len > 0) {
    uint8_t block[16];
    const size_t n = len < 16 ? len : 16;
    for (size_t i = 0; i < 16; ++i) block[i] = i < n ? data[i] : 0;
    g->y.hi ^= load_be64(block);
    g->y.lo ^= load_be64(block + 8);
    g->y = gf128_mul(g->y, g->h);
    data += n;
    len -= n;
  }
}

/* inc32: the rightmost 32 bits of the counter block, modulo 2^32 (SP 800-38D 6.2). */
static void inc32(uint8_t cb[16]) {
  uint32_t c =
      ((uint32_t)cb[12] << 24) | ((uint32_t)cb[13] << 16) | ((uint32_t)cb[14] << 8) | cb[15];
  ++c;
  cb[12] = (uint8_t)(c >> 24);
  cb[13] = (uint8_t)(c >> 16);
  cb[14] = (uint8_t)(c >> 8);
  cb[15] = (uint8_t)c;
}

/* GCTR from counter block `icb` (SP 800-38D 6.5); in == out allowed. */
static void gctr(const struct ghcb_aes256* aes, const uint8_t icb[16], const uint8_t* in,
                 size_t len, uint8_t* out) {
  uint8_t cb[16], ks[16];
  for (unsigned i = 0; i < 16; ++i) cb[i] = icb[i];
  while (len > 0) {
    const size_t n = len < 16 ? len : 16;
    ghcb_aes256_encrypt_block(aes, cb, ks);
    for (size_t i = 0; i < n; ++i) out[i] = (uint8_t)(in[i] ^ ks[i]);
    inc32(cb);
    in += n;
    out += n;
    len -= n;
  }
}

/* H, J0, and T = GCTR(J0, GHASH(A, C)) for ciphertext `ct` (SP 800-38D 7.1 steps 1, 2, 4-6). */
static void gcm_tag(const struct ghcb_aes256* aes, const uint8_t j0[16], const uint8_t* aad,
                    size_t aad_len, const uint8_t* ct, size_t len, uint8_t tag[16]) {
  struct ghash g;
  uint8_t zero[16] = {0}, hb[16], lens[16], s[16];
  ghcb_aes256_encrypt_block(aes, zero, hb);
  g.h.hi = load_be64(hb);
  g.h.lo = load_be64(hb + 8);
  g.y.hi = 0;
  g.y.lo = 0;
  ghash_update(&g, aad, aad_len);
  ghash_update(&g, ct, len);
  store_be64(lens, (uint64_t)aad_len * 8); /* [len(A)]_64 || [len(C)]_64, in bits */
  store_be64(lens + 8, (uint64_t)len * 8);
  ghash_update(&g, lens, 16);
  store_be64(s, g.y.hi);
  store_be64(s + 8, g.y.lo);
  gctr(aes, j0, s, 16, tag);
}

static void make_j0(const uint8_t iv[GHCB_GCM_IV_SIZE], uint8_t j0[16]) {
  for (unsigned i = 0; i < 12; ++i) j0[i] = iv[i];
  j0[12] = 0;
  j0[13] = 0;
  j0[14] = 0;
  j0[15] = 1; /* IV || 0^31 || 1 (96-bit IV) */
}

void ghcb_aes256_gcm_seal(const uint8_t key[GHCB_AES256_KEY_SIZE],
                          const uint8_t iv[GHCB_GCM_IV_SIZE], const uint8_t* aad, size_t aad_len,
                          const uint8_t* plaintext, size_t len, uint8_t* ciphertext,
                          uint8_t tag[GHCB_GCM_TAG_SIZE]) {
  struct ghcb_aes256 aes;
  uint8_t j0[16], icb[16];
  ghcb_aes256_init(&aes, key);
  make_j0(iv, j0);
  for (unsigned i = 0; i < 16; ++i) icb[i] = j0[i];
  inc32(icb);
  gctr(&aes, icb, plaintext, len, ciphertext);
  gcm_tag(&aes, j0, aad, aad_len, ciphertext, len, tag);
  ghcb_secure_zero(&aes, sizeof aes);
}

int ghcb_tag_equal(const uint8_t* a, const uint8_t* b, size_t n) {
  uint8_t diff = 0;
  for (size_t i = 0; i < n; ++i) diff = (uint8_t)(diff | (a[i] ^ b[i]));
  /* 1 iff diff == 0, without a branch on the secret-dependent value. */
  return (int)(1u & (((unsigned)diff - 1u) >> 8));
}

int ghcb_aes256_gcm_open(const uint8_t key[GHCB_AES256_KEY_SIZE],
                         const uint8_t iv[GHCB_GCM_IV_SIZE], const uint8_t* aad, size_t aad_len,
                         const uint8_t* ciphertext, size_t len,
                         const uint8_t tag[GHCB_GCM_TAG_SIZE], uint8_t* plaintext) {
  struct ghcb_aes256 aes;
  uint8_t j0[16], icb[16], want[16];
  ghcb_aes256_init(&aes, key);
  make_j0(iv, j0);
  gcm_tag(&aes, j0, aad, aad_len, ciphertext, len, want);
  const int ok = ghcb_tag_equal(want, tag, GHCB_GCM_TAG_SIZE);
  if (ok) { /* SP 800-38D 7.2: P is released only when the tag verifies */
    for (unsigned i = 0; i < 16; ++i) icb[i] = j0[i];
    inc32(icb);
    gctr(&aes, icb, ciphertext, len, plaintext);
  }
  ghcb_secure_zero(&aes, sizeof aes);
  return ok;
}

void ghcb_secure_zero(void* p, size_t n) {
  volatile uint8_t* b = (volatile uint8_t*)p;
  for (size_t i = 0; i < n; ++i) b[i] = 0;
}
