/* Room registry: every room the server knows, durable through the store.
 *
 * A room: id ([a-z0-9_-], 1..64), title, creator, stream key, shop, state
 * scheduled -> live -> ended, timestamps. Changes are written through the store and
 * reported (callback + event) only after commit. Main thread only. */
#pragma once
#include <glib.h>
#include <jansson.h>
#include <stdbool.h>

typedef struct lc_rooms lc_rooms;
typedef struct lc_room lc_room;
typedef struct lc_store lc_store;

/* Called for every committed change: event is "room.created" / "room.updated" /
 * "room.ended"; data is the room as JSON (borrowed). */
typedef void (*lc_rooms_event_cb)(const char *event, const char *room_id, const json_t *data,
                                  gpointer user);

/* Loads stored rooms. max_rooms limits rooms that are not ended. NULL + *err_msg on failure. */
lc_rooms *lc_rooms_new(lc_store *store, unsigned max_rooms, char **err_msg);
void lc_rooms_free(lc_rooms *rooms);
void lc_rooms_set_event_cb(lc_rooms *rooms, lc_rooms_event_cb cb, gpointer user);

/* Result of an asynchronous change: 0 and the room as JSON (borrowed), or a negative
 * LC_E* and a message (borrowed). */
typedef void (*lc_rooms_done_cb)(int err, const char *message, const json_t *room, gpointer user);

/* Creates a room from a JSON object {"id", "title"?, "creator"?, "stream_key"?,
 * "scheduled_at"?, "overlays"?, "record"? (true/false), "shop"?}. A missing stream key is generated.
 * "shop" ([a-z0-9_-], 1..64; absent or null: the room's id) names the shop whose coin wallets the
 * room's show uses (docs/marketing.md): rooms of one shop share wallets. Validation errors are
 * reported through cb before returning (err LC_EINVAL, LC_EEXIST, LC_ELIMIT). "overlays" is
 * the room's overlay configuration: an object kept as given, checked by the function set
 * with lc_rooms_set_overlays_check (the registry knows nothing of overlays). */
void lc_rooms_create(lc_rooms *rooms, const json_t *spec, lc_rooms_done_cb cb, gpointer user);
/* Moves a scheduled room to "live" (the show starts; LC_ENOENT, LC_ESTATE otherwise). */
void lc_rooms_start(lc_rooms *rooms, const char *id, lc_rooms_done_cb cb, gpointer user);
/* Moves a room to "ended" (LC_ENOENT, LC_ESTATE if already ended). */
void lc_rooms_end(lc_rooms *rooms, const char *id, lc_rooms_done_cb cb, gpointer user);

/* Validates a room's "overlays" object: 0, or nonzero with *err (g_free) naming the field. */
typedef int (*lc_rooms_overlays_check)(const json_t *overlays, char **err);
void lc_rooms_set_overlays_check(lc_rooms *rooms, lc_rooms_overlays_check check);
/* The room's "record" (optional boolean of room.create): 1 on, 0 off, -1 not set (the server's
 * record.enabled decides). */
int lc_room_record(const lc_room *room);
/* The room's "overlays" object (borrowed) or NULL. */
const json_t *lc_room_overlays(const lc_room *room);
/* The room's shop (borrowed, never NULL): its "shop" at room.create, else its id. Rooms stored
 * before "shop" existed have their id. The room's JSON carries it as "shop". */
const char *lc_room_shop(const lc_room *room);
/* The shop of the room room_id (borrowed from the registry, valid while the room exists): its
 * "shop", or the room's id when none was given; NULL when there is no such (committed) room. */
const char *lc_rooms_shop(lc_rooms *rooms, const char *room_id);

/* Lookup (borrowed) or NULL. */
lc_room *lc_rooms_get(lc_rooms *rooms, const char *id);
/* The room as public JSON (no stream key) or, with secrets, including the stream key.
 * transfer full. */
json_t *lc_room_to_json(const lc_room *room, bool with_secrets);
/* All rooms as a JSON array of public objects, in creation order (transfer full). */
json_t *lc_rooms_list_json(lc_rooms *rooms);
/* Counts. */
unsigned lc_rooms_count(lc_rooms *rooms);
unsigned lc_rooms_count_state(lc_rooms *rooms, const char *state);
/* Publisher authorization: 0 when key is the room's stream key; LC_ENOENT (no such room),
 * LC_ESTATE (the room has ended), LC_EPERM (wrong or missing key). Constant-time compare. */
int lc_rooms_check_key(lc_rooms *rooms, const char *id, const char *key);
/* True when the room id is valid. */
bool lc_rooms_valid_id(const char *id);
