#define LC_LOG_DOMAIN "commands"
#include "control/cmd_show.h"
#include "control/cmd_internal.h"
#include "control/cmd_market.h"
#include "base/errors.h"
#include "auth/jwt.h"
#include "base/log.h"

#include <string.h>


/* ---- helpers ----------------------------------------------------------------------- */

lc_show *
lc_cmd_show_arg(lc_ctl_req *req, json_t *args, const lc_show_commands *cfg)
{
  const char *room = json_string_value(json_object_get(args, "room"));
  if (!room) {
    lc_ctl_req_fail(req, "invalid_argument", "args.room must be a string (the room id)");
    return NULL;
  }
  lc_show *show = cfg->show_for(room, cfg->user);
  if (!show)
    lc_ctl_req_fail(req, "not_found", "no room '%s'", room);
  return show;
}

const char *
lc_cmd_str_arg(lc_ctl_req *req, json_t *args, const char *name, bool required)
{
  json_t *v = json_object_get(args, name);
  if (!v && !required)
    return NULL;
  if (!json_is_string(v) || json_string_length(v) == 0) {
    lc_ctl_req_fail(req, "invalid_argument", "args.%s must be a non-empty string", name);
    return NULL;
  }
  return json_string_value(v);
}

bool
lc_cmd_int_arg(lc_ctl_req *req, json_t *args, const char *name, gint64 *out)
{
  json_t *v = json_object_get(args, name);
  if (!json_is_integer(v)) {
    lc_ctl_req_fail(req, "invalid_argument", "args.%s must be an integer", name);
    return false;
  }
  *out = json_integer_value(v);
  return true;
}

/* The engine's answer -> the control request. */
void
lc_cmd_done(const lc_show_result *r, gpointer user)
{
  lc_ctl_req *req = user;
  if (r->code)
    lc_ctl_req_fail(req, r->code, "%s", r->message);
  else
    lc_ctl_req_reply(req, json_deep_copy(r->result));
}

/* args without "room", for the engine's spec parsers. transfer full. */
json_t *
lc_cmd_without_room(json_t *args)
{
  json_t *spec = json_deep_copy(args);
  json_object_del(spec, "room");
  return spec;
}

/* The commands that take a room and one string argument and call the engine. */
typedef void (*show_str_fn)(lc_show *show, const char *arg, lc_show_done done, gpointer user);

static void
room_and_string(lc_ctl_req *req, json_t *args, gpointer user, const char *field, show_str_fn fn)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  const char *v = show ? lc_cmd_str_arg(req, args, field, true) : NULL;
  if (v)
    fn(show, v, lc_cmd_done, req);
}

/* ---- commands ----------------------------------------------------------------------- */

static void
cmd_catalog_load(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  if (!show)
    return;
  json_t *catalog = json_object_get(args, "catalog");
  if (!json_is_object(catalog)) {
    lc_ctl_req_fail(req, "invalid_argument", "args.catalog must be the catalog object");
    return;
  }
  lc_show_catalog_load(show, catalog, lc_cmd_done, req);
}

static void
cmd_pin(lc_ctl_req *req, json_t *args, gpointer user)
{
  room_and_string(req, args, user, "product", lc_show_pin);
}

static void
cmd_unpin(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  if (show)
    lc_show_pin(show, NULL, lc_cmd_done, req);
}

static void
cmd_flash_schedule(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  if (!show)
    return;
  json_t *spec = lc_cmd_without_room(args);
  lc_show_flash_schedule(show, spec, lc_cmd_done, req);
  json_decref(spec);
}

static void
cmd_flash_start(lc_ctl_req *req, json_t *args, gpointer user)
{
  room_and_string(req, args, user, "id", lc_show_flash_start);
}

static void
cmd_flash_stop(lc_ctl_req *req, json_t *args, gpointer user)
{
  room_and_string(req, args, user, "id", lc_show_flash_stop);
}

