/* Limits of the show channel that the protocol codec (signaling/proto.c) and the show
 * engine (server/commerce) must agree on. One place, so that the codec never lets through
 * what the engine refuses (or the other way round) and docs/protocol.md has one number
 * to quote. Header only: constants, no code. */
#pragma once

/* Units of one SKU in one cart line, one checkout line or one flash-sale purchase.
 * 99 is the largest number the viewer page's stepper shows and more than any live-commerce
 * buyer takes of one item at once; bulk buyers are not served by a live show. (Before
 * there were two: 999 for carts and checkout, 99 for flash.buy.) */
#define LC_SHOW_MAX_QTY 99
/* Different SKUs in one cart, and lines in one checkout or quote. */
#define LC_SHOW_MAX_LINES 50
/* Bytes of one chat message (UTF-8). */
#define LC_SHOW_MAX_CHAT_BYTES 500
/* Taps in one `like` message. */
#define LC_SHOW_MAX_LIKES 100
/* Characters (Unicode code points) of a display name; see display_name.h. */
#define LC_SHOW_NAME_MAX_CHARS 32
/* Bytes of a display name: 32 characters of up to 4 bytes each. The viewer token's
 * `name` claim has the same byte limit (server/auth/jwt.c). */
#define LC_SHOW_NAME_MAX_BYTES 128
