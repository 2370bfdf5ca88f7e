/* AMF0 values, codec and RTMP command helpers: see amf0.h. */
#include "ingest/amf0.h"

#include <math.h>
#include <string.h>

#include "base/errors.h"

typedef struct {
  char *key; /* NUL-terminated copy; NULL in strict arrays */
  size_t klen;
  lc_amf0 *val;
} entry;

struct lc_amf0 {
  lc_amf0_type type;
  bool boolean;
  bool long_marker; /* string decoded from a long-string marker */
  int16_t tz;
  double num;
  char *str; /* NUL-terminated copy */
  size_t slen;
  entry *items;
  size_t n, cap;
};

/* ---- values ---- */

static lc_amf0 *
new_value(lc_amf0_type type)
{
  lc_amf0 *v = g_new0(lc_amf0, 1);
  v->type = type;
  return v;
}

lc_amf0 *
lc_amf0_new_number(double v)
{
  lc_amf0 *a = new_value(LC_AMF0_NUMBER);
  a->num = v;
  return a;
}

lc_amf0 *
lc_amf0_new_boolean(bool v)
{
  lc_amf0 *a = new_value(LC_AMF0_BOOLEAN);
  a->boolean = v;
  return a;
}

lc_amf0 *
lc_amf0_new_string(const char *s, gssize len)
{
  lc_amf0 *a = new_value(LC_AMF0_STRING);
  a->slen = len < 0 ? strlen(s) : (size_t)len;
  a->str = g_malloc(a->slen + 1);
  if (a->slen)
    memcpy(a->str, s, a->slen);
  a->str[a->slen] = '\0';
  return a;
}

lc_amf0 *
lc_amf0_new_null(void)
{
  return new_value(LC_AMF0_NULL);
}

lc_amf0 *
lc_amf0_new_undefined(void)
{
  return new_value(LC_AMF0_UNDEFINED);
}

lc_amf0 *
lc_amf0_new_object(void)
{
  return new_value(LC_AMF0_OBJECT);
}

lc_amf0 *
lc_amf0_new_ecma_array(void)
{
  return new_value(LC_AMF0_ECMA_ARRAY);
}

lc_amf0 *
lc_amf0_new_strict_array(void)
{
  return new_value(LC_AMF0_STRICT_ARRAY);
}

lc_amf0 *
lc_amf0_new_date(double ms, int16_t tz)
{
  lc_amf0 *a = new_value(LC_AMF0_DATE);
  a->num = ms;
  a->tz = tz;
  return a;
}

static bool
is_keyed(const lc_amf0 *v)
{
  return v && (v->type == LC_AMF0_OBJECT || v->type == LC_AMF0_ECMA_ARRAY);
}

static void
push(lc_amf0 *c, char *key, size_t klen, lc_amf0 *val)
{
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 4;
    c->items = g_renew(entry, c->items, c->cap);
  }
  c->items[c->n++] = (entry){key, klen, val};
}

int
lc_amf0_set(lc_amf0 *obj, const char *key, lc_amf0 *value)
{
  size_t klen = strlen(key);
  if (!is_keyed(obj) || klen > 0xFFFF) {
    lc_amf0_free(value);
    return LC_EINVAL;
  }
  push(obj, g_strndup(key, klen), klen, value);
  return 0;
}

int
lc_amf0_append(lc_amf0 *arr, lc_amf0 *value)
{
  if (!arr || arr->type != LC_AMF0_STRICT_ARRAY) {
    lc_amf0_free(value);
    return LC_EINVAL;
  }
  push(arr, NULL, 0, value);
  return 0;
}

void
lc_amf0_free(lc_amf0 *v)
{
  if (!v)
    return;
  for (size_t i = 0; i < v->n; i++) {
    g_free(v->items[i].key);
    lc_amf0_free(v->items[i].val);
  }
  g_free(v->items);
  g_free(v->str);
  g_free(v);
}

