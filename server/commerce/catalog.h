/* A room's product catalog: parsing, validation, canonical JSON and money formatting.
 * Pure module, no I/O. Built on the main thread; immutable afterwards, so readable from any thread. */
#pragma once
#include <glib.h>
#include <jansson.h>
/* A room's catalog, parsed from JSON and validated. Immutable once parsed; the engine keeps
 * live stock itself (initialised from lc_sku.stock). Prices are integers in minor units. */
typedef struct {
  char *id;             /* unique within the catalog, 1-64 chars [A-Za-z0-9_.-] */
  char *label;          /* e.g. "蓝色 600ml", 0-100 bytes */
  gint64 price;         /* minor units, 0 .. 10^10 */
  gint64 original_price;/* >= price; equal when not discounted */
  gint64 stock;         /* initial stock, 0 .. 10^9 */
  gint64 hold_limit;    /* most units one viewer may hold in unpaid orders, 0 .. 10^9 (0: no cap);
                         * -1 when absent: the catalog's, else the room's default (lc_catalog_hold_limit) */
  int product;          /* index of its product in lc_catalog.products */
} lc_sku;
typedef struct {
  char *id;             /* unique, 1-64 chars [A-Za-z0-9_.-] */
  char *title;          /* 1-200 bytes UTF-8 */
  char *subtitle;       /* "" when absent, <= 300 bytes */
  char *image;          /* URL or path, "" when absent, <= 1024 bytes */
  gint64 low_stock_threshold; /* alert when a SKU's stock falls to this or below; default from the call */
  int first_sku, n_skus;/* its SKUs are skus[first_sku .. first_sku+n_skus-1], n_skus >= 1 */
} lc_product;
typedef struct lc_catalog {
  char *currency;       /* ISO 4217 upper-case 3 letters */
  int exponent;         /* minor-unit digits: 2 for CNY/USD/EUR, 0 for JPY/KRW; from a small table, unknown -> error */
  gint64 hold_limit;    /* default of its SKUs' hold_limit, 0 .. 10^9 (0: no cap); -1 when absent */
  lc_product *products; int n_products;
  lc_sku *skus; int n_skus;
  GHashTable *sku_index, *product_index; /* id -> index+1 (GINT_TO_POINTER) — private, use the lookups */
} lc_catalog;
/* Parses {"currency":"CNY","hold_limit"?,"products":[{"id","title","subtitle"?,"image"?,"low_stock_threshold"?,
 * "skus":[{"id","label"?,"price","original_price"?,"stock","hold_limit"?}]}]}. Max 1000 products, 5000 SKUs.
 * On error returns NULL and *err (g_free) names the field: "products[3].skus[0].price: must be an integer
 * from 0 to 10000000000". Duplicate product or SKU ids are errors naming both places. Unknown fields are errors
 * (typos in a catalog must not pass silently). default_low_stock applies where a product has none.
 * Any thread (usually main); root is borrowed; the result is owned by the caller (lc_catalog_free). */
lc_catalog *lc_catalog_from_json(const json_t *root, gint64 default_low_stock, char **err);
/* Same as lc_catalog_from_json from JSON text (len bytes, need not be NUL-terminated). Any thread. */
lc_catalog *lc_catalog_parse(const char *text, size_t len, gint64 default_low_stock, char **err);
/* Frees a catalog (NULL is fine). Owner's thread. */
void lc_catalog_free(lc_catalog *c);
/* Index or -1. Any thread; sku_id borrowed. */
int lc_catalog_sku(const lc_catalog *c, const char *sku_id);
/* The hold limit of SKU index `sku`: its own, else the catalog's, else room_default; 0 means
 * no cap. Any thread. */
gint64 lc_catalog_hold_limit(const lc_catalog *c, int sku, gint64 room_default);
/* Index or -1. Any thread; product_id borrowed. */
int lc_catalog_product(const lc_catalog *c, const char *product_id);
/* Canonical JSON of the whole catalog (same shape as the input, all fields present except an absent hold_limit) — transfer full.
 * lc_catalog_from_json(lc_catalog_to_json(c)) must give an equal catalog. Any thread. */
json_t *lc_catalog_to_json(const lc_catalog *c);
/* Public JSON of one product for viewers: {id,title,subtitle,image,skus:[{id,label,price,original_price}]}
 * (no stock: the engine adds live stock). transfer full. Any thread. */
json_t *lc_catalog_product_json(const lc_catalog *c, int product);
/* Formats an amount for logs and messages: "¥129.00", "$5.50", "€3.10", "JPY 500" style — transfer full (g_free).
 * Any thread. */
char *lc_money_format(const char *currency, int exponent, gint64 minor);
