/* The publish manager: owns the RTMP server and the SRT listener, decides who may publish
 * into which room, and runs one transcode ladder (pipelines/ladder) per live room into the
 * room's renditions in the media hub (pipelines/media).
 *
 * Rooms and publishers:
 *  - A publisher names its room and key (stream_key.h); the owner's auth callback decides
 *    (main thread, for both protocols). One active publisher per room: a second one is refused
 *    (RTMP NetStream.Publish.Denied, SRT reject 1409 conflict), or takes over when
 *    cfg.takeover is set (the old one is disconnected, the renditions continue).
 *  - Publish start: lc_media_hub_open(hub, room), a new lc_ladder writing into it (renditions
 *    created or reused: the ladder calls lc_rendition_discontinuity on reused ones, so SSRC,
 *    sequence numbers and timestamps continue), event "publish.start" (first time) or
 *    "publish.resumed" (within the grace period, or a takeover).
 *  - Publisher lost (disconnect, timeout, refused codec): the ladder is freed (renditions not
 *    live), event "publish.lost", grace timer (cfg.grace_ms, default 30 s). Back within grace ->
 *    "publish.resumed" into the same renditions. After grace: "publish.end", the room's media
 *    is closed in the hub (lc_media_hub_close) and the room forgotten.
 *  - Pipeline error (ladder on_error): logged with the room id, the ladder is freed and rebuilt
 *    for the same publisher (configs re-sent), other rooms untouched. More than 5 errors in a
 *    minute: the publisher is disconnected (lost).
 *
 * Threads: every function and callback runs on the main thread (the thread-default
 * GMainContext at lc_ingest_new), except the SRT listener thread that pushes MPEG-TS into the
 * room's ladder under an internal lock. */
#pragma once
#include "ladder/ladder.h"
#include "media/hub.h"

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

typedef struct {
  bool rtmp_enabled;         /* lc_ingest_config_default: true */
  const char *rtmp_bind;     /* default "0.0.0.0" */
  int rtmp_port;             /* default 1935; 0 = any free port; < 0 = RTMP disabled too */
  unsigned rtmp_max_connections; /* RTMP TCP connections at once (0 = 64) */
  bool srt_enabled;          /* lc_ingest_config_default: true */
  const char *srt_bind;      /* default "0.0.0.0" */
  int srt_port;              /* default 9710; 0 = any free port; < 0 = SRT disabled too */
  int srt_latency_ms;        /* 0 = 120 */
  unsigned grace_ms;         /* publisher back within this keeps the renditions; 0 = none (default 30000) */
  bool takeover;             /* a second publisher replaces the first (default false: refused) */
  unsigned max_publishers;   /* live rooms at once, also the SRT caller limit (0 = 16) */
  unsigned handshake_timeout_ms; /* RTMP connect -> publish accepted (0 = 10000) */
  unsigned idle_timeout_ms;  /* publishing without media, RTMP and SRT (0 = 10000) */
  /* RTMP per-address limits (lc_rtmp_server_config; 0 = no limit, the defaults leave them off):
   * wrong stream keys per minute before a lockout of auth_lockout_s, connections of one address
   * not yet publishing, addresses remembered, addresses never limited (borrowed, copied). */
  unsigned auth_failures_per_min;
  unsigned auth_lockout_s;
  unsigned rtmp_handshakes_per_ip;
  unsigned tracked_addresses;
  const char *limits_exempt;
  lc_ladder_config ladder;   /* copied into every ladder */
} lc_ingest_config;

typedef struct lc_ingest lc_ingest;

/* Returns 0 (publish allowed), LC_ENOENT (no such room), LC_EPERM (bad or missing key: key is
 * "" when none was given), LC_ESTATE (room ended). Main thread; strings borrowed. */
typedef int (*lc_ingest_auth_fn)(const char *room, const char *key, gpointer user);
/* event: "publish.start", "publish.lost", "publish.resumed", "publish.end"; detail: protocol
 * and peer ("rtmp 10.0.0.5:51234") or the reason. Main thread; strings borrowed. */
