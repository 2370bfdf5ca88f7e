"""Overlays through the real daemon: moderators drive them over the control socket and
livecartctl, the show's events feed them (pinned product, flash sale, orders bought over real
websockets, gifts sent and group-buy teams started and joined over real websockets), and the
picture of a transcoded rung carries them: frames decoded from the test tap change where the
element is and nowhere else."""
import asyncio
import json
import os
import subprocess
import tempfile
import time

import lc
from conftest import media_env
from medialib import HERE, create_room, ffmpeg_rtmp, free_udp_port, renditions, wait_for
from showlib import CATALOG, Viewer, run, server_args, setup_room

KEY = "k3y-for-tests-0001"


def el(status, name):
    return status["elements"][name]


def test_room_overlays_config_and_moderator_commands(server):
    with server.ctl() as c:
        bad = c.call("room.create", {"id": "o1", "overlays": {"elements": {"banner": {}}}})
        assert bad["error"]["code"] == "invalid_argument" and "banner" in bad["error"]["message"], bad
        bad = c.call("room.create", {"id": "o1", "overlays": {"elements": {"card": {"anchor": "middle"}}}})
        assert bad["error"]["code"] == "invalid_argument" and "anchor" in bad["error"]["message"], bad
        r = c.call("room.create", {"id": "o1", "overlays": {"lang": "en", "elements": {
            "card": {"anchor": "bottom-right", "margin": [2, 4]}, "logo": {"visible": False}}}})
        assert r["ok"], r
        assert r["result"]["room"]["overlays"]["lang"] == "en"

        st = c.call("overlay.status", {"room": "o1"})["result"]
        assert st["lang"] == "en"
        assert el(st, "card")["anchor"] == "bottom-right" and el(st, "card")["margin"] == [2, 4]
        assert el(st, "logo")["visible"] is False and el(st, "flash")["visible"] is True
        assert set(st["elements"]) == {"card", "flash", "coupon", "ticker", "logo", "text", "gift", "group"}
        assert el(st, "gift")["anchor"] == "right" and el(st, "group")["anchor"] == "bottom-right", st

        with server.ctl() as watcher:
            assert watcher.call("watch", {"room": "o1"})["ok"]
            hidden = c.call("overlay.hide", {"room": "o1", "element": "card"})
            assert hidden["ok"] and hidden["result"]["state"]["visible"] is False, hidden
            ev = watcher.next_event()
            while ev["event"] != "overlay.changed":
                ev = watcher.next_event()
            assert ev["data"]["element"] == "card" and ev["data"]["state"]["visible"] is False, ev
        assert c.call("overlay.show", {"room": "o1", "element": "card"})["result"]["state"]["visible"] is True

        for args, word in [({"element": "banner"}, "element"), ({}, "element")]:
            r = c.call("overlay.hide", {"room": "o1", **args})
            assert r["error"]["code"] == "invalid_argument" and word in r["error"]["message"], r
        r = c.call("overlay.place", {"room": "o1", "element": "card", "anchor": "middle"})
        assert r["error"]["code"] == "invalid_argument" and "anchor" in r["error"]["message"], r
        r = c.call("overlay.place", {"room": "o1", "element": "card", "anchor": "top", "margin_x": 80})
        assert r["error"]["code"] == "invalid_argument" and "margin" in r["error"]["message"], r
        r = c.call("overlay.place", {"room": "o1", "element": "text", "anchor": "top", "margin_y": 6, "width": 60})
        assert r["ok"] and r["result"]["state"]["anchor"] == "top", r

        # free text: checked against the ad-law list like card text, the word named
        r = c.call("overlay.text", {"room": "o1", "text": "全网最低价 今晚"})
        assert r["error"]["code"] == "compliance", r
        assert any(w in r["error"]["message"] for w in ("最低价", "全网最低")), r
        r = c.call("overlay.text", {"room": "o1", "text": "x" * 201})
        assert r["error"]["code"] == "invalid_argument", r
        r = c.call("overlay.text", {"room": "o1", "text": "今晚 8 点返场"})
        assert r["ok"], r
        assert "今晚 8 点返场" in json.dumps(c.call("overlay.status", {"room": "o1"})["result"]["elements"]["text"],
                                         ensure_ascii=False)

        assert c.call("overlay.status", {"room": "nope"})["error"]["code"] == "not_found"
        r = c.call("overlay.configure", {"room": "o1", "config": {"elements": {"flash": {"width": 500}}}})
        assert r["error"]["code"] == "invalid_argument" and "width" in r["error"]["message"], r

    # livecartctl speaks the same commands
    out = server.livecartctl("overlay", "status", "o1")
    assert out.returncode == 0 and "bottom-right" in out.stdout, out
    out = server.livecartctl("overlay", "hide", "o1", "nope")
    assert out.returncode == 1 and "invalid_argument" in out.stderr, out
    out = server.livecartctl("overlay", "text", "o1", "")
    assert out.returncode == 0, out
    # the marketing elements are elements like the others
    for name in ("gift", "group"):
        out = server.livecartctl("overlay", "hide", "o1", name)
        assert out.returncode == 0 and f"element:       {name}" in out.stdout, out
        assert "state.visible: false" in out.stdout, out
        out = server.livecartctl("overlay", "show", "o1", name)
        assert out.returncode == 0, out
    st = server.call("overlay.status", {"room": "o1"})["result"]
    assert el(st, "gift")["visible"] is True and el(st, "group")["visible"] is True, st


