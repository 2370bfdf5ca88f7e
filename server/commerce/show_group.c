/* Group buy (拼团): deals, teams and their seats (docs/marketing.md).
 *
 * A seat is an order (show_orders.c) of one unit at the deal's price whose fact names the
 * deal and the team; the order appliers call the hooks here. Everything about a team is
 * derived from facts in journal order: the team is created by its starter's order, formed
 * by the order that fills its last seat (in that same fact), failed by a group.team_failed
 * fact (its deadline) or a group.closed fact (the deal ended), and loses a seat when a
 * waiting member's order is cancelled. So a replay rebuilds teams, members and deadlines
 * exactly, and the deadline timers are armed again after it. */
#define LC_LOG_DOMAIN "show"
#include "base/log.h"
#include "base/show_limits.h"
#include "commerce/show_internal.h"

#include <string.h>

#define FILL_MS_MIN 10000
#define FILL_MS_MAX (24 * 3600 * 1000)
#define FILL_MS_DEFAULT (10 * 60 * 1000)
#define SNAPSHOT_TEAMS 50 /* open teams per deal in a snapshot */

typedef enum { TEAM_OPEN, TEAM_FORMED, TEAM_FAILED } team_state;

typedef struct deal deal;

typedef struct {
  char *user, *name, *order_id;
} member;

typedef struct {
  char *id;
  deal *d;
  team_state state;
  GPtrArray *members; /* member* */
  gint64 created_at, deadline, formed_at;
  char *reason;       /* why it failed */
} team;

struct deal {
  lc_show *show;
  char *id, *sku_id;
  gint64 price, team_size, fill_ms, quantity, per_user_limit, starts_at, ends_at;
  gint64 taken;       /* seats in pending and paid orders */
  bool ended;
  char *end_reason;
  GHashTable *seats;  /* user -> gint64*: seats in pending and paid orders */
  GPtrArray *teams;   /* team* (owned by show->teams), in start order */
  guint timer;        /* ends_at */
};

static const char *const team_state_names[] = {"open", "formed", "failed"};

static void
member_free(gpointer p)
{
  member *m = p;
  g_free(m->user);
  g_free(m->name);
  g_free(m->order_id);
  g_free(m);
}

static void
team_free(gpointer p)
{
  team *t = p;
  g_free(t->id);
  g_ptr_array_unref(t->members);
  g_free(t->reason);
  g_free(t);
}

static void
deal_free(gpointer p)
{
  deal *d = p;
  if (d->timer)
    lc_clock_source_remove(d->show->cfg.clock, d->timer);
  g_free(d->id);
  g_free(d->sku_id);
  g_free(d->end_reason);
  g_hash_table_destroy(d->seats);
  g_ptr_array_unref(d->teams);
  g_free(d);
}

void
lc__group_init(lc_show *s)
{
  s->deals = g_ptr_array_new_with_free_func(deal_free);
  s->teams = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, team_free);
  g_queue_init(&s->team_deadlines);
}

void
lc__group_stop_timers(lc_show *s)
{
  if (s->team_timer)
    lc_clock_source_remove(s->cfg.clock, s->team_timer);
  s->team_timer = 0;
  for (guint i = 0; s->deals && i < s->deals->len; i++) {
    deal *d = g_ptr_array_index(s->deals, i);
    if (d->timer)
      lc_clock_source_remove(s->cfg.clock, d->timer);
    d->timer = 0;
  }
}

void
lc__group_clear(lc_show *s)
{
  lc__group_stop_timers(s);
  g_queue_clear(&s->team_deadlines);
  g_hash_table_destroy(s->teams);
  g_ptr_array_unref(s->deals);
}

static deal *
deal_find(lc_show *s, const char *id)
{
  for (guint i = 0; id && i < s->deals->len; i++) {
    deal *d = g_ptr_array_index(s->deals, i);
    if (strcmp(d->id, id) == 0)
      return d;
  }
  return NULL;
}

const char *
lc__group_open_deal(lc_show *s)
{
  for (guint i = 0; i < s->deals->len; i++) {
    deal *d = g_ptr_array_index(s->deals, i);
    if (!d->ended)
      return d->id;
  }
  return NULL;
}

static int
deal_sku(lc_show *s, const deal *d)
{
  return s->catalog ? lc_catalog_sku(s->catalog, d->sku_id) : -1;
}

static const char *
deal_state(lc_show *s, const deal *d)
{
  gint64 now = lc__show_now(s);
  if (d->ended || (d->ends_at > 0 && now >= d->ends_at))
    return "ended";
  return now < d->starts_at ? "scheduled" : "live";
}

static gint64
seats_of(const deal *d, const char *user)
{
  gint64 *n = g_hash_table_lookup(d->seats, user);
  return n ? *n : 0;
}

static void
seats_add(deal *d, const char *user, gint64 delta)
{
  gint64 *n = g_hash_table_lookup(d->seats, user);
  if (!n) {
    n = g_new0(gint64, 1);
    g_hash_table_insert(d->seats, g_strdup(user), n);
  }
  *n += delta;
  d->taken += delta;
}

