"""Show-channel test clients: real websockets (python3-websockets) against the real
livecartd, plus helpers to set up a room with a catalog and to mint viewer tokens."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import time

import websockets

import lc

SECRET = "test-secret-0123456789"
CATALOG = os.path.join(lc.SRCDIR, "conf", "demo", "catalog.json")


def server_args():
    """--set overrides every show test uses."""
    return [f"auth.jwt_secret={SECRET}"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(user, room=None, name=None, ttl=3600):
    """An HS256 viewer token, minted independently of the server's code."""
    claims = {"sub": user, "exp": int(time.time()) + ttl}
    if room:
        claims["room"] = room
    if name:
        claims["name"] = name
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def setup_room(server, room="demo", catalog=CATALOG):
    with server.ctl() as c:
        r = c.call("room.create", {"id": room, "title": "Test show"})
        assert r["ok"], r
        with open(catalog) as f:
            r = c.call("catalog.load", {"room": room, "catalog": json.load(f)})
        assert r["ok"], r


class Viewer:
    """One websocket connection speaking protocol v1."""

    def __init__(self, server, room="demo", user=None, name=None):
        self.url = f"ws://127.0.0.1:{server.http_port}/ws"
        self.room = room
        self.user = user
        self.name = name
        self.ws = None
        self.welcome = None
        self.snapshot = None
        self.events = []     # room-wide "event" messages, in arrival order
        self.privates = []   # "private" messages
        self.other = []      # error / pong / snapshot after the first
        self.replies = {}    # op_id -> reply
        self.epoch = None
        self.seq = None
        self._next = 0
        self._tag = os.urandom(3).hex()  # op_ids are per user: never reuse one by accident
        self._waiters = {}
        self._reader = None
        self.closed = None

    async def connect(self, resume=None, token_override=None, hello=True):
        self.ws = await websockets.connect(self.url, subprotocols=["livecart.v1"], max_size=2**24,
                                           ping_interval=None, close_timeout=2)
        if hello:
            msg = {"type": "hello", "v": 1, "room": self.room}
            tok = token_override if token_override is not None else (token(self.user, name=self.name) if self.user else None)
            if tok:
                msg["token"] = tok
            if resume:
                msg["resume"] = resume
            await self.ws.send(json.dumps(msg))
            self.welcome = json.loads(await self.ws.recv())
            assert self.welcome["type"] == "welcome", self.welcome
            self.epoch = self.welcome["epoch"]
            if not self.welcome["resumed"]:
                self.snapshot = json.loads(await self.ws.recv())
                assert self.snapshot["type"] == "snapshot", self.snapshot
                self.seq = self.snapshot["seq"]
            else:
                self.seq = resume["seq"]
        self._reader = asyncio.ensure_future(self._read())
        return self

    def _handle(self, m):
        t = m.get("type")
        if t == "event":
            assert m["seq"] == self.seq + 1, f"gap: had {self.seq}, got {m['seq']} ({m['name']})"
            self.seq = m["seq"]
            self.events.append(m)
        elif t == "snapshot":
            self.snapshot = m
            self.seq = m["seq"]
            self.epoch = m["epoch"]
            self.other.append(m)
        elif t == "private":
            self.privates.append(m)
        elif t == "reply" and m.get("op_id") is not None:
            self.replies[m["op_id"]] = m
            fut = self._waiters.pop(m["op_id"], None)
            if fut and not fut.done():
                fut.set_result(m)
        else:
            self.other.append(m)

    async def _read(self):
        try:
            async for raw in self.ws:
                self._handle(json.loads(raw))
        except websockets.ConnectionClosed as e:
            self.closed = e
        except Exception as e:  # noqa: BLE001 - surfaced by the test through .closed
            self.closed = e
        if self.closed is None:
            self.closed = self.ws.close_code
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionError("closed"))

    async def request(self, type_, op_id=None, **fields):
        if op_id is None:
            self._next += 1
            op_id = f"{self.user}-{self._tag}-{self._next}"
        fut = asyncio.get_event_loop().create_future()
        self._waiters[op_id] = fut
        await self.ws.send(json.dumps({"type": type_, "op_id": op_id, **fields}))
        return await asyncio.wait_for(fut, 60)

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj))

    async def wait_for(self, pred, timeout=10):
        """Waits until pred() is true (checked as messages arrive)."""
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met")
            if self.closed is not None and not pred():
                raise ConnectionError(f"closed: {self.closed}")
            await asyncio.sleep(0.01)

    def event_names(self):
        return [e["name"] for e in self.events]

    async def close(self):
        if self.ws:
            await self.ws.close()
        if self._reader:
            await asyncio.gather(self._reader, return_exceptions=True)


