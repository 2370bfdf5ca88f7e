/* Cluster mode on Redis: see cluster.h. The gate script below is the only place where
 * Redis decides anything; everything else is transport. */
#define LC_LOG_DOMAIN "cluster"
#include "cluster/cluster.h"

#include "base/log.h"
#include "base/metrics.h"
#include "cluster/redis.h"
#include "commerce/show_remote.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define POLL_MS 1000     /* registry poll */
#define BLOCK_MS 2000    /* XREAD BLOCK */
#define READ_COUNT 512   /* entries per XREAD */
#define LOAD_COUNT 2000  /* entries per XRANGE at attach */

/* KEYS: stream, counters, op ids, viewer counts. ARGV: type, data, token, ts, op_key,
 * idseq, skip_if_last, likes, viewers, node, n_ops, skip_within_ms, then 8 per op: kind, with_n, field,
 * field2, cond, delta, lo, hi. Answers {'ok', id, n} | {'dup', id} | {'gate', index}.
 * Checks first (on a local copy), writes only when every check passed: all or nothing. */
static const char GATE_LUA[] =
    "local j, g, ops, vw, wk = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]\n"
    "local typ, data = ARGV[1], ARGV[2]\n"
    "if ARGV[5] ~= '' then\n"
    "  local prev = redis.call('HGET', ops, ARGV[5])\n"
    "  if prev then return {'dup', prev} end\n"
    "end\n"
    "local tnow = nil\n"
    "if ARGV[7] ~= '' then\n"
    "  local last = redis.call('XREVRANGE', j, '+', '-', 'COUNT', 1)\n"
    "  if last[1] and last[1][2][2] == ARGV[7] then return {'dup', last[1][1]} end\n"
    "end\n"
    "if tonumber(ARGV[12]) > 0 then\n"
    "  local t = redis.call('TIME')\n"
    "  tnow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "  local prev = tonumber(redis.call('HGET', g, 't:' .. typ) or '0')\n"
    "  if tnow - prev < tonumber(ARGV[12]) then return {'dup', '0-0'} end\n"
    "end\n"
    "local vals, order = {}, {}\n"
    "local function where(f)\n"
    "  if string.sub(f, 1, 2) == 'W:' then return wk, string.sub(f, 3) end\n"
    "  return g, f\n"
    "end\n"
    "local function get(f)\n"
    "  local v = vals[f]\n"
    "  if v == nil then local h, k = where(f); v = tonumber(redis.call('HGET', h, k) or '0') or 0 end\n"
    "  return v\n"
    "end\n"
    "local function put(f, v)\n"
    "  if vals[f] == nil then order[#order + 1] = f end\n"
    "  vals[f] = v\n"
    "end\n"
    "local n = ''\n"
    "if ARGV[6] ~= '' then\n"
    "  local k = 'n:' .. ARGV[6]\n"
    "  n = string.format('%d', get(k) + 1)\n"
    "  put(k, get(k) + 1)\n"
    "end\n"
    "local nops = tonumber(ARGV[11])\n"
    "local rv = ''\n"
    "for i = 0, nops - 1 do\n"
    "  local b = 13 + i * 8\n"
    "  local kind, f, f2, cond = ARGV[b], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]\n"
    "  local d, lo, hi = tonumber(ARGV[b + 5]), ARGV[b + 6], ARGV[b + 7]\n"
    "  if ARGV[b + 1] == '1' then f = f .. n end\n"
    "  local report = ARGV[b + 1] == 'r'\n"
    "  if kind == 'a' then\n"
    "    local v = get(f) + d\n"
    "    if (lo ~= '' and v < tonumber(lo)) or (hi ~= '' and v > tonumber(hi)) then return {'gate', i} end\n"
    "    put(f, v)\n"
    "  elseif kind == 's' then put(f, d)\n"
    "  elseif kind == 'c' then\n"
    "    if get(cond) == 0 then put(f, get(f) + d) else put(f2, get(f2) + d) end\n"
    "  elseif kind == 'm' then put(f2, get(f2) + get(f)); put(f, 0)\n"
    "  elseif kind == 'r' then put(f, d - get(f2))\n"
    "  elseif kind == 'b' then if get(f) < tonumber(hi) then put(f, get(f) + d) end\n"
    "  else return redis.error_reply('unknown gate op ' .. kind) end\n"
    "  if report then rv = string.format('%d', get(f)) end\n"
    "end\n"
    "if typ == 'counts' then\n"
    "  local likes = get('likes') + tonumber(ARGV[8])\n"
    "  put('likes', likes)\n"
    "  local t = redis.call('TIME')\n"
    "  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "  redis.call('HSET', vw, ARGV[10], ARGV[9] .. ':' .. now)\n"
    "  local all = redis.call('HGETALL', vw)\n"
    "  local sum = 0\n"
    "  for k = 1, #all, 2 do\n"
    "    local c, at = string.match(all[k + 1], '^(%d+):(%d+)$')\n"
    "    if c and now - tonumber(at) < 30000 then sum = sum + tonumber(c) else redis.call('HDEL', vw, all[k]) end\n"
    "  end\n"
    "  local key = string.format('%d:%d', likes, sum)\n"
    "  if redis.call('HGET', g, 'lastc') == key and tonumber(ARGV[8]) == 0 then return {'dup', '0-0'} end\n"
    "  put('lastc', 0)\n"
    "  vals['lastc'] = key\n"
    "  data = string.format('{\"likes\":%d,\"viewers\":%d}', likes, sum)\n"
    "end\n"
    "if tnow then put('t:' .. typ, tnow) end\n"
    "if #order > 0 then\n"
    "  local args = {[g] = {}, [wk] = {}}\n"
    "  for _, f in ipairs(order) do\n"
    "    local v = vals[f]\n"
    "    local h, k = where(f)\n"
    "    local a = args[h]\n"
    "    a[#a + 1] = k\n"
    "    a[#a + 1] = type(v) == 'number' and string.format('%d', v) or v\n"
    "  end\n"
    "  for h, a in pairs(args) do if #a > 0 then redis.call('HSET', h, unpack(a)) end end\n"
    "end\n"
    "local id = redis.call('XADD', j, '*', 't', typ, 'd', data, 'k', ARGV[3], 'ts', ARGV[4], 'n', n, 'v', rv)\n"
    "if ARGV[5] ~= '' then redis.call('HSET', ops, ARGV[5], id) end\n"
    "return {'ok', id, n}\n";

