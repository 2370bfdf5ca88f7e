/* Rooms' overlays wired to config, shows, moderators and the ladder (see app_overlays.h).
 * Main thread only. */
#define LC_LOG_DOMAIN "overlays"
#include "app/app_overlays.h"
#include "base/errors.h"
#include "base/log.h"
#include "commerce/catalog.h"

#include <string.h>

typedef struct {
  char *room;
  lc_overlay *overlay;
  char *currency;  /* the show's, for prices ("CNY" until seeded) */
  int exponent;
  char *flash_id;  /* the sale on screen, NULL: none */
  lc_overlay_flash flash;
  char *flash_title, *flash_price; /* owned strings behind flash */
  /* group buy: the deals seen (id -> group_deal*) and their open teams (id -> group_team*), from
   * the snapshot and the group.* events; the deal on screen and the team whose seats it shows */
  GHashTable *deals, *teams;
  char *group_deal, *group_team; /* NULL: none */
  int64_t formed_until;          /* "已成团" until then */
  guint64 team_clock;            /* orders the teams' changes */
} room_ov;

typedef struct {
  char *title;      /* the product (and the SKU's label) */
  json_int_t price; /* group price, minor units */
  int team_size;
  bool live;      /* started and not ended */
  bool ended;
} group_deal;

typedef struct {
  char *deal_id;
  int seats, size;
  int64_t deadline;
  guint64 changed; /* team_clock at its last change */
} group_team;

struct lc_app_overlays {
  bool enabled;
  lc_overlay_options opt;
  char *font, *image_root, *lang;
  int64_t coupon_banner_ms;
  lc_rooms *rooms;
  lc_control *control;
  const lc_wordfilter *ad_filter;
  lc_app_overlays_hooks hooks;
  GHashTable *by_room; /* room id -> room_ov* */
};

static int64_t
now_ms(void)
{
  return g_get_real_time() / 1000;
}

static void
group_deal_free(group_deal *d)
{
  g_free(d->title);
  g_free(d);
}

static void
group_team_free(group_team *t)
{
  g_free(t->deal_id);
  g_free(t);
}

static void
room_ov_free(room_ov *r)
{
  g_hash_table_destroy(r->deals);
  g_hash_table_destroy(r->teams);
  g_free(r->group_deal);
  g_free(r->group_team);
  g_free(r->room);
  lc_overlay_unref(r->overlay);
  g_free(r->currency);
  g_free(r->flash_id);
  g_free(r->flash_title);
  g_free(r->flash_price);
  g_free(r);
}

/* ---- from show data to scene content ---- */

static char *
money(room_ov *r, json_int_t minor)
{
  return lc_money_format(r->currency, r->exponent, minor);
}

static void
set_card(room_ov *r, const json_t *product)
{
  if (!json_is_object(product)) {
    lc_overlay_set_card(r->overlay, NULL);
    return;
  }
  /* the card shows the lowest SKU price, struck through against that SKU's original price */
  json_int_t price = -1, original = -1;
  size_t i;
  json_t *sku;
  json_array_foreach(json_object_get(product, "skus"), i, sku) {
    json_int_t p = json_integer_value(json_object_get(sku, "price"));
    if (price < 0 || p < price) {
      price = p;
      original = json_integer_value(json_object_get(sku, "original_price"));
    }
  }
  char *p = price >= 0 ? money(r, price) : g_strdup("");
  char *o = original > price ? money(r, original) : NULL;
  /* a catalog image is a web path ("/demo/img/x.svg"): the renderer resolves it inside
   * overlays.image_root (the web root by default) and refuses what leads out of it */
  const char *img = json_string_value(json_object_get(product, "image"));
  lc_overlay_card card = {.title = json_string_value(json_object_get(product, "title")),
                          .price = p,
                          .original_price = o,
                          .image = img && *img ? img : NULL};
  if (!card.title)
    card.title = "";
  lc_overlay_set_card(r->overlay, &card);
  g_free(p);
  g_free(o);
}

static void
flash_clear(room_ov *r)
{
  g_clear_pointer(&r->flash_id, g_free);
  g_clear_pointer(&r->flash_title, g_free);
  g_clear_pointer(&r->flash_price, g_free);
  lc_overlay_set_flash(r->overlay, NULL);
}

