#define LC_LOG_DOMAIN "commands"
#include "control/commands.h"
#include "base/errors.h"
#include "base/log.h"

static const char *
arg_id(lc_ctl_req *req, json_t *args)
{
  json_t *id = json_object_get(args, "id");
  if (!json_is_string(id)) {
    lc_ctl_req_fail(req, lc_errcode(LC_EINVAL), "args.id must be a string (the room id)");
    return NULL;
  }
  return json_string_value(id);
}

static void
room_done(int err, const char *message, const json_t *room, gpointer user)
{
  lc_ctl_req *req = user;
  if (err != 0) {
    lc_ctl_req_fail(req, lc_errcode(err), "%s", message);
    return;
  }
  lc_ctl_req_reply(req, json_pack("{s:O}", "room", room));
}

static void
cmd_rooms_list(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_ctl_req_reply(req, json_pack("{s:o}", "rooms", lc_rooms_list_json(user)));
}

static void
cmd_room_create(lc_ctl_req *req, json_t *args, gpointer user)
{
  lc_rooms_create(user, args, room_done, req);
}

static void
cmd_room_show(lc_ctl_req *req, json_t *args, gpointer user)
{
  const char *id = arg_id(req, args);
  if (!id)
    return;
  lc_room *room = lc_rooms_get(user, id);
  if (!room) {
    lc_ctl_req_fail(req, lc_errcode(LC_ENOENT), "no room '%s'", id);
    return;
  }
  lc_ctl_req_reply(req, json_pack("{s:o}", "room", lc_room_to_json(room, true)));
}

static void
cmd_room_start(lc_ctl_req *req, json_t *args, gpointer user)
{
  const char *id = arg_id(req, args);
  if (id)
    lc_rooms_start(user, id, room_done, req);
}

static void
cmd_room_end(lc_ctl_req *req, json_t *args, gpointer user)
{
  const char *id = arg_id(req, args);
  if (id)
    lc_rooms_end(user, id, room_done, req);
}

void
lc_commands_register_rooms(lc_control *ctl, lc_rooms *rooms)
{
  lc_control_register(ctl, "rooms.list", "list all rooms", cmd_rooms_list, rooms);
  lc_control_register(ctl, "room.create",
                      "create a room {id, title?, creator?, stream_key?, scheduled_at?, overlays?, record?, shop?}",
                      cmd_room_create, rooms);
  lc_control_register(ctl, "room.show", "show a room with its stream key {id}", cmd_room_show, rooms);
  lc_control_register(ctl, "room.start", "start a scheduled room: it goes live {id}", cmd_room_start, rooms);
  lc_control_register(ctl, "room.end", "end a room {id}", cmd_room_end, rooms);
}
