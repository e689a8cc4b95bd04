"""N uncontended GIL holds, measured inside the process: THREADS threads together make
HOLDS os.read(fd, 1) calls on /dev/zero (each releases the GIL and takes it back). Prints
the process CPU seconds (all threads, the sender's included) and wall seconds of the loop
alone, after a warm-up, so interpreter start-up is not in it.

    read_holds.py HOLDS [THREADS]
"""
import os
import sys
import threading
import time

holds = int(sys.argv[1])
threads_wanted = int(sys.argv[2]) if len(sys.argv) > 2 else 1
per_thread = holds // threads_wanted
barrier = threading.Barrier(threads_wanted + 1)


def reader(count):
    fd = os.open("/dev/zero", os.O_RDONLY)
    for _ in range(1000):  # warm-up
        os.read(fd, 1)
    barrier.wait()
    for _ in range(count):
        os.read(fd, 1)
    barrier.wait()
    os.close(fd)


workers = [threading.Thread(target=reader, args=(per_thread,)) for _ in range(threads_wanted)]
for t in workers:
    t.start()
barrier.wait()
cpu, wall = time.process_time(), time.perf_counter()
barrier.wait()
cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
for t in workers:
    t.join()
print("%.9f %.9f" % (cpu, wall))
