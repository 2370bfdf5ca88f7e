/* Unit tests for signaling/proto: the show-channel message codec. */
#include <string.h>

#include "base/errors.h"
#include "signaling/proto.h"

/* Decodes a NUL-terminated message that must be accepted. */
static void
decode_ok(const char *json, lc_msg *m)
{
  const char *code = "unset";
  char *message = NULL;
  int rc = lc_proto_decode(json, strlen(json), m, &code, &message);
  if (rc != 0)
    g_test_message("%s -> %s: %s", json, code, message);
  g_assert_cmpint(rc, ==, 0);
  g_assert_null(code);
  g_assert_null(message);
}

/* Decodes a message that must be refused with code; the message must mention `field`;
 * out->op_id must equal op_id (NULL: none). */
static void
decode_err_len(const char *json, size_t len, const char *code_expected, const char *field, const char *op_id)
{
  lc_msg m;
  const char *code = NULL;
  char *message = NULL;
  int rc = lc_proto_decode(json, len, &m, &code, &message);
  if (rc == 0 || g_strcmp0(code, code_expected) != 0 || !message || !strstr(message, field) ||
      g_strcmp0(m.op_id, op_id) != 0)
    g_test_message("%.*s -> rc %d code %s message %s op_id %s", (int)MIN(len, 200), json, rc, code,
                   message, m.op_id);
  g_assert_cmpint(rc, ==, strcmp(code_expected, "too_large") == 0 ? LC_ETOOBIG : LC_EINVAL);
  g_assert_cmpstr(code, ==, code_expected);
  g_assert_nonnull(message);
  g_assert_true(g_utf8_validate(message, -1, NULL));
  g_assert_nonnull(strstr(message, field));
  g_assert_cmpstr(m.op_id, ==, op_id);
  /* nothing else is left set */
  g_assert_null(m.room);
  g_assert_null(m.sku);
  g_assert_null(m.items);
  g_assert_null(m.text);
  g_assert_null(m.claim_id);
  g_assert_null(m.deal_id);
  g_assert_null(m.team_id);
  g_assert_null(m.gift_id);
  g_assert_cmpint(m.coins, ==, 0);
  g_free(message);
  lc_msg_clear(&m);
}

static void
decode_err(const char *json, const char *code_expected, const char *field, const char *op_id)
{
  decode_err_len(json, strlen(json), code_expected, field, op_id);
}

static void
test_hello(void)
{
  lc_msg m;
  decode_ok("{\"type\":\"hello\",\"v\":1,\"room\":\"demo-room_1\"}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_HELLO);
  g_assert_cmpint(m.v, ==, 1);
  g_assert_cmpstr(m.room, ==, "demo-room_1");
  g_assert_null(m.token);
  g_assert_false(m.has_resume);
  g_assert_null(m.op_id);
  lc_msg_clear(&m);

  decode_ok("{\"type\":\"hello\",\"v\":1,\"room\":\"demo\",\"token\":\"a.b.c\","
            "\"resume\":{\"epoch\":\"e5f1a2\",\"seq\":42}}",
            &m);
  g_assert_cmpstr(m.token, ==, "a.b.c");
  g_assert_true(m.has_resume);
  g_assert_cmpstr(m.resume_epoch, ==, "e5f1a2");
  g_assert_cmpint(m.resume_seq, ==, 42);
  lc_msg_clear(&m);
  g_assert_null(m.token); /* cleared */
  lc_msg_clear(&m);       /* twice is safe */

  /* any integer version decodes: the caller answers version_unsupported */
  decode_ok("{\"type\":\"hello\",\"v\":2,\"room\":\"demo\",\"token\":null,\"resume\":null}", &m);
  g_assert_cmpint(m.v, ==, 2);
  g_assert_null(m.token);
  g_assert_false(m.has_resume);
  lc_msg_clear(&m);
  decode_ok("{\"type\":\"hello\",\"v\":1,\"room\":\"demo\",\"resume\":{\"epoch\":\"e\",\"seq\":0}}", &m);
  g_assert_cmpint(m.resume_seq, ==, 0);
  lc_msg_clear(&m);

  decode_err("{\"type\":\"hello\",\"room\":\"demo\"}", "bad_message", "v", NULL);
  decode_err("{\"type\":\"hello\",\"v\":\"1\",\"room\":\"demo\"}", "bad_message", "v", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1.0,\"room\":\"demo\"}", "bad_message", "v", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1}", "bad_message", "room", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"Demo\"}", "bad_message", "room", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"de.mo\"}", "bad_message", "room", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"\"}", "bad_message", "room", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":7}", "bad_message", "room", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
             "bad_message", "room", NULL); /* 65 */
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"demo\",\"token\":5}", "bad_message", "token", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"demo\",\"token\":\"\"}", "bad_message", "token", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"demo\",\"resume\":[]}", "bad_message", "resume", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"demo\",\"resume\":{\"seq\":1}}", "bad_message",
             "resume.epoch", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"demo\",\"resume\":{\"epoch\":\"\",\"seq\":1}}", "bad_message",
             "resume.epoch", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"demo\",\"resume\":{\"epoch\":\"e\",\"seq\":-1}}",
             "bad_message", "resume.seq", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"demo\",\"resume\":{\"epoch\":\"e\"}}", "bad_message",
             "resume.seq", NULL);
  /* unknown fields are errors in hello and its resume */
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"demo\",\"extra\":1}", "bad_message", "extra", NULL);
  decode_err("{\"type\":\"hello\",\"v\":1,\"room\":\"demo\",\"resume\":{\"epoch\":\"e\",\"seq\":1,\"x\":2}}",
             "bad_message", "\"x\"", NULL);

  /* a token of 4096 bytes is accepted, 4097 is not */
  GString *s = g_string_new("{\"type\":\"hello\",\"v\":1,\"room\":\"demo\",\"token\":\"");
  for (int i = 0; i < LC_PROTO_MAX_TOKEN; i++)
    g_string_append_c(s, 'x');
  g_string_append(s, "\"}");
  decode_ok(s->str, &m);
  g_assert_cmpuint(strlen(m.token), ==, 4096);
  lc_msg_clear(&m);
  g_string_insert_c(s, s->len - 2, 'x');
  decode_err(s->str, "bad_message", "token", NULL);
  g_string_free(s, TRUE);
}

