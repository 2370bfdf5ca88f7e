"""The browser tests share the integration tests' helpers and their rule that a skip fails the
run: tests/integration/conftest.py, loaded under another name (this file is `conftest` here)."""
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "integration"))
_spec = importlib.util.spec_from_file_location("lc_integration_conftest",
                                               os.path.join(_HERE, "..", "integration", "conftest.py"))
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

media_env = _integration.media_env
pytest_sessionfinish = _integration.pytest_sessionfinish
