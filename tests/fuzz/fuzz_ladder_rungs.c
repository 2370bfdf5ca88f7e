/* Fuzz target for the ladder's rung spec parser (pipelines/ladder/ladder_config.c, [media] rungs
 * in the config): "name:WxH:kbps,..." from an operator's file. Accepted specs must give rungs
 * the ladder can build (even sizes within bounds, sane bitrates, unique names). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "ladder/ladder.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
  char *spec = g_strndup((const char *)d, n); /* stops at the first NUL */
  lc_ladder_config cfg;
  memset(&cfg, 0, sizeof cfg);
  char *err = NULL;
  int rc = lc_ladder_parse_rungs(spec, &cfg, &err);
  if (rc == 0) {
    if (err)
      abort();
    if (cfg.n_rungs == 0 || cfg.n_rungs > G_N_ELEMENTS(cfg.rungs))
      abort();
    for (unsigned i = 0; i < cfg.n_rungs; i++) {
      const lc_ladder_rung *r = &cfg.rungs[i];
      if (r->width < 16 || r->height < 16 || r->width > 4096 || r->height > 4096 || (r->width | r->height) & 1)
        abort();
      if (r->bitrate_kbps <= 0 || !memchr(r->name, '\0', sizeof r->name) || !r->name[0])
        abort();
      for (unsigned j = 0; j < i; j++)
        if (strcmp(cfg.rungs[j].name, r->name) == 0)
          abort();
    }
  } else if (!err) {
    abort(); /* a refusal says why */
  }
  g_free(err);
  g_free(spec);
  return 0;
}
