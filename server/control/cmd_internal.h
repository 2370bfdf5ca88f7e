/* Helpers shared by the show's command files (cmd_show.c, cmd_market.c): finding the room's
 * show, reading arguments, answering with the engine's result. Each helper that fails ends
 * the request with invalid_argument / not_found and returns NULL / false; the caller then
 * just returns. Main thread. */
#pragma once
#include "control/cmd_show.h"

/* The show of args.room: invalid_argument when room is not a string, not_found when no
 * such room. */
lc_show *lc_cmd_show_arg(lc_ctl_req *req, json_t *args, const lc_show_commands *cfg);
/* args[name] as a non-empty string (borrowed); NULL without failing when absent and not
 * required. */
const char *lc_cmd_str_arg(lc_ctl_req *req, json_t *args, const char *name, bool required);
/* args[name] as an integer. */
bool lc_cmd_int_arg(lc_ctl_req *req, json_t *args, const char *name, gint64 *out);
/* An lc_show_done that ends the request (user) with the engine's answer. */
void lc_cmd_done(const lc_show_result *r, gpointer user);
/* args without "room", for the engine's spec parsers. transfer full. */
json_t *lc_cmd_without_room(json_t *args);
