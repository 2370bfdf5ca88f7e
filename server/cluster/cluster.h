/* Cluster mode: many livecartd nodes share each room's show through Redis.
 *
 * - The journal of a room is a Redis Stream (lc:{room}:j); a Lua script checks a fact's
 *   gate (commerce/show_remote.h) on the room's counters (lc:{room}:g) and appends it
 *   atomically, idempotent by op_id (lc:{room}:ops). Every key of a room carries the
 *   {room} hash tag: one room lives on one Redis Cluster shard.
 * - Each node follows the streams of the shows it has open (one blocking XREAD connection
 *   per room) and feeds them to its engine, which answers its own operations when their
 *   entry comes back and derives the same events as every other node.
 * - The room registry is the hash lc:rooms (id -> room JSON with its stream key), polled.
 * - Durability: the node refuses to start unless Redis has appendonly yes and appendfsync
 *   always (or accept_volatile), so an answered write is on Redis' disk.
 *
 * Main thread only (the GMainContext given to lc_cluster_new). */
#pragma once
#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

#include "commerce/show.h"

typedef struct lc_cluster lc_cluster;
typedef struct lc_metrics lc_metrics;

typedef struct {
  const char *redis;         /* redis://host:port or unix:/path */
  const char *node_id;       /* this node, unique in the cluster */
  const char *advertise_url; /* how others reach this node (registry, status) */
  bool accept_volatile;      /* start even when Redis does not fsync every write */
  int timeout_ms;            /* a command without answer fails after this */
  lc_metrics *metrics;       /* optional: livecart_cluster_* */
  /* The shared store went away (false) or came back (true). */
  void (*state)(bool up, gpointer user);
  /* The registry's rooms (id -> room JSON with secrets; borrowed), about once a second. */
  void (*rooms)(const json_t *rooms, gpointer user);
  gpointer user;
} lc_cluster_options;

/* Checks Redis synchronously (reachable, durable, script loadable), then connects in the
 * background. NULL and *err (g_free) when this node must not start. */
lc_cluster *lc_cluster_new(const lc_cluster_options *o, GMainContext *ctx, char **err);
void lc_cluster_free(lc_cluster *c);
bool lc_cluster_up(const lc_cluster *c);
const char *lc_cluster_node_id(const lc_cluster *c);

/* The journal backend for lc_show_config.remote (borrowed from c). */
const lc_show_remote *lc_cluster_remote(lc_cluster *c);

/* Loads the room's shared epoch and stream into a show opened with lc_cluster_remote
 * (synchronously), then follows the stream. -1 and *err when Redis cannot be read. */
int lc_cluster_attach(lc_cluster *c, lc_show *show, char **err);
/* Stops following (before lc_show_free). */
void lc_cluster_detach(lc_cluster *c, lc_show *show);

/* Copies the facts of the room's stream into store's journal of the room (blocking read,
 * queued writes), unless that journal already has facts: an ended show's orders stay on this
 * node when Redis is trimmed. Returns the facts queued, or -1 and *err. */
typedef struct lc_store lc_store;
int lc_cluster_archive(lc_cluster *c, const char *room, lc_store *store, gint64 low_stock_default, char **err);

/* Writes a room into the registry (room: JSON with secrets, borrowed). */
void lc_cluster_room_put(lc_cluster *c, const char *id, const json_t *room);

/* The room's publisher is on this node (true) or left it (false): lc:origins room -> {node_id,
 * advertise_url, since}; only this node's own entry is removed. */
void lc_cluster_origin(lc_cluster *c, const char *room, bool here);
/* Every room's origin ({room: {node_id, advertise_url, since}}, borrowed), or NULL and err
 * when Redis did not answer; cb on the main loop. */
void lc_cluster_origins(lc_cluster *c, void (*cb)(const json_t *origins, const char *err, gpointer user),
                        gpointer user);

/* {node_id, advertise_url, redis, up} for status (transfer full). */
json_t *lc_cluster_status(lc_cluster *c);
