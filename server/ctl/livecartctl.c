/* livecartctl: the moderator CLI over the control socket (docs/control.md).
 *
 *   livecartctl [--socket PATH] [--json] [--timeout SEC] <command> ...
 *
 * One blocking Unix-socket connection, one request (id 1), one response line;
 * "watch" then prints event lines until SIGINT or the server closes. Human output
 * walks the result JSON generically (key: value lines, tables for arrays of
 * objects); --json prints the raw response line.
 * Exit codes: 0 ok, 1 server error, 2 usage error, 3 server unreachable. */
#include <glib.h>

#include "control/codec.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

enum { READ_INTERRUPTED = -1, READ_EOF = -2 };
enum { EXIT_OK = 0, EXIT_SERVER = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

#define DEFAULT_SOCKET "var/run/livecart.sock"
#define DEFAULT_TIMEOUT 10.0
#define MAX_RESPONSE (64 * 1024 * 1024)

typedef struct {
  const char *socket_path;
  bool json;
  double timeout; /* seconds; 0 = wait forever */
} options;

static volatile sig_atomic_t interrupted;

static const char usage_text[] =
  "usage: livecartctl [--socket PATH] [--json] [--timeout SEC] <command> ...\n"
  "\n"
  "commands:\n"
  "  status                              server status\n"
  "  rooms                               list rooms\n"
  "  room create ID [--title T] [--creator C] [--stream-key K] [--shop S] [--file room.json]\n"
  "  room show ID                        a room with its stream key\n"
  "  room start ID                       the show goes live\n"
  "  room end ID                         end a room\n"
  "  watch [--room R]                    print events until Ctrl-C\n"
  "  call CMD [JSON-ARGS]                send any command with an args object\n"
  "  catalog load ROOM FILE              load a catalog (JSON file)\n"
  "  pin ROOM PRODUCT | unpin ROOM       the pinned product card\n"
  "  flash schedule ROOM --sku S --price P --quantity Q [--limit N] [--id ID]\n"
  "                 [--start-in SEC | --starts-at MS] [--duration SEC | --ends-at MS]\n"
  "  flash start|stop ROOM ID            start a scheduled sale now / stop a sale\n"
  "  coupon drop ROOM --id ID --kind fixed|percent|threshold --quantity N\n"
  "              [--amount MINOR] [--percent P] [--min-spend MINOR] [--max-off MINOR]\n"
  "              [--title T] [--file coupon.json]\n"
  "  order list ROOM [--user U] [--state S] [--limit N]\n"
  "  order pay ROOM ID [--ref REF] | order cancel ROOM ID [--reason R]\n"
  "  chat mute ROOM USER SECONDS [--reason R] | chat unmute ROOM USER\n"
  "  chat ban|unban ROOM USER | chat delete ROOM MSG-ID | chat slowmode ROOM SECONDS\n"
  "  group open ROOM SKU --price P --size N --quantity Q [--fill-ms MS] [--limit L] [--id ID]\n"
  "             [--duration SEC | --ends-at MS]   open a group deal (拼团)\n"
  "  group close ROOM ID | group status ROOM [ID]   end a group deal / deals with their teams\n"
  "  gifts load ROOM FILE.json           the gift catalog {gifts, coin_cents?, creator_pct?}\n"
  "  gifts statement ROOM [--csv]        gifts, coins and the revenue split of the show\n"
  "  promo set ROOM SKU bogo --buy N --free M | percent --off P | fixed --off CENTS\n"
  "            [--label L] [--starts-at MS] [--ends-at MS]   a SKU's promotion (replaces it)\n"
  "  promo clear ROOM SKU                remove a SKU's promotion\n"
  "  wallet get ROOM USER                a user's coins in the room's shop\n"
  "  stats ROOM | snapshot ROOM          show statistics / public state\n"
  "  media status [ROOM]                 renditions, viewers and ingest of all rooms / one room\n"
  "  media keyframe ROOM RUNG            ask a rung's encoder for a keyframe (throttled)\n"
  "  media tap ROOM RUNG PORT | media untap ROOM RUNG   copy a rung as plain RTP to 127.0.0.1:PORT\n"
  "  record list [ROOM] | record status   recordings on disk / disk use, errors, rooms being recorded\n"
  "  record delete ROOM ID               delete a finished recording\n"
  "  relay status                        rooms pulled from upstream, edges served, their counters\n"
  "  relay reset ROOM                    drop the room's relay connections now (they reconnect)\n"
  "  overlay status ROOM                 what the room's video overlays show now\n"
  "  overlay show|hide ROOM ELEMENT      card, flash, coupon, ticker, logo, text, gift or group\n"
  "  overlay text ROOM TEXT              the free text element (\"\" clears)\n"
  "  overlay place ROOM ELEMENT ANCHOR [--margin-x P] [--margin-y P] [--width P]   (in % of the frame)\n"
  "  overlay logo ROOM IMAGE             the logo element's image (a path under overlays.image_root)\n"
  "  overlay configure ROOM FILE         apply an overlays object (JSON file, as in a room's \"overlays\")\n"
  "  token mint --user U [--room R] [--name N] [--ttl SEC]   a viewer token (development)\n"
  "  help                                commands the server knows\n"
  "\n"
  "options:\n"
  "  --socket PATH   control socket (default: $LIVECART_SOCKET, else " DEFAULT_SOCKET ")\n"
  "  --json          print the raw response JSON (one line)\n"
  "  --timeout SEC   seconds to wait for an answer (default 10, 0 = forever)\n"
  "\n"
  "exit status: 0 ok, 1 server error, 2 usage error, 3 server unreachable\n";

static int G_GNUC_PRINTF(1, 2)
usage_error(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("livecartctl: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n(see livecartctl --help)\n", stderr);
  va_end(ap);
  return EXIT_USAGE;
}

/* ---- connection -------------------------------------------------------- */

typedef struct {
  int fd;
  const char *path;
  lc_linebuf *lb;
} client;

static int
client_connect(client *c, const char *path)
{
  c->fd = -1;
  c->path = path;
  c->lb = lc_linebuf_new(MAX_RESPONSE);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    fprintf(stderr, "error: cannot reach livecartd at %s: socket path too long\n", path);
    return EXIT_UNREACHABLE;
  }
  memcpy(sa.sun_path, path, strlen(path) + 1);
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    fprintf(stderr, "error: cannot reach livecartd at %s: %s\n", path, g_strerror(errno));
    return EXIT_UNREACHABLE;
  }
  return EXIT_OK;
}