typedef struct follower follower;

struct lc_cluster {
  lc_cluster_options o;
  char *redis_url, *node_id, *advertise_url;
  lc_redis_addr addr;
  GMainContext *ctx;
  lc_redis *w;            /* writes, registry */
  redisContext *sync;     /* attach-time loads; reopened when broken */
  char sha[41];
  lc_show_remote remote;
  GHashTable *followers;  /* lc_show* -> follower* */
  guint poll_timer;
  bool polling;
  lc_metric *writes[4];   /* by lc_show_append_status */
  lc_metric *store_lost;
};

struct follower {
  lc_cluster *c;
  lc_show *show;
  char *key;
  lc_redis *conn;
  bool reading;
  guint retry;
  bool gone; /* detached while a read was in flight: freed by its answer */
};

static char *
key_of(const char *room, const char *what)
{
  return g_strdup_printf("lc:{%s}:%s", room, what);
}

/* ---- start-up checks ---------------------------------------------------------------------- */

static char *
config_get(redisContext *r, const char *name, char **err)
{
  redisReply *rep = redisCommand(r, "CONFIG GET %s", name);
  char *v = NULL;
  if (!rep)
    *err = g_strdup_printf("CONFIG GET %s: %s", name, r->errstr);
  else if (rep->type == REDIS_REPLY_ERROR)
    *err = g_strdup_printf("CONFIG GET %s: %s", name, rep->str);
  else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 && rep->element[1]->type == REDIS_REPLY_STRING)
    v = g_strdup(rep->element[1]->str);
  else
    *err = g_strdup_printf("CONFIG GET %s: unexpected answer", name);
  if (rep)
    freeReplyObject(rep);
  return v;
}

static int
check_durable(lc_cluster *c, char **err)
{
  char *aof = config_get(c->sync, "appendonly", err);
  if (!aof)
    return -1;
  char *fsync = config_get(c->sync, "appendfsync", err);
  if (!fsync) {
    g_free(aof);
    return -1;
  }
  bool durable = strcmp(aof, "yes") == 0 && strcmp(fsync, "always") == 0;
  int rc = 0;
  if (!durable && !c->o.accept_volatile) {
    *err = g_strdup_printf("redis at %s has appendonly %s, appendfsync %s: an acknowledged purchase could be lost "
                           "in a crash. Set appendonly yes and appendfsync always, or cluster.accept_volatile=true",
                           c->redis_url, aof, fsync);
    rc = -1;
  } else if (!durable) {
    LC_WARN(NULL, NULL,
            "!!! cluster.accept_volatile: redis has appendonly %s, appendfsync %s: acknowledged orders CAN BE LOST "
            "if redis crashes !!!",
            aof, fsync);
  }
  g_free(aof);
  g_free(fsync);
  return rc;
}

