/* Media contract between producers (the transcode ladder, WHIP ingest) and consumers (the WebRTC
 * fan-out, test taps). pipelines/ owns it; pipelines/rtc depends on it, never the other way.
 *
 * lc_pkt: one RTP packet, immutable once published, refcounted (atomic). Consumers never copy it
 * per viewer: they encrypt it into a per-thread scratch buffer, rewriting PT/SSRC/seq/ts there.
 *
 * lc_rendition: one track of one room: a video rung ("720p") or the audio ("opus"). It gives its
 * packets a stable SSRC and continuous sequence numbers and timestamps even when the producer
 * behind it is torn down and rebuilt (publisher reconnect within the grace period, pipeline
 * error): the producer calls lc_rendition_discontinuity() and the next packet continues where the
 * last one ended (seq + 1; ts advanced by the wall-clock gap). It keeps ~2 s of packets for NACKs
 * and the packets since the last keyframe for fast join. Refcounted; any thread.
 *
 * lc_media_room: the renditions of one room (video rungs sorted by bitrate, highest first, and
 * at most one audio). Refcounted, so a worker holding it is safe when the room goes offline.
 *
 * lc_media_hub: room id -> lc_media_room. The main thread opens/closes rooms; any thread looks
 * rooms up (lc_media_hub_acquire). */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { LC_MEDIA_VIDEO = 0, LC_MEDIA_AUDIO = 1 } lc_media_kind;

/* Canonical payload types inside renditions; consumers rewrite them to what each peer negotiated. */
#define LC_MEDIA_PT_H264 96
#define LC_MEDIA_PT_OPUS 111

typedef struct {
  gint refs;            /* private: use lc_pkt_ref/unref */
  lc_media_kind kind;
  bool keyframe;        /* first packet of a keyframe (IDR access unit; SPS/PPS precede it in the AU) */
  bool marker;          /* RTP marker bit (last packet of a video frame) */
  bool aged;            /* pushed already older than its producer's live edge by > 500 ms
                         * (lc_rendition_push_rtp_aged: a relay replaying its upstream's cache) */
  uint16_t seq;         /* as written in data (the rendition's continuous numbering) */
  uint32_t ts;          /* as written in data */
  int64_t produced_us;  /* the rendition's clock (g_get_monotonic_time()) when the producer pushed it,
                         * less the age it came with (lc_rendition_push_rtp_aged) */
  uint32_t len;         /* bytes in data: the whole RTP packet (header with SSRC/seq/ts final) */
  uint8_t data[];       /* RTP packet, no padding beyond len */
} lc_pkt;

lc_pkt *lc_pkt_ref(lc_pkt *pkt);      /* any thread; returns pkt */
void lc_pkt_unref(lc_pkt *pkt);       /* any thread; NULL is fine */

typedef struct {
  char name[16];          /* "1080p", "720p", "480p", "360p", "source", "opus" */
  lc_media_kind kind;
  uint32_t ssrc;          /* stable for the rendition's life */
  uint32_t clock_rate;    /* 90000 video, 48000 opus */
  uint8_t payload_type;   /* LC_MEDIA_PT_* */
  int width, height;      /* video; 0 for audio (and for "source" until known) */
  int bitrate_kbps;       /* target bitrate of the rung (source: measured or 0) */
  int channels;           /* audio: 2 */
  char fmtp[128];         /* video: "packetization-mode=1;profile-level-id=42e01f;level-asymmetry-allowed=1" */
} lc_rendition_info;

typedef struct lc_rendition lc_rendition;

/* Called on the producer's thread (a GStreamer streaming thread or an RTC worker) for every
 * packet. pkt is borrowed: take lc_pkt_ref() to keep it. Must not block (push to a bounded queue,
 * drop and count when full). */
typedef void (*lc_rendition_sink)(lc_rendition *r, lc_pkt *pkt, gpointer user);
/* Asks the producer for a keyframe. Called on the requesting thread (any); must not block. */
typedef void (*lc_rendition_keyframe_fn)(lc_rendition *r, gpointer user);

/* New rendition (transfer full); info copied; its ssrc is used as given (0: a random one).
 * cache_ms = how much history to keep for NACKs (e.g. 2000). Any thread. */
lc_rendition *lc_rendition_new(const lc_rendition_info *info, unsigned cache_ms);
lc_rendition *lc_rendition_ref(lc_rendition *r);
void lc_rendition_unref(lc_rendition *r);
/* Info (copy into *out; width/height may change when the source's resolution becomes known). */
void lc_rendition_get_info(lc_rendition *r, lc_rendition_info *out);
void lc_rendition_set_size(lc_rendition *r, int width, int height);

/* Producer side (one producer thread at a time). Publishes an RTP packet (borrowed, copied once):
 * SSRC, seq and ts are rewritten for continuity, PT set to the canonical one. keyframe = this
 * packet starts a keyframe. Caches it and hands it to every sink. */
void lc_rendition_push_rtp(lc_rendition *r, const uint8_t *rtp, size_t len, bool keyframe);
/* The same, for a packet that was produced age_us ago elsewhere (a relayed packet: the origin's
 * age travels with it, so a replayed GOP is seen as old as it is, see rtc fast join). */
void lc_rendition_push_rtp_aged(lc_rendition *r, const uint8_t *rtp, size_t len, bool keyframe, int64_t age_us);
/* The producer restarted (or changed): the next pushed packet continues the numbering. */
void lc_rendition_discontinuity(lc_rendition *r);
/* Who answers keyframe requests (NULL to clear). Any thread. */
void lc_rendition_set_keyframe_fn(lc_rendition *r, lc_rendition_keyframe_fn fn, gpointer user);
/* Clears the keyframe function only if it is still (fn, user): a producer detaching itself never
 * removes its successor's. Returns once no call of it is running. Any thread. */
