"""gilwatch demo: a small threaded "service" with the usual GIL suspects.

- two compressors and a hasher doing C-level work that releases the GIL (zlib, hashlib);
- a JSON worker doing pure-Python work that holds it;
- a logger making small writes and an fsync every 200 ms;
- a "legacy C call" that holds the GIL for 250 ms every few seconds (ctypes.PyDLL does not
  release it): the long hold the dashboard and the alerts are there to catch.

    gil_demo.py [SECONDS]   (default: run until interrupted)
"""
import ctypes
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import zlib

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else float("inf")
deadline = time.monotonic() + seconds
running = lambda: time.monotonic() < deadline
blob = os.urandom(512 * 1024)
document = {"orders": [{"id": i, "sku": "item-%d" % i, "qty": i % 7, "price": i * 0.5} for i in range(300)]}


def compressor():
    while running():
        zlib.compress(blob, 6)


def hasher():
    while running():
        hashlib.sha256(blob * 4).digest()


def json_worker():
    while running():
        json.loads(json.dumps(document))


def logger(directory):
    with open(os.path.join(directory, "demo.log"), "ab") as log:
        while running():
            for _ in range(20):
                log.write(b"request handled in 3 ms\n")
                time.sleep(0.01)
            log.flush()
            os.fsync(log.fileno())


def legacy_c_call():
    usleep = ctypes.PyDLL(None).usleep  # holds the GIL for the whole call
    while running():
        time.sleep(3)
        if running():
            usleep(250000)


with tempfile.TemporaryDirectory() as directory:
    threads = [
        threading.Thread(target=compressor, name="compressor-1"),
        threading.Thread(target=compressor, name="compressor-2"),
        threading.Thread(target=hasher, name="hasher"),
        threading.Thread(target=json_worker, name="json-worker"),
        threading.Thread(target=logger, args=(directory,), name="logger"),
        threading.Thread(target=legacy_c_call, name="legacy-c-call"),
    ]
    for t in threads:
        t.daemon = True
        t.start()
    try:
        while running() and any(t.is_alive() for t in threads):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
