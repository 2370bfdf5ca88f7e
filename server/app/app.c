#define LC_LOG_DOMAIN "app"
#include "app/app.h"
#include "app/app_media.h"
#include "app/app_overlays.h"
#include "app/app_record.h"
#include "cluster/cluster.h"
#include "control/cmd_show.h"
#include "control/commands.h"
#include "control/control.h"
#include "base/errors.h"
#include "signaling/http.h"
#include "base/ipguard.h"
#include "base/log.h"
#include "base/metrics.h"
#include "rooms/rooms.h"
#include "signaling/session.h"
#include "commerce/show.h"
#include "commerce/wallet.h"
#include "store/store.h"
#include "commerce/wordfilter.h"
#include "signaling/ws.h"

#include <string.h>
#include <sys/resource.h>

struct lc_app {
  const lc_config *cfg; /* borrowed, outlives the app */
  GMainLoop *loop;
  gint64 started_us;
  lc_metrics *metrics;
  lc_store *store;
  lc_rooms *rooms;
  lc_http *http;
  lc_control *control;
  lc_ws *ws;
  lc_session *session;
  lc_app_media *media;       /* ingest, ladder, WebRTC */
  lc_app_overlays *overlays; /* what the ladder burns into the rungs */
  lc_app_record *record;     /* recordings of the live rooms, replay */
  lc_cluster *cluster;       /* cluster mode: shows and the room registry on Redis; NULL: one node */
  GHashTable *shows;         /* room id -> lc_show* (opened on first use) */
  lc_wallets *wallets;       /* coin wallets of every shop, shared by the shows (outlives them) */
  lc_show_config show_cfg;
  lc_wordfilter *chat_filter, *ad_filter;
  char *jwt_secret;
  lc_show_commands show_cmds;
  lc_metric *events_total;
  lc_metric *orders_total;
  lc_metric *rooms_gauge[3];
  guint shutdown_timer;
  bool stopping;
  /* Per-address limits of the HTTP side ([limits]; RTMP keeps its own in the ingest). */
  lc_iplist *limits_exempt;
  lc_ipguard *auth_guard;    /* failed WHIP stream keys and payment signatures */
  lc_ipguard *session_guard; /* WHEP/WHIP offers */
  guint limits_timer;        /* writes the guards' due log summaries */
};

static const char *const room_states[] = {"scheduled", "live", "ended"};

static void
update_room_gauges(lc_app *app)
{
  for (int i = 0; i < 3; i++)
    lc_metric_set(app->rooms_gauge[i], lc_rooms_count_state(app->rooms, room_states[i]));
}

/* rooms -> control watchers, metrics (main thread) */
static void
on_room_event(const char *event, const char *room_id, const json_t *data, gpointer user)
{
  lc_app *app = user;
  lc_metric_add(app->events_total, 1);
  update_room_gauges(app);
  lc_control_publish(app->control, event, room_id, json_deep_copy(data));
  lc_room *changed = app->cluster ? lc_rooms_get(app->rooms, room_id) : NULL;
  if (changed) { /* the registry every node polls */
    json_t *rj = lc_room_to_json(changed, true);
    lc_cluster_room_put(app->cluster, room_id, rj);
    json_decref(rj);
  }
  lc_show *show = g_hash_table_lookup(app->shows, room_id);
  if (strcmp(event, "room.ended") == 0) {
    lc_app_media_room_ended(app->media, room_id);
    lc_app_overlays_room_ended(app->overlays, room_id);
  }
  if (app->cluster && strcmp(event, "room.ended") == 0) {
    char *err = NULL;
    int n = lc_cluster_archive(app->cluster, room_id, app->store, app->show_cfg.low_stock_default, &err);
    if (n < 0)
      LC_WARN(room_id, NULL, "the ended show's journal was not archived here: %s", err);
    else if (n > 0)
      LC_INFO(room_id, NULL, "the ended show's %d facts archived into %s", n, lc_config_string(app->cfg, "store", "path"));
    g_free(err);
  }
  if (show && strcmp(event, "room.ended") == 0) {
    lc_show_set_closed(show, true);
    lc_session_close_room(app->session, room_id, "the show has ended");
  }
}

/* ---- shows: the commerce state of each room, wired to viewers and moderators ---------- */

/* A show's event as a control-socket event: its data with the room added. */
static json_t *
with_room(const char *room, const json_t *data)
{
  json_t *o = json_is_object(data) ? json_deep_copy(data) : json_object();
  json_object_set_new(o, "room", json_string(room));
  return o;
}

