"""Group buy (拼团), gifts (打赏) with a coin wallet, clearance promotions (issue 17), end to end
against the real livecartd: docs/marketing.md is the contract (rules, edge cases, rounding),
docs/marketing-wire.md the messages. Every wait has a deadline; nothing sleeps to synchronize
(the only waits on the clock are for deadlines the contract sets, e.g. a team's fill_ms)."""
import asyncio
import hashlib
import hmac
import json
import os
import random
import time

import pytest

import lc
from showlib import (QuietViewer, Viewer, ctl_ok, run, server_args, setup_shop_room, sku_available,
                     wait_until)

ROOM = "mkt"
ON_REDIS = bool(os.environ.get("LC_TEST_REDIS"))  # integration/marketing_on_redis: cluster mode, one node
CALLBACK_SECRET = "marketing-callback-secret"
# Many clients from one address, some of them fast: the per-connection rate is not under test.
LOAD_ARGS = ["ws.rate=2000", "ws.burst=4000", "ws.hello_timeout_ms=120000",
             f"payments.callback_secret={CALLBACK_SECRET}"]

CATALOG = {"currency": "CNY", "hold_limit": 0, "products": [
    {"id": "p-tee", "title": "T恤 Tee", "skus": [{"id": "tee-m", "label": "M", "price": 9900, "stock": 1000},
                                               {"id": "tee-l", "label": "L", "price": 9900, "stock": 200}]},
    {"id": "p-promo", "title": "清仓 Clearance", "skus": [
        {"id": "bogo11", "label": "buy 1 get 1", "price": 1990, "stock": 500},
        {"id": "bogo21", "label": "buy 2 get 1", "price": 1500, "stock": 500},
        {"id": "pct", "label": "30% off", "price": 3333, "stock": 500},
        {"id": "fix", "label": "8.00 off", "price": 500, "stock": 500},
        {"id": "late", "label": "not yet", "price": 1000, "stock": 500},
        {"id": "brief", "label": "short window", "price": 2000, "stock": 500},
        {"id": "plain", "label": "no promotion", "price": 2500, "stock": 500},
        {"id": "flashy", "label": "bogo, on flash sale", "price": 4000, "stock": 500}]},
]}

FAILED_IN_TIME = "the team did not fill in time"
DEAL_ENDED = "the group deal ended"
ALL_LEFT = "all members left"


def now_ms():
    return int(time.time() * 1000)


def start_server(workdir=None, extra=()):
    return lc.Server(workdir=workdir, extra=server_args() + LOAD_ARGS + list(extra)).start()


def stop_server(s):
    rc = s.stop()
    log = s.log_text()
    s.close()
    assert rc == 0, f"livecartd exited with {rc}:\n" + log[-4000:]


@pytest.fixture
def show():
    s = start_server()
    setup_shop_room(s, ROOM, CATALOG)
    yield s
    stop_server(s)


def member_user(m):
    """A member's user id in group.status (unmasked there)."""
    for k in ("user", "id"):
        if isinstance(m.get(k), str):
            return m[k]
    return m["name"]


def status(server, deal_id=None):
    args = {"room": ROOM}
    if deal_id:
        args["id"] = deal_id
    return ctl_ok(server, "group.status", args)["deals"]


def deal_status(server, deal_id):
    deals = [d for d in status(server, deal_id) if d["id"] == deal_id]
    assert len(deals) == 1, deals
    return deals[0]


def team_of(server, deal_id, team_id):
    teams = [t for t in deal_status(server, deal_id)["teams"] if t["id"] == team_id]
    assert len(teams) == 1, (team_id, teams)
    return teams[0]


def group_open(server, **spec):
    return ctl_ok(server, "group.open", {"room": ROOM, **spec})["deal"]


def err(r):
    return None if r["ok"] else r["error"]["code"]


def private(v, name, pred=lambda d: True):
    return [p["data"] for p in v.privates if p["name"] == name and pred(p["data"])]


async def connect_all(server, users, cls=Viewer, batch=100, names=None, **kw):
    vs = [cls(server, room=ROOM, user=u, name=(names or {}).get(u), **kw) for u in users]
    for k in range(0, len(vs), batch):
        await asyncio.gather(*(v.connect() for v in vs[k:k + batch]))
    return vs


async def close_all(vs):
    for v in vs:
        try:
            await asyncio.wait_for(v.close(), 5)
        except Exception:  # noqa: BLE001 - a connection the server already dropped
            pass


# ---- group buy -------------------------------------------------------------------------------

def test_group_buy_race_forms_full_teams_and_never_oversells(show):
    """40 starters open teams of 3, then 300 viewers race for the 80 open seats, each trying for
    up to 3 seats at random teams (per_user_limit 2), moving on after team_full: every team forms
    with exactly 3 distinct members, nobody holds more than 2 seats, the deal never hands out more
    than its quantity and the SKU's units are all accounted for."""
    stock0 = sku_available(show, ROOM, "tee-m")
    deal = group_open(show, id="g1", sku="tee-m", price=4900, team_size=3, quantity=120, fill_ms=600000,
                      per_user_limit=2)
    assert (deal["left"], deal["quantity"], deal["team_size"], deal["state"]) == (120, 120, 3, "live"), deal
    assert sku_available(show, ROOM, "tee-m") == stock0 - 120  # reserved from the SKU at once
    rng = random.Random()
    seats = {}      # user -> [team ids], from ok replies
    refusals = []

    async def go():
        starters = await connect_all(show, [f"s{i}" for i in range(40)])
        joiners = await connect_all(show, [f"j{i}" for i in range(300)])
        replies = await asyncio.gather(*(v.request("group.start", deal_id="g1") for v in starters))
        assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3]
        teams = []
        for v, r in zip(starters, replies):
            order, team = r["result"]["order"], r["result"]["team"]
            assert team["id"] == "t-" + order["id"].split("-", 1)[1], (team, order)  # t- + the order number
            assert (team["state"], team["size"], len(team["members"])) == ("open", 3, 1), team
            assert (order["group"]["deal_id"], order["group"]["team_id"]) == ("g1", team["id"]), order
            assert order["total"] == 4900 and order["payable"] is False, order
            seats.setdefault(v.user, []).append(team["id"])
            teams.append(team["id"])
        assert len(set(teams)) == 40

        async def racer(v, tries):
            candidates = list(teams)
            rng.shuffle(candidates)
            got = 0
            while candidates and got < tries:
                tid = candidates.pop()
                r = await v.request("group.join", team_id=tid)
                if r["ok"]:
                    assert r["result"]["team"]["id"] == tid and r["result"]["order"]["group"]["team_id"] == tid
                    seats.setdefault(v.user, []).append(tid)
                    got += 1
                    continue
                refusals.append((v.user, tid, err(r)))
                if err(r) in ("limit_exceeded", "sold_out"):
                    break
        # joiners try for 3 seats (the limit is 2); starters for 2 more (1 allowed), their own team
        # among the candidates (already a member: invalid_state)
        await asyncio.gather(*(racer(v, 3) for v in joiners), *(racer(v, 2) for v in starters))
        # every starter is told its team formed (the join that formed it was someone else's)
        await asyncio.gather(*(v.wait_for(lambda v=v: private(v, "group.formed"), 30) for v in starters))
        for v in starters:
            formed = private(v, "group.formed")
            mine = [f for f in formed if f["team"]["id"] == seats[v.user][0]]
            assert mine and mine[0]["order"]["payable"] is True and mine[0]["team"]["state"] == "formed", formed
        latecomer = (await connect_all(show, ["latecomer"]))[0]
        late = await latecomer.request("group.start", deal_id="g1")
        assert err(late) == "sold_out", late
        await close_all(starters + joiners + [latecomer])
    run(go())

    codes = {c for _, _, c in refusals}
    assert codes <= {"team_full", "invalid_state", "limit_exceeded", "sold_out"}, codes
    assert "team_full" in codes or "invalid_state" in codes
    d = deal_status(show, "g1")
    held = {}
    for t in d["teams"]:
        users = [member_user(m) for m in t["members"]]
        assert len(users) == len(set(users)), t          # nobody twice in one team
        assert t["state"] == "formed" and len(users) == 3, t
        for u in users:
            held.setdefault(u, []).append(t["id"])
    assert len(d["teams"]) == 40
    assert max(len(x) for x in held.values()) <= 2, {u: x for u, x in held.items() if len(x) > 2}
    assert {u: sorted(x) for u, x in held.items()} == {u: sorted(x) for u, x in seats.items()}
    n_seats = sum(len(x) for x in held.values())
    assert n_seats == 120 and d["left"] == 0 and d["left"] >= 0
    assert sku_available(show, ROOM, "tee-m") + d["left"] + n_seats == stock0
    orders = [o for o in ctl_ok(show, "order.list", {"room": ROOM, "limit": 10000})["orders"] if o.get("group")]
    assert len(orders) == 120 and len({o["id"] for o in orders}) == 120
    assert all(o["state"] == "pending" and o["payable"] is True for o in orders), \
        [o for o in orders if o["state"] != "pending" or not o["payable"]][:3]
    per_user = {}
    for o in orders:
        per_user[o["user"]] = per_user.get(o["user"], 0) + 1
    assert max(per_user.values()) <= 2


