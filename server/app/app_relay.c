/* The relay wired into livecartd (see app_relay.h). Main thread only. */
#define LC_LOG_DOMAIN "relay"
#include "app/app_relay.h"
#include "base/errors.h"
#include "base/log.h"
#include "relay/relay.h"

#include <string.h>
#include <unistd.h>

struct lc_app_relay {
  lc_relay *relay;
  lc_media_hub *hub;           /* borrowed */
  GHashTable *failures;        /* room -> why its last pull failed (owned) */
  guint stats_timer;
  struct {
    lc_metric *pulls, *edges, *rtt, *bytes_in, *bytes_out, *pkts_in, *pkts_out, *retrans_in, *retrans_out,
        *drops_out, *reconnects, *refused, *failed;
  } m;
};

/* ---- the WHEP wait ---- */

typedef struct {
  lc_app_relay *a;
  lc_http_wait *wait;
} pending_offer;

static void
on_ready(const char *room, int status, const char *why, gpointer user)
{
  pending_offer *po = user;
  if (status != 0) {
    LC_WARN(room, NULL, "relay: a viewer's offer waited in vain: %s (%s)", why ? why : lc_strerror(status),
            lc_errcode(status));
    if (po->a->failures) {
      if (g_hash_table_size(po->a->failures) >= 1024) /* room names come from viewers: bounded */
        g_hash_table_remove_all(po->a->failures);
      g_hash_table_replace(po->a->failures, g_strdup(room), g_strdup(why ? why : lc_strerror(status)));
    }
  } else if (po->a->failures) {
    g_hash_table_remove(po->a->failures, room);
  }
  lc_http_wait_done(po->wait);
  g_free(po);
}

static bool
has_video(lc_app_relay *a, const char *room)
{
  lc_media_room *mr = lc_media_hub_acquire(a->hub, room);
  bool yes = mr && lc_media_room_n_video(mr) > 0;
  if (mr)
    lc_media_room_unref(mr);
  return yes;
}

int
lc_app_relay_prepare(lc_app_relay *a, const char *room, lc_http_wait *wait)
{
  if (!a || !lc_relay_has_upstream(a->relay))
    return 0;
  /* Local media (a publisher here, or a pull that is already in) plays at once; the pull is still
   * told, so that it does not go idle under a viewer that is joining. */
  bool local = has_video(a, room) && !lc_relay_pulling(a->relay, room);
  if (local)
    return 0;
  pending_offer *po = g_new0(pending_offer, 1);
  po->a = a;
  po->wait = wait;
  int rc = lc_relay_want(a->relay, room, on_ready, po);
  if (rc == LC_EAGAIN)
    return LC_EAGAIN;
  g_free(po);
  return rc == LC_EINVAL ? LC_ENOENT : 0;
}

bool
lc_app_relay_pulling(lc_app_relay *a, const char *room)
{
  return a && lc_relay_pulling(a->relay, room);
}

const char *
lc_app_relay_failure(lc_app_relay *a, const char *room)
{
  return a && room && a->failures ? g_hash_table_lookup(a->failures, room) : NULL;
}

/* ---- status, commands, metrics ---- */

static json_t *
link_json(const lc_relay_link_stats *l)
{
  json_t *rungs = json_array();
  for (unsigned i = 0; i < l->n_rungs; i++)
    json_array_append_new(rungs, json_string(l->rungs[i]));
  json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:o, s:I, s:I, s:I, s:I, s:I, s:f}", "room", l->room, "peer", l->peer,
                        "node", l->node, "connected", l->connected, "rungs", rungs, "packets", (json_int_t)l->packets,
                        "bytes", (json_int_t)l->bytes, "retransmitted", (json_int_t)l->retransmitted, "drops",
                        (json_int_t)l->drops, "reconnects", (json_int_t)l->reconnects, "rtt_ms", l->rtt_ms);
  json_object_set_new(o, "duplicates_skipped", json_integer((json_int_t)l->dups));
  json_object_set_new(o, "gaps", json_integer((json_int_t)l->gaps));
  if (l->last_error[0])
    json_object_set_new(o, "last_error", json_string(l->last_error));
  return o;
}

