import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from cin import Store, workdir, rmtree  # noqa: E402
from servers import SERVERS  # noqa: E402


@pytest.fixture
def base():
    d = workdir()
    yield d
    rmtree(d)


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): run with a store of each backend "
                            "(sqlite, postgresql); the default is sqlite")


def pytest_generate_tests(metafunc):
    # the core scenarios run against both stores; the rest stays on SQLite
    if "backend" in metafunc.fixturenames:
        m = metafunc.definition.get_closest_marker("backends")
        metafunc.parametrize("backend", list(m.args) if m else ["sqlite"])


@pytest.fixture
def store(base, backend, request):
    if backend == "postgresql":
        return Store(base, pg=request.getfixturevalue("pg"))
    return Store(base)


@pytest.fixture(params=sorted(SERVERS))
def server(request, base, store):
    srv = SERVERS[request.param](base, store).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def pg():
    """One PostgreSQL cluster for the whole run (each store is its own database)."""
    from pg import PgCluster
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture
def pg_store(base, pg):
    return Store(base, pg=pg)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test shows the end of its servers' error logs (they are deleted with
    the test's directory, and a CI run is read from its output only)."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    for name, value in getattr(item, "funcargs", {}).items():
        if hasattr(value, "error_log") and hasattr(value, "log"):
            lines = value.log().splitlines()[-40:]
            if lines:
                rep.sections.append((f"{name}: end of {value.error_log}", "\n".join(lines)))
