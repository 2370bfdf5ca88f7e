/* The show channel's protocol logic on top of the websocket transport (ws.h) and
 * the codec (proto.h): hello and auth, resume from the per-room history ring or a
 * snapshot, requests to the show engine and their replies, broadcasts serialized
 * once per event, private events to a user's connections, resync of slow readers.
 * Main thread only. */
#pragma once
#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

#include "commerce/show.h"
#include "signaling/ws.h"

typedef struct lc_session lc_session;
typedef struct lc_metrics lc_metrics;

typedef struct {
  const char *jwt_secret;  /* HS256 secret for viewer tokens (copied) */
  bool allow_anonymous;    /* viewers without a token may watch, like and read chat */
  unsigned history;        /* events kept per room for resume */
  unsigned hello_timeout_ms; /* a connection that sends no hello by then is closed */
  lc_metrics *metrics;     /* optional */
  /* The show of a room, or NULL when there is no such room. */
  lc_show *(*show_for)(const char *room, gpointer user);
  gpointer user;
} lc_session_options;

lc_session *lc_session_new(const lc_session_options *opts);
void lc_session_free(lc_session *s);
/* Handlers to give lc_ws_new; they point at this session. */
const lc_ws_handlers *lc_session_ws_handlers(lc_session *s);

/* Feed from the show sinks (main wires them). data borrowed. */
void lc_session_event(lc_session *s, lc_show *show, gint64 seq, lc_show_event_kind kind, const json_t *data);
/* skip: a connection (the origin of a request, as passed in lc_show_caller.origin) that
 * does not get it; NULL: every connection of the user. Nothing is serialized when
 * nobody would receive it. */
void lc_session_private(lc_session *s, lc_show *show, const char *user, lc_show_event_kind kind,
                        const json_t *data, gconstpointer skip);
/* Sends every connection (all rooms) an unsequenced {"type":"private","name":name,"data"}:
 * a state of this node, such as "store" {"state": "reconnecting" | "ok"} in cluster mode. */
void lc_session_notice(lc_session *s, const char *name, const json_t *data);
/* Closes every connection with 1001 (the server is stopping): clients reconnect
 * with resume. */
void lc_session_close_all(lc_session *s);
/* Closes every connection of a room (the room ended or was removed). */
void lc_session_close_room(lc_session *s, const char *room, const char *reason);
/* The display name of a connected viewer `user` of the room (borrowed, valid until the
 * main loop runs again), or NULL when none of its connections is open. */
const char *lc_session_user_name(lc_session *s, const char *room, const char *user);
/* Connected viewers of a room. */
unsigned lc_session_viewers(lc_session *s, const char *room);
