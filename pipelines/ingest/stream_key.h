/* Publisher credentials: where a creator's room id and stream key travel, per protocol. Pure
 * (no I/O, no state), any thread; fuzzed (tests/fuzz/fuzz_stream_key.c).
 *
 * RTMP (OBS "Custom" service: server rtmp://HOST:1935/live, stream key "<room>?key=<secret>"):
 *   publish stream name "<room>?key=<secret>" (other query parameters are ignored), or
 *   stream name "<room>" with the key in the tcUrl query: rtmp://HOST/live?key=<secret>.
 *   The stream name wins when both carry a key.
 * SRT streamid, two forms:
 *   "#!::r=<room>,k=<key>"  SRT access-control syntax (keys r = resource, k = our key; "m" may be
 *                           "publish" or absent, anything else is refused; "u", "s", "t" and
 *                           unknown keys are ignored), and
 *   "<room>?key=<key>"      the RTMP form, for tools that cannot write the first one.
 * Room ids follow the registry's rule ([a-z0-9_-], 1..64 bytes); keys are 1..128 printable
 * ASCII bytes without spaces, '&', ',', '?' or '#'. Percent-encoding is not decoded (keys the server
 * generates never need it), except for a whole SRT streamid sent URL-encoded ("%23%21%3A%3Ar%3D..."
 * = "#!::r=..."): some tools pass the query value of an srt:// URL through undecoded. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define LC_STREAM_KEY_MAX_ROOM 64
#define LC_STREAM_KEY_MAX_KEY 128
#define LC_STREAM_KEY_MAX_INPUT 1024 /* longest stream name / tcUrl / streamid accepted */

typedef struct {
  char room[LC_STREAM_KEY_MAX_ROOM + 1];
  char key[LC_STREAM_KEY_MAX_KEY + 1]; /* "" when no key was given (the caller refuses) */
} lc_stream_key;

/* Parses an RTMP publish stream name (borrowed) and the connect tcUrl (borrowed, may be NULL).
 * Returns 0 (out filled; key may be ""), or LC_EINVAL with *why (static string) naming the
 * problem (bad room id, key too long, input too long). */
int lc_stream_key_parse_rtmp(const char *stream_name, const char *tc_url, lc_stream_key *out, const char **why);
/* Parses an SRT streamid (borrowed). Returns 0 (key may be "") or LC_EINVAL + *why. */
int lc_stream_key_parse_srt(const char *streamid, lc_stream_key *out, const char **why);
/* True when s is a valid room id ([a-z0-9_-], 1..64 bytes). */
bool lc_stream_key_valid_room(const char *s, size_t len);
