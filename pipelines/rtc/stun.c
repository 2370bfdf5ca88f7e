/* STUN parse / build and RFC 7983 demux. See stun.h. */
#include "rtc/stun.h"
#include "base/bytes.h"

#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <string.h>

#include "base/errors.h"

#define MI_LEN 20 /* HMAC-SHA1 */
#define MI_ATTR_LEN (4 + MI_LEN)
#define FP_ATTR_LEN 8
#define PAD_BYTE 0x20 /* padding content is ignored by receivers; RFC 5769 uses spaces */
#define MAX_SOFTWARE 128
#define MAX_REASON 128

/* CRC-32, reflected polynomial 0xEDB88320 (ISO-HDLC, as zlib and RFC 8489 use). */
static const uint32_t crc_table[256] = {
  0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
  0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
  0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
  0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
  0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
  0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
  0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
  0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
  0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
  0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
  0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
  0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
  0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
  0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
  0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
  0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
  0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
  0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
  0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
  0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
  0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
  0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
  0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
  0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
  0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
  0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
  0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
  0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
  0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
  0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
  0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
  0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
  0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
  0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
  0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
  0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
  0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
  0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
  0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
  0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
  0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
  0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
  0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t
lc_stun_crc32(const uint8_t *buf, size_t len)
{
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < len; i++)
    c = crc_table[(c ^ buf[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

lc_demux_kind
lc_stun_demux(const uint8_t *buf, size_t len)
{
  if (len == 0)
    return LC_DEMUX_UNKNOWN;
  uint8_t b = buf[0];
  if (b <= 3)
    return LC_DEMUX_STUN;
  if (b >= 20 && b <= 63)
    return LC_DEMUX_DTLS;
  if (b >= 128 && b <= 191) {
    if (len < 2)
      return LC_DEMUX_UNKNOWN;
    return (buf[1] >= 192 && buf[1] <= 223) ? LC_DEMUX_RTCP : LC_DEMUX_RTP;
  }
  return LC_DEMUX_UNKNOWN;
}

/* Decodes an XOR-MAPPED-ADDRESS value. */
static int
parse_xor_address(const uint8_t *v, size_t len, const uint8_t *header, lc_stun_addr *out)
{
  if (len < 4)
    return LC_EINVAL;
  uint8_t family = v[1];
  out->port = lc_rd16(v + 2) ^ (uint16_t)(LC_STUN_MAGIC_COOKIE >> 16);
  if (family == 0x01 && len == 8) {
    out->family = AF_INET;
    for (int i = 0; i < 4; i++)
      out->addr[i] = v[4 + i] ^ header[4 + i];
    return 0;
  }
  if (family == 0x02 && len == 20) {
    out->family = AF_INET6;
    for (int i = 0; i < 16; i++)
      out->addr[i] = v[4 + i] ^ header[4 + i]; /* cookie then transaction id */
    return 0;
  }
  return LC_EINVAL;
}

/* Applies one attribute seen before MESSAGE-INTEGRITY. */
static int
parse_attr(lc_stun_msg *m, uint16_t type, const uint8_t *v, size_t len)
{
  switch (type) {
  case LC_STUN_ATTR_USERNAME:
    if (len == 0 || len >= LC_STUN_MAX_USERNAME)
      return LC_EINVAL;
    m->username = v;
    m->username_len = len;
    return 0;
  case LC_STUN_ATTR_PRIORITY:
    if (len != 4)
      return LC_EINVAL;
    m->has_priority = true;
    m->priority = lc_rd32(v);
    return 0;
  case LC_STUN_ATTR_ICE_CONTROLLING:
  case LC_STUN_ATTR_ICE_CONTROLLED:
    if (len != 8)
      return LC_EINVAL;
    if (type == LC_STUN_ATTR_ICE_CONTROLLING)
      m->ice_controlling = true;
    else
      m->ice_controlled = true;
    m->tiebreaker = ((uint64_t)lc_rd32(v) << 32) | lc_rd32(v + 4);
    return 0;
  case LC_STUN_ATTR_USE_CANDIDATE:
    if (len != 0)
      return LC_EINVAL;
    m->use_candidate = true;
    return 0;
  case LC_STUN_ATTR_ERROR_CODE:
    if (len < 4 || (v[2] & 0x07) < 3 || (v[2] & 0x07) > 6 || v[3] > 99)
      return LC_EINVAL;
    m->has_error_code = true;
    m->error_code = (uint16_t)((v[2] & 0x07) * 100 + v[3]);
    return 0;
  case LC_STUN_ATTR_XOR_MAPPED_ADDRESS:
    return parse_xor_address(v, len, m->msg, &m->xor_mapped);
  case LC_STUN_ATTR_MAPPED_ADDRESS:
  case LC_STUN_ATTR_SOFTWARE:
    return 0;
  default:
    if (type < 0x8000 && m->unknown_required == 0)
      m->unknown_required = type;
    return 0;
  }
}

int
lc_stun_parse(const uint8_t *buf, size_t len, lc_stun_msg *out)
{
  memset(out, 0, sizeof(*out));
  if (len < LC_STUN_HEADER_LEN || (buf[0] & 0xC0) != 0)
    return LC_EINVAL;
  size_t body = lc_rd16(buf + 2);
  if ((body & 3) != 0 || body + LC_STUN_HEADER_LEN != len || lc_rd32(buf + 4) != LC_STUN_MAGIC_COOKIE)
    return LC_EINVAL;
  out->msg = buf;
  out->msg_len = len;
  out->type = lc_rd16(buf);
  memcpy(out->tid, buf + 8, LC_STUN_TID_LEN);

  size_t off = LC_STUN_HEADER_LEN;
  bool after_integrity = false;
  while (off < len) {
    if (len - off < 4)
      return LC_EINVAL;
    uint16_t type = lc_rd16(buf + off);
    size_t alen = lc_rd16(buf + off + 2);
    size_t padded = (alen + 3) & ~(size_t)3;
    if (padded > len - off - 4)
      return LC_EINVAL;
    const uint8_t *v = buf + off + 4;
    if (type == LC_STUN_ATTR_FINGERPRINT) {
      if (alen != 4 || off + FP_ATTR_LEN != len)
        return LC_EINVAL; /* must be the last attribute */
      uint32_t want = lc_stun_crc32(buf, off) ^ LC_STUN_FINGERPRINT_XOR;
      if (lc_rd32(v) != want)
        return LC_EINVAL;
      out->has_fingerprint = true;
    } else if (after_integrity) {
      /* ignored (RFC 8489 14.5) */
    } else if (type == LC_STUN_ATTR_MESSAGE_INTEGRITY) {
      if (alen != MI_LEN)
        return LC_EINVAL;
      out->has_integrity = true;
      out->integrity_offset = off;
      after_integrity = true;
    } else {
      int rc = parse_attr(out, type, v, alen);
      if (rc != 0)
        return rc;
    }
    off += 4 + padded;
  }
  return 0;
}

/* HMAC-SHA1 of msg[0..upto) with the header length replaced by length_field. */
static int
compute_mi(const uint8_t *msg, size_t upto, uint16_t length_field, const uint8_t *key, size_t key_len,
           uint8_t mac[MI_LEN])
{
  int rc = LC_EIO;
  uint8_t head[4];
  size_t mac_len = 0;
  EVP_MAC *hmac = NULL;
  EVP_MAC_CTX *ctx = NULL;
  OSSL_PARAM params[2];

  memcpy(head, msg, 2);
  lc_wr16(head + 2, length_field);
  hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (!hmac)
    goto fail;
  ctx = EVP_MAC_CTX_new(hmac);
  if (!ctx)
    goto fail;
  params[0] = OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA1", 0);
  params[1] = OSSL_PARAM_construct_end();
  /* an empty key still needs a non-NULL pointer */
  if (EVP_MAC_init(ctx, key_len ? key : (const uint8_t *)"", key_len, params) != 1)
    goto fail;
  if (EVP_MAC_update(ctx, head, 4) != 1 || EVP_MAC_update(ctx, msg + 4, upto - 4) != 1)
    goto fail;
  if (EVP_MAC_final(ctx, mac, &mac_len, MI_LEN) != 1 || mac_len != MI_LEN)
    goto fail;
  rc = 0;
fail:
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(hmac);
  return rc;
}

int
lc_stun_check_integrity(const lc_stun_msg *m, const uint8_t *key, size_t key_len)
{
  if (!m->has_integrity)
    return LC_ENOENT;
  uint8_t mac[MI_LEN];
  size_t off = m->integrity_offset;
  uint16_t adjusted = (uint16_t)(off + MI_ATTR_LEN - LC_STUN_HEADER_LEN);
  int rc = compute_mi(m->msg, off, adjusted, key, key_len, mac);
  if (rc != 0)
    return rc;
  if (CRYPTO_memcmp(mac, m->msg + off + 4, MI_LEN) != 0)
    return LC_EPERM;
  return 0;
}

bool
lc_stun_username_matches(const lc_stun_msg *m, const char *local_ufrag)
{
  size_t n = strlen(local_ufrag);
  if (!m->username || n == 0 || m->username_len <= n)
    return false;
  return memcmp(m->username, local_ufrag, n) == 0 && m->username[n] == ':';
}

/* A tiny bounded writer over the caller's buffer. */
typedef struct {
  uint8_t *buf;
  size_t cap;
  size_t len;
  bool overflow;
} writer;

static uint8_t *
w_reserve(writer *w, size_t n)
{
  if (w->overflow || n > w->cap - w->len) {
    w->overflow = true;
    return NULL;
  }
  uint8_t *p = w->buf + w->len;
  w->len += n;
  return p;
}

static void
w_attr(writer *w, uint16_t type, const void *value, size_t len)
{
  size_t padded = (len + 3) & ~(size_t)3;
  uint8_t *p = w_reserve(w, 4 + padded);
  if (!p)
    return;
  lc_wr16(p, type);
  lc_wr16(p + 2, (uint16_t)len);
  if (len)
    memcpy(p + 4, value, len);
  memset(p + 4 + len, PAD_BYTE, padded - len);
}

static void
w_header(writer *w, uint16_t type, const uint8_t tid[LC_STUN_TID_LEN])
{
  uint8_t *p = w_reserve(w, LC_STUN_HEADER_LEN);
  if (!p)
    return;
  lc_wr16(p, type);
  lc_wr16(p + 2, 0);
  lc_wr32(p + 4, LC_STUN_MAGIC_COOKIE);
  memcpy(p + 8, tid, LC_STUN_TID_LEN);
}

/* Appends MESSAGE-INTEGRITY (when key) and FINGERPRINT, fixing the length field each
 * time. Returns 0, LC_ETOOBIG or LC_EIO. */
static int
w_finish(writer *w, const uint8_t *key, size_t key_len, size_t *out_len)
{
  if (w->overflow)
    return LC_ETOOBIG;
  if (key) {
    size_t off = w->len;
    uint8_t *p = w_reserve(w, MI_ATTR_LEN);
    if (!p)
      return LC_ETOOBIG;
    uint16_t body = (uint16_t)(w->len - LC_STUN_HEADER_LEN);
    lc_wr16(w->buf + 2, body);
    lc_wr16(p, LC_STUN_ATTR_MESSAGE_INTEGRITY);
    lc_wr16(p + 2, MI_LEN);
    int rc = compute_mi(w->buf, off, body, key, key_len, p + 4);
    if (rc != 0)
      return rc;
  }
  size_t off = w->len;
  uint8_t *p = w_reserve(w, FP_ATTR_LEN);
  if (!p)
    return LC_ETOOBIG;
  lc_wr16(w->buf + 2, (uint16_t)(w->len - LC_STUN_HEADER_LEN));
  lc_wr16(p, LC_STUN_ATTR_FINGERPRINT);
  lc_wr16(p + 2, 4);
  lc_wr32(p + 4, lc_stun_crc32(w->buf, off) ^ LC_STUN_FINGERPRINT_XOR);
  *out_len = w->len;
  return 0;
}

int
lc_stun_build_binding_success(uint8_t *out, size_t cap, const uint8_t tid[LC_STUN_TID_LEN],
                              const struct sockaddr *mapped, const char *software, const uint8_t *key,
                              size_t key_len, size_t *out_len)
{
  writer w = {out, cap, 0, false};
  uint8_t xa[20];
  size_t xa_len;

  *out_len = 0;
  if (!mapped || (software && strlen(software) > MAX_SOFTWARE))
    return LC_EINVAL;
  w_header(&w, LC_STUN_BINDING_SUCCESS, tid);
  if (w.overflow)
    return LC_ETOOBIG;
  uint8_t xorkey[16];
  lc_wr32(xorkey, LC_STUN_MAGIC_COOKIE);
  memcpy(xorkey + 4, tid, LC_STUN_TID_LEN);
  xa[0] = 0;
  if (mapped->sa_family == AF_INET) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)mapped;
    const uint8_t *a = (const uint8_t *)&sin->sin_addr;
    xa[1] = 0x01;
    lc_wr16(xa + 2, ntohs(sin->sin_port) ^ (uint16_t)(LC_STUN_MAGIC_COOKIE >> 16));
    for (int i = 0; i < 4; i++)
      xa[4 + i] = a[i] ^ xorkey[i];
    xa_len = 8;
  } else if (mapped->sa_family == AF_INET6) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)mapped;
    const uint8_t *a = (const uint8_t *)&sin6->sin6_addr;
    xa[1] = 0x02;
    lc_wr16(xa + 2, ntohs(sin6->sin6_port) ^ (uint16_t)(LC_STUN_MAGIC_COOKIE >> 16));
    for (int i = 0; i < 16; i++)
      xa[4 + i] = a[i] ^ xorkey[i];
    xa_len = 20;
  } else {
    return LC_EINVAL;
  }
  if (software)
    w_attr(&w, LC_STUN_ATTR_SOFTWARE, software, strlen(software));
  w_attr(&w, LC_STUN_ATTR_XOR_MAPPED_ADDRESS, xa, xa_len);
  return w_finish(&w, key, key_len, out_len);
}

