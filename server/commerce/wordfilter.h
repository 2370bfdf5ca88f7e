/* Word filter: a set of words found anywhere in a text (Aho-Corasick over a normalised form).
 * Built on one thread (adds, load_file); immutable afterwards, lookups from any thread. */
#pragma once
#include <glib.h>
#include <stdbool.h>
/* Normalisation for both words and text: NFKC (g_utf8_normalize G_NORMALIZE_ALL_COMPOSE: full-width ->
 * half-width), casefold, and separators removed (whitespace, ASCII punctuation, common CJK punctuation,
 * zero-width chars) so "最 佳", "最.佳" match "最佳" and "ＴＨＥ ＢＥＳＴ" matches "the best"; '%' is kept ("100%" must not match "100ml").
 * Invalid UTF-8 bytes (and NULs) in a text become U+FFFD, treated as a separator, and matching continues.
 * When several words occur, the one ending first is reported. Immutable after the adds; lookups from any thread. */
typedef struct lc_wordfilter lc_wordfilter;
/* New empty filter, owned by the caller. Any thread. */
lc_wordfilter *lc_wordfilter_new(void);
/* Frees the filter (NULL is fine). Owner's thread. */
void lc_wordfilter_free(lc_wordfilter *wf);
/* Adds a word (UTF-8, 1-100 bytes after normalisation); LC_EINVAL otherwise. Duplicates are fine (0).
 * Building thread only, before any lookup; word borrowed (copied). */
int lc_wordfilter_add(lc_wordfilter *wf, const char *word);
/* One word per line, '#' comments, blank lines ignored. 0 or LC_EIO/LC_EINVAL with *err "path:line: why"
 * (g_free). Building thread only. */
int lc_wordfilter_load_file(lc_wordfilter *wf, const char *path, char **err);
/* Number of distinct words added. Any thread. */
unsigned lc_wordfilter_size(const lc_wordfilter *wf);
/* True when text contains a word; *match (may be NULL) gets the word as added (borrowed, lives as long as wf).
 * Text len in bytes. Any thread once building is done. */
bool lc_wordfilter_match(const lc_wordfilter *wf, const char *text, size_t len, const char **match);