static void
client_close(client *c)
{
  if (c->fd >= 0)
    close(c->fd);
  lc_linebuf_free(c->lb);
}

static int
client_send(client *c, const char *line)
{
  size_t len = strlen(line), off = 0;
  while (off < len) {
    ssize_t n = send(c->fd, line + off, len - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      fprintf(stderr, "error: sending to livecartd at %s: %s\n", c->path, g_strerror(errno));
      return EXIT_UNREACHABLE;
    }
    off += (size_t)n;
  }
  return EXIT_OK;
}

/* Reads the next line into *out (newly allocated, NUL-terminated). timeout <= 0
 * waits forever. Returns EXIT_OK, EXIT_UNREACHABLE (timeout, error; printed),
 * READ_EOF when the server closed the connection, READ_INTERRUPTED on SIGINT. */
static int
client_read_line(client *c, double timeout, char **out)
{
  gint64 deadline = timeout > 0 ? g_get_monotonic_time() + (gint64)(timeout * G_USEC_PER_SEC) : 0;
  for (;;) {
    const char *line;
    size_t len;
    lc_line_status st = lc_linebuf_next(c->lb, &line, &len);
    if (st == LC_LINE_OK) {
      *out = g_strndup(line, len);
      return EXIT_OK;
    }
    if (st == LC_LINE_TOO_LONG) {
      fprintf(stderr, "error: response from %s is larger than %d bytes\n", c->path, MAX_RESPONSE);
      return EXIT_UNREACHABLE;
    }
    if (interrupted)
      return READ_INTERRUPTED;
    int wait_ms = -1;
    if (deadline) {
      gint64 left = deadline - g_get_monotonic_time();
      if (left <= 0) {
        fprintf(stderr, "error: no answer from livecartd at %s within %g s\n", c->path, timeout);
        return EXIT_UNREACHABLE;
      }
      wait_ms = (int)MIN(left / 1000 + 1, G_MAXINT);
    }
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int pr = poll(&p, 1, wait_ms);
    if (pr < 0 && errno == EINTR)
      continue;
    if (pr < 0) {
      fprintf(stderr, "error: poll: %s\n", g_strerror(errno));
      return EXIT_UNREACHABLE;
    }
    if (pr == 0)
      continue;
    char buf[65536];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0)
      return READ_EOF;
    if (n < 0) {
      fprintf(stderr, "error: reading from livecartd at %s: %s\n", c->path, g_strerror(errno));
      return EXIT_UNREACHABLE;
    }
    lc_linebuf_feed(c->lb, buf, (size_t)n);
  }
}

/* ---- human output ------------------------------------------------------ */

static bool
is_time_key(const char *key)
{
  return g_str_has_suffix(key, "_at") || strcmp(key, "ts") == 0 || strcmp(key, "time_ms") == 0;
}

/* A scalar as text; times in ms since the epoch get a local date next to them. */
static char *
scalar_text(const char *key, const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_STRING:
    return g_strdup(json_string_value(v));
  case JSON_INTEGER: {
    json_int_t i = json_integer_value(v);
    if (key && is_time_key(key) && i > 0) {
      GDateTime *dt = g_date_time_new_from_unix_local(i / 1000);
      if (dt) {
        char *d = g_date_time_format(dt, "%Y-%m-%d %H:%M:%S");
        char *s = g_strdup_printf("%s (%" JSON_INTEGER_FORMAT ")", d, i);
        g_free(d);
        g_date_time_unref(dt);
        return s;
      }
    }
    return g_strdup_printf("%" JSON_INTEGER_FORMAT, i);
  }
  case JSON_REAL:
    return g_strdup_printf("%g", json_real_value(v));
  case JSON_TRUE:
    return g_strdup("true");
  case JSON_FALSE:
    return g_strdup("false");
  case JSON_NULL:
    return g_strdup("-");
  default: {
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    char *r = g_strdup(s ? s : "?");
    free(s);
    return r;
  }
  }
}