/* A sale object as in flash.started / the snapshot's flash_sales. */
static void
flash_show(room_ov *r, const json_t *sale)
{
  const char *id = json_string_value(json_object_get(sale, "id"));
  if (!id)
    return;
  g_free(r->flash_id);
  r->flash_id = g_strdup(id);
  g_free(r->flash_title);
  r->flash_title = g_strdup(json_string_value(json_object_get(sale, "title")));
  g_free(r->flash_price);
  r->flash_price = money(r, json_integer_value(json_object_get(sale, "price")));
  json_int_t remaining = json_integer_value(json_object_get(sale, "remaining"));
  r->flash = (lc_overlay_flash){.title = r->flash_title,
                                .price = r->flash_price,
                                .ends_at_ms = json_integer_value(json_object_get(sale, "ends_at")),
                                .stock_left = remaining,
                                .stock_total = MAX(1, json_integer_value(json_object_get(sale, "quantity"))),
                                .sold_out = remaining <= 0};
  lc_overlay_set_flash(r->overlay, &r->flash);
}

static void
flash_stock(room_ov *r, const json_t *data, bool sold_out)
{
  const char *id = json_string_value(json_object_get(data, "sale_id"));
  if (!r->flash_id || !id || strcmp(id, r->flash_id) != 0)
    return;
  if (sold_out) {
    r->flash.stock_left = 0;
    r->flash.sold_out = true;
  } else {
    r->flash.stock_left = json_integer_value(json_object_get(data, "remaining"));
    r->flash.sold_out = r->flash.stock_left <= 0;
  }
  lc_overlay_set_flash(r->overlay, &r->flash);
}

/* A coupon's banner text: its title, else its terms in the room's language ("满 200 减 30",
 * "立减 ¥30", "9 折" / "¥30 off orders over ¥200", "¥30 off", "10% off"); never its id. */
static char *
coupon_text(room_ov *r, const json_t *c)
{
  const char *title = json_string_value(json_object_get(c, "title"));
  if (title && *title)
    return g_strdup(title);
  const char *kind = json_string_value(json_object_get(c, "kind"));
  json_t *st = lc_overlay_status(r->overlay, 0);
  bool zh = g_strcmp0(json_string_value(json_object_get(st, "lang")), "en") != 0;
  json_decref(st);
  json_int_t off = json_integer_value(json_object_get(c, "amount_off"));
  json_int_t min = json_integer_value(json_object_get(c, "min_spend"));
  json_int_t pct = json_integer_value(json_object_get(c, "percent_off"));
  char *a = money(r, off), *m = money(r, min), *out;
  if (kind && strcmp(kind, "percent") == 0) {
    if (zh && pct % 10 == 0)
      out = g_strdup_printf("%d 折", (int)(10 - pct / 10));
    else if (zh)
      out = g_strdup_printf("%d 折", (int)(100 - pct));
    else
      out = g_strdup_printf("%d%% off", (int)pct);
  } else if (kind && strcmp(kind, "threshold") == 0) {
    /* 满减 amounts are said in whole units: "满 200 减 30" */
    json_int_t unit = 1;
    for (int i = 0; i < r->exponent; i++)
      unit *= 10;
    if (zh && min % unit == 0 && off % unit == 0)
      out = g_strdup_printf("满 %" JSON_INTEGER_FORMAT " 减 %" JSON_INTEGER_FORMAT, min / unit, off / unit);
    else
      out = g_strdup_printf(zh ? "满 %s 减 %s" : "%2$s off orders over %1$s", m, a);
  } else {
    out = g_strdup_printf(zh ? "立减 %s" : "%s off", a);
  }
  g_free(a);
  g_free(m);
  return out;
}

static void
coupon_show(lc_app_overlays *ov, room_ov *r, const json_t *c)
{
  int64_t now = now_ms(), until = now + ov->coupon_banner_ms;
  json_int_t starts = json_integer_value(json_object_get(c, "starts_at"));
  json_int_t ends = json_integer_value(json_object_get(c, "ends_at"));
  if (starts > now)
    return; /* dropped for later: the page shows it when it starts; the picture does not */
  if (ends > 0 && ends < until)
    until = ends;
  char *text = coupon_text(r, c);
  lc_overlay_set_coupon(r->overlay, text, until);
  g_free(text);
}

static json_t *snapshot(lc_app_overlays *ov, room_ov *r);

/* ---- gifts ---- */

static lc_overlay_gift_class
gift_class(const char *name)
{
  if (name && strcmp(name, "fullscreen") == 0)
    return LC_OVERLAY_GIFT_FULLSCREEN;
  if (name && strcmp(name, "big") == 0)
    return LC_OVERLAY_GIFT_BIG;
  return LC_OVERLAY_GIFT_SMALL;
}

/* The combos of a gifts event (or the snapshot's last 3 s): the scene keeps the most valuable
 * one on screen, a combo on screen is updated by its own pushes. */
