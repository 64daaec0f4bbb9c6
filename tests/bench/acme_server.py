#!/usr/bin/env python3
"""The ACME server's throughput (issue 13): new orders per second through
<mount>acme/ on one nginx or httpd (2 workers) with a SQLite store, on this machine's 2
cores (the clients share them).  An order is newOrder + finalize (an admin's
auto_pay credential: the finalize creates the workflow's order and pays it);
each client thread has its own ACME account and orders names of its own.
The agent is off, so that issuance does not share the measured cores.

usage: /usr/bin/python3 tests/bench/acme_server.py [THREADS] [SECONDS] [nginx|httpd]
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))

from acme_client import AcmeClient  # noqa: E402
from cin import Store, rmtree, workdir  # noqa: E402
from servers import SERVERS  # noqa: E402


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    base = workdir()
    store = Store(base)
    store.cli("settings", "set", "acme-orders-per-3h", "1000000")
    store.cli("credits", "add", "--account", "acme", "1000000")
    kind = sys.argv[3] if len(sys.argv) > 3 else "nginx"
    srv = SERVERS[kind](base, store, workers=2, agent=False).start()
    try:
        ann = srv.api(store.tokens["ann"], tls=True)
        cred = ann.post("/api/v1/acme/credentials", {"name": "bench", "auto_pay": True}).json
        done, errors, lock = [0], [], threading.Lock()
        stop = time.time() + seconds

        def worker(i):
            cl = AcmeClient(srv.https_port)
            cl.directory()
            assert cl.register(cred["key_id"], cred["hmac_key"]).status == 201
            n = 0
            while time.time() < stop:
                r = cl.new_order([f"b{i}-{n}.example.com"])
                n += 1
                if r.status != 201:
                    errors.append(r)
                    continue
                r = cl.finalize(r.json)
                if r.status != 200:
                    errors.append(r)
                    continue
                with lock:
                    done[0] += 1

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        t0 = time.time()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        took = time.time() - t0
        print(f"acme server on {kind}: {done[0]} orders (newOrder + finalize, paid) in {took:.1f} s with "
              f"{threads} clients: {done[0] / took:.1f} orders/s; {len(errors)} errors")
        if errors:
            print(errors[:3])
        paid = store.sql("SELECT count(*) FROM orders WHERE status = 'processing'")
        print(f"workflow orders paid and waiting for the agent: {paid}")
    finally:
        srv.stop()
        rmtree(base)


if __name__ == "__main__":
    main()