static void
test_ping_like(void)
{
  lc_msg m;
  decode_ok("{\"type\":\"ping\",\"c\":1763790000123}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_PING);
  g_assert_cmpfloat(m.c, ==, 1763790000123.0);
  lc_msg_clear(&m);
  decode_ok("{\"type\":\"ping\",\"c\":12.5,\"op_id\":\"ignored\",\"future\":true}", &m);
  g_assert_cmpfloat(m.c, ==, 12.5);
  g_assert_null(m.op_id);
  lc_msg_clear(&m);
  decode_err("{\"type\":\"ping\"}", "bad_message", "c", NULL);
  decode_err("{\"type\":\"ping\",\"c\":\"12\"}", "bad_message", "c", NULL);
  decode_err("{\"type\":\"ping\",\"c\":null}", "bad_message", "c", NULL);

  decode_ok("{\"type\":\"like\"}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_LIKE);
  g_assert_cmpint(m.count, ==, 1);
  lc_msg_clear(&m);
  decode_ok("{\"type\":\"like\",\"count\":100}", &m);
  g_assert_cmpint(m.count, ==, 100);
  lc_msg_clear(&m);
  decode_err("{\"type\":\"like\",\"count\":0}", "bad_message", "count", NULL);
  decode_err("{\"type\":\"like\",\"count\":101}", "bad_message", "count", NULL);
  decode_err("{\"type\":\"like\",\"count\":1.5}", "bad_message", "count", NULL);
  decode_err("{\"type\":\"like\",\"count\":\"3\"}", "bad_message", "count", NULL);
}

static void
test_cart(void)
{
  lc_msg m;
  decode_ok("{\"type\":\"cart.add\",\"op_id\":\"op-1\",\"sku\":\"SKU_1.red:L\",\"qty\":99}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_CART_ADD);
  g_assert_cmpstr(m.op_id, ==, "op-1");
  g_assert_cmpstr(m.sku, ==, "SKU_1.red:L");
  g_assert_cmpint(m.qty, ==, LC_SHOW_MAX_QTY);
  lc_msg_clear(&m);
  decode_ok("{\"type\":\"cart.set\",\"op_id\":\"o\",\"sku\":\"s\",\"qty\":0}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_CART_SET);
  g_assert_cmpint(m.qty, ==, 0);
  lc_msg_clear(&m);
  decode_ok("{\"type\":\"cart.remove\",\"op_id\":\"o\",\"sku\":\"s\",\"qty\":\"ignored\"}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_CART_REMOVE);
  g_assert_cmpstr(m.sku, ==, "s");
  lc_msg_clear(&m);

  decode_err("{\"type\":\"cart.add\",\"op_id\":\"o1\",\"sku\":\"s\",\"qty\":0}", "bad_message", "qty", "o1");
  decode_err("{\"type\":\"cart.add\",\"op_id\":\"o1\",\"sku\":\"s\",\"qty\":100}", "bad_message", "qty", "o1");
  decode_err("{\"type\":\"cart.add\",\"op_id\":\"o1\",\"sku\":\"s\"}", "bad_message", "qty", "o1");
  decode_err("{\"type\":\"cart.add\",\"op_id\":\"o1\",\"sku\":\"s\",\"qty\":-1}", "bad_message", "qty", "o1");
  decode_err("{\"type\":\"cart.add\",\"op_id\":\"o1\",\"sku\":\"s\",\"qty\":2.0}", "bad_message", "qty", "o1");
  decode_err("{\"type\":\"cart.add\",\"op_id\":\"o1\",\"sku\":\"s\",\"qty\":99999999999999999999}",
             "bad_message", "too big", NULL); /* unparseable: no op_id to recover */
  decode_err("{\"type\":\"cart.set\",\"op_id\":\"o1\",\"sku\":\"s\",\"qty\":-1}", "bad_message", "qty", "o1");
  decode_err("{\"type\":\"cart.set\",\"op_id\":\"o1\",\"sku\":\"s\",\"qty\":100}", "bad_message", "qty", "o1");
  decode_err("{\"type\":\"cart.add\",\"op_id\":\"o1\",\"qty\":1}", "bad_message", "sku", "o1");
  decode_err("{\"type\":\"cart.add\",\"op_id\":\"o1\",\"sku\":\"a b\",\"qty\":1}", "bad_message", "sku", "o1");
  decode_err("{\"type\":\"cart.add\",\"op_id\":\"o1\",\"sku\":\"a/b\",\"qty\":1}", "bad_message", "sku", "o1");
  decode_err("{\"type\":\"cart.add\",\"op_id\":\"o1\",\"sku\":\"\",\"qty\":1}", "bad_message", "sku", "o1");
  decode_err("{\"type\":\"cart.add\",\"op_id\":\"o1\",\"sku\":[\"s\"],\"qty\":1}", "bad_message", "sku", "o1");
  decode_err("{\"type\":\"cart.remove\",\"op_id\":\"o1\",\"sku\":\"商品\"}", "bad_message", "sku", "o1");
  /* op_id: required, charset, length */
  decode_err("{\"type\":\"cart.add\",\"sku\":\"s\",\"qty\":1}", "bad_message", "op_id", NULL);
  decode_err("{\"type\":\"cart.add\",\"op_id\":\"\",\"sku\":\"s\",\"qty\":1}", "bad_message", "op_id", NULL);
  decode_err("{\"type\":\"cart.add\",\"op_id\":\"a b\",\"sku\":\"s\",\"qty\":1}", "bad_message", "op_id", NULL);
  decode_err("{\"type\":\"cart.add\",\"op_id\":42,\"sku\":\"s\",\"qty\":1}", "bad_message", "op_id", NULL);
  decode_err("{\"type\":\"cart.add\",\"op_id\":null,\"sku\":\"s\",\"qty\":1}", "bad_message", "op_id", NULL);
  decode_err("{\"type\":\"cart.add\",\"op_id\":"
             "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"sku\":\"s\",\"qty\":1}",
             "bad_message", "op_id", NULL);
  decode_ok("{\"type\":\"cart.add\",\"op_id\":"
            "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"sku\":\"s\",\"qty\":1}",
            &m);
  g_assert_cmpuint(strlen(m.op_id), ==, 64);
  lc_msg_clear(&m);
}

static void
test_checkout(void)
{
  lc_msg m;
  decode_ok("{\"type\":\"checkout\",\"op_id\":\"c1\"}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_CHECKOUT);
  g_assert_null(m.items);
  g_assert_cmpuint(m.n_items, ==, 0);
  g_assert_null(m.claim_id);
  lc_msg_clear(&m);

  decode_ok("{\"type\":\"checkout\",\"op_id\":\"c1\",\"claim_id\":\"cl-9\","
            "\"items\":[{\"sku\":\"a\",\"qty\":1},{\"sku\":\"b\",\"qty\":99,\"note\":\"x\"}]}",
            &m);
  g_assert_cmpuint(m.n_items, ==, 2);
  g_assert_cmpstr(m.items[0].sku, ==, "a");
  g_assert_cmpint(m.items[0].qty, ==, 1);
  g_assert_cmpstr(m.items[1].sku, ==, "b");
  g_assert_cmpint(m.items[1].qty, ==, 99);
  g_assert_cmpstr(m.claim_id, ==, "cl-9");
  lc_msg_clear(&m);

  decode_err("{\"type\":\"checkout\",\"op_id\":\"c1\",\"items\":[]}", "bad_message", "items", "c1");
  decode_err("{\"type\":\"checkout\",\"op_id\":\"c1\",\"items\":{}}", "bad_message", "items", "c1");
  decode_err("{\"type\":\"checkout\",\"op_id\":\"c1\",\"items\":[1]}", "bad_message", "items[0]", "c1");
  decode_err("{\"type\":\"checkout\",\"op_id\":\"c1\",\"items\":[{\"sku\":\"a\",\"qty\":1},{\"qty\":1}]}",
             "bad_message", "items[1].sku", "c1");
  decode_err("{\"type\":\"checkout\",\"op_id\":\"c1\",\"items\":[{\"sku\":\"a\",\"qty\":1},{\"sku\":\"b\",\"qty\":0}]}",
             "bad_message", "items[1].qty", "c1");
  decode_err("{\"type\":\"checkout\",\"op_id\":\"c1\",\"items\":[{\"sku\":\"a\",\"qty\":1},{\"sku\":\"a\",\"qty\":2}]}",
             "bad_message", "duplicate", "c1");
  decode_err("{\"type\":\"checkout\",\"op_id\":\"c1\",\"claim_id\":3}", "bad_message", "claim_id", "c1");

  /* 50 items accepted, 51 refused */
  GString *s = g_string_new("{\"type\":\"checkout\",\"op_id\":\"c1\",\"items\":[");
  for (int i = 0; i < 51; i++) {
    if (i == 50) {
      g_string_append(s, "]}");
      decode_ok(s->str, &m);
      g_assert_cmpuint(m.n_items, ==, 50);
      g_assert_cmpstr(m.items[49].sku, ==, "sku49");
      lc_msg_clear(&m);
      g_string_truncate(s, s->len - 2);
    }
    g_string_append_printf(s, "%s{\"sku\":\"sku%d\",\"qty\":1}", i ? "," : "", i);
  }
  g_string_append(s, "]}");
  decode_err(s->str, "bad_message", "items", "c1");
  g_string_free(s, TRUE);
}

/* cart.quote takes checkout's fields; every quantity limit is the shared one
 * (base/show_limits.h), so the codec never accepts what the engine refuses. */
static void
test_cart_quote_and_shared_limits(void)
{
  lc_msg m;
  decode_ok("{\"type\":\"cart.quote\",\"op_id\":\"q1\"}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_CART_QUOTE);
  g_assert_null(m.items);
  g_assert_null(m.claim_id);
  lc_msg_clear(&m);
  decode_ok("{\"type\":\"cart.quote\",\"op_id\":\"q2\",\"claim_id\":\"c-1\",\"items\":[{\"sku\":\"a\",\"qty\":99}]}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_CART_QUOTE);
  g_assert_cmpstr(m.claim_id, ==, "c-1");
  g_assert_cmpuint(m.n_items, ==, 1);
  g_assert_cmpint(m.items[0].qty, ==, 99);
  g_assert_cmpstr(lc_msg_type_name(m.type), ==, "cart.quote");
  lc_msg_clear(&m);
  decode_err("{\"type\":\"cart.quote\"}", "bad_message", "op_id", NULL);
  decode_err("{\"type\":\"cart.quote\",\"op_id\":\"q3\",\"items\":[{\"sku\":\"a\",\"qty\":100}]}", "bad_message",
             "items[0].qty", "q3");
  /* one number for every quantity */
  static const char *const at_max[][2] = {
    {"{\"type\":\"cart.add\",\"op_id\":\"o\",\"sku\":\"s\",\"qty\":", "}"},
    {"{\"type\":\"cart.set\",\"op_id\":\"o\",\"sku\":\"s\",\"qty\":", "}"},
    {"{\"type\":\"checkout\",\"op_id\":\"o\",\"items\":[{\"sku\":\"s\",\"qty\":", "}]}"},
    {"{\"type\":\"cart.quote\",\"op_id\":\"o\",\"items\":[{\"sku\":\"s\",\"qty\":", "}]}"},
    {"{\"type\":\"flash.buy\",\"op_id\":\"o\",\"sale_id\":\"f\",\"qty\":", "}"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(at_max); i++) {
    char *ok = g_strdup_printf("%s%d%s", at_max[i][0], LC_SHOW_MAX_QTY, at_max[i][1]);
    char *over = g_strdup_printf("%s%d%s", at_max[i][0], LC_SHOW_MAX_QTY + 1, at_max[i][1]);
    decode_ok(ok, &m);
    lc_msg_clear(&m);
    decode_err(over, "bad_message", "qty", "o");
    g_free(ok);
    g_free(over);
  }
  g_assert_cmpint(LC_PROTO_MAX_ITEMS, ==, LC_SHOW_MAX_LINES);
  g_assert_cmpint(LC_PROTO_MAX_CHAT, ==, LC_SHOW_MAX_CHAT_BYTES);
}

static void
test_other_requests(void)
{
  lc_msg m;
  decode_ok("{\"type\":\"flash.buy\",\"op_id\":\"f1\",\"sale_id\":\"fs_1\",\"qty\":99}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_FLASH_BUY);
  g_assert_cmpstr(m.sale_id, ==, "fs_1");
  g_assert_cmpint(m.qty, ==, 99);
  lc_msg_clear(&m);
  decode_err("{\"type\":\"flash.buy\",\"op_id\":\"f1\",\"sale_id\":\"fs_1\",\"qty\":100}", "bad_message", "qty", "f1");
  decode_err("{\"type\":\"flash.buy\",\"op_id\":\"f1\",\"sale_id\":\"fs_1\",\"qty\":0}", "bad_message", "qty", "f1");
  decode_err("{\"type\":\"flash.buy\",\"op_id\":\"f1\",\"qty\":1}", "bad_message", "sale_id", "f1");

  decode_ok("{\"type\":\"coupon.claim\",\"op_id\":\"k1\",\"coupon_id\":\"SAVE10\"}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_COUPON_CLAIM);
  g_assert_cmpstr(m.coupon_id, ==, "SAVE10");
  lc_msg_clear(&m);
  decode_err("{\"type\":\"coupon.claim\",\"op_id\":\"k1\"}", "bad_message", "coupon_id", "k1");
  decode_err("{\"type\":\"coupon.claim\",\"op_id\":\"k1\",\"coupon_id\":true}", "bad_message", "coupon_id", "k1");

  decode_ok("{\"type\":\"order.cancel\",\"op_id\":\"x1\",\"order_id\":\"ord:123\"}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_ORDER_CANCEL);
  g_assert_cmpstr(m.order_id, ==, "ord:123");
  lc_msg_clear(&m);
  decode_err("{\"type\":\"order.cancel\",\"op_id\":\"x1\",\"order_id\":\"ord#1\"}", "bad_message", "order_id", "x1");
}

static void
test_marketing(void)
{
  lc_msg m;

  /* group.start {deal_id, claim_id?} */
  decode_ok("{\"type\":\"group.start\",\"op_id\":\"a1\",\"deal_id\":\"g1\",\"claim_id\":\"c-3\"}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_GROUP_START);
  g_assert_cmpstr(m.op_id, ==, "a1");
  g_assert_cmpstr(m.deal_id, ==, "g1");
  g_assert_cmpstr(m.claim_id, ==, "c-3");
  g_assert_null(m.team_id);
  lc_msg_clear(&m);
  g_assert_null(m.deal_id);
  g_assert_null(m.claim_id);
  decode_ok("{\"type\":\"group.start\",\"op_id\":\"a1\",\"deal_id\":\"g1\",\"claim_id\":null}", &m);
  g_assert_cmpstr(m.deal_id, ==, "g1");
  g_assert_null(m.claim_id);
  lc_msg_clear(&m);
  decode_ok("{\"type\":\"group.start\",\"op_id\":\"a1\",\"deal_id\":\"g1\"}", &m);
  g_assert_null(m.claim_id);
  lc_msg_clear(&m);
  decode_err("{\"type\":\"group.start\",\"op_id\":\"a1\"}", "bad_message", "deal_id: required", "a1");
  decode_err("{\"type\":\"group.start\",\"op_id\":\"a1\",\"deal_id\":null}", "bad_message", "deal_id", "a1");
  decode_err("{\"type\":\"group.start\",\"op_id\":\"a1\",\"deal_id\":\"g 1\"}", "bad_message", "deal_id", "a1");
  decode_err("{\"type\":\"group.start\",\"op_id\":\"a1\",\"deal_id\":7}", "bad_message", "deal_id", "a1");
  decode_err("{\"type\":\"group.start\",\"op_id\":\"a1\",\"deal_id\":\"g1\",\"claim_id\":\"c/3\"}", "bad_message",
             "claim_id", "a1");
  decode_err("{\"type\":\"group.start\",\"deal_id\":\"g1\"}", "bad_message", "op_id", NULL);

  /* group.join {team_id, claim_id?} */
  decode_ok("{\"type\":\"group.join\",\"op_id\":\"a2\",\"team_id\":\"t-7\",\"claim_id\":null}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_GROUP_JOIN);
  g_assert_cmpstr(m.team_id, ==, "t-7");
  g_assert_null(m.claim_id);
  g_assert_null(m.deal_id);
  lc_msg_clear(&m);
  decode_ok("{\"type\":\"group.join\",\"op_id\":\"a2\",\"team_id\":\"t-7\",\"claim_id\":\"cl.9\"}", &m);
  g_assert_cmpstr(m.claim_id, ==, "cl.9");
  lc_msg_clear(&m);
  decode_err("{\"type\":\"group.join\",\"op_id\":\"a2\"}", "bad_message", "team_id: required", "a2");
  decode_err("{\"type\":\"group.join\",\"op_id\":\"a2\",\"deal_id\":\"g1\"}", "bad_message", "team_id", "a2");
  decode_err("{\"type\":\"group.join\",\"op_id\":\"a2\",\"team_id\":\"\"}", "bad_message", "team_id", "a2");
  decode_err("{\"type\":\"group.join\",\"op_id\":\"a2\",\"team_id\":\"t-7\",\"claim_id\":5}", "bad_message",
             "claim_id", "a2");
  decode_err("{\"type\":\"group.join\",\"op_id\":\"a 2\",\"team_id\":\"t-7\"}", "bad_message", "op_id", NULL);

  /* gift.send {gift_id, count? 1-99 default 1} */
  decode_ok("{\"type\":\"gift.send\",\"op_id\":\"a3\",\"gift_id\":\"rose\",\"count\":3}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_GIFT_SEND);
  g_assert_cmpstr(m.gift_id, ==, "rose");
  g_assert_cmpint(m.count, ==, 3);
  lc_msg_clear(&m);
  g_assert_null(m.gift_id);
  decode_ok("{\"type\":\"gift.send\",\"op_id\":\"a3\",\"gift_id\":\"rose\"}", &m);
  g_assert_cmpint(m.count, ==, 1);
  lc_msg_clear(&m);
  decode_ok("{\"type\":\"gift.send\",\"op_id\":\"a3\",\"gift_id\":\"rose\",\"count\":null}", &m);
  g_assert_cmpint(m.count, ==, 1);
  lc_msg_clear(&m);
  decode_ok("{\"type\":\"gift.send\",\"op_id\":\"a3\",\"gift_id\":\"rose\",\"count\":99}", &m);
  g_assert_cmpint(m.count, ==, 99);
  lc_msg_clear(&m);
  decode_err("{\"type\":\"gift.send\",\"op_id\":\"a3\",\"gift_id\":\"rose\",\"count\":100}", "bad_message",
             "count: must be an integer 1..99", "a3");
  decode_err("{\"type\":\"gift.send\",\"op_id\":\"a3\",\"gift_id\":\"rose\",\"count\":0}", "bad_message", "count",
             "a3");
  decode_err("{\"type\":\"gift.send\",\"op_id\":\"a3\",\"gift_id\":\"rose\",\"count\":-1}", "bad_message", "count",
             "a3");
  decode_err("{\"type\":\"gift.send\",\"op_id\":\"a3\",\"gift_id\":\"rose\",\"count\":2.0}", "bad_message", "count",
             "a3");
  decode_err("{\"type\":\"gift.send\",\"op_id\":\"a3\",\"gift_id\":\"rose\",\"count\":\"2\"}", "bad_message",
             "count", "a3");
  decode_err("{\"type\":\"gift.send\",\"op_id\":\"a3\",\"count\":2}", "bad_message", "gift_id: required", "a3");
  decode_err("{\"type\":\"gift.send\",\"op_id\":\"a3\",\"gift_id\":\"玫瑰\"}", "bad_message", "gift_id", "a3");
  decode_err("{\"type\":\"gift.send\",\"gift_id\":\"rose\"}", "bad_message", "op_id: required", NULL);

  /* wallet.topup {coins 1-1,000,000} */
  decode_ok("{\"type\":\"wallet.topup\",\"op_id\":\"a4\",\"coins\":100}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_WALLET_TOPUP);
  g_assert_cmpint(m.coins, ==, 100);
  lc_msg_clear(&m);
  g_assert_cmpint(m.coins, ==, 0);
  decode_ok("{\"type\":\"wallet.topup\",\"op_id\":\"a4\",\"coins\":1}", &m);
  g_assert_cmpint(m.coins, ==, 1);
  lc_msg_clear(&m);
  decode_ok("{\"type\":\"wallet.topup\",\"op_id\":\"a4\",\"coins\":1000000}", &m);
  g_assert_cmpint(m.coins, ==, 1000000);
  lc_msg_clear(&m);
  decode_err("{\"type\":\"wallet.topup\",\"op_id\":\"a4\",\"coins\":1000001}", "bad_message",
             "coins: must be an integer 1..1000000", "a4");
  decode_err("{\"type\":\"wallet.topup\",\"op_id\":\"a4\",\"coins\":0}", "bad_message", "coins", "a4");
  decode_err("{\"type\":\"wallet.topup\",\"op_id\":\"a4\",\"coins\":-5}", "bad_message", "coins", "a4");
  decode_err("{\"type\":\"wallet.topup\",\"op_id\":\"a4\",\"coins\":1e3}", "bad_message", "coins", "a4");
  decode_err("{\"type\":\"wallet.topup\",\"op_id\":\"a4\",\"coins\":9223372036854775807}", "bad_message", "coins",
             "a4");
  decode_err("{\"type\":\"wallet.topup\",\"op_id\":\"a4\"}", "bad_message", "coins: required", "a4");
  decode_err("{\"type\":\"wallet.topup\",\"op_id\":\"a4\",\"coins\":null}", "bad_message", "coins: required", "a4");
  decode_err("{\"type\":\"wallet.topup\",\"coins\":100}", "bad_message", "op_id", NULL);

  g_assert_cmpstr(lc_msg_type_name(LC_MSG_GROUP_START), ==, "group.start");
  g_assert_cmpstr(lc_msg_type_name(LC_MSG_WALLET_TOPUP), ==, "wallet.topup");
}

static void
test_chat(void)
{
  lc_msg m;
  decode_ok("{\"type\":\"chat.send\",\"op_id\":\"m1\",\"text\":\"这个多少钱? 😀 \\u00e9\"}", &m);
  g_assert_cmpint(m.type, ==, LC_MSG_CHAT_SEND);
  g_assert_cmpstr(m.text, ==, "这个多少钱? 😀 é");
  lc_msg_clear(&m);

  decode_err("{\"type\":\"chat.send\",\"op_id\":\"m1\",\"text\":\"\"}", "bad_message", "text", "m1");
  decode_err("{\"type\":\"chat.send\",\"op_id\":\"m1\"}", "bad_message", "text", "m1");
  decode_err("{\"type\":\"chat.send\",\"op_id\":\"m1\",\"text\":5}", "bad_message", "text", "m1");
  decode_err("{\"type\":\"chat.send\",\"op_id\":\"m1\",\"text\":\"a\\nb\"}", "bad_message", "text", "m1");
  decode_err("{\"type\":\"chat.send\",\"op_id\":\"m1\",\"text\":\"a\\tb\"}", "bad_message", "text", "m1");
  decode_err("{\"type\":\"chat.send\",\"op_id\":\"m1\",\"text\":\"a\\u007fb\"}", "bad_message", "text", "m1");
  decode_err("{\"type\":\"chat.send\",\"op_id\":\"m1\",\"text\":\"a\\u0085b\"}", "bad_message", "text", "m1");
  decode_err("{\"type\":\"chat.send\",\"op_id\":\"m1\",\"text\":\"a\\u0000b\"}", "bad_message", "JSON", NULL);

  /* 500 bytes accepted (166 three-byte characters + 2), 501 refused */
  GString *s = g_string_new("{\"type\":\"chat.send\",\"op_id\":\"m1\",\"text\":\"");
  for (int i = 0; i < 166; i++)
    g_string_append(s, "好");
  g_string_append(s, "ab\"}");
  decode_ok(s->str, &m);
  g_assert_cmpuint(strlen(m.text), ==, 500);
  lc_msg_clear(&m);
  g_string_insert_c(s, s->len - 2, 'c');
  decode_err(s->str, "bad_message", "text", "m1");
  g_string_free(s, TRUE);
}

static void
test_envelope_errors(void)
{
  /* not JSON, not an object, NUL bytes, invalid UTF-8, duplicate keys */
  decode_err("", "bad_message", "JSON", NULL);
  decode_err("{", "bad_message", "JSON", NULL);
  decode_err("{\"type\":\"like\"} x", "bad_message", "JSON", NULL);
  decode_err("[{\"type\":\"like\"}]", "bad_message", "object", NULL);
  decode_err("\"like\"", "bad_message", "object", NULL);
  decode_err("42", "bad_message", "object", NULL);
  decode_err("null", "bad_message", "object", NULL);
  decode_err_len("{\"type\":\"like\"}\0", 16, "bad_message", "NUL", NULL);
  decode_err_len("{\"type\":\"li\0ke\"}", 16, "bad_message", "NUL", NULL);
  decode_err("{\"type\":\"chat.send\",\"op_id\":\"m1\",\"text\":\"\xff\xfe\"}", "bad_message", "JSON", NULL);
  decode_err("{\"type\":\"chat.send\",\"op_id\":\"m1\",\"text\":\"\xc3\"}", "bad_message", "JSON", NULL);
  decode_err("{\"type\":\"chat.send\",\"op_id\":\"m1\",\"text\":\"\xed\xa0\x80\"}", "bad_message", "JSON", NULL);
  decode_err("{\"type\":\"like\",\"type\":\"ping\"}", "bad_message", "duplicate", NULL);
  decode_err("{\"type\":\"checkout\",\"op_id\":\"c\",\"items\":[{\"sku\":\"a\",\"sku\":\"b\",\"qty\":1}]}",
             "bad_message", "duplicate", NULL);

  /* type: missing, wrong type, unknown */
  decode_err("{}", "bad_message", "type", NULL);
  decode_err("{\"type\":1}", "bad_message", "type", NULL);
  decode_err("{\"type\":null,\"op_id\":\"r1\"}", "bad_message", "type", "r1");
  decode_err("{\"type\":\"cart.explode\",\"op_id\":\"r1\"}", "unknown_type", "cart.explode", "r1");
  decode_err("{\"type\":\"Hello\",\"v\":1,\"room\":\"demo\"}", "unknown_type", "Hello", NULL);
  decode_err("{\"type\":\"\"}", "unknown_type", "type", NULL);
  /* op_id recovered whatever fails after it */
  decode_err("{\"op_id\":\"r2\",\"type\":\"flash.buy\",\"sale_id\":\"s\",\"qty\":\"1\"}", "bad_message", "qty", "r2");

  /* too large: checked before parsing */
  gsize n = LC_PROTO_MAX_BYTES + 1;
  char *big = g_malloc(n);
  memset(big, ' ', n);
  big[0] = '{';
  big[n - 1] = '}';
  decode_err_len(big, n, "too_large", "65536", NULL);
  /* exactly the cap is parsed (whitespace-padded valid message) */
  const char *like = "{\"type\":\"like\"";
  memcpy(big, like, strlen(like));
  lc_msg m;
  const char *code = NULL;
  char *message = NULL;
  g_assert_cmpint(lc_proto_decode(big, n - 1, &m, &code, &message), ==, LC_EINVAL); /* no closing brace */
  g_free(message);
  lc_msg_clear(&m);
  big[n - 2] = '}';
  g_assert_cmpint(lc_proto_decode(big, n - 1, &m, &code, &message), ==, 0);
  g_assert_cmpint(m.type, ==, LC_MSG_LIKE);
  lc_msg_clear(&m);
  g_free(big);

  /* deep nesting is refused, not a crash */
  GString *deep = g_string_new("{\"type\":\"like\",\"x\":");
  for (int i = 0; i < 5000; i++)
    g_string_append_c(deep, '[');
  for (int i = 0; i < 5000; i++)
    g_string_append_c(deep, ']');
  g_string_append_c(deep, '}');
  decode_err(deep->str, "bad_message", "JSON", NULL);
  g_string_free(deep, TRUE);
}

static void
test_type_names(void)
{
  const char *names[] = {"hello", "ping", "like", "cart.add", "cart.set", "cart.remove", "checkout",
                         "flash.buy", "coupon.claim", "order.cancel", "chat.send", "cart.quote",
                         "group.start", "group.join", "gift.send", "wallet.topup"};
  g_assert_cmpint(G_N_ELEMENTS(names), ==, LC_MSG_TYPE_COUNT);
  for (int i = 0; i < LC_MSG_TYPE_COUNT; i++)
    g_assert_cmpstr(lc_msg_type_name((lc_msg_type)i), ==, names[i]);
  g_assert_cmpstr(lc_msg_type_name(LC_MSG_TYPE_COUNT), ==, "unknown");
  g_assert_cmpstr(lc_msg_type_name((lc_msg_type)-1), ==, "unknown");
}

/* ---- encoders ---- */

static json_t *
parse(char *text)
{
  g_assert_nonnull(text);
  json_error_t e;
  json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &e);
  if (!v)
    g_test_message("%s: %s", text, e.text);
  g_assert_nonnull(v);
  g_assert_true(json_is_object(v));
  g_assert_null(strchr(text, '\n'));
  g_free(text);
  return v;
}

static const char *
sget(const json_t *o, const char *key)
{
  return json_string_value(json_object_get(o, key));
}

static gint64
iget(const json_t *o, const char *key)
{
  g_assert_true(json_is_integer(json_object_get(o, key)));
  return json_integer_value(json_object_get(o, key));
}

static void
test_encoders(void)
{
  const gint64 now = 1763790000123;
  json_t *user = json_pack("{s:s, s:s}", "id", "u1", "name", "小明");
  json_t *v;

  /* welcome, UTF-8 not escaped */
  char *text = lc_proto_welcome(now, "demo", "e5f1", 42, user, TRUE);
  g_assert_nonnull(strstr(text, "\"name\":\"小明\""));
  g_assert_null(strstr(text, "\\u"));
  g_assert_true(g_str_has_prefix(text, "{\"type\":\"welcome\""));
  v = parse(text);
  g_assert_cmpstr(sget(v, "type"), ==, "welcome");
  g_assert_cmpint(iget(v, "v"), ==, 1);
  g_assert_cmpint(iget(v, "t"), ==, now);
  g_assert_cmpstr(sget(v, "room"), ==, "demo");
  g_assert_cmpstr(sget(v, "epoch"), ==, "e5f1");
  g_assert_cmpint(iget(v, "seq"), ==, 42);
  g_assert_true(json_equal(json_object_get(v, "user"), user));
  g_assert_true(json_is_true(json_object_get(v, "resumed")));
  json_decref(v);
  v = parse(lc_proto_welcome(now, "demo", "e5f1", 0, NULL, FALSE));
  g_assert_true(json_is_null(json_object_get(v, "user")));
  g_assert_true(json_is_false(json_object_get(v, "resumed")));
  json_decref(v);

  /* snapshot / event / private: borrowed data unchanged, NULL becomes {} */
  json_t *state = json_pack("{s:s, s:[]}", "room", "demo", "chat");
  int before = (int)state->refcount;
  v = parse(lc_proto_snapshot(now, "e5f1", 43, state));
  g_assert_cmpint(state->refcount, ==, before);
  g_assert_cmpstr(sget(v, "type"), ==, "snapshot");
  g_assert_cmpint(iget(v, "t"), ==, now);
  g_assert_cmpstr(sget(v, "epoch"), ==, "e5f1");
  g_assert_cmpint(iget(v, "seq"), ==, 43);
  g_assert_true(json_equal(json_object_get(v, "state"), state));
  json_decref(v);

  json_t *data = json_pack("{s:s, s:s, s:I}", "id", "m7", "text", "买买买 🛒", "n", (json_int_t)3);
  text = lc_proto_event(now, "e5f1", 44, "chat.message", data);
  g_assert_nonnull(strstr(text, "买买买 🛒"));
  v = parse(text);
  g_assert_cmpstr(sget(v, "type"), ==, "event");
  g_assert_cmpint(iget(v, "seq"), ==, 44);
  g_assert_cmpstr(sget(v, "epoch"), ==, "e5f1");
  g_assert_cmpstr(sget(v, "name"), ==, "chat.message");
  g_assert_true(json_equal(json_object_get(v, "data"), data));
  json_decref(v);
  v = parse(lc_proto_event(now, "e5f1", 45, "product.unpinned", NULL));
  g_assert_true(json_is_object(json_object_get(v, "data")));
  g_assert_cmpuint(json_object_size(json_object_get(v, "data")), ==, 0);
  json_decref(v);

  v = parse(lc_proto_private(now, "order.created", data));
  g_assert_cmpstr(sget(v, "type"), ==, "private");
  g_assert_cmpstr(sget(v, "name"), ==, "order.created");
  g_assert_null(json_object_get(v, "seq"));
  g_assert_true(json_equal(json_object_get(v, "data"), data));
  json_decref(v);

  /* replies */
  v = parse(lc_proto_reply_ok(now, "op-1", data));
  g_assert_cmpstr(sget(v, "type"), ==, "reply");
  g_assert_cmpstr(sget(v, "op_id"), ==, "op-1");
  g_assert_true(json_is_true(json_object_get(v, "ok")));
  g_assert_true(json_equal(json_object_get(v, "result"), data));
  g_assert_null(json_object_get(v, "error"));
  json_decref(v);
  v = parse(lc_proto_reply_ok(now, NULL, NULL));
  g_assert_true(json_is_null(json_object_get(v, "op_id")));
  g_assert_true(json_is_object(json_object_get(v, "result")));
  json_decref(v);
  text = lc_proto_reply_error(now, "op-2", "sold_out", "闪购已售罄");
  g_assert_nonnull(strstr(text, "闪购已售罄"));
  v = parse(text);
  g_assert_cmpstr(sget(v, "op_id"), ==, "op-2");
  g_assert_true(json_is_false(json_object_get(v, "ok")));
  g_assert_cmpstr(sget(json_object_get(v, "error"), "code"), ==, "sold_out");
  g_assert_cmpstr(sget(json_object_get(v, "error"), "message"), ==, "闪购已售罄");
  g_assert_null(json_object_get(v, "result"));
  json_decref(v);

  /* error, with a message that is not valid UTF-8: repaired, still JSON */
  v = parse(lc_proto_error(now, "bad_message", "bad \xff byte"));
  g_assert_cmpstr(sget(v, "type"), ==, "error");
  g_assert_cmpint(iget(v, "t"), ==, now);
  g_assert_cmpstr(sget(json_object_get(v, "error"), "code"), ==, "bad_message");
  g_assert_cmpstr(sget(json_object_get(v, "error"), "message"), ==, "bad \xef\xbf\xbd byte");
  json_decref(v);

  /* pong: integral client time stays an integer, fractions kept */
  v = parse(lc_proto_pong(now, 1763790000000.0));
  g_assert_cmpstr(sget(v, "type"), ==, "pong");
  g_assert_cmpint(iget(v, "t"), ==, now);
  g_assert_cmpint(iget(v, "c"), ==, 1763790000000);
  json_decref(v);
  v = parse(lc_proto_pong(now, 1234.25));
  g_assert_true(json_is_real(json_object_get(v, "c")));
  g_assert_cmpfloat(json_real_value(json_object_get(v, "c")), ==, 1234.25);
  json_decref(v);

  json_decref(user);
  json_decref(state);
  json_decref(data);
}

/* What the websocket glue does: decode, then answer with the op_id. */
static void
test_decode_then_reply(void)
{
  const char *in = "{\"type\":\"flash.buy\",\"op_id\":\"web:1763790000:7\",\"sale_id\":\"fs1\",\"qty\":\"two\"}";
  lc_msg m;
  const char *code = NULL;
  char *message = NULL;
  g_assert_cmpint(lc_proto_decode(in, strlen(in), &m, &code, &message), <, 0);
  json_t *v = parse(lc_proto_reply_error(1, m.op_id, code, message));
  g_assert_cmpstr(sget(v, "op_id"), ==, "web:1763790000:7");
  g_assert_cmpstr(sget(json_object_get(v, "error"), "code"), ==, "bad_message");
  g_assert_nonnull(strstr(sget(json_object_get(v, "error"), "message"), "qty"));
  json_decref(v);
  g_free(message);
  lc_msg_clear(&m);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/proto/hello", test_hello);
  g_test_add_func("/proto/ping_like", test_ping_like);
  g_test_add_func("/proto/cart", test_cart);
  g_test_add_func("/proto/checkout", test_checkout);
  g_test_add_func("/proto/cart_quote_and_shared_limits", test_cart_quote_and_shared_limits);
  g_test_add_func("/proto/other_requests", test_other_requests);
  g_test_add_func("/proto/marketing", test_marketing);
  g_test_add_func("/proto/chat", test_chat);
  g_test_add_func("/proto/envelope_errors", test_envelope_errors);
  g_test_add_func("/proto/type_names", test_type_names);
  g_test_add_func("/proto/encoders", test_encoders);
  g_test_add_func("/proto/decode_then_reply", test_decode_then_reply);
  return g_test_run();
}
