/* Inside the relay (relay.c: facade, thread, listener; relay_pull.c: the edge side; relay_feed.c:
 * the serving side). Everything here runs on the relay thread unless a comment says otherwise. */
#pragma once
#include "relay/relay.h"
#include "relay/relay_wire.h"

#include <srt/srt.h>
#include <sys/socket.h>

#define LC__RELAY_TICK_US 20000
#define LC__RELAY_HOLD_US 3000000 /* a rendition stays subscribed upstream this long after its last subscriber */
#define LC__RELAY_END_LOOP 2508   /* SRT reject code: the request's via names the upstream (508 Loop Detected) */

typedef struct lc__relay_pull lc__relay_pull;
typedef struct lc__relay_feed lc__relay_feed;

struct lc_relay {
  lc_relay_config cfg; /* strings owned (copies) */
  lc_media_hub *hub;
  char aes_key[65];    /* SRT passphrase derived from the secret */
  struct sockaddr_storage origin_addr;
  int origin_len;
  char origin_str[128];
  SRTSOCKET lsn;       /* SRT_INVALID_SOCK when not serving */
  int port;
  int eid;
  bool srt_started;
  GThread *thread;

  GMutex lock;         /* guards everything below up to the relay-thread-only part */
  bool stopping;
  GQueue cmds;         /* main -> relay thread: relay_cmd * */
  GHashTable *ready;   /* rooms whose pull has its video in the hub (owned keys); read by lc_relay_want */
  GHashTable *pulling; /* rooms with a pull (owned keys) */
  GQueue events;       /* relay thread -> main: relay_event * */
  GSource *ev_src;
  lc_relay_stats stats;
  GMainContext *ctx;
  GHashTable *want_times; /* room -> gint64 *: the last lc_relay_want (monotonic us) */

  GMutex refuse_lock;     /* the refusal log's rate (listen callback) */
  gint64 refuse_sec;
  guint64 refuse_logged, refuse_skipped;

  /* main thread only */
  GHashTable *waiters; /* room -> waiters * */

  /* relay thread only */
  GHashTable *pulls;   /* room -> lc__relay_pull * */
  GHashTable *socks;   /* SRTSOCKET -> lc__relay_pull * or lc__relay_feed * (tagged by the first field) */
  GHashTable *ended;   /* room -> lc__relay_ended *: why the last pull of it failed, for feeds
                          waiting on it (kept 30 s) */
  GPtrArray *feeds;    /* lc__relay_feed * */
  int64_t last_stats_us;
  lc_relay_msg msg;    /* scratch for parsing (relay thread) */
  unsigned n_connected; /* pulls connected (as of the last tick or connect) */
  gint n_feeds;        /* atomic: read by the listen callback */
  guint64 refused, pulls_failed; /* atomic */
  lc_relay_link_stats closed_in, closed_out; /* counters of the links that closed */
};

typedef struct {
  int64_t at_us;       /* when the pull ended */
  uint8_t code;        /* lc_relay_end_code to pass downstream */
  char reason[128];
} lc__relay_ended;

/* What a socket in `socks` belongs to: both structs start with this. */
typedef enum { LC__RELAY_PULL = 1, LC__RELAY_FEED = 2 } lc__relay_owner;

/* ---- relay.c, for the sides ---- */
/* Applies the transport options every relay socket shares (before connect / listen). */
void lc__relay_tune(lc_relay *r, SRTSOCKET s);
/* Posts "the room's pull is ready (status 0) or failed" to the main thread. Any thread. */
void lc__relay_post_ready(lc_relay *r, const char *room, int status, const char *why);
/* "ip:port" of an address. */
void lc__relay_format_addr(const struct sockaddr *sa, char *out, size_t len);
/* Sends one message (non-blocking). Returns false when SRT refused it. Any thread. */
bool lc__relay_send(SRTSOCKET s, const uint8_t *buf, size_t len);

/* Adds a closing link's counters to r->closed_in / closed_out. */
void lc__relay_account(lc_relay *r, const lc_relay_link_stats *link, bool in);

/* ---- relay_pull.c ---- */
/* The pull of room, created (with this via chain: the downstream's, NULL for a local viewer) if
 * none runs. */
lc__relay_pull *lc__relay_pull_get(lc_relay *r, const char *room, const lc_relay_request *downstream);
void lc__relay_pull_on_event(lc_relay *r, lc__relay_pull *p, int events);
/* Whether any pull is connected; reads every connected pull (see the thread loop for why). */
bool lc__relay_pull_connected(lc_relay *r);
void lc__relay_pull_read_all(lc_relay *r);
/* Connect timers, subscriptions, idle close; frees pulls that ended. */
void lc__relay_pull_tick(lc_relay *r, int64_t now);
/* Drops the connection now; it reconnects. */
void lc__relay_pull_reset(lc_relay *r, lc__relay_pull *p, const char *why);
void lc__relay_pull_stats(lc_relay *r, lc__relay_pull *p, lc_relay_link_stats *out);
/* Closes and frees (stop). */
void lc__relay_pull_free(lc_relay *r, lc__relay_pull *p);

/* ---- relay_feed.c ---- */
/* An accepted edge connection (streamid already verified by the listen callback). */
void lc__relay_feed_accept(lc_relay *r, SRTSOCKET s, const struct sockaddr *peer);
void lc__relay_feed_on_event(lc_relay *r, lc__relay_feed *f, int events);
void lc__relay_feed_tick(lc_relay *r, int64_t now);
const char *lc__relay_feed_room(lc__relay_feed *f);
/* Closes the connection and frees (removed from r->feeds and r->socks by the caller's loop:
 * use lc__relay_feed_close). */
void lc__relay_feed_close(lc_relay *r, lc__relay_feed *f, const char *why);
void lc__relay_feed_stats(lc__relay_feed *f, lc_relay_link_stats *out);
