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


@pytest.fixture
def store(base):
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