static void
cmd_coupon_drop(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  if (!show)
    return;
  json_t *spec = lc_cmd_without_room(args);
  lc_show_coupon_drop(show, spec, lc_cmd_done, req);
  json_decref(spec);
}

static void
cmd_order_list(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  if (!show)
    return;
  json_t *u = json_object_get(args, "user"), *st = json_object_get(args, "state"), *lim = json_object_get(args, "limit");
  if ((u && !json_is_string(u)) || (st && !json_is_string(st)) || (lim && !json_is_integer(lim))) {
    lc_ctl_req_fail(req, "invalid_argument", "user and state are strings, limit an integer");
    return;
  }
  json_t *orders = lc_show_orders(show, json_string_value(u), json_string_value(st));
  gint64 limit = lim ? json_integer_value(lim) : 100;
  size_t total = json_array_size(orders);
  while (limit >= 0 && json_array_size(orders) > (size_t)limit)
    json_array_remove(orders, json_array_size(orders) - 1);
  lc_ctl_req_reply(req, json_pack("{s:o, s:I}", "orders", orders, "total", (json_int_t)total));
}

static void
cmd_order_pay(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  const char *id = show ? lc_cmd_str_arg(req, args, "id", true) : NULL;
  if (!id)
    return;
  json_t *ref = json_object_get(args, "payment_ref");
  lc_show_order_pay(show, id, json_is_string(ref) ? json_string_value(ref) : "manual", lc_cmd_done, req);
}

static void
cmd_order_cancel(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  const char *id = show ? lc_cmd_str_arg(req, args, "id", true) : NULL;
  if (!id)
    return;
  json_t *reason = json_object_get(args, "reason");
  lc_show_order_cancel_mod(show, id, json_string_value(reason), lc_cmd_done, req);
}

static void
cmd_chat_mute(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  const char *who = show ? lc_cmd_str_arg(req, args, "user", true) : NULL;
  gint64 seconds;
  if (who && lc_cmd_int_arg(req, args, "seconds", &seconds))
    lc_show_chat_mute(show, who, seconds, json_string_value(json_object_get(args, "reason")), lc_cmd_done, req);
}

static void
cmd_chat_unmute(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  const char *who = show ? lc_cmd_str_arg(req, args, "user", true) : NULL;
  if (who)
    lc_show_chat_mute(show, who, 0, NULL, lc_cmd_done, req);
}

static void
chat_ban(lc_ctl_req *req, json_t *args, gpointer user, bool banned)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  const char *who = show ? lc_cmd_str_arg(req, args, "user", true) : NULL;
  if (who)
    lc_show_chat_ban(show, who, banned, lc_cmd_done, req);
}

static void
cmd_chat_ban(lc_ctl_req *req, json_t *args, gpointer user)
{
  chat_ban(req, args, user, true);
}

static void
cmd_chat_unban(lc_ctl_req *req, json_t *args, gpointer user)
{
  chat_ban(req, args, user, false);
}

static void
cmd_chat_delete(lc_ctl_req *req, json_t *args, gpointer user)
{
  room_and_string(req, args, user, "id", lc_show_chat_delete);
}

static void
cmd_chat_slowmode(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  gint64 seconds;
  if (show && lc_cmd_int_arg(req, args, "seconds", &seconds))
    lc_show_chat_slowmode(show, seconds, lc_cmd_done, req);
}

static void
cmd_stats(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  if (show)
    lc_ctl_req_reply(req, lc_show_stats(show));
}

static void
cmd_snapshot(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  if (show)
    lc_ctl_req_reply(req, json_pack("{s:s, s:I, s:o}", "epoch", lc_show_epoch(show), "seq",
                                    (json_int_t)lc_show_seq(show), "state", lc_show_snapshot(show, NULL)));
}

