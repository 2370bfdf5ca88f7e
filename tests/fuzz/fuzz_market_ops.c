/* Fuzz target for the marketing operations of the show engine (show_market.h): group deals,
 * seats, gifts, top-ups and promotions with whatever arguments a moderator or a viewer may
 * send, on a show over a real store. Input: up to 24 lines, each a JSON object
 * {"op": ..., ...}; every operation runs to its answer. Nothing may crash or leak, every
 * answer is either a result or a code with a message, and the wallet never goes negative.
 * Seeds: tests/fuzz/corpus/market_ops/. */
#include <glib.h>
#include <glib/gstdio.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "base/log.h"
#include "commerce/show.h"
#include "commerce/show_market.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static const char CATALOG[] =
    "{\"currency\":\"CNY\",\"products\":[{\"id\":\"p\",\"title\":\"T\",\"skus\":["
    "{\"id\":\"a\",\"price\":1000,\"stock\":50},{\"id\":\"b\",\"price\":333,\"stock\":5}]}]}";

typedef struct {
  bool done;
  json_t *result;
} answer;

static void
on_done(const lc_show_result *r, gpointer user)
{
  answer *a = user;
  if (a->done || (r->code && (!r->message || !*r->message)) || (!r->code && !r->result))
    __builtin_trap(); /* exactly one answer, a result or a code with a message */
  a->done = true;
  a->result = r->result ? json_deep_copy(r->result) : NULL;
}

static const char *
str(const json_t *o, const char *k)
{
  return json_string_value(json_object_get(o, k));
}

static void
run(lc_show *s, const json_t *m)
{
  const char *op = str(m, "op");
  const json_t *spec = json_object_get(m, "spec");
  lc_show_caller who = {str(m, "user"), str(m, "user"), str(m, "op_id")};
  gint64 num = json_integer_value(json_object_get(m, "n"));
  answer a = {0};
  if (!op)
    return;
  if (strcmp(op, "group.open") == 0)
    lc_show_group_open(s, spec, on_done, &a);
  else if (strcmp(op, "group.close") == 0)
    lc_show_group_close(s, str(m, "id"), on_done, &a);
  else if (strcmp(op, "group.start") == 0)
    lc_show_group_start(s, &who, str(m, "id"), str(m, "claim"), on_done, &a);
  else if (strcmp(op, "group.join") == 0)
    lc_show_group_join(s, &who, str(m, "id"), str(m, "claim"), on_done, &a);
  else if (strcmp(op, "gifts.load") == 0)
    lc_show_gifts_load(s, spec, on_done, &a);
  else if (strcmp(op, "gift.send") == 0)
    lc_show_gift_send(s, &who, str(m, "id"), num, on_done, &a);
  else if (strcmp(op, "wallet.topup") == 0)
    lc_show_wallet_topup(s, &who, num, on_done, &a);
  else if (strcmp(op, "order.pay") == 0)
    lc_show_order_pay(s, str(m, "id"), "fuzz", on_done, &a);
  else if (strcmp(op, "order.cancel") == 0)
    lc_show_order_cancel(s, &who, str(m, "id"), on_done, &a);
  else if (strcmp(op, "promo.set") == 0)
    lc_show_promo_set(s, str(m, "id"), json_is_object(spec) ? spec : NULL, on_done, &a);
  else if (strcmp(op, "checkout") == 0) {
    lc_show_line line = {str(m, "id"), num};
    lc_show_checkout(s, &who, &line, 1, str(m, "claim"), on_done, &a);
  } else
    return;
  while (!a.done)
    g_main_context_iteration(NULL, TRUE);
  json_decref(a.result);
  if (who.user && lc_show_wallet_coins(s, who.user) < 0)
    __builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  static lc_store *store;
  static lc_clock *clock;
  static unsigned rooms;
  if (!store) {
    lc_log_set_level(LC_LOG_ERROR); /* refusals are the point here */
    char *dir = g_dir_make_tmp("lc-fuzz-market-XXXXXX", NULL);
    char *path = g_build_filename(dir, "f.db", NULL);
    char *err = NULL;
    store = lc_store_open(path, NULL, NULL, &err);
    if (!store)
      __builtin_trap();
    clock = lc_clock_manual_new(1800000000000);
    g_free(path);
    g_free(dir);
  }
  if (n > 8192)
    return 0;
  char room[32];
  g_snprintf(room, sizeof room, "f%u", ++rooms); /* a fresh show per input, one store */
  lc_show_config cfg = {.order_ttl_ms = 60000, .low_stock_default = 2, .chat_recent = 10, .clock = clock};
  char *err = NULL;
  lc_show *s = lc_show_open(room, store, &cfg, NULL, &err);
  if (!s)
    __builtin_trap();
  json_t *cat = json_loads(CATALOG, 0, NULL);
  answer a = {0};
  lc_show_catalog_load(s, cat, on_done, &a);
  while (!a.done)
    g_main_context_iteration(NULL, TRUE);
  json_decref(a.result);
  json_decref(cat);
  char *text = g_strndup((const char *)d, n);
  char **lines = g_strsplit(text, "\n", 25);
  for (int i = 0; lines[i] && i < 24; i++) {
    json_t *m = json_loads(lines[i], JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(m))
      run(s, m);
    json_decref(m);
  }
  json_decref(lc_show_snapshot(s, "u1"));
  json_decref(lc_show_gifts_statement(s));
  json_decref(lc_show_group_status(s, NULL));
  lc_show_stop_timers(s);
  lc_show_free(s);
  g_strfreev(lines);
  g_free(text);
  return 0;
}