lc_amf0_type
lc_amf0_get_type(const lc_amf0 *v)
{
  return v ? v->type : LC_AMF0_UNDEFINED;
}

double
lc_amf0_number(const lc_amf0 *v)
{
  return v && (v->type == LC_AMF0_NUMBER || v->type == LC_AMF0_DATE) ? v->num : 0;
}

bool
lc_amf0_boolean(const lc_amf0 *v)
{
  return v && v->type == LC_AMF0_BOOLEAN && v->boolean;
}

const char *
lc_amf0_string(const lc_amf0 *v, size_t *len)
{
  if (!v || v->type != LC_AMF0_STRING)
    return NULL;
  if (len)
    *len = v->slen;
  return v->str;
}

const char *
lc_amf0_cstr(const lc_amf0 *v)
{
  size_t len = 0;
  const char *s = lc_amf0_string(v, &len);
  return s && strlen(s) == len ? s : NULL;
}

int16_t
lc_amf0_date_tz(const lc_amf0 *v)
{
  return v && v->type == LC_AMF0_DATE ? v->tz : 0;
}

size_t
lc_amf0_count(const lc_amf0 *v)
{
  return v ? v->n : 0;
}

const char *
lc_amf0_key_at(const lc_amf0 *v, size_t i, size_t *klen)
{
  if (!is_keyed(v) || i >= v->n)
    return NULL;
  if (klen)
    *klen = v->items[i].klen;
  return v->items[i].key;
}

const lc_amf0 *
lc_amf0_value_at(const lc_amf0 *v, size_t i)
{
  return v && i < v->n ? v->items[i].val : NULL;
}

const lc_amf0 *
lc_amf0_get(const lc_amf0 *obj, const char *key)
{
  if (!is_keyed(obj))
    return NULL;
  size_t klen = strlen(key);
  for (size_t i = 0; i < obj->n; i++)
    if (obj->items[i].klen == klen && memcmp(obj->items[i].key, key, klen) == 0)
      return obj->items[i].val;
  return NULL;
}

bool
lc_amf0_equal(const lc_amf0 *a, const lc_amf0 *b)
{
  if (!a || !b)
    return a == b;
  if (a->type != b->type)
    return false;
  switch (a->type) {
  case LC_AMF0_NUMBER:
    return memcmp(&a->num, &b->num, sizeof a->num) == 0;
  case LC_AMF0_DATE:
    return memcmp(&a->num, &b->num, sizeof a->num) == 0 && a->tz == b->tz;
  case LC_AMF0_BOOLEAN:
    return a->boolean == b->boolean;
  case LC_AMF0_STRING:
    return a->slen == b->slen && memcmp(a->str, b->str, a->slen) == 0;
  case LC_AMF0_OBJECT:
  case LC_AMF0_ECMA_ARRAY:
  case LC_AMF0_STRICT_ARRAY:
    if (a->n != b->n)
      return false;
    for (size_t i = 0; i < a->n; i++) {
      const entry *x = &a->items[i], *y = &b->items[i];
      if (x->klen != y->klen || (x->klen && memcmp(x->key, y->key, x->klen) != 0) || !lc_amf0_equal(x->val, y->val))
        return false;
    }
    return true;
  default:
    return true;
  }
}

/* ---- decoding ---- */

typedef struct {
  const uint8_t *p;
  size_t len, pos;
  size_t values; /* decoded so far in this call */
} dec;

static bool
need(const dec *d, size_t n)
{
  return d->len - d->pos >= n;
}

static uint32_t
rd_be(dec *d, int bytes)
{
  uint32_t v = 0;
  for (int i = 0; i < bytes; i++)
    v = (v << 8) | d->p[d->pos++];
  return v;
}

