#define LC_LOG_DOMAIN "rooms"
#include "rooms/rooms.h"
#include "base/errors.h"
#include "base/log.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

struct lc_room {
  char *id;
  char *title;
  char *creator;
  char *stream_key;
  char *shop;  /* the shop whose wallets the room's show uses: room.create's "shop", else the id */
  char *state; /* "scheduled" | "live" | "ended" (static strings) */
  gint64 created_at;
  gint64 scheduled_at; /* 0: none */
  gint64 ended_at;     /* 0: not ended */
  json_t *overlays;    /* the room's overlay configuration (opaque here), NULL: none */
  int record;          /* "record": -1 not set (the server's record.enabled), 0 off, 1 on */
  bool committed;      /* false while its creation is in flight */
};

struct lc_rooms {
  lc_store *store;
  unsigned max_rooms;
  GHashTable *by_id; /* id -> lc_room* (owned) */
  GPtrArray *order;  /* lc_room* in creation order (borrowed from by_id) */
  lc_rooms_event_cb event_cb;
  gpointer event_user;
  lc_rooms_overlays_check overlays_check;
};

static const char *const states[] = {"scheduled", "live", "ended"};

static const char *
intern_state(const char *s)
{
  for (unsigned i = 0; i < G_N_ELEMENTS(states); i++)
    if (s && strcmp(s, states[i]) == 0)
      return states[i];
  return NULL;
}

static void
room_free(lc_room *r)
{
  g_free(r->id);
  g_free(r->title);
  g_free(r->creator);
  g_free(r->stream_key);
  g_free(r->shop);
  json_decref(r->overlays);
  g_free(r);
}

bool
lc_rooms_valid_id(const char *id)
{
  size_t n = id ? strlen(id) : 0;
  if (n < 1 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = id[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return false;
  }
  return true;
}

json_t *
lc_room_to_json(const lc_room *r, bool with_secrets)
{
  json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "id", r->id, "title", r->title, "creator",
                        r->creator, "shop", r->shop, "state", r->state, "created_at", (json_int_t)r->created_at);
  if (r->scheduled_at)
    json_object_set_new(o, "scheduled_at", json_integer(r->scheduled_at));
  if (r->ended_at)
    json_object_set_new(o, "ended_at", json_integer(r->ended_at));
  if (r->overlays)
    json_object_set(o, "overlays", r->overlays);
  if (r->record >= 0)
    json_object_set_new(o, "record", json_boolean(r->record));
  if (with_secrets)
    json_object_set_new(o, "stream_key", json_string(r->stream_key));
  return o;
}

/* ---- loading ---------------------------------------------------------------- */

static lc_room *
room_from_stored(const lc_store_room *s, char **err_msg)
{
  json_error_t jerr;
  json_t *o = json_loads(s->data_json, 0, &jerr);
  const char *title = NULL, *creator = NULL, *key = NULL, *shop = NULL;
  json_int_t created = 0, scheduled = 0, ended = 0;
  json_t *overlays = NULL, *record = NULL;
  const char *state = intern_state(s->state);
  /* "shop" is absent in rooms stored before it existed: their shop is their id */
  if (!o || !state ||
      json_unpack_ex(o, &jerr, 0, "{s:s, s:s, s:s, s:I, s?I, s?I, s?o, s?o, s?s}", "title", &title, "creator",
                     &creator, "stream_key", &key, "created_at", &created, "scheduled_at", &scheduled, "ended_at",
                     &ended, "overlays", &overlays, "record", &record, "shop", &shop) != 0) {
    *err_msg = g_strdup_printf("stored room '%s' is damaged: %s", s->id, jerr.text);
    json_decref(o);
    return NULL;
  }
  lc_room *r = g_new0(lc_room, 1);
  r->id = g_strdup(s->id);
  r->title = g_strdup(title);
  r->creator = g_strdup(creator);
  r->stream_key = g_strdup(key);
  r->shop = g_strdup(shop && lc_rooms_valid_id(shop) ? shop : s->id);
  r->state = (char *)state;
  r->created_at = created;
  r->scheduled_at = scheduled;
  r->ended_at = ended;
  r->overlays = json_is_object(overlays) ? json_incref(overlays) : NULL;
  r->record = json_is_boolean(record) ? json_is_true(record) : -1;
  r->committed = true;
  json_decref(o);
  return r;
}

