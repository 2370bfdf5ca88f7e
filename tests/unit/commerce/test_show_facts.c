/* The typed facts' codec against a journal written by the JSON appliers
 * (data/journal-v1.json): every stored fact decodes and encodes back to the same bytes;
 * a required field missing or of the wrong type is a decode error naming the field;
 * optional fields may be absent. */
#include "commerce/show_facts.h"

#include <string.h>

static json_t *
golden_file(const char *name)
{
  const char *src = g_getenv("LC_SRCDIR");
  g_autofree char *path = g_build_filename(src ? src : "..", "tests/unit/commerce/data", name, NULL);
  json_error_t jerr;
  json_t *g = json_load_file(path, 0, &jerr);
  if (!g)
    g_error("%s: %s", path, jerr.text);
  return g;
}

/* journal-v1.json (the facts of the JSON appliers) and journal-v2.json (the facts of group buy,
 * gifts and promotions, and the fields they added to order.created): their rows together. */
static json_t *
golden(void)
{
  json_t *g = golden_file("journal-v1.json");
  json_t *g2 = golden_file("journal-v2.json");
  json_array_extend(json_object_get(g, "rows"), json_object_get(g2, "rows"));
  json_decref(g2);
  return g;
}

static void
test_round_trip(void)
{
  json_t *g = golden();
  json_t *rows = json_object_get(g, "rows");
  bool seen[LC__FACT_N] = {false};
  for (size_t i = 0; i < json_array_size(rows); i++) {
    const char *type = json_string_value(json_array_get(json_array_get(rows, i), 0));
    const char *text = json_string_value(json_array_get(json_array_get(rows, i), 1));
    char *why = NULL;
    lc__fact *f = lc__fact_decode(type, text, 2, &why);
    if (!f)
      g_error("%s: %s", type, why);
    g_assert_cmpstr(lc__fact_type(f->kind), ==, type);
    seen[f->kind] = true;
    char *back = lc__fact_encode(f);
    g_assert_cmpstr(back, ==, text);
    g_free(back);
    lc__fact_free(f);
  }
  for (int k = 0; k < LC__FACT_N; k++)
    if (!seen[k])
      g_error("the golden journal has no %s", lc__fact_type(k));
  json_decref(g);
}

static bool
optional(const char *type, const char *key)
{
  static const char *const opt[][2] = {
      {"pin", "product"},
      {"coupon.claimed", "op_id"},
      {"cart.set", "op_id"},
      {"order.created", "op_id"},
      {"order.", "payment_ref"},
      {"order.", "reason"},
      {"order.", "user"},
      {"order.", "op_id"},
      {"chat.muted", "reason"},
      {"order.created", "order.claim_id"},
      {"order.created", "order.items.sale_id"},
      /* added with group buy, gifts and promotions (journal-v2.json) */
      {"order.created", "order.items.promotion"},
      {"order.created", "order.promo_discount"},
      {"order.created", "order.coins"},
      {"order.created", "order.group"},
      {"promo.set", "promotion"},
      {"gifts.loaded", "coin_cents"},
      {"gifts.loaded", "creator_pct"},
      {"gift.sent", "op_id"},
  };
  for (size_t i = 0; i < G_N_ELEMENTS(opt); i++)
    if (g_str_has_prefix(type, opt[i][0]) && strcmp(key, opt[i][1]) == 0 &&
        (strcmp(opt[i][0], "order.") != 0 || strcmp(type, "order.created") != 0))
      return true;
  return false;
}

