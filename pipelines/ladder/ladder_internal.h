/* Internal to pipelines/ladder (and its unit tests): the pieces of the transcode ladder and the
 * state they share. The public API is ladder.h.
 *
 * One seam per file:
 *   ladder_config.c  rung specs ("name:WxH:kbps") and the config's checks and defaults. Pure.
 *   ladder_rung.c    one output branch: its state (lc__ladder_rung), the x264 rung's bin, the
 *                    payloader probe and appsink output into the branch's rendition, the keyframe
 *                    function, push-to-packet latency bookkeeping.
 *   ladder_input.c   the front-ends: ES (two appsrcs, fed from RTMP), TS (appsrc ! tsdemux, fed
 *                    from SRT), RTP (appsrc ! rtpjitterbuffer ! rtph264depay, fed from a WHIP
 *                    rendition), with their push calls.
 *   ladder_overlay.c the overlay stage (element "lcoverlay", only in ladders with an overlay):
 *                    brings the room's lc_overlay_view up to date on every decoded frame and blends
 *                    its rectangles (ovblend.c) in place.
 *   ladder.c         construction and teardown, the shared decode chain, the probes that build the
 *                    rungs at the first caps and decide the "source" rung, the bus, stats.
 *
 * Threads (who runs what):
 *   main thread        lc_ladder_new/free, the bus watch (error callback), lc_ladder_attach_rtp.
 *   producer thread    ES/TS push calls (one at a time: main thread for RTMP, the SRT thread).
 *   rendition producer RTP front-end sink (the WHIP publisher's RTC worker), under rtp_lock.
 *   streaming threads  h264parse's (vparse probe: source size/codec, B-frames, "source" decision),
 *                      the decoder's (the overlay stage; rtee caps probe: builds the rungs, under
 *                      lock), one per rung
 *                      branch (its queue: payloader probe + appsink output), tsdemux's (pad-added).
 *   any thread         keyframe requests (rung keyframe function, called by the rendition under its
 *                      lock), stats. */
#pragma once
#include "ladder/ladder.h"

#include <gst/gst.h>
#include <stdbool.h>
#include <stdint.h>

#define LC__LADDER_DECIDE_AUS 30               /* access units seen before "no B-frames" is decided */
#define LC__LADDER_MAX_VIDEO_QUEUE_BUFFERS 90u /* appsrc queues: beyond this, drop (counted) */
#define LC__LADDER_LAT_MAP 256
#define LC__LADDER_LAT_SAMPLES 4096

/* fmtp of the x264 rungs: constrained baseline, level 3.1, higher levels accepted. */
extern const char lc__ladder_x264_fmtp[];

/* ---------------------------------------------------------------------------------------------- */
/* Config (ladder_config.c) */

/* *c = *in with defaults filled in; 0 or LC_EINVAL + *err. Any thread. */
int lc__ladder_check_config(const lc_ladder_config *in, lc_ladder_config *c, char **err);

/* ---------------------------------------------------------------------------------------------- */
/* Latency bookkeeping (ladder_rung.c): push time of ES video access units by running time, and
 * push-to-first-RTP-packet samples (ring). Any thread; lock guards everything. */
typedef struct {
  GMutex lock;
  struct {
    GstClockTime rt;
    int64_t push_us;
  } map[LC__LADDER_LAT_MAP];
  unsigned map_next;
  int64_t *samples; /* microseconds, ring of LC__LADDER_LAT_SAMPLES */
  unsigned n, next;
  /* Overlays: the latest change of the blended rectangles (count, when the overlay stage drew
   * it, when the first RTP packet of a frame carrying it left on an x264 rung: monotonic µs, 0
   * while pending) and the running time of its first frame (NONE once out). */
  uint64_t ov_changes;
  int64_t ov_drawn_us, ov_out_us;
  GstClockTime ov_rt;
  uint64_t ov_cpu_ns; /* __atomic: CPU time of the overlay stage (its thread's clock) */
} lc__ladder_lat;

void lc__ladder_lat_init(lc__ladder_lat *lat);
void lc__ladder_lat_clear(lc__ladder_lat *lat);
/* An access unit with running time rt was pushed now. */
void lc__ladder_lat_note_push(lc__ladder_lat *lat, GstClockTime rt);
/* The first RTP packet of a rung's access unit with running time rt left now. */
void lc__ladder_lat_note_out(lc__ladder_lat *lat, GstClockTime rt);
/* Number of samples, p50 and p99 in microseconds (0 when none). */
void lc__ladder_lat_get(lc__ladder_lat *lat, unsigned *n, int64_t *p50_us, int64_t *p99_us);
/* The frame with running time rt is the first to carry a new set of overlay rectangles (drawn
 * now); the next x264 packet of a frame at or after rt marks it out. */