static double
rd_double(dec *d)
{
  uint64_t bits = 0;
  for (int i = 0; i < 8; i++)
    bits = (bits << 8) | d->p[d->pos++];
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

/* Reads a length-prefixed UTF-8 string body (length already read). */
static int
rd_bytes(dec *d, size_t n, char **out)
{
  if (!need(d, n))
    return LC_EINVAL;
  *out = g_malloc(n + 1);
  if (n)
    memcpy(*out, d->p + d->pos, n);
  (*out)[n] = '\0';
  d->pos += n;
  return 0;
}

static int dec_value(dec *d, int depth, lc_amf0 **out);

/* Key/value pairs up to the empty key + object-end marker. */
static int
dec_pairs(dec *d, int depth, lc_amf0 *c)
{
  for (;;) {
    if (!need(d, 2))
      return LC_EINVAL;
    size_t klen = rd_be(d, 2);
    if (klen == 0 && need(d, 1) && d->p[d->pos] == LC_AMF0_OBJECT_END) {
      d->pos++;
      return 0;
    }
    char *key = NULL;
    int rc = rd_bytes(d, klen, &key);
    if (rc != 0)
      return rc;
    lc_amf0 *val = NULL;
    rc = dec_value(d, depth + 1, &val);
    if (rc != 0) {
      g_free(key);
      return rc;
    }
    push(c, key, klen, val);
  }
}

static int
dec_value(dec *d, int depth, lc_amf0 **out)
{
  lc_amf0 *v = NULL;
  int rc = LC_EINVAL;
  *out = NULL;

  if (depth > LC_AMF0_MAX_DEPTH || ++d->values > LC_AMF0_MAX_VALUES) {
    rc = LC_ELIMIT;
    goto fail;
  }
  if (!need(d, 1))
    goto fail;
  uint8_t marker = d->p[d->pos++];
  switch (marker) {
  case LC_AMF0_NUMBER:
    if (!need(d, 8))
      goto fail;
    v = lc_amf0_new_number(rd_double(d));
    break;
  case LC_AMF0_BOOLEAN:
    if (!need(d, 1))
      goto fail;
    v = lc_amf0_new_boolean(d->p[d->pos++] != 0);
    break;
  case LC_AMF0_STRING:
  case LC_AMF0_LONG_STRING: {
    int lbytes = marker == LC_AMF0_STRING ? 2 : 4;
    if (!need(d, (size_t)lbytes))
      goto fail;
    size_t n = rd_be(d, lbytes);
    v = new_value(LC_AMF0_STRING);
    v->long_marker = marker == LC_AMF0_LONG_STRING;
    v->slen = n;
    if ((rc = rd_bytes(d, n, &v->str)) != 0)
      goto fail;
    break;
  }
  case LC_AMF0_NULL:
  case LC_AMF0_UNDEFINED:
    v = new_value((lc_amf0_type)marker);
    break;
  case LC_AMF0_OBJECT:
    v = new_value(LC_AMF0_OBJECT);
    if ((rc = dec_pairs(d, depth, v)) != 0)
      goto fail;
    break;
  case LC_AMF0_ECMA_ARRAY:
    if (!need(d, 4))
      goto fail;
    (void)rd_be(d, 4); /* associative count: a hint only, the end marker ends the array */
    v = new_value(LC_AMF0_ECMA_ARRAY);
    if ((rc = dec_pairs(d, depth, v)) != 0)
      goto fail;
    break;
  case LC_AMF0_STRICT_ARRAY: {
    if (!need(d, 4))
      goto fail;
    uint32_t count = rd_be(d, 4);
    if (count > d->len - d->pos) /* every value takes at least one byte */
      goto fail;
    v = new_value(LC_AMF0_STRICT_ARRAY);
    for (uint32_t i = 0; i < count; i++) {
      lc_amf0 *item = NULL;
      if ((rc = dec_value(d, depth + 1, &item)) != 0)
        goto fail;
      push(v, NULL, 0, item);
    }
    break;
  }
  case LC_AMF0_DATE:
    if (!need(d, 10))
      goto fail;
    v = new_value(LC_AMF0_DATE);
    v->num = rd_double(d);
    v->tz = (int16_t)rd_be(d, 2);
    break;
  default: /* movieclip, reference, object end out of place, typed object, XML, AMF3 switch... */
    goto fail;
  }
  *out = v;
  return 0;

fail:
  lc_amf0_free(v);
  return rc;
}

int
lc_amf0_decode(const uint8_t *data, size_t len, size_t *consumed, lc_amf0 **out)
{
  dec d = {data, len, 0, 0};
  int rc = dec_value(&d, 1, out);
  *consumed = rc == 0 ? d.pos : 0;
  return rc;
}

int
lc_amf0_decode_all(const uint8_t *data, size_t len, GPtrArray **out)
{
  GPtrArray *vals = g_ptr_array_new_with_free_func((GDestroyNotify)lc_amf0_free);
  dec d = {data, len, 0, 0};
  int rc = 0;
  *out = NULL;
  while (d.pos < d.len) {
    lc_amf0 *v = NULL;
    if ((rc = dec_value(&d, 1, &v)) != 0)
      goto fail;
    g_ptr_array_add(vals, v);
  }
  *out = vals;
  return 0;

fail:
  g_ptr_array_unref(vals);
  return rc;
}

/* ---- encoding ---- */

static void
wr_be(GByteArray *out, uint32_t v, int bytes)
{
  uint8_t b[4];
  for (int i = 0; i < bytes; i++)
    b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
  g_byte_array_append(out, b, (guint)bytes);
}

static void
wr_u8(GByteArray *out, uint8_t v)
{
  g_byte_array_append(out, &v, 1);
}

static void
wr_double(GByteArray *out, double v)
{
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  uint8_t b[8];
  for (int i = 0; i < 8; i++)
    b[i] = (uint8_t)(bits >> (56 - 8 * i));
  g_byte_array_append(out, b, 8);
}

static void
wr_pairs(const lc_amf0 *v, GByteArray *out)
{
  for (size_t i = 0; i < v->n; i++) {
    wr_be(out, (uint32_t)v->items[i].klen, 2);
    g_byte_array_append(out, (const guint8 *)v->items[i].key, (guint)v->items[i].klen);
    lc_amf0_encode(v->items[i].val, out);
  }
  wr_be(out, 0, 2);
  wr_u8(out, LC_AMF0_OBJECT_END);
}

void
lc_amf0_encode(const lc_amf0 *v, GByteArray *out)
{
  switch (v->type) {
  case LC_AMF0_NUMBER:
    wr_u8(out, LC_AMF0_NUMBER);
    wr_double(out, v->num);
    break;
  case LC_AMF0_BOOLEAN:
    wr_u8(out, LC_AMF0_BOOLEAN);
    wr_u8(out, v->boolean ? 1 : 0);
    break;
  case LC_AMF0_STRING:
    if (v->long_marker || v->slen > 0xFFFF) {
      wr_u8(out, LC_AMF0_LONG_STRING);
      wr_be(out, (uint32_t)v->slen, 4);
    } else {
      wr_u8(out, LC_AMF0_STRING);
      wr_be(out, (uint32_t)v->slen, 2);
    }
    g_byte_array_append(out, (const guint8 *)v->str, (guint)v->slen);
    break;
  case LC_AMF0_OBJECT:
    wr_u8(out, LC_AMF0_OBJECT);
    wr_pairs(v, out);
    break;
  case LC_AMF0_ECMA_ARRAY:
    wr_u8(out, LC_AMF0_ECMA_ARRAY);
    wr_be(out, (uint32_t)v->n, 4);
    wr_pairs(v, out);
    break;
  case LC_AMF0_STRICT_ARRAY:
    wr_u8(out, LC_AMF0_STRICT_ARRAY);
    wr_be(out, (uint32_t)v->n, 4);
    for (size_t i = 0; i < v->n; i++)
      lc_amf0_encode(v->items[i].val, out);
    break;
  case LC_AMF0_DATE:
    wr_u8(out, LC_AMF0_DATE);
    wr_double(out, v->num);
    wr_be(out, (uint16_t)v->tz, 2);
    break;
  case LC_AMF0_NULL:
  case LC_AMF0_UNDEFINED:
  default:
    wr_u8(out, (uint8_t)(v->type == LC_AMF0_UNDEFINED ? LC_AMF0_UNDEFINED : LC_AMF0_NULL));
    break;
  }
}

/* ---- commands ---- */

int
lc_amf0_command_parse(const uint8_t *data, size_t len, lc_amf0_command **out)
{
  GPtrArray *vals = NULL;
  lc_amf0_command *cmd = NULL;
  int rc = lc_amf0_decode_all(data, len, &vals);
  *out = NULL;
  if (rc != 0)
    goto fail;
  rc = LC_EINVAL;
  const char *name = vals->len > 0 ? lc_amf0_cstr(vals->pdata[0]) : NULL;
  if (!name)
    goto fail;
  if (vals->len > 1 && lc_amf0_get_type(vals->pdata[1]) != LC_AMF0_NUMBER)
    goto fail;
  cmd = g_new0(lc_amf0_command, 1);
  cmd->name = g_strdup(name);
  cmd->transaction_id = vals->len > 1 ? lc_amf0_number(vals->pdata[1]) : 0;
  cmd->args = g_ptr_array_new_with_free_func((GDestroyNotify)lc_amf0_free);
  for (guint i = 2; i < vals->len; i++) {
    lc_amf0 *v = vals->pdata[i];
    vals->pdata[i] = NULL; /* moved */
    if (i == 2) {
      if (v->type == LC_AMF0_NULL || v->type == LC_AMF0_UNDEFINED)
        lc_amf0_free(v);
      else
        cmd->command_object = v;
    } else {
      g_ptr_array_add(cmd->args, v);
    }
  }
  g_ptr_array_unref(vals);
  *out = cmd;
  return 0;

fail:
  if (vals)
    g_ptr_array_unref(vals);
  lc_amf0_command_free(cmd);
  return rc;
}

void
lc_amf0_command_free(lc_amf0_command *cmd)
{
  if (!cmd)
    return;
  g_free(cmd->name);
  lc_amf0_free(cmd->command_object);
  if (cmd->args)
    g_ptr_array_unref(cmd->args);
  g_free(cmd);
}

const lc_amf0 *
lc_amf0_command_arg(const lc_amf0_command *cmd, size_t i)
{
  return i < cmd->args->len ? cmd->args->pdata[i] : NULL;
}

void
lc_amf0_encode_command(GByteArray *out, const char *name, double transaction_id, const lc_amf0 *command_object,
                       const lc_amf0 *const *args, size_t n_args)
{
  lc_amf0 *tmp = lc_amf0_new_string(name, -1);
  lc_amf0_encode(tmp, out);
  lc_amf0_free(tmp);
  wr_u8(out, LC_AMF0_NUMBER);
  wr_double(out, transaction_id);
  if (command_object)
    lc_amf0_encode(command_object, out);
  else
    wr_u8(out, LC_AMF0_NULL);
  for (size_t i = 0; i < n_args; i++)
    lc_amf0_encode(args[i], out);
}

lc_amf0 *
lc_amf0_new_status(const char *level, const char *code, const char *description)
{
  lc_amf0 *o = lc_amf0_new_object();
  lc_amf0_set(o, "level", lc_amf0_new_string(level, -1));
  lc_amf0_set(o, "code", lc_amf0_new_string(code, -1));
  lc_amf0_set(o, "description", lc_amf0_new_string(description, -1));
  return o;
}

void
lc_amf0_encode_connect_result(GByteArray *out, double transaction_id)
{
  lc_amf0 *props = lc_amf0_new_object();
  lc_amf0_set(props, "fmsVer", lc_amf0_new_string("FMS/3,0,1,123", -1));
  lc_amf0_set(props, "capabilities", lc_amf0_new_number(31));
  lc_amf0 *info = lc_amf0_new_status("status", LC_AMF0_CONNECT_SUCCESS, "Connection succeeded.");
  lc_amf0_set(info, "objectEncoding", lc_amf0_new_number(0));
  const lc_amf0 *args[] = {info};
  lc_amf0_encode_command(out, "_result", transaction_id, props, args, 1);
  lc_amf0_free(props);
  lc_amf0_free(info);
}

void
lc_amf0_encode_result_number(GByteArray *out, double transaction_id, double value)
{
  lc_amf0 *num = lc_amf0_new_number(value);
  const lc_amf0 *args[] = {num};
  lc_amf0_encode_command(out, "_result", transaction_id, NULL, args, 1);
  lc_amf0_free(num);
}

void
lc_amf0_encode_error(GByteArray *out, double transaction_id, const char *code, const char *description)
{
  lc_amf0 *info = lc_amf0_new_status("error", code, description);
  const lc_amf0 *args[] = {info};
  lc_amf0_encode_command(out, "_error", transaction_id, NULL, args, 1);
  lc_amf0_free(info);
}

void
lc_amf0_encode_on_status(GByteArray *out, const char *level, const char *code, const char *description)
{
  lc_amf0 *info = lc_amf0_new_status(level, code, description);
  const lc_amf0 *args[] = {info};
  lc_amf0_encode_command(out, "onStatus", 0, NULL, args, 1);
  lc_amf0_free(info);
}

/* ---- metadata ---- */

static void
meta_number(const lc_amf0 *props, const char *key, double *out)
{
  const lc_amf0 *v = lc_amf0_get(props, key);
  *out = v && v->type == LC_AMF0_NUMBER && isfinite(v->num) ? v->num : -1;
}

static void
meta_codec(const lc_amf0 *props, const char *key, double *num, char *name, size_t name_size)
{
  const lc_amf0 *v = lc_amf0_get(props, key);
  const char *s = lc_amf0_cstr(v);
  meta_number(props, key, num);
  name[0] = '\0';
  if (s)
    g_strlcpy(name, s, name_size);
}

int
lc_amf0_metadata_parse(const uint8_t *data, size_t len, lc_amf0_metadata *out)
{
  GPtrArray *vals = NULL;
  int rc = lc_amf0_decode_all(data, len, &vals);
  if (rc != 0)
    goto fail;
  guint i = 0;
  const char *first = vals->len > 0 ? lc_amf0_cstr(vals->pdata[0]) : NULL;
  if (first && strcmp(first, "@setDataFrame") == 0)
    i = 1;
  const char *name = vals->len > i ? lc_amf0_cstr(vals->pdata[i]) : NULL;
  if (!name || strcmp(name, "onMetaData") != 0) {
    rc = LC_ENOENT;
    goto fail;
  }
  const lc_amf0 *props = vals->len > i + 1 ? vals->pdata[i + 1] : NULL;
  if (!is_keyed(props)) {
    rc = LC_EINVAL;
    goto fail;
  }
  memset(out, 0, sizeof *out);
  meta_number(props, "width", &out->width);
  meta_number(props, "height", &out->height);
  meta_number(props, "framerate", &out->framerate);
  meta_number(props, "videodatarate", &out->videodatarate);
  meta_number(props, "audiodatarate", &out->audiodatarate);
  meta_number(props, "audiosamplerate", &out->audiosamplerate);
  meta_number(props, "audiochannels", &out->audiochannels);
  meta_codec(props, "videocodecid", &out->videocodecid, out->video_codec_name, sizeof out->video_codec_name);
  meta_codec(props, "audiocodecid", &out->audiocodecid, out->audio_codec_name, sizeof out->audio_codec_name);
  const char *enc = lc_amf0_cstr(lc_amf0_get(props, "encoder"));
  if (enc)
    g_strlcpy(out->encoder, enc, sizeof out->encoder);
  g_ptr_array_unref(vals);
  return 0;

fail:
  if (vals)
    g_ptr_array_unref(vals);
  return rc;
}
