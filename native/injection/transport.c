/*
 * The sender's connection to the server: connecting (Unix socket after its safety check, or
 * TCP), the AUTH and HELLO that open each connection, non-blocking writes of what the socket
 * takes, and reconnecting with a backoff (50 ms doubling to 1 s). Never blocks a producer:
 * only the sender thread calls in here.
 *
 * Bytes accepted for the current connection wait in `pending` until the socket takes them
 * (the sender keeps `pending` within GILWATCH_SEND_BUFFER_KB); a connection that fails takes
 * them with it, and their records are counted as dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "sender.h"
#include "socket_path.h"

static struct connection {
  int socket_fd;   /* -1 while disconnected */
  int private_fds; /* the sender thread has its own descriptor table (see below) */
  uint64_t next_connect_ns;
  uint64_t backoff_ns;
  int warned_address;       /* one stderr line per cause, not one per retry */
  gw_buffer pending;        /* accepted for the current connection, not yet written */
  uint64_t pending_records; /* records in `pending` since it was last empty */
  uint64_t dropped;         /* records lost with a connection before they were written */
  int ever_connected;       /* a server has known this process */
} C = {.socket_fd = -1, .backoff_ns = 50000000ull};

static void disconnect(void) {
  if (C.socket_fd >= 0) close(C.socket_fd);
  C.socket_fd = -1;
  C.dropped += C.pending_records;
  C.pending_records = 0;
  C.pending.size = 0;
  C.next_connect_ns = gw_now_ns() + C.backoff_ns;
}