static const char *
default_reason(int code)
{
  switch (code) {
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 420:
    return "Unknown Attribute";
  case 487:
    return "Role Conflict";
  case 500:
    return "Server Error";
  default:
    return "Error";
  }
}

int
lc_stun_build_error(uint8_t *out, size_t cap, const uint8_t tid[LC_STUN_TID_LEN], int code, const char *reason,
                    const uint8_t *key, size_t key_len, size_t *out_len)
{
  writer w = {out, cap, 0, false};
  uint8_t ec[4 + MAX_REASON];

  *out_len = 0;
  if (code < 300 || code > 699)
    return LC_EINVAL;
  if (!reason)
    reason = default_reason(code);
  size_t rlen = strlen(reason);
  if (rlen > MAX_REASON)
    return LC_EINVAL;
  ec[0] = 0;
  ec[1] = 0;
  ec[2] = (uint8_t)(code / 100);
  ec[3] = (uint8_t)(code % 100);
  memcpy(ec + 4, reason, rlen);
  w_header(&w, LC_STUN_BINDING_ERROR, tid);
  w_attr(&w, LC_STUN_ATTR_ERROR_CODE, ec, 4 + rlen);
  return w_finish(&w, key, key_len, out_len);
}

int
lc_stun_build_request(uint8_t *out, size_t cap, const uint8_t tid[LC_STUN_TID_LEN], const lc_stun_request *req,
                      size_t *out_len)
{
  writer w = {out, cap, 0, false};
  uint8_t v[8];

  *out_len = 0;
  if (!req->username || req->username[0] == '\0' || strlen(req->username) >= LC_STUN_MAX_USERNAME)
    return LC_EINVAL;
  if (req->software && strlen(req->software) > MAX_SOFTWARE)
    return LC_EINVAL;
  w_header(&w, LC_STUN_BINDING_REQUEST, tid);
  if (req->software)
    w_attr(&w, LC_STUN_ATTR_SOFTWARE, req->software, strlen(req->software));
  lc_wr32(v, req->priority);
  w_attr(&w, LC_STUN_ATTR_PRIORITY, v, 4);
  lc_wr32(v, (uint32_t)(req->tiebreaker >> 32));
  lc_wr32(v + 4, (uint32_t)req->tiebreaker);
  w_attr(&w, req->controlling ? LC_STUN_ATTR_ICE_CONTROLLING : LC_STUN_ATTR_ICE_CONTROLLED, v, 8);
  if (req->use_candidate)
    w_attr(&w, LC_STUN_ATTR_USE_CANDIDATE, NULL, 0);
  w_attr(&w, LC_STUN_ATTR_USERNAME, req->username, strlen(req->username));
  return w_finish(&w, req->key, req->key_len, out_len);
}
