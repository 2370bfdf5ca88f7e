"""Cluster test helpers (issue 15): a real redis-server on a free loopback port with its AOF in a
temp dir, livecartd nodes on it, and waits with deadlines for what spreads between nodes.

Stdlib only, plus showlib for the show setup. redis-server 7 is Debian's (/usr/bin/redis-server)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import lc
import showlib

REDIS_SERVER = os.environ.get("REDIS_SERVER", shutil.which("redis-server") or "/usr/bin/redis-server")
REDIS_START_TIMEOUT = 15.0


class RedisError(Exception):
    pass


class Resp:
    """A minimal RESP2 client over one TCP connection (enough for PING, CONFIG, INFO, KEYS...)."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RedisError(f"unexpected RESP line {line!r}")

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()


class Redis:
    """One redis-server process. `dir` keeps its AOF, so it can be killed and started again on
    the same data (same port). Durable by default: appendonly yes + appendfsync always."""

    def __init__(self, dir=None, port=None, appendonly="yes", appendfsync="always"):
        self._tmp = None
        if dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lc-redis-")
            dir = self._tmp.name
        self.dir = dir
        self.port = port
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.proc = None
        self.started_once = False
        self.log_path = os.path.join(dir, "redis.log")

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def args(self):
        return [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--appendonly", self.appendonly, "--appendfsync", self.appendfsync, "--save", "",
                "--protected-mode", "no", "--daemonize", "no", "--logfile", self.log_path]

    def start(self, timeout=REDIS_START_TIMEOUT):
        """Starts and waits (with a deadline) until it answers PING; retries on a port race."""
        for attempt in range(3):
            if self.port is None:
                self.port = lc.free_port()
            self.proc = subprocess.Popen(self.args(), cwd=self.dir, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    with Resp(self.port, timeout=1) as r:
                        # LOADING while it replays the AOF: not ready yet
                        if r.call("PING") == "PONG":
                            self.started_once = True
                            return self
                except (OSError, RedisError):
                    pass
                time.sleep(0.02)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("redis-server did not answer PING:\n" + self.log_text())
            if "Address already in use" in self.log_text() and attempt < 2 and not self.started_once:
                self.port = None  # lost a port race at the first start (a restart keeps its port)
                continue
            raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n" + self.log_text())
        raise RuntimeError("redis-server could not start")

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def call(self, *args):
        with Resp(self.port) as r:
            return r.call(*args)

    def freeze(self):
        """SIGSTOP: the connections stay open, nothing answers (a hung or swapping Redis)."""
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout=10):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGCONT)   # in case a test froze it
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.stop()
        if self._tmp:
            self._tmp.cleanup()


class Node(lc.Server):
    """A livecartd in cluster mode: cluster.redis, node_id and advertise_url (the node's own HTTP
    address, whatever port start() ends up with)."""

    def __init__(self, redis_url, node_id, workdir=None, extra=()):
        super().__init__(workdir=workdir, extra=list(showlib.server_args()) + [
            f"cluster.redis={redis_url}", f"cluster.node_id={node_id}"] + list(extra))
        self.node_id = node_id

    def args(self):
        a = super().args()
        if not any(kv.startswith("cluster.advertise_url=") for kv in self.extra):
            a += ["--set", f"cluster.advertise_url=http://127.0.0.1:{self.http_port}"]
        return a


def wait_until(pred, timeout, what, interval=0.05):
    """Polls pred() until it returns a true value (returned) or the deadline passes (AssertionError
    naming `what` and the last value)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
        except (OSError, ConnectionError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {str(last)[:2000]}")
        time.sleep(interval)


async def await_until(pred, timeout, what, interval=0.05):
    """wait_until for a coroutine: pred (blocking, e.g. a control call) runs in a thread, so that
    the event loop keeps reading the test's websockets meanwhile."""
    import asyncio
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = await asyncio.to_thread(pred)
        except (OSError, ConnectionError) as e:
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last: {str(last)[:2000]}")
        await asyncio.sleep(interval)