static void
cmd_token_mint(lc_ctl_req *req, json_t *args, gpointer user)
{
  const char *who = lc_cmd_str_arg(req, args, "user", true);
  if (!who)
    return;
  json_t *room = json_object_get(args, "room"), *name = json_object_get(args, "name"), *ttl = json_object_get(args, "ttl_s");
  if ((room && !json_is_string(room)) || (name && !json_is_string(name)) ||
      (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 1))) {
    lc_ctl_req_fail(req, "invalid_argument", "room and name are strings, ttl_s a positive integer");
    return;
  }
  gint64 now = g_get_real_time() / G_USEC_PER_SEC;
  gint64 exp = now + (ttl ? json_integer_value(ttl) : 24 * 3600);
  json_t *claims = json_pack("{s:s, s:I, s:I}", "sub", who, "iat", (json_int_t)now, "exp", (json_int_t)exp);
  if (room)
    json_object_set(claims, "room", room);
  if (name)
    json_object_set(claims, "name", name);
  char *token = lc_jwt_mint(((const lc_show_commands *)user)->jwt_secret, strlen(((const lc_show_commands *)user)->jwt_secret), claims);
  json_t *check = NULL;
  const char *why = NULL;
  if (lc_jwt_verify(token, strlen(token), ((const lc_show_commands *)user)->jwt_secret, strlen(((const lc_show_commands *)user)->jwt_secret), now, &check, &why) != 0) {
    lc_ctl_req_fail(req, "invalid_argument", "cannot mint a token for these claims: %s", why);
  } else {
    lc_ctl_req_reply(req, json_pack("{s:s, s:I, s:O}", "token", token, "expires_at", (json_int_t)exp * 1000,
                                    "claims", claims));
  }
  json_decref(check);
  json_decref(claims);
  g_free(token);
}

void
lc_commands_register_show(lc_control *ctl, const lc_show_commands *sc)
{
  static const struct {
    const char *cmd, *help;
    lc_ctl_handler fn;
  } table[] = {
    {"catalog.load", "load a room's catalog {room, catalog}", cmd_catalog_load},
    {"product.pin", "pin the product card {room, product}", cmd_pin},
    {"product.unpin", "unpin the product card {room}", cmd_unpin},
    {"flash.schedule", "schedule a flash sale {room, sku, price, quantity, per_user_limit?, id?, "
                       "starts_at?|start_in_ms?, ends_at?|duration_ms?}", cmd_flash_schedule},
    {"flash.start", "start a scheduled flash sale now {room, id}", cmd_flash_start},
    {"flash.stop", "stop a flash sale {room, id}", cmd_flash_stop},
    {"coupon.drop", "drop a coupon {room, id, kind, amount_off|percent_off, min_spend?, quantity, ...}",
     cmd_coupon_drop},
    {"order.list", "list orders {room, user?, state?, limit?}", cmd_order_list},
    {"order.pay", "mark an order paid {room, id, payment_ref?}", cmd_order_pay},
    {"order.cancel", "cancel an unpaid order {room, id, reason?}", cmd_order_cancel},
    {"chat.mute", "mute a user {room, user, seconds, reason?}", cmd_chat_mute},
    {"chat.unmute", "unmute a user {room, user}", cmd_chat_unmute},
    {"chat.ban", "ban a user from chat {room, user}", cmd_chat_ban},
    {"chat.unban", "lift a ban {room, user}", cmd_chat_unban},
    {"chat.delete", "delete a chat message {room, id}", cmd_chat_delete},
    {"chat.slowmode", "set slow mode {room, seconds} (0: off)", cmd_chat_slowmode},
    {"stats", "show statistics {room}: viewers, likes, orders, GMV, conversion", cmd_stats},
    {"show.snapshot", "the show's public state {room}", cmd_snapshot},
    {"token.mint", "mint a viewer token {user, room?, name?, ttl_s?} (development)", cmd_token_mint},
  };
  for (unsigned i = 0; i < G_N_ELEMENTS(table); i++)
    lc_control_register(ctl, table[i].cmd, table[i].help, table[i].fn, (gpointer)sc);
  lc_commands_register_market(ctl, sc);
}