static int
load_script(lc_cluster *c, char **err)
{
  redisReply *rep = redisCommand(c->sync, "SCRIPT LOAD %s", GATE_LUA);
  int rc = -1;
  if (!rep)
    *err = g_strdup_printf("SCRIPT LOAD: %s", c->sync->errstr);
  else if (rep->type != REDIS_REPLY_STRING || rep->len != 40)
    *err = g_strdup_printf("SCRIPT LOAD: %s", rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected answer");
  else {
    memcpy(c->sha, rep->str, 40);
    c->sha[40] = '\0';
    rc = 0;
  }
  if (rep)
    freeReplyObject(rep);
  return rc;
}

/* The blocking connection, reopened when a previous use broke it. */
static redisContext *
sync_conn(lc_cluster *c, char **err)
{
  if (c->sync && c->sync->err) {
    redisFree(c->sync);
    c->sync = NULL;
  }
  if (!c->sync)
    c->sync = lc_redis_connect_sync(&c->addr, c->o.timeout_ms, err);
  return c->sync;
}

/* ---- appends ------------------------------------------------------------------------------ */

typedef struct {
  lc_cluster *c;
  GPtrArray *args; /* char*: the EVALSHA command, kept for an EVAL after NOSCRIPT */
  lc_show_append_cb cb;
  gpointer user;
  bool retried;
} append_call;

static void
append_call_free(append_call *a)
{
  g_ptr_array_unref(a->args);
  g_free(a);
}

static void send_append(append_call *a);

static void
append_reply(lc_redis *r, const redisReply *rep, const char *err, gpointer user)
{
  append_call *a = user;
  if (rep && rep->type == REDIS_REPLY_ERROR && g_str_has_prefix(rep->str, "NOSCRIPT") && !a->retried) {
    /* Redis restarted (its script cache is empty): send the script itself once */
    a->retried = true;
    g_free(a->args->pdata[0]);
    a->args->pdata[0] = g_strdup("EVAL");
    g_free(a->args->pdata[1]);
    a->args->pdata[1] = g_strdup(GATE_LUA);
    send_append(a);
    return;
  }
  lc_show_append_status st = LC_SHOW_APPEND_UNAVAILABLE;
  const char *id = NULL;
  int gate = -1;
  if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2 && rep->element[0]->type == REDIS_REPLY_STRING) {
    const char *what = rep->element[0]->str;
    const redisReply *e1 = rep->element[1];
    if (strcmp(what, "gate") == 0 && e1->type == REDIS_REPLY_INTEGER) {
      st = LC_SHOW_APPEND_GATE;
      gate = (int)e1->integer;
    } else if (strcmp(what, "dup") == 0 && e1->type == REDIS_REPLY_STRING) {
      st = LC_SHOW_APPEND_DUP;
      id = e1->str;
    } else if (strcmp(what, "ok") == 0 && e1->type == REDIS_REPLY_STRING) {
      st = LC_SHOW_APPEND_OK;
      id = e1->str;
    }
  } else if (rep && rep->type == REDIS_REPLY_ERROR) {
    LC_ERROR(NULL, NULL, "gate script failed: %s", rep->str);
  }
  if (a->c->writes[st])
    lc_metric_add(a->c->writes[st], 1);
  a->cb(st, id, gate, a->user);
  append_call_free(a);
}

static void
send_append(append_call *a)
{
  GPtrArray *v = a->args;
  size_t *lens = g_new(size_t, v->len);
  for (guint i = 0; i < v->len; i++)
    lens[i] = strlen(v->pdata[i]);
  lc_redis_command(a->c->w, (int)v->len, (const char **)v->pdata, lens, a->c->o.timeout_ms, append_reply, a);
  g_free(lens);
}

static char *
num(gint64 v)
{
  return g_strdup_printf("%" G_GINT64_FORMAT, v);
}

