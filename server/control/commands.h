/* Moderator commands for rooms on the control socket:
 *   rooms.list {}            -> {"rooms": [ROOM...]}
 *   room.create {id, title?, creator?, stream_key?, scheduled_at?, overlays?, record?, shop?}
 *                          -> {"room": ROOM+stream_key}
 *   room.show {id}           -> {"room": ROOM+stream_key}
 *   room.start {id}          -> {"room": ROOM}   (scheduled -> live)
 *   room.end {id}            -> {"room": ROOM}
 * Answers are sent after the store committed the change. Main thread. */
#pragma once
#include "control/control.h"
#include "rooms/rooms.h"

void lc_commands_register_rooms(lc_control *ctl, lc_rooms *rooms);
