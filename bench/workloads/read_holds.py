"""N uncontended GIL holds, measured inside the process: THREADS threads together make
HOLDS os.read(fd, 1) calls on /dev/zero (each releases the GIL and takes it back). Prints
the process CPU seconds of the loop (all threads, the sender's included, and 50 ms after
the loop so that the sender's work for its last events is in), the wall seconds of the loop
alone, and the whole process's CPU seconds so far (getrusage: start-up included), after a
warm-up, so interpreter start-up is not in the first.

    read_holds.py HOLDS [THREADS]
"""
import os
import resource
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
wall = time.perf_counter() - wall
time.sleep(0.05)  # the sender's last ticks of the loop's events: a sleep costs the loop nothing
cpu = time.process_time() - cpu
for t in workers:
    t.join()
usage = resource.getrusage(resource.RUSAGE_SELF)
print("%.9f %.9f %.9f" % (cpu, wall, usage.ru_utime + usage.ru_stime))