void lc__ladder_lat_note_overlay(lc__ladder_lat *lat, GstClockTime rt);
/* The latest overlay change: see the fields above. */
void lc__ladder_lat_get_overlay(lc__ladder_lat *lat, uint64_t *changes, int64_t *drawn_us, int64_t *out_us);
/* The overlay stage spent ns of CPU (any thread, lock-free). */
void lc__ladder_lat_add_overlay_cpu(lc__ladder_lat *lat, uint64_t ns);

/* ---------------------------------------------------------------------------------------------- */
/* Rungs (ladder_rung.c) */

typedef enum {
  LC__LADDER_RUNG_X264,   /* scaled + encoded video rung */
  LC__LADDER_RUNG_SOURCE, /* the publisher's H.264 passed through */
  LC__LADDER_RUNG_AUDIO,  /* "opus" */
} lc__ladder_rung_kind;

/* One output branch. Created on the main thread (audio, source) or in the decoder's streaming
 * thread (x264 rungs, under the ladder's lock); owned by the ladder's rungs array and freed after
 * the pipeline has stopped (its appsink calls back until then). */
typedef struct {
  lc_ladder *l;        /* owner; NULL for a rung built alone (tests): no latency, no "opus" attach */
  lc__ladder_lat *lat; /* where latency samples go (x264 rungs of a ladder), or NULL */
  lc__ladder_rung_kind kind;
  lc_ladder_rung def;
  GstElement *enc; /* x264enc of an x264 rung (borrowed from its bin: keyframe requests) */
  lc_rendition *r; /* atomic pointer; NULL until the rendition exists (owned ref) */
  gint enabled;    /* atomic; the source rung turns off if B-frames appear */
  /* The branch's streaming thread only: */
  bool au_start, au_key;
  GstClockTime au_rt; /* running time of the access unit being payloaded */
  /* The encoder's input thread: the scheduled keyframe (l->kf_due_pts) already forced here. */
  gint64 kf_forced_for;
  /* The decoder's thread (rung_admit_probe): the rung's input queue (borrowed), and the scheduled
   * keyframe frame already let in. */
  GstElement *q;
  gint64 kf_admitted_for;
} lc__ladder_rung;

/* New rung (transfer full); def may be NULL (audio, source). Any thread. */
lc__ladder_rung *lc__ladder_rung_new(lc_ladder *l, lc__ladder_rung_kind kind, const lc_ladder_rung *def);
/* Frees the rung and its rendition ref. Only once nothing of its branch runs (pipeline stopped). */
void lc__ladder_rung_free(lc__ladder_rung *g);

/* The branch of an x264 rung as a bin with a "sink" ghost pad (floating, transfer full):
 *   queue (leaky, 2 frames) ! lcswscale ! capsfilter(WxH) ! x264enc (zerolatency, no B-frames,
 *   keyframe every keyframe_interval_ms, preset) ! capsfilter(constrained-baseline)
 *   ! rtph264pay (MTU 1200, SPS/PPS before every IDR) ! appsink (into g's rendition)
 * fps_n/fps_d: the source frame rate (0: 30 assumed) for the keyframe interval in frames.
 * encoded_pad: a tee after the profile capsfilter also feeds a ghost src pad "encoded" (the
 * encoded H.264, for HLS; unlinked, it is dropped).
 * LC_LADDER_SCALER=videoscale swaps the scaler (comparisons). NULL + *err when an element is
 * missing. Any thread. */
GstElement *lc__ladder_rung_x264_bin(lc__ladder_rung *g, unsigned keyframe_interval_ms, const char *preset,
                                     int fps_n, int fps_d, bool encoded_pad, char **err);
/* Payloader (rtph264pay, MTU 1200, config-interval -1, zero-latency aggregation) whose sink pad
 * marks access units for g (floating), or NULL. Any thread. */
GstElement *lc__ladder_rung_h264pay(lc__ladder_rung *g, const char *name);
/* Appsink whose samples go to g's rendition (floating), or NULL. Any thread. */
GstElement *lc__ladder_rung_appsink(lc__ladder_rung *g, const char *name);
/* Output goes to r from now on (transfer full; g must have none yet); an x264 rung's encoder
 * answers r's keyframe requests. Any thread. */
