/* Fuzz target for pipelines/ingest/amf0: decode arbitrary bytes (one value, a value sequence,
 * a command, metadata); whatever decodes must re-encode to bytes that decode to an equal tree
 * and re-encode identically. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/amf0.h"
#include "base/errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void
check_round_trip(GPtrArray *vals)
{
  GByteArray *enc = g_byte_array_new();
  for (guint i = 0; i < vals->len; i++)
    lc_amf0_encode(vals->pdata[i], enc);
  GPtrArray *back = NULL;
  if (lc_amf0_decode_all(enc->data, enc->len, &back) != 0 || back->len != vals->len)
    abort();
  GByteArray *enc2 = g_byte_array_new();
  for (guint i = 0; i < vals->len; i++) {
    if (!lc_amf0_equal(vals->pdata[i], back->pdata[i]))
      abort();
    lc_amf0_encode(back->pdata[i], enc2);
  }
  if (enc->len != enc2->len || memcmp(enc->data, enc2->data, enc->len) != 0)
    abort();
  g_byte_array_unref(enc2);
  g_ptr_array_unref(back);
  g_byte_array_unref(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  lc_amf0 *v = NULL;
  size_t used = 0;
  int rc = lc_amf0_decode(d, n, &used, &v);
  if (rc == 0) {
    if (!v || used == 0 || used > n)
      abort();
    lc_amf0_free(v);
  } else if (v || (rc != LC_EINVAL && rc != LC_ELIMIT)) {
    abort();
  }

  GPtrArray *vals = NULL;
  rc = lc_amf0_decode_all(d, n, &vals);
  if (rc == 0) {
    check_round_trip(vals);
    g_ptr_array_unref(vals);
  } else if (vals) {
    abort();
  }

  lc_amf0_command *cmd = NULL;
  if (lc_amf0_command_parse(d, n, &cmd) == 0) {
    if (!cmd->name || strlen(cmd->name) >= n || !cmd->args)
      abort();
    (void)lc_amf0_command_arg(cmd, 0);
    lc_amf0_command_free(cmd);
  }
  lc_amf0_metadata md;
  (void)lc_amf0_metadata_parse(d, n, &md);
  return 0;
}