/* ---- JSON ------------------------------------------------------------------------------ */

static json_t *
team_json(const team *t, bool unmasked)
{
  json_t *members = json_array();
  for (guint i = 0; i < t->members->len; i++) {
    const member *m = g_ptr_array_index(t->members, i);
    char *masked = lc__mask_name(m->name);
    json_t *mj = json_pack("{s:s}", "name", masked);
    g_free(masked);
    if (unmasked) {
      json_object_set_new(mj, "user", json_string(m->user));
      json_object_set_new(mj, "display_name", json_string(m->name));
      json_object_set_new(mj, "order_id", json_string(m->order_id));
    }
    json_array_append_new(members, mj);
  }
  json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:I, s:I}", "id", t->id, "deal_id", t->d->id, "state",
                        team_state_names[t->state], "size", (json_int_t)t->d->team_size, "seats_left",
                        (json_int_t)(t->state == TEAM_OPEN ? t->d->team_size - (gint64)t->members->len : 0),
                        "members", members, "created_at", (json_int_t)t->created_at, "deadline",
                        (json_int_t)t->deadline);
  if (t->state == TEAM_FORMED)
    json_object_set_new(j, "formed_at", json_integer(t->formed_at));
  if (t->reason)
    json_object_set_new(j, "reason", json_string(t->reason));
  return j;
}

static json_t *
deal_json(lc_show *s, const deal *d)
{
  const char *state = deal_state(s, d);
  json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "id", d->id, "sku", d->sku_id,
                        "price", (json_int_t)d->price, "team_size", (json_int_t)d->team_size, "fill_ms",
                        (json_int_t)d->fill_ms, "quantity", (json_int_t)d->quantity, "left",
                        (json_int_t)(d->ended ? 0 : d->quantity - d->taken), "per_user_limit",
                        (json_int_t)d->per_user_limit, "starts_at", (json_int_t)d->starts_at, "taken",
                        (json_int_t)d->taken, "state", state);
  json_object_set_new(j, "ends_at", d->ends_at ? json_integer(d->ends_at) : json_null());
  gint64 formed = 0;
  for (guint i = 0; i < d->teams->len; i++)
    formed += ((team *)g_ptr_array_index(d->teams, i))->state == TEAM_FORMED;
  json_object_set_new(j, "teams_formed", json_integer(formed));
  int k = deal_sku(s, d);
  if (k >= 0) {
    const lc_sku *ks = &s->catalog->skus[k];
    json_object_set_new(j, "product", json_string(s->catalog->products[ks->product].id));
    json_object_set_new(j, "title", json_string(s->catalog->products[ks->product].title));
    json_object_set_new(j, "label", json_string(ks->label));
    json_object_set_new(j, "list_price", json_integer(ks->price));
  }
  if (d->end_reason)
    json_object_set_new(j, "reason", json_string(d->end_reason));
  return j;
}

json_t *
lc__group_deals_json(lc_show *s)
{
  json_t *a = json_array();
  for (guint i = 0; i < s->deals->len; i++) {
    deal *d = g_ptr_array_index(s->deals, i);
    if (d->ended)
      continue;
    json_t *dj = deal_json(s, d);
    json_t *teams = json_array();
    for (guint k = d->teams->len; k-- > 0 && json_array_size(teams) < SNAPSHOT_TEAMS;) {
      team *t = g_ptr_array_index(d->teams, k);
      if (t->state == TEAM_OPEN)
        json_array_append_new(teams, team_json(t, false));
    }
    json_object_set_new(dj, "teams", teams);
    json_array_append_new(a, dj);
  }
  return a;
}

static bool
is_member(const team *t, const char *user)
{
  for (guint i = 0; i < t->members->len; i++)
    if (strcmp(((member *)g_ptr_array_index(t->members, i))->user, user) == 0)
      return true;
  return false;
}

json_t *
lc__group_me_json(lc_show *s, const char *user)
{
  json_t *a = json_array();
  for (guint i = 0; user && i < s->deals->len; i++) {
    deal *d = g_ptr_array_index(s->deals, i);
    for (guint k = 0; k < d->teams->len; k++) {
      team *t = g_ptr_array_index(d->teams, k);
      if (t->state != TEAM_FAILED && is_member(t, user))
        json_array_append_new(a, team_json(t, false));
    }
  }
  return a;
}

json_t *
lc_show_group_status(lc_show *s, const char *deal_id)
{
  json_t *a = json_array();
  for (guint i = 0; i < s->deals->len; i++) {
    deal *d = g_ptr_array_index(s->deals, i);
    if (deal_id && strcmp(d->id, deal_id) != 0)
      continue;
    json_t *dj = deal_json(s, d);
    json_t *teams = json_array();
    for (guint k = 0; k < d->teams->len; k++)
      json_array_append_new(teams, team_json(g_ptr_array_index(d->teams, k), true));
    json_object_set_new(dj, "teams", teams);
    json_array_append_new(a, dj);
  }
  if (deal_id && json_array_size(a) == 0) {
    json_decref(a);
    return NULL;
  }
  return json_pack("{s:o}", "deals", a);
}