def test_server_language_is_the_default_and_a_room_may_override_it():
    s = lc.Server(extra=["overlays.lang=en"]).start()
    try:
        with s.ctl() as c:
            assert c.call("room.create", {"id": "a"})["ok"]
            assert c.call("room.create", {"id": "b", "overlays": {"lang": "zh-CN",
                                                                  "elements": {"ticker": {"visible": False}}}})["ok"]
            assert c.call("overlay.status", {"room": "a"})["result"]["lang"] == "en"
            st = c.call("overlay.status", {"room": "b"})["result"]
            assert st["lang"] == "zh-CN" and el(st, "ticker")["visible"] is False, st
            # a configuration describes the whole scene: lang falls back to the server's
            st = c.call("overlay.configure", {"room": "b", "config": {"elements": {}}})["result"]
            assert st["lang"] == "en" and el(st, "ticker")["visible"] is True, st
        assert s.stop() == 0, s.log_text()[-3000:]
    finally:
        s.close()
    bad = lc.Server(extra=["overlays.lang=fr"])
    try:
        proc = bad.spawn()
        assert proc.wait(timeout=60) != 0
        assert "overlays.lang" in bad.log_text(), bad.log_text()[-2000:]
    finally:
        bad.close()


def test_show_events_drive_the_scene():
    """Pin -> card; a flash sale -> banner with stock; the last units bought over websockets ->
    SOLD OUT; the buyers' masked names in the ticker."""
    s = lc.Server(extra=server_args()).start()
    try:
        setup_room(s)
        assert s.call("product.pin", {"room": "demo", "product": "k-thermos"})["ok"]
        st = s.call("overlay.status", {"room": "demo"})["result"]
        card = json.dumps(el(st, "card")["content"], ensure_ascii=False)
        # the lowest SKU price (樱花粉 450ml) and that SKU's original price
        assert "真空保温杯" in card and "¥109.00" in card and "¥169.00" in card, card

        # a coupon without a title: its terms, never its id
        r = s.call("coupon.drop", {"room": "demo", "id": "c-7", "kind": "threshold", "amount_off": 3000,
                                   "min_spend": 20000, "quantity": 10})
        assert r["ok"], r
        assert el(s.call("overlay.status", {"room": "demo"})["result"], "coupon")["content"]["text"] == "满 200 减 30"

        r = s.call("flash.schedule", {"room": "demo", "id": "fs1", "sku": "k-thermos-blue-600", "price": 6900,
                                      "quantity": 2, "per_user_limit": 1, "duration_ms": 600000})
        assert r["ok"], r
        flash = wait_for(lambda: el(s.call("overlay.status", {"room": "demo"})["result"], "flash")["content"],
                         what="flash banner")
        assert "¥69.00" in json.dumps(flash, ensure_ascii=False), flash

        async def buy():
            vs = [Viewer(s, user="lin", name="Lindsay"), Viewer(s, user="wang", name="王小明")]
            for v in vs:
                await v.connect()
            replies = [await v.request("flash.buy", sale_id="fs1", qty=1) for v in vs]
            assert all(r["ok"] for r in replies), replies
            for v in vs:
                await v.close()
        with s.ctl() as watcher:
            assert watcher.call("watch", {"room": "demo"})["ok"]
            run(buy())
            # the scene's changes as watchers see them: the ticker line, then SOLD OUT
            changed = []
            while not any(e["element"] == "flash" and (e["state"]["content"] or {}).get("sold_out") for e in changed):
                ev = watcher.next_event()
                if ev["event"] == "overlay.changed":
                    changed.append(ev["data"])
        ticker = json.dumps([e["state"]["content"] for e in changed if e["element"] == "ticker"], ensure_ascii=False)
        assert "Lin**" in ticker, ticker  # the first buyer's line is shown at once
        assert "Lindsay" not in ticker and "王小明" not in ticker, ticker
        assert s.stop() == 0, s.log_text()[-3000:]
    finally:
        s.close()