json_t *
lc_app_relay_status(lc_app_relay *a)
{
  lc_relay_stats *st = g_new(lc_relay_stats, 1);
  lc_relay_get_stats(a->relay, st);
  json_t *pulls = json_array(), *feeds = json_array();
  for (unsigned i = 0; i < st->n_pulls; i++)
    json_array_append_new(pulls, link_json(&st->pulls[i]));
  for (unsigned i = 0; i < st->n_feeds; i++)
    json_array_append_new(feeds, link_json(&st->feeds[i]));
  json_t *o = json_pack("{s:b, s:i, s:o, s:o, s:I, s:I}", "enabled", true, "port", lc_relay_port(a->relay), "pulls", pulls, "edges", feeds,
                        "refused", (json_int_t)st->refused, "pulls_failed", (json_int_t)st->pulls_failed);
  g_free(st);
  return o;
}

static void
cmd_status(lc_ctl_req *req, json_t *args, gpointer user)
{
  (void)args;
  lc_ctl_req_reply(req, user ? lc_app_relay_status(user) : json_pack("{s:b}", "enabled", false));
}

static void
cmd_reset(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_app_relay *a = user;
  const char *room = json_string_value(json_object_get(args, "room"));
  if (!a) {
    lc_ctl_req_fail(req, "invalid_state", "the relay is off on this node (relay.serve, relay.origin)");
    return;
  }
  if (!room) {
    lc_ctl_req_fail(req, "invalid_argument", "room is required");
    return;
  }
  if (lc_relay_reset(a->relay, room) != 0) {
    lc_ctl_req_fail(req, "not_found", "no relay connection carries room %s on this node", room);
    return;
  }
  lc_ctl_req_reply(req, json_pack("{s:s}", "reset", room));
}

void
lc_app_relay_register(lc_app_relay *a, lc_control *ctl)
{
  lc_control_register(ctl, "relay.status", "relay links: rooms pulled from upstream, edges served, counters",
                      cmd_status, a);
  lc_control_register(ctl, "relay.reset", "{room}: drop the room's relay connections now (they reconnect)",
                      cmd_reset, a);
}

static gboolean
update_metrics(gpointer user)
{
  lc_app_relay *a = user;
  lc_relay_stats *st = g_new(lc_relay_stats, 1);
  lc_relay_get_stats(a->relay, st);
  lc_metric_set(a->m.pulls, st->n_pulls);
  lc_metric_set(a->m.edges, st->n_feeds);
  double rtt = 0;
  for (unsigned i = 0; i < st->n_pulls; i++)
    rtt = MAX(rtt, st->pulls[i].rtt_ms);
  lc_metric_set(a->m.rtt, (gint64)(rtt * 1000));
  lc_metric_catch_up(a->m.bytes_in, st->total_in.bytes);
  lc_metric_catch_up(a->m.bytes_out, st->total_out.bytes);
  lc_metric_catch_up(a->m.pkts_in, st->total_in.packets);
  lc_metric_catch_up(a->m.pkts_out, st->total_out.packets);
  lc_metric_catch_up(a->m.retrans_in, st->total_in.retransmitted);
  lc_metric_catch_up(a->m.retrans_out, st->total_out.retransmitted);
  lc_metric_catch_up(a->m.drops_out, st->total_out.drops);
  lc_metric_catch_up(a->m.reconnects, st->total_in.reconnects);
  lc_metric_catch_up(a->m.refused, st->refused);
  lc_metric_catch_up(a->m.failed, st->pulls_failed);
  g_free(st);
  return G_SOURCE_CONTINUE;
}