static void
gifts_push(room_ov *r, const json_t *combos)
{
  int64_t now = now_ms();
  size_t i;
  json_t *c;
  json_array_foreach(combos, i, c) {
    lc_overlay_gift g = {.combo_id = json_string_value(json_object_get(c, "id")),
                         .by = json_string_value(json_object_get(c, "by")),
                         .name = json_string_value(json_object_get(c, "name")),
                         .icon = json_string_value(json_object_get(c, "icon")),
                         .gift_class = gift_class(json_string_value(json_object_get(c, "class"))),
                         .count = json_integer_value(json_object_get(c, "count")),
                         .coins = json_integer_value(json_object_get(c, "coins")),
                         .last_at_ms = json_integer_value(json_object_get(c, "last_at"))};
    lc_overlay_gift_push(r->overlay, &g, now);
  }
}

/* ---- group buy ---- */

/* A DEAL object (group.opened, the snapshot's group_deals) into the room's deals. */
static void
deal_learn(room_ov *r, const json_t *deal)
{
  const char *id = json_string_value(json_object_get(deal, "id"));
  if (!id)
    return;
  const char *title = json_string_value(json_object_get(deal, "title"));
  const char *label = json_string_value(json_object_get(deal, "label"));
  group_deal *d = g_new0(group_deal, 1);
  d->title = title && *title && label && *label ? g_strdup_printf("%s %s", title, label) : g_strdup(title);
  d->price = json_integer_value(json_object_get(deal, "price"));
  d->team_size = (int)CLAMP(json_integer_value(json_object_get(deal, "team_size")), 1, 99);
  const char *state = json_string_value(json_object_get(deal, "state"));
  d->ended = g_strcmp0(state, "ended") == 0;
  d->live = g_strcmp0(state, "live") == 0;
  g_hash_table_replace(r->deals, g_strdup(id), d);
}

/* A TEAM object into the room's open teams (a formed or failed one leaves them). */
static void
team_learn(room_ov *r, const json_t *team)
{
  const char *id = json_string_value(json_object_get(team, "id"));
  const char *deal = json_string_value(json_object_get(team, "deal_id"));
  if (!id || !deal)
    return;
  if (g_strcmp0(json_string_value(json_object_get(team, "state")), "open") != 0) {
    g_hash_table_remove(r->teams, id);
    return;
  }
  group_team *t = g_new0(group_team, 1);
  t->deal_id = g_strdup(deal);
  t->seats = (int)json_array_size(json_object_get(team, "members"));
  t->size = (int)json_integer_value(json_object_get(team, "size"));
  t->deadline = json_integer_value(json_object_get(team, "deadline"));
  t->changed = ++r->team_clock;
  g_hash_table_replace(r->teams, g_strdup(id), t);
}

/* The team whose seats the group element shows: the one that changed last, if still open, else
 * the deal's open team that changed most recently (NULL: none). */
static group_team *
shown_team(room_ov *r)
{
  group_team *t = r->group_team ? g_hash_table_lookup(r->teams, r->group_team) : NULL;
  if (t && g_strcmp0(t->deal_id, r->group_deal) == 0)
    return t;
  group_team *best = NULL;
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init(&it, r->teams);
  while (g_hash_table_iter_next(&it, NULL, &v)) {
    group_team *c = v;
    if (g_strcmp0(c->deal_id, r->group_deal) == 0 && (!best || c->changed > best->changed))
      best = c;
  }
  return best;
}

/* The group element from the room's state: the deal on screen, its team, the formed notice. */
static void
group_render(room_ov *r)
{
  group_deal *d = r->group_deal ? g_hash_table_lookup(r->deals, r->group_deal) : NULL;
  if (!d || !d->live) {
    lc_overlay_set_group(r->overlay, NULL);
    return;
  }
  group_team *t = shown_team(r);
  char *price = money(r, d->price);
  lc_overlay_group g = {.title = d->title,
                        .price = price,
                        .team_size = t && t->size > 0 ? t->size : d->team_size,
                        .seats = t ? t->seats : -1,
                        .deadline_ms = t ? t->deadline : 0,
                        .formed_until_ms = r->formed_until};
  lc_overlay_set_group(r->overlay, &g);
  g_free(price);
}

static void
group_show_deal(room_ov *r, const char *deal_id, const char *team_id)
{
  if (g_strcmp0(r->group_deal, deal_id) != 0) {
    g_free(r->group_deal);
    r->group_deal = g_strdup(deal_id);
  }
  g_free(r->group_team);
  r->group_team = g_strdup(team_id);
}

static void
seed_group_deals(room_ov *r, const json_t *snap)
{
  size_t i;
  json_t *deal;
  json_array_foreach(json_object_get(snap, "group_deals"), i, deal)
    deal_learn(r, deal);
}

/* The show's deals and open teams; on screen: the live deal whose newest open team started last,
 * else the live deal that started last. */