static void
show_event(lc_show *show, gint64 seq, lc_show_event_kind kind, const json_t *data, gpointer user)
{
  lc_app *app = user;
  lc_metric_add(app->events_total, 1);
  lc_session_event(app->session, show, seq, kind, data);
  lc_app_overlays_show_event(app->overlays, lc_show_room(show), kind, data);
  if (kind == LC_SHOW_EV_PRODUCT_PINNED)
    lc_app_record_pinned(app->record, lc_show_room(show), json_object_get(data, "product"),
                         json_integer_value(json_object_get(data, "pinned_at")));
  if (kind != LC_SHOW_EV_LIKES && kind != LC_SHOW_EV_VIEWERS) /* aggregates stay on /metrics */
    lc_control_publish(app->control, lc_show_event_name(kind), lc_show_room(show),
                       with_room(lc_show_room(show), data));
}

static void
show_private(lc_show *show, const char *user_id, lc_show_event_kind kind, const json_t *data,
             gconstpointer skip, gpointer user)
{
  lc_app *app = user;
  if (kind == LC_SHOW_EV_ORDER_CREATED)
    lc_metric_add(app->orders_total, 1);
  lc_session_private(app->session, show, user_id, kind, data, skip);
  lc_app_overlays_private_event(app->overlays, lc_show_room(show), user_id, kind, data);
}

static void
show_alert(lc_show *show, lc_show_event_kind kind, const json_t *data, gpointer user)
{
  lc_app *app = user;
  char *event = g_strconcat("alert.", lc_show_event_name(kind), NULL);
  lc_control_publish(app->control, event, lc_show_room(show), with_room(lc_show_room(show), data));
  g_free(event);
}

/* The show of a room, opened (journal replayed) on first use; NULL without such a room. */
static lc_show *
show_for(const char *room_id, gpointer user)
{
  lc_app *app = user;
  lc_show *show = g_hash_table_lookup(app->shows, room_id);
  if (show)
    return show;
  lc_room *room = lc_rooms_get(app->rooms, room_id);
  if (!room)
    return NULL;
  lc_show_sinks sinks = {show_event, show_private, show_alert, app};
  char *err = NULL;
  lc_show_config cfg = app->show_cfg;
  cfg.wallets = app->wallets;
  cfg.shop = lc_room_shop(room);
  show = lc_show_open(room_id, app->store, &cfg, &sinks, &err);
  if (show && app->cluster && lc_cluster_attach(app->cluster, show, &err) != 0) {
    lc_show_free(show);
    show = NULL;
  }
  if (!show) {
    LC_ERROR(room_id, NULL, "cannot open the show: %s", err);
    g_free(err);
    return NULL;
  }
  json_t *rj = lc_room_to_json(room, false);
  lc_show_set_closed(show, strcmp(json_string_value(json_object_get(rj, "state")), "ended") == 0);
  json_decref(rj);
  g_hash_table_insert(app->shows, g_strdup(room_id), show);
  return show;
}

/* ---- cluster mode: the registry every node polls ---------------------------------------- */

static void
registry_done(int err, const char *message, const json_t *room, gpointer user)
{
  if (err != 0)
    LC_WARN(NULL, NULL, "registry: %s", message);
}

/* Rooms created, started or ended on other nodes (reg: id -> room JSON with secrets). */
static void
cluster_rooms(const json_t *reg, gpointer user)
{
  lc_app *app = user;
  const char *id;
  json_t *rj;
  json_object_foreach((json_t *)reg, id, rj)
  {
    const char *state = json_string_value(json_object_get(rj, "state"));
    lc_room *room = lc_rooms_get(app->rooms, id);
    if (!room) {
      if (!lc_rooms_valid_id(id) || g_strcmp0(state, "ended") == 0)
        continue;
      json_t *spec = json_pack("{s:s}", "id", id);
      const char *keys[] = {"title", "creator", "stream_key", "scheduled_at", "overlays", "record", "shop"};
      for (unsigned i = 0; i < G_N_ELEMENTS(keys); i++)
        if (json_object_get(rj, keys[i]))
          json_object_set(spec, keys[i], json_object_get(rj, keys[i]));
      lc_rooms_create(app->rooms, spec, registry_done, NULL);
      json_decref(spec);
      continue;
    }
    json_t *mine = lc_room_to_json(room, false);
    const char *local = json_string_value(json_object_get(mine, "state"));
    if (g_strcmp0(state, "ended") == 0 && g_strcmp0(local, "ended") != 0)
      lc_rooms_end(app->rooms, id, registry_done, NULL);
    else if (g_strcmp0(state, "live") == 0 && g_strcmp0(local, "scheduled") == 0)
      lc_rooms_start(app->rooms, id, registry_done, NULL);
    json_decref(mine);
  }
}