/* Terminal columns a UTF-8 string takes (wide CJK characters count two). */
static size_t
display_width(const char *s)
{
  size_t w = 0;
  for (const char *p = s; *p; p = g_utf8_next_char(p)) {
    gunichar ch = g_utf8_get_char(p);
    w += g_unichar_iszerowidth(ch) ? 0 : g_unichar_iswide(ch) ? 2 : 1;
  }
  return w;
}

static bool
is_table(const json_t *v)
{
  if (!json_is_array(v) || json_array_size(v) == 0)
    return false;
  size_t i;
  json_t *e;
  json_array_foreach(v, i, e) if (!json_is_object(e)) return false;
  return true;
}

/* Columns for an array of objects: known shapes first, else every scalar key in
 * first-seen order. */
static GPtrArray *
table_columns(const char *name, const json_t *arr)
{
  GPtrArray *cols = g_ptr_array_new();
  static const char *const rooms[] = {"id", "state", "title", "creator", NULL};
  static const char *const commands[] = {"cmd", "help", NULL};
  const char *const *known = NULL;
  if (name && strcmp(name, "rooms") == 0)
    known = rooms;
  else if (name && strcmp(name, "commands") == 0)
    known = commands;
  if (known && !json_object_get(json_array_get(arr, 0), known[0]))
    known = NULL; /* not the shape we know: fall back to its own keys */
  if (known) {
    for (int i = 0; known[i]; i++)
      g_ptr_array_add(cols, (gpointer)known[i]);
    return cols;
  }
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    const char *k;
    json_t *v;
    json_object_foreach(e, k, v) {
      if (json_is_object(v) || json_is_array(v))
        continue;
      bool seen = false;
      for (unsigned j = 0; j < cols->len && !seen; j++)
        seen = strcmp(cols->pdata[j], k) == 0;
      if (!seen)
        g_ptr_array_add(cols, (gpointer)k);
    }
  }
  return cols;
}

static void
print_table(const char *name, const json_t *arr)
{
  GPtrArray *cols = table_columns(name, arr);
  size_t rows = json_array_size(arr);
  char ***cells = g_new0(char **, rows);
  size_t *width = g_new0(size_t, cols->len);
  for (unsigned j = 0; j < cols->len; j++)
    width[j] = strlen(cols->pdata[j]);
  for (size_t i = 0; i < rows; i++) {
    cells[i] = g_new0(char *, cols->len);
    for (unsigned j = 0; j < cols->len; j++) {
      json_t *v = json_object_get(json_array_get(arr, i), cols->pdata[j]);
      /* Tables show no dates: keep cells short. */
      cells[i][j] = v ? scalar_text(NULL, v) : g_strdup("-");
      width[j] = MAX(width[j], display_width(cells[i][j]));
    }
  }
  for (unsigned j = 0; j < cols->len; j++) {
    char *up = g_ascii_strup(cols->pdata[j], -1);
    printf("%-*s%s", j + 1 < cols->len ? (int)width[j] : 0, up, j + 1 < cols->len ? "  " : "\n");
    g_free(up);
  }
  for (size_t i = 0; i < rows; i++) {
    for (unsigned j = 0; j < cols->len; j++) {
      const char *s = cells[i][j];
      int pad = j + 1 < cols->len ? (int)(width[j] - display_width(s)) : 0;
      printf("%s%*s%s", s, pad, "", j + 1 < cols->len ? "  " : "\n");
      g_free(cells[i][j]);
    }
    g_free(cells[i]);
  }
  g_free(cells);
  g_free(width);
  g_ptr_array_free(cols, TRUE);
}

/* Collects "a.b.c" -> value pairs of nested objects (scalars and non-table arrays). */
static void
flatten(const char *prefix, const json_t *obj, GPtrArray *keys, GPtrArray *vals)
{
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)obj, k, v) {
    char *full = prefix ? g_strconcat(prefix, ".", k, NULL) : g_strdup(k);
    if (json_is_object(v) && json_object_size(v) > 0) {
      flatten(full, v, keys, vals);
      g_free(full);
    } else {
      g_ptr_array_add(keys, full);
      g_ptr_array_add(vals, scalar_text(k, v));
    }
  }
}

static void
print_fields(const json_t *obj)
{
  GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
  GPtrArray *vals = g_ptr_array_new_with_free_func(g_free);
  flatten(NULL, obj, keys, vals);
  size_t w = 0;
  for (unsigned i = 0; i < keys->len; i++)
    w = MAX(w, strlen(keys->pdata[i]) + 1);
  for (unsigned i = 0; i < keys->len; i++) {
    char *k = g_strconcat(keys->pdata[i], ":", NULL);
    printf("%-*s %s\n", (int)w, k, (const char *)vals->pdata[i]);
    g_free(k);
  }
  g_ptr_array_free(keys, TRUE);
  g_ptr_array_free(vals, TRUE);
}

/* Prints a result: {"rooms":[...]} as a table, {"room":{...}} as its fields,
 * anything else as key: value lines (tables for arrays of objects). */
static void
print_result(const json_t *result)
{
  if (!json_is_object(result) || json_object_size(result) == 0) {
    printf("ok\n");
    return;
  }
  if (json_object_size(result) == 1) {
    const char *k = json_object_iter_key(json_object_iter((json_t *)result));
    json_t *v = json_object_get(result, k);
    if (json_is_array(v) && json_array_size(v) == 0) {
      printf("(no %s)\n", k);
      return;
    }
    if (is_table(v)) {
      print_table(k, v);
      return;
    }
    if (json_is_object(v)) {
      print_fields(v);
      return;
    }
  }
  /* Mixed: fields first, then each table under its name. */
  json_t *fields = json_object();
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)result, k, v) if (!is_table(v)) json_object_set(fields, k, v);
  print_fields(fields);
  json_decref(fields);
  json_object_foreach((json_t *)result, k, v) {
    if (is_table(v)) {
      printf("\n%s:\n", k);
      print_table(k, v);
    }
  }
}