# ---- gifts and group buy (issue 17) ----

GIFTS = [{"id": "rose", "name": "玫瑰", "icon": "🌹", "coins": 1, "class": "small"},
         {"id": "rocket", "name": "火箭", "icon": "🚀", "coins": 100, "class": "fullscreen"}]


def status_of(server, name, room="demo"):
    return el(server.call("overlay.status", {"room": room})["result"], name)


def burst(server, name=None, count=None):
    """The gift element while it shows a burst (of gift `name`, at `count` when given), else None."""
    g = status_of(server, "gift")
    c = g["content"]
    if not g["shown"] or not c or (name and c["name"] != name) or (count and c["count"] != count):
        return None
    return g


async def funded(server, user, name, coins=1000):
    """A connected viewer whose wallet holds `coins`: a top-up order paid like any order."""
    v = Viewer(server, user=user, name=name)
    await v.connect()
    top = await v.request("wallet.topup", coins=coins)
    assert top["ok"], top
    paid = server.call("order.pay", {"room": v.room, "id": top["result"]["order"]["id"], "payment_ref": f"pay-{user}"})
    assert paid["ok"], paid
    return v


def watched(watcher, element):
    """The overlay.changed events of `element` the watcher has received (reads what is buffered)."""
    out = []
    watcher.sock.settimeout(0.5)
    try:
        while True:
            ev = watcher.next_event()
            if ev["event"] == "overlay.changed" and ev["data"].get("element") == element:
                out.append(ev["data"])
    except (TimeoutError, OSError):
        pass
    watcher.sock.settimeout(20)
    return out