static void
remote_append(gpointer ctx, const char *room, const lc_show_append *x, lc_show_append_cb cb, gpointer user)
{
  lc_cluster *c = ctx;
  GPtrArray *v = g_ptr_array_new_with_free_func(g_free);
  g_ptr_array_add(v, g_strdup("EVALSHA"));
  g_ptr_array_add(v, g_strdup(c->sha));
  g_ptr_array_add(v, g_strdup("5"));
  g_ptr_array_add(v, key_of(room, "j"));
  g_ptr_array_add(v, key_of(room, "g"));
  g_ptr_array_add(v, key_of(room, "ops"));
  g_ptr_array_add(v, key_of(room, "v"));
  g_ptr_array_add(v, key_of(x->shop ? x->shop : room, "w")); /* the shop's coin wallets */
  g_ptr_array_add(v, g_strdup(x->type));
  g_ptr_array_add(v, g_strdup(x->data));
  g_ptr_array_add(v, g_strdup(x->token ? x->token : ""));
  g_ptr_array_add(v, num(x->ts));
  g_ptr_array_add(v, g_strdup(x->op_key ? x->op_key : ""));
  g_ptr_array_add(v, g_strdup(x->idseq ? x->idseq : ""));
  g_ptr_array_add(v, g_strdup(x->skip_if_last ? x->skip_if_last : ""));
  g_ptr_array_add(v, num(x->likes));
  g_ptr_array_add(v, num(x->viewers));
  g_ptr_array_add(v, g_strdup(c->node_id));
  g_ptr_array_add(v, num(x->n_ops));
  g_ptr_array_add(v, num(x->skip_within_ms));
  for (guint i = 0; i < x->n_ops; i++) {
    const lc_gate_op *op = &x->ops[i];
    char kind[2] = {(char)op->kind, 0};
    g_ptr_array_add(v, g_strdup(kind));
    g_ptr_array_add(v, g_strdup(op->with_n ? "1" : op->report ? "r" : "0"));
    g_ptr_array_add(v, g_strdup(op->field ? op->field : ""));
    g_ptr_array_add(v, g_strdup(op->field2 ? op->field2 : ""));
    g_ptr_array_add(v, g_strdup(op->cond ? op->cond : ""));
    g_ptr_array_add(v, num(op->delta));
    g_ptr_array_add(v, op->has_lo ? num(op->lo) : g_strdup(""));
    g_ptr_array_add(v, op->has_hi ? num(op->hi) : g_strdup(""));
  }
  append_call *a = g_new0(append_call, 1);
  a->c = c;
  a->args = v;
  a->cb = cb;
  a->user = user;
  send_append(a);
}

/* ---- reading a wallet ------------------------------------------------------------------------- */

typedef struct {
  lc_cluster *c;
  lc_show *show;
  void (*cb)(lc_show *show, gint64 coins, gpointer data);
  gpointer data;
} wallet_call;

static void
wallet_reply(lc_redis *r, const redisReply *rep, const char *err, gpointer user)
{
  wallet_call *w = user;
  bool attached = w->c->followers && g_hash_table_contains(w->c->followers, w->show);
  gint64 coins = -1;
  if (rep && rep->type == REDIS_REPLY_NIL)
    coins = 0;
  else if (rep && rep->type == REDIS_REPLY_STRING)
    coins = g_ascii_strtoll(rep->str, NULL, 10);
  w->cb(attached ? w->show : NULL, coins, w->data);
  g_free(w);
}

static void
remote_wallet_get(gpointer ctx, lc_show *show, const char *shop, const char *user,
                  void (*cb)(lc_show *show, gint64 coins, gpointer data), gpointer data)
{
  lc_cluster *c = ctx;
  char *key = key_of(shop, "w");
  const char *argv[] = {"HGET", key, user};
  size_t lens[] = {4, strlen(key), strlen(user)};
  wallet_call *w = g_new0(wallet_call, 1);
  w->c = c;
  w->show = show;
  w->cb = cb;
  w->data = data;
  lc_redis_command(c->w, 3, argv, lens, c->o.timeout_ms, wallet_reply, w);
  g_free(key);
}

/* ---- following a room's stream ---------------------------------------------------------------- */

static const char *
field(const redisReply *fields, const char *name)
{
  for (size_t i = 0; i + 1 < fields->elements; i += 2)
    if (fields->element[i]->type == REDIS_REPLY_STRING && strcmp(fields->element[i]->str, name) == 0 &&
        fields->element[i + 1]->type == REDIS_REPLY_STRING)
      return fields->element[i + 1]->str;
  return NULL;
}