static void
cluster_state(bool up, gpointer user)
{
  lc_app *app = user;
  /* Viewers keep their media; the page shows that buying waits for the store. */
  json_t *notice = json_pack("{s:s}", "state", up ? "ok" : "reconnecting");
  lc_session_notice(app->session, "store", notice);
  json_decref(notice);
  lc_control_publish(app->control, up ? "cluster.up" : "cluster.down", NULL,
                     json_pack("{s:s}", "node_id", lc_cluster_node_id(app->cluster)));
}

typedef struct {
  lc_app *app;
  lc_ctl_req *req;
} cluster_status_call;

static void
origins_done(const json_t *origins, const char *err, gpointer user)
{
  cluster_status_call *call = user;
  if (!origins) {
    lc_ctl_req_fail(call->req, "unavailable", "the shared store did not answer: %s", err);
  } else {
    json_t *st = lc_cluster_status(call->app->cluster);
    json_object_set(st, "origins", (json_t *)origins);
    lc_ctl_req_reply(call->req, st);
  }
  g_free(call);
}

/* cluster.status: this node and every room's origin (where its publisher is). */
static void
cmd_cluster_status(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_app *app = user;
  if (!app->cluster) {
    lc_ctl_req_fail(req, "invalid_state", "this node is not in a cluster ([cluster] redis is empty)");
    return;
  }
  cluster_status_call *call = g_new0(cluster_status_call, 1);
  call->app = app;
  call->req = req;
  lc_cluster_origins(app->cluster, origins_done, call);
}

