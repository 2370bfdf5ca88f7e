/* Show-channel protocol v1 codec. See proto.h and docs/protocol.md. */
#include "signaling/proto.h"

#include <math.h>
#include <string.h>

#include "base/errors.h"
#include "base/show_limits.h"

static const char *const type_names[LC_MSG_TYPE_COUNT] = {
  [LC_MSG_HELLO] = "hello",
  [LC_MSG_PING] = "ping",
  [LC_MSG_LIKE] = "like",
  [LC_MSG_CART_ADD] = "cart.add",
  [LC_MSG_CART_SET] = "cart.set",
  [LC_MSG_CART_REMOVE] = "cart.remove",
  [LC_MSG_CHECKOUT] = "checkout",
  [LC_MSG_FLASH_BUY] = "flash.buy",
  [LC_MSG_COUPON_CLAIM] = "coupon.claim",
  [LC_MSG_ORDER_CANCEL] = "order.cancel",
  [LC_MSG_CHAT_SEND] = "chat.send",
  [LC_MSG_CART_QUOTE] = "cart.quote",
  [LC_MSG_GROUP_START] = "group.start",
  [LC_MSG_GROUP_JOIN] = "group.join",
  [LC_MSG_GIFT_SEND] = "gift.send",
  [LC_MSG_WALLET_TOPUP] = "wallet.topup",
};

const char *
lc_msg_type_name(lc_msg_type t)
{
  if ((int)t < 0 || t >= LC_MSG_TYPE_COUNT)
    return "unknown";
  return type_names[t];
}

void
lc_msg_clear(lc_msg *m)
{
  if (!m)
    return;
  g_free(m->op_id);
  g_free(m->room);
  g_free(m->token);
  g_free(m->resume_epoch);
  g_free(m->sku);
  for (guint i = 0; i < m->n_items; i++)
    g_free(m->items[i].sku);
  g_free(m->items);
  g_free(m->claim_id);
  g_free(m->sale_id);
  g_free(m->coupon_id);
  g_free(m->order_id);
  g_free(m->text);
  g_free(m->deal_id);
  g_free(m->team_id);
  g_free(m->gift_id);
  memset(m, 0, sizeof *m);
}

/* ---- validation helpers: each returns 0 or LC_EINVAL with *message set ---- */

typedef enum { ID_ROOM, ID_GENERIC } id_kind;

static gboolean
id_chars_ok(const char *s, size_t len, id_kind kind)
{
  if (len < 1 || len > LC_PROTO_MAX_ID)
    return FALSE;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (kind == ID_ROOM) {
      if (!(g_ascii_islower(c) || g_ascii_isdigit(c) || c == '_' || c == '-'))
        return FALSE;
    } else if (!(g_ascii_isalnum(c) || c == '_' || c == '.' || c == ':' || c == '-')) {
      return FALSE;
    }
  }
  return TRUE;
}

/* Reads the string id `key` of obj. required: missing or null is an error; otherwise
 * *out stays NULL. */
static int
get_id(const json_t *obj, const char *key, id_kind kind, gboolean required, char **out, char **message)
{
  const json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) {
    if (!required)
      return 0;
    *message = g_strdup_printf("%s: required", key);
    return LC_EINVAL;
  }
  if (!json_is_string(v) || !id_chars_ok(json_string_value(v), json_string_length(v), kind)) {
    *message = g_strdup_printf(kind == ID_ROOM ? "%s: must be a string of 1-64 characters [a-z0-9_-]"
                                               : "%s: must be a string of 1-64 characters [A-Za-z0-9_.:-]",
                               key);
    return LC_EINVAL;
  }
  *out = g_strdup(json_string_value(v));
  return 0;
}

/* Reads the integer `key` of obj into [min, max]; when absent (or null) and not
 * required, *out = dflt. */
static int
get_int(const json_t *obj, const char *key, gint64 min, gint64 max, gboolean required, gint64 dflt,
        gint64 *out, char **message)
{
  const json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) {
    if (!required) {
      *out = dflt;
      return 0;
    }
    *message = g_strdup_printf("%s: required", key);
    return LC_EINVAL;
  }
  if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
    if (max == G_MAXINT64)
      *message = g_strdup_printf("%s: must be an integer >= %" G_GINT64_FORMAT, key, min);
    else
      *message = g_strdup_printf("%s: must be an integer %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT, key,
                                 min, max);
    return LC_EINVAL;
  }
  *out = json_integer_value(v);
  return 0;
}