void lc__ladder_rung_publish(lc__ladder_rung *g, lc_rendition *r);
/* Detaches the keyframe function from the rendition: no request runs on g once this returns.
 * Any thread; before the pipeline stops. */
void lc__ladder_rung_unpublish(lc__ladder_rung *g);

/* ---------------------------------------------------------------------------------------------- */
/* The overlay stage (ladder_overlay.c) */

/* The element "lcoverlay" for o (it takes its own ref; floating, transfer full): I420 in place,
 * after videoconvert and before rtee. On every frame (the decoder's streaming thread) it calls
 * lc_overlay_view_update with the wall clock and, when the rectangles changed, re-converts them
 * (lc_ovblend_set) and notes the change in lat (borrowed, may be NULL); with no rectangle it is in
 * passthrough (no map, no copy, no blend). room_id (copied) is for its log lines. Any thread. */
GstElement *lc__ladder_overlay_element(lc_overlay *o, const char *room_id, lc__ladder_lat *lat, const char *name);

/* ---------------------------------------------------------------------------------------------- */
/* HLS output (ladder_hls.c) */

typedef struct {
  lc_ladder *l;
  lc_ladder_rung def;
  char *codec; /* "avc1.42c01f" once the encoder's caps are known; l->hls_lock */
  bool top;    /* the highest x264 rung built */
  /* Main thread (bus messages of its splitmuxsink): */
  GstElement *sink;       /* its hlssink2 (the pipeline's, borrowed) */
  char *seg_prefix;       /* the segments' path up to their number: <dir>/<ladder start>- */
  unsigned opened;        /* fragments opened so far: the next one's index */
  guint64 open_rt;        /* running time of the open fragment's start */
  int64_t open_wall_us;
  bool is_open;
} lc__ladder_hls_rung;

/* Whether this ladder writes HLS (cfg.hls_root set, an input with AAC). */
bool lc__ladder_hls_on(const lc_ladder *l);
/* Creates the room's folder and the AAC tee "atee" into floating (returned, or NULL + *err).
 * Main thread, building the pipeline. */
GstElement *lc__ladder_hls_prepare(lc_ladder *l, GPtrArray *floating, char **err);
/* Watches the video arriving at vparse: wall clock <-> running time, for the segments' wall times
 * (l->hls_wall_offset_us). */
void lc__ladder_hls_watch_arrival(lc_ladder *l, GstElement *vparse);
/* Watches aparse's caps for the master playlist's audio codec. */
void lc__ladder_hls_watch_audio(lc_ladder *l, GstElement *aparse);
/* The rung's hlssink2 branch from rung_bin's "encoded" pad (and an atee branch for its audio).
 * A folder that cannot be made is logged and skipped (0). Decoder's streaming thread, l->lock. */
int lc__ladder_hls_add_rung(lc_ladder *l, const lc_ladder_rung *def, bool top, GstElement *rung_bin, char **err);
/* A bus message from inside an hlssink2 (splitmuxsink-fragment-opened/-closed): reports the
 * finished segments through cfg.on_segment. Main thread. */
void lc__ladder_hls_on_message(lc_ladder *l, GstMessage *msg);
/* The segments being written are finished (EOS into each open branch) and reported through
 * cfg.on_segment, waiting at most timeout_us for the muxers: the end of a stream is recorded.
 * Before the pipeline stops. Main thread (it takes the ladder's bus messages meanwhile; the
 * other kinds are dropped: the ladder is going). */
void lc__ladder_hls_drain(lc_ladder *l, gint64 timeout_us);
/* Frees the HLS bookkeeping (the elements go with the pipeline). After the pipeline stopped. */
void lc__ladder_hls_free(lc_ladder *l);

/* ---------------------------------------------------------------------------------------------- */
/* The ladder (ladder.c) */

struct lc_ladder {
  /* Set at creation, read-only after: */
  char *room_id;
  lc_media_room *media; /* ref */
  lc_ladder_input input;
  lc_ladder_config cfg;
  lc_ladder_error_cb on_error;
  gpointer user;
  lc_overlay *overlay; /* ref, or NULL: no overlay stage in the pipeline */

  /* Main thread (the pipeline owns the elements; these are borrowed): */
  GstElement *pipeline; /* ref */
  GstBus *bus;          /* ref */
  guint bus_watch;
  GstElement *vsrc, *asrc, *tssrc, *rtpsrc; /* appsrcs of the front-end (push calls read them) */
  GstElement *vparse, *aq;                  /* where tsdemux pads go */
  GstElement *rtee;