/* ---- teams ------------------------------------------------------------------------------ */

static void
deadline_insert(lc_show *s, team *t)
{
  GList *after = s->team_deadlines.tail;
  while (after && ((team *)after->data)->deadline > t->deadline)
    after = after->prev;
  if (after)
    g_queue_insert_after(&s->team_deadlines, after, t);
  else
    g_queue_push_head(&s->team_deadlines, t);
}

/* Every waiting member's order is cancelled; the seats go back (lc__group_order_closed). */
static void
fail_team(lc_show *s, team *t, const char *reason, gint64 at)
{
  t->state = TEAM_FAILED;
  g_free(t->reason);
  t->reason = g_strdup(reason);
  g_queue_remove(&s->team_deadlines, t);
  for (guint i = 0; i < t->members->len; i++) {
    member *m = g_ptr_array_index(t->members, i);
    lc__fact_order_closed c = {m->order_id, at, NULL, (char *)reason, NULL, NULL};
    lc__apply_order_closed(s, &c, ORDER_CANCELLED);
  }
}

void
lc__group_order_created(lc_show *s, order *o, const lc__fact_order_created *f)
{
  deal *d = deal_find(s, f->group_deal);
  if (!d) {
    LC_ERROR(s->room, NULL, "stored seat order %s names no deal '%s'; its seat is not counted", o->id, f->group_deal);
    lc__expiry_insert(s, o); /* an ordinary pending order then, which expires like one */
    return;
  }
  seats_add(d, o->user, 1);
  team *t = g_hash_table_lookup(s->teams, f->team);
  if (!t) { /* the starter's order creates the team */
    t = g_new0(team, 1);
    t->id = g_strdup(f->team);
    t->d = d;
    t->members = g_ptr_array_new_with_free_func(member_free);
    t->created_at = f->created_at;
    t->deadline = f->team_deadline;
    g_hash_table_insert(s->teams, t->id, t);
    g_ptr_array_add(d->teams, t);
    deadline_insert(s, t);
  }
  member *m = g_new0(member, 1);
  m->user = g_strdup(o->user);
  m->name = g_strdup(f->member_name ? f->member_name : o->user);
  m->order_id = g_strdup(o->id);
  g_ptr_array_add(t->members, m);
  o->expires_at = t->deadline; /* while it waits, the team's deadline is the order's */
  if (t->state != TEAM_OPEN || (gint64)t->members->len < d->team_size)
    return;
  /* the last seat: every member's order becomes payable now, with the usual time to pay */
  t->state = TEAM_FORMED;
  t->formed_at = f->created_at;
  g_queue_remove(&s->team_deadlines, t);
  for (guint i = 0; i < t->members->len; i++) {
    order *mo = g_hash_table_lookup(s->orders, ((member *)g_ptr_array_index(t->members, i))->order_id);
    if (mo && mo->state == ORDER_PENDING) {
      mo->expires_at = f->expires_at;
      lc__expiry_insert(s, mo);
    }
  }
}

void
lc__group_order_closed(lc_show *s, order *o, order_state to)
{
  deal *d = deal_find(s, o->group_deal);
  team *t = o->team_id ? g_hash_table_lookup(s->teams, o->team_id) : NULL;
  if (!d || to == ORDER_PAID)
    return;
  seats_add(d, o->user, -1);
  if (d->ended) { /* the deal's remainder went back to the SKU already: so does this unit */
    int k = deal_sku(s, d);
    if (k >= 0)
      lc__stock_add(s, k, 1);
  }
  if (!t || t->state != TEAM_OPEN)
    return;
  for (guint i = 0; i < t->members->len; i++) /* the seat reopens */
    if (strcmp(((member *)g_ptr_array_index(t->members, i))->order_id, o->id) == 0) {
      g_ptr_array_remove_index(t->members, i);
      break;
    }
  if (t->members->len == 0) {
    t->state = TEAM_FAILED;
    t->reason = g_strdup("all members left");
    g_queue_remove(&s->team_deadlines, t);
  }
}

bool
lc__group_order_payable(lc_show *s, const order *o)
{
  if (!o->team_id)
    return true;
  team *t = g_hash_table_lookup(s->teams, o->team_id);
  return t && t->state == TEAM_FORMED;
}

void
lc__group_order_json(lc_show *s, const order *o, json_t *j)
{
  json_object_set_new(j, "payable", json_boolean(o->state == ORDER_PENDING && lc__group_order_payable(s, o)));
  if (!o->group_deal)
    return;
  team *t = o->team_id ? g_hash_table_lookup(s->teams, o->team_id) : NULL;
  json_object_set_new(j, "group", json_pack("{s:s, s:s?, s:s}", "deal_id", o->group_deal, "team_id", o->team_id,
                                            "team_state", t ? team_state_names[t->state] : "failed"));
}

