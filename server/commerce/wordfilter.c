#define LC_LOG_DOMAIN "wordfilter"
#include "commerce/wordfilter.h"
#include "base/errors.h"

#include <string.h>

#define MAX_WORD_BYTES 100
#define MAX_FILE_BYTES (8 * 1024 * 1024)

/* Aho-Corasick automaton over the bytes of the normalised UTF-8 form. UTF-8 is self-synchronising,
 * so a byte match of a valid word inside a valid text always starts and ends on character boundaries.
 * Node 0 is the root. Children are kept sorted by byte for a binary search. */
typedef struct {
  guint8 *keys;     /* sorted child bytes */
  guint32 *kids;    /* child node per key */
  guint32 n, cap;
  guint32 fail;     /* longest proper suffix that is a node */
  gint32 word;      /* index into words when a word ends here, else -1 */
  gint32 out;       /* word ending here or at the nearest node on the fail chain, else -1 */
} node;

struct lc_wordfilter {
  node *nodes;
  guint32 n_nodes, cap_nodes;
  GPtrArray *words; /* the words as added (char *) */
};

/* ---- normalisation ------------------------------------------------------------------------ */

static bool
is_separator(gunichar ch)
{
  if (ch == '%')
    return false; /* meaningful in "100%" */
  if (ch < 0x80)
    return g_ascii_isspace(ch) || g_ascii_ispunct(ch) || g_ascii_iscntrl(ch);
  if (ch == 0xFFFD)
    return true; /* a replaced invalid byte must not split a word apart */
  if ((ch >= 0xFE00 && ch <= 0xFE0F) || (ch >= 0xE0100 && ch <= 0xE01EF) || ch == 0x034F)
    return true; /* variation selectors, combining grapheme joiner: invisible */
  switch (g_unichar_type(ch)) {
  case G_UNICODE_CONTROL:
  case G_UNICODE_FORMAT:              /* zero-width space/joiners, BOM, soft hyphen */
  case G_UNICODE_SPACE_SEPARATOR:
  case G_UNICODE_LINE_SEPARATOR:
  case G_UNICODE_PARAGRAPH_SEPARATOR:
  case G_UNICODE_CONNECT_PUNCTUATION:
  case G_UNICODE_DASH_PUNCTUATION:
  case G_UNICODE_OPEN_PUNCTUATION:
  case G_UNICODE_CLOSE_PUNCTUATION:
  case G_UNICODE_INITIAL_PUNCTUATION:
  case G_UNICODE_FINAL_PUNCTUATION:
  case G_UNICODE_OTHER_PUNCTUATION:   /* 、。，！・… and the CJK brackets above */
    return true;
  default:
    return false;
  }
}

/* NFKC, casefold, separators removed. Returns a new string (g_free) and its length. */
static char *
normalise(const char *text, size_t len, size_t *out_len)
{
  char *valid = NULL;
  const char *src = text;
  if (!g_utf8_validate_len(text, len, NULL)) {
    valid = g_utf8_make_valid(text, (gssize)len); /* invalid bytes and NULs -> U+FFFD */
    src = valid;
    len = strlen(valid);
  }
  char *nfkc = g_utf8_normalize(src, (gssize)len, G_NORMALIZE_ALL_COMPOSE);
  g_free(valid);
  char *folded = g_utf8_casefold(nfkc ? nfkc : "", -1);
  g_free(nfkc);
  char *w = folded;
  for (const char *p = folded; *p;) {
    const char *next = g_utf8_next_char(p);
    if (!is_separator(g_utf8_get_char(p))) {
      memmove(w, p, (size_t)(next - p));
      w += next - p;
    }
    p = next;
  }
  *w = '\0';
  *out_len = (size_t)(w - folded);
  return folded;
}

/* ---- trie and automaton ------------------------------------------------------------------- */