static int
get_small_int(const json_t *obj, const char *key, int min, int max, gboolean required, int dflt, int *out,
              char **message)
{
  gint64 v = 0;
  int rc = get_int(obj, key, min, max, required, dflt, &v, message);
  if (rc == 0)
    *out = (int)v;
  return rc;
}

/* Rejects keys of obj not in the NULL-terminated list allowed. */
static int
only_keys(const json_t *obj, const char *const *allowed, const char *where, char **message)
{
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    gboolean ok = FALSE;
    for (const char *const *a = allowed; *a; a++)
      if (strcmp(key, *a) == 0)
        ok = TRUE;
    if (!ok) {
      /* keys are valid UTF-8 (jansson checked); keep the message short */
      char *shown = g_utf8_substring(key, 0, MIN(g_utf8_strlen(key, -1), 32));
      *message = g_strdup_printf("%s: unknown field \"%s\"", where, shown);
      g_free(shown);
      return LC_EINVAL;
    }
  }
  return 0;
}

/* ---- per type ---- */

static int
decode_hello(const json_t *o, lc_msg *m, char **message)
{
  static const char *const keys[] = {"type", "v", "room", "token", "resume", NULL};
  static const char *const resume_keys[] = {"epoch", "seq", NULL};
  int rc;

  if ((rc = only_keys(o, keys, "hello", message)) != 0)
    return rc;
  const json_t *v = json_object_get(o, "v");
  if (!v) {
    *message = g_strdup("v: required");
    return LC_EINVAL;
  }
  if (!json_is_integer(v)) {
    *message = g_strdup("v: must be an integer");
    return LC_EINVAL;
  }
  m->v = json_integer_value(v);
  if ((rc = get_id(o, "room", ID_ROOM, TRUE, &m->room, message)) != 0)
    return rc;
  const json_t *token = json_object_get(o, "token");
  if (token && !json_is_null(token)) {
    if (!json_is_string(token) || json_string_length(token) < 1 ||
        json_string_length(token) > LC_PROTO_MAX_TOKEN) {
      *message = g_strdup("token: must be a string of 1-4096 bytes");
      return LC_EINVAL;
    }
    m->token = g_strdup(json_string_value(token));
  }
  const json_t *resume = json_object_get(o, "resume");
  if (resume && !json_is_null(resume)) {
    if (!json_is_object(resume)) {
      *message = g_strdup("resume: must be an object {epoch, seq}");
      return LC_EINVAL;
    }
    if ((rc = only_keys(resume, resume_keys, "resume", message)) != 0)
      return rc;
    if (!json_is_string(json_object_get(resume, "epoch")) ||
        !id_chars_ok(json_string_value(json_object_get(resume, "epoch")),
                     json_string_length(json_object_get(resume, "epoch")), ID_GENERIC)) {
      *message = g_strdup("resume.epoch: must be a string of 1-64 characters [A-Za-z0-9_.:-]");
      return LC_EINVAL;
    }
    const json_t *seq = json_object_get(resume, "seq");
    if (!json_is_integer(seq) || json_integer_value(seq) < 0) {
      *message = g_strdup("resume.seq: must be an integer >= 0");
      return LC_EINVAL;
    }
    m->has_resume = TRUE;
    m->resume_epoch = g_strdup(json_string_value(json_object_get(resume, "epoch")));
    m->resume_seq = json_integer_value(seq);
  }
  return 0;
}

static int
decode_ping(const json_t *o, lc_msg *m, char **message)
{
  const json_t *c = json_object_get(o, "c");
  if (!json_is_number(c)) {
    *message = g_strdup(c ? "c: must be a number (client time in ms)" : "c: required");
    return LC_EINVAL;
  }
  m->c = json_number_value(c);
  if (!isfinite(m->c)) {
    *message = g_strdup("c: must be a finite number");
    return LC_EINVAL;
  }
  return 0;
}

static int
decode_cart(const json_t *o, lc_msg *m, char **message)
{
  int rc = get_id(o, "sku", ID_GENERIC, TRUE, &m->sku, message);
  if (rc != 0)
    return rc;
  if (m->type == LC_MSG_CART_ADD)
    return get_small_int(o, "qty", 1, LC_SHOW_MAX_QTY, TRUE, 0, &m->qty, message);
  if (m->type == LC_MSG_CART_SET)
    return get_small_int(o, "qty", 0, LC_SHOW_MAX_QTY, TRUE, 0, &m->qty, message);
  return 0;
}