static void
insert(lc_rooms *rooms, lc_room *r)
{
  g_hash_table_insert(rooms->by_id, r->id, r);
  g_ptr_array_add(rooms->order, r);
}

static void
remove_room(lc_rooms *rooms, lc_room *r)
{
  g_ptr_array_remove(rooms->order, r);
  g_hash_table_remove(rooms->by_id, r->id); /* frees r */
}

lc_rooms *
lc_rooms_new(lc_store *store, unsigned max_rooms, char **err_msg)
{
  GPtrArray *stored = lc_store_rooms_load(store);
  if (!stored) {
    *err_msg = g_strdup("cannot load rooms from the store");
    return NULL;
  }
  lc_rooms *rooms = g_new0(lc_rooms, 1);
  rooms->store = store;
  rooms->max_rooms = max_rooms;
  rooms->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)room_free);
  rooms->order = g_ptr_array_new();
  for (guint i = 0; i < stored->len; i++) {
    lc_room *r = room_from_stored(g_ptr_array_index(stored, i), err_msg);
    if (!r) {
      g_ptr_array_unref(stored);
      lc_rooms_free(rooms);
      return NULL;
    }
    insert(rooms, r);
  }
  g_ptr_array_unref(stored);
  LC_INFO(NULL, NULL, "%u rooms loaded", rooms->order->len);
  return rooms;
}

void
lc_rooms_free(lc_rooms *rooms)
{
  if (!rooms)
    return;
  g_ptr_array_unref(rooms->order);
  g_hash_table_destroy(rooms->by_id);
  g_free(rooms);
}

void
lc_rooms_set_event_cb(lc_rooms *rooms, lc_rooms_event_cb cb, gpointer user)
{
  rooms->event_cb = cb;
  rooms->event_user = user;
}

/* ---- changes ---------------------------------------------------------------- */

typedef struct {
  lc_rooms *rooms;
  char *id;
  const char *event;
  const char *prev_state; /* restored when the write fails */
  gint64 prev_ended_at;
  lc_rooms_done_cb cb;
  gpointer user;
} pending;

static char *
room_data_json(const lc_room *r)
{
  json_t *o = lc_room_to_json(r, true);
  json_object_del(o, "id");
  json_object_del(o, "state");
  char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(o);
  return s;
}

static void
write_done(int err, gpointer user)
{
  pending *p = user;
  lc_rooms *rooms = p->rooms;
  lc_room *r = g_hash_table_lookup(rooms->by_id, p->id);
  if (err != 0) {
    LC_ERROR(p->id, NULL, "%s not stored: %s", p->event, lc_strerror(err));
    if (r && !r->committed) {
      remove_room(rooms, r);
    } else if (r) {
      r->state = (char *)p->prev_state;
      r->ended_at = p->prev_ended_at;
    }
    p->cb(err, "the change could not be stored", NULL, p->user);
    goto out;
  }
  r->committed = true;
  json_t *j = lc_room_to_json(r, true);
  LC_INFO(r->id, NULL, "%s (state %s)", p->event, r->state);
  if (rooms->event_cb) {
    json_t *pub = lc_room_to_json(r, false);
    rooms->event_cb(p->event, r->id, pub, rooms->event_user);
    json_decref(pub);
  }
  p->cb(0, NULL, j, p->user);
  json_decref(j);
out:
  g_free(p->id);
  g_free(p);
}

static void
persist(lc_rooms *rooms, lc_room *r, const char *event, const char *prev_state, gint64 prev_ended,
        lc_rooms_done_cb cb, gpointer user)
{
  pending *p = g_new0(pending, 1);
  p->rooms = rooms;
  p->id = g_strdup(r->id);
  p->event = event;
  p->prev_state = prev_state;
  p->prev_ended_at = prev_ended;
  p->cb = cb;
  p->user = user;
  char *data = room_data_json(r);
  lc_store_room_put(rooms->store, r->id, r->state, data, write_done, p);
  free(data);
}

