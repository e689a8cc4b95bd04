"""A realistic threaded service mix for overhead measurements: 8 threads doing C-level CPU
work that releases the GIL (zlib, hashlib), small file I/O, and JSON. Fixed work; prints
the elapsed wall time in seconds."""
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
import zlib

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
blob = os.urandom(256 * 1024)
document = {"items": [{"id": i, "name": "item-%d" % i, "tags": ["a", "b", "c"], "price": i * 1.5} for i in range(200)]}


def compress():
    for _ in range(int(60 * scale)):
        zlib.compress(blob, 6)


def digest():
    for _ in range(int(400 * scale)):
        hashlib.sha256(blob).digest()


def json_work():
    for _ in range(int(300 * scale)):
        json.loads(json.dumps(document))


def small_io(directory):
    path = os.path.join(directory, "io-%d" % threading.get_native_id())
    for _ in range(int(3000 * scale)):
        with open(path, "ab") as f:
            f.write(b"x" * 200)


with tempfile.TemporaryDirectory() as directory:
    jobs = [compress, compress, digest, digest, json_work, json_work,
            lambda: small_io(directory), lambda: small_io(directory)]
    threads = [threading.Thread(target=job, name="worker-%d" % i) for i, job in enumerate(jobs)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("%.6f" % (time.perf_counter() - start))