def test_gifts_show_a_burst_of_the_most_valuable_combo():
    """gift.send over websockets -> gifts events -> the gift element: the combo's masked sender, the
    gift's name and count; a more valuable combo takes the screen and a cheaper one does not cut it
    short; the burst goes 3 s after the last gift."""
    s = lc.Server(extra=server_args()).start()
    try:
        setup_room(s)
        # the overlay exists from now on (a ladder would make it): the events drive it live
        st = status_of(s, "gift")
        assert st["shown"] is False and st["content"] is None, st
        r = s.call("gifts.load", {"room": "demo", "gifts": GIFTS, "coin_cents": 10})
        assert r["ok"], r

        async def gifts():
            zhang = await funded(s, "zhang", "张伟")
            lin = await funded(s, "lin", "Lindsay")
            with s.ctl() as watcher:
                assert watcher.call("watch", {"room": "demo"})["ok"]
                for _ in range(3):
                    r = await zhang.request("gift.send", gift_id="rose", count=1)
                    assert r["ok"], r
                g = wait_for(lambda: burst(s, "玫瑰", 3), timeout=2.5, step=0.05, what="the rose x3 burst")
                c = g["content"]
                assert c["by"].startswith("张") and "*" in c["by"] and "伟" not in c["by"], c
                assert c["class"] == "small" and c["icon"] == "🌹" and c["coins"] == 3, c
                changes = watched(watcher, "gift")
                assert changes and all(e["reason"] == "gifts" for e in changes), changes
                assert changes[-1]["state"]["content"]["count"] == 3, changes

            # a rocket (100 coins) takes the screen; roses sent meanwhile (4 coins) wait
            r = await lin.request("gift.send", gift_id="rocket", count=1)
            assert r["ok"], r
            g = wait_for(lambda: burst(s, "火箭", 1), timeout=2.5, step=0.05, what="the rocket burst")
            assert g["content"]["class"] == "fullscreen" and g["content"]["by"].startswith("L"), g
            assert "Lindsay" not in json.dumps(g), g
            r = await zhang.request("gift.send", gift_id="rose", count=1)
            assert r["ok"], r
            time.sleep(0.6)  # gifts events go out at most every 250 ms: the rose's has been handled
            g = status_of(s, "gift")
            assert g["shown"] and g["content"]["name"] == "火箭", g
            # 3 s after the rocket it goes (the rose's combo, older, stays off)
            wait_for(lambda: not status_of(s, "gift")["shown"], timeout=5, step=0.1, what="the burst to end")
            for v in (zhang, lin):
                await v.close()
        run(gifts())
        # hidden by a moderator: a gift does not show it
        assert s.call("overlay.hide", {"room": "demo", "element": "gift"})["ok"]

        async def hidden_gift():
            v = Viewer(s, user="zhang", name="张伟")
            await v.connect()
            r = await v.request("gift.send", gift_id="rose", count=2)
            assert r["ok"], r
            time.sleep(0.6)
            g = status_of(s, "gift")
            assert g["shown"] is False and g["visible"] is False and g["content"]["count"] >= 2, g
            await v.close()
        run(hidden_gift())
        assert s.stop() == 0, s.log_text()[-3000:]
    finally:
        s.close()


def group_content(server):
    return status_of(server, "group")["content"]


def test_group_buy_progress():
    """group.open -> the deal with its price in the catalog's currency; group.start / group.join over
    websockets -> seats of the team that changed last and its countdown; the join that fills it ->
    formed for 3 s; group.close -> hidden. A restart seeds the element from the show's state."""
    s = lc.Server(extra=server_args()).start()
    try:
        setup_room(s)
        assert status_of(s, "group")["content"] is None
        with s.ctl() as watcher:
            assert watcher.call("watch", {"room": "demo"})["ok"]
            r = s.call("group.open", {"room": "demo", "id": "g1", "sku": "k-thermos-blue-600", "price": 4900,
                                      "team_size": 3, "quantity": 10, "fill_ms": 600000})
            assert r["ok"], r
            g = wait_for(lambda: group_content(s), timeout=5, what="the group deal")
            assert g["price"] == "¥49.00" and g["team_size"] == 3 and g["seats"] is None, g
            assert "真空保温杯" in (g["title"] or ""), g
            assert status_of(s, "group")["shown"] is True
            opened = watched(watcher, "group")
            assert [e["reason"] for e in opened] == ["group.opened"], opened

        async def teams():
            a = Viewer(s, user="wang", name="王小明")
            b = Viewer(s, user="li", name="李雷")
            c = Viewer(s, user="amy", name="Amy")
            d = Viewer(s, user="bob", name="Bob")
            for v in (a, b, c, d):
                await v.connect()
            start = await a.request("group.start", deal_id="g1")
            assert start["ok"], start
            team = start["result"]["team"]["id"]
            g = wait_for(lambda: (group_content(s) or {}).get("seats") == 1 and group_content(s), timeout=5,
                         what="1/3")
            assert 590 <= g["seconds_left"] <= 600 and g["formed"] is False, g
            # another team starts: it changed last, so its seats show
            other = await d.request("group.start", deal_id="g1")
            assert other["ok"], other
            r = await b.request("group.join", team_id=team)
            assert r["ok"], r
            g = wait_for(lambda: (group_content(s) or {}).get("seats") == 2 and group_content(s), timeout=5,
                         what="2/3")
            r = await c.request("group.join", team_id=team)
            assert r["ok"], r
            # formed: the notice, then the other open team (1/3) that is still filling
            g = wait_for(lambda: (group_content(s) or {}).get("formed") and group_content(s), timeout=2,
                         step=0.05, what="formed")
            t_formed = time.monotonic()
            after = wait_for(lambda: not group_content(s)["formed"] and group_content(s), timeout=5, step=0.1,
                             what="the formed notice to end")
            assert time.monotonic() - t_formed > 1.5, "the formed notice went too soon"
            assert after["seats"] == 1 and after["seconds_left"] > 0, after
            for v in (a, b, c, d):
                await v.close()
        run(teams())
        # a restart: the deal and its open team come back from the show's state
        assert s.stop() == 0, s.log_text()[-3000:]
        s.start()
        g = group_content(s)
        assert g and g["price"] == "¥49.00" and g["seats"] == 1 and g["formed"] is False, g
        # closed: hidden
        with s.ctl() as watcher:
            assert watcher.call("watch", {"room": "demo"})["ok"]
            r = s.call("group.close", {"room": "demo", "id": "g1"})
            assert r["ok"], r
            wait_for(lambda: group_content(s) is None, timeout=5, what="the group element to go")
            assert status_of(s, "group")["shown"] is False
            assert any(e["reason"] == "group.closed" for e in watched(watcher, "group"))
        assert s.stop() == 0, s.log_text()[-3000:]
    finally:
        s.close()