static guint32
new_node(lc_wordfilter *wf)
{
  if (wf->n_nodes == wf->cap_nodes) {
    wf->cap_nodes = wf->cap_nodes ? wf->cap_nodes * 2 : 64;
    wf->nodes = g_renew(node, wf->nodes, wf->cap_nodes);
  }
  node *n = &wf->nodes[wf->n_nodes];
  memset(n, 0, sizeof *n);
  n->word = -1;
  n->out = -1;
  return wf->n_nodes++;
}

/* Position of byte b among n's children, or where it would be inserted (*found false). */
static guint32
child_pos(const node *n, guint8 b, bool *found)
{
  guint32 lo = 0, hi = n->n;
  while (lo < hi) {
    guint32 mid = (lo + hi) / 2;
    if (n->keys[mid] < b)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < n->n && n->keys[lo] == b;
  return lo;
}

/* Child node of n on byte b, or 0 (the root is never a child). */
static guint32
child(const node *n, guint8 b)
{
  bool found;
  guint32 pos = child_pos(n, b, &found);
  return found ? n->kids[pos] : 0;
}

static guint32
add_child(lc_wordfilter *wf, guint32 parent, guint8 b)
{
  guint32 id = new_node(wf); /* may move wf->nodes */
  node *n = &wf->nodes[parent];
  bool found;
  guint32 pos = child_pos(n, b, &found);
  g_assert(!found);
  if (n->n == n->cap) {
    n->cap = n->cap ? MIN(n->cap * 2, 256) : 2;
    n->keys = g_renew(guint8, n->keys, n->cap);
    n->kids = g_renew(guint32, n->kids, n->cap);
  }
  memmove(n->keys + pos + 1, n->keys + pos, n->n - pos);
  memmove(n->kids + pos + 1, n->kids + pos, (n->n - pos) * sizeof(guint32));
  n->keys[pos] = b;
  n->kids[pos] = id;
  n->n++;
  return id;
}

/* Inserts a normalised word; false when it was already there. */
static bool
insert(lc_wordfilter *wf, const char *norm, size_t len, const char *word)
{
  guint32 cur = 0;
  for (size_t i = 0; i < len; i++) {
    guint32 next = child(&wf->nodes[cur], (guint8)norm[i]);
    cur = next ? next : add_child(wf, cur, (guint8)norm[i]);
  }
  if (wf->nodes[cur].word >= 0)
    return false;
  wf->nodes[cur].word = (gint32)wf->words->len;
  g_ptr_array_add(wf->words, g_strdup(word));
  return true;
}

/* Recomputes fail and output links breadth-first. O(nodes * log(alphabet)). */
static void
build(lc_wordfilter *wf)
{
  guint32 *queue = g_new(guint32, wf->n_nodes);
  guint32 head = 0, tail = 0;
  node *nodes = wf->nodes;
  nodes[0].fail = 0;
  nodes[0].out = nodes[0].word;
  for (guint32 i = 0; i < nodes[0].n; i++) {
    guint32 k = nodes[0].kids[i];
    nodes[k].fail = 0;
    nodes[k].out = nodes[k].word;
    queue[tail++] = k;
  }
  while (head < tail) {
    guint32 u = queue[head++];
    for (guint32 i = 0; i < nodes[u].n; i++) {
      guint8 b = nodes[u].keys[i];
      guint32 v = nodes[u].kids[i];
      guint32 f = nodes[u].fail;
      guint32 t;
      while ((t = child(&nodes[f], b)) == 0 && f != 0)
        f = nodes[f].fail;
      nodes[v].fail = t;
      nodes[v].out = nodes[v].word >= 0 ? nodes[v].word : nodes[t].out;
      queue[tail++] = v;
    }
  }
  g_free(queue);
}

/* ---- public API --------------------------------------------------------------------------- */

lc_wordfilter *
lc_wordfilter_new(void)
{
  lc_wordfilter *wf = g_new0(lc_wordfilter, 1);
  wf->words = g_ptr_array_new_with_free_func(g_free);
  new_node(wf);
  return wf;
}

void
lc_wordfilter_free(lc_wordfilter *wf)
{
  if (!wf)
    return;
  for (guint32 i = 0; i < wf->n_nodes; i++) {
    g_free(wf->nodes[i].keys);
    g_free(wf->nodes[i].kids);
  }
  g_free(wf->nodes);
  g_ptr_array_unref(wf->words);
  g_free(wf);
}

/* Normalises and checks a word: the normalised copy (g_free) or NULL with *why. */
static char *
prepare(const char *word, size_t *len, const char **why)
{
  if (!word || !g_utf8_validate(word, -1, NULL)) {
    *why = "not valid UTF-8";
    return NULL;
  }
  char *norm = normalise(word, strlen(word), len);
  if (*len == 0 || *len > MAX_WORD_BYTES) {
    *why = *len == 0 ? "empty after normalisation" : "longer than 100 bytes after normalisation";
    g_free(norm);
    return NULL;
  }
  return norm;
}

int
lc_wordfilter_add(lc_wordfilter *wf, const char *word)
{
  const char *why;
  size_t len;
  char *norm = prepare(word, &len, &why);
  if (!norm)
    return LC_EINVAL;
  if (insert(wf, norm, len, word))
    build(wf);
  g_free(norm);
  return 0;
}

int
lc_wordfilter_load_file(lc_wordfilter *wf, const char *path, char **err)
{
  char *text = NULL;
  gsize size = 0;
  GError *gerr = NULL;
  char **lines = NULL;
  GPtrArray *words = g_ptr_array_new_with_free_func(g_free); /* pairs: word, normalised */
  int rc = LC_EIO;
  if (err)
    *err = NULL;
  if (!g_file_get_contents(path, &text, &size, &gerr)) {
    if (err)
      *err = g_strdup_printf("%s: %s", path, gerr->message);
    g_error_free(gerr);
    goto fail;
  }
  rc = LC_EINVAL;
  if (size > MAX_FILE_BYTES || memchr(text, '\0', size)) {
    if (err)
      *err = g_strdup_printf("%s: %s", path, size > MAX_FILE_BYTES ? "larger than 8 MiB" : "contains a NUL byte");
    goto fail;
  }
  /* Check every line before adding any, so a bad file leaves the filter unchanged. */
  bool bom = size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0;
  lines = g_strsplit(text + (bom ? 3 : 0), "\n", -1);
  for (int i = 0; lines[i]; i++) {
    char *line = g_strstrip(lines[i]);
    if (line[0] == '\0' || line[0] == '#')
      continue;
    const char *why;
    size_t len;
    char *norm = prepare(line, &len, &why);
    if (!norm) {
      if (err)
        *err = g_strdup_printf("%s:%d: %s", path, i + 1, why);
      goto fail;
    }
    g_ptr_array_add(words, g_strdup(line));
    g_ptr_array_add(words, norm);
  }
  for (guint i = 0; i < words->len; i += 2) {
    const char *norm = words->pdata[i + 1];
    insert(wf, norm, strlen(norm), words->pdata[i]);
  }
  build(wf);
  rc = 0;
fail:
  g_ptr_array_unref(words);
  g_strfreev(lines);
  g_free(text);
  return rc;
}

unsigned
lc_wordfilter_size(const lc_wordfilter *wf)
{
  return wf ? wf->words->len : 0;
}

bool
lc_wordfilter_match(const lc_wordfilter *wf, const char *text, size_t len, const char **match)
{
  if (match)
    *match = NULL;
  if (!wf || !text || wf->words->len == 0)
    return false;
  size_t n;
  char *norm = normalise(text, len, &n);
  const node *nodes = wf->nodes;
  guint32 cur = 0;
  gint32 found = -1;
  for (size_t i = 0; i < n && found < 0; i++) {
    guint8 b = (guint8)norm[i];
    guint32 t;
    while ((t = child(&nodes[cur], b)) == 0 && cur != 0)
      cur = nodes[cur].fail;
    cur = t;
    found = nodes[cur].out;
  }
  g_free(norm);
  if (found < 0)
    return false;
  if (match)
    *match = wf->words->pdata[found];
  return true;
}
