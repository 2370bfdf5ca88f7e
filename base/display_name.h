/* Display names of viewers (development sign-in names, the `name` of a viewer token as
 * chat shows it): what may be shown next to other people's words. Pure, any thread.
 *
 * A name is 1..LC_SHOW_NAME_MAX_CHARS Unicode characters (code points, not bytes: 32 CJK
 * characters are 96 bytes) of valid UTF-8, and is refused when it holds:
 * - control characters (U+0000-U+001F, U+007F-U+009F) or line/paragraph separators
 *   (U+2028, U+2029);
 * - bidirectional formatting (U+202A-U+202E embeddings and overrides, U+2066-U+2069
 *   isolates, U+061C arabic letter mark): a name with U+202E reverses the text after it,
 *   so "admin<RLO>gnp.exe" reads as something else in a chat line;
 * - zero-width and invisible characters (U+200B-U+200F, U+2060-U+2064, U+FEFF, and U+00AD,
 *   U+034F, U+180E, the Hangul fillers U+115F, U+1160, U+3164, U+FFA0), which let two
 *   different names look the same;
 * - nothing visible (only spaces).
 * Emoji are fine when they are single code points or joined without U+200D (a ZWJ
 * sequence such as a family emoji is refused: U+200D is zero-width). */
#pragma once
#include <stddef.h>

#include "base/show_limits.h"

/* 0 when name (len bytes, need not be NUL-terminated; NUL bytes are refused) is a valid
 * display name; otherwise LC_EINVAL and *why (static English text naming the rule, may be
 * NULL) such as "name: must not contain bidirectional controls (U+202A-U+202E,
 * U+2066-U+2069)". name may be NULL (refused). */
int lc_display_name_check(const char *name, size_t len, const char **why);