static int
decode_checkout(const json_t *o, lc_msg *m, char **message)
{
  int rc = get_id(o, "claim_id", ID_GENERIC, FALSE, &m->claim_id, message);
  if (rc != 0)
    return rc;
  const json_t *items = json_object_get(o, "items");
  if (!items || json_is_null(items))
    return 0;
  if (!json_is_array(items) || json_array_size(items) < 1 || json_array_size(items) > LC_PROTO_MAX_ITEMS) {
    *message = g_strdup_printf("items: must be an array of 1-%d {sku, qty}", LC_PROTO_MAX_ITEMS);
    return LC_EINVAL;
  }
  size_t n = json_array_size(items);
  m->items = g_new0(lc_msg_item, n);
  for (size_t i = 0; i < n; i++) {
    const json_t *it = json_array_get(items, i);
    if (!json_is_object(it)) {
      *message = g_strdup_printf("items[%zu]: must be an object {sku, qty}", i);
      return LC_EINVAL;
    }
    char *sku = NULL;
    if ((rc = get_id(it, "sku", ID_GENERIC, TRUE, &sku, message)) != 0) {
      char *tmp = *message;
      *message = g_strdup_printf("items[%zu].%s", i, tmp);
      g_free(tmp);
      return rc;
    }
    m->items[i].sku = sku;
    m->n_items = (guint)(i + 1); /* so lc_msg_clear frees what is filled */
    if ((rc = get_small_int(it, "qty", 1, LC_SHOW_MAX_QTY, TRUE, 0, &m->items[i].qty, message)) != 0) {
      char *tmp = *message;
      *message = g_strdup_printf("items[%zu].%s", i, tmp);
      g_free(tmp);
      return rc;
    }
    for (size_t j = 0; j < i; j++) {
      if (strcmp(m->items[j].sku, sku) == 0) {
        *message = g_strdup_printf("items[%zu].sku: duplicate sku \"%s\"", i, sku);
        return LC_EINVAL;
      }
    }
  }
  return 0;
}

/* Chat text: valid UTF-8 (jansson checked it) without C0, DEL or C1 controls. */
static gboolean
chat_text_ok(const char *s, size_t len)
{
  if (len < 1 || len > LC_PROTO_MAX_CHAT || !g_utf8_validate(s, (gssize)len, NULL))
    return FALSE;
  for (const char *p = s; p < s + len; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
      return FALSE;
  }
  return TRUE;
}

static int
decode_chat(const json_t *o, lc_msg *m, char **message)
{
  const json_t *t = json_object_get(o, "text");
  if (!t) {
    *message = g_strdup("text: required");
    return LC_EINVAL;
  }
  if (!json_is_string(t) || !chat_text_ok(json_string_value(t), json_string_length(t))) {
    *message = g_strdup_printf("text: must be a string of 1-%d bytes without control characters", LC_PROTO_MAX_CHAT);
    return LC_EINVAL;
  }
  m->text = g_strdup(json_string_value(t));
  return 0;
}

static int
decode_fields(const json_t *o, lc_msg *m, char **message)
{
  switch (m->type) {
  case LC_MSG_HELLO:
    return decode_hello(o, m, message);
  case LC_MSG_PING:
    return decode_ping(o, m, message);
  case LC_MSG_LIKE:
    return get_small_int(o, "count", 1, LC_SHOW_MAX_LIKES, FALSE, 1, &m->count, message);
  case LC_MSG_CART_ADD:
  case LC_MSG_CART_SET:
  case LC_MSG_CART_REMOVE:
    return decode_cart(o, m, message);
  case LC_MSG_CHECKOUT:
  case LC_MSG_CART_QUOTE:
    return decode_checkout(o, m, message);
  case LC_MSG_FLASH_BUY: {
    int rc = get_id(o, "sale_id", ID_GENERIC, TRUE, &m->sale_id, message);
    return rc != 0 ? rc : get_small_int(o, "qty", 1, LC_SHOW_MAX_QTY, TRUE, 0, &m->qty, message);
  }
  case LC_MSG_COUPON_CLAIM:
    return get_id(o, "coupon_id", ID_GENERIC, TRUE, &m->coupon_id, message);
  case LC_MSG_ORDER_CANCEL:
    return get_id(o, "order_id", ID_GENERIC, TRUE, &m->order_id, message);
  case LC_MSG_CHAT_SEND:
    return decode_chat(o, m, message);
  case LC_MSG_GROUP_START:
  case LC_MSG_GROUP_JOIN: {
    int rc = m->type == LC_MSG_GROUP_START ? get_id(o, "deal_id", ID_GENERIC, TRUE, &m->deal_id, message)
                                           : get_id(o, "team_id", ID_GENERIC, TRUE, &m->team_id, message);
    return rc != 0 ? rc : get_id(o, "claim_id", ID_GENERIC, FALSE, &m->claim_id, message);
  }
  case LC_MSG_GIFT_SEND: {
    int rc = get_id(o, "gift_id", ID_GENERIC, TRUE, &m->gift_id, message);
    return rc != 0 ? rc : get_small_int(o, "count", 1, LC_PROTO_MAX_GIFT_COUNT, FALSE, 1, &m->count, message);
  }
  case LC_MSG_WALLET_TOPUP:
    return get_int(o, "coins", 1, LC_PROTO_MAX_TOPUP_COINS, TRUE, 0, &m->coins, message);
  case LC_MSG_TYPE_COUNT:
  default:
    break;
  }
  *message = g_strdup("type: unknown");
  return LC_EINVAL;
}