/* Calls fn for each well-formed entry ([id, [field, value...]]...) of a reply; returns how many
 * and, when last is not NULL, sets it to the last entry's id (borrowed from entries). */
typedef void (*entry_fn)(const char *id, const redisReply *fields, gpointer user);
static size_t
each_entry(const redisReply *entries, entry_fn fn, gpointer user, const char **last)
{
  size_t n = 0;
  for (size_t i = 0; entries && entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++) {
    const redisReply *e = entries->element[i];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
      continue;
    fn(e->element[0]->str, e->element[1], user);
    if (last)
      *last = e->element[0]->str;
    n++;
  }
  return n;
}

/* One entry to the show. */
static void
deliver_one(const char *id, const redisReply *f, gpointer user)
{
  lc_show *show = user;
  const char *t = field(f, "t"), *d = field(f, "d"), *ts = field(f, "ts");
  if (!t || !d) {
    LC_WARN(lc_show_room(show), NULL, "stream entry %s without type or data; skipped", id);
    return;
  }
  const char *k = field(f, "k"), *nn = field(f, "n"), *v = field(f, "v");
  lc_show_remote_entry_v(show, id, t, d, k && *k ? k : NULL, nn && *nn ? nn : NULL, v && *v ? v : NULL,
                         ts ? g_ascii_strtoll(ts, NULL, 10) : 0);
}

/* Every entry of a stream, oldest first, LOAD_COUNT per XRANGE (blocking). The number of
 * entries, or -1 and *err. */
static gssize
read_stream(redisContext *r, const char *jkey, entry_fn fn, gpointer user, char **err)
{
  char *from = g_strdup("-");
  gssize total = 0;
  for (;;) {
    redisReply *rep = redisCommand(r, "XRANGE %s %s + COUNT %d", jkey, from, LOAD_COUNT);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
      *err = g_strdup_printf("reading %s: %s", jkey,
                             !rep ? r->errstr : rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected answer");
      if (rep)
        freeReplyObject(rep);
      total = -1;
      break;
    }
    const char *last = NULL;
    total += (gssize)each_entry(rep, fn, user, &last);
    bool more = rep->elements == LOAD_COUNT && last;
    if (more) {
      g_free(from);
      from = g_strconcat("(", last, NULL);
    }
    freeReplyObject(rep);
    if (!more)
      break;
  }
  g_free(from);
  return total;
}

static void read_next(follower *f);

static gboolean
retry_read(gpointer user)
{
  follower *f = user;
  f->retry = 0;
  read_next(f);
  return G_SOURCE_REMOVE;
}

static void
follower_free(follower *f)
{
  if (f->retry)
    g_source_remove(f->retry);
  g_free(f->key);
  g_free(f);
}

static void
read_reply(lc_redis *r, const redisReply *rep, const char *err, gpointer user)
{
  follower *f = user;
  f->reading = false;
  if (f->gone)
    return; /* lc_cluster_detach frees it after freeing the connection */
  if (rep && rep->type == REDIS_REPLY_ARRAY) {
    for (size_t i = 0; i < rep->elements; i++) {
      const redisReply *s = rep->element[i];
      if (s->type == REDIS_REPLY_ARRAY && s->elements == 2)
        each_entry(s->element[1], deliver_one, f->show, NULL);
    }
  } else if (rep && rep->type == REDIS_REPLY_ERROR) {
    LC_WARN(lc_show_room(f->show), NULL, "following the show's stream: %s", rep->str);
  }
  if (!rep || rep->type == REDIS_REPLY_ERROR) { /* not connected, timeout, error: try again soon */
    if (!f->retry)
      f->retry = g_timeout_add(200, retry_read, f);
    return;
  }
  read_next(f);
}

static void
read_next(follower *f)
{
  if (f->reading || f->gone || !lc_redis_up(f->conn))
    return;
  char block[16], count[16];
  g_snprintf(block, sizeof block, "%d", BLOCK_MS);
  g_snprintf(count, sizeof count, "%d", READ_COUNT);
  const char *argv[] = {"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", f->key, lc_show_remote_position(f->show)};
  size_t lens[G_N_ELEMENTS(argv)];
  for (unsigned i = 0; i < G_N_ELEMENTS(argv); i++)
    lens[i] = strlen(argv[i]);
  f->reading = true;
  lc_redis_command(f->conn, (int)G_N_ELEMENTS(argv), argv, lens, BLOCK_MS + f->c->o.timeout_ms, read_reply, f);
}