static void
team_event(lc_show *s, const team *t)
{
  lc__show_event(s, LC_SHOW_EV_GROUP_TEAM,
                 json_pack("{s:o, s:{s:s, s:I}}", "team", team_json(t, false), "deal", "id", t->d->id, "left",
                           (json_int_t)(t->d->ended ? 0 : t->d->quantity - t->d->taken)));
}

json_t *
lc__group_order_events(lc_show *s, const order *o, bool created)
{
  team *t = o->team_id ? g_hash_table_lookup(s->teams, o->team_id) : NULL;
  if (!t)
    return NULL;
  team_event(s, t);
  const member *last = t->members->len ? g_ptr_array_index(t->members, t->members->len - 1) : NULL;
  if (created && t->state == TEAM_FORMED && last && strcmp(last->order_id, o->id) == 0) {
    /* this seat formed the team: every member hears it with their now payable order */
    for (guint i = 0; i < t->members->len; i++) {
      const member *m = g_ptr_array_index(t->members, i);
      order *mo = g_hash_table_lookup(s->orders, m->order_id);
      if (mo)
        lc__show_private(s, m->user, LC_SHOW_EV_GROUP_FORMED,
                         json_pack("{s:o, s:o}", "team", team_json(t, false), "order", lc__order_json(s, mo)));
    }
  }
  if (!s->replaying && created)
    lc__group_arm(s); /* a new team's deadline may come before the one armed (deals differ in fill_ms) */
  return team_json(t, false);
}

/* ---- deals: appliers --------------------------------------------------------------------- */

void
lc__apply_group_opened(lc_show *s, const lc__fact_group_opened *f)
{
  if (deal_find(s, f->id)) {
    LC_ERROR(s->room, NULL, "stored group deal %s is a duplicate; skipped", f->id);
    return;
  }
  deal *d = g_new0(deal, 1);
  d->show = s;
  d->id = g_strdup(f->id);
  d->sku_id = g_strdup(f->sku);
  d->price = f->price;
  d->team_size = f->team_size;
  d->fill_ms = f->fill_ms;
  d->quantity = f->quantity;
  d->per_user_limit = f->per_user_limit;
  d->starts_at = f->starts_at;
  d->ends_at = f->ends_at;
  d->seats = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  d->teams = g_ptr_array_new();
  g_ptr_array_add(s->deals, d);
  int k = deal_sku(s, d);
  if (k >= 0)
    lc__stock_add(s, k, -d->quantity); /* reserved for the deal */
}

void
lc__apply_group_closed(lc_show *s, const lc__fact_group_closed *f)
{
  deal *d = deal_find(s, f->id);
  if (!d || d->ended)
    return;
  for (guint i = 0; i < d->teams->len; i++) { /* open teams fail first: their seats return to the deal */
    team *t = g_ptr_array_index(d->teams, i);
    if (t->state == TEAM_OPEN)
      fail_team(s, t, "the group deal ended", f->at);
  }
  d->ended = true;
  d->end_reason = g_strdup(f->reason);
  if (d->timer) {
    lc_clock_source_remove(s->cfg.clock, d->timer);
    d->timer = 0;
  }
  int k = deal_sku(s, d);
  if (k >= 0 && d->quantity > d->taken)
    lc__stock_add(s, k, d->quantity - d->taken);
}

void
lc__apply_team_failed(lc_show *s, const lc__fact_group_closed *f)
{
  team *t = g_hash_table_lookup(s->teams, f->id);
  if (t && t->state == TEAM_OPEN)
    fail_team(s, t, f->reason, f->at);
}

/* Members of a failed team hear why, with their cancelled orders; everyone sees the team. */
static void
failed_events(lc_show *s, const team *t)
{
  for (guint i = 0; i < t->members->len; i++) {
    const member *m = g_ptr_array_index(t->members, i);
    order *mo = g_hash_table_lookup(s->orders, m->order_id);
    if (mo)
      lc__show_private(s, m->user, LC_SHOW_EV_ORDER_CANCELLED, json_pack("{s:o}", "order", lc__order_json(s, mo)));
  }
  team_event(s, t);
}

json_t *
lc__committed_team_failed(lc_show *s, const lc__fact *f, gpointer data)
{
  team *t = g_hash_table_lookup(s->teams, f->u.group_closed.id);
  if (!s->replaying)
    lc__group_arm(s); /* the next deadline (cluster mode: instead of the resend) */
  if (!t)
    return json_object();
  failed_events(s, t);
  return json_pack("{s:o}", "team", team_json(t, true));
}

