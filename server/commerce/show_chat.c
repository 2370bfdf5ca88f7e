/* Chat with moderation (word filter, rate limit, slow mode, mute, ban, delete), likes
 * and the viewer count. Chat messages are not journaled (only moderation is). */
#define LC_LOG_DOMAIN "show"
#include "base/display_name.h"
#include "base/errors.h"
#include "base/log.h"
#include "commerce/show_internal.h"
#include "base/show_limits.h"

#include <string.h>

#define LIKES_JOURNAL_MS 5000

void
lc__chat_msg_free(gpointer p)
{
  chat_msg *m = p;
  g_free(m->id);
  g_free(m->user);
  g_free(m->name);
  g_free(m->text);
  g_free(m);
}

static json_t *
msg_json(const chat_msg *m)
{
  return json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", m->id, "user", m->user, "name", m->name, "text", m->text,
                   "at", (json_int_t)m->at);
}

json_t *
lc__chat_json(lc_show *s)
{
  json_t *a = json_array();
  for (GList *l = s->chat.head; l; l = l->next)
    json_array_append_new(a, msg_json(l->data));
  return a;
}

chatter *
lc__chatter(lc_show *s, const char *user)
{
  chatter *c = g_hash_table_lookup(s->chatters, user);
  if (!c) {
    c = g_new0(chatter, 1);
    g_hash_table_insert(s->chatters, g_strdup(user), c);
  }
  return c;
}

void
lc__chatter_free(gpointer p)
{
  chatter *c = p;
  g_free(c->mute_reason);
  g_free(c);
}

void
lc__chat_me(lc_show *s, const char *user, json_t *me)
{
  chatter *c = user ? g_hash_table_lookup(s->chatters, user) : NULL;
  bool muted = c && c->until_ms > lc__show_now(s);
  json_object_set_new(me, "muted_until", json_integer(muted ? c->until_ms : 0));
  json_object_set_new(me, "mute_reason", json_string(muted && c->mute_reason ? c->mute_reason : ""));
  json_object_set_new(me, "banned", json_boolean(c && c->banned));
}

static bool
text_ok(const char *text)
{
  size_t n = text ? strlen(text) : 0;
  if (n < 1 || n > LC_SHOW_MAX_CHAT_BYTES || !g_utf8_validate(text, (gssize)n, NULL))
    return false;
  for (const char *p = text; *p; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (g_unichar_iscntrl(c))
      return false;
  }
  return true;
}

void
lc_show_chat_send(lc_show *s, const lc_show_caller *caller, const char *text, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, caller, done, user);
  if (!op)
    return;
  if (!caller || !caller->user) {
    lc__op_fail(op, "unauthorized", "sign in to chat");
    return;
  }
  if (!text_ok(text)) {
    lc__op_fail(op, "invalid_argument", "a message is 1-%d bytes of text without control characters",
                LC_SHOW_MAX_CHAT_BYTES);
    return;
  }
  /* The token's name goes next to the text in every viewer's chat: the display-name rules
   * apply (no bidi overrides, zero-width or control characters). A caller without a name
   * is shown by its user id, which the token check keeps to [A-Za-z0-9_.:@-]. */
  const char *why = NULL;
  if (caller->name && strcmp(caller->name, caller->user) != 0 &&
      lc_display_name_check(caller->name, strlen(caller->name), &why) != 0) {
    lc__op_fail(op, "invalid_name", "your display name cannot be shown in chat (%s); sign in with another name",
                why);
    return;
  }
  gint64 now = lc__show_now(s);
  chatter *c = lc__chatter(s, caller->user);
  gint64 interval = MAX(s->cfg.chat_min_interval_ms, s->slow_mode_s * 1000);
  if (c->banned) {
    lc__op_fail(op, "banned", "you are banned from this room's chat");
    return;
  }
  if (c->until_ms > now) {
    lc__op_fail(op, "muted", "you are muted for %" G_GINT64_FORMAT " more seconds", (c->until_ms - now + 999) / 1000);
    return;
  }
  if (c->last_msg_ms && now - c->last_msg_ms < interval) {
    lc__op_fail(op, s->slow_mode_s ? "slow_mode" : "rate_limited", "wait %" G_GINT64_FORMAT " ms before the next message",
                interval - (now - c->last_msg_ms));
    return;
  }
  c->last_msg_ms = now;
  if (s->cfg.remote && !(s->cfg.chat_filter && lc_wordfilter_match(s->cfg.chat_filter, text, strlen(text), &(const char *){NULL}))) {
    /* every node shows it at the same entry, numbered by the stream */
    lc__remote_send(s, op, "chat",
                    json_pack("{s:s, s:s, s:s, s:I}", "user", caller->user, "name",
                              caller->name ? caller->name : caller->user, "text", text, "at", (json_int_t)now),
                    "m", NULL);
    return;
  }
  chat_msg *m = g_new0(chat_msg, 1);
  m->id = g_strdup_printf("m-%s-%" G_GINT64_FORMAT, s->epoch, ++s->next_msg);
  m->user = g_strdup(caller->user);
  m->name = g_strdup(caller->name ? caller->name : caller->user);
  m->text = g_strdup(text);
  m->at = now;
  json_t *mj = msg_json(m);
  const char *word = NULL;
  if (s->cfg.chat_filter && lc_wordfilter_match(s->cfg.chat_filter, text, strlen(text), &word)) {
    /* Shown to its sender only: the sender's other tabs get it too, nobody else does. */
    s->origin = caller->origin;
    lc__show_private_answer(s, caller->user, LC_SHOW_EV_CHAT_MESSAGE, json_incref(mj));
    s->origin = NULL;
    lc__show_alert(s, LC_SHOW_EV_CHAT_BLOCKED,
                   json_pack("{s:s, s:O, s:s}", "room", s->room, "message", mj, "word", word));
    lc__chat_msg_free(m);
    lc__op_reply(op, json_pack("{s:o, s:s}", "message", mj, "visibility", "sender"));
    return;
  }
  g_queue_push_tail(&s->chat, m);
  while ((int)g_queue_get_length(&s->chat) > s->cfg.chat_recent)
    lc__chat_msg_free(g_queue_pop_head(&s->chat));
  lc__show_event(s, LC_SHOW_EV_CHAT_MESSAGE, json_incref(mj));
  lc__op_reply(op, json_pack("{s:o, s:s}", "message", mj, "visibility", "room"));
}

