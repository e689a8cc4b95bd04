/* A thread of this process as /proc/self/task/<tid>/ shows it (thread_proc.c). Each
 * returns 0 (or the "unknown" value said) when the file cannot be read: the thread ended. */
#ifndef GILWATCH_THREAD_PROC_H
#define GILWATCH_THREAD_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* State letter (R, S, D...) and major page faults, from stat (the name may hold spaces). */
int gw_proc_stat(pid_t tid, char *state, unsigned long *majflt);
/* schedstat: time on a CPU and time runnable but waiting for one, cumulative ns. */
int gw_proc_schedstat(pid_t tid, uint64_t *run_ns, uint64_t *wait_ns);

#define GW_SYSCALL_RUNNING INT32_MIN /* on a CPU right now: no system call to report */
/* The system call it is in: GW_SYSCALL_NONE when stopped outside one (a page fault, or
 * preempted in user space), GW_SYSCALL_RUNNING on a CPU, GW_SYSCALL_UNKNOWN unreadable. */
int32_t gw_proc_syscall(pid_t tid);
/* The kernel function it sleeps in (wchan), as a message id; 0 when unknown (running, or a
 * kernel that hides it: "0"). */
uint32_t gw_proc_wait_site(pid_t tid);

#endif