static gboolean
type_has_op_id(lc_msg_type t)
{
  return t != LC_MSG_HELLO && t != LC_MSG_PING && t != LC_MSG_LIKE;
}

int
lc_proto_decode(const char *data, size_t len, lc_msg *out, const char **code, char **message)
{
  json_t *root = NULL;
  json_error_t jerr;
  int rc = LC_EINVAL;

  memset(out, 0, sizeof *out);
  *code = NULL;
  *message = NULL;
  if (len > LC_PROTO_MAX_BYTES) {
    *code = "too_large";
    *message = g_strdup_printf("message larger than %d bytes", LC_PROTO_MAX_BYTES);
    rc = LC_ETOOBIG;
    goto fail;
  }
  *code = "bad_message";
  if (!data || memchr(data, 0, len)) {
    *message = g_strdup("message contains a NUL byte");
    goto fail;
  }
  root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
  if (!root) {
    /* jansson's text is ASCII plus possibly a bit of the input: make it safe UTF-8 */
    char *safe = g_utf8_make_valid(jerr.text, -1);
    *message = g_strdup_printf("invalid JSON at line %d column %d: %s", jerr.line, jerr.column, safe);
    g_free(safe);
    goto fail;
  }
  if (!json_is_object(root)) {
    *message = g_strdup("message must be a JSON object");
    goto fail;
  }

  /* op_id first, so that every later error can still be correlated. */
  const json_t *op = json_object_get(root, "op_id");
  char *op_id = NULL;
  char *op_msg = NULL;
  int op_rc = op && !json_is_null(op) ? get_id(root, "op_id", ID_GENERIC, FALSE, &op_id, &op_msg) : 0;
  out->op_id = op_id;

  const json_t *type = json_object_get(root, "type");
  if (!type) {
    *message = g_strdup("type: required");
    g_free(op_msg);
    goto fail;
  }
  if (!json_is_string(type)) {
    *message = g_strdup("type: must be a string");
    g_free(op_msg);
    goto fail;
  }
  out->type = LC_MSG_TYPE_COUNT;
  for (int i = 0; i < LC_MSG_TYPE_COUNT; i++)
    if (strcmp(json_string_value(type), type_names[i]) == 0 && json_string_length(type) == strlen(type_names[i]))
      out->type = (lc_msg_type)i;
  if (out->type == LC_MSG_TYPE_COUNT) {
    char *shown = g_utf8_substring(json_string_value(type), 0,
                                   MIN(g_utf8_strlen(json_string_value(type), -1), 32));
    *code = "unknown_type";
    *message = g_strdup_printf("type: unknown message type \"%s\"", shown);
    g_free(shown);
    g_free(op_msg);
    goto fail;
  }

  if (type_has_op_id(out->type)) {
    if (op_rc != 0) {
      *message = op_msg;
      goto fail;
    }
    if (!out->op_id) {
      *message = g_strdup("op_id: required");
      goto fail;
    }
  } else {
    /* hello, ping and like take no op_id: ignore one (hello rejects it as unknown) */
    g_free(op_msg);
    g_clear_pointer(&out->op_id, g_free);
  }
  if ((rc = decode_fields(root, out, message)) != 0)
    goto fail;

  json_decref(root);
  *code = NULL;
  return 0;
fail:
  if (rc == 0)
    rc = LC_EINVAL;
  json_decref(root);
  /* keep only the op_id */
  char *keep = g_steal_pointer(&out->op_id);
  lc_msg_clear(out);
  out->op_id = keep;
  return rc;
}

/* ---- encoders ---- */

static json_t *
str_or_null(const char *s)
{
  if (!s)
    return json_null();
  if (g_utf8_validate(s, -1, NULL))
    return json_string(s);
  char *fixed = g_utf8_make_valid(s, -1);
  json_t *v = json_string(fixed);
  g_free(fixed);
  return v;
}