/* One event line: "<time> <event> key=value ..." for the data's scalars. */
static void
print_event(const json_t *ev)
{
  const char *name = json_string_value(json_object_get(ev, "event"));
  json_int_t ts = json_integer_value(json_object_get(ev, "ts"));
  char when[32] = "-";
  GDateTime *dt = ts > 0 ? g_date_time_new_from_unix_local(ts / 1000) : NULL;
  if (dt) {
    char *d = g_date_time_format(dt, "%H:%M:%S");
    g_snprintf(when, sizeof when, "%s.%03d", d, (int)(ts % 1000));
    g_free(d);
    g_date_time_unref(dt);
  }
  GString *s = g_string_new(NULL);
  g_string_append_printf(s, "%s %s", when, name ? name : "?");
  json_t *data = json_object_get(ev, "data");
  if (json_is_object(data)) {
    const char *k;
    json_t *v;
    json_object_foreach(data, k, v) {
      if (json_is_object(v) || json_is_array(v) || strcmp(k, "stream_key") == 0)
        continue;
      char *t = scalar_text(NULL, v);
      bool quote = strchr(t, ' ') != NULL;
      g_string_append_printf(s, " %s=%s%s%s", k, quote ? "\"" : "", t, quote ? "\"" : "");
      g_free(t);
    }
  }
  printf("%s\n", s->str);
  fflush(stdout);
  g_string_free(s, TRUE);
}

/* ---- requests ---------------------------------------------------------- */

/* Parses a response line into *resp_out (transfer full). Returns EXIT_OK for an ok
 * answer, EXIT_SERVER after printing "error: code: message" for an error answer,
 * EXIT_UNREACHABLE for something that is not a response. */
static int
parse_response(const char *line, json_t **resp_out)
{
  json_t *resp = json_loads(line, 0, NULL);
  *resp_out = NULL;
  if (!json_is_object(resp) || !json_is_boolean(json_object_get(resp, "ok"))) {
    fprintf(stderr, "error: unexpected answer from livecartd: %s\n", line);
    json_decref(resp);
    return EXIT_UNREACHABLE;
  }
  *resp_out = resp;
  if (json_is_true(json_object_get(resp, "ok")))
    return EXIT_OK;
  json_t *e = json_object_get(resp, "error");
  const char *code = json_string_value(json_object_get(e, "code"));
  const char *msg = json_string_value(json_object_get(e, "message"));
  fprintf(stderr, "error: %s: %s\n", code ? code : "unknown", msg ? msg : "(no message)");
  return EXIT_SERVER;
}

static char *
encode_request(const char *cmd, json_t *args)
{
  json_t *req = json_pack("{s:i, s:s, s:O}", "id", 1, "cmd", cmd, "args", args);
  char *s = json_dumps(req, JSON_COMPACT);
  char *line = g_strconcat(s, "\n", NULL);
  free(s);
  json_decref(req);
  return line;
}

/* Prints an ok answer's result. */
typedef void (*result_printer)(const json_t *result);

/* Sends one request (args borrowed) and handles its response; an ok result is printed with
 * printer (NULL: print_result), unless --json asked for the raw line. */
static int
run_request_print(const options *o, const char *cmd, json_t *args, result_printer printer)
{
  client c;
  char *line = NULL;
  json_t *resp = NULL;
  int rc = client_connect(&c, o->socket_path);
  if (rc != EXIT_OK)
    goto out;
  char *req = encode_request(cmd, args);
  rc = client_send(&c, req);
  g_free(req);
  if (rc != EXIT_OK)
    goto out;
  rc = client_read_line(&c, o->timeout, &line);
  if (rc == READ_EOF)
    fprintf(stderr, "error: livecartd at %s closed the connection without answering\n", c.path);
  if (rc < 0)
    rc = rc == READ_INTERRUPTED ? 130 : EXIT_UNREACHABLE;
  if (rc != EXIT_OK)
    goto out;
  rc = parse_response(line, &resp);
  if (o->json && resp)
    printf("%s\n", line);
  else if (rc == EXIT_OK)
    (printer ? printer : print_result)(json_object_get(resp, "result"));
out:
  json_decref(resp);
  g_free(line);
  client_close(&c);
  return rc;
}

static int
run_request(const options *o, const char *cmd, json_t *args)
{
  return run_request_print(o, cmd, args, NULL);
}

static void
on_sigint(int sig)
{
  interrupted = 1;
}

