/*
 * The check made before every connect() to a Unix socket, however its path was given
 * (GILWATCH_ADDR or the default): the process hands the socket its command line, its
 * environment-derived service name and every range name, so the socket must be the
 * server's of this very user. The server makes the same checks (server/ingest.ts) before
 * it listens; docs/security.md, "Sockets and ingest authentication", says why.
 *
 * - The directory must belong to this process's effective uid and be writable by nobody
 *   else: whoever can write to it can replace the socket between this check and connect().
 *   /tmp itself (sticky, world-writable) fails, as does a directory another user created
 *   first at the default path /tmp/gilwatch-<uid>.
 * - The socket must be a socket (a symlink could point anywhere), owned by this uid or by
 *   root (root can replace anything anyway; a root-owned socket in our directory is one
 *   root put there).
 * The effective uid, not the real one: it is whose rights the process runs with, and so
 * whose data it holds.
 */
#include "socket_path.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int gw_socket_path_check(const char *socket_path, char *why, size_t why_size) {
  char directory[4096];
  size_t length = strlen(socket_path);
  const char *slash = strrchr(socket_path, '/');
  if (!slash || length >= sizeof directory) {
    snprintf(why, why_size, "%s is not an absolute socket path", socket_path);
    return -1;
  }
  size_t directory_length = slash == socket_path ? 1 : (size_t)(slash - socket_path); /* "/x.sock" -> "/" */
  memcpy(directory, socket_path, directory_length);
  directory[directory_length] = 0;

  uid_t euid = geteuid();
  struct stat st;
  if (lstat(directory, &st) != 0) return 0;
  if (!S_ISDIR(st.st_mode)) {
    snprintf(why, why_size, "%s (the directory of %s) is not a directory", directory, socket_path);
    return -1;
  }
  if (st.st_uid != euid) {
    snprintf(why, why_size,
             "%s belongs to uid %u, not to this process's user (uid %u): another user may have made it to collect "
             "this process's data (docs/security.md)",
             directory, (unsigned)st.st_uid, (unsigned)euid);
    return -1;
  }
  if (st.st_mode & 022) {
    /* A shared directory (sticky, like /tmp) is meant to be writable by all: the fix is a
     * directory of one's own, not chmod. */
    if (st.st_mode & S_ISVTX)
      snprintf(why, why_size,
               "%s is writable by other users (mode %04o), who could replace the socket: it is a shared directory "
               "(sticky, like /tmp); use a directory of your own",
               directory, (unsigned)(st.st_mode & 07777));
    else
      snprintf(why, why_size,
               "%s is writable by other users (mode %04o), who could replace the socket: run `chmod 700 %s`", directory,
               (unsigned)(st.st_mode & 07777), directory);
    return -1;
  }
  if (lstat(socket_path, &st) != 0) return 0;
  if (!S_ISSOCK(st.st_mode)) {
    snprintf(why, why_size, "%s is not a socket", socket_path);
    return -1;
  }
  if (st.st_uid != euid && st.st_uid != 0) {
    snprintf(why, why_size, "%s belongs to uid %u, not to this process's user (uid %u)", socket_path,
             (unsigned)st.st_uid, (unsigned)euid);
    return -1;
  }
  return 1;
}
