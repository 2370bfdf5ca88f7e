/* Fan-out on a worker: the bounded media queue renditions push into (sink, on the producer's
 * thread), one subscription per rendition per worker, viewers' tracks, the first rung and fast
 * join, rung switching at keyframes, keyframe requests. Internal to lc_rtc; worker thread
 * unless said otherwise. See rtc_fanout.c. */
#pragma once
#include "rtc/rtc_worker_int.h"

/* A viewer finished DTLS: its bandwidth estimate, first rung (fast join) and audio. */
void lc__rtc_fanout_join(lc__rtc_worker *w, lc__rtc_session *s);
/* Takes the queued packets and sends each to the viewers of its rendition. */
void lc__rtc_fanout_drain(lc__rtc_worker *w);
/* Every ADAPT interval: the rung the pin or the bandwidth estimate asks for (switch at its next
 * keyframe, requested). */
void lc__rtc_fanout_adapt(lc__rtc_worker *w, lc__rtc_session *s);
/* Forwards a keyframe request to r (counted when not throttled). */
void lc__rtc_fanout_request_keyframe(lc__rtc_worker *w, lc_rendition *r);
/* The track leaves the renditions it is sent from or waits for (the session is ending). */
void lc__rtc_fanout_detach(lc__rtc_vtrack *t);
/* Unsubscribes from renditions no track uses (all: from every one; shutdown). */
void lc__rtc_fanout_gc(lc__rtc_worker *w, bool all);
