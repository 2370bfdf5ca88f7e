"""livecartd as a process: command line, config checking, start-up refusals, shutdown."""
import os
import signal
import sqlite3
import subprocess
import time

import lc


def run(*args, cwd=None):
    return subprocess.run([lc.LIVECARTD, *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                          stdin=subprocess.DEVNULL)


def test_version():
    r = run("--version")
    assert r.returncode == 0
    assert r.stdout.startswith("livecartd 0.")


def test_check_config_accepts_the_shipped_file():
    r = run("--check-config", "--config", os.path.join(lc.SRCDIR, "conf", "livecart.conf"))
    assert r.returncode == 0, r.stderr
    assert "valid" in r.stdout


def test_dump_config_is_the_shipped_file():
    r = run("--dump-config")
    with open(os.path.join(lc.SRCDIR, "conf", "livecart.conf")) as f:
        assert r.stdout == f.read()


def test_check_config_reports_each_error_with_its_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[http]\nport = 70000\nbind = 127.0.0.1\n[store]\npaht = x.db\n[nope]\n")
    r = run("--check-config", "--config", str(conf))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert f"{conf}:5: unknown key 'paht' in [store] (did you mean 'path'?)" in lines
    assert f"{conf}:6: unknown group [nope]" in lines
    # values are checked once the structure is sound
    conf.write_text("[http]\nport = 70000\n[log]\nlevel = chatty\n")
    r = run("--check-config", "--config", str(conf))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"{conf}:2: http.port must be an integer from 1 to 65535, not '70000'",
        f"{conf}:4: log.level must be one of error, warn, info, debug, trace, not 'chatty'",
    ]


def test_check_config_missing_file_and_bad_set(tmp_path):
    r = run("--check-config", "--config", str(tmp_path / "missing.conf"))
    assert r.returncode == 2 and "cannot read" in r.stderr
    r = run("--check-config", "--set", "http.port=abc")
    assert r.returncode == 2
    assert "--set:1: http.port must be an integer" in r.stderr


def test_sigterm_stops_quickly_and_cleanly():
    s = lc.Server().start()
    try:
        with s.ctl() as c:
            assert c.call("room.create", {"id": "r1"})["ok"]
        t0 = time.monotonic()
        rc = s.stop(signal.SIGTERM, timeout=10)
        elapsed = time.monotonic() - t0
        assert rc == 0, s.log_text()
        assert elapsed < 5.0
        assert not os.path.exists(s.socket_path), "the control socket is removed on exit"
    finally:
        s.close()


def test_sigterm_with_writes_in_flight_keeps_every_acknowledged_write():
    s = lc.Server().start()
    try:
        c = s.ctl()
        n = 300
        for i in range(n):
            c.send("room.create", {"id": f"inflight-{i}"})
        s.proc.send_signal(signal.SIGTERM)
        acked = []
        try:
            for _ in range(n):
                resp = c.read_response()
                if resp["ok"]:
                    acked.append(resp["result"]["room"]["id"])
        except (ConnectionError, OSError):
            pass
        c.close()
        assert s.proc.wait(timeout=10) == 0, s.log_text()
        s.log.close()
        s2 = lc.Server(workdir=s.workdir).start()
        stored = {r["id"] for r in s2.call("rooms.list")["result"]["rooms"]}
        assert set(acked) <= stored
        assert s2.stop() == 0
    finally:
        s.close()


def test_second_instance_on_the_same_database_is_refused():
    s = lc.Server().start()
    try:
        other = lc.Server(workdir=s.workdir)
        other.socket_path = os.path.join(s.workdir, "other.sock")
        other.spawn()
        rc = other.proc.wait(timeout=30)
        other.log.close()
        assert rc == 1
        assert "in use by another livecartd" in other.log_text()
        assert s.request("GET", "/healthz")[0] == 200  # the first one is unharmed
    finally:
        s.close()


def test_second_instance_on_the_same_http_port_is_refused():
    s = lc.Server().start()
    try:
        other = lc.Server()
        other.http_port = s.http_port
        other.spawn()
        rc = other.proc.wait(timeout=30)
        other.log.close()
        assert rc == 1
        assert f"cannot listen on 127.0.0.1:{s.http_port}" in other.log_text()
        other.close()
        assert s.request("GET", "/healthz")[0] == 200
    finally:
        s.close()


def test_second_instance_on_the_same_control_socket_is_refused():
    s = lc.Server().start()
    try:
        other = lc.Server()
        other.socket_path = s.socket_path
        other.spawn()
        rc = other.proc.wait(timeout=30)
        other.log.close()
        assert rc == 1
        assert "already in use by another instance" in other.log_text()
        other.close()
        assert s.call("ping")["ok"]
    finally:
        s.close()


def _sha(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_newer_schema_version_is_refused_and_untouched(tmp_path):
    db = tmp_path / "livecart.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE future(x)")
    con.execute("PRAGMA user_version = 999")
    con.commit()
    con.close()
    before = _sha(db)
    s = lc.Server(workdir=str(tmp_path))
    s.spawn()
    rc = s.proc.wait(timeout=30)
    s.log.close()
    assert rc == 1
    assert "999" in s.log_text() and "newer" in s.log_text()
    assert _sha(db) == before


def test_corrupt_database_is_refused_and_untouched(tmp_path):
    db = tmp_path / "livecart.db"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    before = _sha(db)
    s = lc.Server(workdir=str(tmp_path))
    s.spawn()
    rc = s.proc.wait(timeout=30)
    s.log.close()
    assert rc == 1
    assert "corrupt" in s.log_text() or "not a database" in s.log_text()
    assert _sha(db) == before


def test_config_reference_documents_every_key():
    r = run("--dump-config")
    keys = []
    group = None
    for line in r.stdout.splitlines():
        if line.startswith("["):
            group = line.strip("[]")
        elif " = " in line and not line.startswith("#"):
            keys.append(f"{group}.{line.split(' = ')[0]}")
    with open(os.path.join(lc.SRCDIR, "docs", "config.md")) as f:
        doc = f.read()
    missing = [k for k in keys if f"`{k}`" not in doc]
    assert not missing, f"docs/config.md lacks {missing} (run tools/gen-config-doc)"
