/* Room registry over a real store in a temp dir: validation, commit-before-ack,
 * events, persistence across reopen, limits. */
#include "base/errors.h"
#include "rooms/rooms.h"
#include "store/store.h"

#include <glib/gstdio.h>
#include <string.h>

typedef struct {
  char *dir;
  char *db;
  lc_store *store;
  lc_rooms *rooms;
  GPtrArray *events; /* "event:room" strings */
} fixture;

typedef struct {
  bool done;
  int err;
  json_t *room;
} result;

static void
on_event(const char *event, const char *room_id, const json_t *data, gpointer user)
{
  fixture *f = user;
  g_assert_null(json_object_get(data, "stream_key"));
  g_ptr_array_add(f->events, g_strdup_printf("%s:%s", event, room_id));
}

static void
open_rooms(fixture *f, unsigned max_rooms)
{
  char *msg = NULL;
  f->store = lc_store_open(f->db, NULL, NULL, &msg);
  g_assert_cmpstr(msg, ==, NULL);
  g_assert_nonnull(f->store);
  f->rooms = lc_rooms_new(f->store, max_rooms, &msg);
  g_assert_nonnull(f->rooms);
  lc_rooms_set_event_cb(f->rooms, on_event, f);
}

static void
close_rooms(fixture *f)
{
  lc_store_close(f->store);
  lc_rooms_free(f->rooms);
  f->store = NULL;
  f->rooms = NULL;
}

static void
setup(fixture *f, gconstpointer data)
{
  f->dir = g_dir_make_tmp("lc-rooms-XXXXXX", NULL);
  f->db = g_build_filename(f->dir, "t.db", NULL);
  f->events = g_ptr_array_new_with_free_func(g_free);
  open_rooms(f, 3);
}

static void
teardown(fixture *f, gconstpointer data)
{
  close_rooms(f);
  g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", f->dir);
  g_assert_cmpint(system(cmd), ==, 0);
  g_free(f->db);
  g_free(f->dir);
  g_ptr_array_unref(f->events);
}

static void
on_done(int err, const char *message, const json_t *room, gpointer user)
{
  result *r = user;
  g_assert_false(r->done);
  r->done = true;
  r->err = err;
  if (err != 0)
    g_assert_true(message && *message);
  r->room = room ? json_deep_copy(room) : NULL;
}

static void
put_done(int err, gpointer user)
{
  g_assert_cmpint(err, ==, 0);
  *(bool *)user = true;
}

static void
wait_for(result *r)
{
  while (!r->done)
    g_main_context_iteration(NULL, TRUE);
}

static int
create(fixture *f, const char *spec_json, result *r)
{
  json_t *spec = json_loads(spec_json, 0, NULL);
  g_assert_nonnull(spec);
  lc_rooms_create(f->rooms, spec, on_done, r);
  json_decref(spec);
  wait_for(r);
  return r->err;
}

static void
test_create_after_commit(fixture *f, gconstpointer data)
{
  result r = {0};
  json_t *spec = json_pack("{s:s, s:s}", "id", "show-1", "title", "Autumn");
  lc_rooms_create(f->rooms, spec, on_done, &r);
  json_decref(spec);
  /* not acknowledged, not visible, no event before the store commits */
  g_assert_false(r.done);
  g_assert_null(lc_rooms_get(f->rooms, "show-1"));
  g_assert_cmpuint(f->events->len, ==, 0);
  wait_for(&r);
  g_assert_cmpint(r.err, ==, 0);
  g_assert_cmpstr(json_string_value(json_object_get(r.room, "state")), ==, "scheduled");
  g_assert_cmpstr(json_string_value(json_object_get(r.room, "title")), ==, "Autumn");
  g_assert_true(g_str_has_prefix(json_string_value(json_object_get(r.room, "stream_key")), "sk_"));
  g_assert_nonnull(lc_rooms_get(f->rooms, "show-1"));
  g_assert_cmpuint(f->events->len, ==, 1);
  g_assert_cmpstr(g_ptr_array_index(f->events, 0), ==, "room.created:show-1");
  json_decref(r.room);
}

static void
test_duplicate_while_in_flight(fixture *f, gconstpointer data)
{
  result a = {0}, b = {0};
  json_t *spec = json_pack("{s:s}", "id", "dup");
  lc_rooms_create(f->rooms, spec, on_done, &a);
  lc_rooms_create(f->rooms, spec, on_done, &b);
  json_decref(spec);
  g_assert_true(b.done); /* refused at once */
  g_assert_cmpint(b.err, ==, LC_EEXIST);
  wait_for(&a);
  g_assert_cmpint(a.err, ==, 0);
  json_decref(a.room);
}