typedef void (*lc_ingest_event_fn)(const char *room, const char *event, const char *detail, gpointer user);

/* Defaults (both enabled, ports 1935 / 9710, grace 30 s, the ladder's rungs left empty: fill
 * cfg->ladder). A config built with a designated initializer works too: zero fields take the
 * defaults above, except grace_ms (0 = no grace) and the enabled flags. */
void lc_ingest_config_default(lc_ingest_config *cfg);
/* Binds both ports. hub borrowed (must outlive the ingest). cfg copied. NULL + *err (transfer
 * full, e.g. "cannot listen for RTMP on 0.0.0.0:1935: Address already in use"). Main thread. */
lc_ingest *lc_ingest_new(const lc_ingest_config *cfg, lc_media_hub *hub, lc_ingest_auth_fn auth,
                         lc_ingest_event_fn ev, gpointer user, char **err);
/* Disconnects every publisher, frees every ladder, closes both ports. No events are emitted.
 * NULL is fine. Main thread. */
void lc_ingest_free(lc_ingest *in);
/* Bound ports (-1 when disabled). Main thread. */
int lc_ingest_rtmp_port(lc_ingest *in);
int lc_ingest_srt_port(lc_ingest *in);
/* Disconnects the room's publisher (e.g. the room was ended by a moderator) and ends the room
 * at once (no grace): "publish.end". LC_ENOENT when the room has no ingest state. Main thread. */
int lc_ingest_kick(lc_ingest *in, const char *room, const char *reason);
/* Same, for the room registry: the room has ended (moderator): its publisher is disconnected and
 * the room ends now ("publish.end" if it had ingest state). Unknown rooms are fine. Main thread. */
void lc_ingest_end_room(lc_ingest *in, const char *room);
/* External publishers: WHIP creators, whose WebRTC session lives in pipelines/rtc. The owner has
 * checked the key; the publisher's packets already flow into renditions of the room (video:
 * RTP H.264 in `video`, e.g. "source"; its Opus is the room's audio). The same room rules as
 * RTMP/SRT apply (one live publisher, takeover, max_publishers, grace period and its events,
 * detail "whip <peer>"), and a ladder (LC_LADDER_INPUT_RTP) transcodes `video` into the rungs
 * (video NULL: no ladder, the publisher's renditions are all the room has).
 * token names the session (borrowed; copied). Returns 0, or LC_EBUSY (the room has a live
 * publisher), LC_ELIMIT (too many live rooms), LC_EINVAL/LC_EIO (transcoder) with *why (static
 * string). Main thread. */
int lc_ingest_external_start(lc_ingest *in, const char *room, const char *peer, const char *token,
                             lc_rendition *video, const char **why);
/* The external publisher `token` of room is gone (reason e.g. "consent timeout"): grace period,
 * "publish.lost". Ignored when it is not the room's live publisher any more. Main thread. */
void lc_ingest_external_lost(lc_ingest *in, const char *room, const char *token, const char *reason);
/* Ends an external publisher's session (kick, room ended, takeover, a transcoder that keeps
 * failing); the owner then reports lc_ingest_external_lost (ignored by then). Main thread;
 * strings borrowed. */
typedef void (*lc_ingest_close_fn)(const char *room, const char *token, const char *reason, gpointer user);
void lc_ingest_set_external_close(lc_ingest *in, lc_ingest_close_fn fn, gpointer user);
/* True while a publisher (RTMP, SRT or external) is live in the room (false during its grace
 * period). Main thread. */
bool lc_ingest_is_publishing(lc_ingest *in, const char *room);
/* Status for /metrics and the control socket (transfer full):
 * {"publishers": n, "rtmp": {connections, accepted, refused, bytes_in},
 *  "srt": {connections, accepted, rejected, bytes_in},
 *  "rooms": {"<id>": {"state": "live"|"grace", "protocol" ("rtmp"|"srt"|"whip"), "peer", "since_ms", "bytes_in",
 *                     "ladder_rebuilds", "video_in", "audio_in", "dropped_in"}}}. Main thread. */
json_t *lc_ingest_status(lc_ingest *in);
