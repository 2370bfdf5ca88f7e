/* A debug/test tap: subscribes to a rendition and sends every packet as plain RTP over UDP to
 * host:port (numeric IPv4/IPv6 address, e.g. 127.0.0.1), e.g. into `gst-launch-1.0 udpsrc ! ...`
 * or ffplay. Sending never blocks (non-blocking socket; a full socket buffer drops and counts).
 * new/free from any thread; packets are sent on the producer's thread. */
#pragma once
#include "media/hub.h"

typedef struct lc_media_tap lc_media_tap;

/* Starts the tap (takes a ref on r). NULL + *err if the address is bad or the socket fails. */
lc_media_tap *lc_media_tap_new(lc_rendition *r, const char *host, int port, char **err);
/* Unsubscribes (no send runs after it returns), closes, frees. NULL is fine. */
void lc_media_tap_free(lc_media_tap *t);
/* Packets sent / dropped so far. */
uint64_t lc_media_tap_sent(lc_media_tap *t);
uint64_t lc_media_tap_dropped(lc_media_tap *t);