static void
register_metrics(lc_app_relay *a, lc_metrics *x)
{
  a->m.pulls = lc_metrics_gauge(x, "livecart_relay_pulls", NULL, "rooms this node pulls from its upstream");
  a->m.edges = lc_metrics_gauge(x, "livecart_relay_edges", NULL, "edge connections this node serves");
  a->m.rtt = lc_metrics_gauge(x, "livecart_relay_upstream_rtt_us", NULL, "largest RTT to the upstream (SRT)");
  a->m.bytes_in = lc_metrics_counter(x, "livecart_relay_bytes_received_total", NULL, "RTP bytes pulled from upstream");
  a->m.bytes_out = lc_metrics_counter(x, "livecart_relay_bytes_sent_total", NULL, "RTP bytes sent to edges");
  a->m.pkts_in = lc_metrics_counter(x, "livecart_relay_packets_received_total", NULL, "RTP packets pulled");
  a->m.pkts_out = lc_metrics_counter(x, "livecart_relay_packets_sent_total", NULL, "RTP packets sent to edges");
  a->m.retrans_in = lc_metrics_counter(x, "livecart_relay_recovered_total", NULL,
                                       "packets lost on the way from upstream and recovered by retransmission");
  a->m.retrans_out = lc_metrics_counter(x, "livecart_relay_retransmitted_total", NULL, "packets resent to edges");
  a->m.drops_out = lc_metrics_counter(x, "livecart_relay_send_drops_total", NULL,
                                      "packets not sent to an edge (its send buffer was full)");
  a->m.reconnects = lc_metrics_counter(x, "livecart_relay_reconnects_total", NULL, "upstream connections re-made");
  a->m.refused = lc_metrics_counter(x, "livecart_relay_refused_total", NULL,
                                    "relay requests refused (bad secret, loop, unknown room, too many)");
  a->m.failed = lc_metrics_counter(x, "livecart_relay_pulls_failed_total", NULL, "pulls the upstream refused");
}

/* ---- lifecycle ---- */

lc_app_relay *
lc_app_relay_new(const lc_config *cfg, lc_media_hub *hub, lc_metrics *metrics, char **err)
{
  bool serve = lc_config_bool(cfg, "relay", "serve");
  const char *origin = lc_config_string(cfg, "relay", "origin");
  if (!serve && !*origin)
    return NULL;
  char node[80];
  const char *id = lc_config_string(cfg, "relay", "node_id");
  if (!*id) {
    char host[64] = "node";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    for (char *c = host; *c; c++)
      if (!g_ascii_isalnum(*c) && *c != '.' && *c != '-' && *c != '_')
        *c = '-';
    g_snprintf(node, sizeof node, "%s-%d", host, (int)lc_config_int(cfg, "http", "port"));
    id = node;
  }
  lc_relay_config rc = {
      .node_id = id,
      .secret = lc_config_string(cfg, "relay", "secret"),
      .serve = serve,
      .bind = lc_config_string(cfg, "relay", "bind"),
      .port = (int)lc_config_int(cfg, "relay", "port"),
      .origin = origin,
      .idle_ms = (unsigned)lc_config_int(cfg, "relay", "idle_s") * 1000,
      .connect_timeout_ms = (unsigned)lc_config_int(cfg, "relay", "connect_timeout_ms"),
      .max_feeds = (unsigned)lc_config_int(cfg, "relay", "max_edges"),
      .cache_ms = (unsigned)lc_config_int(cfg, "media", "cache_ms"),
      .keyframe_throttle_ms = (unsigned)lc_config_int(cfg, "media", "keyframe_throttle_ms"),
  };
  lc_relay *relay = lc_relay_new(&rc, hub, err);
  if (!relay)
    return NULL;
  lc_app_relay *a = g_new0(lc_app_relay, 1);
  a->relay = relay;
  a->hub = hub;
  a->failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  register_metrics(a, metrics);
  a->stats_timer = g_timeout_add_seconds(1, update_metrics, a);
  return a;
}

void
lc_app_relay_free(lc_app_relay *a)
{
  if (!a)
    return;
  if (a->stats_timer)
    g_source_remove(a->stats_timer);
  GHashTable *f = a->failures;
  a->failures = NULL; /* offers still waiting are answered by lc_relay_free: nothing to note */
  lc_relay_free(a->relay);
  g_hash_table_destroy(f);
  g_free(a);
}
