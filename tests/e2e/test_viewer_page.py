"""The viewer page (web/room.html, web/index.html) in headless Chromium against the real livecartd,
inside a private network namespace (meson runs this file under `unshare -n`).

One server, one RTMP publisher and one browser (tests/e2e/viewer_case.mjs) are shared by the
cases, which run in file order on the same room: shopper A (zh-CN, 390x844, correct clock) and
shopper B (en-US, 1280x800, clock 45 s fast) are signed in with tokens handed over in the URL
fragment, as a shop would; a third viewer uses the development sign-in. Every case saves a
narrow and a wide screenshot to LC_ARTIFACTS (default: <build>/e2e-artifacts)."""
import json
import os
import re
import select
import socket
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import lc  # noqa: E402
from conftest import media_env  # noqa: E402
from medialib import ffmpeg_rtmp, renditions, wait_for  # noqa: E402
from showlib import CATALOG, SECRET, token  # noqa: E402

ROOM = "shop"
KEY = "viewer-key-0001"
ARTIFACTS = os.environ.get("LC_ARTIFACTS", os.path.join(os.environ.get("LC_BUILDDIR", "/tmp"), "e2e-artifacts"))
WEB = os.path.join(lc.SRCDIR, "web")
SKEW_MS = 45000  # shopper B's clock is this much fast


def isolated():
    """True inside a network namespace whose only interface is lo. (Asks the kernel through
    if_nameindex: /sys/class/net shows the namespace sysfs was mounted in, i.e. the host's.)"""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@pytest.fixture(autouse=True)
def _network_namespace():
    # Not a skip: a browser test that silently skips cannot fail.
    if not isolated():
        pytest.fail("run under `unshare -n` with lo up (meson test does: tests/e2e/meson.build)")