static void
follower_state(lc_redis *r, bool up, gpointer user)
{
  follower *f = user;
  if (up)
    read_next(f);
}

/* Replays the room's whole stream into the show (blocking). */
static int
load_stream(lc_cluster *c, lc_show *show, char **err)
{
  redisContext *r = sync_conn(c, err);
  if (!r)
    return -1;
  const char *room = lc_show_room(show);
  char *ekey = key_of(room, "epoch"), *jkey = key_of(room, "j");
  char epoch[17];
  for (int i = 0; i < 16; i++)
    epoch[i] = "0123456789abcdef"[g_random_int_range(0, 16)];
  epoch[16] = '\0';
  int rc = -1;
  redisReply *rep = redisCommand(r, "SET %s %s NX", ekey, epoch);
  if (rep)
    freeReplyObject(rep);
  rep = redisCommand(r, "GET %s", ekey);
  if (!rep || rep->type != REDIS_REPLY_STRING) {
    *err = g_strdup_printf("reading the epoch of room %s: %s", room, rep ? "unexpected answer" : r->errstr);
    goto out;
  }
  lc_show_remote_set_epoch(show, rep->str);
  freeReplyObject(rep);
  rep = NULL;
  lc_show_remote_begin_replay(show);
  gssize total = read_stream(r, jkey, deliver_one, show, err);
  lc_show_remote_end_replay(show);
  if (total >= 0) {
    rc = 0;
    LC_INFO(room, NULL, "show loaded from the shared stream: %zd entries, epoch %s, at %s", total,
            lc_show_epoch(show), lc_show_remote_position(show));
  }
out:
  if (rep)
    freeReplyObject(rep);
  g_free(ekey);
  g_free(jkey);
  return rc;
}

int
lc_cluster_attach(lc_cluster *c, lc_show *show, char **err)
{
  if (load_stream(c, show, err) != 0)
    return -1;
  follower *f = g_new0(follower, 1);
  f->c = c;
  f->show = show;
  f->key = key_of(lc_show_room(show), "j");
  char *name = g_strdup_printf("follow %s", lc_show_room(show));
  f->conn = lc_redis_new(&c->addr, name, c->ctx, follower_state, f);
  g_free(name);
  g_hash_table_insert(c->followers, show, f);
  lc_show_remote_set_up(show, lc_redis_up(c->w));
  return 0;
}

void
lc_cluster_detach(lc_cluster *c, lc_show *show)
{
  follower *f = c ? g_hash_table_lookup(c->followers, show) : NULL;
  if (!f)
    return;
  g_hash_table_remove(c->followers, show);
  f->gone = true;
  lc_redis_free(f->conn); /* answers the read in flight ("disconnected"): read_reply sees gone */
  follower_free(f);
}

/* ---- archive ------------------------------------------------------------------------------- */

static void
count_fact(gint64 id, const char *type, const char *data, gint64 ts, gpointer user)
{
  (*(int *)user)++;
}

static void
archived(int err, gpointer user)
{
  if (err != 0)
    LC_ERROR(user, NULL, "archive: a fact could not be stored locally");
}

typedef struct {
  lc_store *store;
  const char *room;
  gint64 low_stock_default;
  int queued;
} archive_ctx;

/* Facts into the local journal, with the store's number written in; ticks, counts, chat and
 * the video state are not facts. */
static void
archive_one(const char *id, const redisReply *f, gpointer user)
{
  archive_ctx *ac = user;
  const char *t = field(f, "t"), *d = field(f, "d"), *n = field(f, "n");
  char *text = t && d ? lc_show_remote_fact_text(t, d, n && *n ? n : NULL, ac->low_stock_default) : NULL;
  if (text) {
    lc_store_journal_append(ac->store, ac->room, t, text, archived, (gpointer)"archive");
    ac->queued++;
  }
}

int
lc_cluster_archive(lc_cluster *c, const char *room, lc_store *store, gint64 low_stock_default, char **err)
{
  int have = 0;
  if (lc_store_journal_load(store, room, count_fact, &have) != 0) {
    *err = g_strdup("cannot read the local journal");
    return -1;
  }
  if (have > 0)
    return 0;
  redisContext *r = sync_conn(c, err);
  if (!r)
    return -1;
  archive_ctx ac = {store, room, low_stock_default, 0};
  char *jkey = key_of(room, "j");
  gssize n = read_stream(r, jkey, archive_one, &ac, err);
  g_free(jkey);
  return n < 0 ? -1 : ac.queued;
}