static int
run_watch(const options *o, json_t *args)
{
  struct sigaction sa = {.sa_handler = on_sigint}; /* no SA_RESTART: poll returns EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  client c;
  char *line = NULL;
  json_t *resp = NULL;
  int rc = client_connect(&c, o->socket_path);
  if (rc != EXIT_OK)
    goto out;
  char *req = encode_request("watch", args);
  rc = client_send(&c, req);
  g_free(req);
  if (rc != EXIT_OK)
    goto out;
  rc = client_read_line(&c, o->timeout, &line);
  if (rc == READ_EOF)
    fprintf(stderr, "error: livecartd at %s closed the connection without answering\n", c.path);
  if (rc != EXIT_OK) {
    rc = rc == READ_INTERRUPTED ? EXIT_OK : EXIT_UNREACHABLE;
    goto out;
  }
  /* The watch answer: printed raw with --json, a note on stderr otherwise. */
  rc = parse_response(line, &resp);
  if (o->json && resp) {
    printf("%s\n", line);
    fflush(stdout);
  }
  if (rc != EXIT_OK)
    goto out;
  if (!o->json) {
    const char *room = json_string_value(json_object_get(args, "room"));
    fprintf(stderr, "watching %s%s (Ctrl-C to stop)\n", room ? "room " : "all rooms",
            room ? room : "");
  }
  for (;;) {
    g_clear_pointer(&line, g_free);
    int r = client_read_line(&c, 0, &line);
    if (r == READ_INTERRUPTED)
      break;
    if (r == READ_EOF) {
      if (!o->json)
        fprintf(stderr, "livecartd closed the connection\n");
      break; /* the server went away (shutdown, or this watcher was too slow) */
    }
    if (r != EXIT_OK) {
      rc = r;
      break;
    }
    if (o->json) {
      printf("%s\n", line);
      fflush(stdout);
      continue;
    }
    json_t *ev = json_loads(line, 0, NULL);
    if (json_is_object(ev) && json_object_get(ev, "event"))
      print_event(ev);
    else
      printf("%s\n", line);
    json_decref(ev);
  }
out:
  json_decref(resp);
  g_free(line);
  client_close(&c);
  return rc;
}

/* ---- command line ------------------------------------------------------ */

/* Reads a JSON object from a file (for room create --file). */
static json_t *
load_object_file(const char *path, int *rc)
{
  json_error_t jerr;
  json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!v) {
    if (jerr.line > 0)
      *rc = usage_error("%s: line %d: %s", path, jerr.line, jerr.text);
    else
      *rc = usage_error("%s", jerr.text);
    return NULL;
  }
  if (!json_is_object(v)) {
    json_decref(v);
    *rc = usage_error("%s: must contain a JSON object", path);
    return NULL;
  }
  return v;
}

static int
cmd_room(const options *o, int argc, char **argv)
{
  if (argc < 1)
    return usage_error("room: expected create, show or end");
  const char *sub = argv[0];
  if (strcmp(sub, "show") == 0 || strcmp(sub, "end") == 0 || strcmp(sub, "start") == 0) {
    if (argc != 2)
      return usage_error("room %s: expected exactly one room ID", sub);
    json_t *args = json_pack("{s:s}", "id", argv[1]);
    char *cmd = g_strconcat("room.", sub, NULL);
    int rc = run_request(o, cmd, args);
    g_free(cmd);
    json_decref(args);
    return rc;
  }
  if (strcmp(sub, "create") != 0)
    return usage_error("room: unknown subcommand '%s' (create, show, start, end)", sub);

  const char *id = NULL, *file = NULL;
  const char *flags[][2] = {{"--title", "title"}, {"--creator", "creator"}, {"--stream-key", "stream_key"},
                            {"--shop", "shop"}};
  const char *vals[G_N_ELEMENTS(flags)] = {0};
  for (int i = 1; i < argc; i++) {
    bool matched = false;
    for (unsigned f = 0; f < G_N_ELEMENTS(flags) && !matched; f++) {
      if (strcmp(argv[i], flags[f][0]) == 0) {
        if (i + 1 >= argc)
          return usage_error("room create: %s needs a value", flags[f][0]);
        vals[f] = argv[++i];
        matched = true;
      }
    }
    if (matched)
      continue;
    if (strcmp(argv[i], "--file") == 0) {
      if (i + 1 >= argc)
        return usage_error("room create: --file needs a path");
      file = argv[++i];
    } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
      return usage_error("room create: unknown option '%s'", argv[i]);
    } else if (!id) {
      id = argv[i];
    } else {
      return usage_error("room create: unexpected argument '%s'", argv[i]);
    }
  }
  int rc = EXIT_OK;
  json_t *args = file ? load_object_file(file, &rc) : json_object();
  if (!args)
    return rc;
  if (id)
    json_object_set_new(args, "id", json_string(id));
  if (!json_is_string(json_object_get(args, "id"))) {
    json_decref(args);
    return usage_error("room create: a room ID is required");
  }
  for (unsigned f = 0; f < G_N_ELEMENTS(flags); f++)
    if (vals[f])
      json_object_set_new(args, flags[f][1], json_string(vals[f]));
  rc = run_request(o, "room.create", args);
  json_decref(args);
  return rc;
}

static int
cmd_watch(const options *o, int argc, char **argv)
{
  json_t *args = json_object();
  int rc;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--room") == 0 && i + 1 < argc) {
      json_object_set_new(args, "room", json_string(argv[++i]));
    } else {
      json_decref(args);
      return usage_error("watch: unexpected argument '%s' (usage: watch [--room R])", argv[i]);
    }
  }
  rc = run_watch(o, args);
  json_decref(args);
  return rc;
}