static void
seed_group(room_ov *r, const json_t *snap)
{
  g_hash_table_remove_all(r->deals);
  g_hash_table_remove_all(r->teams);
  g_clear_pointer(&r->group_deal, g_free);
  g_clear_pointer(&r->group_team, g_free);
  r->formed_until = 0;
  const char *best = NULL, *best_team = NULL;
  json_int_t best_started = G_MININT64;
  bool best_has_team = false;
  size_t i, k;
  json_t *deal, *team;
  json_array_foreach(json_object_get(snap, "group_deals"), i, deal) {
    deal_learn(r, deal);
    json_t *teams = json_object_get(deal, "teams");
    for (k = json_array_size(teams); k-- > 0;) /* newest first: learn the oldest first */
      team_learn(r, json_array_get(teams, k));
    if (g_strcmp0(json_string_value(json_object_get(deal, "state")), "live") != 0)
      continue;
    json_t *newest = NULL;
    json_array_foreach(teams, k, team) {
      if (g_strcmp0(json_string_value(json_object_get(team, "state")), "open") == 0) {
        newest = team;
        break;
      }
    }
    json_int_t started = !newest ? json_integer_value(json_object_get(deal, "starts_at"))
                         : json_object_get(newest, "created_at")
                           ? json_integer_value(json_object_get(newest, "created_at"))
                           : json_integer_value(json_object_get(newest, "deadline")) -
                               json_integer_value(json_object_get(deal, "fill_ms"));
    bool has_team = newest != NULL;
    if (!best || (has_team && !best_has_team) || (has_team == best_has_team && started >= best_started)) {
      best = json_string_value(json_object_get(deal, "id"));
      best_team = newest ? json_string_value(json_object_get(newest, "id")) : NULL;
      best_started = started;
      best_has_team = has_team;
    }
  }
  if (best)
    group_show_deal(r, best, best_team);
  group_render(r);
}

/* group.opened / group.team / group.closed. */
static void
group_event(lc_app_overlays *ov, room_ov *r, const char *name, const json_t *data)
{
  if (strcmp(name, "group.opened") == 0) {
    json_t *deal = json_object_get(data, "deal");
    const char *id = json_string_value(json_object_get(deal, "id"));
    if (!id)
      return;
    deal_learn(r, deal);
    group_deal *d = g_hash_table_lookup(r->deals, id);
    if (!d->live)
      return; /* opened for later: its first team brings it on screen */
    group_show_deal(r, id, NULL);
    r->formed_until = 0;
  } else if (strcmp(name, "group.team") == 0) {
    json_t *team = json_object_get(data, "team");
    const char *id = json_string_value(json_object_get(team, "id"));
    const char *deal = json_string_value(json_object_get(team, "deal_id"));
    if (!deal)
      deal = json_string_value(json_object_get(json_object_get(data, "deal"), "id"));
    if (!id || !deal)
      return;
    if (!g_hash_table_contains(r->deals, deal)) { /* opened before this overlay knew the room */
      json_t *snap = snapshot(ov, r);
      seed_group_deals(r, snap);
      json_decref(snap);
    }
    group_deal *d = g_hash_table_lookup(r->deals, deal);
    if (!d || d->ended)
      return; /* an ended deal's teams do not bring it back */
    d->live = true; /* a team: the deal has started */
    team_learn(r, team);
    const char *state = json_string_value(json_object_get(team, "state"));
    group_show_deal(r, deal, id);
    r->formed_until = 0;
    if (g_strcmp0(state, "formed") == 0) {
      json_int_t at = json_integer_value(json_object_get(team, "formed_at"));
      int64_t now = now_ms();
      at = at > 0 ? MIN(at, now) : now;
      r->formed_until = at + LC_OVERLAY_GROUP_FORMED_MS;
    }
  } else if (strcmp(name, "group.closed") == 0) {
    const char *id = json_string_value(json_object_get(data, "deal_id"));
    if (!id)
      return;
    group_deal *d = g_hash_table_lookup(r->deals, id);
    if (d) {
      d->live = false;
      d->ended = true;
    }
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, r->teams);
    while (g_hash_table_iter_next(&it, NULL, &v))
      if (g_strcmp0(((group_team *)v)->deal_id, id) == 0)
        g_hash_table_iter_remove(&it);
    if (g_strcmp0(r->group_deal, id) == 0) {
      g_clear_pointer(&r->group_deal, g_free);
      g_clear_pointer(&r->group_team, g_free);
      r->formed_until = 0;
    }
  } else {
    return;
  }
  group_render(r);
}

/* The sale the picture shows, from the show's state: the live one, else one that sold out and
 * has not ended (the page still shows it, SOLD OUT); none: the banner goes. One set, so no
 * frame sees the banner cleared in between. */