static json_t *
borrowed_or_empty(const json_t *v)
{
  return v ? json_incref((json_t *)v) : json_object();
}

static int
dump_cb(const char *buf, size_t size, void *data)
{
  g_string_append_len(data, buf, (gssize)size);
  return 0;
}

/* Serializes and releases obj. */
static char *
finish(json_t *obj)
{
  GString *s = g_string_sized_new(128);
  int rc = json_dump_callback(obj, dump_cb, s, JSON_COMPACT);
  json_decref(obj);
  g_assert(rc == 0); /* only fails on OOM, which aborts */
  return g_string_free(s, FALSE);
}

static json_t *
base(const char *type, gint64 now_ms)
{
  json_t *o = json_object();
  json_object_set_new(o, "type", json_string(type));
  json_object_set_new(o, "t", json_integer(now_ms));
  return o;
}

static json_t *
error_obj(const char *code, const char *message)
{
  json_t *e = json_object();
  json_object_set_new(e, "code", str_or_null(code ? code : "internal_error"));
  json_object_set_new(e, "message", str_or_null(message ? message : ""));
  return e;
}

char *
lc_proto_welcome(gint64 now_ms, const char *room, const char *epoch, gint64 seq, const json_t *user_or_null,
                 gboolean resumed)
{
  json_t *o = json_object();
  json_object_set_new(o, "type", json_string("welcome"));
  json_object_set_new(o, "v", json_integer(LC_PROTO_VERSION));
  json_object_set_new(o, "t", json_integer(now_ms));
  json_object_set_new(o, "room", str_or_null(room));
  json_object_set_new(o, "epoch", str_or_null(epoch));
  json_object_set_new(o, "seq", json_integer(seq));
  json_object_set_new(o, "user", user_or_null ? json_incref((json_t *)user_or_null) : json_null());
  json_object_set_new(o, "resumed", json_boolean(resumed));
  return finish(o);
}

char *
lc_proto_snapshot(gint64 now_ms, const char *epoch, gint64 seq, const json_t *state)
{
  json_t *o = base("snapshot", now_ms);
  json_object_set_new(o, "epoch", str_or_null(epoch));
  json_object_set_new(o, "seq", json_integer(seq));
  json_object_set_new(o, "state", borrowed_or_empty(state));
  return finish(o);
}

char *
lc_proto_event(gint64 now_ms, const char *epoch, gint64 seq, const char *name, const json_t *data)
{
  json_t *o = base("event", now_ms);
  json_object_set_new(o, "epoch", str_or_null(epoch));
  json_object_set_new(o, "seq", json_integer(seq));
  json_object_set_new(o, "name", str_or_null(name));
  json_object_set_new(o, "data", borrowed_or_empty(data));
  return finish(o);
}

char *
lc_proto_private(gint64 now_ms, const char *name, const json_t *data)
{
  json_t *o = base("private", now_ms);
  json_object_set_new(o, "name", str_or_null(name));
  json_object_set_new(o, "data", borrowed_or_empty(data));
  return finish(o);
}

char *
lc_proto_reply_ok(gint64 now_ms, const char *op_id, const json_t *result)
{
  json_t *o = base("reply", now_ms);
  json_object_set_new(o, "op_id", str_or_null(op_id));
  json_object_set_new(o, "ok", json_true());
  json_object_set_new(o, "result", borrowed_or_empty(result));
  return finish(o);
}

char *
lc_proto_reply_error(gint64 now_ms, const char *op_id, const char *code, const char *message)
{
  json_t *o = base("reply", now_ms);
  json_object_set_new(o, "op_id", str_or_null(op_id));
  json_object_set_new(o, "ok", json_false());
  json_object_set_new(o, "error", error_obj(code, message));
  return finish(o);
}

char *
lc_proto_pong(gint64 now_ms, double client_ms)
{
  json_t *o = base("pong", now_ms);
  json_t *c;
  if (!isfinite(client_ms))
    c = json_null();
  else if (client_ms >= -9007199254740992.0 && client_ms <= 9007199254740992.0 &&
           (double)(json_int_t)client_ms == client_ms)
    c = json_integer((json_int_t)client_ms);
  else
    c = json_real(client_ms);
  json_object_set_new(o, "c", c);
  return finish(o);
}

char *
lc_proto_error(gint64 now_ms, const char *code, const char *message)
{
  json_t *o = base("error", now_ms);
  json_object_set_new(o, "error", error_obj(code, message));
  return finish(o);
}