def ok(resp):
    assert resp.get("ok"), resp
    return resp["result"]


class Cluster:
    """A redis-server and n livecartd nodes on it."""

    def __init__(self, n, extra=(), redis=None, node_extra=None, env=None):
        self.env = env or {}  # extra environment of every node (conftest.media_env for publishers)
        self.redis = redis or Redis()
        self.own_redis = redis is None
        self.nodes = []
        self.extra = list(extra)
        self.node_extra = node_extra or {}
        self.n = n

    def start(self):
        if self.redis.proc is None:
            self.redis.start()
        for i in range(self.n):
            self.add_node(f"n{i + 1}")
        return self

    def add_node(self, node_id, workdir=None):
        node = Node(self.redis.url, node_id, workdir=workdir,
                    extra=self.extra + list(self.node_extra.get(node_id, ())))
        node.env.update(self.env)
        node.start()
        self.nodes.append(node)
        return node

    def setup_room(self, room="demo", catalog=None, via=0, timeout=10):
        """room.create + catalog.load (a dict; default: the demo catalog) on one node; waits until
        every node knows the room and its catalog. Returns how long the slowest node took (s)."""
        catalog = catalog or demo_catalog()
        t0 = time.monotonic()
        with self.nodes[via].ctl() as c:
            ok(c.call("room.create", {"id": room, "title": "Cluster show"}))
            ok(c.call("catalog.load", {"room": room, "catalog": catalog}))
        for node in self.nodes:
            wait_room(node, room, timeout)
            wait_until(lambda node=node: len(snapshot(node, room)["state"]["products"]) == len(catalog["products"]),
                       timeout, f"{node.node_id} to see the catalog of {room}")
        return time.monotonic() - t0

    def alive(self):
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def stop(self):
        """Stops every live node (SIGTERM) and returns {node_id: (rc, log tail)} of those that did
        not exit 0. Redis goes last."""
        bad = {}
        for node in self.nodes:
            if node.proc is None:
                continue
            if node.proc.poll() is None:
                rc = node.stop()
                if rc != 0:
                    bad[node.node_id] = (rc, node.log_text()[-4000:])
            elif not node.log.closed:
                node.log.close()
        return bad

    def close(self):
        for node in self.nodes:
            try:
                node.close()
            except Exception:  # noqa: BLE001 - cleanup
                pass
        if self.own_redis:
            self.redis.close()


def demo_catalog(stock=None):
    """conf/demo/catalog.json as a dict; stock: {sku: units} to change."""
    with open(showlib.CATALOG) as f:
        cat = json.load(f)
    for p in cat["products"]:
        for s in p["skus"]:
            if stock and s["id"] in stock:
                s["stock"] = stock[s["id"]]
    return cat


def wait_room(node, room, timeout=10):
    """Waits until the node's control socket knows the room (room.show)."""
    return wait_until(lambda: node.call("room.show", {"id": room}).get("ok"), timeout,
                      f"{node.node_id} to know room {room}")


def snapshot(node, room="demo"):
    return ok(node.call("show.snapshot", {"room": room}))


def sale_of(node, sale_id, room="demo"):
    for s in snapshot(node, room)["state"]["flash_sales"]:
        if s["id"] == sale_id:
            return s
    return None


def all_orders(node, room="demo", **filters):
    r = ok(node.call("order.list", {"room": room, "limit": 100000, **filters}))
    assert r["total"] == len(r["orders"]), (r["total"], len(r["orders"]))
    return r["orders"]


def units(order):
    return sum(i["qty"] for i in order["items"])


def event_log(viewer):
    """(seq, name, data) of the room-wide events a viewer applied, as JSON text for comparison."""
    return [(e["seq"], e["name"], json.dumps(e["data"], sort_keys=True)) for e in viewer.events]


