/* The session registry of lc_rtc: sessions by ICE ufrag, by resource id and (WHIP) by room;
 * which worker owns each; the counts behind the stats (sessions, connected viewers and
 * publishers, viewers per rung); the publish and closed callbacks. Used by rtc.c (offers,
 * delete, pin, stats: main thread / any thread) and by the workers (lookup, claim, unregister,
 * counts: worker threads); neither knows the other's internals through it. Internal: lc__ names.
 *
 * Lock: one mutex ("reg lock" in rtc_session.h) guards the maps, the counts, and each session's
 * owner, owner_w, in_registry, pin and rung_name. Never held while calling a callback, a worker
 * or a rendition. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtc/rtc.h"
#include "rtc/rtc_session.h"

typedef struct lc__rtc_registry lc__rtc_registry;

/* Main thread. max_sessions > 0. */
lc__rtc_registry *lc__rtc_registry_new(unsigned max_sessions);
/* Unregisters (no report) and drops what is left: sessions no worker adopted. Main thread, after
 * the workers are freed. NULL is fine. */
void lc__rtc_registry_free(lc__rtc_registry *reg);
/* Callbacks (see rtc.h). Main thread, before any offer; read-only after. */
void lc__rtc_registry_set_publish_fn(lc__rtc_registry *reg, lc_rtc_publish_fn fn, gpointer user);
void lc__rtc_registry_set_closed_fn(lc__rtc_registry *reg, lc_rtc_closed_fn fn, gpointer user);

/* Whether a new session of kind for room would be refused now: 0, LC_ELIMIT (max_sessions),
 * LC_EBUSY (a WHIP session for room exists). A check before the work of an offer; add decides.
 * Main thread. */
int lc__rtc_registry_check(lc__rtc_registry *reg, lc__rtc_kind kind, const char *room);
/* Registers s (takes a ref of its own): 0, LC_ELIMIT or LC_EBUSY as above. Main thread. */
int lc__rtc_registry_add(lc__rtc_registry *reg, lc__rtc_session *s);
/* The registered, not closing session with this ufrag / resource id: a new ref, or NULL.
 * Any thread (by_ufrag: a worker, for a check from an unknown tuple). */
lc__rtc_session *lc__rtc_registry_by_ufrag(lc__rtc_registry *reg, const char *ufrag, size_t ufrag_len);
lc__rtc_session *lc__rtc_registry_by_id(lc__rtc_registry *reg, const char *id);
/* After a check passed MESSAGE-INTEGRITY on worker index (w): makes it the owner if the session
 * has none (and is registered and not closing). Returns the owner's index (-1: could not be
 * claimed). Worker thread. */
int lc__rtc_registry_claim(lc__rtc_registry *reg, lc__rtc_session *s, int index, lc__rtc_worker *w);
/* Delete: marks the session with this id closing. LC_ENOENT if none (or already closing). When
 * no worker owns it, it is unregistered here and *owner = NULL; else *owner = its worker, to
 * wake (it ends the session). Main thread. */
int lc__rtc_registry_close(lc__rtc_registry *reg, const char *id, lc__rtc_worker **owner);
/* Removes s (its ufrag and id no longer resolve) and drops the registry's ref; if reason is
 * non-NULL and s was still registered, reports it to the closed callback. Any thread. */
void lc__rtc_registry_unregister(lc__rtc_registry *reg, lc__rtc_session *s, const char *reason);
/* Ends sessions nobody adopted for longer than limit_us ("ICE never completed", reported).
 * Returns how many. Worker 0. */
unsigned lc__rtc_registry_reap_unowned(lc__rtc_registry *reg, int64_t now_us, int64_t limit_us);

/* A viewer's pin: set (copied; NULL = automatic) and raise s->pin_changed; returns its owner
 * to wake (NULL: none yet). Main thread. */
lc__rtc_worker *lc__rtc_registry_set_pin(lc__rtc_registry *reg, lc__rtc_session *s, const char *pin);
/* A copy of the pin (g_free) or NULL. Worker thread. */
char *lc__rtc_registry_get_pin(lc__rtc_registry *reg, lc__rtc_session *s);

/* Rung statistics: the session's counted rung becomes name ("" = none). Worker thread. */
void lc__rtc_registry_count_rung(lc__rtc_registry *reg, lc__rtc_session *s, const char *name);
/* A session finished DTLS (delta 1) or ended after it (-1). Worker thread. */
void lc__rtc_registry_count_connected(lc__rtc_registry *reg, lc__rtc_kind kind, int delta);
/* Fills out's sessions, viewers, publishers, n_rungs and rungs. Any thread. */
void lc__rtc_registry_stats(lc__rtc_registry *reg, lc_rtc_stats *out);

/* A WHIP session went live / ended: calls the publish callback with its peer address. The
 * session's worker thread, no lock held. */
void lc__rtc_registry_report_publish(lc__rtc_registry *reg, const lc__rtc_session *s, bool live,
                                     const char *reason);
