"""Test harness: starts the real livecartd on free loopback ports in a temp dir and
talks to it over HTTP and the control socket. Stdlib only (runs on Debian's python3)."""
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

LIVECARTD = os.environ.get("LIVECARTD", "build/server/livecartd")
LIVECARTCTL = os.environ.get("LIVECARTCTL", "build/server/livecartctl")
SRCDIR = os.environ.get("LC_SRCDIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# Sanitizer builds start slower and run slower.
START_TIMEOUT = 30.0


def free_port(kind=socket.SOCK_STREAM):
    """A port that is free right now on 127.0.0.1 (the kernel picks it)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One livecartd process. `workdir` keeps the database and the socket, so a
    Server can be stopped and a new one started on the same data."""

    def __init__(self, workdir=None, extra=(), config=None):
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="lc-")
            workdir = self._tmp.name
        self.workdir = workdir
        self.extra = list(extra)
        self.config = config
        self.proc = None
        self.env = {}  # extra environment for the process
        self.http_port = None
        self.socket_path = os.path.join(workdir, "ctl.sock")
        self.db_path = os.path.join(workdir, "livecart.db")
        self.log_path = os.path.join(workdir, "livecartd.log")

    def args(self):
        a = [LIVECARTD]
        if self.config:
            a += ["--config", self.config]
        self.rtmp_port = free_port()
        self.srt_port = free_port(socket.SOCK_DGRAM)
        self.rtc_port = free_port(socket.SOCK_DGRAM)
        sets = {
            "http.port": str(self.http_port),
            "rtmp.port": str(self.rtmp_port),
            "srt.port": str(self.srt_port),
            "rtc.port": str(self.rtc_port),
            "control.socket": self.socket_path,
            "store.path": self.db_path,
            "hls.root": os.path.join(self.workdir, "hls"),
            "http.web_root": os.path.join(SRCDIR, "web"),
            "commerce.compliance_words": os.path.join(SRCDIR, "conf", "wordfilter", "adlaw.txt"),
            "chat.filter_words": os.path.join(SRCDIR, "conf", "wordfilter", "chat.txt"),
            "log.level": "debug",
            # Every test runs from 127.0.0.1: the per-address limits stay on but far from
            # what the other tests do (test_limits.py sets small ones through `extra`).
            "limits.auth_failures_per_min": "1000",
            "limits.whep_sessions_per_ip_per_10s": "10000",
            "limits.rtmp_handshakes_per_ip": "1000",
        }
        for kv in self.extra:
            k, v = kv.split("=", 1)
            sets[k] = v
        for k, v in sets.items():
            a += ["--set", f"{k}={v}"]
        return a

    def spawn(self):
        """Starts the process without waiting; returns it."""
        if self.http_port is None:
            self.http_port = free_port()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        return self.proc

    def start(self):
        """Starts and waits until /healthz answers; retries on a port race."""
        for attempt in range(3):
            self.spawn()
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    status, _, _ = self.request("GET", "/healthz", timeout=1)
                    if status == 200 and os.path.exists(self.socket_path):
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            if self.proc.poll() is None:
                raise RuntimeError("livecartd did not become ready:\n" + self.log_text())
            if ("cannot listen" in self.log_text() or "cannot bind" in self.log_text()) and attempt < 2:
                self.http_port = None  # lost a port race: pick new ports
                continue
            raise RuntimeError(f"livecartd exited with {self.proc.returncode}:\n" + self.log_text())
        raise RuntimeError("livecartd could not start")

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Sends sig and waits; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        if self._tmp:
            self._tmp.cleanup()

    # ---- HTTP -------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def get_json(self, path):
        status, headers, body = self.request("GET", path)
        return status, json.loads(body)

    # ---- control socket ---------------------------------------------------
    def ctl(self):
        return Ctl(self.socket_path)

    def call(self, cmd, args=None):
        with self.ctl() as c:
            return c.call(cmd, args)

    def livecartctl(self, *args, timeout=20):
        return subprocess.run([LIVECARTCTL, "--socket", self.socket_path, *args], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)


class Ctl:
    """A control-socket client: newline-delimited JSON with request ids."""

    def __init__(self, path, timeout=20):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1
        self.events = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def read_line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("control socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def read_response(self):
        """Next response line; event lines met on the way are kept in self.events."""
        while True:
            msg = self.read_line()
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def send(self, cmd, args=None):
        rid = self.next_id
        self.next_id += 1
        req = {"id": rid, "cmd": cmd}
        if args is not None:
            req["args"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        return rid

    def call(self, cmd, args=None):
        rid = self.send(cmd, args)
        resp = self.read_response()
        assert resp.get("id") == rid, resp
        return resp

    def next_event(self):
        if self.events:
            return self.events.pop(0)
        while True:
            msg = self.read_line()
            if "event" in msg:
                return msg


# LC_TEST_REDIS=1 runs a suite in cluster mode: every Server on its own redis-server (issue 15).
if os.environ.get("LC_TEST_REDIS") == "1":
    import clusterlib  # noqa: E402 - needs Server defined
    clusterlib.cluster_mode(Server)