static int
open_cluster(lc_app *app, const lc_config *cfg, char **err_msg)
{
  const char *redis = lc_config_string(cfg, "cluster", "redis");
  if (!*redis)
    return 0;
  const char *node = lc_config_string(cfg, "cluster", "node_id");
  if (strspn(node, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(node)) {
    *err_msg = g_strdup_printf("cluster.node_id '%s': only letters, digits, '_' and '-'", node);
    return -1;
  }
  lc_cluster_options o = {
    .redis = redis,
    .node_id = node,
    .advertise_url = lc_config_string(cfg, "cluster", "advertise_url"),
    .accept_volatile = lc_config_bool(cfg, "cluster", "accept_volatile"),
    .timeout_ms = (int)lc_config_int(cfg, "cluster", "timeout_ms"),
    .metrics = app->metrics,
    .state = cluster_state,
    .rooms = cluster_rooms,
    .user = app,
  };
  app->cluster = lc_cluster_new(&o, g_main_loop_get_context(app->loop), err_msg);
  if (!app->cluster)
    return -1;
  app->show_cfg.remote = lc_cluster_remote(app->cluster);
  return 0;
}

static const char *
viewer_name(const char *room, const char *user_id, gpointer user)
{
  lc_app *app = user;
  return app->session ? lc_session_user_name(app->session, room, user_id) : NULL;
}

/* ---- media: publisher state -> control watchers and viewers ---------------------------- */

static void
on_media_event(const char *room, lc_app_media_event_kind kind, const char *event, const json_t *data,
               gpointer user)
{
  static const int stream_of[] = {[LC_MEDIA_EV_PUBLISH_START] = LC_SHOW_STREAM_LIVE,
                                  [LC_MEDIA_EV_PUBLISH_RESUMED] = LC_SHOW_STREAM_LIVE,
                                  [LC_MEDIA_EV_PUBLISH_LOST] = LC_SHOW_STREAM_RECONNECTING,
                                  [LC_MEDIA_EV_PUBLISH_END] = LC_SHOW_STREAM_OFFLINE,
                                  [LC_MEDIA_EV_OTHER] = -1};
  lc_app *app = user;
  lc_control_publish(app->control, event, room, json_deep_copy(data));
  if (kind == LC_MEDIA_EV_PUBLISH_LOST || kind == LC_MEDIA_EV_PUBLISH_RESUMED)
    lc_app_record_publish_lost(app->record, room);
  else if (kind == LC_MEDIA_EV_PUBLISH_END)
    lc_app_record_publish_end(app->record, room);
  if (app->cluster && (kind == LC_MEDIA_EV_PUBLISH_START || kind == LC_MEDIA_EV_PUBLISH_END))
    lc_cluster_origin(app->cluster, room, kind == LC_MEDIA_EV_PUBLISH_START);
  lc_show *show = show_for(room, app);
  if (show && stream_of[kind] >= 0)
    lc_show_set_stream(show, (lc_show_stream_state)stream_of[kind]);
}

/* ---- recordings: what the show says about products ------------------------------------ */

static json_t *
record_pinned(const char *room, gpointer user)
{
  lc_show *show = show_for(room, user);
  json_t *snap = show ? lc_show_snapshot(show, NULL) : NULL;
  json_t *p = json_object_get(json_object_get(snap, "pinned"), "product");
  json_t *out = json_is_object(p) ? json_incref(p) : NULL;
  json_decref(snap);
  return out;
}

/* The replay's view of a catalog product: its title, image and first SKU at its regular price. */
static json_t *
record_product(const char *room, const char *product_id, gpointer user)
{
  lc_show *show = show_for(room, user);
  json_t *snap = show ? lc_show_snapshot(show, NULL) : NULL;
  json_t *out = NULL, *p;
  size_t i;
  json_array_foreach(json_object_get(snap, "products"), i, p)
  {
    if (g_strcmp0(json_string_value(json_object_get(p, "id")), product_id) != 0)
      continue;
    json_t *sku = json_array_get(json_object_get(p, "skus"), 0);
    out = json_pack("{s:O, s:O, s:O, s:O, s:O}", "title", json_object_get(p, "title"), "price",
                    sku ? json_object_get(sku, "price") : json_null(), "currency", json_object_get(snap, "currency"),
                    "currency_exponent", json_object_get(snap, "currency_exponent"), "sku",
                    sku ? json_object_get(sku, "id") : json_null());
    if (out && json_object_get(p, "image"))
      json_object_set(out, "image", json_object_get(p, "image"));
    break;
  }
  json_decref(snap);
  return out;
}

static json_t *
replay_body(const char *room, int *status, gpointer user)
{
  lc_app *app = user;
  return lc_app_record_replay(app->record, room, status);
}

/* ---- payment callbacks from the merchant's backend ------------------------------------ */

static void
payment_done(const lc_show_result *r, gpointer user)
{
  lc_http_pending *p = user;
  if (!r->code) {
    lc_http_pending_reply(p, 200, json_deep_copy(r->result));
    return;
  }
  int status = strcmp(r->code, "not_found") == 0 ? 404 : strcmp(r->code, "invalid_state") == 0 ? 409 : 400;
  lc_http_pending_reply(p, status, json_pack("{s:{s:s, s:s}}", "error", "code", r->code, "message", r->message));
}

static void
on_payment(const json_t *body, lc_http_pending *p, gpointer user)
{
  lc_app *app = user;
  const char *room = json_string_value(json_object_get(body, "room"));
  const char *order = json_string_value(json_object_get(body, "order_id"));
  const char *status = json_string_value(json_object_get(body, "status"));
  const char *ref = json_string_value(json_object_get(body, "payment_ref"));
  lc_show *show = room ? show_for(room, app) : NULL;
  if (!show || !order || !status) {
    lc_http_pending_reply(p, show ? 400 : 404,
                          json_pack("{s:{s:s, s:s}}", "error", "code", show ? "invalid_argument" : "not_found",
                                    "message", show ? "order_id and status are required" : "no such room"));
  } else if (strcmp(status, "paid") == 0) {
    lc_show_order_pay(show, order, ref ? ref : "callback", payment_done, p);
  } else if (strcmp(status, "cancelled") == 0) {
    lc_show_order_cancel_mod(show, order, "payment cancelled", payment_done, p);
  } else {
    lc_http_pending_reply(p, 400, json_pack("{s:{s:s, s:s}}", "error", "code", "invalid_argument", "message",
                                            "status must be paid or cancelled"));
  }
}

/* Word lists: chat filters chat + compliance words; compliance checks product texts. */
static int
load_filters(lc_app *app, const lc_config *cfg, char **err_msg)
{
  const char *ad = lc_config_string(cfg, "commerce", "compliance_words");
  const char *chat = lc_config_string(cfg, "chat", "filter_words");
  app->ad_filter = lc_wordfilter_new();
  app->chat_filter = lc_wordfilter_new();
  if ((*ad && lc_wordfilter_load_file(app->ad_filter, ad, err_msg) != 0) ||
      (*ad && lc_wordfilter_load_file(app->chat_filter, ad, err_msg) != 0) ||
      (*chat && lc_wordfilter_load_file(app->chat_filter, chat, err_msg) != 0))
    return LC_EINVAL;
  LC_INFO(NULL, NULL, "word lists: %u compliance terms, %u chat terms", lc_wordfilter_size(app->ad_filter),
          lc_wordfilter_size(app->chat_filter));
  return 0;
}

/* ws.max_connections, but never more than the descriptors left after a reserve
 * for HTTP, the control socket, SQLite and static files. */
static unsigned
ws_connection_budget(const lc_config *cfg)
{
  gint64 want = lc_config_int(cfg, "ws", "max_connections");
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    gint64 budget = (gint64)rl.rlim_cur - 256;
    if (budget < want) {
      LC_WARN(NULL, NULL, "ws.max_connections %" G_GINT64_FORMAT " lowered to %" G_GINT64_FORMAT
              " (descriptor limit %" G_GINT64_FORMAT ")", want, MAX(budget, 1), (gint64)rl.rlim_cur);
      want = MAX(budget, 1);
    }
  }
  return (unsigned)want;
}