static void
seed_flash(room_ov *r, const json_t *snap)
{
  const json_t *shown = NULL;
  size_t i;
  json_t *sale;
  json_array_foreach(json_object_get(snap, "flash_sales"), i, sale) {
    const char *state = json_string_value(json_object_get(sale, "state"));
    if (state && strcmp(state, "live") == 0)
      shown = sale;
    else if (state && strcmp(state, "sold_out") == 0 && !shown)
      shown = sale;
  }
  if (shown)
    flash_show(r, shown);
  else
    flash_clear(r);
}

/* The show's public state (transfer full), NULL without a show. */
static json_t *
snapshot(lc_app_overlays *ov, room_ov *r)
{
  lc_show *show = ov->hooks.show_for ? ov->hooks.show_for(r->room, ov->hooks.user) : NULL;
  return show ? lc_show_snapshot(show, NULL) : NULL;
}

/* Seeds an overlay from the show's state: currency, the pinned product and the sale on screen
 * (a restart or a late ladder shows what viewers of the page see); with market, also the group
 * deal on screen and the gift combos of the last 3 s. Setters ignore repeats, so re-seeding an
 * unchanged scene redraws nothing. What changed goes to watchers as overlay.changed, with
 * reason. */
static void announce(lc_app_overlays *ov, room_ov *r, const char *element, const char *reason);

static void
seed(lc_app_overlays *ov, room_ov *r, bool market, const char *reason)
{
  json_t *snap = snapshot(ov, r);
  if (!snap)
    return;
  const char *cur = json_string_value(json_object_get(snap, "currency"));
  if (cur) {
    g_free(r->currency);
    r->currency = g_strdup(cur);
    r->exponent = (int)json_integer_value(json_object_get(snap, "currency_exponent"));
  }
  guint64 v = lc_overlay_version(r->overlay);
  set_card(r, json_object_get(json_object_get(snap, "pinned"), "product"));
  seed_flash(r, snap);
  if (reason && lc_overlay_version(r->overlay) != v)
    announce(ov, r, "card", reason);
  v = lc_overlay_version(r->overlay);
  if (market)
    seed_group(r, snap);
  else
    group_render(r); /* the currency may have changed */
  if (reason && lc_overlay_version(r->overlay) != v)
    announce(ov, r, "group", reason);
  v = lc_overlay_version(r->overlay);
  if (market)
    gifts_push(r, json_object_get(json_object_get(snap, "gifts"), "combos"));
  if (reason && lc_overlay_version(r->overlay) != v)
    announce(ov, r, "gift", reason);
  json_decref(snap);
}

static void
announce(lc_app_overlays *ov, room_ov *r, const char *element, const char *reason)
{
  json_t *st = lc_overlay_status(r->overlay, now_ms());
  json_t *el = json_object_get(json_object_get(st, "elements"), element);
  json_t *data = json_pack("{s:s, s:s, s:s, s:O*}", "room", r->room, "element", element, "reason", reason,
                           "state", el);
  json_decref(st);
  if (ov->control)
    lc_control_publish(ov->control, "overlay.changed", r->room, data);
  else
    json_decref(data);
}

/* ---- lifecycle ---- */

static int
check_room_overlays(const json_t *cfg, char **err)
{
  return lc_overlay_config_check(cfg, err);
}

lc_app_overlays *
lc_app_overlays_new(const lc_config *cfg, lc_rooms *rooms, const lc_wordfilter *ad_filter,
                    const lc_app_overlays_hooks *hooks, char **err_msg)
{
  const char *lang = lc_config_string(cfg, "overlays", "lang");
  if (strcmp(lang, "zh-CN") != 0 && strcmp(lang, "en") != 0) {
    *err_msg = g_strdup_printf("overlays.lang: must be zh-CN or en, not '%s'", lang);
    return NULL;
  }
  lc_app_overlays *ov = g_new0(lc_app_overlays, 1);
  ov->enabled = lc_config_bool(cfg, "overlays", "enabled");
  ov->font = g_strdup(lc_config_string(cfg, "overlays", "font"));
  const char *root = lc_config_string(cfg, "overlays", "image_root");
  ov->image_root = g_strdup(*root ? root : lc_config_string(cfg, "http", "web_root"));
  ov->lang = g_strdup(lang);
  ov->coupon_banner_ms = lc_config_int(cfg, "overlays", "coupon_banner_s") * 1000;
  ov->opt = (lc_overlay_options){.font = ov->font, .image_root = ov->image_root};
  ov->rooms = rooms;
  ov->ad_filter = ad_filter;
  ov->hooks = *hooks;
  ov->by_room = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)room_ov_free);
  lc_rooms_set_overlays_check(rooms, check_room_overlays);
  LC_INFO(NULL, NULL, "overlays %s (font '%s', images in %s, labels %s)", ov->enabled ? "on" : "off", ov->font,
          ov->image_root, ov->lang);
  return ov;
}