# ---- the picture ----

class FrameTap:
    """Decodes a rung from the test tap into luma frames on disk (rtp_decode.py --frames-out)."""

    def __init__(self, server, room, rung, seconds):
        self.dir = tempfile.TemporaryDirectory(prefix="lc-frames-")
        self.path = os.path.join(self.dir.name, "frames.y")
        port = free_udp_port()
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "rtp_decode.py"), "--port", str(port),
                                      "--seconds", str(seconds), "--frames-out", self.path],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = self.proc.stdout.readline()
        assert ready.strip() == "ready", ready
        self.server, self.room, self.rung = server, room, rung
        r = server.call("media.tap", {"room": room, "rung": rung, "port": port})
        assert "error" not in r, r
        self.frame_bytes = 640 * 360

    def frames(self):
        return os.path.getsize(self.path) // self.frame_bytes if os.path.exists(self.path) else 0

    def wait_frames(self, n, timeout=60):
        target = self.frames() + n
        wait_for(lambda: self.frames() >= target, timeout=timeout, what=f"{n} more decoded frames")

    def finish(self):
        out, err = self.proc.communicate(timeout=120)
        self.server.call("media.untap", {"room": self.room, "rung": self.rung})
        assert self.proc.returncode == 0, err
        res = json.loads(out.strip().splitlines()[-1])
        with open(self.path, "rb") as f:
            data = f.read()
        n = len(res["frame_times"])
        return res, [data[i * self.frame_bytes:(i + 1) * self.frame_bytes] for i in range(n)], res["frame_times"]


def region(frame, x0, y0, x1, y1, w=640, step=2):
    return [frame[y * w + x] for y in range(y0, y1, step) for x in range(x0, x1, step)]


def changed_pixels(a, b, box):
    """Pixels of box (full resolution) whose luma differs by more than encoder noise."""
    return sum(abs(p - q) > 20 for p, q in zip(region(a, *box, step=1), region(b, *box, step=1)))


def mad(a, b):
    return sum(abs(p - q) for p, q in zip(a, b)) / len(a)


def psnr(a, b):
    import math
    mse = sum((p - q) ** 2 for p, q in zip(a, b)) / len(a)
    return 99.0 if mse == 0 else 10 * math.log10(255 * 255 / mse)


