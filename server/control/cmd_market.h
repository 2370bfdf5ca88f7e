/* Moderator commands for the show's marketing tools (docs/marketing.md, docs/control.md);
 * every one takes "room":
 *   group.open {room, sku, price, team_size, quantity, fill_ms?, per_user_limit?, id?,
 *               duration_ms?|ends_at?}                         -> {deal}
 *   group.close {room, id}                                    -> {deal}
 *   group.status {room, id?}                                  -> {deals: [DEAL + teams]}
 *   gifts.load {room, gifts: [...], coin_cents?, creator_pct?} -> {catalog, coin_cents, creator_pct}
 *   gifts.statement {room}                                    -> the show's gift statement
 *   promo.set {room, sku, kind, buy?, free?, percent_off?, amount_off?, starts_at?, ends_at?,
 *              label?}                                        -> {sku, promotion}
 *   promo.clear {room, sku}                                   -> {sku, promotion: null}
 *   wallet.get {room, user}                                   -> {shop, user, coins}
 * Registered by lc_commands_register_show with the same lc_show_commands. Answers come after
 * the store committed the change. Main thread. */
#pragma once
#include "control/cmd_show.h"

/* sc is borrowed: it must outlive the control socket. */
void lc_commands_register_market(lc_control *ctl, const lc_show_commands *sc);