static char *
new_stream_key(void)
{
  guint8 raw[16];
  for (unsigned i = 0; i < sizeof raw; i++)
    raw[i] = (guint8)g_random_int_range(0, 256);
  GString *s = g_string_new("sk_");
  for (unsigned i = 0; i < sizeof raw; i++)
    g_string_append_printf(s, "%02x", raw[i]);
  return g_string_free(s, FALSE);
}

static bool
text_ok(const char *s, size_t max)
{
  return s && strlen(s) <= max && g_utf8_validate(s, -1, NULL);
}

void
lc_rooms_create(lc_rooms *rooms, const json_t *spec, lc_rooms_done_cb cb, gpointer user)
{
  const char *id = NULL, *title = NULL, *creator = NULL, *key = NULL;
  json_int_t scheduled = 0;
  json_t *overlays = NULL, *record = NULL, *shop = NULL;
  json_error_t jerr;
  if (!json_is_object(spec) ||
      json_unpack_ex((json_t *)spec, &jerr, JSON_STRICT, "{s:s, s?s, s?s, s?s, s?I, s?o, s?o, s?o}", "id", &id,
                     "title", &title, "creator", &creator, "stream_key", &key, "scheduled_at", &scheduled,
                     "overlays", &overlays, "record", &record, "shop", &shop) != 0) {
    char *msg = g_strdup_printf("invalid room: %s", json_is_object(spec) ? jerr.text : "not an object");
    cb(LC_EINVAL, msg, NULL, user);
    g_free(msg);
    return;
  }
  if (!lc_rooms_valid_id(id)) {
    cb(LC_EINVAL, "id must be 1-64 characters of a-z, 0-9, '_' and '-'", NULL, user);
    return;
  }
  if ((title && !text_ok(title, 200)) || (creator && !text_ok(creator, 100))) {
    cb(LC_EINVAL, "title (200 bytes) or creator (100 bytes) too long or not UTF-8", NULL, user);
    return;
  }
  if (key && (strlen(key) < 8 || strlen(key) > 128 || strspn(key, "abcdefghijklmnopqrstuvwxyz"
                                                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(key))) {
    cb(LC_EINVAL, "stream_key must be 8-128 characters of letters, digits, '_' and '-'", NULL, user);
    return;
  }
  if (shop && json_is_null(shop))
    shop = NULL;
  if (shop && !(json_is_string(shop) && lc_rooms_valid_id(json_string_value(shop)))) {
    cb(LC_EINVAL, "shop must be 1-64 characters of a-z, 0-9, '_' and '-'", NULL, user);
    return;
  }
  if (scheduled < 0) {
    cb(LC_EINVAL, "scheduled_at must be a time in ms since the epoch", NULL, user);
    return;
  }
  if (record && !json_is_boolean(record) && !json_is_null(record)) {
    cb(LC_EINVAL, "record must be true or false", NULL, user);
    return;
  }
  if (overlays && json_is_null(overlays))
    overlays = NULL;
  if (overlays) {
    char *why = NULL;
    if (!json_is_object(overlays))
      why = g_strdup("must be an object");
    else if (rooms->overlays_check && rooms->overlays_check(overlays, &why) != 0 && !why)
      why = g_strdup("invalid");
    if (why) {
      char *msg = g_strdup_printf("overlays: %s", why);
      cb(LC_EINVAL, msg, NULL, user);
      g_free(msg);
      g_free(why);
      return;
    }
  }
  if (g_hash_table_contains(rooms->by_id, id)) {
    cb(LC_EEXIST, "a room with this id exists", NULL, user);
    return;
  }
  if (lc_rooms_count(rooms) - lc_rooms_count_state(rooms, "ended") >= rooms->max_rooms) {
    cb(LC_ELIMIT, "the server has reached rooms.max_rooms", NULL, user);
    return;
  }
  lc_room *r = g_new0(lc_room, 1);
  r->id = g_strdup(id);
  r->title = g_strdup(title ? title : id);
  r->creator = g_strdup(creator ? creator : "");
  r->stream_key = key ? g_strdup(key) : new_stream_key();
  r->shop = g_strdup(shop ? json_string_value(shop) : id);
  r->state = (char *)states[0];
  r->created_at = g_get_real_time() / 1000;
  r->scheduled_at = scheduled;
  r->overlays = overlays ? json_deep_copy(overlays) : NULL;
  r->record = json_is_boolean(record) ? json_is_true(record) : -1;
  insert(rooms, r); /* reserved now so a concurrent create of the same id is refused */
  persist(rooms, r, "room.created", NULL, 0, cb, user);
}

void
lc_rooms_start(lc_rooms *rooms, const char *id, lc_rooms_done_cb cb, gpointer user)
{
  lc_room *r = id ? g_hash_table_lookup(rooms->by_id, id) : NULL;
  if (!r || !r->committed) {
    cb(LC_ENOENT, "no such room", NULL, user);
    return;
  }
  if (r->state != states[0]) {
    cb(LC_ESTATE, r->state == states[1] ? "the room is already live" : "the room has ended", NULL, user);
    return;
  }
  r->state = (char *)states[1];
  persist(rooms, r, "room.updated", states[0], r->ended_at, cb, user);
}

void
lc_rooms_end(lc_rooms *rooms, const char *id, lc_rooms_done_cb cb, gpointer user)
{
  lc_room *r = id ? g_hash_table_lookup(rooms->by_id, id) : NULL;
  if (!r || !r->committed) {
    cb(LC_ENOENT, "no such room", NULL, user);
    return;
  }
  if (r->state == states[2]) {
    cb(LC_ESTATE, "the room has already ended", NULL, user);
    return;
  }
  const char *prev = r->state;
  gint64 prev_ended = r->ended_at;
  r->state = (char *)states[2];
  r->ended_at = g_get_real_time() / 1000;
  persist(rooms, r, "room.ended", prev, prev_ended, cb, user);
}

/* ---- queries ---------------------------------------------------------------- */

lc_room *
lc_rooms_get(lc_rooms *rooms, const char *id)
{
  lc_room *r = id ? g_hash_table_lookup(rooms->by_id, id) : NULL;
  return r && r->committed ? r : NULL;
}

json_t *
lc_rooms_list_json(lc_rooms *rooms)
{
  json_t *a = json_array();
  for (guint i = 0; i < rooms->order->len; i++) {
    lc_room *r = g_ptr_array_index(rooms->order, i);
    if (r->committed)
      json_array_append_new(a, lc_room_to_json(r, false));
  }
  return a;
}

unsigned
lc_rooms_count(lc_rooms *rooms)
{
  return rooms->order->len;
}

unsigned
lc_rooms_count_state(lc_rooms *rooms, const char *state)
{
  unsigned n = 0;
  for (guint i = 0; i < rooms->order->len; i++)
    n += strcmp(((lc_room *)g_ptr_array_index(rooms->order, i))->state, state) == 0;
  return n;
}

int
lc_rooms_check_key(lc_rooms *rooms, const char *id, const char *key)
{
  lc_room *r = id ? g_hash_table_lookup(rooms->by_id, id) : NULL;
  if (!r || !r->committed)
    return LC_ENOENT;
  if (r->state == states[2])
    return LC_ESTATE;
  /* Constant time in the key's bytes: the comparison must not tell how much matched. */
  size_t n = strlen(r->stream_key), m = key ? strlen(key) : 0;
  unsigned char diff = n != m;
  for (size_t i = 0; i < n; i++)
    diff |= (unsigned char)(r->stream_key[i] ^ (i < m ? key[i] : 0));
  return diff ? LC_EPERM : 0;
}

void
lc_rooms_set_overlays_check(lc_rooms *rooms, lc_rooms_overlays_check check)
{
  rooms->overlays_check = check;
}

int
lc_room_record(const lc_room *room)
{
  return room->record;
}

const json_t *
lc_room_overlays(const lc_room *room)
{
  return room->overlays;
}

const char *
lc_room_shop(const lc_room *room)
{
  return room->shop;
}

const char *
lc_rooms_shop(lc_rooms *rooms, const char *room_id)
{
  lc_room *r = lc_rooms_get(rooms, room_id);
  return r ? r->shop : NULL;
}