/* Drops `key` from `obj` (a part of `root`) and decodes root: fails exactly for required keys. */
static void
check_drop(const char *type, json_t *root, json_t *obj, const char *key_in, const char *label_in)
{
  g_autofree char *key = g_strdup(key_in), *label = g_strdup(label_in); /* del frees the object's key */
  json_t *saved = json_incref(json_object_get(obj, key));
  json_object_del(obj, key);
  char *text = json_dumps(root, JSON_COMPACT);
  char *why = NULL;
  lc__fact *f = lc__fact_decode(type, text, 2, &why);
  if (optional(type, label)) {
    if (!f)
      g_error("%s without optional %s: %s", type, label, why);
  } else {
    if (f)
      g_error("%s without %s decoded", type, label);
    g_assert_nonnull(strstr(why, strrchr(label, '.') ? strrchr(label, '.') + 1 : label));
  }
  lc__fact_free(f);
  g_free(why);
  free(text);
  json_object_set_new(obj, key, saved);
}

static void
test_missing_fields(void)
{
  json_t *g = golden();
  json_t *rows = json_object_get(g, "rows");
  int checked = 0;
  for (size_t i = 0; i < json_array_size(rows); i++) {
    const char *type = json_string_value(json_array_get(json_array_get(rows, i), 0));
    if (strcmp(type, "catalog.loaded") == 0 || strcmp(type, "coupon.dropped") == 0)
      continue; /* their bodies are the catalog's and the coupon's own parsers' (fuzzed) */
    json_t *root = json_loads(json_string_value(json_array_get(json_array_get(rows, i), 1)), 0, NULL);
    /* (object, key, label) to drop one at a time: keys collected first, since putting a key
     * back moves it to the end of the object's order */
    GPtrArray *drops = g_ptr_array_new_with_free_func(g_free);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
      g_ptr_array_add(drops, g_strdup_printf("%p %s %s", (void *)root, key, key));
      if (strcmp(key, "order") != 0)
        continue;
      const char *k2;
      json_t *v2;
      json_object_foreach(v, k2, v2)
      {
        g_ptr_array_add(drops, g_strdup_printf("%p %s order.%s", (void *)v, k2, k2));
        if (strcmp(k2, "items") != 0)
          continue;
        json_t *item = json_array_get(v2, 0);
        const char *k3;
        json_t *v3;
        json_object_foreach(item, k3, v3)
            g_ptr_array_add(drops, g_strdup_printf("%p %s order.items.%s", (void *)item, k3, k3));
      }
    }
    for (guint d = 0; d < drops->len; d++) {
      void *obj = NULL;
      char k[64], label[96];
      g_assert_cmpint(sscanf(g_ptr_array_index(drops, d), "%p %63s %95s", &obj, k, label), ==, 3);
      check_drop(type, root, obj, k, label);
      checked++;
    }
    g_ptr_array_unref(drops);
    json_decref(root);
  }
  g_assert_cmpint(checked, >, 60);
  json_decref(g);
}

static void
test_refusals(void)
{
  static const char *const bad[][2] = {
      {"cart.set", "{\"user\":\"bo\",\"sku\":\"mug-1\",\"qty\":\"3\"}"},         /* qty as text */
      {"chat.banned", "{\"user\":\"bo\",\"banned\":1}"},                         /* not a boolean */
      {"pin", "{\"product\":7,\"at\":1}"},                                       /* product not a string */
      {"likes", "[1]"},                                                          /* not an object */
      {"likes", "{\"total\":"},                                                  /* not JSON */
      {"order.refunded", "{\"id\":\"o-1\",\"at\":1}"},                           /* unknown type */
      {"order.created", "{\"order\":{\"id\":\"o-1\"},\"from_cart\":false}"},     /* no items */
      {"catalog.loaded", "{\"catalog\":{\"currency\":\"CNY\",\"products\":7}}"}, /* the catalog's own error */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
    char *why = NULL;
    g_assert_null(lc__fact_decode(bad[i][0], bad[i][1], 2, &why));
    g_assert_nonnull(why);
    g_test_message("%s %s: %s", bad[i][0], bad[i][1], why);
    g_free(why);
  }
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/show-facts/round-trip", test_round_trip);
  g_test_add_func("/show-facts/missing-fields", test_missing_fields);
  g_test_add_func("/show-facts/refusals", test_refusals);
  return g_test_run();
}