json_t *
lc__committed_group_deal(lc_show *s, const lc__fact *f, gpointer data)
{
  deal *d = deal_find(s, f->kind == LC__FACT_GROUP_OPENED ? f->u.group_opened.id : f->u.group_closed.id);
  if (!d)
    return json_object();
  if (f->kind == LC__FACT_GROUP_OPENED) {
    lc__show_event(s, LC_SHOW_EV_GROUP_OPENED, json_pack("{s:o}", "deal", deal_json(s, d)));
  } else {
    for (guint i = 0; i < d->teams->len; i++) {
      team *t = g_ptr_array_index(d->teams, i);
      if (t->state == TEAM_FAILED && t->reason && strcmp(t->reason, "the group deal ended") == 0)
        failed_events(s, t);
    }
    lc__show_event(s, LC_SHOW_EV_GROUP_CLOSED,
                   json_pack("{s:s, s:s}", "deal_id", d->id, "reason", d->end_reason ? d->end_reason : ""));
  }
  if (!s->replaying)
    lc__group_arm(s);
  return json_pack("{s:o}", "deal", deal_json(s, d));
}

/* ---- cluster mode: the gates (show_gate.c has the counter names) ------------------------------ */

#define TEAM_CLOSED 1000 /* t:TEAM of a failed team: no seat can be taken any more */

/* A waiting seat given back: its pending marker, its unit (to the deal while it runs, else to
 * the SKU), the holder's seat count, its coupon claim. */
static void
gate_seat_back(const deal *d, const order *o, GArray *ops)
{
  lc_gate_op *op = lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("o:", o->id, NULL), -1);
  lc__gate_refuse_if(op, true, 0, false, 0, "conflict", g_strdup_printf("order %s changed meanwhile; retry", o->id));
  lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("p:", d->sku_id, NULL), -1);
  lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("gb:", d->id, o->user), -1);
  op = lc__gate_push(ops, LC_GATE_COND, lc__gate_key("gs:", d->id, NULL), 1);
  op->field2 = lc__gate_key("a:", d->sku_id, NULL);
  op->cond = lc__gate_key("ge:", d->id, NULL);
  if (o->claim_id)
    lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("k:", o->claim_id, NULL), 1);
}

/* A team fails: only as this node sees it (its member count, each member's order still pending),
 * else the store refuses with conflict and the timer or the moderator tries again. */
static void
gate_team_fails(lc_show *s, const team *t, GArray *ops)
{
  lc_gate_op *op = lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("t:", t->id, NULL), 0);
  gint64 n = (gint64)t->members->len;
  lc__gate_refuse_if(op, true, n, true, MIN(n, t->d->team_size - 1), "conflict",
                     g_strdup_printf("team %s changed meanwhile; retry", t->id));
  for (guint i = 0; i < t->members->len; i++) {
    order *o = g_hash_table_lookup(s->orders, ((member *)g_ptr_array_index(t->members, i))->order_id);
    if (o)
      gate_seat_back(t->d, o, ops);
  }
  lc__gate_push(ops, LC_GATE_SET, lc__gate_key("t:", t->id, NULL), TEAM_CLOSED);
}

void
lc__group_gate_ops(lc_show *s, const lc__fact *f, GArray *ops)
{
  lc_gate_op *op;
  if (f->kind == LC__FACT_GROUP_OPENED) {
    const lc__fact_group_opened *x = &f->u.group_opened;
    op = lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("gx:", x->id, NULL), 1);
    lc__gate_refuse_if(op, false, 0, true, 1, "invalid_argument", g_strdup("group deal: a deal with this id exists"));
    op = lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("a:", x->sku, NULL), -x->quantity);
    lc__gate_refuse_if(op, true, 0, false, 0, "out_of_stock",
                       g_strdup_printf("SKU %s has fewer than %" G_GINT64_FORMAT " units available", x->sku, x->quantity));
    lc__gate_push(ops, LC_GATE_SET, lc__gate_key("gs:", x->id, NULL), x->quantity);
    return;
  }
  if (f->kind == LC__FACT_TEAM_FAILED) {
    team *t = g_hash_table_lookup(s->teams, f->u.group_closed.id);
    op = lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("t:", f->u.group_closed.id, NULL), 0);
    lc__gate_refuse_if(op, false, 0, true, t ? t->d->team_size - 1 : 0, "invalid_state",
                       g_strdup_printf("team %s has formed or closed", f->u.group_closed.id));
    if (t && t->state == TEAM_OPEN)
      gate_team_fails(s, t, ops);
    return;
  }
  /* group.closed: the open teams fail first (their seats return to the deal), then what is left
   * of the deal goes back to the SKU */
  deal *d = deal_find(s, f->u.group_closed.id);
  op = lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("ge:", f->u.group_closed.id, NULL), 1);
  lc__gate_refuse_if(op, false, 0, true, 1, "invalid_state",
                     g_strdup_printf("group deal '%s' has ended", f->u.group_closed.id));
  if (!d)
    return;
  for (guint i = 0; i < d->teams->len; i++) {
    team *t = g_ptr_array_index(d->teams, i);
    if (t->state == TEAM_OPEN)
      gate_team_fails(s, t, ops);
  }
  op = lc__gate_push(ops, LC_GATE_MOVE, lc__gate_key("gs:", d->id, NULL), 0);
  op->field2 = lc__gate_key("a:", d->sku_id, NULL);
}