def compare_logs(logs):
    """logs: {label: [(seq, name, data), ...]}. Over the seq range every log covers, the logs must
    be identical; returns (lo, hi) of that range. Raises AssertionError naming the first
    difference, and saying so when only the counts of `viewers`/`likes` events differ."""
    los = {k: (v[0][0] if v else None) for k, v in logs.items()}
    his = {k: (v[-1][0] if v else None) for k, v in logs.items()}
    assert all(x is not None for x in los.values()), f"a watcher saw no event at all: {los}"
    lo, hi = max(los.values()), min(his.values())
    assert lo <= hi, f"the watchers' logs do not overlap: first seqs {los}, last seqs {his}"
    cut = {k: [e for e in v if lo <= e[0] <= hi] for k, v in logs.items()}
    ref_label, ref = next(iter(cut.items()))
    for label, log in cut.items():
        if log == ref:
            continue
        i = next((i for i in range(min(len(log), len(ref))) if log[i] != ref[i]), min(len(log), len(ref)))
        a = ref[i] if i < len(ref) else None
        b = log[i] if i < len(log) else None
        counters_only = [e[:2] for e in log] == [e[:2] for e in ref] and \
            [e for e in log if e[1] not in ("viewers", "likes")] == [e for e in ref if e[1] not in ("viewers", "likes")]
        raise AssertionError(
            f"event logs differ between {ref_label} and {label} (seq range {lo}..{hi}, index {i}): {a} vs {b}" +
            (" -- only the counts of viewers/likes events differ: the same seq carries other data on "
             "different nodes" if counters_only else ""))
    return lo, hi


def spawn_and_wait_exit(server, timeout=30):
    """Starts a server that may refuse to start: its exit code, or None when it came up (answered
    /healthz) instead; it is then left running."""
    server.http_port = lc.free_port()
    proc = server.spawn()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            server.log.close()
            return proc.returncode
        try:
            if server.request("GET", "/healthz", timeout=1)[0] == 200:
                return None
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("livecartd neither exited nor came up:\n" + server.log_text()[-3000:])


# ---- LC_TEST_REDIS=1: every lc.Server of a suite in cluster mode ---------------------------------
# lc.py calls cluster_mode(lc.Server) when the variable is set. Each server's workdir gets its own
# redis-server (AOF in <workdir>/redis), so servers stay as isolated as their SQLite files are: a
# server restarted on the same workdir (after kill -9 or a stop) finds its Redis data again, a
# node killed with -9 leaves its Redis running, close() stops it (its AOF stays on disk).

_redis_by_workdir = {}


def _redis_for(workdir):
    r = _redis_by_workdir.get(workdir)
    if r is None or r.proc is None or r.proc.poll() is not None:
        d = os.path.join(workdir, "redis")
        os.makedirs(d, exist_ok=True)
        r = Redis(dir=d, port=r.port if r else None).start()
        _redis_by_workdir[workdir] = r
    return r


def _stop_all_redis():
    for r in _redis_by_workdir.values():
        r.stop()


def cluster_mode(server_cls):
    import atexit
    import hashlib
    orig_args, orig_close = server_cls.args, server_cls.close

    def args(self):
        a = orig_args(self)
        if any(kv.startswith("cluster.redis=") for kv in self.extra):
            return a   # a cluster test's own Node
        r = _redis_for(self.workdir)
        node_id = "w" + hashlib.sha1(self.workdir.encode()).hexdigest()[:12]
        return a + ["--set", f"cluster.redis={r.url}", "--set", f"cluster.node_id={node_id}",
                    "--set", f"cluster.advertise_url=http://127.0.0.1:{self.http_port}"]

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.stop()   # the node before its store
        r = _redis_by_workdir.pop(self.workdir, None)
        if r is not None:
            r.stop()
        orig_close(self)

    server_cls.args, server_cls.close = args, close
    atexit.register(_stop_all_redis)