void
lc_app_overlays_free(lc_app_overlays *ov)
{
  if (!ov)
    return;
  g_hash_table_destroy(ov->by_room);
  g_free(ov->font);
  g_free(ov->image_root);
  g_free(ov->lang);
  g_free(ov);
}

/* A configuration as the overlay applies it: a copy of cfg (an object, or NULL for none) with
 * lang defaulting to [overlays] lang, since a configuration resets what it leaves out. */
static json_t *
with_lang(lc_app_overlays *ov, const json_t *cfg)
{
  json_t *c = cfg ? json_deep_copy(cfg) : json_object();
  if (!json_object_get(c, "lang"))
    json_object_set_new(c, "lang", json_string(ov->lang));
  return c;
}

/* The room's overlay state, created on first use (NULL: disabled, no such room, or ended). */
static room_ov *
room_get(lc_app_overlays *ov, const char *room)
{
  if (!ov->enabled || !room)
    return NULL;
  room_ov *r = g_hash_table_lookup(ov->by_room, room);
  if (r)
    return r;
  lc_room *lr = lc_rooms_get(ov->rooms, room);
  json_t *rj = lr ? lc_room_to_json(lr, false) : NULL;
  bool ended = rj && g_strcmp0(json_string_value(json_object_get(rj, "state")), "ended") == 0;
  json_decref(rj);
  if (!lr || ended)
    return NULL;
  r = g_new0(room_ov, 1);
  r->room = g_strdup(room);
  lc_overlay_options opt = ov->opt;
  opt.room = r->room;
  r->overlay = lc_overlay_new(&opt);
  r->currency = g_strdup("CNY");
  r->exponent = 2;
  r->deals = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)group_deal_free);
  r->teams = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)group_team_free);
  /* the room's own object (checked when the room was created), its lang defaulting to
   * [overlays] lang: a configuration resets every field it leaves out */
  json_t *cfg = with_lang(ov, lc_room_overlays(lr));
  char *err = NULL;
  if (lc_overlay_configure(r->overlay, cfg, &err) != 0) {
    LC_WARN(room, NULL, "room overlays ignored: %s", err);
    g_free(err);
  }
  json_decref(cfg);
  g_hash_table_insert(ov->by_room, r->room, r);
  seed(ov, r, true, NULL);
  return r;
}

lc_overlay *
lc_app_overlays_for(const char *room, gpointer user)
{
  room_ov *r = room_get(user, room);
  return r ? r->overlay : NULL;
}

void
lc_app_overlays_room_ended(lc_app_overlays *ov, const char *room)
{
  if (ov)
    g_hash_table_remove(ov->by_room, room);
}

/* ---- show events ---- */

void
lc_app_overlays_show_event(lc_app_overlays *ov, const char *room, lc_show_event_kind kind, const json_t *data)
{
  room_ov *r = ov ? g_hash_table_lookup(ov->by_room, room) : NULL;
  if (!r)
    return;
  guint64 version = lc_overlay_version(r->overlay);
  const char *element = NULL;
  switch (kind) {
  case LC_SHOW_EV_SHOW_RESET:
  case LC_SHOW_EV_CATALOG_UPDATED:
    /* a new epoch: everything from the snapshot; a catalog: prices and the pinned product */
    seed(ov, r, kind == LC_SHOW_EV_SHOW_RESET, lc_show_event_name(kind));
    return;
  case LC_SHOW_EV_PRODUCT_PINNED:
    set_card(r, json_object_get(data, "product"));
    element = "card";
    break;
  case LC_SHOW_EV_PRODUCT_UNPINNED:
    set_card(r, NULL);
    element = "card";
    break;
  case LC_SHOW_EV_FLASH_STARTED:
    flash_show(r, data);
    element = "flash";
    break;
  case LC_SHOW_EV_FLASH_STOCK:
    flash_stock(r, data, false);
    element = "flash";
    break;
  case LC_SHOW_EV_FLASH_SOLD_OUT:
    flash_stock(r, data, true);
    element = "flash";
    break;
  case LC_SHOW_EV_FLASH_ENDED: {
    /* the sale on screen ended: another live one (sales may overlap) takes its place */
    const char *id = json_string_value(json_object_get(data, "sale_id"));
    if (r->flash_id && id && strcmp(id, r->flash_id) == 0) {
      json_t *snap = snapshot(ov, r);
      if (snap)
        seed_flash(r, snap);
      else
        flash_clear(r);
      json_decref(snap);
    }
    element = "flash";
    break;
  }
  case LC_SHOW_EV_COUPON_DROPPED:
    coupon_show(ov, r, data);
    element = "coupon";
    break;
  default: {
    /* the marketing events (docs/protocol.md), by their wire names */
    const char *name = lc_show_event_name(kind);
    if (strcmp(name, "gifts") == 0) {
      gifts_push(r, json_object_get(data, "combos"));
      element = "gift";
    } else if (g_str_has_prefix(name, "group.")) {
      group_event(ov, r, name, data);
      element = "group";
    } else {
      return;
    }
    break;
  }
  }
  if (lc_overlay_version(r->overlay) != version) /* watchers hear of changes, not of events */
    announce(ov, r, element, lc_show_event_name(kind));
}

