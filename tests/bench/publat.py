#!/usr/bin/env python3
"""Per-publish latency (issue 15): copies every *.charm of SRC into DEST
(a publish/SERIES/ directory of a charmfs mount) one at a time with
open/write/close, and prints the median, 90th and 99th percentile and the
largest time of one publish, close() included.

    tests/bench/publat.py SRC DEST

Not part of make check; nothing asserts on time."""
import glob
import os
import sys
import time


def main():
    src, dst = sys.argv[1], sys.argv[2]
    lat = []
    for f in sorted(glob.glob(os.path.join(src, "*.charm"))):
        with open(f, "rb") as fh:
            data = fh.read()
        t0 = time.perf_counter_ns()
        fd = os.open(os.path.join(dst, os.path.basename(f)), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
        lat.append(time.perf_counter_ns() - t0)
    if not lat:
        sys.exit("no *.charm in " + src)
    lat.sort()
    n = len(lat)
    print("n=%d p50=%.0f p90=%.0f p99=%.0f max=%.0f us" % (
        n, lat[n // 2] / 1e3, lat[n * 9 // 10] / 1e3, lat[n * 99 // 100] / 1e3, lat[-1] / 1e3))


if __name__ == "__main__":
    main()