void
lc__apply_chat_muted(lc_show *s, const lc__fact_chat_muted *f)
{
  chatter *c = lc__chatter(s, f->user);
  c->until_ms = f->until;
  g_free(c->mute_reason);
  c->mute_reason = c->until_ms && f->reason ? g_strdup(f->reason) : NULL;
}

void
lc__apply_chat_banned(lc_show *s, const lc__fact_chat_banned *f)
{
  lc__chatter(s, f->user)->banned = f->banned;
}

void
lc__apply_chat_slowmode(lc_show *s, const lc__fact_chat_slowmode *f)
{
  s->slow_mode_s = f->seconds;
}

/* The answer, the private event and the alert carry the fact as the journal has it. */
json_t *
lc__committed_moderation(lc_show *s, const lc__fact *f, gpointer data)
{
  json_t *fact = lc__fact_to_json(f);
  if (f->kind == LC__FACT_CHAT_SLOWMODE)
    lc__show_event(s, LC_SHOW_EV_CHAT_SLOWMODE, json_pack("{s:I}", "seconds", (json_int_t)s->slow_mode_s));
  else if (f->kind == LC__FACT_CHAT_MUTED)
    lc__show_private(s, f->u.chat_muted.user, LC_SHOW_EV_CHAT_MUTED, json_deep_copy(fact));
  else
    lc__show_private(s, f->u.chat_banned.user, LC_SHOW_EV_CHAT_BANNED, json_deep_copy(fact));
  lc_show_event_kind kind = f->kind == LC__FACT_CHAT_SLOWMODE ? LC_SHOW_EV_CHAT_SLOWMODE
                            : f->kind == LC__FACT_CHAT_MUTED  ? LC_SHOW_EV_CHAT_MUTED
                                                              : LC_SHOW_EV_CHAT_BANNED;
  lc__show_alert(s, kind, json_pack("{s:s, s:O}", "room", s->room, "moderation", fact));
  return fact;
}

static bool
valid_user(const char *user)
{
  size_t n = user ? strlen(user) : 0;
  return n >= 1 && n <= 64 && g_utf8_validate(user, -1, NULL);
}

void
lc_show_chat_mute(lc_show *s, const char *user_id, gint64 seconds, const char *reason, lc_show_done done,
                  gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  if (!valid_user(user_id) || seconds < 0 || seconds > 30 * 24 * 3600) {
    lc__op_fail(op, "invalid_argument", "give a user id and 0 to 2592000 seconds (0 unmutes)");
    return;
  }
  lc__fact *f = lc__fact_new(LC__FACT_CHAT_MUTED);
  f->u.chat_muted.user = g_strdup(user_id);
  f->u.chat_muted.until = seconds ? lc__show_now(s) + seconds * 1000 : 0;
  f->u.chat_muted.reason = g_strdup(reason);
  lc__show_commit(s, op, f, lc__committed_moderation, NULL, NULL);
}

void
lc_show_chat_ban(lc_show *s, const char *user_id, bool banned, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  if (!valid_user(user_id)) {
    lc__op_fail(op, "invalid_argument", "give a user id");
    return;
  }
  lc__fact *f = lc__fact_new(LC__FACT_CHAT_BANNED);
  f->u.chat_banned.user = g_strdup(user_id);
  f->u.chat_banned.banned = banned;
  lc__show_commit(s, op, f, lc__committed_moderation, NULL, NULL);
}

void
lc_show_chat_slowmode(lc_show *s, gint64 seconds, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  if (seconds < 0 || seconds > 3600) {
    lc__op_fail(op, "invalid_argument", "slow mode is 0 (off) to 3600 seconds");
    return;
  }
  lc__fact *f = lc__fact_new(LC__FACT_CHAT_SLOWMODE);
  f->u.chat_slowmode.seconds = seconds;
  lc__show_commit(s, op, f, lc__committed_moderation, NULL, NULL);
}