  GMutex lock;           /* rungs, renditions, rungs_built, built_w/h, src_codec */
  GPtrArray *rungs;      /* lc__ladder_rung * (owned) */
  GPtrArray *renditions; /* lc_rendition * (owned refs) this ladder produces into */
  bool rungs_built;
  int built_w, built_h;
  uint8_t src_codec[3]; /* profile_idc, constraints, level_idc from the source's avcC */
  bool have_src_codec;
  lc__ladder_rung *source_rung; /* or NULL; set at creation */
  lc__ladder_rung *audio_rung;  /* set at creation */

  /* Producer thread (ES/TS push): */
  bool have_vconfig, have_aconfig, video_wait_kf, have_base;
  unsigned nal_len_size;
  int64_t base_ms;
  GstCaps *vcaps, *acaps;

  /* tsdemux streaming thread: */
  bool ts_video_linked, ts_audio_linked;

  /* Decoder streaming thread (the rtee buffer probe): the next aligned keyframe's PTS. */
  GstClockTime next_kf_pts;
  /* The PTS of the latest scheduled keyframe (atomic; -1 none): every x264 rung makes the first
   * frame at or after it an IDR (rung_schedule_probe in ladder_rung.c). */
  gint64 kf_due_pts;

  /* HLS (ladder_hls.c; NULL/0 when off): */
  GstElement *atee;        /* AAC from aparse to every rung's hlssink2 (borrowed, the pipeline's) */
  GMutex hls_lock;         /* hls_rungs entries' codec, hls_audio_codec, the master playlist */
  GPtrArray *hls_rungs;    /* lc__ladder_hls_rung * (owned) */
  char *hls_audio_codec;
  gint64 hls_started;      /* unix s: segment names' prefix */
  /* min over the video entering vparse of (g_get_real_time() - its running time in µs): the wall
   * time of a running time, queueing excluded (atomic; G_MAXINT64 until the first frame). */
  gint64 hls_wall_offset_us;
  GstSegment hls_vsegment; /* vparse's input segment (its streaming thread) */
  double hls_fps;

  /* h264parse streaming thread (atomics readable anywhere): */
  gint n_aus, reorder, decided;
  uint64_t win_bytes; /* bytes of the decision window (source bitrate estimate) */
  GstClockTime win_first, win_last;
  gint src_w, src_h;

  uint64_t video_in, audio_in, dropped_in; /* __atomic */

  /* RTP front-end: the rendition it reads (a ref) and its subscription (main thread); the
   * sequence check runs under rtp_lock (the backlog is pushed from the main thread while the
   * producer's thread may already call the sink). */
  lc_rendition *rtp_in;
  unsigned rtp_sub;
  GMutex rtp_lock;
  uint16_t rtp_next_seq;
  bool rtp_have_seq;

  lc__ladder_lat lat;
};

/* The room's rendition of that name, reused (discontinuity) or created, set live, remembered in
 * l->renditions. Transfer full. l->lock held; any thread. */
lc_rendition *lc__ladder_attach_rendition(lc_ladder *l, const lc_rendition_info *info);
/* gst_element_factory_make that appends the element to floating (a GPtrArray that sinks and
 * drops what is left in it) and names the missing plugin in *err. Any thread. */
GstElement *lc__ladder_make(GPtrArray *floating, const char *factory, const char *name, char **err);
/* Counts one input unit dropped. Any thread. */
void lc__ladder_count_drop(lc_ladder *l);

/* ---------------------------------------------------------------------------------------------- */
/* Front-ends (ladder_input.c) */

/* Makes the elements of l->input's front-end into floating (see lc__ladder_make) and sets
 * properties; no linking. 0 or LC_EINVAL + *err. Main thread, during lc_ladder_new. */
int lc__ladder_front_end_make(lc_ladder *l, GPtrArray *floating, char **err);
/* Once the front-end's elements are in the pipeline: links them to vparse (video) and aq
 * (audio), or connects tsdemux's pad-added, and keeps the appsrcs in l. 0 or LC_EINVAL + *err.
 * Main thread, during lc_ladder_new. */
int lc__ladder_front_end_link(lc_ladder *l, char **err);
/* "ES", "TS", "RTP" (logs). */
const char *lc__ladder_input_name(lc_ladder_input input);
/* Stops the RTP input (unsubscribes; no sink call runs once this returns). Main thread. */
void lc__ladder_front_end_detach(lc_ladder *l);
