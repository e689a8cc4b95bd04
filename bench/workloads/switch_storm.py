"""Worst case for GIL instrumentation: 8 threads that do almost nothing but give up and
take back the GIL (time.sleep(0) and tiny reads). Fixed work; prints elapsed seconds."""
import os
import sys
import threading
import time

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
loops = int(20000 * scale)


def yielder():
    for _ in range(loops):
        time.sleep(0)


def tiny_reads():
    fd = os.open("/dev/zero", os.O_RDONLY)
    try:
        for _ in range(loops):
            os.read(fd, 1)
    finally:
        os.close(fd)


threads = [threading.Thread(target=yielder if i % 2 else tiny_reads) for i in range(8)]
start = time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
print("%.6f" % (time.perf_counter() - start))
