/*
 * A thread of this process as /proc/self/task/<tid>/ shows it, for the long-hold sampler
 * (sampler.c). Each file is opened and closed at each read, never kept: a program that
 * counts its open descriptors (CPython's test_subprocess does) must not see ours.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"
#include "thread_proc.h"

enum { PROC_STAT, PROC_SCHEDSTAT, PROC_SYSCALL, PROC_WCHAN, PROC_FILES };
static const char *const proc_files[PROC_FILES] = {"stat", "schedstat", "syscall", "wchan"};

static int read_proc(pid_t tid, int file, char *buffer, size_t size) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/%s", (int)tid, proc_files[file]);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buffer, size - 1);
  close(fd);
  if (n <= 0) return 0;
  buffer[n] = 0;
  return 1;
}

int gw_proc_stat(pid_t tid, char *state, unsigned long *majflt) {
  char buffer[512];
  if (!read_proc(tid, PROC_STAT, buffer, sizeof buffer)) return 0;
  const char *p = strrchr(buffer, ')');
  return p && sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %lu", state, majflt) == 2;
}

int gw_proc_schedstat(pid_t tid, uint64_t *run_ns, uint64_t *wait_ns) {
  char buffer[128];
  unsigned long long run, wait;
  if (!read_proc(tid, PROC_SCHEDSTAT, buffer, sizeof buffer) || sscanf(buffer, "%llu %llu", &run, &wait) != 2) return 0;
  *run_ns = run;
  *wait_ns = wait;
  return 1;
}

int32_t gw_proc_syscall(pid_t tid) {
  char buffer[256];
  if (!read_proc(tid, PROC_SYSCALL, buffer, sizeof buffer)) return GW_SYSCALL_UNKNOWN;
  if (strncmp(buffer, "running", 7) == 0) return GW_SYSCALL_RUNNING;
  long nr = strtol(buffer, NULL, 10);
  return nr < 0 ? GW_SYSCALL_NONE : (int32_t)nr;
}

uint32_t gw_proc_wait_site(pid_t tid) {
  char buffer[128];
  if (!read_proc(tid, PROC_WCHAN, buffer, sizeof buffer)) return 0;
  size_t n = strcspn(buffer, "\n");
  if (n == 0 || (n == 1 && buffer[0] == '0')) return 0;
  return gw_intern(&gw_rt.messages, buffer, n);
}
