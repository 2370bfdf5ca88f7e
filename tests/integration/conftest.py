import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import lc  # noqa: E402


def media_env():
    """Environment for a livecartd that will load GStreamer: whole malloc stacks under ASan, so
    that tests/lsan.supp can name GLib's load-time quark block (GLib has no frame pointers)."""
    asan = os.environ.get("ASAN_OPTIONS", "")
    return {"ASAN_OPTIONS": (asan + ":" if asan else "") + "fast_unwind_on_malloc=0"}


def pytest_sessionfinish(session, exitstatus):
    """A skipped test is not a pass: every suite can run on the machines tools/test prepares, so
    a skip fails the file's run (LC_ALLOW_SKIP=1 accepts skips, e.g. on a partial machine)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and os.environ.get("LC_ALLOW_SKIP") != "1" and session.exitstatus == 0:
        print(f"\n{len(skipped)} test(s) skipped: failing (LC_ALLOW_SKIP=1 accepts skips)")
        session.exitstatus = 1


@pytest.fixture
def server(request):
    s = lc.Server()
    if getattr(request.module, "USES_MEDIA", False):
        s.env.update(media_env())
    s.start()
    yield s
    rc = s.stop()
    log = s.log_text()
    s.close()
    # A clean stop is part of every test: exit 0 also means no sanitizer or leak report.
    assert rc == 0, f"livecartd exited with {rc}:\n" + log[-4000:]
