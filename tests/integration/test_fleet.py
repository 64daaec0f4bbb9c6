"""A fleet on one central PostgreSQL store: every host serves from its own mirror."""
import time

from cin import handshake, order, wait_for, wait_status
from servers import SERVERS


def test_central_store_serves_through_the_mirror(base, pg_store):
    for name in sorted(SERVERS):
        srv = SERVERS[name](base, pg_store).start()
        try:
            ann = srv.api(pg_store.tokens["ann"])
            o = order(ann, "dv-ssl", [f"{name}.example.com"])
            assert ann.post(f"/api/v1/orders/{o['id']}/pay").status == 200
            serial = wait_status(ann, o["id"], "issued", timeout=20)["certificate"]["serial"]
            issued_at = time.time()
            assert wait_for(lambda: handshake(srv.https_port, f"{name}.example.com")[0] == serial,
                            5), srv.log()[-2000:]
            assert time.time() - issued_at < 2
        finally:
            srv.stop()
