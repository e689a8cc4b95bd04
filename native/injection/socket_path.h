/* Whether a Unix socket path may receive this process's data (socket_path.c). */
#ifndef GILWATCH_SOCKET_PATH_H
#define GILWATCH_SOCKET_PATH_H

#include <stddef.h>

/* 1: safe, connect; 0: the directory or socket is not there yet (no server: retry quietly);
 * -1: unsafe, never connect while it stays so; a one-line reason is written to `why`. */
int gw_socket_path_check(const char *socket_path, char *why, size_t why_size);

#endif
