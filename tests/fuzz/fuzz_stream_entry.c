/* Fuzz target for the cluster-mode engine's stream entries (commerce/show_remote.h): what a
 * node applies from the shared Redis stream, which another node (or anyone with access to
 * Redis) wrote. Input: lines "type<TAB>n<TAB>data"; each line is applied as the next entry of
 * a fresh show, then a snapshot is taken. Nothing may crash or leak; the seq never goes back.
 * Seeds: tests/fuzz/corpus/stream_entry/. */
#include <glib.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "commerce/show.h"
#include "commerce/show_remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

static void
refuse(gpointer ctx, const char *room, const lc_show_append *a, lc_show_append_cb cb, gpointer user)
{
  cb(LC_SHOW_APPEND_UNAVAILABLE, NULL, -1, user); /* timers that write find no store */
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  static const lc_show_remote remote = {refuse, NULL, "fuzz", 1000};
  lc_show_config cfg = {.order_ttl_ms = 60000, .low_stock_default = 5, .chat_recent = 10, .remote = &remote};
  char *err = NULL;
  lc_show *s = lc_show_open("fuzz", NULL, &cfg, NULL, &err);
  if (!s)
    __builtin_trap();
  lc_show_remote_set_epoch(s, "0123456789abcdef");
  char *text = g_strndup((const char *)d, n);
  char **lines = g_strsplit(text, "\n", 64);
  gint64 last_seq = 0;
  for (int i = 0; lines[i]; i++) {
    char **f = g_strsplit(lines[i], "\t", 3);
    if (f[0] && f[1] && f[2]) {
      char id[32];
      g_snprintf(id, sizeof id, "%d-0", i + 1);
      lc_show_remote_entry(s, id, f[0], f[2], NULL, *f[1] ? f[1] : NULL, 1700000000000 + i);
      if (lc_show_seq(s) < last_seq)
        __builtin_trap();
      last_seq = lc_show_seq(s);
    }
    g_strfreev(f);
  }
  json_decref(lc_show_snapshot(s, "u1"));
  json_decref(lc_show_orders(s, NULL, NULL));
  lc_show_free(s);
  g_strfreev(lines);
  g_free(text);
  return 0;
}