void
lc_app_overlays_private_event(lc_app_overlays *ov, const char *room, const char *user_id, lc_show_event_kind kind,
                              const json_t *data)
{
  room_ov *r = ov ? g_hash_table_lookup(ov->by_room, room) : NULL;
  if (!r || kind != LC_SHOW_EV_ORDER_CREATED)
    return;
  guint64 version = lc_overlay_version(r->overlay);
  json_int_t qty = 0;
  size_t i;
  json_t *item;
  json_array_foreach(json_object_get(json_object_get(data, "order"), "items"), i, item)
    qty += json_integer_value(json_object_get(item, "qty"));
  const char *name = ov->hooks.user_name ? ov->hooks.user_name(room, user_id, ov->hooks.user) : NULL;
  lc_overlay_ticker_push(r->overlay, name ? name : user_id, qty, now_ms());
  if (lc_overlay_version(r->overlay) != version) /* a burst replaces the waiting line: one event */
    announce(ov, r, "ticker", "order.created");
}

/* ---- moderator commands ---- */

/* The room's overlay for a command, or a failed request (unknown room, overlays off). */
static room_ov *
cmd_room(lc_app_overlays *ov, lc_ctl_req *req, json_t *args)
{
  const char *room = json_string_value(json_object_get(args, "room"));
  if (!room) {
    lc_ctl_req_fail(req, "invalid_argument", "room is required");
    return NULL;
  }
  if (!ov->enabled) {
    lc_ctl_req_fail(req, "invalid_state", "overlays are disabled (overlays.enabled = false)");
    return NULL;
  }
  room_ov *r = room_get(ov, room);
  if (!r)
    lc_ctl_req_fail(req, "not_found", "no room %s, or it has ended", room);
  return r;
}

static int
cmd_element(lc_ctl_req *req, json_t *args)
{
  const char *name = json_string_value(json_object_get(args, "element"));
  int e = name ? lc_overlay_element_from_name(name) : -1;
  if (e < 0)
    lc_ctl_req_fail(req, "invalid_argument",
                    "element must be one of card, flash, coupon, ticker, logo, text, gift, group%s%s%s",
                    name ? " (not '" : "", name ? name : "", name ? "')" : "");
  return e;
}

static void
reply_element(lc_app_overlays *ov, lc_ctl_req *req, room_ov *r, const char *element, const char *reason)
{
  json_t *st = lc_overlay_status(r->overlay, now_ms());
  lc_ctl_req_reply(req, json_pack("{s:s, s:s, s:O*}", "room", r->room, "element", element, "state",
                                  json_object_get(json_object_get(st, "elements"), element)));
  json_decref(st);
  announce(ov, r, element, reason);
}

static void
cmd_status(lc_ctl_req *req, json_t *args, gpointer user)
{
  room_ov *r = cmd_room(user, req, args);
  if (r)
    lc_ctl_req_reply(req, lc_overlay_status(r->overlay, now_ms()));
}

static void
set_visible(lc_ctl_req *req, json_t *args, gpointer user, bool visible)
{
  room_ov *r = cmd_room(user, req, args);
  int e = r ? cmd_element(req, args) : -1;
  if (e < 0)
    return;
  lc_overlay_set_visible(r->overlay, (lc_overlay_element)e, visible);
  reply_element(user, req, r, lc_overlay_element_name((lc_overlay_element)e), visible ? "shown" : "hidden");
}

static void
cmd_show(lc_ctl_req *req, json_t *args, gpointer user)
{
  set_visible(req, args, user, true);
}

static void
cmd_hide(lc_ctl_req *req, json_t *args, gpointer user)
{
  set_visible(req, args, user, false);
}

