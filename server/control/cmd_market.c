/* The show's marketing commands: group buy, gifts, promotions, wallets. See cmd_market.h. */
#define LC_LOG_DOMAIN "commands"
#include "control/cmd_market.h"
#include "control/cmd_internal.h"
#include "commerce/promo.h"
#include "commerce/show_market.h"

#include <string.h>

/* ---- group buy -------------------------------------------------------------------- */

static void
cmd_group_open(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  if (!show)
    return;
  if (!lc_cmd_str_arg(req, args, "sku", true))
    return;
  json_t *spec = lc_cmd_without_room(args);
  lc_show_group_open(show, spec, lc_cmd_done, req);
  json_decref(spec);
}

static void
cmd_group_close(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  const char *id = show ? lc_cmd_str_arg(req, args, "id", true) : NULL;
  if (id)
    lc_show_group_close(show, id, lc_cmd_done, req);
}

static void
cmd_group_status(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  if (!show)
    return;
  const char *id = NULL;
  if (json_object_get(args, "id") && !json_is_null(json_object_get(args, "id")) &&
      !(id = lc_cmd_str_arg(req, args, "id", true)))
    return;
  json_t *status = lc_show_group_status(show, id);
  if (!status && id) {
    lc_ctl_req_fail(req, "not_found", "no group deal '%s'", id);
    return;
  }
  lc_ctl_req_reply(req, status ? status : json_pack("{s:[]}", "deals"));
}

/* ---- gifts and wallets ------------------------------------------------------------ */

static void
cmd_gifts_load(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  if (!show)
    return;
  if (!json_is_array(json_object_get(args, "gifts"))) {
    lc_ctl_req_fail(req, "invalid_argument",
                    "args.gifts must be an array of gifts {id, name, icon?, coins, class}");
    return;
  }
  json_t *spec = lc_cmd_without_room(args);
  lc_show_gifts_load(show, spec, lc_cmd_done, req);
  json_decref(spec);
}

static void
cmd_gifts_statement(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  if (!show)
    return;
  json_t *st = lc_show_gifts_statement(show);
  if (!st)
    st = json_object();
  if (!json_object_get(st, "room"))
    json_object_set(st, "room", json_object_get(args, "room"));
  lc_ctl_req_reply(req, st);
}

static void
cmd_wallet_get(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  const char *who = show ? lc_cmd_str_arg(req, args, "user", true) : NULL;
  if (!who)
    return;
  lc_show_wallet_get(show, who, lc_cmd_done, req); /* cluster mode: from Redis */
}

/* ---- promotions --------------------------------------------------------------------- */

static void
cmd_promo_set(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  const char *sku = show ? lc_cmd_str_arg(req, args, "sku", true) : NULL;
  if (!sku || !lc_cmd_str_arg(req, args, "kind", true))
    return;
  json_t *spec = lc_cmd_without_room(args);
  json_object_del(spec, "sku");
  /* Checked here too, so a wrong spec is refused with the field named before it reaches the
   * engine (which checks again when it applies it). */
  char *why = NULL;
  lc_promo *p = lc_promo_from_json(spec, &why);
  if (!p) {
    lc_ctl_req_fail(req, "invalid_argument", "%s", why ? why : "invalid promotion");
    g_free(why);
    json_decref(spec);
    return;
  }
  lc_promo_free(p);
  lc_show_promo_set(show, sku, spec, lc_cmd_done, req);
  json_decref(spec);
}

static void
cmd_promo_clear(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_show *show = lc_cmd_show_arg(req, args, user);
  const char *sku = show ? lc_cmd_str_arg(req, args, "sku", true) : NULL;
  if (sku)
    lc_show_promo_set(show, sku, NULL, lc_cmd_done, req);
}

void
lc_commands_register_market(lc_control *ctl, const lc_show_commands *sc)
{
  static const struct {
    const char *cmd, *help;
    lc_ctl_handler fn;
  } table[] = {
    {"group.open", "open a group deal {room, sku, price, team_size, quantity, fill_ms?, per_user_limit?, id?, "
                   "duration_ms?|ends_at?}", cmd_group_open},
    {"group.close", "end a group deal: open teams fail {room, id}", cmd_group_close},
    {"group.status", "group deals with every team, members unmasked {room, id?}", cmd_group_status},
    {"gifts.load", "load the gift catalog {room, gifts: [{id, name, icon, coins, class}], coin_cents?, "
                   "creator_pct?}", cmd_gifts_load},
    {"gifts.statement", "the show's gift statement per gift, with the revenue split {room}", cmd_gifts_statement},
    {"promo.set", "set a SKU's promotion {room, sku, kind: bogo|percent|fixed, buy?, free?, percent_off?, "
                  "amount_off?, starts_at?, ends_at?, label?}", cmd_promo_set},
    {"promo.clear", "remove a SKU's promotion {room, sku}", cmd_promo_clear},
    {"wallet.get", "a user's coin balance in the room's shop {room, user}", cmd_wallet_get},
  };
  for (unsigned i = 0; i < G_N_ELEMENTS(table); i++)
    lc_control_register(ctl, table[i].cmd, table[i].help, table[i].fn, (gpointer)sc);
}