static int
cmd_call(const options *o, int argc, char **argv)
{
  if (argc < 1 || argc > 2)
    return usage_error("call: usage: call CMD [JSON-ARGS]");
  json_t *args;
  if (argc == 2) {
    json_error_t jerr;
    args = json_loads(argv[1], JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(args)) {
      json_decref(args);
      return usage_error("call: JSON-ARGS must be a JSON object (%s)",
                         jerr.text[0] ? jerr.text : "got another type");
    }
  } else {
    args = json_object();
  }
  int rc = run_request(o, argv[0], args);
  json_decref(args);
  return rc;
}

static int
simple(const options *o, int argc, const char *cmd, const char *name)
{
  if (argc != 0)
    return usage_error("%s takes no arguments", name);
  json_t *args = json_object();
  int rc = run_request(o, cmd, args);
  json_decref(args);
  return rc;
}

/* ---- show commands: a table of word paths, positional args and flags ------------ */

/* An argument spec is "name" (string), "name:int", "name:ms" (seconds given, sent as
 * ms) or "name:file" (a JSON file whose object is the value). Flags are
 * "--flag=name[:type]"; a flag or positional whose name is "*" merges a JSON object file
 * into args. fixup (optional) checks and rewrites the args once they are all read (a usage
 * error is its return value); csv (optional) enables --csv, printing the result as CSV. */
typedef struct {
  const char *words[2];
  const char *cmd;
  const char *pos[4];
  const char *flags[12];
  int (*fixup)(json_t *args);
  result_printer csv;
} mapping;

static int promo_fixup(json_t *args);
static void print_statement_csv(const json_t *result);

static const mapping show_cmds[] = {
  {{"catalog", "load"}, "catalog.load", {"room", "catalog:file"}, {NULL}},
  {{"pin", NULL}, "product.pin", {"room", "product"}, {NULL}},
  {{"unpin", NULL}, "product.unpin", {"room"}, {NULL}},
  {{"flash", "schedule"}, "flash.schedule", {"room"},
   {"--sku=sku", "--price=price:int", "--quantity=quantity:int", "--limit=per_user_limit:int", "--id=id",
    "--start-in=start_in_ms:ms", "--starts-at=starts_at:int", "--duration=duration_ms:ms", "--ends-at=ends_at:int"}},
  {{"flash", "start"}, "flash.start", {"room", "id"}, {NULL}},
  {{"flash", "stop"}, "flash.stop", {"room", "id"}, {NULL}},
  {{"coupon", "drop"}, "coupon.drop", {"room"},
   {"--file=*:file", "--id=id", "--kind=kind", "--title=title", "--amount=amount_off:int", "--percent=percent_off:int",
    "--min-spend=min_spend:int", "--max-off=max_off:int", "--quantity=quantity:int", "--starts-at=starts_at:int",
    "--ends-at=ends_at:int"}},
  {{"order", "list"}, "order.list", {"room"}, {"--user=user", "--state=state", "--limit=limit:int"}},
  {{"order", "pay"}, "order.pay", {"room", "id"}, {"--ref=payment_ref"}},
  {{"order", "cancel"}, "order.cancel", {"room", "id"}, {"--reason=reason"}},
  {{"chat", "mute"}, "chat.mute", {"room", "user", "seconds:int"}, {"--reason=reason"}},
  {{"chat", "unmute"}, "chat.unmute", {"room", "user"}, {NULL}},
  {{"chat", "ban"}, "chat.ban", {"room", "user"}, {NULL}},
  {{"chat", "unban"}, "chat.unban", {"room", "user"}, {NULL}},
  {{"chat", "delete"}, "chat.delete", {"room", "id"}, {NULL}},
  {{"chat", "slowmode"}, "chat.slowmode", {"room", "seconds:int"}, {NULL}},
  {{"stats", NULL}, "stats", {"room"}, {NULL}},
  {{"snapshot", NULL}, "show.snapshot", {"room"}, {NULL}},
  {{"media", "status"}, "media.status", {"room?"}, {NULL}},
  {{"media", "keyframe"}, "media.keyframe", {"room", "rung"}, {NULL}},
  {{"media", "tap"}, "media.tap", {"room", "rung", "port:int"}, {NULL}},
  {{"media", "untap"}, "media.untap", {"room", "rung"}, {NULL}},
  {{"record", "list"}, "record.list", {"room?"}, {NULL}},
  {{"record", "status"}, "record.status", {NULL}, {NULL}},
  {{"record", "delete"}, "record.delete", {"room", "id"}, {NULL}},
  {{"relay", "status"}, "relay.status", {NULL}, {NULL}},
  {{"relay", "reset"}, "relay.reset", {"room"}, {NULL}},
  {{"overlay", "status"}, "overlay.status", {"room"}, {NULL}},
  {{"overlay", "show"}, "overlay.show", {"room", "element"}, {NULL}},
  {{"overlay", "hide"}, "overlay.hide", {"room", "element"}, {NULL}},
  {{"overlay", "text"}, "overlay.text", {"room", "text"}, {NULL}},
  {{"overlay", "place"}, "overlay.place", {"room", "element", "anchor"},
   {"--margin-x=margin_x:int", "--margin-y=margin_y:int", "--width=width:int"}},
  {{"overlay", "logo"}, "overlay.logo", {"room", "image"}, {NULL}},
  {{"overlay", "configure"}, "overlay.configure", {"room", "config:file"}, {NULL}},
  {{"token", "mint"}, "token.mint", {NULL}, {"--user=user", "--room=room", "--name=name", "--ttl=ttl_s:int"}},
  {{"group", "open"}, "group.open", {"room", "sku"},
   {"--price=price:int", "--size=team_size:int", "--quantity=quantity:int", "--fill-ms=fill_ms:int",
    "--limit=per_user_limit:int", "--id=id", "--duration=duration_ms:ms", "--ends-at=ends_at:int"}},
  {{"group", "close"}, "group.close", {"room", "id"}, {NULL}},
  {{"group", "status"}, "group.status", {"room", "id?"}, {NULL}},
  {{"gifts", "load"}, "gifts.load", {"room", "*:file"}, {NULL}},
  {{"gifts", "statement"}, "gifts.statement", {"room"}, {NULL}, NULL, print_statement_csv},
  {{"promo", "set"}, "promo.set", {"room", "sku", "kind"},
   {"--buy=buy:int", "--free=free:int", "--off=off:int", "--label=label", "--starts-at=starts_at:int",
    "--ends-at=ends_at:int"},
   promo_fixup},
  {{"promo", "clear"}, "promo.clear", {"room", "sku"}, {NULL}},
  {{"wallet", "get"}, "wallet.get", {"room", "user"}, {NULL}},
};

