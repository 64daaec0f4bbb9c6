#!/bin/sh
# make bench: build the benchmark tools and run the side-by-side measurement.
set -e
cd "$(dirname "$0")/../.."
exec /usr/bin/python3 tests/bench/run.py