def run(coro):
    return asyncio.run(coro)


# ---- issue 17: group buy, gifts, promotions (tests/integration/test_marketing.py) ------------

def ctl_ok(server, cmd, args=None):
    """A control command that must succeed: its result."""
    r = server.call(cmd, args)
    assert r.get("ok"), (cmd, args, r)
    return r["result"]


def setup_shop_room(server, room, catalog, shop=None, title="Marketing test"):
    """A room (of `shop` when given) with a catalog given as a dict."""
    args = {"id": room, "title": title}
    if shop:
        args["shop"] = shop
    ctl_ok(server, "room.create", args)
    ctl_ok(server, "catalog.load", {"room": room, "catalog": catalog})


def sku_available(server, room, sku):
    """The SKU's `available` in the room's snapshot (what a new viewer sees)."""
    state = ctl_ok(server, "show.snapshot", {"room": room})["state"]
    for p in state["products"]:
        for k in p["skus"]:
            if k["id"] == sku:
                return k["available"]
    raise KeyError(sku)


def wait_until(pred, timeout, what="condition"):
    """Polls pred() (a synchronous check, e.g. a control command) until true or the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


class QuietViewer(Viewer):
    """A Viewer for many-client load: room-wide events are counted by name and decoded only
    when their name is in `keep` (a busy room sends every viewer large events that a sender
    of requests does not need). Every reply of an op_id is kept in order (reply_log), so a
    repeated op_id can be compared with its first answer."""

    def __init__(self, *args, keep=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.keep = set(keep)
        self.event_counts = {}
        self.reply_log = {}
        self._log_waiters = {}  # op_id -> [(n, future)]

    async def _read(self):
        try:
            async for raw in self.ws:
                if isinstance(raw, str) and raw.startswith('{"type":"event"'):
                    at = raw.find('"name":"')
                    name = raw[at + 8:raw.find('"', at + 8)] if at >= 0 else "?"
                    self.event_counts[name] = self.event_counts.get(name, 0) + 1
                    if name in self.keep:
                        m = json.loads(raw)
                        self.seq = m["seq"]
                        self.events.append(m)
                    continue
                m = json.loads(raw)
                if m.get("type") == "event":
                    self.event_counts[m["name"]] = self.event_counts.get(m["name"], 0) + 1
                    if m["name"] in self.keep:
                        self.events.append(m)
                    continue
                if m.get("type") == "reply" and m.get("op_id") is not None:
                    log = self.reply_log.setdefault(m["op_id"], [])
                    log.append(m)
                    waiting = self._log_waiters.get(m["op_id"], [])
                    for n, fut in [w for w in waiting if len(log) >= w[0]]:
                        waiting.remove((n, fut))
                        if not fut.done():
                            fut.set_result(log[:n])
                self._handle(m)
        except websockets.ConnectionClosed as e:
            self.closed = e
        except Exception as e:  # noqa: BLE001 - surfaced by the test through .closed
            self.closed = e
        if self.closed is None:
            self.closed = self.ws.close_code
        for fut in list(self._waiters.values()) + [f for w in self._log_waiters.values() for _, f in w]:
            if not fut.done():
                fut.set_exception(ConnectionError("closed"))

    async def send_op(self, type_, op_id, **fields):
        """Sends a request without waiting for its answer (see reply_log / wait_replies)."""
        await self.ws.send(json.dumps({"type": type_, "op_id": op_id, **fields}))

    async def wait_replies(self, op_id, n, timeout=60):
        """Waits until op_id has n replies; returns them."""
        log = self.reply_log.get(op_id, [])
        if len(log) >= n:
            return log[:n]
        if self.closed is not None:
            raise ConnectionError(f"closed: {self.closed}")
        fut = asyncio.get_event_loop().create_future()
        self._log_waiters.setdefault(op_id, []).append((n, fut))
        return await asyncio.wait_for(fut, timeout)