static int connect_unix(void) {
  const gw_config *config = &gw_rt.config;
  char why[512];
  int safe = gw_socket_path_check(config->unix_path, why, sizeof why);
  if (safe < 0 && !C.warned_address) fprintf(stderr, "gilwatch: %s; not connecting\n", why);
  if (safe < 0) C.warned_address = 1;
  if (safe <= 0) return -1; /* absent: no server yet, retry later, silently */
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  gw_copy_string(address.sun_path, sizeof address.sun_path, config->unix_path);
  if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int connect_tcp(void) {
  const gw_config *config = &gw_rt.config;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *addresses = NULL;
  if (getaddrinfo(config->tcp_host, config->tcp_port, &hints, &addresses) != 0) {
    if (!C.warned_address) fprintf(stderr, "gilwatch: cannot resolve %s; will keep trying\n", config->tcp_host);
    C.warned_address = 1;
    return -1;
  }
  int fd = -1;
  for (struct addrinfo *a = addresses; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    int ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    if (!ok && errno == EINPROGRESS) {
      /* Up to 1 s, in slices, so a fork never waits long for this thread to stop. */
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      int ready = 0;
      for (int slice = 0; slice < 20 && !ready && !gw_sender_stopping(); slice++) ready = poll(&p, 1, 50);
      int error = 0;
      socklen_t length = sizeof error;
      ok = ready == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
    }
    if (!ok) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(addresses);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

/* Opens a connection if one is due (a TCP connect may take up to a second). */
static int open_connection_if_due(uint64_t now) {
  if (C.socket_fd >= 0 || now < C.next_connect_ns) return -1;
  int fd = gw_rt.config.transport == GW_TRANSPORT_TCP ? connect_tcp() : connect_unix();
  if (fd < 0) {
    C.next_connect_ns = now + C.backoff_ns;
    C.backoff_ns = C.backoff_ns * 2 > 1000000000ull ? 1000000000ull : C.backoff_ns * 2;
  }
  return fd;
}

/* Moves the socket above the descriptors programs usually use, so code that reasons about
 * its own low-numbered descriptors (a child's inherited fds, "close all but 0-2" checks)
 * never meets ours. */
static int move_high(int fd) {
  struct rlimit limit;
  int base = 768;
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < 1024) base = (int)(limit.rlim_cur / 2);
  if (fd >= base) return fd;
  int high = fcntl(fd, F_DUPFD_CLOEXEC, base);
  if (high < 0) return fd;
  close(fd);
  return high;
}

static void on_connected(int fd) {
  C.socket_fd = move_high(fd);
  C.ever_connected = 1;
  C.backoff_ns = 50000000ull;
  C.warned_address = 0;
  C.pending.size = 0;
  C.pending_records = 0;
  if (gw_rt.config.token[0]) /* the server reads AUTH before anything else */
    gw_frame_auth(&C.pending, gw_rt.config.token);
  gw_frame_hello(&C.pending);
}

int gw_transport_connect_if_due(uint64_t now) {
  int fd = open_connection_if_due(now);
  if (fd < 0) return 0;
  on_connected(fd);
  return 1;
}

void gw_transport_connect_now(void) { C.next_connect_ns = 0; }

int gw_transport_connected(void) { return C.socket_fd >= 0; }

int gw_transport_ever_connected(void) { return C.ever_connected; }

size_t gw_transport_pending_bytes(void) { return C.pending.size; }

uint64_t gw_transport_dropped(void) { return C.dropped; }

void gw_transport_queue(const gw_buffer *definitions, const gw_buffer *records, uint64_t record_count) {
  /* Definitions first: records refer to them. They are small, so they may pass the budget. */
  if (gw_buffer_reserve(&C.pending, definitions->size + records->size)) {
    memcpy(C.pending.data + C.pending.size, definitions->data, definitions->size);
    memcpy(C.pending.data + C.pending.size + definitions->size, records->data, records->size);
    C.pending.size += definitions->size + records->size;
    C.pending_records += record_count;
  } else {
    disconnect(); /* out of memory: start over rather than send a stream with holes */
  }
}

/* Writes what the socket takes now. */
void gw_transport_write(void) {
  size_t written = 0;
  while (C.socket_fd >= 0 && written < C.pending.size) {
    ssize_t n = send(C.socket_fd, C.pending.data + written, C.pending.size - written, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      written += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      disconnect();
      return;
    }
  }
  if (C.socket_fd < 0) return;
  memmove(C.pending.data, C.pending.data + written, C.pending.size - written);
  C.pending.size -= written;
  if (C.pending.size == 0) C.pending_records = 0;
}

/* At exit: send what is left, waiting for the socket until `deadline`, or until it has
 * taken nothing for `stall_ms` (a server that is not reading). */
void gw_transport_flush_until(uint64_t deadline, int stall_ms) {
  gw_transport_write();
  while (C.socket_fd >= 0 && C.pending.size > 0) {
    uint64_t now = gw_now_ns();
    if (now >= deadline) return;
    int wait_ms = (int)((deadline - now) / 1000000 + 1);
    struct pollfd p = {.fd = C.socket_fd, .events = POLLOUT};
    if (poll(&p, 1, wait_ms < stall_ms ? wait_ms : stall_ms) <= 0) return;
    gw_transport_write();
  }
}

/* ---- descriptors: the sender thread's own table ---- */

/* The sender's descriptors (its socket, the /proc files it reads, DNS lookups) live in a
 * descriptor table of its own, so the program never sees one: not a transient low fd while
 * it checks its own (CPython's test_pass_fds/test_close_fds), nor the socket in a child.
 * unshare(CLONE_FILES) gives this thread a copy of the program's table; the copies are
 * closed at once so that a pipe the program closes still reaches end-of-file. Standard
 * error is kept, for the sender's rare warning lines, only when it is a file or a terminal:
 * a kept pipe would hold the program's reader open. Without unshare (seccomp, old kernels)
 * the socket is moved high instead (move_high). */
/* close_range over [first, last] except `keep`. */
static void close_except(unsigned first, unsigned last, int keep) {
  if (keep >= (int)first && (unsigned)keep <= last) {
    if ((unsigned)keep > first) syscall(SYS_close_range, first, (unsigned)keep - 1, 0);
    if ((unsigned)keep < last) syscall(SYS_close_range, (unsigned)keep + 1, last, 0);
  } else {
    syscall(SYS_close_range, first, last, 0);
  }
}

/* `keep`: a descriptor of the program's table this thread takes over (the unnamed totals
 * region, shared_totals.c), or -1. */
static void use_private_descriptor_table(int keep) {
  C.private_fds = 0;
  if (syscall(SYS_close_range, ~0u, ~0u, 0) != 0) return; /* close_range: Linux 5.9+ */
  if (unshare(CLONE_FILES) != 0) return;
  struct stat err;
  int keep_stderr = fstat(2, &err) == 0 && (S_ISREG(err.st_mode) || S_ISCHR(err.st_mode));
  if (keep_stderr) {
    close_except(0u, 1u, keep);
    close_except(3u, ~0u, keep);
  } else {
    close_except(0u, ~0u, keep);
  }
  C.private_fds = 1;
}

void gw_transport_thread_starts(int keep) {
  if (C.private_fds && C.socket_fd >= 0) {
    /* The previous sender thread (stopped for a fork) took its table, socket included:
     * what it could not write is counted as dropped, and the same instance reconnects now. */
    C.socket_fd = -1;
    disconnect();
    C.next_connect_ns = 0;
  }
  use_private_descriptor_table(keep);
}

int gw_transport_private_fds(void) { return C.private_fds; }

void gw_transport_after_fork_child(void) {
  /* The parent's socket is a shared file description: close our copy only. With a private
   * table it was never in the program's table, and this fd number may be the program's. */
  if (C.socket_fd >= 0 && !C.private_fds) close(C.socket_fd);
  C.socket_fd = -1;
  C.backoff_ns = 50000000ull;
  C.next_connect_ns = 0;
  C.pending.size = 0;
  C.pending_records = 0;
  C.dropped = 0;
  C.warned_address = 0;
  C.ever_connected = 0; /* the child is a new process to any server */
}