def test_overlays_in_the_picture_of_a_rung():
    """smptebars (a still picture) through the ladder; the 360p rung decoded from the tap:
    pinning a product changes the card's corner (bottom-left) and leaves the rest of the frame as
    it was (PSNR against the frames before the pin); a flash sale's countdown changes its corner
    (top-right) from one second to the next; hiding the card takes it out again."""
    s = lc.Server(extra=server_args() + ["media.rungs=360p:640x360:800", "media.passthrough=false"])
    s.env.update(media_env())
    s.start()
    pub = None
    try:
        setup_room(s)
        with s.ctl() as c:
            key = c.call("room.show", {"id": "demo"})["result"]["room"]["stream_key"]
        pub = ffmpeg_rtmp(s, "demo", key, seconds=300, size="1280x720", source="smptebars", bframes=0)
        wait_for(lambda: "360p" in renditions(s, "demo"), timeout=60, what="360p rung")
        tap = FrameTap(s, "demo", "360p", seconds=240)
        try:
            tap.wait_frames(45)
            t_pin = time.time() * 1000
            assert s.call("product.pin", {"room": "demo", "product": "k-thermos"})["ok"]
            tap.wait_frames(90)
            t_flash = time.time() * 1000
            r = s.call("flash.schedule", {"room": "demo", "id": "fs1", "sku": "k-thermos-blue-600", "price": 6900,
                                          "quantity": 5, "per_user_limit": 1, "duration_ms": 600000})
            assert r["ok"], r
            tap.wait_frames(150)
            t_hide = time.time() * 1000
            assert s.call("overlay.hide", {"room": "demo", "element": "card"})["ok"]
            tap.wait_frames(75)
        finally:
            tap.proc.terminate()
            res, frames, times = tap.finish()
        print("decoded", len(frames), "frames", res.get("width"), res.get("height"))
        assert res["width"] == 640 and res["height"] == 360, res

        def between(t0, t1):
            return [f for f, t in zip(frames, times) if t0 <= t < t1]
        # a change reaches the video within a frame of the ladder receiving it; the decoder and the
        # jitter buffer add ~300 ms here: frames 1.5 s after an event are surely past it
        before = between(0, t_pin)[-10:]
        card = between(t_pin + 1500, t_flash)
        flash = between(t_flash + 1500, t_hide)
        hidden = between(t_hide + 1500, 1e18)
        assert before and card and len(flash) >= 45 and hidden, (len(before), len(card), len(flash), len(hidden))

        ref = before[-1]
        card_box = (0, 180, 300, 360)      # bottom-left: the card's corner
        flash_box = (400, 0, 640, 140)     # top-right: the flash banner's corner
        rest_box = (320, 170, 640, 360)    # bottom-right: no element there
        pinned = card[-1]
        assert mad(region(pinned, *card_box), region(ref, *card_box)) > 8, "the card did not appear"
        assert psnr(region(pinned, *rest_box), region(ref, *rest_box)) > 32, "the picture changed outside the card"
        assert psnr(region(pinned, *flash_box), region(ref, *flash_box)) > 32, "the flash corner changed before a sale"

        # the countdown: frames a second apart differ in the banner, the rest stays
        # (a: the first frame with the banner, so a late banner cannot pass for a moving countdown)
        fl = [(t, f) for f, t in zip(frames, times)
              if t_flash <= t < t_hide and mad(region(f, *flash_box), region(ref, *flash_box)) > 8]
        assert fl, "no frame shows the flash banner"
        t_a, a = fl[0]
        b = next(f for t, f in fl if t >= t_a + 1100)
        assert mad(region(b, *flash_box), region(ref, *flash_box)) > 8, "no flash banner"
        if os.environ.get("LC_FRAMES_DUMP"):
            for name, f in (("a", a), ("b", b), ("ref", ref), ("pinned", pinned)):
                with open(os.path.join(os.environ["LC_FRAMES_DUMP"], name + ".pgm"), "wb") as out:
                    out.write(b"P5 640 360 255\n" + f)
        moved = changed_pixels(a, b, flash_box)
        print("flash banner pixels changed in a second:", moved)
        # one digit of "09:59" at 360p: ~30 pixels; encoder noise on this still picture: 0
        assert moved >= 12, "the countdown did not move"
        assert psnr(region(b, *rest_box), region(ref, *rest_box)) > 32

        # hidden card: its corner is back to the picture
        assert psnr(region(hidden[-1], *card_box), region(ref, *card_box)) > 30, "the card stayed after hide"
        assert s.stop() == 0, s.log_text()[-3000:]
    finally:
        if pub:
            pub.kill()
            pub.wait()
        s.close()


