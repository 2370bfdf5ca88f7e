/* Sanitizer defaults for unit tests that load GStreamer. Include once, from the test's .c file.
 *
 * GLib's library constructor allocates the first quark block (16 KiB) and GLib drops that block
 * on purpose when the table grows (its readers are lock-free), which GStreamer's thousands of
 * quarks always cause: one block, at load time. The suppression names _dl_init, which needs
 * whole stacks (GLib has no frame pointers for the fast unwinder). livecartd under the
 * integration tests gets the same through tests/lsan.supp and ASAN_OPTIONS (conftest.py). */
#pragma once

const char *__lsan_default_suppressions(void);
const char *
__lsan_default_suppressions(void)
{
  return "leak:_dl_init\n";
}

const char *__asan_default_options(void);
const char *
__asan_default_options(void)
{
  return "fast_unwind_on_malloc=0";
}
