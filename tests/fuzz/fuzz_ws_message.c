/* Fuzz target for signaling/proto: decode arbitrary bytes; a decoded message's op_id
 * re-encoded in a reply must parse back; an error must carry a known code and a
 * valid UTF-8 message that encodes to valid JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signaling/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void
check_reply(char *text, const char *op_id)
{
  json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
  if (!v || !json_is_object(v))
    abort();
  const json_t *op = json_object_get(v, "op_id");
  if (op_id ? g_strcmp0(json_string_value(op), op_id) != 0 : !json_is_null(op))
    abort();
  json_decref(v);
  g_free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  lc_msg m;
  const char *code = NULL;
  char *message = NULL;
  int rc = lc_proto_decode((const char *)d, n, &m, &code, &message);
  if (rc == 0) {
    if (code || message || (int)m.type < 0 || m.type >= LC_MSG_TYPE_COUNT)
      abort();
    if (strcmp(lc_msg_type_name(m.type), "unknown") == 0)
      abort();
    if (m.type == LC_MSG_CHECKOUT && (m.items == NULL) != (m.n_items == 0))
      abort();
    check_reply(lc_proto_reply_ok(1, m.op_id, NULL), m.op_id);
  } else {
    if (!code || !message || !g_utf8_validate(message, -1, NULL))
      abort();
    if (strcmp(code, "bad_message") != 0 && strcmp(code, "unknown_type") != 0 && strcmp(code, "too_large") != 0)
      abort();
    check_reply(lc_proto_reply_error(1, m.op_id, code, message), m.op_id);
    g_free(message);
  }
  lc_msg_clear(&m);
  return 0;
}
