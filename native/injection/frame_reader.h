/* The holders' Python frames, read on a thread of their own (frame_reader.c). All but the
 * fork hooks are the sampler's (the sender thread's). */
#ifndef GILWATCH_FRAME_READER_H
#define GILWATCH_FRAME_READER_H

#include <stdint.h>
#include <sys/types.h>

#include "../protocol/gilwatch_protocol.h"

#define GW_FRAME_QUESTIONS 16 /* frame reads asked and not yet picked up, at most */

enum { GW_FRAMES_NONE = 0, GW_FRAMES_PENDING = 1, GW_FRAMES_READ = 2 };

/* Asks for the frames of thread `tid` (see gw_python_frames) on behalf of `key`. Returns the
 * question's index, or -1 when all are taken or no reader could be started. */
int gw_frames_ask(pid_t tid, unsigned long pthread, int64_t interp, uint64_t key, uint64_t now);
/* GW_FRAMES_READ with the answer (and the question freed), GW_FRAMES_PENDING while the
 * reader is at it (stuck, if it stays so: see gw_frames_reader_tid), GW_FRAMES_NONE when the
 * question is not `key`'s. */
int gw_frames_answer(int index, uint64_t key, gw_python_frame *frames, uint16_t *count, uint16_t *depth);
/* The question is no longer wanted (its hold was let go). */
void gw_frames_forget(int index, uint64_t key);
/* The reader thread's OS id while it runs, else 0. */
pid_t gw_frames_reader_tid(void);

void gw_frames_before_fork(void);
void gw_frames_after_fork_child(void);

#endif
