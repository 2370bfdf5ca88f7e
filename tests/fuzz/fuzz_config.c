/* Fuzz target: the config parser (file text plus one --set override taken from the
 * input's first line). Must never crash or leak, whatever the bytes. */
#include "base/config.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  const char *nl = memchr(text, '\n', size);
  char *first = g_strndup(text, nl ? (size_t)(nl - text) : size);
  const char *const overrides[] = {first, NULL};
  GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);
  lc_config *cfg = lc_config_load_data(text, size, "fuzz", overrides, errors);
  if (cfg) {
    /* A loaded config must answer every key of the schema. */
    size_t n;
    const lc_conf_key *keys = lc_config_schema(&n);
    for (size_t i = 0; i < n; i++) {
      if (keys[i].type == LC_CONF_INT || keys[i].type == LC_CONF_MODE)
        (void)lc_config_int(cfg, keys[i].group, keys[i].key);
      else if (keys[i].type != LC_CONF_BOOL)
        (void)lc_config_string(cfg, keys[i].group, keys[i].key);
    }
  } else if (errors->len == 0) {
    __builtin_trap(); /* a refusal must always say why */
  }
  lc_config_free(cfg);
  g_ptr_array_unref(errors);
  g_free(first);
  return 0;
}
