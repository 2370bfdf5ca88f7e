"""Group buy, gifts and promotions on the viewer page (web/js/market.js; docs/viewer.md,
docs/marketing.md) in headless Chromium against the real livecartd, inside a private network
namespace (meson runs this file under `unshare -n`).

One server and one browser (tests/e2e/viewer_case.mjs, the viewer page's driver) with shopper A
(zh-CN, 390x844) and shopper B (en-US, 1280x800, clock 45 s fast), signed in with tokens in the
URL fragment as a shop would; C (en-US, 390x844) and D (zh-CN, 390x844, prefers reduced motion)
watch. The room is started
without a publisher: none of this needs the video. The cases run in file order on the same room
and assert what the shoppers see:

  team: A starts a team of two from the group sheet and gets its share link; B opens the link
        (/r/{room}?team=ID), sees that team highlighted with an invitation and joins; both pages
        show the team formed and both orders become payable (the order sheet's deadline is the
        server's). Until then A's order says it waits for the team. C opening the link later is
        told the team is no longer open.
  gifts: A tops up (the order sheet, paid by the signed payment callback; the wallet follows) and
        sends a fullscreen gift twice: B's page shows the combo banner x1, then x2 on the same
        combo id; on B and on C's phone layout the fullscreen effect is gone within 2 s and never
        takes the Buy button; B's leaderboard and the creator's earnings move; D sees the banner but
        no effect; a gift A cannot afford is refused with the page's error toast.
  promotions: a BOGO badge in the bag and on the pinned card; a promotion that starts in 4 s shows
        at its start by the server's clock (B's own clock is 45 s fast); the cart and the order show
        the line's promotion and the totals to the cent.

Screenshots (390x844 and 1280x800) go to LC_ARTIFACTS (default: <build>/e2e-artifacts)."""
import hashlib
import hmac
import json
import os
import re
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import lc  # noqa: E402
from showlib import CATALOG, SECRET, token  # noqa: E402
from test_viewer_page import Browser, _network_namespace  # noqa: E402,F401  (autouse: fail outside the namespace)

ROOM = "mkt"
ARTIFACTS = os.environ.get("LC_ARTIFACTS", os.path.join(os.environ.get("LC_BUILDDIR", "/tmp"), "e2e-artifacts"))
PAY_SECRET = "e2e-pay-secret"
SKEW_MS = 45000  # B's clock is this much fast
DEAL_SKU, DEAL_PRICE = "k-board-s", 2900
GIFTS = [{"id": "rose", "name": "Rose", "icon": "🌹", "coins": 1, "class": "small"},
         {"id": "rocket", "name": "Rocket", "icon": "🚀", "coins": 20, "class": "fullscreen"},
         {"id": "castle", "name": "Castle", "icon": "🏰", "coins": 500, "class": "big"}]
COIN_CENTS, CREATOR_PCT = 10, 70

SYNCED = "() => window.livecart && window.livecart.ui.synced && window.livecart.channel.connected"
TEXT = "(sel) => { const el = document.querySelector(sel); return el ? el.textContent : null; }"
VISIBLE = """(sel) => { const el = document.querySelector(sel);
  if (!el || el.hidden || el.closest('[hidden]') || el.closest('dialog:not([open])')) return false;
  const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; }"""


def ok(resp):
    assert resp.get("ok"), resp
    return resp["result"]


class Env:
    pass


def ctl(e, cmd, args):
    with e.server.ctl() as c:
        return c.call(cmd, args)


def orders_of(e, user):
    return ok(ctl(e, "order.list", {"room": ROOM, "user": user}))["orders"]


def shots(e, case, names=("a", "b")):
    for n in names:
        e.browser.call("shot", name=n, path=os.path.join(ARTIFACTS, f"marketing-{case}-{n}"))


