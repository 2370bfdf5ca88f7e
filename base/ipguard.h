/* Per-address throttling of failed credentials and of resource grabs.
 *
 * A guard counts events per client address (a failed stream key, a session created) in a
 * leaky bucket (GCRA: one "theoretical arrival time" per address, no timestamps kept): `limit`
 * events fit in `window_us`, and the bucket drains at limit/window. What happens when it is full
 * depends on `lockout_us`:
 *  - lockout_us > 0 (failed credentials): the event that fills the bucket locks the address out
 *    for lockout_us; while locked, lc_ipguard_check refuses everything, right or wrong, so a
 *    locked-out guesser learns nothing. The bucket starts empty when the lock ends.
 *  - lockout_us = 0 (rates): lc_ipguard_check refuses only until there is room for one more.
 *
 * Addresses are compared by key: an IPv4 address whole (IPv4-mapped IPv6 is IPv4), an IPv6
 * address by its /64 (one subscriber, one LAN: an attacker gets a whole /64 as easily as one
 * address). Memory is bounded: at most `max_addresses` entries, the least recently seen one is
 * forgotten first (so an attacker with more addresses than that can flush the table; the
 * table size is the trade-off, documented in docs/operations.md).
 *
 * Refusal logging: lc_ipguard_refused says when to write a line: the first refusal of an
 * address at once, then at most one summary per log interval ("N more refusals ..."), never
 * one line per attempt; lc_ipguard_flush writes summaries that are due when the attacker has
 * stopped. lc_ipguard_log_refusal does both through lc_log (domain "limits").
 *
 * Time is the caller's: every call takes now_us (monotonic microseconds), so tests run on a
 * fake clock. Threads: a guard is not locked; use each one from one thread (livecartd: the
 * main thread, where the HTTP server and the RTMP server run). lc_ipaddr and lc_iplist
 * functions are pure and may run on any thread; a parsed lc_iplist is read-only. */
#pragma once
#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;
typedef struct lc_metric lc_metric;

/* An IP address: 16 bytes in network order, IPv4 as ::ffff:a.b.c.d. */
typedef struct {
  uint8_t b[16];
} lc_ipaddr;

/* Room for any string lc_ipaddr_key_str writes. */
#define LC_IPADDR_STRLEN 64

/* From a socket address (AF_INET or AF_INET6, len bytes). 0, or LC_EINVAL for other families
 * or a short len. Any thread. */
int lc_ipaddr_from_sockaddr(const struct sockaddr *sa, size_t len, lc_ipaddr *out);
/* From text: "192.0.2.7" or "2001:db8::1" (no brackets, no port). 0 or LC_EINVAL. Any thread. */
int lc_ipaddr_parse(const char *text, lc_ipaddr *out);
/* True for IPv4 (and IPv4-mapped IPv6). */
bool lc_ipaddr_is_v4(const lc_ipaddr *a);
/* True when a and b count as one client: the same IPv4 address or the same IPv6 /64. */
bool lc_ipaddr_same_key(const lc_ipaddr *a, const lc_ipaddr *b);
/* The key as text into buf (returned): "192.0.2.7" or "2001:db8:1:2::/64". */
const char *lc_ipaddr_key_str(const lc_ipaddr *a, char buf[LC_IPADDR_STRLEN]);

/* A list of addresses and prefixes ("127.0.0.1, 10.0.0.0/8, ::1, 2001:db8::/32"). */
typedef struct lc_iplist lc_iplist;

/* Parses entries separated by commas and/or blanks; "" gives an empty list. NULL + *err
 * (transfer full, naming the entry at fault) when an entry is not an address, a prefix
 * length is out of range, or there are more than 256 entries. Any thread. */
lc_iplist *lc_iplist_parse(const char *text, char **err);
/* True when a falls in one of the entries (NULL list: false). Any thread. */
bool lc_iplist_contains(const lc_iplist *l, const lc_ipaddr *a);
/* Entries in the list. */
unsigned lc_iplist_count(const lc_iplist *l);
/* NULL is fine. */
void lc_iplist_free(lc_iplist *l);

typedef struct {
  const char *what;         /* what is counted, for log lines: "failed stream keys" (borrowed, static) */
  unsigned limit;           /* events per window; 0 = no limit (every call allows, nothing is stored) */
  gint64 window_us;         /* the bucket holds `limit` events and drains them over this (> 0) */
  gint64 lockout_us;        /* > 0: a full bucket locks the address out this long; 0: see top */
  unsigned max_addresses;   /* addresses remembered (0 = 4096) */
  gint64 log_interval_us;   /* at most one summary line per address per interval (0 = 60 s) */
  const lc_iplist *exempt;  /* never limited (borrowed, must outlive the guard; NULL = none) */
  lc_metric *refusals;      /* incremented per refusal counted by lc_ipguard_refused (borrowed; NULL) */
} lc_ipguard_config;

typedef struct lc_ipguard lc_ipguard;

/* cfg copied (its pointers borrowed). */
lc_ipguard *lc_ipguard_new(const lc_ipguard_config *cfg);
/* NULL is fine. */
void lc_ipguard_free(lc_ipguard *g);
/* 0 when an event from a may go ahead now, else the microseconds (> 0) until it may. Counts
 * nothing. NULL guard or NULL address (unknown peer): 0. */
gint64 lc_ipguard_check(lc_ipguard *g, const lc_ipaddr *a, gint64 now_us);
/* Counts one event from a. Returns 0 when the next event would still be allowed, else the
 * microseconds until it would; with lockout_us > 0 a non-zero answer means this event has just
 * locked the address out (the caller logs that once; the refusals that follow are summarised).
 * Exempt addresses, NULL guard or address: 0, nothing counted. */
gint64 lc_ipguard_hit(lc_ipguard *g, const lc_ipaddr *a, gint64 now_us);

typedef enum {
  LC_IPGUARD_QUIET = 0,       /* counted for the next summary */
  LC_IPGUARD_LOG_FIRST = 1,   /* log this refusal (first from the address, or first after a quiet interval) */
  LC_IPGUARD_LOG_SUMMARY = 2, /* log "*n more refusals in the last *span_us" (this one included) */
} lc_ipguard_log;

/* Counts a refusal of a for the log and says what to write now. n / span_us set for
 * LC_IPGUARD_LOG_SUMMARY (may be NULL). NULL guard or address: LC_IPGUARD_LOG_FIRST. */
lc_ipguard_log lc_ipguard_refused(lc_ipguard *g, const lc_ipaddr *a, gint64 now_us, unsigned *n, gint64 *span_us);
/* lc_ipguard_refused, then writes what is due at WARN (domain "limits"): the first line is
 * "<address>: <text>", a summary "N more refusals (<what>) from <address> in the last S s".
 * conn (log line's connection id) and text borrowed; text is the whole refusal, e.g. "WHIP offer
 * refused: too many failed stream keys, retry in 287 s". */
void lc_ipguard_log_refusal(lc_ipguard *g, const lc_ipaddr *a, gint64 now_us, const char *conn, const char *text);
/* Writes the summaries that are due (refusals counted but not yet logged, the interval
 * passed). Cheap when none is pending; call it about once a second. NULL is fine. */
void lc_ipguard_flush(lc_ipguard *g, gint64 now_us);
/* Addresses currently remembered. */
unsigned lc_ipguard_size(const lc_ipguard *g);