/* A seat: the deal runs and has a unit, the holder is under the limit, the team has a seat
 * (gate_order_created adds the coupon claim and the order's pending marker after these). */
void
lc__group_gate_seat(lc_show *s, const lc__fact_order_created *f, GArray *ops)
{
  deal *d = deal_find(s, f->group_deal);
  lc_gate_op *op = lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("ge:", f->group_deal, NULL), 0);
  lc__gate_refuse_if(op, false, 0, true, 0, "invalid_state", g_strdup("the group deal has ended"));
  op = lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("gs:", f->group_deal, NULL), -1);
  lc__gate_refuse_if(op, true, 0, false, 0, "sold_out", g_strdup("all units of the group deal are taken"));
  op = lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("gb:", f->group_deal, f->user), 1);
  gint64 limit = d ? d->per_user_limit : 1;
  lc__gate_refuse_if(op, false, 0, true, limit,
                     "limit_exceeded", g_strdup_printf("at most %" G_GINT64_FORMAT " seat(s) per person in this deal", limit));
  if (f->n_items > 0)
    lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("p:", f->items[0].sku, NULL), 1);
  if (strcmp(f->team, "t-") == 0) { /* a new team: numbered with the order */
    op = lc__gate_push(ops, LC_GATE_SET, g_strdup("t:t-"), 1);
    op->with_n = true;
  } else {
    op = lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("t:", f->team, NULL), 1);
    lc__gate_refuse_if(op, false, 0, true, d ? d->team_size : 0, "team_full", g_strdup_printf("team %s is full", f->team));
  }
  /* the claim and the order's pending marker: gate_order_created's, as for every order */
}

/* Paid: the order stops being pending. Cancelled or expired: the seat goes back, and leaves its
 * team when the team has not filled (a formed team keeps its count). */
void
lc__group_gate_seat_closed(lc_show *s, const order *o, bool paid, GArray *ops)
{
  deal *d = deal_find(s, o->group_deal);
  if (!d)
    return;
  if (paid) {
    lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("p:", d->sku_id, NULL), -1);
    return;
  }
  /* o:ORDER's check is in ops already (gate_order_closed) */
  lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("p:", d->sku_id, NULL), -1);
  lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("gb:", d->id, o->user), -1);
  lc_gate_op *op = lc__gate_push(ops, LC_GATE_COND, lc__gate_key("gs:", d->id, NULL), 1);
  op->field2 = lc__gate_key("a:", d->sku_id, NULL);
  op->cond = lc__gate_key("ge:", d->id, NULL);
  if (o->team_id) {
    op = lc__gate_push(ops, LC_GATE_BELOW, lc__gate_key("t:", o->team_id, NULL), -1);
    op->has_hi = true;
    op->hi = d->team_size;
  }
  if (o->claim_id)
    lc__gate_push(ops, LC_GATE_ADD, lc__gate_key("k:", o->claim_id, NULL), 1);
}

/* ---- timers ------------------------------------------------------------------------------ */

static gboolean team_due(gpointer user);

static gboolean
deal_due(gpointer user)
{
  deal *d = user;
  lc_show *s = d->show;
  d->timer = 0;
  if (s->broken || s->stopping || d->ended)
    return G_SOURCE_REMOVE;
  lc__fact *f = lc__fact_new(LC__FACT_GROUP_CLOSED);
  f->u.group_closed.id = g_strdup(d->id);
  f->u.group_closed.reason = g_strdup("the deal ended");
  f->u.group_closed.at = lc__show_now(s);
  lc__show_commit(s, NULL, f, lc__committed_group_deal, NULL, NULL);
  /* cluster mode: every node sends it and the gate takes the first; again if it has not come
   * back by then (the store may have been away or refused a stale view) */
  if (s->cfg.remote && !d->ended)
    d->timer = lc_clock_timeout_add(s->cfg.clock, s->cfg.remote->answer_timeout_ms, deal_due, d);
  return G_SOURCE_REMOVE;
}

static gboolean
team_due(gpointer user)
{
  lc_show *s = user;
  s->team_timer = 0;
  if (s->broken || s->stopping)
    return G_SOURCE_REMOVE;
  gint64 now = lc__show_now(s);
  team *t;
  if (s->cfg.remote) { /* applied when the stream has it: send each due team's failure, check again later */
    bool due = false;
    for (GList *l = s->team_deadlines.head; l && ((team *)l->data)->deadline <= now; l = l->next) {
      lc__fact *f = lc__fact_new(LC__FACT_TEAM_FAILED);
      f->u.group_closed.id = g_strdup(((team *)l->data)->id);
      f->u.group_closed.reason = g_strdup("the team did not fill in time");
      f->u.group_closed.at = now;
      lc__show_commit(s, NULL, f, lc__committed_team_failed, NULL, NULL);
      due = true;
    }
    if (due)
      s->team_timer = lc_clock_timeout_add(s->cfg.clock, s->cfg.remote->answer_timeout_ms, team_due, s);
    else
      lc__group_arm(s);
    return G_SOURCE_REMOVE;
  }
  /* each failure is applied at once and leaves the queue (fail_team) */
  while ((t = g_queue_peek_head(&s->team_deadlines)) && t->deadline <= now) {
    if (t->state != TEAM_OPEN) {
      g_queue_pop_head(&s->team_deadlines);
      continue;
    }
    lc__fact *f = lc__fact_new(LC__FACT_TEAM_FAILED);
    f->u.group_closed.id = g_strdup(t->id);
    f->u.group_closed.reason = g_strdup("the team did not fill in time");
    f->u.group_closed.at = now;
    lc__show_commit(s, NULL, f, lc__committed_team_failed, NULL, NULL);
    if (s->broken)
      return G_SOURCE_REMOVE;
  }
  lc__group_arm(s);
  return G_SOURCE_REMOVE;
}