def pay(e, order_id):
    """The merchant's backend reports a payment: POST /api/payments/callback, signed."""
    body = json.dumps({"room": ROOM, "order_id": order_id, "status": "paid", "payment_ref": f"e2e-{order_id}",
                       "ts": int(time.time() * 1000)})
    sig = hmac.new(PAY_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    st, _, resp = e.server.request("POST", "/api/payments/callback", body=body,
                                   headers={"Content-Type": "application/json", "X-Livecart-Signature": f"sha256={sig}"})
    assert st == 200, (st, resp)
    return json.loads(resp)["order"]


def countdown_s(txt):
    parts = [int(x) for x in txt.split(":")]
    return sum(v * 60 ** i for i, v in enumerate(reversed(parts)))


@pytest.fixture(scope="module")
def env():
    os.makedirs(ARTIFACTS, exist_ok=True)
    e = Env()
    e.server = lc.Server(extra=["log.level=info", f"auth.jwt_secret={SECRET}", f"payments.callback_secret={PAY_SECRET}"])
    e.server.start()
    e.browser = None
    try:
        with e.server.ctl() as c:
            ok(c.call("room.create", {"id": ROOM, "title": "拼团专场 · Group buy night", "creator": "Lin's Kitchen"}))
            with open(CATALOG) as f:
                e.catalog = json.load(f)
            ok(c.call("catalog.load", {"room": ROOM, "catalog": e.catalog}))
            ok(c.call("room.start", {"id": ROOM}))
        e.base = f"http://127.0.0.1:{e.server.http_port}"
        e.browser = Browser()
        e.browser.call("open", name="a", width=390, height=844, locale="zh-CN", origin=e.base)
        e.browser.call("open", name="b", width=1280, height=800, locale="en-US", skewMs=SKEW_MS, origin=e.base)
        e.browser.call("open", name="c", width=390, height=844, locale="en-US", origin=e.base)
        e.browser.call("open", name="d", width=390, height=844, locale="zh-CN", reducedMotion="reduce", origin=e.base)
        e.browser.call("goto", name="a", url=f"{e.base}/r/{ROOM}#token={token('alice', name='小明')}")
        e.browser.call("goto", name="c", url=f"{e.base}/r/{ROOM}#token={token('carol', name='Carol')}")
        e.browser.call("goto", name="d", url=f"{e.base}/r/{ROOM}")  # anonymous
        for n in ("a", "c", "d"):
            e.browser.wait(n, SYNCED, what="the show channel's snapshot")
        yield e
        errors = {n: [x for x in e.browser.call("errors", name=n) if x.startswith("pageerror")] for n in "abcd"}
        assert errors == {n: [] for n in "abcd"}, errors
    finally:
        if e.browser:
            e.browser.close()
        rc = e.server.stop()
        log = e.server.log_text()
        e.server.close()
        assert rc == 0, f"livecartd exited with {rc}:\n" + log[-4000:]


def test_team_of_two_forms_from_a_share_link(env):
    e, b = env, env.browser
    deal = ok(ctl(e, "group.open", {"room": ROOM, "id": "g1", "sku": DEAL_SKU, "price": DEAL_PRICE, "team_size": 2,
                                    "quantity": 10, "fill_ms": 600000}))["deal"]
    assert deal["state"] == "live" and deal["team_size"] == 2, deal
    pill = b.wait("a", "() => { const p = document.querySelector('#group-btn'); return !p.hidden && p.textContent; }",
                  what="the group-buy pill")
    assert pill == "拼团 ¥29.00", pill
    b.click("a", "#group-btn")
    head = b.wait("a", """() => { const d = document.querySelector('#group li.deal[data-deal="g1"]');
      return document.querySelector('#group').open && d && d.querySelector('.deal-head').textContent; }""", what="the deal")
    assert "2人团" in head and "¥29.00" in head and "¥49.00" in head and "剩 10 件" in head, head
    b.click("a", "#group li.deal[data-deal='g1'] button.start")
    mine = b.wait("a", """() => { const li = document.querySelector('#my-teams li.team[data-state="open"]');
      return li && {id: li.dataset.team, link: li.querySelector('input.share').value, seats: li.querySelector('.seats').textContent,
        text: li.textContent, cd: li.querySelector('.cd').textContent}; }""", what="A's team with its share link")
    team_id = mine["id"]
    assert re.fullmatch(r"t-.+", team_id), mine
    assert mine["link"] == f"{e.base}/r/{ROOM}?team={team_id}", mine
    assert mine["seats"] == "1/2" and "小*" in mine["text"] and "还差 1 人" in mine["text"], mine
    status = ok(ctl(e, "group.status", {"room": ROOM, "id": "g1"}))["deals"][0]
    team = next(t for t in status["teams"] if t["id"] == team_id)
    assert abs(countdown_s(mine["cd"]) - (team["deadline"] - time.time() * 1000) / 1000) <= 2, (mine, team)
    # Not payable until the team forms: the orders list says so.
    order_a = next(o for o in orders_of(e, "alice") if (o.get("group") or {}).get("team_id") == team_id)
    assert order_a["payable"] is False and order_a["total"] == DEAL_PRICE, order_a
    b.press("a", "Escape")
    b.click("a", "#cart-btn")
    row = b.wait("a", "(id) => { const li = document.querySelector(`#orders li[data-order=\"${id}\"]`); return li && li.textContent; }",
                 order_a["id"], what="the group order in A's orders")
    assert "等待成团" in row and "剩余支付时间" not in row, row
    b.press("a", "Escape")
    shots(e, "team-open", names=("a",))

    # B opens the share link: that team, highlighted, with an invitation and Join.
    b.call("goto", name="b", url=f"{mine['link']}#token={token('bob', name='Bob')}")
    b.wait("b", SYNCED, what="B's snapshot")
    offer = b.wait("b", """(id) => { const li = document.querySelector(`#group li.team.hl[data-team="${id}"]`);
      const inv = document.querySelector('#group-invite');
      return document.querySelector('#group').open && li && li.querySelector('button.join') && !inv.hidden &&
        {invite: inv.textContent, seats: li.querySelector('.seats').textContent, cd: li.querySelector('.cd').textContent}; }""",
                   team_id, what="the invited team highlighted in B")
    assert "小*" in offer["invite"] and offer["seats"] == "1/2", offer
    # B's clock is 45 s fast: the countdown is the server's.
    assert abs(countdown_s(offer["cd"]) - (team["deadline"] - time.time() * 1000) / 1000) <= 2, offer
    shots(e, "team-invited", names=("b",))
    b.click("b", f"#group li.team[data-team='{team_id}'] button.join")
    for n, word in (("a", "已成团"), ("b", "Team formed")):
        got = b.wait(n, """(id) => { const li = document.querySelector(`#my-teams li.team[data-team="${id}"]`);
          return li && li.dataset.state === 'formed' && li.textContent; }""", team_id, what=f"the team formed in {n}")
        assert word in got and "2/2" in got, (n, got)
    # Both orders are payable now, and the pages say so.
    for user in ("alice", "bob"):
        o = next(o for o in orders_of(e, user) if (o.get("group") or {}).get("team_id") == team_id)
        assert o["state"] == "pending" and o["payable"] is True, o
        if user == "alice":
            order_a = o
    toast = b.wait("a", "() => [...document.querySelectorAll('.toast')].map((x) => x.textContent).find((x) => x.includes('成团'))",
                   what="A's 'team formed' toast")
    assert "请在" in toast, toast
    b.click("a", ".toast:has-text('成团') .toast-btn")
    sheet = b.wait("a", """(id) => { const d = document.querySelector('#order');
      return d.open && d.dataset.order === id && d.dataset.payable === 'true' && {deadline: document.querySelector('#order-deadline').textContent,
        expires: Number(document.querySelector('#order-deadline').dataset.expiresAt), cancel: !document.querySelector('#order-cancel').hidden}; }""",
                   order_a["id"], what="A's order sheet, payable")
    assert re.search(r"请在 \d\d:\d\d 前完成支付", sheet["deadline"]) and sheet["expires"] == order_a["expires_at"], sheet
    b.press("a", "Escape")
    b.press("b", "Escape")
    b.click("b", "#cart-btn")
    row = b.wait("b", """() => [...document.querySelectorAll('#orders li')].map((li) => li.textContent).find((x) => x.includes('Group buy'))""",
                 what="B's group order in its orders")
    assert "Awaiting payment" in row and "left to pay" in row, row
    b.press("b", "Escape")
    # The link once the team is full: C is told, no sheet opens.
    b.call("goto", name="c", url=mine["link"])
    b.wait("c", SYNCED, what="C's snapshot")
    gone = b.wait("c", "() => [...document.querySelectorAll('.toast.error')].map((x) => x.textContent).find((x) => x)",
                  what="C told the team is no longer open")
    assert gone == "This team is no longer open" and not b.eval("c", "() => document.querySelector('#group').open"), gone
    shots(e, "team-formed")


def test_gift_animates_for_others_and_moves_the_leaderboard(env):
    e, b = env, env.browser
    ok(ctl(e, "gifts.load", {"room": ROOM, "gifts": GIFTS, "coin_cents": COIN_CENTS, "creator_pct": CREATOR_PCT}))
    ok(ctl(e, "product.pin", {"room": ROOM, "product": "k-thermos"}))
    for n in "abcd":
        b.wait(n, "() => !document.querySelector('#gift-btn').hidden && !document.querySelector('#pinned').hidden",
               what="the gift button and the pinned card")
    assert b.eval("b", VISIBLE, "#side-board-box") and b.eval("b", TEXT, "#side-board") == "No gifts yet"
    # B, C and D record each effect's life and where a tap on the Buy button lands meanwhile.
    for n in "bcd":
        b.eval(n, """() => { window.__fx = []; const btn = document.querySelector('#pinned-buy');
          new MutationObserver((ms) => { for (const m of ms) {
            for (const x of m.addedNodes) if (x.classList?.contains('fx-full') || x.classList?.contains('fx-big')) {
              const r = btn.getBoundingClientRect();
              const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
              window.__fx.push({cls: x.className, added: performance.now(), buyOnTop: hit === btn,
                pe: getComputedStyle(x).pointerEvents});
            }
            for (const x of m.removedNodes) { const f = window.__fx.find((y) => y.cls === x.className && !y.removed); if (f) f.removed = performance.now(); }
          } }).observe(document.querySelector('#gift-fx'), {childList: true}); }""")

    # A tops up 60 coins: an order like the others, paid by the payment callback.
    b.click("a", "#gift-btn")
    assert b.wait("a", "() => document.querySelector('#gifts').open && document.querySelector('#wallet').textContent") == "🪙 0 金币"
    gifts = b.eval("a", "() => [...document.querySelectorAll('#gift-list button')].map((x) => x.textContent)")
    assert gifts == ["🌹Rose1 金币", "🚀Rocket20 金币", "🏰Castle500 金币"], gifts
    b.click("a", "#topups button[data-coins='60']")
    top = b.wait("a", """() => { const d = document.querySelector('#order');
      return d.open && d.dataset.state === 'pending' && {id: d.dataset.order, total: document.querySelector('#order-total').textContent,
        items: document.querySelector('#order-items').textContent, deadline: document.querySelector('#order-deadline').textContent}; }""",
                 what="the top-up's order sheet")
    assert top["total"] == "¥6.00" and "60 金币" in top["items"] and "前完成支付" in top["deadline"], top
    server_order = next(o for o in orders_of(e, "alice") if o["id"] == top["id"])
    assert server_order["kind"] == "coins" and server_order["coins"] == 60 and server_order["total"] == 60 * COIN_CENTS, server_order
    pay(e, top["id"])
    b.wait("a", "() => document.querySelector('#order').dataset.state === 'paid'", what="the top-up paid in A's order sheet")
    b.wait("a", "() => document.querySelector('#wallet').dataset.coins === '60'", what="A's wallet credited")
    assert b.eval("a", TEXT, "#wallet") == "🪙 60 金币"
    b.press("a", "Escape")  # the order sheet; the gift sheet stays

    # A sends the fullscreen gift: B sees it, x1, then x2 on the same combo.
    b.click("a", "#gift-list button[data-gift='rocket']")
    first = b.wait("b", """() => { const c = document.querySelector('#gift-lane .gift-card');
      return c && {id: c.dataset.combo, cls: c.className, text: c.textContent}; }""", what="the gift in B")
    assert "fullscreen" in first["cls"] and "小*" in first["text"] and "Rocket" in first["text"] and first["text"].endswith("x1"), first
    b.wait("a", "() => document.querySelector('#wallet').dataset.coins === '40'", what="A's wallet after the gift")
    b.click("a", "#gift-list button[data-gift='rocket']")
    again = b.wait("b", """(id) => { const c = document.querySelector(`#gift-lane .gift-card[data-combo="${id}"]`);
      return c && c.dataset.count === '2' && c.textContent; }""", first["id"], what="the same combo at x2 in B")
    assert again.endswith("x2") and b.eval("b", "() => document.querySelectorAll('#gift-lane .gift-card').length") == 1, again
    # The fullscreen effect: shown, never over the Buy button, taking no taps, gone within 2 s.
    for n in "bc":
        fx = b.wait(n, "() => window.__fx.length && window.__fx.every((f) => f.removed) && window.__fx", timeout=5,
                    what="the fullscreen effect over and gone")
        assert fx[0]["cls"] == "fx-full", (n, fx)
        for f in fx:
            assert f["buyOnTop"] and f["pe"] == "none", (n, f)
            assert f["removed"] - f["added"] <= 2000, (n, f)
        assert b.eval(n, "() => getComputedStyle(document.querySelector('#gift-fx')).pointerEvents") == "none"
    # D prefers reduced motion: the banner, no effect.
    b.wait("d", "(id) => document.querySelector(`#gift-lane .gift-card[data-combo=\"${id}\"]`)", first["id"], what="the gift in D")
    assert b.eval("d", "() => window.__fx.length") == 0

    # B's leaderboard and the creator's earnings: 40 coins = CN¥4.00, 70 % of it.
    board = b.wait("b", """() => { const li = document.querySelector('#side-board li[data-by]');
      return li && li.dataset.coins === '40' && {row: li.textContent, earn: document.querySelector('#side-earnings').textContent}; }""",
                   what="B's leaderboard")
    assert board["row"] == "1小*40 coins" and board["earn"] == "Creator earned 40 coins (CN¥2.80)", board
    assert b.wait("a", "() => { const p = document.querySelector('#board-btn'); return !p.hidden && /40/.test(p.textContent) && p.textContent; }",
                  what="A's leaderboard pill") == "🏆 小* 40"
    stmt = ok(ctl(e, "gifts.statement", {"room": ROOM}))
    assert stmt["totals"]["coins"] == 40 and stmt["totals"]["creator_cents"] == 280, stmt
    shots(e, "gift", names=("a", "b"))

    # More than A has: the page's error toast, nothing spent.
    b.click("a", "#gift-list button[data-gift='castle']")
    err = b.wait("a", "() => [...document.querySelectorAll('.toast.error')].map((x) => x.textContent).find((x) => x.includes('金币不足'))",
                 what="the insufficient-coins toast")
    assert err == "金币不足，请先充值", err
    assert b.eval("a", "() => document.querySelector('#wallet').dataset.coins") == "20"   # 60 - 2 x 20
    b.press("a", "Escape")


def test_promotion_badges_and_the_discount_in_cart_and_order(env):
    e, b = env, env.browser
    ok(ctl(e, "promo.set", {"room": ROOM, "sku": "k-mug-oat", "kind": "bogo", "buy": 1, "free": 1, "label": "买1送1"}))
    ok(ctl(e, "product.pin", {"room": ROOM, "product": "k-mug"}))
    for n in ("a", "b"):
        got = b.wait(n, """() => { const p = document.querySelector('#pinned-promo'), s = document.querySelector('#pinned');
          return s.dataset.product === 'k-mug' && !p.hidden && p.textContent; }""", what="the pinned card's badge")
        assert got == "买1送1", (n, got)
    assert b.eval("b", TEXT, "#side-bag li[data-product='k-mug'] .promo-badge") == "买1送1"
    assert b.eval("b", VISIBLE, "#side-bag li[data-product='k-mug'] .promo-badge")
    assert b.eval("b", "() => document.querySelectorAll('#side-bag .promo-badge').length") == 1

    # A promotion 4 s ahead: no badge before its start, a badge from its start by the server clock.
    starts = int(time.time() * 1000) + 4000
    ok(ctl(e, "promo.set", {"room": ROOM, "sku": "k-towel-grey-2", "kind": "percent", "percent_off": 20,
                            "starts_at": starts, "label": "8折"}))
    b.wait("b", "() => window.livecart.state.skus.get('k-towel-grey-2').sku.promotion", what="B has the promotion")
    assert b.eval("b", TEXT, "#side-bag li[data-product='k-towel'] .promo-badge") is None
    shown_at = b.wait("b", """() => document.querySelector("#side-bag li[data-product='k-towel'] .promo-badge")?.textContent === '8折'
      && window.livecart.channel.now()""", timeout=10, what="the badge at the promotion's start")
    assert starts <= shown_at <= starts + 1000, (shown_at - starts)

    # A's cart: 2 mugs from the product sheet (its badge says so), one free (bogo 1+1), priced by the server.
    b.click("a", "#bag-btn")
    b.click("a", "#bag-list li[data-product='k-mug'] button")
    b.click("a", "#product-skus input[value='k-mug-oat']")
    assert b.wait("a", "() => { const p = document.querySelector('#product-promo'); return !p.hidden && p.textContent; }",
                  what="the product sheet's badge") == "买1送1"
    b.click("a", "#product-skus input[value='k-mug-mist']")
    assert b.eval("a", "() => document.querySelector('#product-promo').hidden")   # that colour has none
    b.click("a", "#product-skus input[value='k-mug-oat']")
    b.click("a", "#product-plus")
    b.click("a", "#product-add")
    b.wait("a", "() => window.livecart.state.me.cart.items.some((i) => i.sku === 'k-mug-oat' && i.qty === 2)", what="the cart line")
    b.click("a", "#cart-btn")
    cart = b.wait("a", """() => { const t = document.querySelector('#cart-total');
      return t.dataset.minor === '4500' && {line: document.querySelector('#cart-lines li[data-sku="k-mug-oat"] .promo-badge')?.textContent,
        promo: document.querySelector('#cart-promo').textContent, promoShown: !document.querySelector('#cart-promo').hidden,
        coupon: document.querySelector('#cart-discount').textContent, sub: document.querySelector('#cart-subtotal').textContent}; }""",
                  what="the cart's quote with the promotion")
    assert cart == {"line": "买1送1 −¥45.00", "promo": "−¥45.00", "promoShown": True, "coupon": "¥0.00", "sub": "¥90.00"}, cart
    shots(e, "promo-cart", names=("a",))
    b.click("a", "#checkout")
    order = b.wait("a", """() => { const d = document.querySelector('#order');
      return d.open && Number(document.querySelector('#order-total').dataset.minor) === 4500 && {id: d.dataset.order,
        items: document.querySelector('#order-items').textContent, promo: document.querySelector('#order-promo').textContent}; }""",
                   what="the order with its promotion")
    assert "买1送1 −¥45.00" in order["items"] and order["promo"] == "−¥45.00", order
    o = next(x for x in orders_of(e, "alice") if x["id"] == order["id"])
    assert (o["subtotal"], o["promo_discount"], o["coupon_discount"], o["total"]) == (9000, 4500, 0, 4500), o
    assert o["items"][0]["promotion"]["discount"] == 4500, o
    b.press("a", "Escape")
    # The phone layout holds the new controls: nothing sticks out, every control is labelled.
    layout = b.eval("a", """() => ({wide: document.documentElement.scrollWidth,
      unlabelled: [...document.querySelectorAll('button, select, input, a[href]')]
        .filter((el) => el.getClientRects().length && !el.closest('dialog:not([open])'))
        .filter((el) => !((el.getAttribute('aria-label') || '').trim() || el.textContent.trim() || (el.labels && el.labels.length) || el.title))
        .map((el) => el.outerHTML.slice(0, 80))})""")
    assert layout["wide"] <= 390 and layout["unlabelled"] == [], layout
    shots(e, "promo")