def test_unfilled_teams_fail_at_their_deadline_and_give_everything_back(show):
    """fill_ms 10 s (the minimum): at the deadline a team that is not full fails, its orders are
    cancelled with the reason, its seats go back to the deal and its coupon claims come back."""
    stock0 = sku_available(show, ROOM, "tee-m")
    ctl_ok(show, "coupon.drop", {"room": ROOM, "id": "gc5", "kind": "fixed", "amount_off": 500, "quantity": 10})
    group_open(show, id="g2", sku="tee-m", price=4900, team_size=3, quantity=9, fill_ms=10000)

    async def go():
        names = {"amy": "Amy", "bob": "Bob", "cat": "Cat"}
        amy, bob, cat, watcher = await connect_all(show, ["amy", "bob", "cat", "wat"], names=names)
        claim = await amy.request("coupon.claim", coupon_id="gc5")
        assert claim["ok"], claim
        cid = claim["result"]["claim"]["id"]
        t0 = now_ms()
        r1 = await amy.request("group.start", deal_id="g2", claim_id=cid)
        assert r1["ok"], r1
        o1, team1 = r1["result"]["order"], r1["result"]["team"]
        assert (o1["subtotal"], o1["coupon_discount"], o1["total"]) == (4900, 500, 4400), o1
        assert t0 + 10000 <= team1["deadline"] <= now_ms() + 10000, (t0, team1)
        rb = await bob.request("group.join", team_id=team1["id"])
        assert rb["ok"] and len(rb["result"]["team"]["members"]) == 2, rb
        rc = await cat.request("group.start", deal_id="g2")
        assert rc["ok"], rc
        team2 = rc["result"]["team"]
        assert deal_status(show, "g2")["left"] == 6
        # a new viewer sees the open teams in the snapshot, masked names
        fresh = (await connect_all(show, ["dan"]))[0]
        deals = fresh.snapshot["state"]["group_deals"]
        snap_teams = {t["id"]: t for t in deals[0]["teams"]}
        assert set(snap_teams) == {team1["id"], team2["id"]}
        assert sorted(m["name"] for m in snap_teams[team1["id"]]["members"]) == ["A**", "B**"], snap_teams
        await fresh.close()

        def failed(tid):
            return [e for e in watcher.events if e["name"] == "group.team" and e["data"]["team"]["id"] == tid
                    and e["data"]["team"]["state"] == "failed"]
        await watcher.wait_for(lambda: failed(team1["id"]) and failed(team2["id"]), 40)
        for team in (team1, team2):
            ev = failed(team["id"])[0]
            assert ev["data"]["team"]["reason"] == FAILED_IN_TIME, ev
            assert ev["t"] >= team["deadline"] - 5, (ev["t"], team["deadline"])  # not before its time
        assert max(failed(t["id"])[-1]["data"]["deal"]["left"] for t in (team1, team2)) == 9
        assert deal_status(show, "g2")["left"] == 9
        # every member's order is cancelled with the reason; the claim is available again
        for v, oid in ((amy, o1["id"]), (bob, rb["result"]["order"]["id"]), (cat, rc["result"]["order"]["id"])):
            await v.wait_for(lambda v=v, oid=oid: private(v, "order.cancelled", lambda d: d["order"]["id"] == oid), 15)
            o = private(v, "order.cancelled", lambda d, oid=oid: d["order"]["id"] == oid)[0]["order"]
            assert o["state"] == "cancelled" and o["reason"] == FAILED_IN_TIME, o
        again = (await connect_all(show, ["amy"], names=names))[0]
        claims = {c["id"]: c for c in again.snapshot["state"]["me"]["claims"]}
        assert claims[cid]["state"] == "available" and claims[cid]["order_id"] is None, claims
        assert again.snapshot["state"]["me"]["teams"] == [], again.snapshot["state"]["me"]["teams"]
        # ... and usable: the same claim on a new team
        r = await again.request("group.start", deal_id="g2", claim_id=cid)
        assert r["ok"] and r["result"]["order"]["total"] == 4400, r
        await close_all([amy, bob, cat, watcher, again])
        return team1["id"], team2["id"], r["result"]["team"]["id"]
    t1, t2, t3 = run(go())
    d = deal_status(show, "g2")
    assert d["left"] == 8
    assert {t["id"]: t["state"] for t in d["teams"]} == {t1: "failed", t2: "failed", t3: "open"}
    assert sku_available(show, ROOM, "tee-m") == stock0 - 9  # seats went back to the deal, not the SKU


def test_member_cancel_reopens_the_seat_and_unformed_orders_cannot_be_paid(show):
    group_open(show, id="g3", sku="tee-m", price=4900, team_size=3, quantity=6, fill_ms=600000)

    async def go():
        amy, bob, cat, dan, eve = await connect_all(show, ["amy", "bob", "cat", "dan", "eve"])
        ra = await amy.request("group.start", deal_id="g3")
        tid = ra["result"]["team"]["id"]
        rb = await bob.request("group.join", team_id=tid)
        assert rb["ok"], rb
        assert deal_status(show, "g3")["left"] == 4
        # the same viewer twice in one team
        twice = await amy.request("group.join", team_id=tid)
        assert err(twice) == "invalid_state", twice
        # an unformed team's order is not payable: control and signed callback alike
        oid = ra["result"]["order"]["id"]
        pay = show.call("order.pay", {"room": ROOM, "id": oid, "payment_ref": "early"})
        assert pay["ok"] is False and pay["error"]["code"] == "invalid_state", pay
        st, body = signed_callback(show, oid)
        assert st == 409 and body["error"]["code"] == "invalid_state", (st, body)
        # bob leaves: the seat reopens
        rc = await bob.request("order.cancel", order_id=rb["result"]["order"]["id"])
        assert rc["ok"], rc
        await amy.wait_for(lambda: any(e["name"] == "group.team" and e["data"]["team"]["id"] == tid and
                                       len(e["data"]["team"]["members"]) == 1 for e in amy.events), 10)
        ev = [e for e in amy.events if e["name"] == "group.team" and e["data"]["team"]["id"] == tid][-1]
        assert ev["data"]["team"]["state"] == "open" and ev["data"]["deal"]["left"] == 5, ev
        assert [member_user(m) for m in team_of(show, "g3", tid)["members"]] == ["amy"]
        r1 = await cat.request("group.join", team_id=tid)
        r2 = await dan.request("group.join", team_id=tid)
        assert r1["ok"] and r2["ok"], (r1, r2)
        team = r2["result"]["team"]
        assert team["state"] == "formed" and len(team["members"]) == 3, team
        assert r2["result"]["order"]["payable"] is True
        await amy.wait_for(lambda: private(amy, "group.formed"), 10)
        formed = private(amy, "group.formed")[0]
        assert formed["order"]["id"] == oid and formed["order"]["payable"] is True
        assert formed["order"]["expires_at"] > team.get("formed_at", 0)
        # formed: now payable
        pay = show.call("order.pay", {"room": ROOM, "id": oid, "payment_ref": "ok"})
        assert pay["ok"] and pay["result"]["order"]["state"] == "paid", pay
        assert deal_status(show, "g3")["left"] == 3
        # a team whose only member leaves is dissolved
        re_ = await eve.request("group.start", deal_id="g3")
        tid2 = re_["result"]["team"]["id"]
        assert deal_status(show, "g3")["left"] == 2
        assert (await eve.request("order.cancel", order_id=re_["result"]["order"]["id"]))["ok"]
        t2 = team_of(show, "g3", tid2)
        assert (t2["state"], t2["reason"]) == ("failed", ALL_LEFT), t2
        assert deal_status(show, "g3")["left"] == 3
        await close_all([amy, bob, cat, dan, eve])
    run(go())