void
lc__group_arm(lc_show *s)
{
  if (s->stopping || s->replaying)
    return;
  if (s->team_timer)
    lc_clock_source_remove(s->cfg.clock, s->team_timer);
  s->team_timer = 0;
  gint64 now = lc__show_now(s);
  team *t = g_queue_peek_head(&s->team_deadlines);
  if (t)
    s->team_timer = lc_clock_timeout_add(s->cfg.clock, MAX(t->deadline - now, 0), team_due, s);
  for (guint i = 0; i < s->deals->len; i++) {
    deal *d = g_ptr_array_index(s->deals, i);
    if (!d->ended && d->ends_at > 0 && !d->timer)
      d->timer = lc_clock_timeout_add(s->cfg.clock, MAX(d->ends_at - now, 0), deal_due, d);
  }
}

/* ---- operations ----------------------------------------------------------------------------- */

static bool
spec_int(lc__op *op, const json_t *spec, const char *key, gint64 lo, gint64 hi, gint64 dflt, gint64 *out)
{
  json_t *v = json_object_get(spec, key);
  if (!v || json_is_null(v)) {
    if (dflt < lo) {
      lc__op_fail(op, "invalid_argument", "group deal: %s is required", key);
      return false;
    }
    *out = dflt;
    return true;
  }
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
    lc__op_fail(op, "invalid_argument", "group deal: %s must be an integer from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT,
                key, lo, hi);
    return false;
  }
  *out = json_integer_value(v);
  return true;
}

void
lc_show_group_open(lc_show *s, const json_t *spec, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  if (!json_is_object(spec)) {
    lc__op_fail(op, "invalid_argument", "group deal: the spec must be an object");
    return;
  }
  if (!s->catalog) {
    lc__op_fail(op, "invalid_state", "no catalog is loaded");
    return;
  }
  json_t *idj = json_object_get(spec, "id"), *skuj = json_object_get(spec, "sku");
  const char *sku = json_string_value(skuj);
  int k = sku ? lc_catalog_sku(s->catalog, sku) : -1;
  if (k < 0) {
    lc__op_fail(op, "not_found", "group deal: no SKU '%s'", sku ? sku : "");
    return;
  }
  char *id = idj && !json_is_null(idj) ? g_strdup(json_string_value(idj))
                                       : g_strdup_printf("g-%u", s->deals->len + 1);
  gint64 price, size, fill, qty, limit, ends_at = 0, duration = 0, now = lc__show_now(s);
  const char *why = NULL;
  if (!id || !lc__wire_id_ok(id))
    why = "group deal: id must be 1-64 of A-Z a-z 0-9 _ . : -";
  else if (deal_find(s, id))
    why = "group deal: a deal with this id exists";
  if (why) {
    lc__op_fail(op, "invalid_argument", "%s", why);
  } else if (spec_int(op, spec, "price", 1, G_GINT64_CONSTANT(100000000000), 0, &price) &&
             spec_int(op, spec, "team_size", 2, 10, 0, &size) &&
             spec_int(op, spec, "quantity", 1, 1000000, 0, &qty) &&
             spec_int(op, spec, "fill_ms", FILL_MS_MIN, FILL_MS_MAX, FILL_MS_DEFAULT, &fill) &&
             spec_int(op, spec, "per_user_limit", 1, LC_SHOW_MAX_QTY, 1, &limit) &&
             spec_int(op, spec, "duration_ms", 0, G_GINT64_CONSTANT(7) * 24 * 3600 * 1000, 0, &duration) &&
             spec_int(op, spec, "ends_at", 0, G_MAXINT64, 0, &ends_at)) {
    if (duration > 0)
      ends_at = now + duration;
    if (ends_at > 0 && ends_at <= now) {
      lc__op_fail(op, "invalid_argument", "group deal: ends_at is in the past");
    } else if (qty > s->available[k]) {
      lc__op_fail(op, "out_of_stock", "SKU %s has %" G_GINT64_FORMAT " units available", sku, s->available[k]);
    } else {
      lc__fact *f = lc__fact_new(LC__FACT_GROUP_OPENED);
      lc__fact_group_opened *x = &f->u.group_opened;
      x->id = id;
      id = NULL;
      x->sku = g_strdup(sku);
      x->price = price;
      x->team_size = size;
      x->fill_ms = fill;
      x->quantity = qty;
      x->per_user_limit = limit;
      x->starts_at = now;
      x->ends_at = ends_at;
      lc__show_commit(s, op, f, lc__committed_group_deal, NULL, NULL);
    }
  }
  g_free(id);
}

