/* Moderator commands for the show on the control socket (every one takes "room"):
 *   catalog.load {room, catalog}         product.pin {room, product}   product.unpin {room}
 *   flash.schedule {room, sku, price, quantity, per_user_limit?, id?, starts_at?|start_in_ms?,
 *                   ends_at?|duration_ms?}   flash.start {room, id}   flash.stop {room, id}
 *   coupon.drop {room, id, kind, ...}    order.list {room, user?, state?, limit?}
 *   order.pay {room, id, payment_ref?}   order.cancel {room, id, reason?}
 *   chat.mute {room, user, seconds, reason?}  chat.unmute {room, user}
 *   chat.ban {room, user}  chat.unban {room, user}  chat.delete {room, id}
 *   chat.slowmode {room, seconds}        stats {room}   show.snapshot {room}
 * and token.mint {user, room?, name?, ttl_s?} for development tokens.
 * Answers come after the store committed the change. Main thread. */
#pragma once
#include "control/control.h"
#include "commerce/show.h"

typedef struct {
  lc_show *(*show_for)(const char *room, gpointer user); /* NULL: no such room */
  const char *jwt_secret;                                /* borrowed; outlives the control socket */
  gpointer user;
} lc_show_commands;

/* sc is borrowed: it must outlive the control socket. */
void lc_commands_register_show(lc_control *ctl, const lc_show_commands *sc);