static void
test_validation(fixture *f, gconstpointer data)
{
  const char *bad[] = {
    "{}", "{\"id\": \"\"}", "{\"id\": \"UPPER\"}", "{\"id\": \"a b\"}", "{\"id\": 1}",
    "{\"id\": \"a\", \"title\": 3}", "{\"id\": \"a\", \"unknown\": true}",
    "{\"id\": \"a\", \"stream_key\": \"short\"}", "{\"id\": \"a\", \"stream_key\": \"has space in it\"}",
    "{\"id\": \"a\", \"scheduled_at\": -5}",
    "{\"id\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
    "{\"id\": \"a\", \"shop\": \"\"}", "{\"id\": \"a\", \"shop\": \"Shop\"}", "{\"id\": \"a\", \"shop\": \"a.b\"}",
    "{\"id\": \"a\", \"shop\": 7}", "{\"id\": \"a\", \"shop\": \"商店\"}",
    "{\"id\": \"a\", \"shop\": \"sssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss\"}",
  };
  for (unsigned i = 0; i < G_N_ELEMENTS(bad); i++) {
    result r = {0};
    g_assert_cmpint(create(f, bad[i], &r), ==, LC_EINVAL);
    g_assert_null(r.room);
  }
  g_assert_cmpuint(lc_rooms_count(f->rooms), ==, 0);
  g_assert_true(lc_rooms_valid_id("a-b_9"));
  g_assert_false(lc_rooms_valid_id(NULL));
}

static void
test_end_and_limits(fixture *f, gconstpointer data)
{
  result r[5] = {{0}};
  g_assert_cmpint(create(f, "{\"id\": \"a\"}", &r[0]), ==, 0);
  g_assert_cmpint(create(f, "{\"id\": \"b\"}", &r[1]), ==, 0);
  g_assert_cmpint(create(f, "{\"id\": \"c\"}", &r[2]), ==, 0);
  g_assert_cmpint(create(f, "{\"id\": \"d\"}", &r[3]), ==, LC_ELIMIT); /* max_rooms = 3 */
  result e = {0};
  lc_rooms_end(f->rooms, "a", on_done, &e);
  wait_for(&e);
  g_assert_cmpint(e.err, ==, 0);
  g_assert_cmpstr(json_string_value(json_object_get(e.room, "state")), ==, "ended");
  g_assert_true(json_integer_value(json_object_get(e.room, "ended_at")) > 0);
  json_decref(e.room);
  result again = {0};
  lc_rooms_end(f->rooms, "a", on_done, &again);
  g_assert_cmpint(again.err, ==, LC_ESTATE);
  result missing = {0};
  lc_rooms_end(f->rooms, "zz", on_done, &missing);
  g_assert_cmpint(missing.err, ==, LC_ENOENT);
  /* an ended room frees its slot */
  g_assert_cmpint(create(f, "{\"id\": \"d\"}", &r[4]), ==, 0);
  g_assert_cmpuint(lc_rooms_count_state(f->rooms, "ended"), ==, 1);
  g_assert_cmpuint(lc_rooms_count_state(f->rooms, "scheduled"), ==, 3);
  for (int i = 0; i < 5; i++)
    json_decref(r[i].room);
}

static void
test_persisted_across_reopen(fixture *f, gconstpointer data)
{
  result r[3] = {{0}};
  g_assert_cmpint(create(f, "{\"id\": \"z\", \"title\": \"last letter\", \"creator\": \"Lin\","
                            " \"stream_key\": \"key-12345678\", \"scheduled_at\": 1800000000000}", &r[0]), ==, 0);
  g_assert_cmpint(create(f, "{\"id\": \"a\"}", &r[1]), ==, 0);
  result e = {0};
  lc_rooms_end(f->rooms, "a", on_done, &e);
  wait_for(&e);
  json_t *before = lc_rooms_list_json(f->rooms);
  close_rooms(f);
  open_rooms(f, 3);
  json_t *after = lc_rooms_list_json(f->rooms);
  g_assert_true(json_equal(before, after)); /* same rooms, same order, same fields */
  g_assert_cmpstr(json_string_value(json_object_get(json_array_get(after, 0), "id")), ==, "z");
  json_t *z = lc_room_to_json(lc_rooms_get(f->rooms, "z"), true);
  g_assert_cmpstr(json_string_value(json_object_get(z, "stream_key")), ==, "key-12345678");
  g_assert_cmpint(json_integer_value(json_object_get(z, "scheduled_at")), ==, 1800000000000);
  json_decref(z);
  json_decref(before);
  json_decref(after);
  json_decref(e.room);
  for (int i = 0; i < 3; i++)
    json_decref(r[i].room);
}

/* The registry keeps a room's "overlays" object as given and lets its owner check it. */
static int
only_lang(const json_t *overlays, char **err)
{
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)overlays, key, v)
    if (strcmp(key, "lang") != 0) {
      *err = g_strdup_printf("%s: unknown field", key);
      return LC_EINVAL;
    }
  return 0;
}