/* ---- registry ------------------------------------------------------------------------------ */

void
lc_cluster_room_put(lc_cluster *c, const char *id, const json_t *room)
{
  char *text = json_dumps(room, JSON_COMPACT);
  const char *argv[] = {"HSET", "lc:rooms", id, text};
  size_t lens[] = {4, 8, strlen(id), strlen(text)};
  lc_redis_command(c->w, 4, argv, lens, c->o.timeout_ms, NULL, NULL);
  free(text);
}

static void
poll_reply(lc_redis *r, const redisReply *rep, const char *err, gpointer user)
{
  lc_cluster *c = user;
  c->polling = false;
  if (!rep || rep->type != REDIS_REPLY_ARRAY)
    return;
  json_t *rooms = json_object();
  for (size_t i = 0; i + 1 < rep->elements; i += 2) {
    const redisReply *k = rep->element[i], *v = rep->element[i + 1];
    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
      continue;
    json_t *room = json_loads(v->str, 0, NULL);
    if (json_is_object(room))
      json_object_set_new(rooms, k->str, room);
    else {
      json_decref(room);
      LC_WARN(NULL, NULL, "registry: room %s is not a JSON object; ignored", k->str);
    }
  }
  if (c->o.rooms)
    c->o.rooms(rooms, c->o.user);
  json_decref(rooms);
}

static gboolean
poll_rooms(gpointer user)
{
  lc_cluster *c = user;
  if (!c->polling && lc_redis_up(c->w)) {
    c->polling = true;
    const char *argv[] = {"HGETALL", "lc:rooms"};
    size_t lens[] = {7, 8};
    lc_redis_command(c->w, 2, argv, lens, c->o.timeout_ms, poll_reply, c);
  }
  return G_SOURCE_CONTINUE;
}

/* ---- origins ------------------------------------------------------------------------------- */

static const char ORIGIN_DEL_LUA[] =
    "local v = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if v and cjson.decode(v).node_id == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end\n"
    "return 0\n";

void
lc_cluster_origin(lc_cluster *c, const char *room, bool here)
{
  if (here) {
    json_t *o = json_pack("{s:s, s:s, s:I}", "node_id", c->node_id, "advertise_url", c->advertise_url, "since",
                          (json_int_t)(g_get_real_time() / 1000));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    const char *argv[] = {"HSET", "lc:origins", room, text};
    size_t lens[] = {4, 10, strlen(room), strlen(text)};
    lc_redis_command(c->w, 4, argv, lens, c->o.timeout_ms, NULL, NULL);
    free(text);
  } else {
    const char *argv[] = {"EVAL", ORIGIN_DEL_LUA, "1", "lc:origins", room, c->node_id};
    size_t lens[] = {4, strlen(ORIGIN_DEL_LUA), 1, 10, strlen(room), strlen(c->node_id)};
    lc_redis_command(c->w, 6, argv, lens, c->o.timeout_ms, NULL, NULL);
  }
}

typedef struct {
  void (*cb)(const json_t *origins, const char *err, gpointer user);
  gpointer user;
} origins_call;

