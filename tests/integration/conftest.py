import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import lc  # noqa: E402


@pytest.fixture
def server():
    s = lc.Server().start()
    yield s
    rc = s.stop()
    s.close()
    # A clean stop is part of every test: exit 0 also means no sanitizer or leak report.
    assert rc == 0, f"livecartd exited with {rc}:\n" + s.log_text()[-4000:]