/* promo set: the kind says what --off is (percent_off or amount_off) and which flags fit. */
static int
promo_fixup(json_t *args)
{
  const char *kind = json_string_value(json_object_get(args, "kind"));
  json_t *off = json_incref(json_object_get(args, "off"));
  bool buy_free = json_object_get(args, "buy") || json_object_get(args, "free");
  int rc = EXIT_OK;
  json_object_del(args, "off");
  if (strcmp(kind, "bogo") == 0) {
    if (off)
      rc = usage_error("promo set: bogo takes --buy N --free M, not --off");
    else if (!json_object_get(args, "buy") || !json_object_get(args, "free"))
      rc = usage_error("promo set: bogo needs --buy N and --free M");
  } else if (strcmp(kind, "percent") == 0 || strcmp(kind, "fixed") == 0) {
    if (buy_free)
      rc = usage_error("promo set: --buy and --free are for bogo");
    else if (!off)
      rc = usage_error("promo set: %s needs --off %s", kind, kind[0] == 'p' ? "PERCENT" : "CENTS");
    else
      json_object_set(args, kind[0] == 'p' ? "percent_off" : "amount_off", off);
  } else {
    rc = usage_error("promo set: unknown kind '%s' (bogo, percent or fixed)", kind);
  }
  json_decref(off);
  return rc;
}

/* One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes
 * doubled. */
static void
csv_field(GString *line, const char *text, bool last)
{
  if (text[strcspn(text, ",\"\r\n")] != '\0') {
    g_string_append_c(line, '"');
    for (const char *p = text; *p; p++) {
      if (*p == '"')
        g_string_append_c(line, '"');
      g_string_append_c(line, *p);
    }
    g_string_append_c(line, '"');
  } else {
    g_string_append(line, text);
  }
  g_string_append(line, last ? "\n" : ",");
}

/* One row of the statement: the label (gift id or TOTAL), the name, then the numbers of obj. */
static void
csv_statement_row(GString *out, const char *label, const char *name, const json_t *obj)
{
  static const char *const numbers[] = {"count", "coins", "value_cents", "creator_cents", "platform_cents"};
  csv_field(out, label, false);
  csv_field(out, name, false);
  for (unsigned i = 0; i < G_N_ELEMENTS(numbers); i++) {
    json_t *v = json_object_get(obj, numbers[i]);
    char *t = v && !json_is_null(v) ? scalar_text(NULL, v) : g_strdup("");
    csv_field(out, t, i + 1 == G_N_ELEMENTS(numbers));
    g_free(t);
  }
}

/* gifts statement --csv: a header line, one row per gift, a TOTAL row. */
static void
print_statement_csv(const json_t *result)
{
  GString *out = g_string_new("gift_id,name,count,coins,value_cents,creator_cents,platform_cents\n");
  size_t i;
  json_t *g;
  json_array_foreach(json_object_get(result, "gifts"), i, g) {
    const char *id = json_string_value(json_object_get(g, "gift_id"));
    const char *name = json_string_value(json_object_get(g, "name"));
    csv_statement_row(out, id ? id : "", name ? name : "", g);
  }
  csv_statement_row(out, "TOTAL", "", json_object_get(result, "totals"));
  fputs(out->str, stdout);
  g_string_free(out, TRUE);
}

/* Sets args[name] from text per the spec's type; returns EXIT_OK or a usage error. */
static int
set_arg(json_t *args, const char *spec, const char *text)
{
  size_t name_len = strcspn(spec, ":?"); /* "name[?][:type]": '?' marks an optional positional */
  const char *colon = strchr(spec, ':');
  char *name = g_strndup(spec, name_len);
  const char *type = colon ? colon + 1 : "";
  int rc = EXIT_OK;
  if (strcmp(type, "int") == 0 || strcmp(type, "ms") == 0) {
    gint64 v;
    if (!g_ascii_string_to_signed(text, 10, G_MININT64 / 1000, G_MAXINT64 / 1000, &v, NULL))
      rc = usage_error("%s: '%s' is not an integer", name, text);
    else
      json_object_set_new(args, name, json_integer(strcmp(type, "ms") == 0 ? v * 1000 : v));
  } else if (strcmp(type, "file") == 0) {
    json_t *obj = load_object_file(text, &rc);
    if (obj && strcmp(name, "*") == 0)
      json_object_update(args, obj);
    else if (obj)
      json_object_set(args, name, obj);
    json_decref(obj);
  } else {
    json_object_set_new(args, name, json_string(text));
  }
  g_free(name);
  return rc;
}

