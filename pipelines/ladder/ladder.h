/* The transcode ladder of one live room: one GStreamer pipeline that decodes the publisher's
 * H.264 + AAC (gst-libav), blends the room's overlays into the decoded picture (when the room has
 * an lc_overlay, see below), tees it into the configured rungs (scale, x264enc zerolatency, no
 * B-frames, keyframe interval <= 2 s, keyframe on request; RTP H.264 packetization-mode 1,
 * MTU 1200) and encodes audio AAC -> Opus 48 kHz (RTP). Every output packet goes into the room's
 * lc_rendition of that rung (pipelines/media/hub.h); rungs above the source resolution are
 * skipped; a "source" passthrough rung is added when enabled and the source has no B-frames.
 *
 * Overlays (overlays/overlay.h). lc_ladder_new asks cfg->overlay_for(room_id, overlay_user) once
 * for the room's lc_overlay and holds a ref until lc_ladder_free. With one, the decoded picture
 * goes through the overlay stage before the rung tee: every transcoded rung carries the scene,
 * rendered at the source size and scaled down with the picture; a change of the scene shows in
 * the first frame that reaches the stage after it (the stage asks the overlay on every frame).
 * The "source" passthrough rung is the publisher's own H.264 and never carries overlays; when the
 * overlay's configuration says "passthrough": false (lc_overlay_passthrough_allowed), the ladder
 * has no "source" rung at all, so every viewer sees the overlays (read at creation: a later change
 * takes effect when the ladder is rebuilt). Without an overlay (NULL callback or NULL result) the
 * pipeline has no overlay stage: it costs nothing.
 *
 * Three input front-ends, chosen at creation (pipelines/ladder/ladder_input.c):
 *  - LC_LADDER_INPUT_ES: elementary streams as RTMP carries them (AVCC access units with an
 *    AVCDecoderConfigurationRecord, raw AAC frames with an AudioSpecificConfig).
 *  - LC_LADDER_INPUT_TS: an MPEG-TS byte stream (SRT) with H.264 + AAC.
 *  - LC_LADDER_INPUT_RTP: RTP H.264 read from a rendition of the room (a WHIP publisher's
 *    "source", lc_ladder_attach_rtp). Video only: the publisher's Opus is already the room's
 *    audio, and its own rendition is the passthrough (cfg->passthrough is ignored; it stays in
 *    the room whatever the overlay says: it is the publisher's, not the ladder's). The rungs
 *    carry the overlays as with the other front-ends.
 *
 * Threads: new/free/error callback on the main thread. The push functions may be called from one
 * producer thread at a time (main thread for RTMP, the SRT thread for SRT); they never block for
 * long (appsrc with a bounded queue: when full, data is dropped and counted). */
#pragma once
#include "media/hub.h"
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct lc_overlay lc_overlay; /* overlays/overlay.h */

typedef struct {
  char name[16];    /* "720p" */
  int width, height;
  int bitrate_kbps;
} lc_ladder_rung;

typedef struct lc_ladder_segment lc_ladder_segment; /* below */
typedef void (*lc_ladder_segment_fn)(const char *room_id, const lc_ladder_segment *seg, gpointer user);

typedef struct {
  lc_ladder_rung rungs[8];
  unsigned n_rungs;
  bool passthrough;          /* add a "source" rung when the source has no B-frames */
  unsigned keyframe_interval_ms;  /* <= 2000 */
  char x264_preset[16];      /* "veryfast" */
  int audio_bitrate;         /* Opus bits/s, e.g. 64000 */
  unsigned cache_ms;         /* NACK cache of each rendition, e.g. 2000 */
  unsigned keyframe_throttle_ms; /* min interval between forced keyframes per rung, e.g. 500 (0: none) */
  /* The room's overlay (borrowed: the ladder takes its own ref), or NULL for none. Called once, by
   * lc_ladder_new on the main thread; NULL callback: no overlays. */
  lc_overlay *(*overlay_for)(const char *room_id, gpointer user);
  gpointer overlay_user;
  /* HLS (pipelines/ladder/ladder_hls.c): NULL or "" = none; else every x264 rung is also written
   * as MPEG-TS segments + a live playlist under <hls_root>/<room>/<rung>/, with the publisher's
   * AAC (ES and TS inputs; RTP input: none), and <hls_root>/<room>/master.m3u8 lists them.
   * Borrowed: must outlive every ladder. */
  const char *hls_root;
  unsigned hls_segment_s;    /* target segment duration, s (>= the keyframe interval); 0 = 2 */
  unsigned hls_playlist_len; /* segments in a live playlist; 0 = 6 */
  /* Every finished HLS segment of every rung (recording takes the top one's), NULL = none.
   * Called on the main thread (the ladder's bus watch), in the order the segments closed. */
  lc_ladder_segment_fn on_segment;
  gpointer segment_user;
} lc_ladder_config;

