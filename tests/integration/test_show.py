"""The show channel end to end: real livecartd, real websocket clients."""
import asyncio
import hashlib
import hmac
import json
import random
import signal
import socket
import time

import pytest

import lc
from showlib import SECRET, Viewer, run, server_args, setup_room, token


@pytest.fixture
def show():
    s = lc.Server(extra=server_args()).start()
    setup_room(s)
    yield s
    rc = s.stop()
    s.close()
    assert rc == 0, f"livecartd exited with {rc}:\n" + s.log_text()[-4000:]


def metric(server, name):
    _, _, body = server.request("GET", "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_snapshot_pin_and_clock(show):
    async def go():
        a = await Viewer(show).connect()  # anonymous
        b = await Viewer(show, user="amy", name="Amy").connect()
        st = a.snapshot["state"]
        assert st["currency"] == "CNY" and len(st["products"]) == 24
        assert "me" not in st and "me" in b.snapshot["state"]
        assert a.welcome["user"] is None and b.welcome["user"] == {"id": "amy", "name": "Amy"}
        r = show.call("product.pin", {"room": "demo", "product": "k-thermos"})
        assert r["ok"], r
        for v in (a, b):
            await v.wait_for(lambda v=v: "product.pinned" in v.event_names(), 5)
            ev = [e for e in v.events if e["name"] == "product.pinned"][0]
            assert ev["data"]["product"]["id"] == "k-thermos"
            assert ev["data"]["product"]["skus"][0]["available"] == 120
        # ping/pong: the server's clock in every message, the client's time echoed
        c = time.time() * 1000
        await a.send({"type": "ping", "c": c})
        await a.wait_for(lambda: any(m["type"] == "pong" for m in a.other), 5)
        pong = [m for m in a.other if m["type"] == "pong"][0]
        assert abs(pong["c"] - c) < 1 and abs(pong["t"] - c) < 5000
        await a.close()
        await b.close()
    run(go())


def test_anonymous_viewers_cannot_shop(show):
    async def go():
        a = await Viewer(show).connect()
        r = await a.request("cart.add", sku="k-thermos-blue-600", qty=1)
        assert r["ok"] is False and r["error"]["code"] == "unauthorized"
        await a.send({"type": "like", "count": 3})  # allowed anonymously
        await a.wait_for(lambda: any(e["name"] == "likes" and e["data"]["total"] == 3 for e in a.events), 5)
        await a.close()
    run(go())


def test_bad_tokens_are_refused(show):
    async def go():
        bad = token("mallory")[:-2] + "xx"
        v = Viewer(show)
        await v.connect(hello=False)
        await v.send({"type": "hello", "v": 1, "room": "demo", "token": bad})
        await v.wait_for(lambda: v.closed is not None, 5)
        err = [m for m in v.other if m["type"] == "error"][0]
        assert err["error"]["code"] == "invalid_token"
        other_room = token("amy")
        v2 = Viewer(show)
        await v2.connect(hello=False)
        await v2.send({"type": "hello", "v": 1, "room": "nope", "token": other_room})
        await v2.wait_for(lambda: v2.closed is not None, 5)
        assert [m for m in v2.other if m["type"] == "error"][0]["error"]["code"] == "not_found"
    run(go())


def test_two_tabs_of_one_user_share_one_cart(show):
    async def go():
        t1 = await Viewer(show, user="bo").connect()
        t2 = await Viewer(show, user="bo").connect()
        r = await t1.request("cart.add", sku="k-thermos-blue-600", qty=2)
        assert r["ok"], r
        await t2.wait_for(lambda: any(p["name"] == "cart.updated" for p in t2.privates), 5)
        cart = [p for p in t2.privates if p["name"] == "cart.updated"][-1]["data"]["cart"]
        assert cart["items"][0]["sku"] == "k-thermos-blue-600" and cart["items"][0]["qty"] == 2
        assert cart == r["result"]["cart"]
        # a third tab sees the cart in its snapshot
        t3 = await Viewer(show, user="bo").connect()
        assert t3.snapshot["state"]["me"]["cart"] == cart
        for t in (t1, t2, t3):
            await t.close()
    run(go())


def test_checkout_with_coupon_exact_total_and_payment_callback(show):
    async def go():
        v = await Viewer(show, user="cy").connect()
        tab2 = await Viewer(show, user="cy").connect()
        r = show.call("coupon.drop", {"room": "demo", "id": "mj", "kind": "threshold", "amount_off": 3000,
                                      "min_spend": 20000, "quantity": 10})
        assert r["ok"], r
        await v.wait_for(lambda: "coupon.dropped" in v.event_names(), 5)
        claim = await v.request("coupon.claim", coupon_id="mj")
        assert claim["ok"], claim
        again = await v.request("coupon.claim", coupon_id="mj")
        assert again["error"]["code"] == "coupon_unavailable"
        await v.request("cart.add", sku="k-thermos-blue-600", qty=1)   # 12900
        await v.request("cart.add", sku="k-thermos-white-600", qty=1)  # 12900
        r = await v.request("checkout", claim_id=claim["result"]["claim"]["id"])
        assert r["ok"], r
        order = r["result"]["order"]
        assert (order["subtotal"], order["discount"], order["total"]) == (25800, 3000, 22800)
        assert order["state"] == "pending" and order["expires_at"] > order["created_at"]
        # the user's other tab learns about the order; the requesting one has it in its reply
        await tab2.wait_for(lambda: any(p["name"] == "order.created" for p in tab2.privates), 5)
        assert [p for p in tab2.privates if p["name"] == "order.created"][0]["data"]["order"] == order
        assert not any(p["name"] == "order.created" for p in v.privates)
        await v.close()
        await tab2.close()
        return order["id"]
    order_id = run(go())
    assert order_id
    # the merchant pays it through the control socket
    r = show.call("order.pay", {"room": "demo", "id": order_id, "payment_ref": "pay-1"})
    assert r["ok"] and r["result"]["order"]["state"] == "paid", r
    stats = show.call("stats", {"room": "demo"})["result"]
    assert stats["orders"]["paid"] == 1 and stats["gmv_paid"] == 22800


def test_payment_callback_is_signed(tmp_path):
    secret = "merchant-secret"
    s = lc.Server(extra=server_args() + [f"payments.callback_secret={secret}"]).start()
    try:
        setup_room(s)

        async def buy():
            v = await Viewer(s, user="dee").connect()
            r = await v.request("checkout", items=[{"sku": "k-thermos-blue-600", "qty": 1}])
            assert r["ok"], r
            await v.close()
            return r["result"]["order"]["id"]
        oid = run(buy())
        body = json.dumps({"room": "demo", "order_id": oid, "status": "paid", "payment_ref": "wx-77",
                           "ts": int(time.time() * 1000)}).encode()
        good = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        st, _, resp = s.request("POST", "/api/payments/callback", body=body,
                                headers={"Content-Type": "application/json", "X-Livecart-Signature": "sha256=" + "0" * 64})
        assert st == 401 and json.loads(resp)["error"]["code"]
        st, _, resp = s.request("POST", "/api/payments/callback", body=body,
                                headers={"Content-Type": "application/json", "X-Livecart-Signature": good})
        assert st == 200, resp
        assert json.loads(resp)["order"]["state"] == "paid"
        st, _, resp = s.request("POST", "/api/payments/callback", body=body,
                                headers={"Content-Type": "application/json", "X-Livecart-Signature": good})
        assert st == 409 and json.loads(resp)["error"]["code"] == "invalid_state"
        assert s.stop() == 0, s.log_text()[-3000:]
    finally:
        s.close()


def test_resume_is_gapless_and_falls_back_to_a_snapshot():
    s = lc.Server(extra=server_args() + ["ws.history_events=16"]).start()
    try:
        setup_room(s)

        async def go():
            v = await Viewer(s, user="eve").connect()
            s.call("product.pin", {"room": "demo", "product": "k-thermos"})
            await v.wait_for(lambda: "product.pinned" in v.event_names(), 5)
            await asyncio.sleep(0.3)  # let the throttled viewer count go out too
            epoch, seq = v.epoch, v.seq
            await v.close()
            for p in ("k-thermos", None, "k-thermos", None, "k-thermos"):  # 5 events while away
                s.call("product.pin" if p else "product.unpin", {"room": "demo", "product": p} if p else {"room": "demo"})
            v2 = Viewer(s, user="eve")
            await v2.connect(resume={"epoch": epoch, "seq": seq})
            assert v2.welcome["resumed"] is True and v2.welcome["seq"] >= seq + 5
            end = v2.welcome["seq"]
            await v2.wait_for(lambda: v2.seq >= end, 5)   # Viewer asserts there is no gap
            missed = [e for e in v2.events if e["seq"] <= end]
            assert [e["seq"] for e in missed] == list(range(seq + 1, end + 1))
            assert [e["name"] for e in missed if e["name"] not in ("viewers", "likes")] == \
                ["product.pinned", "product.unpinned", "product.pinned", "product.unpinned", "product.pinned"]
            assert any(p["name"] == "me" for p in v2.privates)
            await v2.close()
            for i in range(20):  # more than the ring holds
                s.call("product.pin" if i % 2 else "product.unpin",
                       {"room": "demo", "product": "k-thermos"} if i % 2 else {"room": "demo"})
            v3 = Viewer(s, user="eve")
            await v3.connect(resume={"epoch": epoch, "seq": seq + 5})
            assert v3.welcome["resumed"] is False and v3.snapshot is not None
            assert v3.snapshot["seq"] >= seq + 25  # (+ throttled viewer-count events)
            v4 = Viewer(s, user="eve")
            await v4.connect(resume={"epoch": "0000000000000000", "seq": 1})  # another epoch
            assert v4.welcome["resumed"] is False
            await v3.close()
            await v4.close()
        run(go())
        assert s.stop() == 0
    finally:
        s.close()


def test_flash_sale_2000_buyers_exactly_100_sold():
    s = lc.Server(extra=server_args() + ["ws.hello_timeout_ms=120000"]).start()
    try:
        setup_room(s)
        n = 2000

        async def go():
            viewers = [Viewer(s, user=f"buyer{i}") for i in range(n)]
            for k in range(0, n, 200):
                await asyncio.gather(*(v.connect() for v in viewers[k:k + 200]))
            r = s.call("flash.schedule", {"room": "demo", "id": "fs1", "sku": "k-thermos-blue-600", "price": 6900,
                                          "quantity": 100, "per_user_limit": 1, "duration_ms": 600000})
            assert r["ok"], r
            await asyncio.gather(*(v.wait_for(lambda v=v: "flash.started" in v.event_names(), 60) for v in viewers))
            replies = await asyncio.gather(*(v.request("flash.buy", sale_id="fs1", qty=1) for v in viewers))
            ok = [r for r in replies if r["ok"]]
            codes = {r["error"]["code"] for r in replies if not r["ok"]}
            assert len(ok) == 100
            assert codes == {"sold_out"}
            buyers = [r["result"]["order"]["user"] for r in ok]
            assert len(set(buyers)) == 100  # nobody over the limit of 1
            # every viewer ends on the exact final stock
            await asyncio.gather(*(v.wait_for(
                lambda v=v: any(e["name"] == "flash.stock" and e["data"]["remaining"] == 0 for e in v.events), 30)
                for v in viewers[:50]))
            # a second try by a winner: the per-user limit
            again = await viewers[0].request("flash.buy", sale_id="fs1", qty=1)
            assert again["ok"] is False
            await asyncio.gather(*(v.close() for v in viewers))
            return {r["result"]["order"]["id"] for r in ok}
        acked = run(go())
        orders = s.call("order.list", {"room": "demo", "limit": 10000})["result"]
        assert orders["total"] == 100 and {o["id"] for o in orders["orders"]} == acked
        assert s.stop() == 0, s.log_text()[-3000:]
    finally:
        s.close()


def test_kill9_during_a_flash_sale_keeps_every_acknowledged_purchase(tmp_path):
    workdir = str(tmp_path)
    s = lc.Server(workdir=workdir, extra=server_args()).start()
    setup_room(s)
    r = s.call("flash.schedule", {"room": "demo", "id": "fs1", "sku": "k-thermos-blue-600", "price": 6900,
                                  "quantity": 100, "per_user_limit": 1, "duration_ms": 600000})
    assert r["ok"], r
    n = 300
    answered = {}  # user -> reply

    async def buyers(server, users, deadline_kill=None):
        vs = [Viewer(server, user=u) for u in users]
        await asyncio.gather(*(v.connect() for v in vs))

        async def buy(v):
            try:
                answered[v.user] = await v.request("flash.buy", op_id=f"buy-{v.user}", sale_id="fs1", qty=1)
            except (ConnectionError, asyncio.TimeoutError, Exception):  # noqa: BLE001 - killed under us
                pass
        tasks = [asyncio.ensure_future(buy(v)) for v in vs]
        if deadline_kill:
            await asyncio.sleep(deadline_kill)
            server.kill9()
        await asyncio.gather(*tasks, return_exceptions=True)
        for v in vs:
            try:
                await asyncio.wait_for(v.close(), 3)
            except Exception:  # noqa: BLE001
                pass

    run(buyers(s, [f"u{i}" for i in range(n)], deadline_kill=random.uniform(0.05, 0.4)))
    acked_before = {u: r["result"]["order"]["id"] for u, r in answered.items() if r["ok"]}
    s2 = lc.Server(workdir=workdir, extra=server_args()).start()
    try:
        # every buyer without an answer retries with the same op_id: a definite answer now
        missing = [f"u{i}" for i in range(n) if f"u{i}" not in answered]
        run(buyers(s2, missing))
        assert all(f"u{i}" in answered for i in range(n))
        acked = {u: r["result"]["order"]["id"] for u, r in answered.items() if r["ok"]}
        assert set(acked_before.items()) <= set(acked.items())
        orders = s2.call("order.list", {"room": "demo", "limit": 10000})["result"]["orders"]
        snap = s2.call("show.snapshot", {"room": "demo"})["result"]["state"]
        sale = snap["flash_sales"][0]
        assert sale["sold"] == len(orders) == len(acked)
        assert {o["id"] for o in orders} == set(acked.values())
        assert len({o["user"] for o in orders}) == len(orders)
        assert sale["sold"] == 100  # 300 buyers for 100 units: it sold out
        assert s2.stop() == 0, s2.log_text()[-3000:]
    finally:
        s2.close()


def test_slow_reader_is_resynced_not_buffered():
    show = lc.Server(extra=server_args() + ["ws.queue_messages=32", "ws.history_events=64"])
    # RSS must show live memory, not AddressSanitizer's quarantine of freed blocks
    show.env = {"ASAN_OPTIONS": lc.os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0"}
    show.start()
    setup_room(show)
    # a raw websocket with a tiny receive window that sends hello and then never reads
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", show.http_port))
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Sec-WebSocket-Protocol: livecart.v1\r\n\r\n").encode())
    hello = json.dumps({"type": "hello", "v": 1, "room": "demo"}).encode()
    mask = b"\x01\x02\x03\x04"
    frame = bytes([0x81, 0x80 | len(hello)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(hello))
    sock.sendall(frame)
    with open("/proc/%d/status" % show.proc.pid) as f:
        rss0 = int([l for l in f if l.startswith("VmRSS")][0].split()[1])
    with open(lc.os.path.join(lc.SRCDIR, "conf", "demo", "catalog.json")) as f:
        catalog = json.load(f)
    with show.ctl() as c:
        for i in range(2000):  # each sends every viewer the whole product list (~13 KB)
            assert c.call("catalog.load", {"room": "demo", "catalog": catalog})["ok"]
    assert metric(show, "livecart_show_resyncs_total") >= 1
    with open("/proc/%d/status" % show.proc.pid) as f:
        rss1 = int([l for l in f if l.startswith("VmRSS")][0].split()[1])
    # buffering it all would take 2000 x 13 KB = 26 MB for this one reader
    assert rss1 - rss0 < 12 * 1024, f"RSS grew by {rss1 - rss0} KiB"
    # the reader catches up: a snapshot is somewhere in what it receives
    sock.settimeout(10)
    got = b""
    try:
        while b'"type":"snapshot"' not in got[-2000000:]:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    assert b'"type":"snapshot"' in got
    sock.close()
    assert show.stop() == 0
    show.close()


def test_chat_filter_mute_ban_delete(show):
    async def go():
        a = await Viewer(show, user="fay", name="Fay").connect()
        a2 = await Viewer(show, user="fay", name="Fay").connect()  # her second tab
        b = await Viewer(show, user="gus").connect()
        r = await a.request("chat.send", text="大家好 hello")
        assert r["ok"] and r["result"]["visibility"] == "room"
        mid = r["result"]["message"]["id"]
        await b.wait_for(lambda: "chat.message" in b.event_names(), 5)
        await asyncio.sleep(1.1)  # chat.min_interval_ms
        r = await a.request("chat.send", text="加 微 信 领红包")
        assert r["ok"] and r["result"]["visibility"] == "sender"
        await a2.wait_for(lambda: any(p["name"] == "chat.message" for p in a2.privates), 5)
        await asyncio.sleep(0.3)
        assert b.event_names().count("chat.message") == 1  # the filtered one never reached gus
        assert show.call("chat.delete", {"room": "demo", "id": mid})["ok"]
        await b.wait_for(lambda: "chat.deleted" in b.event_names(), 5)
        me = a.snapshot["state"]["me"]
        assert (me["muted_until"], me["mute_reason"], me["banned"]) == (0, "", False), me
        muted = show.call("chat.mute", {"room": "demo", "user": "fay", "seconds": 60, "reason": "spam"})
        assert muted["ok"], muted
        await a.wait_for(lambda: any(p["name"] == "chat.muted" for p in a.privates), 5)
        r = await a.request("chat.send", text="hi again")
        assert r["error"]["code"] == "muted" and "seconds" in r["error"]["message"]
        assert show.call("chat.ban", {"room": "demo", "user": "gus"})["ok"]
        r = await b.request("chat.send", text="hello")
        assert r["error"]["code"] == "banned"
        r = await b.request("chat.send", text="x" * 501)
        assert r["ok"] is False
        # A reload learns both from the snapshot's `me`, a resume from the private `me`.
        until = muted["result"]["until"]
        assert until > time.time() * 1000 + 50000, muted
        fay = await Viewer(show, user="fay", name="Fay").connect()
        gus = await Viewer(show, user="gus").connect()
        anon = await Viewer(show).connect()
        me_fay, me_gus = fay.snapshot["state"]["me"], gus.snapshot["state"]["me"]
        assert (me_fay["muted_until"], me_fay["mute_reason"], me_fay["banned"]) == (until, "spam", False), me_fay
        assert (me_gus["muted_until"], me_gus["mute_reason"], me_gus["banned"]) == (0, "", True), me_gus
        assert "me" not in anon.snapshot["state"]
        pos = {"epoch": gus.epoch, "seq": gus.seq}
        await gus.close()
        gus = await Viewer(show, user="gus").connect(resume=pos)
        assert gus.welcome["resumed"]
        await gus.wait_for(lambda: any(p["name"] == "me" for p in gus.privates), 5)
        me = [p for p in gus.privates if p["name"] == "me"][0]["data"]
        assert me["banned"] is True and me["muted_until"] == 0, me
        assert show.call("chat.unmute", {"room": "demo", "user": "fay"})["ok"]
        assert show.call("chat.unban", {"room": "demo", "user": "gus"})["ok"]
        for v in (fay, gus, anon):
            await v.close()
        fay = await Viewer(show, user="fay", name="Fay").connect()
        gus = await Viewer(show, user="gus").connect()
        me_fay, me_gus = fay.snapshot["state"]["me"], gus.snapshot["state"]["me"]
        assert (me_fay["muted_until"], me_fay["mute_reason"], me_gus["banned"]) == (0, "", False), (me_fay, me_gus)
        await fay.close()
        await gus.close()
        await a.close()
        await a2.close()
        await b.close()
    run(go())


def test_bad_input_gets_codes_and_floods_are_cut(show):
    async def go():
        v = Viewer(show, user="hal")
        await v.connect(hello=False)
        await v.send({"type": "cart.add", "op_id": "x1", "sku": "a", "qty": 1})  # before hello
        await v.send({"type": "hello", "v": 1, "room": "demo", "token": token("hal")})
        await v.wait_for(lambda: any(m.get("type") == "snapshot" for m in v.other), 5)
        await v.send("{not json")
        await v.send({"type": "warp", "op_id": "w1"})
        await v.send({"type": "cart.add", "op_id": "q1", "sku": "k-thermos-blue-600", "qty": "two"})
        await v.send({"type": "hello", "v": 1, "room": "demo"})
        await v.send(json.dumps({"type": "chat.send", "op_id": "big", "text": "y" * 400, "pad": "z" * 9000}))
        await v.wait_for(lambda: len([m for m in v.other if m["type"] == "error"]) + len(v.replies) >= 6, 5)
        codes = [m["error"]["code"] for m in v.other if m["type"] == "error"] + \
                [r["error"]["code"] for r in v.replies.values() if not r["ok"]]
        for c in ("not_hello", "bad_message", "unknown_type", "already_hello", "too_large"):
            assert c in codes, (c, codes)
        assert v.closed is None  # still open after all that
        r = await v.request("cart.add", sku="k-thermos-blue-600", qty=1)
        assert r["ok"]
        # over the rate (20/s, burst 40): refused with rate_limited, the connection stays
        for i in range(70):
            await v.send({"type": "ping", "c": i})
        await v.wait_for(lambda: any(m["type"] == "error" and m["error"]["code"] == "rate_limited"
                                     for m in v.other), 5)
        pongs = len([m for m in v.other if m["type"] == "pong"])
        assert 10 <= pongs < 70  # the burst, less what the messages above used
        assert v.closed is None
        # a flood far above the rate: closed as abusive
        for i in range(3000):
            try:
                await v.send({"type": "ping", "c": i})
            except Exception:  # noqa: BLE001 - closed while flooding
                break
        await v.wait_for(lambda: v.closed is not None, 10)
        # 4001 when the close frame makes it; a reset when the kernel drops it with the unread flood
        assert v.ws.close_code in (4001, 1006)
        # others are unaffected
        w = await Viewer(show, user="ivy").connect()
        assert (await w.request("cart.add", sku="k-thermos-blue-600", qty=1))["ok"]
        await w.close()
    run(go())


def test_room_lifecycle_ends_shopping(show):
    async def go():
        assert show.call("room.start", {"id": "demo"})["result"]["room"]["state"] == "live"
        v = await Viewer(show, user="joe").connect()
        assert (await v.request("cart.add", sku="k-thermos-blue-600", qty=1))["ok"]
        assert show.call("room.end", {"id": "demo"})["ok"]
        await v.wait_for(lambda: v.closed is not None, 5)
        assert v.ws.close_code == 4010
        w = await Viewer(show, user="joe").connect()  # still readable: the replay of the show
        assert w.snapshot["state"]["closed"] is True
        r = await w.request("checkout")
        assert r["ok"] is False and r["error"]["code"] == "invalid_state", r
        await w.close()
    run(go())


def test_sigterm_tells_viewers_to_come_back():
    s = lc.Server(extra=server_args()).start()
    try:
        setup_room(s)

        async def go():
            v = await Viewer(s, user="kim").connect()
            s.proc.send_signal(lc.signal.SIGTERM)
            await v.wait_for(lambda: v.closed is not None, 10)
            return v.ws.close_code
        assert run(go()) == 1001
        assert s.proc.wait(timeout=10) == 0, s.log_text()[-2000:]
        s.log.close()
    finally:
        s.close()


# ---- issue 12: hold limit, cart.quote, display names, documented behaviour ----------------------

def test_hold_limit_refuses_hoarding_until_paid(show):
    """One viewer may hold at most `commerce.hold_limit` (default 10) units of a SKU in unpaid
    orders: the 11th is refused with hold_limit_exceeded, another viewer can still buy, and a
    paid order gives the allowance back."""
    async def go():
        v = await Viewer(show, user="hoarder").connect()
        other = await Viewer(show, user="fair").connect()
        sku = [k for p in v.snapshot["state"]["products"] for k in p["skus"] if k["id"] == "k-thermos-blue-600"][0]
        assert sku["hold_limit"] == 10 and sku["available"] == 120
        r = await v.request("checkout", items=[{"sku": "k-thermos-blue-600", "qty": 11}])
        assert r["ok"] is False and r["error"]["code"] == "hold_limit_exceeded", r
        assert "at most 10" in r["error"]["message"]
        r = await v.request("checkout", items=[{"sku": "k-thermos-blue-600", "qty": 10}])
        assert r["ok"], r
        first = r["result"]["order"]["id"]
        r = await v.request("checkout", items=[{"sku": "k-thermos-blue-600", "qty": 1}])
        assert r["error"]["code"] == "hold_limit_exceeded", r
        # through the cart too
        assert (await v.request("cart.add", sku="k-thermos-blue-600", qty=1))["ok"]
        r = await v.request("checkout")
        assert r["error"]["code"] == "hold_limit_exceeded", r
        r = await other.request("checkout", items=[{"sku": "k-thermos-blue-600", "qty": 10}])
        assert r["ok"], r
        # the quantity limit is one number, 99, in the codec and the engine
        r = await v.request("cart.set", sku="k-thermos-white-600", qty=100)
        assert r["error"]["code"] == "bad_message" and "qty: must be an integer 0..99" in r["error"]["message"], r
        assert (await v.request("cart.set", sku="k-thermos-white-600", qty=99))["ok"]
        pay = show.call("order.pay", {"room": "demo", "id": first, "payment_ref": "p-1"})
        assert pay["ok"], pay
        r = await v.request("checkout", items=[{"sku": "k-thermos-blue-600", "qty": 10}])
        assert r["ok"], r
        await v.close()
        await other.close()
    run(go())


def test_cart_quote_prices_like_checkout(show):
    """cart.quote: the server's price of the cart with a coupon claim, so the page does not
    carry its own copy of the coupon formula; the order then charges exactly that."""
    async def go():
        v = await Viewer(show, user="quinn").connect()
        anon = await Viewer(show).connect()
        r = show.call("coupon.drop", {"room": "demo", "id": "pct15", "kind": "percent", "percent_off": 15,
                                      "max_off": 3000, "quantity": 10})
        assert r["ok"], r
        r = show.call("coupon.drop", {"room": "demo", "id": "big", "kind": "threshold", "amount_off": 5000,
                                      "min_spend": 100000, "quantity": 10})
        assert r["ok"], r
        claims = {}
        for cid in ("pct15", "big"):
            c = await v.request("coupon.claim", coupon_id=cid)
            assert c["ok"], c
            claims[cid] = c["result"]["claim"]["id"]
        empty = await v.request("cart.quote")
        assert empty["ok"] and empty["result"]["quote"]["subtotal"] == 0 and empty["result"]["quote"]["items"] == []
        await v.request("cart.add", sku="k-thermos-blue-600", qty=1)   # 12900
        await v.request("cart.add", sku="k-thermos-pink-450", qty=2)   # 2 x 10900
        q = (await v.request("cart.quote"))["result"]["quote"]
        assert (q["currency"], q["currency_exponent"], q["subtotal"], q["discount"], q["total"]) == ("CNY", 2, 34700, 0, 34700)
        assert [(i["sku"], i["qty"], i["unit_price"], i["amount"]) for i in q["items"]] == [
            ("k-thermos-blue-600", 1, 12900, 12900), ("k-thermos-pink-450", 2, 10900, 21800)]
        offers = {o["coupon_id"]: o for o in q["claims"]}
        assert offers["pct15"]["discount"] == 3000            # 15% of 34700 = 5205, capped at 3000
        assert offers["big"]["discount"] is None and offers["big"]["why"] == "below minimum spend"
        r = await v.request("cart.quote", claim_id=claims["pct15"])
        q = r["result"]["quote"]
        assert (q["subtotal"], q["discount"], q["total"], q["claim_id"]) == (34700, 3000, 31700, claims["pct15"])
        r = await v.request("cart.quote", claim_id=claims["big"])
        assert r["error"]["code"] == "coupon_not_applicable", r
        r = await v.request("cart.quote", items=[{"sku": "k-thermos-blue-600", "qty": 1}], claim_id=claims["pct15"])
        assert (r["result"]["quote"]["subtotal"], r["result"]["quote"]["discount"]) == (12900, 1935)
        r = await v.request("cart.quote", items=[{"sku": "nope", "qty": 1}])
        assert r["error"]["code"] == "not_found", r
        r = await v.request("cart.quote", items=[{"sku": "k-thermos-blue-600", "qty": 100}])
        assert r["error"]["code"] == "bad_message" and "items[0].qty" in r["error"]["message"], r
        r = await v.request("cart.quote", claim_id="c-999")
        assert r["error"]["code"] == "not_found", r
        r = await anon.request("cart.quote")
        assert r["error"]["code"] == "unauthorized", r
        # a quote reserves nothing
        assert not any(e["name"] == "stock.updated" for e in v.events)
        order = (await v.request("checkout", claim_id=claims["pct15"]))["result"]["order"]
        assert (order["subtotal"], order["discount"], order["total"]) == (34700, 3000, 31700)
        # a spent claim: coupon_not_applicable at checkout and quote alike (docs/protocol.md)
        await v.request("cart.add", sku="k-thermos-blue-600", qty=1)
        r = await v.request("checkout", claim_id=claims["pct15"])
        assert r["error"]["code"] == "coupon_not_applicable", r
        r = await v.request("cart.quote", claim_id=claims["pct15"])
        assert r["error"]["code"] == "coupon_not_applicable", r
        await v.close()
        await anon.close()
    run(go())


def test_invalid_token_closes_even_when_anonymous_viewers_are_allowed(show):
    """One truth for docs/protocol.md: a hello whose token is invalid gets invalid_token and
    close 4003, also on a server that lets anonymous viewers in (the default); the client
    believed it was signed in, so it is not silently downgraded."""
    async def go():
        anon = await Viewer(show).connect()   # anonymous viewers are allowed here
        assert anon.welcome["user"] is None
        v = Viewer(show)
        await v.connect(hello=False)
        await v.send({"type": "hello", "v": 1, "room": "demo", "token": token("mallory")[:-2] + "xx"})
        await v.wait_for(lambda: v.closed is not None, 5)
        assert [m for m in v.other if m["type"] == "error"][0]["error"]["code"] == "invalid_token"
        assert v.ws.close_code == 4003, v.ws.close_code
        await anon.close()
    run(go())


def test_requesting_connection_gets_the_reply_not_the_private_echo(show):
    """Documented in docs/protocol.md (private): the connection that made a request gets its
    answer in the reply and not the private event repeating it; the user's other connections
    get the private event. Private events that are not the answer (cart.updated after a
    checkout of the cart) go to every connection, the requesting one included."""
    async def go():
        a = await Viewer(show, user="pat").connect()
        b = await Viewer(show, user="pat").connect()
        r = show.call("coupon.drop", {"room": "demo", "id": "c5", "kind": "fixed", "amount_off": 500, "quantity": 5})
        assert r["ok"], r
        await a.request("cart.add", sku="k-thermos-blue-600", qty=1)
        await a.request("coupon.claim", coupon_id="c5")
        order = (await a.request("checkout"))["result"]["order"]
        await a.request("order.cancel", order_id=order["id"])
        want = ["cart.updated", "coupon.claimed", "order.created", "cart.updated", "order.cancelled"]
        await b.wait_for(lambda: [p["name"] for p in b.privates] == want, 5)
        # a: only the cart.updated that follows the checkout (not the answer of a request)
        await a.wait_for(lambda: [p["name"] for p in a.privates] == ["cart.updated"], 5)
        assert a.privates[0]["data"]["cart"]["items"] == []
        # a moderator's action has no requesting viewer: every connection gets it
        await a.request("cart.add", sku="k-thermos-blue-600", qty=1)
        order = (await a.request("checkout"))["result"]["order"]
        assert show.call("order.pay", {"room": "demo", "id": order["id"], "payment_ref": "x"})["ok"]
        for v in (a, b):
            await v.wait_for(lambda v=v: any(p["name"] == "order.paid" for p in v.privates), 5)
        await a.close()
        await b.close()
    run(go())


def test_display_names_in_chat():
    """Names count characters (22 CJK characters are fine; the token takes 32 of 4 bytes);
    bidi overrides, isolates and zero-width characters are refused: chat.send answers
    invalid_name, the development sign-in 400."""
    s = lc.Server(extra=server_args() + ["auth.dev_login=true"]).start()
    try:
        setup_room(s)

        def post(body):
            st, _, out = s.request("POST", "/api/dev/token", body=json.dumps(body, ensure_ascii=False).encode(),
                                   headers={"Content-Type": "application/json"})
            return st, json.loads(out)

        cjk22 = "测" * 22
        st, out = post({"name": cjk22})
        assert st == 200, out
        signed_in = out["token"]
        st, out = post({"name": "😀" * 32})
        assert st == 200, out
        for bad, why in (("测" * 33, "32 characters"), ("admin\u202egnp.exe", "bidirectional"),
                         ("a\u2066b\u2069", "bidirectional"), ("x\u200by", "zero-width"), ("\ufeffbom", "zero-width"),
                         ("a\u0007b", "control"), ("   ", "only spaces")):
            st, out = post({"name": bad})
            assert st == 400 and out["error"]["code"] == "invalid_argument", (bad, st, out)
            assert why in out["error"]["message"], (bad, out)

        async def go():
            v = await Viewer(s).connect(token_override=signed_in)
            assert v.welcome["user"]["name"] == cjk22
            r = await v.request("chat.send", text="你好")
            assert r["ok"], r
            w = await Viewer(s, user="spoof", name="admin\u202egnp.exe").connect()
            r = await w.request("chat.send", text="hi")
            assert r["ok"] is False and r["error"]["code"] == "invalid_name", r
            z = await Viewer(s, user="zw", name="a\u200db").connect()
            r = await z.request("chat.send", text="hi")
            assert r["error"]["code"] == "invalid_name", r
            for x in (v, w, z):
                await x.close()
        run(go())
    finally:
        assert s.stop() == 0
        s.close()