static int
run_mapping(const options *o, const mapping *m, int argc, char **argv)
{
  json_t *args = json_object();
  int npos = 0, rc = EXIT_OK;
  result_printer printer = NULL;
  for (int i = 0; i < argc && rc == EXIT_OK; i++) {
    if (m->csv && strcmp(argv[i], "--csv") == 0) {
      printer = m->csv;
    } else if (argv[i][0] == '-' && argv[i][1] == '-') {
      const char *spec = NULL;
      size_t flen = strlen(argv[i]);
      for (unsigned f = 0; f < G_N_ELEMENTS(m->flags) && m->flags[f]; f++)
        if (strncmp(m->flags[f], argv[i], flen) == 0 && m->flags[f][flen] == '=')
          spec = m->flags[f] + flen + 1;
      if (!spec)
        rc = usage_error("%s: unknown option '%s'", m->cmd, argv[i]);
      else if (i + 1 >= argc)
        rc = usage_error("%s: %s needs a value", m->cmd, argv[i]);
      else
        rc = set_arg(args, spec, argv[++i]);
    } else if (npos < (int)G_N_ELEMENTS(m->pos) && m->pos[npos]) {
      rc = set_arg(args, m->pos[npos++], argv[i]);
    } else {
      rc = usage_error("%s: unexpected argument '%s'", m->cmd, argv[i]);
    }
  }
  if (rc == EXIT_OK && npos < (int)G_N_ELEMENTS(m->pos) && m->pos[npos] && !strchr(m->pos[npos], '?')) {
    char *missing = g_strndup(m->pos[npos], strcspn(m->pos[npos], ":?"));
    rc = usage_error("%s%s%s: missing %s", m->words[0], m->words[1] ? " " : "", m->words[1] ? m->words[1] : "",
                     strcmp(missing, "*") == 0 ? "FILE" : missing);
    g_free(missing);
  }
  if (rc == EXIT_OK && m->fixup)
    rc = m->fixup(args);
  if (rc == EXIT_OK)
    rc = run_request_print(o, m->cmd, args, printer);
  json_decref(args);
  return rc;
}

/* Finds the mapping for the words at argv; *used gets how many words it took. */
static const mapping *
find_mapping(int argc, char **argv, int *used)
{
  for (unsigned i = 0; i < G_N_ELEMENTS(show_cmds); i++) {
    const mapping *m = &show_cmds[i];
    if (strcmp(argv[0], m->words[0]) != 0)
      continue;
    if (!m->words[1]) {
      *used = 1;
      return m;
    }
    if (argc > 1 && strcmp(argv[1], m->words[1]) == 0) {
      *used = 2;
      return m;
    }
  }
  return NULL;
}

int
main(int argc, char **argv)
{
  options o = {.socket_path = NULL, .json = false, .timeout = DEFAULT_TIMEOUT};
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--json") == 0) {
      o.json = true;
    } else if (strcmp(a, "--socket") == 0 || strcmp(a, "--timeout") == 0) {
      if (i + 1 >= argc)
        return usage_error("%s needs a value", a);
      const char *v = argv[++i];
      if (a[2] == 's') {
        o.socket_path = v;
      } else {
        char *end = NULL;
        o.timeout = g_ascii_strtod(v, &end);
        if (!end || end == v || *end || !(o.timeout >= 0) || o.timeout > 86400)
          return usage_error("--timeout: '%s' is not a number of seconds (0 to 86400)", v);
      }
    } else if (g_str_has_prefix(a, "--socket=")) {
      o.socket_path = a + strlen("--socket=");
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage_text, stdout);
      return EXIT_OK;
    } else {
      return usage_error("unknown option '%s'", a);
    }
  }
  if (!o.socket_path || !*o.socket_path) {
    const char *env = g_getenv("LIVECART_SOCKET");
    o.socket_path = env && *env ? env : DEFAULT_SOCKET;
  }
  if (i >= argc) {
    fputs(usage_text, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[i++];
  int rest = argc - i;
  char **rv = argv + i;
  if (strcmp(cmd, "status") == 0)
    return simple(&o, rest, "status", cmd);
  if (strcmp(cmd, "rooms") == 0)
    return simple(&o, rest, "rooms.list", cmd);
  if (strcmp(cmd, "help") == 0)
    return simple(&o, rest, "help", cmd);
  if (strcmp(cmd, "room") == 0)
    return cmd_room(&o, rest, rv);
  if (strcmp(cmd, "watch") == 0)
    return cmd_watch(&o, rest, rv);
  if (strcmp(cmd, "call") == 0)
    return cmd_call(&o, rest, rv);
  int used = 0;
  const mapping *m = find_mapping(rest + 1, rv - 1, &used);
  if (m)
    return run_mapping(&o, m, rest + 1 - used, rv - 1 + used);
  return usage_error("unknown command '%s'", cmd);
}
