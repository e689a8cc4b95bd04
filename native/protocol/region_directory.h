/*
 * Where a process keeps its shared totals file (gilwatch_protocol.h, "The shared totals
 * region") for the Unix socket at `socket_path`, decided the same way by the process (the
 * injection) and the server (the addon), so that the server finds it:
 *
 * - beside the socket, when the socket's directory is on tmpfs ($XDG_RUNTIME_DIR);
 * - else in /dev/shm/gilwatch-UID-HASH (HASH: FNV-1a of the socket directory's real path and
 *   the socket's name), made 0700 by whichever side comes first, and used only while it is a
 *   directory of this uid's alone. A page fault on a file of a disk file system costs about
 *   80 µs on this kind of machine, against 5 on tmpfs: at every process start, several.
 * - beside the socket again when that directory is unusable (another user made it first,
 *   /dev/shm is not tmpfs): the process and the server each fall back alike.
 *
 * Returns 1 with the directory in `out`, 0 when the socket path has no directory part.
 */
#ifndef GILWATCH_REGION_DIRECTORY_H
#define GILWATCH_REGION_DIRECTORY_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/vfs.h>

#define GW_REGION_SHM_ROOT    "/dev/shm"
#define GW_REGION_TMPFS_MAGIC 0x01021994 /* linux/magic.h: TMPFS_MAGIC */

static inline int gw_on_tmpfs(const char *path) {
  struct statfs fs;
  return statfs(path, &fs) == 0 && (uint64_t)fs.f_type == GW_REGION_TMPFS_MAGIC;
}

static inline int gw_region_directory(const char *socket_path, unsigned uid, char *out, size_t size) {
  const char *slash = strrchr(socket_path, '/');
  if (!slash || size < 2) return 0;
  size_t length = slash == socket_path ? 1 : (size_t)(slash - socket_path);
  if (length >= size || length >= PATH_MAX) return 0;
  memcpy(out, socket_path, length);
  out[length] = 0;
  if (gw_on_tmpfs(out) || !gw_on_tmpfs(GW_REGION_SHM_ROOT)) return 1;
  char real[PATH_MAX];
  if (!realpath(out, real)) return 1; /* no directory yet: it is made beside the socket, as before */
  uint64_t hash = 1469598103934665603ull;
  for (const char *p = real; *p; p++) hash = (hash ^ (unsigned char)*p) * 1099511628211ull;
  for (const char *p = slash; *p; p++) hash = (hash ^ (unsigned char)*p) * 1099511628211ull;
  char shm[96];
  snprintf(shm, sizeof shm, GW_REGION_SHM_ROOT "/gilwatch-%u-%016llx", uid, (unsigned long long)hash);
  mkdir(shm, 0700); /* EEXIST: checked below like a new one */
  struct stat st;
  if (lstat(shm, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & 0777) != 0700) return 1;
  if (strlen(shm) >= size) return 1;
  memcpy(out, shm, strlen(shm) + 1);
  return 1;
}

#endif