static void
configure_commerce(lc_app *app, const lc_config *cfg)
{
  app->show_cfg = (lc_show_config){
    .order_ttl_ms = lc_config_int(cfg, "commerce", "order_ttl_s") * 1000,
    .hold_limit = lc_config_int(cfg, "commerce", "hold_limit"),
    .low_stock_default = lc_config_int(cfg, "commerce", "low_stock_threshold"),
    .compliance_reject = lc_config_bool(cfg, "commerce", "compliance_reject"),
    .chat_min_interval_ms = lc_config_int(cfg, "chat", "min_interval_ms"),
    .chat_recent = (int)lc_config_int(cfg, "chat", "recent"),
    .throttle_ms = lc_config_int(cfg, "commerce", "throttle_ms"),
    .counts_ms = lc_config_int(cfg, "commerce", "counts_interval_ms"),
    .op_cache = (int)lc_config_int(cfg, "commerce", "op_cache"),
    .op_cache_bytes = (size_t)lc_config_int(cfg, "commerce", "op_cache_bytes"),
    .chat_filter = app->chat_filter,
    .ad_filter = app->ad_filter,
  };
  const char *secret = lc_config_string(cfg, "auth", "jwt_secret");
  if (*secret) {
    app->jwt_secret = g_strdup(secret);
  } else {
    GString *r = g_string_new(NULL);
    for (int i = 0; i < 4; i++)
      g_string_append_printf(r, "%08x", g_random_int());
    app->jwt_secret = g_string_free(r, FALSE);
    LC_WARN(NULL, NULL, "auth.jwt_secret is empty: using a random secret; tokens end with this process");
  }
  app->shows = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)lc_show_free);
  lc_session_options sopts = {
    .jwt_secret = app->jwt_secret,
    .allow_anonymous = lc_config_bool(cfg, "auth", "allow_anonymous"),
    .history = (unsigned)lc_config_int(cfg, "ws", "history_events"),
    .hello_timeout_ms = (unsigned)lc_config_int(cfg, "ws", "hello_timeout_ms"),
    .metrics = app->metrics,
    .show_for = show_for,
    .user = app,
  };
  app->session = lc_session_new(&sopts);
  lc_ws_options wopts = {
    .max_message = (size_t)lc_config_int(cfg, "ws", "max_message_bytes"),
    .max_queue = (unsigned)lc_config_int(cfg, "ws", "queue_messages"),
    .rate = (unsigned)lc_config_int(cfg, "ws", "rate"),
    .burst = (unsigned)lc_config_int(cfg, "ws", "burst"),
    .max_conns = ws_connection_budget(cfg),
    .metrics = app->metrics,
  };
  app->ws = lc_ws_new(&wopts, lc_session_ws_handlers(app->session));
  app->show_cmds = (lc_show_commands){show_for, app->jwt_secret, app};
}

static json_t *
status_json(lc_app *app)
{
  json_t *rooms = json_pack("{s:i}", "total", (int)lc_rooms_count(app->rooms));
  for (int i = 0; i < 3; i++)
    json_object_set_new(rooms, room_states[i],
                        json_integer(lc_rooms_count_state(app->rooms, room_states[i])));
  /* The rooms that are not over, by id (at most 20), so that status shows what runs. */
  json_t *open = json_array(), *all = lc_rooms_list_json(app->rooms);
  size_t i;
  json_t *r;
  json_array_foreach(all, i, r)
  {
    const char *state = json_string_value(json_object_get(r, "state"));
    if (strcmp(state, "ended") != 0 && json_array_size(open) < 20)
      json_array_append_new(open, json_pack("{s:O, s:O}", "id", json_object_get(r, "id"), "state",
                                            json_object_get(r, "state")));
  }
  json_decref(all);
  json_object_set_new(rooms, "open", open);
  json_t *media = lc_app_media_status(app->media);
  json_t *st = json_pack("{s:s, s:I, s:o, s:i, s:i, s:{s:s, s:i, s:i}}", "version", LC_VERSION, "uptime_s",
                   (json_int_t)((g_get_monotonic_time() - app->started_us) / G_USEC_PER_SEC), "rooms",
                   rooms, "control_clients", (int)lc_control_clients(app->control), "http_connections",
                   app->http ? (int)lc_http_connections(app->http) : 0, "store", "path",
                   lc_config_string(app->cfg, "store", "path"), "schema_version",
                   lc_store_schema_version(app->store), "pending", (int)lc_store_pending(app->store));
  json_object_set_new(st, "media", media);
  if (app->cluster)
    json_object_set_new(st, "cluster", lc_cluster_status(app->cluster));
  return st;
}