static void
test_overlays_object(fixture *f, gconstpointer data)
{
  result bad = {0}, notobj = {0}, ok = {0}, none = {0};
  lc_rooms_set_overlays_check(f->rooms, only_lang);
  g_assert_cmpint(create(f, "{\"id\": \"o\", \"overlays\": {\"colour\": 1}}", &bad), ==, LC_EINVAL);
  g_assert_cmpint(create(f, "{\"id\": \"o\", \"overlays\": [1]}", &notobj), ==, LC_EINVAL);
  g_assert_null(lc_rooms_get(f->rooms, "o"));
  g_assert_cmpint(create(f, "{\"id\": \"o\", \"overlays\": {\"lang\": \"en\"}}", &ok), ==, 0);
  g_assert_cmpstr(json_string_value(json_object_get(json_object_get(ok.room, "overlays"), "lang")), ==, "en");
  g_assert_cmpint(create(f, "{\"id\": \"p\"}", &none), ==, 0);
  g_assert_null(json_object_get(none.room, "overlays"));
  close_rooms(f);
  open_rooms(f, 3);
  const json_t *ov = lc_room_overlays(lc_rooms_get(f->rooms, "o"));
  g_assert_cmpstr(json_string_value(json_object_get(ov, "lang")), ==, "en"); /* kept across a restart */
  g_assert_null(lc_room_overlays(lc_rooms_get(f->rooms, "p")));
  json_decref(ok.room);
  json_decref(none.room);
}

/* A room's shop: given at creation, else its id; kept across a restart; read by the app
 * through lc_rooms_shop. */
static void
test_shop(fixture *f, gconstpointer data)
{
  result a = {0}, b = {0}, c = {0}, bad = {0};
  g_assert_cmpint(create(f, "{\"id\": \"spring-1\", \"shop\": \"acme_shop-2\"}", &a), ==, 0);
  g_assert_cmpstr(json_string_value(json_object_get(a.room, "shop")), ==, "acme_shop-2");
  g_assert_cmpint(create(f, "{\"id\": \"spring-2\"}", &b), ==, 0);
  g_assert_cmpstr(json_string_value(json_object_get(b.room, "shop")), ==, "spring-2");
  g_assert_cmpint(create(f, "{\"id\": \"spring-3\", \"shop\": null}", &c), ==, 0);
  g_assert_cmpstr(json_string_value(json_object_get(c.room, "shop")), ==, "spring-3");
  /* 64 characters is the longest */
  g_assert_cmpint(create(f, "{\"id\": \"x\", \"shop\": \"ssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss\"}",
                         &bad), ==, LC_ELIMIT); /* valid, but max_rooms = 3 */
  g_assert_cmpstr(lc_rooms_shop(f->rooms, "spring-1"), ==, "acme_shop-2");
  g_assert_cmpstr(lc_rooms_shop(f->rooms, "spring-2"), ==, "spring-2");
  g_assert_null(lc_rooms_shop(f->rooms, "nope"));
  g_assert_null(lc_rooms_shop(f->rooms, NULL));
  g_assert_cmpstr(lc_room_shop(lc_rooms_get(f->rooms, "spring-3")), ==, "spring-3");
  /* public JSON (events, rooms.list) carries it: it is not a secret */
  json_t *pub = lc_room_to_json(lc_rooms_get(f->rooms, "spring-1"), false);
  g_assert_cmpstr(json_string_value(json_object_get(pub, "shop")), ==, "acme_shop-2");
  json_decref(pub);
  close_rooms(f);
  open_rooms(f, 3);
  g_assert_cmpstr(lc_rooms_shop(f->rooms, "spring-1"), ==, "acme_shop-2");
  g_assert_cmpstr(lc_rooms_shop(f->rooms, "spring-2"), ==, "spring-2");
  json_decref(a.room);
  json_decref(b.room);
  json_decref(c.room);
}

/* A room stored before "shop" existed loads with its id as its shop. */
static void
test_shop_of_old_room(fixture *f, gconstpointer data)
{
  close_rooms(f);
  char *msg = NULL;
  f->store = lc_store_open(f->db, NULL, NULL, &msg);
  g_assert_nonnull(f->store);
  bool done = false;
  lc_store_room_put(f->store, "legacy", "live",
                    "{\"title\":\"old\",\"creator\":\"\",\"stream_key\":\"key-12345678\",\"created_at\":1}",
                    put_done, &done);
  while (!done)
    g_main_context_iteration(NULL, TRUE);
  f->rooms = lc_rooms_new(f->store, 3, &msg);
  g_assert_nonnull(f->rooms);
  lc_rooms_set_event_cb(f->rooms, on_event, f);
  g_assert_cmpstr(lc_rooms_shop(f->rooms, "legacy"), ==, "legacy");
  json_t *j = lc_room_to_json(lc_rooms_get(f->rooms, "legacy"), false);
  g_assert_cmpstr(json_string_value(json_object_get(j, "shop")), ==, "legacy");
  json_decref(j);
}

int
main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, fixture, NULL, setup, fn, teardown)
  ADD("/rooms/create-after-commit", test_create_after_commit);
  ADD("/rooms/duplicate-while-in-flight", test_duplicate_while_in_flight);
  ADD("/rooms/validation", test_validation);
  ADD("/rooms/end-and-limits", test_end_and_limits);
  ADD("/rooms/persisted-across-reopen", test_persisted_across_reopen);
  ADD("/rooms/overlays-object", test_overlays_object);
  ADD("/rooms/shop", test_shop);
  ADD("/rooms/shop-of-old-room", test_shop_of_old_room);
  return g_test_run();
}