static void
origins_reply(lc_redis *r, const redisReply *rep, const char *err, gpointer user)
{
  origins_call *oc = user;
  if (!rep || rep->type != REDIS_REPLY_ARRAY) {
    oc->cb(NULL, err ? err : (rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected answer"), oc->user);
    g_free(oc);
    return;
  }
  json_t *all = json_object();
  for (size_t i = 0; i + 1 < rep->elements; i += 2)
    if (rep->element[i]->type == REDIS_REPLY_STRING && rep->element[i + 1]->type == REDIS_REPLY_STRING) {
      json_t *o = json_loads(rep->element[i + 1]->str, 0, NULL);
      if (json_is_object(o))
        json_object_set_new(all, rep->element[i]->str, o);
      else
        json_decref(o);
    }
  oc->cb(all, NULL, oc->user);
  json_decref(all);
  g_free(oc);
}

void
lc_cluster_origins(lc_cluster *c, void (*cb)(const json_t *origins, const char *err, gpointer user),
                   gpointer user)
{
  origins_call *oc = g_new0(origins_call, 1);
  oc->cb = cb;
  oc->user = user;
  const char *argv[] = {"HGETALL", "lc:origins"};
  size_t lens[] = {7, 10};
  lc_redis_command(c->w, 2, argv, lens, c->o.timeout_ms, origins_reply, oc);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void
writer_state(lc_redis *r, bool up, gpointer user)
{
  lc_cluster *c = user;
  GHashTableIter it;
  gpointer show;
  g_hash_table_iter_init(&it, c->followers);
  while (g_hash_table_iter_next(&it, &show, NULL))
    lc_show_remote_set_up(show, up);
  if (!up && c->store_lost)
    lc_metric_add(c->store_lost, 1);
  if (c->o.state)
    c->o.state(up, c->o.user);
  if (up)
    poll_rooms(c);
}

lc_cluster *
lc_cluster_new(const lc_cluster_options *o, GMainContext *ctx, char **err)
{
  lc_cluster *c = g_new0(lc_cluster, 1);
  c->o = *o;
  c->redis_url = g_strdup(o->redis);
  c->node_id = g_strdup(o->node_id && *o->node_id ? o->node_id : g_get_host_name());
  c->advertise_url = g_strdup(o->advertise_url ? o->advertise_url : "");
  c->o.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 2000;
  c->ctx = ctx ? g_main_context_ref(ctx) : g_main_context_ref(g_main_context_default());
  c->followers = g_hash_table_new(g_direct_hash, g_direct_equal);
  char *why = NULL;
  if (lc_redis_addr_parse(o->redis, &c->addr, &why) != 0) {
    *err = g_strdup_printf("cluster.redis: %s", why);
    g_free(why);
    lc_cluster_free(c);
    return NULL;
  }
  if (!sync_conn(c, err) || check_durable(c, err) != 0 || load_script(c, err) != 0) {
    lc_cluster_free(c);
    return NULL;
  }
  c->remote = (lc_show_remote){remote_append, c, c->node_id, c->o.timeout_ms + 3000, remote_wallet_get};
  static const char *const results[] = {"ok", "dup", "refused", "unavailable"};
  for (int i = 0; i < 4; i++) {
    char *labels = g_strdup_printf("result=\"%s\"", results[i]);
    c->writes[i] = o->metrics ? lc_metrics_counter(o->metrics, "livecart_cluster_writes_total", labels,
                                                   "appends to the shared store by outcome (refused: by the gate; "
                                                   "unavailable: no answer, down, timeout)")
                              : NULL;
    g_free(labels);
  }
  c->store_lost = o->metrics ? lc_metrics_counter(o->metrics, "livecart_cluster_store_lost_total", NULL,
                                                  "times this node lost its shared store (Redis)")
                             : NULL;
  c->w = lc_redis_new(&c->addr, "writer", c->ctx, writer_state, c);
  c->poll_timer = g_timeout_add(POLL_MS, poll_rooms, c);
  char *where = lc_redis_addr_string(&c->addr);
  LC_INFO(NULL, NULL, "cluster mode: node %s on redis %s (durable writes checked)", c->node_id, where);
  g_free(where);
  return c;
}

void
lc_cluster_free(lc_cluster *c)
{
  if (!c)
    return;
  if (c->poll_timer)
    g_source_remove(c->poll_timer);
  if (c->followers) {
    GHashTableIter it;
    gpointer f;
    g_hash_table_iter_init(&it, c->followers);
    while (g_hash_table_iter_next(&it, NULL, &f)) {
      ((follower *)f)->gone = true;
      lc_redis_free(((follower *)f)->conn);
      follower_free(f);
    }
    g_hash_table_destroy(c->followers);
    c->followers = NULL; /* wallet reads still in flight answer without their show */
  }
  lc_redis_free(c->w);
  if (c->sync)
    redisFree(c->sync);
  lc_redis_addr_clear(&c->addr);
  g_free(c->redis_url);
  g_free(c->node_id);
  g_free(c->advertise_url);
  g_main_context_unref(c->ctx);
  g_free(c);
}

bool
lc_cluster_up(const lc_cluster *c)
{
  return c && lc_redis_up(c->w);
}

const char *
lc_cluster_node_id(const lc_cluster *c)
{
  return c->node_id;
}

const lc_show_remote *
lc_cluster_remote(lc_cluster *c)
{
  return &c->remote;
}

json_t *
lc_cluster_status(lc_cluster *c)
{
  return json_pack("{s:s, s:s, s:s, s:b, s:I}", "node_id", c->node_id, "advertise_url", c->advertise_url, "redis",
                   c->redis_url, "up", lc_cluster_up(c), "rooms_followed",
                   (json_int_t)g_hash_table_size(c->followers));
}
