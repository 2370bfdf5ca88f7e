/* What every libsrt user in livecartd shares (the SRT publish listener in pipelines/ingest, the
 * relay in pipelines/relay): starting libsrt with its log lines routed into ours, the listen
 * address, and "ip:port" of a peer. Any thread. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* srt_startup(), and once per process libsrt's log lines into ours (domain "srt", warnings only,
 * the harmless "no pending connection" of a non-blocking accept at debug). Pair with
 * lc_srt_cleanup(): libsrt counts them. */
void lc_srt_startup(void);
void lc_srt_cleanup(void);
/* An IPv4 or IPv6 literal and a port into *ss / *len; false when bind is not an IP literal. */
bool lc_srt_bind_address(const char *bind, int port, struct sockaddr_storage *ss, int *len);
/* "ip:port" (numeric), or "?" for an address it cannot print. */
void lc_srt_format_addr(const struct sockaddr *sa, char *out, size_t size);