class Browser:
    """The node driver: one JSON request per line, one answer per line."""

    def __init__(self):
        self.proc = subprocess.Popen(["node", os.path.join(HERE, "viewer_case.mjs")], cwd=HERE, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.next_id = 0
        self.buf = ""

    def call(self, op, timeout=30, **kw):
        self.next_id += 1
        rid = self.next_id
        self.proc.stdin.write(json.dumps({"id": rid, "op": op, **kw}) + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            while "\n" in self.buf:
                line, self.buf = self.buf.split("\n", 1)
                if not line.startswith("{"):
                    continue
                msg = json.loads(line)
                if msg.get("id") == rid:
                    if not msg["ok"]:
                        raise AssertionError(f"browser {op} failed: {msg['error']}")
                    return msg["result"]
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.poll() is not None else ""
                raise AssertionError(f"browser {op}: no answer ({'exited' if self.proc.poll() is not None else 'timeout'}) {err[-2000:]}")
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536).decode()
                if not chunk:
                    continue
                self.buf += chunk

    def eval(self, name, fn, arg=None):
        return self.call("eval", name=name, fn=fn, arg=arg)

    def click(self, name, selector):
        return self.call("click", name=name, selector=selector)

    def press(self, name, selector_or_key, key=None):
        if key is None:
            return self.call("press", name=name, key=selector_or_key)
        return self.call("press", name=name, selector=selector_or_key, key=key)

    def wait(self, name, fn, arg=None, timeout=10.0, what=None):
        """Polls fn(arg) in the page until it is truthy; returns its value."""
        try:
            return self.call("wait", timeout=timeout + 15, name=name, fn=fn, arg=arg, ms=int(timeout * 1000))
        except AssertionError as e:
            raise AssertionError(f"{name}: waiting for {what or fn}: {e}") from None

    def close(self):
        try:
            self.call("quit", timeout=20)
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Env:
    pass


def ok(resp):
    assert resp.get("ok"), resp
    return resp["result"]


def publisher(server):
    return ffmpeg_rtmp(server, ROOM, KEY, seconds=900, size="640x360", bframes=0)


def video_live(server):
    return any(r["kind"] == "video" and r["live"] for r in renditions(server, ROOM).values())


@pytest.fixture(scope="module")
def env():
    os.makedirs(ARTIFACTS, exist_ok=True)
    e = Env()
    e.server = lc.Server(extra=["log.level=info", f"auth.jwt_secret={SECRET}", "auth.dev_login=true"])
    e.server.env.update(media_env())
    e.server.start()
    e.pub = e.browser = None
    e.measured = {}
    try:
        with e.server.ctl() as c:
            ok(c.call("room.create", {"id": ROOM, "title": "秋季新品直播 · Autumn drop", "creator": "Lin's Kitchen",
                                      "stream_key": KEY}))
            with open(CATALOG) as f:
                e.catalog = json.load(f)
            ok(c.call("catalog.load", {"room": ROOM, "catalog": e.catalog}))
        e.pub = publisher(e.server)
        wait_for(lambda: video_live(e.server), timeout=30, what="the room's video")
        e.base = f"http://127.0.0.1:{e.server.http_port}"
        e.browser = Browser()
        e.browser.call("open", name="a", width=390, height=844, locale="zh-CN", origin=e.base)
        e.browser.call("open", name="b", width=1280, height=800, locale="en-US", skewMs=SKEW_MS, origin=e.base)
        e.browser.call("goto", name="a", url=f"{e.base}/r/{ROOM}#token={token('alice', name='小明')}")
        e.browser.call("goto", name="b", url=f"{e.base}/r/{ROOM}#token={token('bob', name='Bob')}")
        yield e
        errors = {n: [x for x in e.browser.call("errors", name=n) if x.startswith("pageerror")] for n in ("a", "b")}
        assert errors == {"a": [], "b": []}, errors
        with open(os.path.join(ARTIFACTS, "viewer-measurements.json"), "w") as f:
            json.dump(e.measured, f, indent=2)
    finally:
        if e.browser:
            e.browser.close()
        if e.pub:
            e.pub.kill()
            e.pub.wait()
        rc = e.server.stop()
        log = e.server.log_text()
        e.server.close()
        assert rc == 0, f"livecartd exited with {rc}:\n" + log[-4000:]


def shots(e, case, names=("a", "b")):
    for n in names:
        e.browser.call("shot", name=n, path=os.path.join(ARTIFACTS, f"viewer-{case}-{n}"))


def ctl(e, cmd, args):
    with e.server.ctl() as c:
        return c.call(cmd, args)


def product(e, pid):
    return next(p for p in e.catalog["products"] if p["id"] == pid)


def sku_price(e, sku):
    return next(s["price"] for p in e.catalog["products"] for s in p["skus"] if s["id"] == sku)


SYNCED = "() => window.livecart && window.livecart.ui.synced && window.livecart.channel.connected"
FRAMES = "() => window.livecart.player.stats ? window.livecart.player.stats.framesDecoded : 0"
TEXT = "(sel) => { const el = document.querySelector(sel); return el ? el.textContent : null; }"
VISIBLE = """(sel) => { const el = document.querySelector(sel);
  if (!el || el.hidden || el.closest('[hidden]')) return false;
  const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; }"""


def frames(e, n):
    return e.browser.eval(n, FRAMES)


def text(e, n, sel):
    return e.browser.eval(n, TEXT, sel)


def test_room_plays_in_both_browsers(env):
    e, b = env, env.browser
    for n in ("a", "b"):
        b.wait(n, SYNCED, what="the show channel's snapshot")
        b.wait(n, f"() => ({FRAMES})() > 30", timeout=25, what="decoded frames")
    before = {n: frames(e, n) for n in ("a", "b")}
    time.sleep(1.5)
    after = {n: frames(e, n) for n in ("a", "b")}
    assert all(after[n] > before[n] for n in after), (before, after)

    a = b.eval("a", """() => ({lang: document.documentElement.lang, creator: document.querySelector('#creator-name').textContent,
      badge: document.querySelector('#live-badge').textContent, state: document.querySelector('#live-badge').dataset.state,
      muted: document.querySelector('#video').muted, unmute: !document.querySelector('#unmute').hidden,
      wide: document.documentElement.scrollWidth, bag: document.querySelectorAll('#bag-list li').length,
      paint: performance.getEntriesByType('paint').map((p) => [p.name, Math.round(p.startTime)])})""")
    assert a["lang"] == "zh-CN" and a["creator"] == "Lin's Kitchen", a
    assert (a["state"], a["badge"]) == ("live", "直播中"), a
    assert a["muted"] and a["unmute"], a                      # muted autoplay, tap to unmute offered
    assert a["wide"] <= 390, a                                # nothing sticks out of a 390 px window
    assert a["bag"] == len(e.catalog["products"]), a
    fcp = dict(a["paint"]).get("first-contentful-paint")
    assert fcp is not None and fcp < 1000, a["paint"]
    e.measured["first_contentful_paint_ms"] = fcp
    bb = b.eval("b", """() => ({lang: document.documentElement.lang, badge: document.querySelector('#live-badge').textContent,
      side: getComputedStyle(document.querySelector('.side')).display, items: document.querySelectorAll('#side-bag li').length,
      viewers: document.querySelector('#viewer-count').getAttribute('aria-label')})""")
    assert bb["lang"] == "en" and bb["badge"] == "LIVE", bb
    assert bb["side"] != "none" and bb["items"] == len(e.catalog["products"]), bb   # the 1280 px layout
    assert re.search(r"\b[2-9] watching", bb["viewers"]), bb

    b.click("a", "#unmute")
    assert b.eval("a", "() => document.querySelector('#video').muted") is False

    size = sum(os.path.getsize(os.path.join(d, f)) for d in (os.path.join(WEB, "js"), os.path.join(WEB, "css"))
               for f in os.listdir(d) if f.endswith((".js", ".css")))
    e.measured["js_css_bytes"] = size
    assert size < 150 * 1000, size
    shots(e, "plays")


def test_home_lists_the_room(env):
    e, b = env, env.browser
    b.call("open", name="c", width=390, height=844, locale="en-GB", origin=e.base)
    b.call("goto", name="c", url=f"{e.base}/")
    card = b.wait("c", "(id) => { const c = document.querySelector(`#upcoming-rooms li[data-room=\"${id}\"]`); "
                  "return c && c.textContent; }", ROOM, what="the room in 'upcoming'")
    assert "Lin's Kitchen" in card and "Autumn drop" in card, card
    ok(ctl(e, "room.start", {"id": ROOM}))
    b.call("goto", name="c", url=f"{e.base}/")
    href = b.wait("c", "(id) => { const a = document.querySelector(`#live-rooms li[data-room=\"${id}\"] a`); "
                  "return a && a.getAttribute('href'); }", ROOM, what="the room in 'live now'")
    assert href == f"/r/{ROOM}"
    card = b.eval("c", "(id) => { const li = document.querySelector(`#live-rooms li[data-room=\"${id}\"]`); "
                  "return {stream: li.dataset.stream, viewers: li.querySelector('.viewers').textContent}; }", ROOM)
    assert card == {"stream": "live", "viewers": "2 watching"}, card   # A and B
    shots(e, "home", names=("c",))
    b.click("c", f"#live-rooms li[data-room='{ROOM}'] a")
    b.wait("c", SYNCED, what="the room page after a click")
    st = e.server.request("GET", f"/r/{ROOM}")
    assert st[0] == 200 and b"/js/room.js" in st[2], st[:2]
    assert "script-src 'self'" in st[1].get("Content-Security-Policy", ""), st[1]
    missing = e.server.request("GET", "/r/no-such-room")
    assert missing[0] == 404 and b"/js/room.js" in missing[2]   # the page explains it
    assert e.server.request("GET", "/r/Bad!Id")[0] == 404
    b.wait("c", "() => document.querySelector('#stage-text').textContent.length > 0")


def test_pinned_card_shows_in_both_within_a_second(env):
    e, b = env, env.browser
    t0 = time.time() * 1000
    ok(ctl(e, "product.pin", {"room": ROOM, "product": "k-thermos"}))
    card = {}
    for n in ("a", "b"):
        card[n] = b.wait(n, """(id) => { const c = document.querySelector('#pinned');
          if (c.hidden || c.dataset.product !== id) return null;
          return {at: Number(c.dataset.shownAt), title: c.querySelector('#pinned-title').textContent,
            tag: c.querySelector('.pinned-tag').textContent, price: c.querySelector('#pinned-price').textContent,
            orig: c.querySelector('s#pinned-orig').textContent, stock: c.querySelector('#pinned-stock').textContent,
            buy: !c.querySelector('#pinned-buy').disabled}; }""", "k-thermos", timeout=3, what="the pinned card")
    for n, c in card.items():
        assert c["at"] - t0 < 1000, (n, c["at"] - t0)
    e.measured["pin_to_card_ms"] = {n: round(c["at"] - t0) for n, c in card.items()}
    p = product(e, "k-thermos")
    cheapest = min(p["skus"], key=lambda s: s["price"])
    stock = sum(s["stock"] for s in p["skus"])
    assert card["a"]["tag"] == "讲解中" and p["title"] in card["a"]["title"], card["a"]
    # Prices per currency and language: integer fen shown as yuan with two decimals.
    assert card["a"]["price"] == f"¥{cheapest['price'] / 100:.2f}起", card["a"]
    assert card["b"]["price"] == f"from CN¥{cheapest['price'] / 100:.2f}", card["b"]
    assert card["a"]["orig"] == f"¥{cheapest['original_price'] / 100:.2f}", card["a"]
    assert card["a"]["stock"] == f"库存 {stock}" and card["b"]["stock"] == f"{stock} in stock", card
    assert card["a"]["buy"] and card["b"]["buy"]
    shots(e, "pinned")


def countdown_s(txt):
    parts = [int(x) for x in txt.split(":")]
    return sum(v * 60 ** i for i, v in enumerate(reversed(parts)))


def test_flash_sale_countdown_buy_and_sold_out(env):
    e, b = env, env.browser
    sale = ok(ctl(e, "flash.schedule", {"room": ROOM, "id": "fs1", "sku": "k-thermos-blue-600", "price": 6900,
                                         "quantity": 2, "per_user_limit": 1, "duration_ms": 180000}))["sale"]
    for n in ("a", "b"):
        b.wait(n, """() => { const f = document.querySelector('#flash');
          return !f.hidden && f.dataset.sale === 'fs1' && f.dataset.state === 'live'; }""", what="the flash banner")
        b.wait(n, "() => window.livecart.channel.clock.synced", what="clock sync")
    time.sleep(1.2)  # a few ping/pong samples
    r = {n: b.eval(n, "() => window.livecart.flashRemaining()") for n in ("a", "b")}
    # Where each page puts the end of the sale, in real time (B's own clock is 45 s fast).
    ends = {n: r[n]["remaining"] + r[n]["wall"] for n in r}
    assert abs(ends["a"] - ends["b"]) < 200, (ends, sale["ends_at"])
    assert all(abs(v - sale["ends_at"]) < 200 for v in ends.values()), (ends, sale["ends_at"])
    e.measured["flash_countdown_skew_ms"] = round(ends["a"] - ends["b"])
    for n in r:  # what is shown is that countdown
        assert abs(countdown_s(r[n]["text"]) - r[n]["remaining"] / 1000) <= 1.0, r[n]
    limit = {n: b.eval(n, TEXT, "#flash-limit") for n in ("a", "b")}
    assert limit == {"a": "每人限购 1 件", "b": "Limit 1 per person"}, limit
    shots(e, "flash-live")

    b.click("a", "#flash-buy")
    order = b.wait("a", """() => { const d = document.querySelector('#order');
      return d.open && {id: d.dataset.order, total: document.querySelector('#order-total').textContent,
        deadline: document.querySelector('#order-deadline').textContent,
        expires: Number(document.querySelector('#order-deadline').dataset.expiresAt)}; }""", what="A's order")
    orders = ok(ctl(e, "order.list", {"room": ROOM, "user": "alice"}))["orders"]
    assert orders and orders[0]["id"] == order["id"] and orders[0]["total"] == 6900, (orders, order)
    assert order["total"] == "¥69.00" and order["expires"] == orders[0]["expires_at"], order
    assert re.search(r"请在 \d\d:\d\d 前完成支付", order["deadline"]), order
    shots(e, "flash-ordered", names=("a",))
    b.press("a", "Escape")
    # B sees the stock drop; A has reached the per-user limit.
    b.wait("b", "() => document.querySelector('#flash').dataset.remaining === '1'", what="B's stock drop")
    assert b.eval("b", TEXT, "#flash-progress") == "1 sold · 1 left"
    a_btn = b.wait("a", """() => { const x = document.querySelector('#flash-buy');
      return x.disabled && x.textContent; }""", what="A's limit")
    assert a_btn == "已达限购", a_btn
    b.click("b", "#flash-buy")
    b.wait("b", "() => document.querySelector('#order').open && document.querySelector('#order-total').textContent === 'CN¥69.00'",
           what="B's order")
    b.press("b", "Escape")
    for n in ("a", "b"):
        btn = b.wait(n, """() => { const f = document.querySelector('#flash'), x = document.querySelector('#flash-buy');
          return f.dataset.soldOut === 'true' && x.disabled && x.textContent; }""", what="sold out")
        assert btn in ("已售罄", "Sold out"), btn
    sold = ok(ctl(e, "order.list", {"room": ROOM}))["orders"]
    fs = [o for o in sold if any(i.get("sale_id") == "fs1" for i in o["items"])]
    assert sorted(o["user"] for o in fs) == ["alice", "bob"], fs
    shots(e, "flash-sold-out")


def test_coupon_claim_and_checkout_total_to_the_cent(env):
    e, b = env, env.browser
    ok(ctl(e, "coupon.drop", {"room": ROOM, "id": "pct15", "kind": "percent", "percent_off": 15, "quantity": 10,
                              "title": "85折券"}))
    ok(ctl(e, "coupon.drop", {"room": ROOM, "id": "mj300", "kind": "threshold", "amount_off": 3000,
                              "min_spend": 30000, "quantity": 10, "title": "满300减30"}))
    for cid, title in (("pct15", "85折券"), ("mj300", "满300减30")):
        b.wait("a", "(t) => [...document.querySelectorAll('.toast.coupon')].some((x) => x.textContent.includes(t))",
               title, what=f"the {cid} toast")
        b.click("a", f".toast.coupon:has-text('{title}') .toast-btn")
        b.wait("a", "(id) => window.livecart.state.me.claims.some((c) => c.coupon_id === id)", cid, what=f"{cid} claimed")
    # 3 towels at 39.90 by the bag and the product sheet.
    b.click("a", "#bag-btn")
    b.click("a", "#bag-list li[data-product='k-towel'] button")
    b.click("a", "#product-skus input[value='k-towel-grey-2']")
    b.click("a", "#product-plus")
    b.click("a", "#product-plus")
    assert b.eval("a", TEXT, "#product-qty") == "3"
    b.click("a", "#product-add")
    b.wait("a", "() => window.livecart.state.me.cart.items.some((i) => i.sku === 'k-towel-grey-2' && i.qty === 3)",
           what="the cart line")
    b.click("a", "#cart-btn")
    subtotal = 3 * sku_price(e, "k-towel-grey-2")
    discount = subtotal * 15 // 100          # floor, as the server computes it
    total = subtotal - discount
    assert (subtotal, discount, total) == (11970, 1795, 10175)
    cart = b.wait("a", """(want) => { const t = document.querySelector('#cart-total');
      return t.dataset.minor === String(want) && {sub: document.querySelector('#cart-subtotal').textContent,
        off: document.querySelector('#cart-discount').textContent, total: t.textContent,
        coupon: document.querySelector('#coupon-select').selectedOptions[0].textContent}; }""", total, what="cart totals")
    assert cart["sub"] == "¥119.70" and cart["off"] == "−¥17.95" and cart["total"] == "¥101.75", cart
    assert cart["coupon"].startswith("85折券"), cart   # the threshold coupon does not apply below 300
    shots(e, "cart", names=("a",))
    b.click("a", "#checkout")
    shown = b.wait("a", "() => document.querySelector('#order').open && Number(document.querySelector('#order-total').dataset.minor)",
                   what="the order")
    assert shown == total
    order = ok(ctl(e, "order.list", {"room": ROOM, "user": "alice"}))["orders"][0]
    assert (order["subtotal"], order["discount"], order["total"]) == (subtotal, discount, total), order
    assert order.get("claim_id"), order
    assert b.eval("a", TEXT, "#order-discount") == "−¥17.95"
    b.press("a", "Escape")
    b.wait("b", "() => window.livecart.state.coupons.get('pct15')?.remaining === 9", what="B's coupon count")
    shots(e, "checkout")


def test_chat_send_delete_mute_slow_mode(env):
    e, b = env, env.browser
    b.call("fill", name="a", selector="#chat-input", value="这件有L码吗？")
    b.press("a", "#chat-input", "Enter")
    mid = b.wait("a", """() => { const m = [...document.querySelectorAll('#chat-list li')].find((x) => x.textContent.includes('这件有L码吗'));
      return m && m.dataset.id; }""", what="A's message")
    a_sent = time.monotonic()
    b.wait("b", "(id) => !!document.querySelector(`#chat-list li[data-id=\"${id}\"]`)", mid, what="A's message in B")
    b.call("fill", name="b", selector="#chat-input", value="hello from Bob")
    b.press("b", "#chat-input", "Enter")
    b.wait("a", "() => [...document.querySelectorAll('#chat-list li')].some((x) => x.textContent.includes('Bob hello from Bob'))",
           what="B's message in A")
    ok(ctl(e, "chat.delete", {"room": ROOM, "id": mid}))
    for n in ("a", "b"):
        b.wait(n, "(id) => !document.querySelector(`#chat-list li[data-id=\"${id}\"]`)", mid, timeout=2,
               what="the deleted message gone")
    assert "hello from Bob" in b.eval("a", TEXT, "#chat-list")
    muted = ok(ctl(e, "chat.mute", {"room": ROOM, "user": "bob", "seconds": 600, "reason": "spam"}))
    notice = b.wait("b", """() => { const n = document.querySelector('#chat-notice');
      return !n.hidden && document.querySelector('#chat-input').disabled && n.textContent; }""", what="B told of the mute")
    # Until when, in B's own clock (45 s fast), as its page formats times.
    expect = b.eval("b", """(ms) => [ms - 1000, ms, ms + 1000].map((x) => new Intl.DateTimeFormat('en',
      {hour: '2-digit', minute: '2-digit', hour12: false}).format(new Date(x)))""", muted["until"] + SKEW_MS)
    assert "spam" in notice and any(f"until {x}" in notice for x in expect), (notice, expect)
    # A reload with nothing kept in the browser: the snapshot's `me` tells the page again.
    b.eval("b", "() => sessionStorage.clear()")
    b.call("goto", name="b", url=f"{e.base}/r/{ROOM}")
    b.wait("b", SYNCED, what="B reloaded")
    again = b.wait("b", """() => { const n = document.querySelector('#chat-notice');
      return !n.hidden && document.querySelector('#chat-input').disabled && n.textContent; }""", what="B's mute after a reload")
    assert again == notice, (again, notice)
    ok(ctl(e, "chat.slowmode", {"room": ROOM, "seconds": 5}))
    b.wait("a", "() => document.querySelector('#chat-notice').textContent === '慢速模式：每 5 秒可发言一次'",
           what="slow mode shown")
    time.sleep(max(0.0, a_sent + 5.5 - time.monotonic()))  # A's first message is out of the window
    b.call("fill", name="a", selector="#chat-input", value="慢速模式下的一条")
    b.press("a", "#chat-input", "Enter")
    b.wait("b", "() => document.querySelector('#chat-list').textContent.includes('慢速模式下的一条')", what="A's message")
    # The next one has to wait, and A is shown for how long: A's button counts down once A has
    # the server's answer (B may see the message first on a busy machine).
    wait_txt = b.wait("a", """() => { const t = document.querySelector('#chat-send').textContent.trim();
      return /^[1-5]s$/.test(t) && t; }""", what="A's slow-mode countdown")
    assert wait_txt in ("5s", "4s", "3s", "2s", "1s"), wait_txt
    shots(e, "chat")
    ok(ctl(e, "chat.unmute", {"room": ROOM, "user": "bob"}))
    ok(ctl(e, "chat.slowmode", {"room": ROOM, "seconds": 0}))
    b.wait("b", "() => document.querySelector('#chat-notice').hidden && !document.querySelector('#chat-input').disabled",
           what="B unmuted")


def page_sync(e, n):
    return e.browser.eval(n, """() => { const c = window.livecart.channel;
      return {connected: c.connected, seq: c.seq, epoch: c.epoch, ...c.stats,
        chat: [...document.querySelectorAll('#chat-list li')].map((li) => li.dataset.id)}; }""")


def test_resume_after_server_side_close(env):
    e, b = env, env.browser
    port = e.server.http_port
    before = {n: page_sync(e, n) for n in ("a", "b")}
    assert all(s["connected"] for s in before.values()), before
    # New connections to the HTTP port are refused while the server drops every open one.
    block = f"""table inet lcviewer {{
  chain in {{ type filter hook input priority 0; tcp dport {port} tcp flags & (syn | ack) == syn reject with tcp reset; }}
}}"""
    subprocess.run(["nft", "-f", "-"], input=block, text=True, check=True)
    try:
        subprocess.run(["ss", "-K", "-t", "state", "established", "(", "sport", "=", f":{port}", ")"],
                       check=True, capture_output=True)
        for n in ("a", "b"):
            b.wait(n, "() => !window.livecart.channel.connected", timeout=5, what="the websocket closed")
        # What happens meanwhile.
        ok(ctl(e, "product.pin", {"room": ROOM, "product": "k-pan"}))
        ok(ctl(e, "chat.slowmode", {"room": ROOM, "seconds": 3}))
        ok(ctl(e, "coupon.drop", {"room": ROOM, "id": "off5", "kind": "fixed", "amount_off": 500, "quantity": 3,
                                  "title": "立减5元"}))
        time.sleep(1.0)
        assert not b.eval("a", "() => window.livecart.channel.connected")
    finally:
        subprocess.run(["nft", "delete", "table", "inet", "lcviewer"], check=True)
    for n in ("a", "b"):
        b.wait(n, SYNCED, timeout=15, what="the page back")
        b.wait(n, "() => document.querySelector('#pinned').dataset.product === 'k-pan'", what="the new pin")
    # The server's seq and the pages' are read one after the other: an event in between (the
    # viewer count after the reconnects, a stock flush) makes them differ for a moment. Both
    # pages must reach the server's seq (and have missed nothing on the way: gaps == 0).
    deadline = time.monotonic() + 10
    while True:
        server_seq = ok(ctl(e, "show.snapshot", {"room": ROOM}))["seq"]
        after = {n: page_sync(e, n) for n in ("a", "b")}
        if all(after[n]["seq"] == server_seq for n in after) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for n in ("a", "b"):
        s, p = after[n], before[n]
        assert s["resumes"] == p["resumes"] + 1 and s["snapshots"] == p["snapshots"], (n, p, s)  # no reload
        assert s["gaps"] == 0 and s["duplicates"] == 0, s
        assert s["seq"] == server_seq and s["epoch"] == p["epoch"], (s, server_seq)
        assert len(s["chat"]) == len(set(s["chat"])), s["chat"]
    assert b.eval("a", TEXT, "#chat-notice") == "慢速模式：每 3 秒可发言一次"
    assert "立减5元" in b.eval("a", TEXT, "#toasts")
    assert b.eval("b", "() => window.livecart.state.coupons.has('off5')")
    f0 = frames(e, "a")
    b.wait("a", f"(f0) => ({FRAMES})() > f0 + 10", f0, what="video still playing")
    shots(e, "resumed")
    ok(ctl(e, "chat.slowmode", {"room": ROOM, "seconds": 0}))


def test_video_comes_back_after_the_creator_reconnects(env):
    e, b = env, env.browser
    e.pub.kill()
    e.pub.wait()
    for n in ("a", "b"):
        b.wait(n, "() => document.querySelector('#live-badge').dataset.state === 'reconnecting'", timeout=10,
               what="the reconnecting badge")
    assert b.eval("b", TEXT, "#stage-text") == "The creator is reconnecting…"
    shots(e, "creator-away", names=("b",))
    f0 = {n: frames(e, n) for n in ("a", "b")}
    e.pub = publisher(e.server)
    for n in ("a", "b"):
        b.wait(n, "() => document.querySelector('#live-badge').dataset.state === 'live'", timeout=20, what="live again")
        # The same session goes on, or the player replaced it (its frame count starts again).
        b.wait(n, """(f0) => { const p = window.livecart.player, s = p.stats;
          return p.state === 'playing' && s && (s.framesDecoded > f0 + 30 || (p.restarts > 0 && s.framesDecoded > 30)); }""",
               f0[n], timeout=25, what="frames again")
    shots(e, "creator-back")


def rung_viewers(e):
    """WebRTC viewers per rung (the only room with viewers is ours)."""
    return ok(ctl(e, "media.status", {}))["rtc"]["rungs"]


def test_quality_menu(env):
    e, b = env, env.browser
    names = {r["name"] for r in ok(ctl(e, "media.status", {"room": ROOM}))["renditions"] if r["kind"] == "video"}
    assert {"source", "360p"} <= names, names
    status, doc = e.server.get_json(f"/api/rooms/{ROOM}")
    assert status == 200 and set(doc["room"]["renditions"]) == names, (doc, names)
    # The menu offers exactly the room's rungs (640x360: nothing above 360p), refreshed after the
    # creator's reconnect of the case before.
    for n in ("a", "b"):
        menu = b.wait(n, """(want) => { const m = [...document.querySelectorAll('#quality option')].map((o) => o.value);
          return m.join() === want.join() && m; }""", ["auto"] + doc["room"]["renditions"], what="the room's rungs in the menu")
        assert "1080p" not in menu and "720p" not in menu, menu
    assert b.eval("a", TEXT, '#quality option[value="source"]') == "原画"
    for rung, other in (("source", "360p"), ("360p", "source")):
        for n in ("a", "b"):
            b.call("select", name=n, selector="#quality", value=rung)
        # A switch waits for the target rung's next keyframe (the source rung: the publisher's, every
        # 2 s). 10 s ran out in 2 of 7 runs on a loaded machine; the cause is not yet known.
        wait_for(lambda: (lambda v: v.get(rung, 0) >= 2 and v.get(other, 0) <= 1)(rung_viewers(e)), timeout=20,
                 what=f"both pages on {rung}")
    # A stale menu (a rung gone meanwhile): the server refuses it, the page says so, returns to
    # automatic and fetches the room's rungs again.
    b.eval("a", "() => { document.querySelector('#quality').append(new Option('1080p', '1080p')); }")
    b.call("select", name="a", selector="#quality", value="1080p")
    b.wait("a", """() => document.querySelector('#quality').value === 'auto' &&
      !document.querySelector('#quality option[value="1080p"]') &&
      document.querySelector('#toasts').textContent.includes('1080p')""", what="1080p refused")
    b.call("select", name="b", selector="#quality", value="auto")
    label = b.wait("a", "() => { const o = document.querySelector('#quality option[value=\"auto\"]'); return /360p/.test(o.textContent) && o.textContent; }",
                   what="the automatic rung's height")
    assert label == "自动 · 360p", label
    shots(e, "quality", names=("a",))


def test_keyboard_and_labels(env):
    e, b = env, env.browser
    unlabelled = b.eval("a", """() => [...document.querySelectorAll('button, select, input, a[href]')]
      .filter((el) => el.getClientRects().length && !el.closest('dialog:not([open])'))
      .filter((el) => !((el.getAttribute('aria-label') || '').trim() || el.textContent.trim() || (el.labels && el.labels.length) || el.title))
      .map((el) => el.outerHTML.slice(0, 80))""")
    assert unlabelled == [], unlabelled
    # The bag by keyboard: focus, Enter opens a modal sheet with focus inside, Escape closes it.
    b.eval("a", "() => document.querySelector('#bag-btn').focus()")
    b.press("a", "Enter")
    inside = b.wait("a", "() => document.querySelector('#bag').open && document.querySelector('#bag').contains(document.activeElement)",
                    what="the bag open with focus inside")
    assert inside
    b.press("a", "Tab")
    assert b.eval("a", "() => document.querySelector('#bag').contains(document.activeElement)")  # focus stays in the sheet
    b.press("a", "Escape")
    b.wait("a", "() => !document.querySelector('#bag').open && document.activeElement === document.querySelector('#bag-btn')",
           what="the bag closed, focus back")
    # Likes by keyboard, with a heart.
    likes0 = ok(ctl(e, "stats", {"room": ROOM}))["likes"]
    b.eval("a", "() => document.querySelector('#like-btn').focus()")
    for _ in range(3):
        b.press("a", " ")
    assert b.eval("a", "() => document.querySelectorAll('#hearts .heart').length") >= 1
    wait_for(lambda: ok(ctl(e, "stats", {"room": ROOM}))["likes"] >= likes0 + 3, timeout=5, what="likes counted")
    b.wait("b", "(n) => Number(document.querySelector('#like-count').textContent) >= n", likes0 + 3, what="B's like count")
    shots(e, "keyboard", names=("a",))


def test_development_sign_in(env):
    e, b = env, env.browser
    st, _, body = e.server.request("POST", "/api/dev/token", body='{"name":"probe"}',
                                   headers={"Content-Type": "application/json"})
    assert st == 200, ("POST /api/dev/token with auth.dev_login=true answered "
                       f"{st} {body!r}: does server/app/app.c pass .dev_token_secret to lc_http_new?")
    b.click("c", "#account")
    b.call("fill", name="c", selector="#signin-name", value="Carol 测试")
    b.click("c", "#signin-go")
    b.wait("c", "() => document.querySelector('#account').textContent === 'Carol 测试' && window.livecart.channel.user?.name === 'Carol 测试'",
           what="signed in")
    b.wait("c", SYNCED)
    b.call("fill", name="c", selector="#chat-input", value="hi from carol")
    b.press("c", "#chat-input", "Enter")
    b.wait("a", "() => [...document.querySelectorAll('#chat-list li')].some((x) => x.textContent.includes('Carol 测试 hi from carol'))",
           what="Carol's message in A")
    shots(e, "signed-in", names=("c",))
    post = lambda body, **kw: e.server.request("POST", "/api/dev/token", body=body,  # noqa: E731
                                               headers={"Content-Type": "application/json", **kw})
    st, _, body = post(json.dumps({"name": "Carol 测试"}))
    me = json.loads(body)
    assert st == 200 and me["user"]["name"] == "Carol 测试", body
    assert me["user"]["id"] == b.eval("c", "() => window.livecart.channel.user.id")  # same name, same user
    for bad in ('{"name":""}', '{"name":"   "}', '{"name":"a\\u0007b"}', '{"name":"x","admin":true}', '[1]', "{",
                json.dumps({"name": "x" * 33}), '{"name":"x","room":"Bad Room"}'):
        st, _, body = post(bad)
        assert st == 400, (bad, st, body)
        assert json.loads(body)["error"]["code"] in ("bad_request", "invalid_argument"), body
    assert post("x" * 5000)[0] == 413
    assert e.server.request("GET", "/api/dev/token")[0] == 405
    off = lc.Server()
    off.start()
    try:
        st, _, body = off.request("POST", "/api/dev/token", body='{"name":"x"}')
        assert st == 404 and json.loads(body)["error"]["code"] == "not_found", body
    finally:
        assert off.stop() == 0
        off.close()


def test_show_end_stops_buying_and_reconnecting(env):
    e, b = env, env.browser
    ok(ctl(e, "room.end", {"id": ROOM}))
    for n, txt in (("a", "本场直播已结束"), ("b", "This show has ended")):
        b.wait(n, "(t) => document.querySelector('#stage-text').textContent === t && window.livecart.channel.fatal?.code === 4010",
               txt, what="the end of the show")
        assert b.eval(n, "() => document.querySelector('#pinned-buy').disabled && document.querySelector('#chat-input').disabled")
        assert b.eval(n, "() => document.querySelector('#live-badge').dataset.state") == "ended"
    connects = b.eval("a", "() => window.livecart.channel.stats.connects")
    time.sleep(1.5)
    assert b.eval("a", "() => window.livecart.channel.stats.connects") == connects   # no reconnect loop
    shots(e, "ended")