static void
cmd_status(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_ctl_req_reply(req, status_json(user));
}

static void
health_fields(json_t *obj, gpointer user)
{
  lc_app *app = user;
  json_object_set_new(obj, "rooms", json_integer(lc_rooms_count(app->rooms)));
  json_object_set_new(obj, "store_pending", json_integer(lc_store_pending(app->store)));
  if (app->stopping)
    json_object_set_new(obj, "status", json_string("stopping"));
}

/* /api/rooms: the live fields of one room. Only a show already open counts (opening one
 * replays its journal, which a public GET must not cause for every room): a show is opened
 * by its first viewer or publisher, so one that is not open has no viewers and no stream. */
static void
room_fields(const char *room_id, json_t *obj, gpointer user)
{
  lc_app *app = user;
  lc_show *show = g_hash_table_lookup(app->shows, room_id);
  const char *stream = show ? lc_show_stream(show) : "offline";
  json_object_set_new(obj, "stream", json_string(stream));
  json_object_set_new(obj, "viewers", json_integer(show ? lc_show_viewers(show) : 0));
  /* Offline: a WHIP room's hub entry outlives its publisher; nothing is pinnable then. */
  json_object_set_new(obj, "renditions",
                      strcmp(stream, "offline") == 0 ? json_array() : lc_app_media_rung_names(app->media, room_id));
}

static void
register_metrics(lc_app *app)
{
  app->events_total = lc_metrics_counter(app->metrics, "livecart_events_total", NULL,
                                         "show events emitted (room changes, later commerce events)");
  for (int i = 0; i < 3; i++) {
    char *labels = g_strdup_printf("state=\"%s\"", room_states[i]);
    app->rooms_gauge[i] = lc_metrics_gauge(app->metrics, "livecart_rooms", labels, "rooms by state");
    g_free(labels);
  }
  app->orders_total = lc_metrics_counter(app->metrics, "livecart_orders_total", NULL, "orders placed");
  update_room_gauges(app);
}

static gboolean
flush_limits(gpointer user)
{
  lc_app *app = user;
  gint64 now = g_get_monotonic_time();
  lc_ipguard_flush(app->auth_guard, now);
  lc_ipguard_flush(app->session_guard, now);
  return G_SOURCE_CONTINUE;
}

/* The HTTP side's per-address limits from [limits]. */
static int
open_limits(lc_app *app, const lc_config *cfg, char **err_msg)
{
  char *why = NULL;
  app->limits_exempt = lc_iplist_parse(lc_config_string(cfg, "limits", "exempt"), &why);
  if (!app->limits_exempt) { /* the config check refuses this first */
    *err_msg = g_strdup_printf("limits.exempt: %s", why);
    g_free(why);
    return LC_EINVAL;
  }
  unsigned tracked = (unsigned)lc_config_int(cfg, "limits", "tracked_addresses");
  lc_ipguard_config auth = {
      .what = "WHIP offers and payment callbacks after failed credentials",
      .limit = (unsigned)lc_config_int(cfg, "limits", "auth_failures_per_min"),
      .window_us = 60 * G_USEC_PER_SEC,
      .lockout_us = lc_config_int(cfg, "limits", "auth_lockout_s") * G_USEC_PER_SEC,
      .max_addresses = tracked,
      .exempt = app->limits_exempt,
      .refusals = lc_metrics_counter(app->metrics, "livecart_limit_refusals_total", "limit=\"auth_http\"",
                                     "requests refused by a per-address limit ([limits])"),
  };
  app->auth_guard = lc_ipguard_new(&auth);
  lc_ipguard_config sessions = {
      .what = "WHEP/WHIP offers over the per-address rate",
      .limit = (unsigned)lc_config_int(cfg, "limits", "whep_sessions_per_ip_per_10s"),
      .window_us = 10 * G_USEC_PER_SEC,
      .max_addresses = tracked,
      .exempt = app->limits_exempt,
      .refusals = lc_metrics_counter(app->metrics, "livecart_limit_refusals_total", "limit=\"rtc_sessions\"",
                                     "requests refused by a per-address limit ([limits])"),
  };
  app->session_guard = lc_ipguard_new(&sessions);
  app->limits_timer = g_timeout_add_seconds(1, flush_limits, app);
  return 0;
}