void
lc_show_group_close(lc_show *s, const char *deal_id, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  deal *d = deal_find(s, deal_id);
  if (!d) {
    lc__op_fail(op, "not_found", "no group deal '%s'", deal_id ? deal_id : "");
    return;
  }
  if (d->ended) {
    lc__op_fail(op, "invalid_state", "group deal '%s' has ended", d->id);
    return;
  }
  lc__fact *f = lc__fact_new(LC__FACT_GROUP_CLOSED);
  f->u.group_closed.id = g_strdup(d->id);
  f->u.group_closed.reason = g_strdup("closed by the moderator");
  f->u.group_closed.at = lc__show_now(s);
  lc__show_commit(s, op, f, lc__committed_group_deal, NULL, NULL);
}

typedef struct {
  const deal *d;
  const char *team;   /* NULL: a new team, named after the starter's order */
  gint64 deadline;
  const char *name;
} seat_fill;

static void
fill_seat(lc__fact_order_created *x, gpointer data)
{
  const seat_fill *sf = data;
  x->group_deal = g_strdup(sf->d->id);
  /* a team's id is its starter's order number ("t-17" for o-17; in cluster mode the store numbers) */
  x->team = sf->team ? g_strdup(sf->team) : g_strdup_printf("t-%s", x->id + 2);
  x->team_deadline = sf->deadline;
  x->member_name = g_strdup(sf->name);
}

/* The checks a seat passes whether it starts a team or joins one; then the order. */
static void
take_seat(lc_show *s, lc__op *op, const lc_show_caller *caller, deal *d, const team *t, const char *claim_id)
{
  const char *state = deal_state(s, d);
  if (strcmp(state, "live") != 0) {
    lc__op_fail(op, "invalid_state", "the group deal is %s", state);
    return;
  }
  if (d->quantity - d->taken < 1) {
    lc__op_fail(op, "sold_out", "all %" G_GINT64_FORMAT " units of the group deal are taken", d->quantity);
    return;
  }
  if (seats_of(d, caller->user) + 1 > d->per_user_limit) {
    lc__op_fail(op, "limit_exceeded", "at most %" G_GINT64_FORMAT " seat(s) per person in this deal", d->per_user_limit);
    return;
  }
  claim *cl = NULL;
  gint64 off = 0;
  if (claim_id) {
    char *msg = NULL;
    const char *code = lc__claim_apply(s, caller->user, claim_id, d->price, &cl, &off, &msg);
    if (code) {
      lc__op_fail(op, code, "%s", msg);
      g_free(msg);
      return;
    }
  }
  GArray *items = g_array_new(FALSE, TRUE, sizeof(lc__fact_order_item));
  lc__fact_order_item line = {g_strdup(d->sku_id), 1, d->price, NULL, NULL, NULL, 0};
  g_array_append_val(items, line);
  seat_fill sf = {d, t ? t->id : NULL, t ? t->deadline : lc__show_now(s) + d->fill_ms,
                  caller->name && *caller->name ? caller->name : caller->user};
  lc__order_create(s, op, caller, items, d->price, cl, off, 0, false, fill_seat, &sf);
}

void
lc_show_group_start(lc_show *s, const lc_show_caller *caller, const char *deal_id, const char *claim_id,
                    lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op || !lc__buying_allowed(s, op, caller))
    return;
  deal *d = deal_find(s, deal_id);
  if (!d)
    lc__op_fail(op, "not_found", "no group deal '%s'", deal_id ? deal_id : "");
  else
    take_seat(s, op, caller, d, NULL, claim_id);
}

void
lc_show_group_join(lc_show *s, const lc_show_caller *caller, const char *team_id, const char *claim_id,
                   lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op || !lc__buying_allowed(s, op, caller))
    return;
  team *t = team_id ? g_hash_table_lookup(s->teams, team_id) : NULL;
  if (!t)
    lc__op_fail(op, "not_found", "no team '%s'", team_id ? team_id : "");
  else if (t->state == TEAM_FORMED)
    lc__op_fail(op, "team_full", "team %s is full", t->id);
  else if (t->state == TEAM_FAILED)
    lc__op_fail(op, "invalid_state", "team %s has closed: %s", t->id, t->reason ? t->reason : "failed");
  else if (lc__show_now(s) >= t->deadline)
    lc__op_fail(op, "invalid_state", "team %s ran out of time", t->id);
  else if (is_member(t, caller->user))
    lc__op_fail(op, "invalid_state", "you are already in team %s", t->id);
  else
    take_seat(s, op, caller, t->d, t, claim_id);
}
