#define LC_LOG_DOMAIN "app"
#include "app.h"
#include "commands.h"
#include "control.h"
#include "errors.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "rooms.h"
#include "store.h"

#include <string.h>

struct lc_app {
  const lc_config *cfg; /* borrowed, outlives the app */
  GMainLoop *loop;
  gint64 started_us;
  lc_metrics *metrics;
  lc_store *store;
  lc_rooms *rooms;
  lc_http *http;
  lc_control *control;
  lc_metric *events_total;
  lc_metric *rooms_gauge[3];
  guint shutdown_timer;
  bool stopping;
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
}

static json_t *
status_json(lc_app *app)
{
  json_t *rooms = json_pack("{s:i}", "total", (int)lc_rooms_count(app->rooms));
  for (int i = 0; i < 3; i++)
    json_object_set_new(rooms, room_states[i],
                        json_integer(lc_rooms_count_state(app->rooms, room_states[i])));
  return json_pack("{s:s, s:I, s:o, s:i, s:i, s:{s:s, s:i, s:i}}", "version", LC_VERSION, "uptime_s",
                   (json_int_t)((g_get_monotonic_time() - app->started_us) / G_USEC_PER_SEC), "rooms",
                   rooms, "control_clients", (int)lc_control_clients(app->control), "http_connections",
                   app->http ? (int)lc_http_connections(app->http) : 0, "store", "path",
                   lc_config_string(app->cfg, "store", "path"), "schema_version",
                   lc_store_schema_version(app->store), "pending", (int)lc_store_pending(app->store));
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
  lc_metrics_counter(app->metrics, "livecart_orders_total", NULL, "orders placed");
  update_room_gauges(app);
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
  app->rooms = lc_rooms_new(app->store, (unsigned)lc_config_int(cfg, "rooms", "max_rooms"), err_msg);
  if (!app->rooms)
    goto fail;
  register_metrics(app);

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
    .user = app,
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
  /* Give the control socket and HTTP one short turn to write the last replies. */
  app->shutdown_timer = g_timeout_add(50, flush_then_quit, app);
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
  /* The store first: its last completions still reach rooms and the control socket. */
  lc_store_close(app->store);
  lc_control_free(app->control);
  lc_http_free(app->http);
  lc_rooms_free(app->rooms);
  lc_metrics_free(app->metrics);
  g_main_loop_unref(app->loop);
  g_free(app);
}
