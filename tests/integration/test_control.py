"""The control socket and livecartctl against the real server."""
import json
import os
import stat
import threading

import lc


def test_socket_permissions(server):
    mode = stat.S_IMODE(os.stat(server.socket_path).st_mode)
    assert mode == 0o660


def test_status_and_room_lifecycle(server):
    with server.ctl() as c:
        st = c.call("status")
        assert st["ok"]
        assert st["result"]["version"].startswith("0.")
        assert st["result"]["rooms"]["total"] == 0
        r = c.call("room.create", {"id": "show-1", "title": "Autumn drop", "creator": "Lin"})
        assert r["ok"], r
        room = r["result"]["room"]
        assert room["id"] == "show-1" and room["state"] == "scheduled" and room["title"] == "Autumn drop"
        assert len(room["stream_key"]) >= 8
        dup = c.call("room.create", {"id": "show-1"})
        assert not dup["ok"] and dup["error"]["code"] == "already_exists"
        shown = c.call("room.show", {"id": "show-1"})["result"]["room"]
        assert shown["stream_key"] == room["stream_key"]
        listed = c.call("rooms.list")["result"]["rooms"]
        assert [x["id"] for x in listed] == ["show-1"]
        assert "stream_key" not in listed[0], "the list never shows stream keys"
        live = c.call("room.start", {"id": "show-1"})
        assert live["ok"] and live["result"]["room"]["state"] == "live"
        assert c.call("room.start", {"id": "show-1"})["error"]["code"] == "invalid_state"
        ended = c.call("room.end", {"id": "show-1"})
        assert ended["ok"] and ended["result"]["room"]["state"] == "ended"
        assert ended["result"]["room"]["ended_at"] >= room["created_at"]
        again = c.call("room.end", {"id": "show-1"})
        assert again["error"]["code"] == "invalid_state"
        missing = c.call("room.show", {"id": "nope"})
        assert missing["error"]["code"] == "not_found"
        st = c.call("status")["result"]
        assert st["rooms"] == {"total": 1, "scheduled": 0, "live": 0, "ended": 1, "open": []}
        assert c.call("room.create", {"id": "show-2"})["ok"]
        st = c.call("status")["result"]
        assert st["rooms"]["open"] == [{"id": "show-2", "state": "scheduled"}]


def test_invalid_room_specs(server):
    with server.ctl() as c:
        for args, code in [({"id": "Bad Id"}, "invalid_argument"), ({"id": ""}, "invalid_argument"),
                           ({"id": "x" * 65}, "invalid_argument"), ({}, "invalid_argument"),
                           ({"id": 5}, "invalid_argument"), ({"id": "a", "title": 7}, "invalid_argument"),
                           ({"id": "a", "extra": 1}, "invalid_argument"),
                           ({"id": "a", "stream_key": "short"}, "invalid_argument")]:
            r = c.call("room.create", args)
            assert not r["ok"] and r["error"]["code"] == code, (args, r)
            assert r["error"]["message"]
        assert c.call("rooms.list")["result"]["rooms"] == []


def test_malformed_input_keeps_the_connection_usable(server):
    with server.ctl() as c:
        for bad in [b"{not json\n", b"[1,2]\n", b'{"cmd": 5}\n', b'{"id": {}, "cmd": "status"}\n',
                    b'{"cmd": "status", "args": []}\n', b'{"cmd":"status","cmd":"ping"}\n', b"\xff\xfe\n"]:
            c.send_raw(bad)
            r = c.read_response()
            assert r["ok"] is False and r["error"]["code"] in ("bad_json", "bad_request"), (bad, r)
        r = c.call("no.such.command")
        assert r["error"]["code"] == "unknown_command" and "no.such.command" in r["error"]["message"]
        c.send_raw(b'{"cmd":"ping","args":{"pad":"' + b"x" * 70000 + b'"}}\n')
        assert c.read_response()["error"]["code"] == "line_too_long"
        assert c.call("ping")["ok"]


def test_string_ids_are_echoed(server):
    with server.ctl() as c:
        c.send_raw(b'{"id":"abc-1","cmd":"ping"}\n')
        assert c.read_response()["id"] == "abc-1"