void lc_rendition_clear_keyframe_fn(lc_rendition *r, lc_rendition_keyframe_fn fn, gpointer user);
/* Sets the live flag (false while the publisher is gone). Any thread. */
void lc_rendition_set_live(lc_rendition *r, bool live);
bool lc_rendition_is_live(lc_rendition *r);

/* Consumer side, any thread. Returns a subscription id > 0. After unsubscribe returns, the sink
 * is never called again for that id (it may be running concurrently until then). Sinks run with
 * the rendition's subscriber lock held for reading: never (un)subscribe from inside a sink. */
unsigned lc_rendition_subscribe(lc_rendition *r, lc_rendition_sink sink, gpointer user);
void lc_rendition_unsubscribe(lc_rendition *r, unsigned id);
/* Subscribe for a fast join: *backlog gets lc_rendition_since_keyframe() taken atomically with
 * the subscription (no packet missed, none twice: the sink sees the packets after the backlog's
 * last one), or NULL if no keyframe is cached. A sink must not (un)subscribe on the rendition it
 * is being called for (deadlock). Any thread. */
unsigned lc_rendition_subscribe_from_keyframe(lc_rendition *r, lc_rendition_sink sink, gpointer user,
                                              GPtrArray **backlog);
/* Throttled keyframe request (at most one per min_interval_ms forwarded to the producer;
 * lc_rendition_set_keyframe_throttle, default 500 ms). Returns true if forwarded now; a throttled
 * request is forwarded by the first packet pushed after the window (from the producer's thread),
 * unless a keyframe arrives first. */
bool lc_rendition_request_keyframe(lc_rendition *r);
void lc_rendition_set_keyframe_throttle(lc_rendition *r, unsigned min_interval_ms);
/* The cached packet with this sequence number (ref'd, transfer full) or NULL (NACK answers). */
lc_pkt *lc_rendition_lookup(lc_rendition *r, uint16_t seq);
/* Packets from the last keyframe up to now (each ref'd; free the array with g_ptr_array_unref,
 * it owns the refs), or NULL if no keyframe is cached. For fast join. */
GPtrArray *lc_rendition_since_keyframe(lc_rendition *r);
/* Counters (any thread): packets pushed, keyframes pushed (a keyframe counts once: its first
 * packet carries the flag). */
uint64_t lc_rendition_packets(lc_rendition *r);
uint64_t lc_rendition_keyframes(lc_rendition *r);
/* RTP bytes pushed per second over the last complete 2 s window, in kbit/s (0 until one). */
int lc_rendition_measured_kbps(lc_rendition *r);
/* The clock a rendition reads (monotonic microseconds: packet ages for the cache, the keyframe
 * throttle, produced_us, timestamp advance across a discontinuity). NULL = g_get_monotonic_time.
 * Set it right after lc_rendition_new, before the rendition is shared: tests drive time by hand
 * instead of sleeping. */
typedef int64_t (*lc_media_clock_fn)(gpointer user);
void lc_rendition_set_clock(lc_rendition *r, lc_media_clock_fn clock, gpointer user);
unsigned lc_rendition_subscribers(lc_rendition *r);

typedef struct lc_media_room lc_media_room;
lc_media_room *lc_media_room_ref(lc_media_room *m);
void lc_media_room_unref(lc_media_room *m);
const char *lc_media_room_id(lc_media_room *m);
/* Renditions (borrowed while m is held): video rungs highest bitrate first, then audio. */
unsigned lc_media_room_n_video(lc_media_room *m);
lc_rendition *lc_media_room_video(lc_media_room *m, unsigned i);
lc_rendition *lc_media_room_find(lc_media_room *m, const char *name);
lc_rendition *lc_media_room_audio(lc_media_room *m); /* or NULL */
/* Producer side (any thread; the ladder adds from GStreamer streaming threads): adds a rendition
 * (takes a ref). Replaces one of the same name (the
 * replaced one stays allocated until the room is freed, so borrowed pointers remain valid). */
void lc_media_room_add(lc_media_room *m, lc_rendition *r);
/* Whether a producer is attached (false during the grace period and after): any rendition live. */
bool lc_media_room_is_live(lc_media_room *m);
/* Sets every rendition's live flag. Any thread. */
void lc_media_room_set_live(lc_media_room *m, bool live);

typedef struct lc_media_hub lc_media_hub;
lc_media_hub *lc_media_hub_new(void);
void lc_media_hub_free(lc_media_hub *hub);   /* main thread, at stop */
/* Main thread: the room's media, created empty if absent (transfer none; lives in the hub). */
lc_media_room *lc_media_hub_open(lc_media_hub *hub, const char *room_id);
/* Any thread: the same, transfer full (the caller's reference stays valid whoever closes it). */
lc_media_room *lc_media_hub_open_ref(lc_media_hub *hub, const char *room_id);
/* Drops the room from the hub (holders keep their refs; renditions set not live). Main thread,
 * or the relay thread for the rooms it pulled. */
void lc_media_hub_close(lc_media_hub *hub, const char *room_id);
/* Any thread: the room's media (transfer full) or NULL. */
lc_media_room *lc_media_hub_acquire(lc_media_hub *hub, const char *room_id);
/* Room ids with media, for /metrics and status (transfer full, free with g_strfreev). */
char **lc_media_hub_rooms(lc_media_hub *hub);
