/* The worker threads of lc_rtc (see rtc_worker.c for the demultiplexing and the packet path).
 * rtc.c creates, starts, wakes, reads and frees them; a worker knows the registry and its
 * session (rtc_registry.h, rtc_session.h), never rtc.c. Internal: lc__ names. */
#pragma once
#include <stdint.h>
#include <sys/socket.h>

#include "rtc/dtls_srtp.h"
#include "rtc/rtc_registry.h"
#include "rtc/rtc_session.h"

/* What a worker is given at creation. */
typedef struct {
  lc__rtc_params params; /* copied */
  lc_dtls_cert *cert;    /* the worker takes a ref */
  lc__rtc_counters *ctr; /* borrowed: outlives the worker */
  lc__rtc_registry *reg; /* borrowed: outlives the worker */
} lc__rtc_worker_env;

/* Creates worker index with its socket bound to addr (port 0: the kernel picks; the others then
 * use the port worker 0 got). Worker 0 also reaps sessions no worker adopted. NULL + *err.
 * Main thread. */
lc__rtc_worker *lc__rtc_worker_new(const lc__rtc_worker_env *env, int index, const struct sockaddr *addr,
                                   socklen_t addr_len, char **err);
int lc__rtc_worker_port(lc__rtc_worker *w);
void lc__rtc_worker_start(lc__rtc_worker *w);
/* Stops and joins the thread (its sessions stay until lc__rtc_worker_free). Main thread. */
void lc__rtc_worker_stop(lc__rtc_worker *w);
/* Stops and joins the thread, ends every session it owns, frees it. Main thread. */
void lc__rtc_worker_free(lc__rtc_worker *w);
/* Wakes the worker (a delete or pin to apply). Any thread. */
void lc__rtc_worker_wake(lc__rtc_worker *w);
unsigned lc__rtc_worker_n_sessions(lc__rtc_worker *w);
/* CPU time the worker thread used (µs, as of its last tick, <= 20 ms old). Any thread. */
int64_t lc__rtc_worker_cpu_us(lc__rtc_worker *w);