lc_app *
lc_app_new(const lc_config *cfg, GMainLoop *loop, char **err_msg)
{
  lc_app *app = g_new0(lc_app, 1);
  app->cfg = cfg;
  app->loop = g_main_loop_ref(loop);
  app->started_us = g_get_monotonic_time();
  app->metrics = lc_metrics_new();

  lc_store_options sopts = {
    .max_batch = (int)lc_config_int(cfg, "store", "max_batch"),
    .busy_timeout_ms = (int)lc_config_int(cfg, "store", "busy_timeout_ms"),
    .metrics = app->metrics,
  };
  app->store = lc_store_open(lc_config_string(cfg, "store", "path"), &sopts,
                             g_main_loop_get_context(loop), err_msg);
  if (!app->store)
    goto fail;
  /* cluster mode: the shops' wallets live in Redis; this is only a cache of what the node saw */
  app->wallets = lc_wallets_new(*lc_config_string(cfg, "cluster", "redis") ? NULL : app->store);
  app->rooms = lc_rooms_new(app->store, (unsigned)lc_config_int(cfg, "rooms", "max_rooms"), err_msg);
  if (!app->rooms)
    goto fail;
  register_metrics(app);
  if (load_filters(app, cfg, err_msg) != 0)
    goto fail;
  configure_commerce(app, cfg);
  if (open_cluster(app, cfg, err_msg) != 0)
    goto fail;
  lc_app_overlays_hooks ohooks = {show_for, viewer_name, app};
  app->overlays = lc_app_overlays_new(cfg, app->rooms, app->ad_filter, &ohooks, err_msg);
  if (!app->overlays)
    goto fail;
  lc_app_record_hooks rhooks = {record_pinned, record_product, app};
  app->record = lc_app_record_new(cfg, app->rooms, app->metrics, &rhooks);
  app->media = lc_app_media_new(cfg, app->rooms, app->metrics, on_media_event, app, lc_app_overlays_for,
                                app->overlays, lc_app_record_segment, app->record, err_msg);
  if (!app->media)
    goto fail;
  if (open_limits(app, cfg, err_msg) != 0)
    goto fail;

  lc_http_options hopts = {
    .bind = lc_config_string(cfg, "http", "bind"),
    .port = (int)lc_config_int(cfg, "http", "port"),
    .web_root = lc_config_string(cfg, "http", "web_root"),
    .max_body = (size_t)lc_config_int(cfg, "http", "max_body_bytes"),
    .max_uri = (size_t)lc_config_int(cfg, "http", "max_uri_bytes"),
    .cors_origin = lc_config_string(cfg, "http", "cors_origin"),
    .metrics = app->metrics,
    .rooms = app->rooms,
    .health = health_fields,
    .room_fields = room_fields,
    .user = app,
    .ws = app->ws,
    .payment_secret = lc_config_string(cfg, "payments", "callback_secret"),
    .payment = on_payment,
    .rtc = lc_app_media_http_ops(app->media),
    .rtc_user = app->media,
    .dev_token_secret = lc_config_bool(cfg, "auth", "dev_login") ? app->jwt_secret : NULL,
    .auth_guard = app->auth_guard,
    .session_guard = app->session_guard,
    .hls_root = lc_config_bool(cfg, "hls", "enabled") ? lc_config_string(cfg, "hls", "root") : NULL,
    .record_root = lc_app_record_root(app->record),
    .replay = replay_body,
  };
  app->http = lc_http_new(&hopts, loop, err_msg);
  if (!app->http)
    goto fail;

  lc_control_options copts = {
    .path = lc_config_string(cfg, "control", "socket"),
    .mode = (unsigned)lc_config_int(cfg, "control", "mode"),
    .max_line = (size_t)lc_config_int(cfg, "control", "max_line_bytes"),
    .max_clients = (unsigned)lc_config_int(cfg, "control", "max_clients"),
    .max_queue = (size_t)lc_config_int(cfg, "control", "max_queue_bytes"),
    .metrics = app->metrics,
  };
  app->control = lc_control_new(&copts, err_msg);
  if (!app->control)
    goto fail;
  lc_control_register(app->control, "status", "server status: version, uptime, rooms, store", cmd_status,
                      app);
  lc_commands_register_rooms(app->control, app->rooms);
  lc_control_register(app->control, "cluster.status",
                      "cluster mode: this node, its Redis and every room's origin node", cmd_cluster_status, app);
  lc_commands_register_show(app->control, &app->show_cmds);
  lc_app_media_register(app->media, app->control);
  lc_app_overlays_register(app->overlays, app->control);
  lc_app_record_register(app->record, app->control);
  lc_rooms_set_event_cb(app->rooms, on_room_event, app);

  LC_INFO(NULL, NULL, "ready: http=%s:%d control=%s store=%s", hopts.bind, hopts.port, copts.path,
          lc_config_string(cfg, "store", "path"));
  return app;

fail:
  lc_app_free(app);
  return NULL;
}