def signed_callback(server, order_id, ref="cb-1"):
    body = json.dumps({"room": ROOM, "order_id": order_id, "status": "paid", "payment_ref": ref,
                       "ts": now_ms()}).encode()
    sig = "sha256=" + hmac.new(CALLBACK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    st, _, resp = server.request("POST", "/api/payments/callback", body=body,
                                 headers={"Content-Type": "application/json", "X-Livecart-Signature": sig})
    return st, json.loads(resp)


def test_two_viewers_for_the_last_seat_exactly_one_wins(show):
    """Teams of 2: the starter holds one seat, two viewers send their join at the same moment.
    The first fact wins, the other gets team_full (not a second seat, not another error)."""
    group_open(show, id="g4", sku="tee-m", price=4900, team_size=2, quantity=40, fill_ms=600000)
    rounds = 8

    async def go():
        vs = await connect_all(show, [f"r{i}" for i in range(3 * rounds)])
        for k in range(rounds):
            s, x, y = vs[3 * k:3 * k + 3]
            tid = (await s.request("group.start", deal_id="g4"))["result"]["team"]["id"]
            rx, ry = await asyncio.gather(x.request("group.join", team_id=tid), y.request("group.join", team_id=tid))
            assert sorted([bool(rx["ok"]), bool(ry["ok"])]) == [False, True], (rx, ry)
            loser = rx if not rx["ok"] else ry
            assert err(loser) == "team_full", loser
            winner = rx if rx["ok"] else ry
            assert winner["result"]["team"]["state"] == "formed"
            t = team_of(show, "g4", tid)
            assert t["state"] == "formed" and len(t["members"]) == 2, t
        await close_all(vs)
    run(go())
    d = deal_status(show, "g4")
    assert d["left"] == 40 - 2 * rounds, d
    orders = [o for o in ctl_ok(show, "order.list", {"room": ROOM, "limit": 1000})["orders"] if o.get("group")]
    assert len(orders) == 2 * rounds


def test_group_close_fails_open_teams_and_returns_the_remainder(show):
    stock0 = sku_available(show, ROOM, "tee-l")
    group_open(show, id="g5", sku="tee-l", price=5900, team_size=3, quantity=12, fill_ms=600000)
    assert sku_available(show, ROOM, "tee-l") == stock0 - 12

    async def go():
        a, b, c, d, e, f, late = await connect_all(show, ["a1", "b1", "c1", "d1", "e1", "f1", "late"])
        t1 = (await a.request("group.start", deal_id="g5"))["result"]["team"]["id"]
        t2 = (await b.request("group.start", deal_id="g5"))["result"]["team"]["id"]
        assert (await c.request("group.join", team_id=t2))["ok"]
        rd = await d.request("group.start", deal_id="g5")
        t3 = rd["result"]["team"]["id"]
        assert (await e.request("group.join", team_id=t3))["ok"]
        rf = await f.request("group.join", team_id=t3)
        assert rf["ok"] and rf["result"]["team"]["state"] == "formed", rf
        assert deal_status(show, "g5")["left"] == 6
        closed = ctl_ok(show, "group.close", {"room": ROOM, "id": "g5"})["deal"]
        assert closed["state"] == "ended", closed
        await late.wait_for(lambda: "group.closed" in late.event_names(), 10)
        ev = [x for x in late.events if x["name"] == "group.closed"][0]
        assert ev["data"] == {"deal_id": "g5", "reason": "closed by the moderator"}, ev
        for v in (a, b, c):
            await v.wait_for(lambda v=v: private(v, "order.cancelled"), 10)
            assert private(v, "order.cancelled")[0]["order"]["reason"] == DEAL_ENDED
        teams = {t["id"]: t for t in deal_status(show, "g5")["teams"]}
        assert (teams[t1]["state"], teams[t1]["reason"]) == ("failed", DEAL_ENDED)
        assert (teams[t2]["state"], teams[t2]["reason"]) == ("failed", DEAL_ENDED)
        assert teams[t3]["state"] == "formed"
        # the remainder and the failed teams' seats are the SKU's again; the formed team's stay held
        assert sku_available(show, ROOM, "tee-l") == stock0 - 3
        r = await late.request("group.start", deal_id="g5")
        assert err(r) == "invalid_state", r
        # formed teams' orders stay as they are: payable, and one cancelled goes back to the SKU
        pay = show.call("order.pay", {"room": ROOM, "id": rd["result"]["order"]["id"]})
        assert pay["ok"] and pay["result"]["order"]["state"] == "paid", pay
        assert (await f.request("order.cancel", order_id=rf["result"]["order"]["id"]))["ok"]
        assert sku_available(show, ROOM, "tee-l") == stock0 - 2
        await close_all([a, b, c, d, e, f, late])
    run(go())


def test_kill9_with_open_teams_rebuilds_teams_members_and_deadlines(tmp_path):
    """kill -9 with teams open: after the restart group.status is the same (members, deadlines,
    seats left), no order is duplicated, the deadline timers are armed again, and a deadline
    that passed while the server was down fails its team right after the start."""
    workdir = str(tmp_path)
    s = start_server(workdir)
    setup_shop_room(s, ROOM, CATALOG)
    stock0 = sku_available(s, ROOM, "tee-m")
    group_open(s, id="long", sku="tee-m", price=4900, team_size=3, quantity=30, fill_ms=30000)
    group_open(s, id="short", sku="tee-m", price=4900, team_size=3, quantity=6, fill_ms=10000)

    async def setup():
        vs = await connect_all(s, [f"k{i}" for i in range(9)])
        ids = []
        for i in (0, 2, 4):  # three teams of the long deal: 1, 2 and 3 members (the last formed)
            ids.append((await vs[i].request("group.start", deal_id="long"))["result"]["team"]["id"])
        assert (await vs[3].request("group.join", team_id=ids[1]))["ok"]
        assert (await vs[5].request("group.join", team_id=ids[2]))["ok"]
        assert (await vs[6].request("group.join", team_id=ids[2]))["ok"]
        short = await vs[7].request("group.start", deal_id="short")
        assert short["ok"], short
        await close_all(vs)
        return ids, short["result"]["team"]
    ids, short_team = run(setup())
    before = status(s)
    orders_before = ctl_ok(s, "order.list", {"room": ROOM, "limit": 1000})["orders"]
    s.kill9()
    s.close()
    # down until the short team's deadline has passed (the contract's clock, not a synchronization)
    while now_ms() < short_team["deadline"] + 300:
        time.sleep(0.1)
    s2 = start_server(workdir)
    try:
        after = status(s2)
        long_before = [d for d in before if d["id"] == "long"][0]
        long_after = [d for d in after if d["id"] == "long"][0]
        assert long_after == long_before
        assert [t["deadline"] for t in long_after["teams"]] == [t["deadline"] for t in long_before["teams"]]

        def short_failed():
            t = [t for t in deal_status(s2, "short")["teams"] if t["id"] == short_team["id"]][0]
            return t if t["state"] == "failed" else None
        started = time.monotonic()
        t = wait_until(short_failed, 10, "the overdue team failing after the restart")
        assert t["reason"] == FAILED_IN_TIME and time.monotonic() - started < 10
        assert deal_status(s2, "short")["left"] == 6
        orders_after = ctl_ok(s2, "order.list", {"room": ROOM, "limit": 1000})["orders"]
        assert sorted(o["id"] for o in orders_after) == sorted(o["id"] for o in orders_before)
        by_id = {o["id"]: o for o in orders_after}
        short_oid = [o["id"] for o in orders_before if o.get("group", {}).get("deal_id") == "short"][0]
        assert by_id[short_oid]["state"] == "cancelled" and by_id[short_oid]["reason"] == FAILED_IN_TIME
        assert sku_available(s2, ROOM, "tee-m") == stock0 - 36

        async def after_restart():
            # the rebuilt teams work: a join forms the 2-member team
            v = (await connect_all(s2, ["k-new"]))[0]
            r = await v.request("group.join", team_id=ids[1])
            assert r["ok"] and r["result"]["team"]["state"] == "formed", r
            await v.close()
        run(after_restart())
        # the re-armed timer fails the 1-member team at its original deadline
        deadline = team_of(s2, "long", ids[0])["deadline"]
        t = wait_until(lambda: (lambda t: t if t["state"] == "failed" else None)(team_of(s2, "long", ids[0])),
                       max(0, (deadline - now_ms()) / 1000) + 15, "the long deal's open team failing at its deadline")
        assert t["reason"] == FAILED_IN_TIME
        assert now_ms() >= deadline
    finally:
        stop_server(s2)


# ---- gifts -----------------------------------------------------------------------------------

GIFTS = [{"id": "rose", "name": "Rose", "icon": "🌹", "coins": 1, "class": "small"},
         {"id": "heart", "name": "Heart", "icon": "💗", "coins": 5, "class": "small"},
         {"id": "car", "name": "Sports car", "icon": "🏎", "coins": 50, "class": "big"},
         {"id": "rocket", "name": "Rocket", "icon": "🚀", "coins": 120, "class": "fullscreen"}]
PRICE = {g["id"]: g["coins"] for g in GIFTS}
COIN_CENTS = 7      # odd values so that the split's rounding shows
CREATOR_PCT = 33


def creator_cents(coins):
    return coins * COIN_CENTS * CREATOR_PCT // 100


def display_name(i):
    """Distinct first characters (what stays visible after masking) for up to ~20,000 users."""
    return chr(0x4E00 + i) + "友"


def load_gifts(server):
    r = ctl_ok(server, "gifts.load", {"room": ROOM, "gifts": GIFTS, "coin_cents": COIN_CENTS,
                                      "creator_pct": CREATOR_PCT})
    assert (r["coin_cents"], r["creator_pct"]) == (COIN_CENTS, CREATOR_PCT), r
    assert [g["id"] for g in r["catalog"]] == [g["id"] for g in GIFTS], r


def same_answer(first, again):
    """A repeated op_id is answered with the first answer."""
    assert first["ok"] == again["ok"], (first, again)
    if first["ok"]:
        assert again["result"] == first["result"], (first, again)
    else:
        assert again["error"]["code"] == first["error"]["code"], (first, again)


async def topup(server, v, coins, via_callback):
    r = await v.request("wallet.topup", coins=coins)
    assert r["ok"], r
    order = r["result"]["order"]
    assert (order["kind"], order["coins"], order["total"], order["state"]) == ("coins", coins, coins * COIN_CENTS,
                                                                             "pending"), order
    if via_callback:
        st, body = await asyncio.to_thread(signed_callback, server, order["id"], "wx-" + order["id"])
        assert st == 200 and body["order"]["state"] == "paid", (st, body)
    else:
        p = await asyncio.to_thread(server.call, "order.pay", {"room": ROOM, "id": order["id"], "payment_ref": "p"})
        assert p["ok"] and p["result"]["order"]["state"] == "paid", p
    return order


async def wait_balance(v, coins, timeout=30):
    await v.wait_for(lambda: any(p["name"] == "wallet.updated" and p["data"]["wallet"]["coins"] == coins
                                 for p in v.privates), timeout)


def test_gifts_500_viewers_20000_gifts_add_up():
    """500 distinct viewers (125 connected at any time, a sliding pool) top up and send 20,000
    gifts, some op_ids sent twice at once, again after the answer, or again from a new connection:
    every repeat gets the first answer; each viewer's answers form an exact ledger (balance after
    each gift, insufficient_coins only when short); wallets, leaderboard, creator earnings, the
    statement and the combos on screen all equal the sum of the acknowledged gifts."""
    n_users, per_user, pool = 500, 40, 125
    s = start_server()
    rng = random.Random()
    try:
        setup_shop_room(s, ROOM, CATALOG)
        load_gifts(s)
        topups = {f"g{i}": (150 if i % 5 == 0 else 2500) for i in range(n_users)}
        names = {f"g{i}": display_name(i) for i in range(n_users)}
        ledgers = {}   # user -> [(op_id, gift, count, first answer)]
        combo_owner = {}   # combo id -> user, from the answers (broadcast combos carry no user id)
        dup_checks = [0]
        active = [0, 0]  # now, max

        async def one_user(u, sem):
            async with sem:
                active[0] += 1
                active[1] = max(active[1], active[0])
                try:
                    await user_session(u)
                finally:
                    active[0] -= 1

        async def user_session(u):
            v = QuietViewer(s, room=ROOM, user=u, name=names[u])
            await v.connect()
            assert v.snapshot["state"]["me"]["wallet"] == {"coins": 0}
            await topup(s, v, topups[u], via_callback=(int(u[1:]) % 10 == 3))
            await wait_balance(v, topups[u])
            led = ledgers[u] = []
            for k in range(per_user):
                gift = rng.choices(["rose", "heart", "car", "rocket"], [50, 30, 15, 5])[0]
                count = rng.choice([1, 1, 1, 2, 3, 5, 10, 99]) if gift == "rose" else rng.choice([1, 1, 2, 3])
                op = f"{u}-{k}"
                twice = rng.random() < 0.05
                await v.send_op("gift.send", op, gift_id=gift, count=count)
                if twice:  # the same op_id again before the first is answered
                    await v.send_op("gift.send", op, gift_id=gift, count=count)
                answers = await v.wait_replies(op, 2 if twice else 1)
                for a in answers[1:]:
                    same_answer(answers[0], a)
                    dup_checks[0] += 1
                led.append((op, gift, count, answers[0]))
                x = rng.random()
                if x < 0.05:  # again after the answer, same connection
                    await v.send_op("gift.send", op, gift_id=gift, count=count)
                    same_answer(answers[0], (await v.wait_replies(op, len(answers) + 1))[-1])
                    dup_checks[0] += 1
                elif x < 0.07:  # again from a new connection (a reload, a flaky network)
                    await v.close()
                    v = QuietViewer(s, room=ROOM, user=u, name=names[u])
                    await v.connect()
                    await v.send_op("gift.send", op, gift_id=gift, count=count)
                    same_answer(answers[0], (await v.wait_replies(op, 1))[0])
                    dup_checks[0] += 1
            await v.close()

        async def go():
            watcher = QuietViewer(s, room=ROOM, user="watcher", keep=("gifts", "leaderboard"))
            await watcher.connect()
            sem = asyncio.Semaphore(pool)
            t0 = time.monotonic()
            await asyncio.gather(*(one_user(u, sem) for u in topups))
            secs = time.monotonic() - t0
            spent, units, acked_facts, short = check_ledgers()
            total_coins = sum(spent.values())
            total_creator = sum(creator_cents(c) for _, _, c in acked_facts)
            check_books(spent, acked_facts, total_coins, total_creator)
            # the watcher's last leaderboard event says the same as the snapshot
            await watcher.wait_for(lambda: any(e["name"] == "leaderboard" and e["data"]["earnings"]["coins"] ==
                                               total_coins for e in watcher.events), 15)
            lb = [e for e in watcher.events if e["name"] == "leaderboard"]
            check_leaderboard(lb[-1]["data"]["leaderboard"], spent, names)
            assert lb[-1]["data"]["earnings"]["creator_cents"] == total_creator
            def at_most_every(events, period_ms, what, tol):
                """One node keeps the period between sends. On Redis it is kept on the stream's
                clock (the ticks' entry times) and the node's follower may deliver ticks in a
                batch on a busy machine (63 ms apart under stress-ng): there, the rate over the
                whole run is held to the period."""
                ts = [e["t"] for e in events]
                gaps = [b - a for a, b in zip(ts, ts[1:])]
                assert gaps, what
                if ON_REDIS:
                    assert len(gaps) <= (ts[-1] - ts[0]) / period_ms + 1, (what, gaps)
                else:
                    assert min(gaps) >= period_ms - tol, (what, sorted(gaps)[:5])
            at_most_every(lb, 1000, "leaderboard more often than once a second", 10)
            # gifts events: at most one per 250 ms; every acknowledged gift made it onto the screen
            def on_screen():
                final = {}
                for e in watcher.events:
                    if e["name"] == "gifts":
                        for cb in e["data"]["combos"]:
                            assert cb["coins"] == cb["count"] * PRICE[cb["gift_id"]], cb
                            final[cb["id"]] = cb
                seen = {}   # combos carry no user id (names are masked): whose a combo is, the answers say
                for cb in final.values():
                    who = combo_owner[cb["id"]]
                    seen[(who, cb["gift_id"])] = seen.get((who, cb["gift_id"]), 0) + cb["count"]
                return seen
            # the last combos' broadcast may follow the last leaderboard's by a tick: wait for it
            try:
                await watcher.wait_for(lambda: on_screen() == units, 10)
            except TimeoutError:
                seen = on_screen()
                raise AssertionError([(k, seen.get(k), units.get(k)) for k in set(seen) | set(units)
                                      if seen.get(k) != units.get(k)][:10])
            gev = [e for e in watcher.events if e["name"] == "gifts"]
            at_most_every(gev, 250, "gifts events more often than every 250 ms", 5)
            await watcher.close()
            print(f"gifts: {len(acked_facts)} acknowledged of {n_users * per_user} in {secs:.1f} s "
                  f"({len(acked_facts) / secs:.0f}/s), {short} insufficient_coins, {dup_checks[0]} repeats, "
                  f"{len(gev)} gifts events, at most {active[1]} viewers at once")

        def check_ledgers():
            """Each viewer's answers, in order, are an exact ledger."""
            spent, units, acked_facts = {}, {}, []
            short = 0
            for u, led in ledgers.items():
                bal = topups[u]
                for op, gift, count, a in led:
                    cost = PRICE[gift] * count
                    if a["ok"]:
                        g = a["result"]["gift"]
                        assert (g["gift_id"], g["count"], g["coins"], g["user"]) == (gift, count, cost, u), a
                        combo_owner[g["combo_id"]] = u
                        assert g["by"] == names[u][0] + "*" * (len(names[u]) - 1), g
                        bal -= cost
                        assert a["result"]["wallet"]["coins"] == bal, (u, op, a, bal)
                        spent[u] = spent.get(u, 0) + cost
                        units[(u, gift)] = units.get((u, gift), 0) + count
                        acked_facts.append((gift, count, cost))
                    else:
                        assert err(a) == "insufficient_coins", a
                        assert bal < cost, (u, op, bal, cost)
                        short += 1
                    assert bal >= 0
            assert len(ledgers) == n_users and sum(len(x) for x in ledgers.values()) == n_users * per_user
            assert short > 0 and len(acked_facts) > n_users * per_user // 2
            assert active[1] >= 100, active
            assert dup_checks[0] > 0
            return spent, units, acked_facts, short

        def check_books(spent, acked_facts, total_coins, total_creator):
            with s.ctl() as c:  # wallets
                for u in topups:
                    w = c.call("wallet.get", {"room": ROOM, "user": u})
                    assert w["ok"], w
                    assert (w["result"]["coins"], w["result"]["shop"]) == (topups[u] - spent.get(u, 0), ROOM), (u, w)
            # the statement, per gift and in total; the creator's share is rounded down per gift
            st = ctl_ok(s, "gifts.statement", {"room": ROOM})
            assert (st["room"], st["coin_cents"], st["creator_pct"], st["currency"]) == \
                (ROOM, COIN_CENTS, CREATOR_PCT, "CNY"), st
            want = {}
            for gift, count, cost in acked_facts:
                w = want.setdefault(gift, {"count": 0, "coins": 0, "value_cents": 0, "creator_cents": 0})
                w["count"] += count
                w["coins"] += cost
                w["value_cents"] += cost * COIN_CENTS
                w["creator_cents"] += creator_cents(cost)
            got = {g["gift_id"]: g for g in st["gifts"]}
            assert set(got) == set(want), (got.keys(), want.keys())
            for gid, w in want.items():
                g = got[gid]
                assert (g["count"], g["coins"], g["value_cents"], g["creator_cents"]) == \
                    (w["count"], w["coins"], w["value_cents"], w["creator_cents"]), (gid, g, w)
                assert g["platform_cents"] == w["value_cents"] - w["creator_cents"], g
            tot = st["totals"]
            assert (tot["coins"], tot["value_cents"], tot["creator_cents"], tot["platform_cents"]) == \
                (total_coins, total_coins * COIN_CENTS, total_creator, total_coins * COIN_CENTS - total_creator), tot
            assert tot["count"] == sum(c for _, c, _ in acked_facts)
            assert st["gifters"] == len(spent)
            gifts_state = ctl_ok(s, "show.snapshot", {"room": ROOM})["state"]["gifts"]
            check_leaderboard(gifts_state["leaderboard"], spent, names)
            earned = gifts_state["earnings"]
            assert (earned["coins"], earned["creator_cents"]) == (total_coins, total_creator), earned

        run(go())
    finally:
        stop_server(s)


def check_leaderboard(board, spent, names):
    by_first = {names[u][0]: u for u in names}
    top = sorted(spent.values(), reverse=True)[:10]
    assert [e["coins"] for e in board] == top, (board, top)
    for e in board:
        assert e["coins"] == spent[by_first[e["by"][0]]], (e, spent[by_first[e["by"][0]]])
        assert set(e["by"][1:]) == {"*"}, e


def test_kill9_storm_during_gifting_loses_no_acknowledged_gift(tmp_path):
    """Five kill -9 while 120 viewers send gifts, a restart after each. After every restart the
    viewers first resend their unanswered gift with the same op_id (most of them; the rest are
    left unanswered for a while): no acknowledged gift is ever missing, and an unacknowledged one
    counts at most once (its late resend is answered, never charged twice)."""
    workdir = str(tmp_path)
    users = [f"k{i}" for i in range(120)]
    names = {u: display_name(i) for i, u in enumerate(users)}
    rng = random.Random()
    top = 1_000_000
    acked = {u: [] for u in users}      # (op, cost) acknowledged
    refused = []
    pending = {}                        # user -> (op, gift, count) sent, no answer yet
    abandoned = {u: [] for u in users}  # (op, gift, count) never answered, resent only at the end
    next_k = {u: 0 for u in users}
    kills = 5

    s = start_server(workdir)
    setup_shop_room(s, ROOM, CATALOG)
    load_gifts(s)

    async def fund():
        vs = await connect_all(s, users, names=names)
        await asyncio.gather(*(topup(s, v, top, via_callback=False) for v in vs))
        await close_all(vs)
    run(fund())

    def record(u, op, gift, count, r):
        if r["ok"]:
            assert r["result"]["gift"]["coins"] == PRICE[gift] * count
            acked[u].append((op, PRICE[gift] * count))
        else:
            refused.append(r)

    async def lifetime(server, kill_after):
        vs = await connect_all(server, users, cls=QuietViewer, names=names)
        stop = asyncio.Event()

        async def sender(v):
            u = v.user
            try:
                if u in pending:  # resend the unanswered one first: a definite answer now
                    op, gift, count = pending[u]
                    if rng.random() < 0.8:
                        r = await v.request("gift.send", op_id=op, gift_id=gift, count=count)
                        del pending[u]
                        record(u, op, gift, count, r)
                    else:
                        abandoned[u].append(pending.pop(u))
                while not stop.is_set():
                    k = next_k[u]
                    next_k[u] += 1
                    gift = rng.choice(["rose", "heart", "car"])
                    count = rng.randint(1, 5)
                    op = f"{u}-{k}"
                    pending[u] = (op, gift, count)
                    r = await v.request("gift.send", op_id=op, gift_id=gift, count=count)
                    del pending[u]
                    record(u, op, gift, count, r)
            except (ConnectionError, asyncio.TimeoutError, Exception):  # noqa: BLE001 - killed under us
                pass
        tasks = [asyncio.ensure_future(sender(v)) for v in vs]
        base = sum(len(x) for x in acked.values())
        deadline = time.monotonic() + 60
        while sum(len(x) for x in acked.values()) < base + kill_after and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert sum(len(x) for x in acked.values()) > base, "nothing acknowledged in this lifetime"
        return vs, tasks, stop

    async def killed_round(server):
        vs, tasks, stop = await lifetime(server, rng.randint(200, 600))
        await asyncio.sleep(rng.uniform(0, 0.3))  # a random moment of the flow
        server.kill9()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for v in vs:
            try:
                await asyncio.wait_for(v.close(), 2)
            except Exception:  # noqa: BLE001
                pass

    async def last_round(server):
        vs, tasks, stop = await lifetime(server, 500)
        stop.set()
        await asyncio.gather(*tasks)
        assert not pending, pending  # the server is up: everything sent got its answer
        await close_all(vs)

    try:
        for k in range(kills):
            run(killed_round(s))
            s.close()
            s = start_server(workdir)
            # what was acknowledged before this kill is there
            check_gift_books(s, users, names, top, acked, abandoned, pending, exact=False)
        run(last_round(s))
        check_gift_books(s, users, names, top, acked, abandoned, pending, exact=False)

        # the abandoned ones resent now: each is answered once (the first answer if it had committed)
        async def resend():
            vs = await connect_all(s, [u for u in users if abandoned[u]], cls=QuietViewer, names=names)
            for v in vs:
                for op, gift, count in abandoned[v.user]:
                    r = await v.request("gift.send", op_id=op, gift_id=gift, count=count)
                    record(v.user, op, gift, count, r)
                    again = await v.request("gift.send", op_id=op, gift_id=gift, count=count)
                    same_answer(r, again)
                abandoned[v.user] = []
            await close_all(vs)
        run(resend())
        assert not refused, refused[:3]
        check_gift_books(s, users, names, top, acked, abandoned, pending, exact=True)
        # every op_id acknowledged once
        ops = [op for u in users for op, _ in acked[u]]
        assert len(ops) == len(set(ops))
    finally:
        stop_server(s)


def check_gift_books(server, users, names, top, acked, abandoned, pending, exact):
    """Wallets and the statement account for every acknowledged gift; unanswered ones (pending or
    abandoned) may be in them, at most once. exact: nothing is unanswered any more."""
    spent = {}
    with server.ctl() as c:
        for u in users:
            w = c.call("wallet.get", {"room": ROOM, "user": u})
            assert w["ok"], w
            spent[u] = top - w["result"]["coins"]
    for u in users:
        lo = sum(cost for _, cost in acked[u])
        maybe = sum(PRICE[g] * n for _, g, n in abandoned[u]) + \
            (PRICE[pending[u][1]] * pending[u][2] if u in pending else 0)
        assert lo <= spent[u] <= lo + maybe, (u, "acknowledged", lo, "charged", spent[u], "unanswered", maybe)
        if exact:
            assert spent[u] == lo, (u, lo, spent[u])
    st = ctl_ok(server, "gifts.statement", {"room": ROOM})
    total = sum(spent.values())
    assert st["totals"]["coins"] == total, (st["totals"], total)
    assert st["totals"]["value_cents"] == total * COIN_CENTS
    assert sum(g["coins"] for g in st["gifts"]) == total
    board = ctl_ok(server, "show.snapshot", {"room": ROOM})["state"]["gifts"]
    assert board["earnings"]["coins"] == total, board["earnings"]
    check_leaderboard(board["leaderboard"], {u: x for u, x in spent.items() if x}, names)


def test_gift_errors_and_wallet_basics(show):
    """The refusals of the contract, one by one, and what a viewer sees of its wallet."""
    async def go():
        v = (await connect_all(show, ["solo"]))[0]
        anon = Viewer(show, room=ROOM)
        await anon.connect()
        r = await v.request("gift.send", gift_id="rose", count=1)
        assert err(r) == "invalid_state", r              # no gift catalog yet
        r = await v.request("wallet.topup", coins=10)
        assert err(r) == "invalid_state", r
        load_gifts(show)
        await v.wait_for(lambda: "gifts.catalog" in v.event_names(), 10)
        ev = [e for e in v.events if e["name"] == "gifts.catalog"][0]["data"]
        assert (ev["coin_cents"], ev["creator_pct"], len(ev["catalog"])) == (COIN_CENTS, CREATOR_PCT, 4), ev
        for bad in (0, 100, -1):
            r = await v.request("gift.send", gift_id="rose", count=bad)
            assert err(r) in ("invalid_argument", "bad_message"), (bad, r)
        for bad in (0, 1_000_001):
            r = await v.request("wallet.topup", coins=bad)
            assert err(r) in ("invalid_argument", "bad_message"), (bad, r)
        r = await v.request("gift.send", gift_id="nope", count=1)
        assert err(r) == "not_found", r
        r = await v.request("gift.send", gift_id="rose", count=1)
        assert err(r) == "insufficient_coins", r
        r = await anon.request("gift.send", gift_id="rose", count=1)
        assert err(r) == "unauthorized", r
        r = await anon.request("wallet.topup", coins=10)
        assert err(r) == "unauthorized", r
        # an unpaid top-up credits nothing; paid, it does (and a second tab hears of it)
        tab2 = (await connect_all(show, ["solo"]))[0]
        order = await topup(show, v, 130, via_callback=True)
        assert order["total"] == 130 * COIN_CENTS
        await wait_balance(tab2, 130)
        r = await v.request("gift.send", gift_id="rocket", count=1)
        assert r["ok"] and r["result"]["wallet"] == {"coins": 10}, r
        g = r["result"]["gift"]
        assert (g["class"], g["name"], g["count"], g["coins"], g["combo"]) == ("fullscreen", "Rocket", 1, 120, 1), g
        r = await v.request("gift.send", gift_id="heart", count=3)
        assert err(r) == "insufficient_coins", r          # 15 > 10: nothing taken
        r = await v.request("gift.send", gift_id="heart", count=2)
        assert r["ok"] and r["result"]["wallet"] == {"coins": 0}, r
        assert ctl_ok(show, "wallet.get", {"room": ROOM, "user": "solo"})["coins"] == 0
        fresh = (await connect_all(show, ["solo"]))[0]
        assert fresh.snapshot["state"]["me"]["wallet"] == {"coins": 0}
        st = ctl_ok(show, "gifts.statement", {"room": ROOM})
        assert st["totals"]["coins"] == 130 and st["gifters"] == 1, st
        assert st["totals"]["creator_cents"] == creator_cents(120) + creator_cents(10), st
        await close_all([v, anon, tab2, fresh])
    run(go())


def test_combos_merge_gifts_less_than_3_s_apart(show):
    load_gifts(show)

    async def go():
        v, w = await connect_all(show, ["combo", "wat"])
        await topup(show, v, 1000, via_callback=False)
        await wait_balance(v, 1000)
        combos = set()
        for i in range(20):
            r = await v.request("gift.send", gift_id="rose", count=1)
            assert r["ok"] and r["result"]["gift"]["combo"] == i + 1, r
            combos.add(r["result"]["gift"]["combo_id"])
        assert len(combos) == 1
        cid = combos.pop()
        await w.wait_for(lambda: any(cb["id"] == cid and cb["count"] == 20
                                     for e in w.events if e["name"] == "gifts" for cb in e["data"]["combos"]), 10)
        n = len([e for e in w.events if e["name"] == "gifts"])
        assert n <= 8, f"{n} gifts broadcasts for one 20-gift combo"
        r = await v.request("gift.send", gift_id="heart", count=1)   # another gift: another combo
        assert r["result"]["gift"]["combo_id"] != cid and r["result"]["gift"]["combo"] == 1
        await close_all([v, w])
    run(go())


# ---- promotions ------------------------------------------------------------------------------

PROMOS = {
    "bogo11": {"kind": "bogo", "buy": 1, "free": 1},
    "bogo21": {"kind": "bogo", "buy": 2, "free": 1},
    "pct": {"kind": "percent", "percent_off": 30},
    "fix": {"kind": "fixed", "amount_off": 800},     # more than the price (500)
    "flashy": {"kind": "bogo", "buy": 1, "free": 1},
}

# (lines, coupon or None, per-line promotion discounts, subtotal, promo_discount, coupon_discount, total)
# hand-computed from docs/marketing.md
CARTS = [
    ([("bogo11", 1)], None, [0], 1990, 0, 0, 1990),                     # 1 unit: full price
    ([("bogo11", 2)], None, [1990], 3980, 1990, 0, 1990),               # floor(2/2)*1 free
    ([("bogo11", 3)], None, [1990], 5970, 1990, 0, 3980),               # floor(3/2)*1 free
    ([("bogo21", 7)], None, [3000], 10500, 3000, 0, 7500),              # floor(7/3)*1 = 2 free
    ([("bogo21", 2)], None, [0], 3000, 0, 0, 3000),                     # not enough for a free one
    ([("pct", 3)], None, [2999], 9999, 2999, 0, 7000),                  # floor(9999*30/100)
    ([("pct", 3)], "pct15", [2999], 9999, 2999, 1050, 5950),            # 15% of 7000, not of 9999 (1499)
    ([("pct", 3), ("plain", 1)], "mj10", [2999, 0], 12499, 2999, 1000, 8500),  # 9500 >= 8000
    ([("fix", 2)], None, [1000], 1000, 1000, 0, 0),                     # min(800, 500) * 2: free
    ([("fix", 2), ("plain", 1)], None, [1000, 0], 3500, 1000, 0, 2500),
    ([("late", 2)], None, [0], 2000, 0, 0, 2000),                       # window not started
    ([("bogo11", 3), ("bogo21", 2), ("pct", 1), ("plain", 2)], "pct15", [1990, 0, 999, 0],
     17303, 2989, 2147, 12167),                                         # 15% of 14314
]


def test_promotions_price_carts_to_the_cent(show):
    for sku, p in PROMOS.items():
        r = ctl_ok(show, "promo.set", {"room": ROOM, "sku": sku, **p})
        assert r["sku"] == sku and r["promotion"]["kind"] == p["kind"] and r["promotion"]["active"] is True, r
    later = now_ms() + 3_600_000
    r = ctl_ok(show, "promo.set", {"room": ROOM, "sku": "late", "kind": "percent", "percent_off": 50,
                                   "starts_at": later, "label": "明天半价"})
    assert r["promotion"]["active"] is False and r["promotion"]["label"] == "明天半价", r
    ctl_ok(show, "coupon.drop", {"room": ROOM, "id": "pct15", "kind": "percent", "percent_off": 15, "quantity": 100})
    ctl_ok(show, "coupon.drop", {"room": ROOM, "id": "mj10", "kind": "threshold", "amount_off": 1000,
                                 "min_spend": 8000, "quantity": 100})

    async def go():
        look = (await connect_all(show, ["looker"]))[0]
        skus = {k["id"]: k for p in look.snapshot["state"]["products"] for k in p["skus"]}
        assert skus["bogo11"]["promotion"]["kind"] == "bogo" and skus["bogo11"]["promotion"]["active"] is True
        assert skus["bogo11"]["promotion"]["label"], skus["bogo11"]["promotion"]  # a default label
        assert skus["late"]["promotion"]["active"] is False
        assert "promotion" not in skus["plain"]
        await look.close()
        for i, (lines, coupon, line_disc, subtotal, promo, coup, total) in enumerate(CARTS):
            v = (await connect_all(show, [f"cart{i}"]))[0]
            items = [{"sku": s, "qty": q} for s, q in lines]
            claim_id = None
            if coupon:
                c = await v.request("coupon.claim", coupon_id=coupon)
                assert c["ok"], c
                claim_id = c["result"]["claim"]["id"]
            q = await v.request("cart.quote", items=items, claim_id=claim_id)
            assert q["ok"], (i, q)
            o = await v.request("checkout", items=items, claim_id=claim_id)
            assert o["ok"], (i, o)
            quote, order = q["result"]["quote"], o["result"]["order"]
            want = (subtotal, promo, coup, promo + coup, total)
            for what, x in (("quote", quote), ("order", order)):
                got = (x["subtotal"], x["promo_discount"], x["coupon_discount"], x["discount"], x["total"])
                assert got == want, (i, lines, coupon, what, got, want)
                disc = [(it.get("promotion") or {}).get("discount", 0) for it in x["items"]]
                assert disc == line_disc, (i, what, x["items"])
                for it, (sku, _) in zip(x["items"], lines):
                    if it.get("promotion") and it["promotion"]["discount"]:
                        assert it["promotion"]["kind"] == PROMOS[sku]["kind"] and it["promotion"]["label"], it
            assert [it.get("promotion") for it in quote["items"]] == [it.get("promotion") for it in order["items"]]
            await v.close()
    run(go())


def test_coupon_min_spend_is_checked_after_promotions(show):
    ctl_ok(show, "promo.set", {"room": ROOM, "sku": "pct", "kind": "percent", "percent_off": 30})
    ctl_ok(show, "coupon.drop", {"room": ROOM, "id": "mj10", "kind": "threshold", "amount_off": 1000,
                                 "min_spend": 8000, "quantity": 100})

    async def go():
        v = (await connect_all(show, ["thrifty"]))[0]
        cid = (await v.request("coupon.claim", coupon_id="mj10"))["result"]["claim"]["id"]
        items = [{"sku": "pct", "qty": 3}]  # 9999 before the promotion, 7000 after: below 8000
        q = await v.request("cart.quote", items=items)
        offer = [c for c in q["result"]["quote"]["claims"] if c["id"] == cid][0]
        assert offer["discount"] is None and offer["why"] == "below minimum spend", offer
        q = await v.request("cart.quote", items=items, claim_id=cid)
        assert err(q) == "coupon_not_applicable", q
        o = await v.request("checkout", items=items, claim_id=cid)
        assert err(o) == "coupon_not_applicable", o
        await v.close()
    run(go())


def test_promotion_outside_its_window_takes_nothing_off(show):
    ends = now_ms() + 1500
    ctl_ok(show, "promo.set", {"room": ROOM, "sku": "brief", "kind": "percent", "percent_off": 50, "ends_at": ends})

    async def go():
        v = (await connect_all(show, ["timely"]))[0]
        q = (await v.request("cart.quote", items=[{"sku": "brief", "qty": 1}]))["result"]["quote"]
        assert (q["promo_discount"], q["total"]) == (1000, 1000), q
        while now_ms() <= ends + 50:  # the contract's clock: the window closes
            await asyncio.sleep(0.05)
        q = (await v.request("cart.quote", items=[{"sku": "brief", "qty": 1}]))["result"]["quote"]
        assert (q["promo_discount"], q["total"]) == (0, 2000), q
        o = (await v.request("checkout", items=[{"sku": "brief", "qty": 1}]))["result"]["order"]
        assert (o["promo_discount"], o["total"]) == (0, 2000) and not o["items"][0].get("promotion"), o
        await v.close()
    run(go())


def test_deal_lines_get_no_promotion(show):
    """A BOGO SKU bought through its flash sale, and a percent-off SKU through a group deal:
    the deal's price is the discount, no promotion on top (precedence rule 1)."""
    ctl_ok(show, "promo.set", {"room": ROOM, "sku": "flashy", "kind": "bogo", "buy": 1, "free": 1})
    ctl_ok(show, "promo.set", {"room": ROOM, "sku": "pct", "kind": "percent", "percent_off": 30})
    ctl_ok(show, "flash.schedule", {"room": ROOM, "id": "fs1", "sku": "flashy", "price": 2000, "quantity": 10,
                                    "per_user_limit": 2, "duration_ms": 600000})
    group_open(show, id="gp", sku="pct", price=2000, team_size=2, quantity=4, fill_ms=600000)

    async def go():
        v, w = await connect_all(show, ["dealer", "mate"])
        r = await v.request("flash.buy", sale_id="fs1", qty=2)
        assert r["ok"], r
        o = r["result"]["order"]
        assert (o["subtotal"], o["promo_discount"], o["discount"], o["total"]) == (4000, 0, 0, 4000), o
        assert not o["items"][0].get("promotion") and o["items"][0]["unit_price"] == 2000, o
        r = await v.request("group.start", deal_id="gp")
        assert r["ok"], r
        o = r["result"]["order"]
        assert (o["subtotal"], o["promo_discount"], o["total"]) == (2000, 0, 2000), o
        assert not o["items"][0].get("promotion"), o
        r = await w.request("group.join", team_id=r["result"]["team"]["id"])
        assert r["ok"] and r["result"]["order"]["total"] == 2000 and r["result"]["order"]["promo_discount"] == 0, r
        # the same SKU outside the deal still gets its promotion
        q = (await v.request("cart.quote", items=[{"sku": "pct", "qty": 1}]))["result"]["quote"]
        assert q["promo_discount"] == 999, q
        await close_all([v, w])
    run(go())


# ---- answers of repeated and pipelined requests ----------------------------------------------

def test_pipelined_gifts_each_answer_their_own_gift(show):
    """A viewer tapping fast sends gifts without waiting for answers: each answer still describes
    its own gift (the combo count it reached, the balance after it), as one at a time would."""
    load_gifts(show)

    async def go():
        v = (await connect_all(show, ["tapper"], cls=QuietViewer))[0]
        await topup(show, v, 100, via_callback=False)
        await wait_balance(v, 100)
        ops = [f"tap-{k}" for k in range(8)]
        for op in ops:  # all sent before any answer is read
            await v.send_op("gift.send", op, gift_id="heart", count=1)
        answers = [(await v.wait_replies(op, 1))[0] for op in ops]
        assert all(a["ok"] for a in answers), answers
        got = sorted((a["result"]["gift"]["n"], a["result"]["gift"]["combo"], a["result"]["wallet"]["coins"])
                     for a in answers)
        assert [(c, w) for _, c, w in got] == [(k + 1, 100 - 5 * (k + 1)) for k in range(8)], got
        await v.close()
    run(go())


def test_repeated_op_ids_after_a_restart_get_their_first_answer(tmp_path):
    """docs/marketing.md: idempotent by op_id, rebuilt exactly by a restart. A gift, a top-up and
    a group seat sent again with the same op_id after kill -9 and a restart are answered with
    what they were answered the first time (not with today's balance or team)."""
    workdir = str(tmp_path)
    s = start_server(workdir)
    setup_shop_room(s, ROOM, CATALOG)
    load_gifts(s)
    group_open(s, id="gr", sku="tee-m", price=4900, team_size=3, quantity=9, fill_ms=600000)
    first = {}

    async def before():
        v, w = await connect_all(s, ["again", "other"])
        first["topup"] = await v.request("wallet.topup", op_id="op-topup", coins=100)
        p = s.call("order.pay", {"room": ROOM, "id": first["topup"]["result"]["order"]["id"]})
        assert p["ok"], p
        await wait_balance(v, 100)
        first["gift1"] = await v.request("gift.send", op_id="op-g1", gift_id="heart", count=2)
        first["gift2"] = await v.request("gift.send", op_id="op-g2", gift_id="heart", count=1)
        assert first["gift1"]["result"]["wallet"]["coins"] == 90 and first["gift2"]["result"]["wallet"]["coins"] == 85
        first["start"] = await v.request("group.start", op_id="op-start", deal_id="gr")
        assert first["start"]["ok"], first["start"]
        tid = first["start"]["result"]["team"]["id"]
        first["join"] = await w.request("group.join", op_id="op-join", team_id=tid)
        assert first["join"]["ok"], first["join"]
        # before the restart a repeat gets the first answer too
        same_answer(first["gift1"], await v.request("gift.send", op_id="op-g1", gift_id="heart", count=2))
        same_answer(first["start"], await v.request("group.start", op_id="op-start", deal_id="gr"))
        await close_all([v, w])
    run(before())
    s.kill9()
    s.close()
    s = start_server(workdir)
    try:
        async def after():
            v, w = await connect_all(s, ["again", "other"])
            diffs = []
            for key, who, type_, fields in (("gift1", v, "gift.send", {"gift_id": "heart", "count": 2}),
                                            ("gift2", v, "gift.send", {"gift_id": "heart", "count": 1}),
                                            ("topup", v, "wallet.topup", {"coins": 100}),
                                            ("start", v, "group.start", {"deal_id": "gr"}),
                                            ("join", w, "group.join",
                                             {"team_id": first["start"]["result"]["team"]["id"]})):
                r = await who.request(type_, op_id="op-" + key.replace("gift", "g"), **fields)
                if r.get("result") != first[key].get("result") or r["ok"] != first[key]["ok"]:
                    diffs.append((key, first[key].get("result"), r.get("result") or r.get("error")))
            await close_all([v, w])
            return diffs
        diffs = run(after())
        assert ctl_ok(s, "wallet.get", {"room": ROOM, "user": "again"})["coins"] == 85  # nothing charged twice
        orders = ctl_ok(s, "order.list", {"room": ROOM, "limit": 100})["orders"]
        assert len(orders) == 3, [o["id"] for o in orders]  # the top-up and two seats, once each
        assert not diffs, "\n".join(f"{k}: first {a}\n   after the restart {b}" for k, a, b in diffs)
    finally:
        stop_server(s)


def test_unformed_seat_waits_for_its_team_not_the_order_ttl():
    """commerce.order_ttl_s 4 and fill_ms 10 s: a seat's order is held until the team's deadline,
    not expired by the order TTL; once the team forms, the usual time to pay (4 s) starts."""
    s = start_server(extra=["commerce.order_ttl_s=4"])
    try:
        setup_shop_room(s, ROOM, CATALOG)
        group_open(s, id="gt", sku="tee-m", price=4900, team_size=2, quantity=4, fill_ms=10000)

        async def go():
            a, b, c = await connect_all(s, ["ta", "tb", "tc"])
            ra = await a.request("group.start", deal_id="gt")
            team = ra["result"]["team"]
            assert ra["result"]["order"]["expires_at"] == team["deadline"], ra
            t_formed_by = team["deadline"] - 2000
            while now_ms() < ra["result"]["order"]["created_at"] + 4000 + 1000:  # past the TTL
                await asyncio.sleep(0.05)
            assert now_ms() < t_formed_by, "too slow to check the TTL before the team deadline"
            o = [x for x in ctl_ok(s, "order.list", {"room": ROOM, "user": "ta"})["orders"]][0]
            assert o["state"] == "pending", o
            rb = await b.request("group.join", team_id=team["id"])
            assert rb["ok"] and rb["result"]["team"]["state"] == "formed", rb
            formed_at = rb["result"]["team"]["formed_at"]
            assert rb["result"]["order"]["expires_at"] == formed_at + 4000, rb
            await a.wait_for(lambda: private(a, "group.formed"), 10)
            assert private(a, "group.formed")[0]["order"]["expires_at"] == formed_at + 4000
            # not paid in time now: an ordinary expiry
            await a.wait_for(lambda: private(a, "order.expired"), 15)
            assert private(a, "order.expired")[0]["order"]["reason"] == "not paid in time"
            await close_all([a, b, c])
        run(go())
    finally:
        stop_server(s)


# ---- more of the contract: shops, history, deal end, promotions' events ----------------------

def test_wallets_are_per_shop_and_statements_per_room():
    """Two rooms of one shop share a wallet (coins outlive a show); a room of another shop has its
    own; each room's statement has its own gifts. A later change of the coin value or the split
    does not rewrite history: each gift keeps the value and split of its time."""
    s = start_server()
    try:
        for room, shop in (("ra", "acme"), ("rb", "acme"), ("rc", None)):
            setup_shop_room(s, room, CATALOG, shop=shop)
            ctl_ok(s, "gifts.load", {"room": room, "gifts": GIFTS, "coin_cents": COIN_CENTS, "creator_pct": CREATOR_PCT})

        async def go():
            va = Viewer(s, room="ra", user="fan")
            vb = Viewer(s, room="rb", user="fan")
            vc = Viewer(s, room="rc", user="fan")
            for v in (va, vb, vc):
                await v.connect()
            r = await va.request("wallet.topup", coins=300)
            assert s.call("order.pay", {"room": "ra", "id": r["result"]["order"]["id"]})["ok"]
            await va.wait_for(lambda: private(va, "wallet.updated"), 10)
            assert vc.snapshot["state"]["me"]["wallet"] == {"coins": 0}
            r = await vb.request("gift.send", gift_id="car", count=1)       # 50 coins at 7 cents, 33%
            assert r["ok"] and r["result"]["wallet"] == {"coins": 250}, r
            r = await vc.request("gift.send", gift_id="rose", count=1)
            assert err(r) == "insufficient_coins", r
            ctl_ok(s, "gifts.load", {"room": "rb", "gifts": GIFTS, "coin_cents": 9, "creator_pct": 50})
            r = await vb.request("gift.send", gift_id="car", count=1)       # 50 coins at 9 cents, 50%
            assert r["ok"] and r["result"]["wallet"] == {"coins": 200}, r
            for v in (va, vb, vc):
                await v.close()
        run(go())
        for room, shop, coins in (("ra", "acme", 200), ("rb", "acme", 200), ("rc", "rc", 0)):
            w = ctl_ok(s, "wallet.get", {"room": room, "user": "fan"})
            assert (w["shop"], w["coins"]) == (shop, coins), (room, w)
        st = ctl_ok(s, "gifts.statement", {"room": "rb"})
        t = st["totals"]
        assert (t["coins"], t["value_cents"], t["creator_cents"]) == (100, 50 * 7 + 50 * 9, 50 * 7 * 33 // 100 + 50 * 9 // 2), st
        assert t["platform_cents"] == t["value_cents"] - t["creator_cents"]
        assert ctl_ok(s, "gifts.statement", {"room": "ra"})["totals"]["coins"] == 0
        assert ctl_ok(s, "show.snapshot", {"room": "rb"})["state"]["gifts"]["earnings"]["coins"] == 100
        assert ctl_ok(s, "show.snapshot", {"room": "ra"})["state"]["gifts"]["earnings"]["coins"] == 0
    finally:
        stop_server(s)


def test_a_top_up_credits_once(show):
    load_gifts(show)

    async def go():
        v = (await connect_all(show, ["payer"]))[0]
        r = await v.request("wallet.topup", coins=50)
        oid = r["result"]["order"]["id"]
        st, body = signed_callback(show, oid, "wx-1")
        assert st == 200 and body["order"]["state"] == "paid", body
        st, body = signed_callback(show, oid, "wx-1")
        assert st == 409 and body["error"]["code"] == "invalid_state", (st, body)
        p = show.call("order.pay", {"room": ROOM, "id": oid})
        assert p["ok"] is False and p["error"]["code"] == "invalid_state", p
        # a cancelled top-up cannot be paid and credits nothing
        r = await v.request("wallet.topup", coins=70)
        assert (await v.request("order.cancel", order_id=r["result"]["order"]["id"]))["ok"]
        st, body = signed_callback(show, r["result"]["order"]["id"], "wx-2")
        assert st == 409, (st, body)
        await v.close()
    run(go())
    assert ctl_ok(show, "wallet.get", {"room": ROOM, "user": "payer"})["coins"] == 50


def test_group_deal_ending_on_its_own_fails_open_teams(show):
    stock0 = sku_available(show, ROOM, "tee-l")
    group_open(show, id="gd", sku="tee-l", price=5900, team_size=3, quantity=6, fill_ms=10000, duration_ms=3000)
    bad = show.call("group.open", {"room": ROOM, "id": "gx", "sku": "tee-l", "price": 5900, "team_size": 3,
                                   "quantity": 6, "fill_ms": 9999})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_argument", bad
    bad = show.call("group.open", {"room": ROOM, "id": "gy", "sku": "tee-l", "price": 5900, "team_size": 11,
                                   "quantity": 6})
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_argument", bad
    bad = show.call("group.open", {"room": ROOM, "id": "gz", "sku": "tee-l", "price": 5900, "team_size": 3,
                                   "quantity": 10 ** 6})
    assert bad["ok"] is False and bad["error"]["code"] == "out_of_stock", bad

    async def go():
        a, w = await connect_all(show, ["ea", "ew"])
        r = await a.request("group.start", deal_id="gd")
        assert r["ok"], r
        tid = r["result"]["team"]["id"]
        await w.wait_for(lambda: "group.closed" in w.event_names(), 15)
        ev = [e for e in w.events if e["name"] == "group.closed"][0]
        assert ev["data"] == {"deal_id": "gd", "reason": "the deal ended"}, ev
        t = team_of(show, "gd", tid)
        assert (t["state"], t["reason"]) == ("failed", DEAL_ENDED), t
        await a.wait_for(lambda: private(a, "order.cancelled"), 10)
        assert private(a, "order.cancelled")[0]["order"]["reason"] == DEAL_ENDED
        await close_all([a, w])
    run(go())
    assert sku_available(show, ROOM, "tee-l") == stock0
    assert deal_status(show, "gd")["state"] == "ended"


def test_promotion_events_cart_path_and_clear(show):
    async def go():
        v = (await connect_all(show, ["shopper"]))[0]
        ctl_ok(show, "promo.set", {"room": ROOM, "sku": "bogo11", "kind": "bogo", "buy": 1, "free": 1, "label": "买1送1"})
        await v.wait_for(lambda: "promo.updated" in v.event_names(), 10)
        ev = [e for e in v.events if e["name"] == "promo.updated"][-1]["data"]
        assert ev["sku"] == "bogo11" and ev["promotion"]["label"] == "买1送1" and ev["promotion"]["buy"] == 1, ev
        assert (await v.request("cart.add", sku="bogo11", qty=3))["ok"]
        q = (await v.request("cart.quote"))["result"]["quote"]
        o = (await v.request("checkout"))["result"]["order"]
        for x in (q, o):
            assert (x["subtotal"], x["promo_discount"], x["total"]) == (5970, 1990, 3980), x
            assert x["items"][0]["promotion"] == {"kind": "bogo", "label": "买1送1", "discount": 1990}, x["items"]
        listed = [x for x in ctl_ok(show, "order.list", {"room": ROOM, "user": "shopper"})["orders"] if x["id"] == o["id"]]
        assert listed[0]["items"][0]["promotion"]["discount"] == 1990 and listed[0]["promo_discount"] == 1990
        ctl_ok(show, "promo.clear", {"room": ROOM, "sku": "bogo11"})
        await v.wait_for(lambda: any(e["name"] == "promo.updated" and e["data"]["promotion"] is None
                                     for e in v.events), 10)
        q = (await v.request("cart.quote", items=[{"sku": "bogo11", "qty": 3}]))["result"]["quote"]
        assert (q["promo_discount"], q["total"]) == (0, 5970), q
        await v.close()
    run(go())