def test_many_clients_at_once(server):
    errors = []

    def client(k):
        try:
            with server.ctl() as c:
                for i in range(25):
                    r = c.call("room.create", {"id": f"c{k}-{i}"})
                    assert r["ok"], r
                    assert c.call("room.show", {"id": f"c{k}-{i}"})["ok"]
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert server.call("status")["result"]["rooms"]["total"] == 200


def test_watch_streams_events_from_other_clients(server):
    with server.ctl() as watcher, server.ctl() as other, server.ctl() as filtered:
        assert watcher.call("watch")["ok"]
        assert filtered.call("watch", {"room": "b"})["ok"]
        assert other.call("room.create", {"id": "a"})["ok"]
        assert other.call("room.create", {"id": "b"})["ok"]
        assert other.call("room.end", {"id": "a"})["ok"]
        got = [watcher.next_event() for _ in range(3)]
        assert [(e["event"], e["data"]["id"]) for e in got] == [
            ("room.created", "a"), ("room.created", "b"), ("room.ended", "a")]
        assert all(isinstance(e["ts"], int) and "stream_key" not in e["data"] for e in got)
        e = filtered.next_event()
        assert (e["event"], e["data"]["id"]) == ("room.created", "b")
        # the filtered watcher got nothing about room a: the next thing it reads is the ping reply
        assert filtered.call("ping")["ok"] and filtered.events == []


def test_livecartctl(server, tmp_path):
    r = server.livecartctl("room", "create", "demo", "--title", "Demo show")
    assert r.returncode == 0, r.stderr
    assert "demo" in r.stdout
    spec = tmp_path / "room.json"
    spec.write_text(json.dumps({"id": "fromfile", "title": "From a file", "stream_key": "key-12345678"}))
    r = server.livecartctl("room", "create", "--file", str(spec))
    assert r.returncode == 0, r.stderr
    r = server.livecartctl("--json", "room", "show", "fromfile")
    assert r.returncode == 0
    out = json.loads(r.stdout)
    assert out["ok"] and out["result"]["room"]["stream_key"] == "key-12345678"
    r = server.livecartctl("rooms")
    assert r.returncode == 0 and "demo" in r.stdout and "fromfile" in r.stdout
    r = server.livecartctl("status")
    assert r.returncode == 0 and "0.1.0" in r.stdout
    r = server.livecartctl("room", "create", "demo")
    assert r.returncode == 1
    assert "already_exists" in r.stderr
    r = server.livecartctl("room", "show", "nope")
    assert r.returncode == 1 and "not_found" in r.stderr
    r = server.livecartctl("frobnicate")
    assert r.returncode == 2
    r = lc.subprocess.run([lc.LIVECARTCTL, "--socket", "/nonexistent/x.sock", "status"],
                          capture_output=True, text=True, timeout=20)
    assert r.returncode == 3 and "/nonexistent/x.sock" in r.stderr


def test_usage_text_and_command_list_match_control_md(server):
    """docs/control.md shows `livecartctl --help` verbatim, and its tables name every command
    the server's `help` lists (and no command the server does not know)."""
    import re
    doc = open(os.path.join(lc.SRCDIR, "docs", "control.md"), encoding="utf-8").read()
    r = lc.subprocess.run([lc.LIVECARTCTL, "--help"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and r.stdout.startswith("usage: livecartctl"), r
    section = doc[doc.index("## livecartctl"):]
    block = section[section.index("```\n") + 4:]
    block = block[:block.index("```\n")]
    assert block == r.stdout, "docs/control.md's livecartctl block differs from `livecartctl --help`"
    # The server's command list against the tables' first column.
    with server.ctl() as c:
        answer = c.call("help", {})
    assert answer["ok"], answer
    served = {cmd["cmd"] for cmd in answer["result"]["commands"]}
    documented = set()
    tables = doc[doc.index("## Built-in commands"):doc.index("## Error codes")]
    for line in tables.splitlines():
        m = re.match(r"^\| ((?:`[a-z0-9._-]+`(?:, )?)+) \|", line)
        if m:
            documented.update(re.findall(r"`([a-z0-9._-]+)`", m.group(1)))
    missing = served - documented
    assert not missing, f"commands the server knows but docs/control.md does not: {sorted(missing)}"
    unknown = documented - served
    assert not unknown, f"docs/control.md names commands the server does not know: {sorted(unknown)}"
