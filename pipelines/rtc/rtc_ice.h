/* ICE-lite on a worker: STUN Binding checks, the tuple maps (remote address:port -> session,
 * own and foreign), hand-off of datagrams to the worker owning their session, consent
 * freshness. Internal to lc_rtc; worker thread unless said otherwise. See rtc_ice.c. */
#pragma once
#include "rtc/rtc_worker_int.h"

/* Creates / frees the worker's tuple maps and hand-off queue. Main thread (worker new/free). */
void lc__rtc_ice_init(lc__rtc_worker *w);
void lc__rtc_ice_clear(lc__rtc_worker *w);
/* The session of this worker that owns the tuple from (borrowed), or NULL. */
lc__rtc_session *lc__rtc_ice_session_by_tuple(lc__rtc_worker *w, const struct sockaddr *from);
/* A Binding Request: verified, answered, and the session adopted (or the check handed to the
 * session's owner). Unknown ufrags get no answer. */
void lc__rtc_ice_handle_stun(lc__rtc_worker *w, const uint8_t *buf, size_t len, const struct sockaddr *from,
                             socklen_t from_len);
/* A datagram from a tuple this worker knows as another worker's: handed over (true), else false. */
bool lc__rtc_ice_forward_foreign(lc__rtc_worker *w, const uint8_t *buf, size_t len,
                                 const struct sockaddr *from, socklen_t from_len);
/* Handles the datagrams other workers handed over (through lc__rtc_worker_datagram). */
void lc__rtc_ice_drain_handoff(lc__rtc_worker *w);
/* Drops foreign tuples of sessions that ended (all: every one). */
void lc__rtc_ice_foreign_gc(lc__rtc_worker *w, bool all);
/* Forgets every tuple of s (it is ending). */
void lc__rtc_ice_drop_tuples(lc__rtc_worker *w, lc__rtc_session *s);
/* Authenticated traffic from the peer: consent refreshed. */
void lc__rtc_ice_consent_refresh(lc__rtc_worker *w, lc__rtc_session *s);