static void
quit_loop(lc_app *app, const char *why)
{
  if (app->shutdown_timer) {
    g_source_remove(app->shutdown_timer);
    app->shutdown_timer = 0;
  }
  LC_INFO(NULL, NULL, "stopping: %s", why);
  g_main_loop_quit(app->loop);
}

static gboolean
flush_then_quit(gpointer user)
{
  lc_app *app = user;
  app->shutdown_timer = 0;
  quit_loop(app, "store drained, replies sent");
  return G_SOURCE_REMOVE;
}

static void
drained(int err, gpointer user)
{
  lc_app *app = user;
  if (!app->stopping || !app->shutdown_timer)
    return; /* the timeout won */
  g_source_remove(app->shutdown_timer);
  /* Viewers learn that the server is going away (1001: reconnect with resume); the
   * control socket and HTTP get one short turn to write the last replies. */
  lc_session_close_all(app->session);
  app->shutdown_timer = g_timeout_add(100, flush_then_quit, app);
}

static gboolean
shutdown_timeout(gpointer user)
{
  lc_app *app = user;
  app->shutdown_timer = 0;
  LC_WARN(NULL, NULL, "%u store writes still pending at the shutdown timeout", lc_store_pending(app->store));
  quit_loop(app, "shutdown timeout");
  return G_SOURCE_REMOVE;
}

void
lc_app_shutdown(lc_app *app)
{
  if (app->stopping)
    return;
  app->stopping = true;
  LC_INFO(NULL, NULL, "shutting down: %u store writes in flight", lc_store_pending(app->store));
  lc_control_stop_accepting(app->control);
  app->shutdown_timer = g_timeout_add((guint)lc_config_int(app->cfg, "server", "shutdown_timeout_ms"),
                                      shutdown_timeout, app);
  lc_store_drain(app->store, drained, app);
}

void
lc_app_free(lc_app *app)
{
  if (!app)
    return;
  if (app->shutdown_timer)
    g_source_remove(app->shutdown_timer);
  /* Timers first, so nothing new is written; then the store: its last completions
   * still reach the shows, the viewers and the control socket. */
  if (app->shows) {
    GHashTableIter it;
    gpointer show;
    g_hash_table_iter_init(&it, app->shows);
    while (g_hash_table_iter_next(&it, NULL, &show))
      lc_show_stop_timers(show);
  }
  lc_app_media_free(app->media); /* publishers and viewers go first: no more media events */
  app->media = NULL;
  lc_app_record_free(app->record); /* no more segments: the recordings in progress become VOD */
  app->record = NULL;
  lc_store_close(app->store);
  lc_control_free(app->control);
  lc_http_free(app->http); /* closes the websockets: sessions leave their shows */
  if (app->limits_timer)
    g_source_remove(app->limits_timer);
  lc_ipguard_free(app->auth_guard);
  lc_ipguard_free(app->session_guard);
  lc_iplist_free(app->limits_exempt);
  lc_ws_free(app->ws);
  lc_session_free(app->session);
  if (app->shows) {
    GHashTableIter it;
    gpointer show;
    g_hash_table_iter_init(&it, app->shows);
    while (g_hash_table_iter_next(&it, NULL, &show))
      lc_cluster_detach(app->cluster, show);
    g_hash_table_destroy(app->shows);
  }
  lc_wallets_free(app->wallets);
  lc_cluster_free(app->cluster); /* the writes in flight fail ("disconnected"): nobody waits for them */
  /* after the store's last completions (they reach the shows, hence the overlays) and the
   * ladders that rendered them */
  lc_app_overlays_free(app->overlays);
  lc_wordfilter_free(app->chat_filter);
  lc_wordfilter_free(app->ad_filter);
  g_free(app->jwt_secret);
  lc_rooms_free(app->rooms);
  lc_metrics_free(app->metrics);
  g_main_loop_unref(app->loop);
  g_free(app);
}
