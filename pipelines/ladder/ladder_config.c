/* Transcode ladder: rung specs ("name:WxH:kbps") and the config's checks and defaults. Pure: no
 * GStreamer, any thread. See ladder.h and ladder_internal.h. */
#include "ladder/ladder_internal.h"

#include <stdio.h>
#include <string.h>

#include "base/errors.h"

static bool
valid_name(const char *s)
{
  if (!s[0])
    return false;
  for (const char *p = s; *p; p++) {
    if (!g_ascii_isalnum(*p) && *p != '_' && *p != '-')
      return false;
  }
  return true;
}

/* One "name:WxH:kbps" item into *out; 0 or LC_EINVAL + *err. */
static int
parse_rung(const char *item, lc_ladder_rung *out, char **err)
{
  char name[64];
  int w = 0, h = 0, kbps = 0, used = 0;
  if (sscanf(item, "%63[^:]:%dx%d:%d%n", name, &w, &h, &kbps, &used) != 4 || item[used] != '\0') {
    lc_error_set(err, "ladder.rungs", "'%s' is not name:WIDTHxHEIGHT:KBPS (e.g. 720p:1280x720:2500)", item);
    return LC_EINVAL;
  }
  g_strstrip(name);
  if (strlen(name) >= sizeof(out->name) || !valid_name(name) || strcmp(name, "source") == 0 ||
      strcmp(name, "opus") == 0) {
    lc_error_set(err, "ladder.rungs", "bad rung name '%s' (1-15 of [A-Za-z0-9_-], not source/opus)", name);
    return LC_EINVAL;
  }
  if (w < 16 || h < 16 || w > 4096 || h > 4096 || (w & 1) || (h & 1)) {
    lc_error_set(err, "ladder.rungs", "rung %s: size %dx%d must be even and within 16..4096", name, w, h);
    return LC_EINVAL;
  }
  if (kbps < 50 || kbps > 50000) {
    lc_error_set(err, "ladder.rungs", "rung %s: bitrate %d kbit/s not within 50..50000", name, kbps);
    return LC_EINVAL;
  }
  memset(out, 0, sizeof(*out));
  g_strlcpy(out->name, name, sizeof(out->name));
  out->width = w;
  out->height = h;
  out->bitrate_kbps = kbps;
  return 0;
}

int
lc_ladder_parse_rungs(const char *spec, lc_ladder_config *cfg, char **err)
{
  if (!spec || !cfg) {
    lc_error_set(err, "ladder.rungs", "missing");
    return LC_EINVAL;
  }
  lc_ladder_rung out[G_N_ELEMENTS(cfg->rungs)];
  unsigned n = 0;
  char **items = g_strsplit(spec, ",", -1);
  int rc = 0;
  for (char **it = items; *it && rc == 0; it++) {
    char *item = g_strstrip(*it);
    if (!item[0])
      continue;
    if (n == G_N_ELEMENTS(out)) {
      lc_error_set(err, "ladder.rungs", "at most %u rungs", (unsigned)G_N_ELEMENTS(out));
      rc = LC_EINVAL;
      break;
    }
    rc = parse_rung(item, &out[n], err);
    for (unsigned i = 0; rc == 0 && i < n; i++) {
      if (strcmp(out[i].name, out[n].name) == 0) {
        lc_error_set(err, "ladder.rungs", "rung %s appears twice", out[n].name);
        rc = LC_EINVAL;
      }
    }
    if (rc == 0)
      n++;
  }
  g_strfreev(items);
  if (rc == 0 && n == 0) {
    lc_error_set(err, "ladder.rungs", "no rung given");
    rc = LC_EINVAL;
  }
  if (rc == 0) {
    memcpy(cfg->rungs, out, n * sizeof(out[0]));
    cfg->n_rungs = n;
  }
  return rc;
}

int
lc__ladder_check_config(const lc_ladder_config *in, lc_ladder_config *c, char **err)
{
  *c = *in;
  if (c->n_rungs > G_N_ELEMENTS(c->rungs)) {
    lc_error_set(err, "ladder", "at most %u rungs", (unsigned)G_N_ELEMENTS(c->rungs));
    return LC_EINVAL;
  }
  if (c->n_rungs == 0 && !c->passthrough) {
    lc_error_set(err, "ladder", "no rung and no passthrough: nothing to produce");
    return LC_EINVAL;
  }
  for (unsigned i = 0; i < c->n_rungs; i++) {
    lc_ladder_rung *g = &c->rungs[i];
    g->name[sizeof(g->name) - 1] = '\0';
    if (!valid_name(g->name) || g->width < 16 || g->height < 16 || g->width > 4096 || g->height > 4096 ||
        g->bitrate_kbps < 50 || g->bitrate_kbps > 50000) {
      lc_error_set(err, "ladder", "rung %u ('%s' %dx%d %d kbit/s) is invalid", i, g->name, g->width,
                   g->height, g->bitrate_kbps);
      return LC_EINVAL;
    }
  }
  if (c->keyframe_interval_ms == 0)
    c->keyframe_interval_ms = 2000;
  if (c->keyframe_interval_ms > 2000 || c->keyframe_interval_ms < 100) {
    lc_error_set(err, "ladder", "keyframe_interval_ms %u not within 100..2000", c->keyframe_interval_ms);
    return LC_EINVAL;
  }
  c->x264_preset[sizeof(c->x264_preset) - 1] = '\0';
  if (!c->x264_preset[0])
    g_strlcpy(c->x264_preset, "veryfast", sizeof(c->x264_preset));
  if (c->audio_bitrate == 0)
    c->audio_bitrate = 64000;
  if (c->audio_bitrate < 6000 || c->audio_bitrate > 510000) {
    lc_error_set(err, "ladder", "audio_bitrate %d not within 6000..510000", c->audio_bitrate);
    return LC_EINVAL;
  }
  if (c->cache_ms == 0)
    c->cache_ms = 2000;
  if (c->hls_segment_s == 0)
    c->hls_segment_s = 2;
  if (c->hls_playlist_len == 0)
    c->hls_playlist_len = 6;
  if (c->hls_segment_s > 10 || c->hls_segment_s * 1000 < c->keyframe_interval_ms || c->hls_playlist_len < 3 ||
      c->hls_playlist_len > 100) {
    lc_error_set(err, "ladder", "hls segment %u s (1..10, >= the keyframe interval) or playlist length %u (3..100) invalid",
                 c->hls_segment_s, c->hls_playlist_len);
    return LC_EINVAL;
  }
  return 0;
}
