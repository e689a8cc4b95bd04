/*
 * The Python frames of a thread of this process, read from the interpreter's memory by
 * another thread (the sender, for the GIL holder of a long hold). See python_frames.c.
 */
#ifndef GILWATCH_PYTHON_FRAMES_H
#define GILWATCH_PYTHON_FRAMES_H

#include <stdint.h>
#include <sys/types.h>

#include "../protocol/gilwatch_protocol.h"

/* Writes up to `max` frames of the thread with OS id `tid` (pthread_t `pthread`, which
 * 3.10 identifies its threads by), innermost first, with their function and file interned
 * in gw_rt.messages; *depth is the number of Python frames seen (<= GW_STACK_WALK_LIMIT).
 * A thread that has run a sub-interpreter has a thread state in each interpreter: `interp`
 * (the id of the interpreter whose GIL it holds, -1 when unknown) picks the one running.
 * Returns the number written: 0 when the thread has no Python frames, the host is not a
 * supported CPython, or anything read did not look as expected. Never faults: every read
 * goes through process_vm_readv. Call from one thread at a time. */
int gw_python_frames(pid_t tid, unsigned long pthread, int64_t interp, gw_python_frame *out, int max, uint16_t *depth);

#endif