static void
cmd_place(lc_ctl_req *req, json_t *args, gpointer user)
{
  room_ov *r = cmd_room(user, req, args);
  int e = r ? cmd_element(req, args) : -1;
  if (e < 0)
    return;
  const char *anchor = json_string_value(json_object_get(args, "anchor"));
  json_t *mx = json_object_get(args, "margin_x"), *my = json_object_get(args, "margin_y");
  json_t *w = json_object_get(args, "width");
  if (!anchor || (mx && !json_is_number(mx)) || (my && !json_is_number(my)) || (w && !json_is_number(w))) {
    lc_ctl_req_fail(req, "invalid_argument", "anchor (a string) is required; margin_x, margin_y, width are numbers (%%)");
    return;
  }
  /* what is left out stays as it is (the width too: lc_overlay_place keeps it for <= 0) */
  json_t *st = lc_overlay_status(r->overlay, 0);
  json_t *margin = json_object_get(json_object_get(json_object_get(st, "elements"), lc_overlay_element_name(e)),
                                   "margin");
  double x = mx ? json_number_value(mx) : json_number_value(json_array_get(margin, 0));
  double y = my ? json_number_value(my) : json_number_value(json_array_get(margin, 1));
  json_decref(st);
  char *err = NULL;
  if (lc_overlay_place(r->overlay, (lc_overlay_element)e, anchor, x, y, w ? json_number_value(w) : 0, &err) != 0) {
    lc_ctl_req_fail(req, "invalid_argument", "%s", err ? err : "bad placement");
    g_free(err);
    return;
  }
  reply_element(user, req, r, lc_overlay_element_name((lc_overlay_element)e), "placed");
}

static void
cmd_text(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_app_overlays *ov = user;
  room_ov *r = cmd_room(ov, req, args);
  if (!r)
    return;
  json_t *t = json_object_get(args, "text");
  if (!json_is_string(t)) {
    lc_ctl_req_fail(req, "invalid_argument", "text (a string; \"\" clears) is required");
    return;
  }
  const char *text = json_string_value(t);
  const char *word = NULL;
  if (ov->ad_filter && lc_wordfilter_match(ov->ad_filter, text, json_string_length(t), &word)) {
    lc_ctl_req_fail(req, "compliance", "the text contains the ad-law term '%s'", word);
    return;
  }
  char *err = NULL;
  if (lc_overlay_set_text(r->overlay, text, &err) != 0) {
    lc_ctl_req_fail(req, "invalid_argument", "text: %s", err ? err : "invalid");
    g_free(err);
    return;
  }
  reply_element(ov, req, r, "text", *text ? "text set" : "text cleared");
}

static void
cmd_logo(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_app_overlays *ov = user;
  room_ov *r = cmd_room(ov, req, args);
  if (!r)
    return;
  json_t *img = json_object_get(args, "image");
  if (!json_is_string(img) || json_string_length(img) > 1024) {
    lc_ctl_req_fail(req, "invalid_argument", "image (a path under overlays.image_root, at most 1024 bytes; \"\" clears) is required");
    return;
  }
  lc_overlay_set_logo(r->overlay, json_string_length(img) ? json_string_value(img) : NULL);
  reply_element(ov, req, r, "logo", json_string_length(img) ? "logo set" : "logo cleared");
}

static void
cmd_configure(lc_ctl_req *req, json_t *args, gpointer user)
{
  room_ov *r = cmd_room(user, req, args);
  if (!r)
    return;
  json_t *given = json_object_get(args, "config");
  if (!json_is_object(given)) {
    lc_ctl_req_fail(req, "invalid_argument", "config (an overlays object) is required");
    return;
  }
  json_t *cfg = with_lang(user, given);
  char *err = NULL;
  int rc = lc_overlay_configure(r->overlay, cfg, &err);
  json_decref(cfg);
  if (rc != 0) {
    lc_ctl_req_fail(req, "invalid_argument", "config.%s", err ? err : "invalid");
    g_free(err);
    return;
  }
  json_t *st = lc_overlay_status(r->overlay, now_ms());
  lc_control_publish(((lc_app_overlays *)user)->control, "overlay.changed", r->room,
                     json_pack("{s:s, s:s, s:O}", "room", r->room, "reason", "configured", "state", st));
  lc_ctl_req_reply(req, st);
}

void
lc_app_overlays_register(lc_app_overlays *ov, lc_control *ctl)
{
  ov->control = ctl;
  lc_control_register(ctl, "overlay.status", "{room}: what the room's overlays show now", cmd_status, ov);
  lc_control_register(ctl, "overlay.show", "{room, element}: show an overlay element", cmd_show, ov);
  lc_control_register(ctl, "overlay.hide", "{room, element}: hide an overlay element", cmd_hide, ov);
  lc_control_register(ctl, "overlay.place",
                      "{room, element, anchor, margin_x?, margin_y?, width?}: move an element (margins, width in %)",
                      cmd_place, ov);
  lc_control_register(ctl, "overlay.text", "{room, text}: the free text element (\"\" clears); ad-law terms refused",
                      cmd_text, ov);
  lc_control_register(ctl, "overlay.logo", "{room, image}: the logo element's image file (\"\" clears)", cmd_logo, ov);
  lc_control_register(ctl, "overlay.configure", "{room, config}: apply an overlays object (as in room.create)",
                      cmd_configure, ov);
}