def test_gift_and_group_in_the_picture_of_a_rung():
    """The marketing elements reach the video: a group deal opened changes the bottom-right corner
    (its progress box) and nothing on the left; a gift changes the middle of the right edge for its
    3 s burst, and that place is back to the picture after it."""
    s = lc.Server(extra=server_args() + ["media.rungs=360p:640x360:800", "media.passthrough=false"])
    s.env.update(media_env())
    s.start()
    pub = None
    try:
        setup_room(s)
        assert s.call("gifts.load", {"room": "demo", "gifts": GIFTS, "coin_cents": 10})["ok"]
        with s.ctl() as c:
            key = c.call("room.show", {"id": "demo"})["result"]["room"]["stream_key"]
        pub = ffmpeg_rtmp(s, "demo", key, seconds=300, size="1280x720", source="smptebars", bframes=0)
        wait_for(lambda: "360p" in renditions(s, "demo"), timeout=60, what="360p rung")

        async def fund():
            v = await funded(s, "zhang", "张伟")
            await v.close()
        run(fund())

        async def send_gift():
            v = Viewer(s, user="zhang", name="张伟")
            await v.connect()
            r = await v.request("gift.send", gift_id="rose", count=7)
            assert r["ok"], r
            await v.close()

        tap = FrameTap(s, "demo", "360p", seconds=240)
        try:
            tap.wait_frames(45)
            t_group = time.time() * 1000
            r = s.call("group.open", {"room": "demo", "id": "g1", "sku": "k-thermos-blue-600", "price": 4900,
                                      "team_size": 3, "quantity": 10})
            assert r["ok"], r
            tap.wait_frames(90)
            t_gift = time.time() * 1000
            run(send_gift())
            t_sent = time.time() * 1000
            tap.wait_frames(180)
        finally:
            tap.proc.terminate()
            res, frames, times = tap.finish()
        assert res["width"] == 640 and res["height"] == 360, res

        def between(t0, t1):
            return [f for f, t in zip(frames, times) if t0 <= t < t1]
        before = between(0, t_group)[-10:]
        grouped = between(t_group + 1500, t_gift)
        burst_frames = between(t_sent + 1000, t_gift + 2500)
        after = between(t_sent + 4500, 1e18)
        assert before and grouped and burst_frames and after, (len(before), len(grouped), len(burst_frames),
                                                               len(after))
        ref = before[-1]
        group_box = (430, 250, 640, 322)  # bottom-right, 12% up: the progress box
        gift_box = (470, 155, 640, 205)   # the middle of the right edge: the burst
        left_box = (0, 0, 320, 360)       # no element there
        g = grouped[-1]
        assert mad(region(g, *group_box), region(ref, *group_box)) > 8, "the group progress did not appear"
        assert psnr(region(g, *gift_box), region(ref, *gift_box)) > 32, "the gift place changed before a gift"
        assert psnr(region(g, *left_box), region(ref, *left_box)) > 32, "the picture changed outside the box"
        b = burst_frames[-1]
        assert mad(region(b, *gift_box), region(ref, *gift_box)) > 8, "the gift burst did not appear"
        assert psnr(region(b, *left_box), region(ref, *left_box)) > 32
        gone = after[-1]
        assert psnr(region(gone, *gift_box), region(ref, *gift_box)) > 30, "the burst stayed after its 3 s"
        assert mad(region(gone, *group_box), region(ref, *group_box)) > 8, "the group progress went"
        if os.environ.get("LC_FRAMES_DUMP"):
            for name, f in (("group", g), ("burst", b), ("gone", gone), ("ref", ref)):
                with open(os.path.join(os.environ["LC_FRAMES_DUMP"], "mkt-" + name + ".pgm"), "wb") as out:
                    out.write(b"P5 640 360 255\n" + f)
        assert s.stop() == 0, s.log_text()[-3000:]
    finally:
        if pub:
            pub.kill()
            pub.wait()
        s.close()
