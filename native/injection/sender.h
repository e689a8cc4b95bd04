/*
 * Internal to the sender, which is three files: sender.c (the thread: ticks, ring draining,
 * lifecycle, fork, exit flush), transport.c (the connection: connect, authenticate, write,
 * back off) and frames.c (each wire frame of native/protocol/ encoded into a buffer). The
 * rest of the library sees only the gw_sender_* functions in runtime.h.
 *
 * All of this runs on the sender thread, except where a comment says otherwise.
 */
#ifndef GILWATCH_SENDER_H
#define GILWATCH_SENDER_H

#include "runtime.h"

/* ---- byte buffers and frames (frames.c) ---- */

typedef struct gw_buffer {
  char *data;
  size_t size;
  size_t capacity;
} gw_buffer;

/* Room for `extra` more bytes; 0 when out of memory. */
int gw_buffer_reserve(gw_buffer *buffer, size_t extra);

/* Each appends a frame to `out` (none when out of memory). */
void gw_frame_auth(gw_buffer *out, const char *token);
void gw_frame_hello(gw_buffer *out);
/* STRING frames for every domain, message and category name the server does not have yet. */
void gw_frame_strings(gw_buffer *out);
/* Which strings the server has: nothing, on a new connection. */
void gw_frames_forget_strings_sent(void);
/* THREAD when the thread is new on this connection or its name changed. */
void gw_frame_thread_info(gw_buffer *out, gw_thread *thread, uint64_t now);
/* The thread's name brought up to date (also while disconnected); 1 when it changed. */
int gw_thread_name_refresh(gw_thread *thread, uint64_t now);
/* A RECORDS frame of `count` records, left for the caller to fill; NULL when out of memory. */
gw_record *gw_frame_records_slots(gw_buffer *out, uint32_t thread, uint32_t count);
int gw_frame_records(gw_buffer *out, uint32_t thread, const gw_record *records, uint32_t count); /* 0: no memory */
void gw_frame_gil_totals(gw_buffer *out, uint32_t thread, const gw_gil_totals *totals, uint32_t count);
/* THREAD for a thread known only by its slot (it exited before this connection). */
void gw_frame_slot_info(gw_buffer *out, const gw_shared_slot *slot);
void gw_frame_thread_folded(gw_buffer *out, uint32_t thread);
/* GIL_STATE when it changed or `force`; returns whether a GIL range is open (frames.c). */
int gw_frame_gil_state(gw_buffer *out, uint64_t now, int force);
void gw_frame_status(gw_buffer *out, uint64_t dropped, uint64_t unmatched, uint32_t thread_count, uint32_t flags);
void gw_frame_hold_cause(gw_buffer *out, const gw_hold_cause *cause);
void gw_frame_thread_exit(gw_buffer *out, uint32_t thread, uint64_t now);

/* ---- the connection (transport.c) ---- */

/* First thing each sender thread does: its own descriptor table (see transport.c), into which
 * it takes `keep` (or -1) from the program's. */
void gw_transport_thread_starts(int keep);
int gw_transport_private_fds(void); /* the socket lives in the sender thread's own table */
/* Connects if a connection is due and none is open, queueing AUTH and HELLO. Returns 1 when
 * a new connection opened: everything the server knew is gone with the old one. */
int gw_transport_connect_if_due(uint64_t now);
void gw_transport_connect_now(void); /* the next connect is due at once */
int gw_transport_connected(void);
int gw_transport_ever_connected(void); /* a server has known this process (since the last fork) */
size_t gw_transport_pending_bytes(void);
/* Accepts a tick's frames for the current connection; `records` of them are records. */
void gw_transport_queue(const gw_buffer *definitions, const gw_buffer *records, uint64_t record_count);
void gw_transport_write(void);                                  /* what the socket takes now */
void gw_transport_flush_until(uint64_t deadline, int stall_ms); /* at exit: waits for the socket */
uint64_t gw_transport_dropped(void); /* records accepted for a connection that closed first */
void gw_transport_after_fork_child(void);

/* ---- the sender thread (sender.c) ---- */

int gw_sender_stopping(void); /* a fork waits for the thread to end: give up slow waits */

#endif