void
lc_show_chat_delete(lc_show *s, const char *message_id, lc_show_done done, gpointer user)
{
  lc__op *op = lc__op_begin(s, NULL, done, user);
  if (!op)
    return;
  if (s->cfg.remote && message_id && g_str_has_prefix(message_id, "m-")) {
    lc__remote_send(s, op, "chat.deleted", json_pack("{s:s}", "id", message_id), NULL, NULL);
    return;
  }
  for (GList *l = s->chat.head; message_id && l; l = l->next) {
    chat_msg *m = l->data;
    if (strcmp(m->id, message_id) == 0) {
      json_t *data = json_pack("{s:s, s:s}", "id", m->id, "user", m->user);
      g_queue_delete_link(&s->chat, l);
      lc__chat_msg_free(m);
      lc__show_event(s, LC_SHOW_EV_CHAT_DELETED, json_incref(data));
      lc__op_reply(op, data);
      return;
    }
  }
  /* Older than the kept history: still tell the clients, they may show it. */
  if (message_id && g_str_has_prefix(message_id, "m-")) {
    json_t *data = json_pack("{s:s}", "id", message_id);
    lc__show_event(s, LC_SHOW_EV_CHAT_DELETED, json_incref(data));
    lc__op_reply(op, data);
    return;
  }
  lc__op_fail(op, "not_found", "no chat message '%s'", message_id ? message_id : "");
}

/* ---- likes and viewers --------------------------------------------------------------- */

void
lc__apply_likes(lc_show *s, const lc__fact_likes *f)
{
  s->likes = MAX(s->likes, f->total);
}

static gboolean
journal_likes(gpointer user)
{
  lc_show *s = user;
  s->likes_timer = 0;
  if (s->broken || s->stopping || s->likes == s->likes_journaled)
    return G_SOURCE_REMOVE;
  s->likes_journaled = s->likes;
  lc__fact *f = lc__fact_new(LC__FACT_LIKES);
  f->u.likes.total = s->likes;
  lc__show_commit(s, NULL, f, NULL, NULL, NULL);
  return G_SOURCE_REMOVE;
}

void
lc_show_like(lc_show *s, const char *user, gint64 count)
{
  if (count < 1 || count > LC_SHOW_MAX_LIKES)
    return;
  if (s->cfg.remote) { /* summed by the store; every node shows the total of its counts entries */
    s->likes_unsent += count;
    lc__show_dirty_likes(s);
    return;
  }
  s->likes += count;
  lc__show_dirty_likes(s);
  if (!s->likes_timer)
    s->likes_timer = s->stopping ? 0 : lc_clock_timeout_add(s->cfg.clock, LIKES_JOURNAL_MS, journal_likes, s);
}

void
lc_show_viewer(lc_show *s, const char *user, int delta)
{
  s->viewers = MAX(s->viewers + delta, 0);
  s->peak_viewers = MAX(s->peak_viewers, s->viewers);
  if (delta > 0) {
    if (user)
      g_hash_table_add(s->seen_users, g_strdup(user)); /* add frees the duplicate key itself */
    else
      s->anon_joins++;
  }
  lc__show_dirty_viewers(s);
}

/* ---- cluster mode: chat entries -------------------------------------------------------- */

json_t *
lc__chat_apply_message(lc_show *s, const json_t *data, const char *n)
{
  const char *user = NULL, *name = NULL, *text = NULL;
  json_int_t at = 0;
  if (json_unpack((json_t *)data, "{s:s, s:s, s:s, s:I}", "user", &user, "name", &name, "text", &text, "at", &at) != 0)
    return NULL;
  chat_msg *m = g_new0(chat_msg, 1);
  m->id = g_strdup_printf("m-%s-%s", s->epoch, n ? n : "0");
  m->user = g_strdup(user);
  m->name = g_strdup(name);
  m->text = g_strdup(text);
  m->at = at;
  json_t *mj = msg_json(m);
  g_queue_push_tail(&s->chat, m);
  while ((int)g_queue_get_length(&s->chat) > s->cfg.chat_recent)
    lc__chat_msg_free(g_queue_pop_head(&s->chat));
  lc__show_event(s, LC_SHOW_EV_CHAT_MESSAGE, json_incref(mj));
  return json_pack("{s:o, s:s}", "message", mj, "visibility", "room");
}

json_t *
lc__chat_apply_deleted(lc_show *s, const json_t *data)
{
  const char *id = json_string_value(json_object_get(data, "id"));
  if (!id)
    return NULL;
  json_t *out = NULL;
  for (GList *l = s->chat.head; l; l = l->next) {
    chat_msg *m = l->data;
    if (strcmp(m->id, id) == 0) {
      out = json_pack("{s:s, s:s}", "id", m->id, "user", m->user);
      g_queue_delete_link(&s->chat, l);
      lc__chat_msg_free(m);
      break;
    }
  }
  if (!out)
    out = json_pack("{s:s}", "id", id);
  lc__show_event(s, LC_SHOW_EV_CHAT_DELETED, json_incref(out));
  return out;
}