/* A finished HLS segment (pointers valid during the on_segment call). */
struct lc_ladder_segment {
  const char *rung;      /* "720p" */
  bool top;              /* the ladder's highest x264 rung */
  const char *path;      /* the segment file, complete (hlssink2 may delete it a few segments later) */
  unsigned index;        /* its number in the rung's live playlist (hlssink2 counts from 0) */
  double duration_s;
  int64_t wall_start_us; /* g_get_real_time() when its first frame went through the pipeline */
};

/* Parses "1080p:1920x1080:4500,720p:1280x720:2500,..." into cfg->rungs. 0 or LC_EINVAL + *err. */
int lc_ladder_parse_rungs(const char *spec, lc_ladder_config *cfg, char **err);

typedef enum { LC_LADDER_INPUT_ES, LC_LADDER_INPUT_TS, LC_LADDER_INPUT_RTP } lc_ladder_input;

typedef struct lc_ladder lc_ladder;

/* Called on the main thread when the pipeline fails (message borrowed). The owner frees the
 * ladder and may build a new one (the renditions continue: lc_rendition_discontinuity). */
typedef void (*lc_ladder_error_cb)(lc_ladder *l, const char *message, gpointer user);

/* New ladder writing into media (a ref is held; renditions are created in it or reused by name,
 * and lc_rendition_discontinuity() is called on reused ones). A rendition appears in the room when
 * its branch starts producing (video rungs once the source size is known, from a GStreamer
 * streaming thread; "source" once the source is known to have no B-frames; "opus" at its first
 * packet). cfg copied (zero fields get defaults: keyframe 2000 ms, veryfast, 64 kbit/s Opus,
 * cache 2000 ms; keyframe_throttle_ms 0 means no throttle). Initialises GStreamer if needed.
 * NULL + *err on failure (also when the overlay forbids the passthrough rung and no rung is
 * configured: nothing would be produced).
 * Main thread (the bus watch goes on the thread-default main context). */
lc_ladder *lc_ladder_new(const char *room_id, lc_media_room *media, lc_ladder_input input,
                         const lc_ladder_config *cfg, lc_ladder_error_cb on_error, gpointer user, char **err);
/* Stops the pipeline (state NULL), detaches its keyframe functions, sets its renditions not live,
 * frees. May be called from inside on_error. Free the old ladder of a room before building its
 * successor (the live flags are per rendition). Main thread. */
void lc_ladder_free(lc_ladder *l);

/* ES front-end. Config records may be repeated (same or changed: the decoder is told). */
int lc_ladder_set_video_config(lc_ladder *l, const uint8_t *avcc, size_t len);
int lc_ladder_set_audio_config(lc_ladder *l, const uint8_t *asc, size_t len);
/* One access unit, AVCC (length-prefixed NAL units). dts_ms = RTMP timestamp, cts_ms =
 * composition time offset (pts = dts + cts). Returns 0, LC_ESTATE (no video config yet),
 * LC_ELIMIT (queue full, dropped). */
int lc_ladder_push_video(lc_ladder *l, const uint8_t *au, size_t len, int64_t dts_ms, int32_t cts_ms,
                         bool keyframe);
int lc_ladder_push_audio(lc_ladder *l, const uint8_t *frame, size_t len, int64_t pts_ms);
/* TS front-end: any slicing of the byte stream. */
int lc_ladder_push_ts(lc_ladder *l, const uint8_t *data, size_t len);
/* RTP front-end: reads video (H.264, LC_MEDIA_PT_H264; a ref is held until lc_ladder_free) from
 * its last cached keyframe on, or asks it for a keyframe when none is cached; a gap in its
 * sequence numbers asks again (throttled by the rendition). 0, LC_ESTATE (not an RTP ladder, or
 * already attached), LC_EINVAL (not an H.264 video rendition). Main thread. */
int lc_ladder_attach_rtp(lc_ladder *l, lc_rendition *video);

/* Counters for metrics/logs (any thread). */
typedef struct {
  uint64_t video_in, audio_in, dropped_in;
  bool source_has_bframes;
  int source_width, source_height;
  /* Push-to-first-RTP-packet latency of ES video frames over all x264 rungs (last 4096 samples). */
  unsigned latency_samples;
  int64_t latency_p50_us, latency_p99_us;
  /* Overlays: changes of the blended picture so far, and for the latest one when the overlay
   * stage drew its first frame and when that frame's first RTP packet left on an x264 rung
   * (g_get_monotonic_time, µs; out 0 while pending). All 0 without an overlay. */
  uint64_t overlay_changes;
  int64_t overlay_drawn_us, overlay_out_us;
  /* CPU time the overlay stage has spent (its thread's clock: scene updates and rendering,
   * conversion, frame copies, blending), µs. */
  uint64_t overlay_cpu_us;
} lc_ladder_stats;
void lc_ladder_get_stats(lc_ladder *l, lc_ladder_stats *out);
