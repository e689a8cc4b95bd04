/* Environment configuration of the injection library (documented in docs/configuration.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime.h"

#define DEFAULT_RING_EVENTS    4096u
#define DEFAULT_SEND_BUFFER_KB 4096u

static void basename_of_executable(char *out, size_t size) {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) {
    snprintf(out, size, "unknown");
    return;
  }
  path[n] = 0;
  const char *slash = strrchr(path, '/');
  gw_copy_string(out, size, slash ? slash + 1 : path);
}

/* The per-user default, identical to the server's (server/config.ts). */
static int default_unix_path(char *out, size_t size) {
  const char *runtime_dir = getenv("XDG_RUNTIME_DIR");
  int n;
  if (runtime_dir && runtime_dir[0] == '/')
    n = snprintf(out, size, "%s/gilwatch/ingest.sock", runtime_dir);
  else
    n = snprintf(out, size, "/tmp/gilwatch-%u/ingest.sock", (unsigned)getuid());
  return n > 0 && (size_t)n < size;
}

/* GILWATCH_ADDR's grammar, the same as parseAddress in server/cli/address.ts (both run the table
 * test/fixtures/addresses.json): tcp://HOST:PORT (HOST a name, an IPv4 address or [IPv6];
 * PORT 1-65535), unix:/PATH or /PATH. Character classes are spelled out rather than taken
 * from <ctype.h>, whose answers depend on the program's locale. */
static int host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}
static int ipv6_char(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' || c == '.';
}

static int parse_tcp(gw_config *config, const char *addr, char *why, size_t why_size) {
  const char *rest = addr + 6, *p = rest, *host;
  size_t host_length;
  int bracketed = *p == '[';
  if (bracketed) p++;
  host = p;
  while (bracketed ? ipv6_char(*p) : host_char(*p)) p++;
  host_length = (size_t)(p - host);
  int ok = !bracketed || *p++ == ']';
  ok = ok && host_length > 0 && host_length < sizeof config->tcp_host && *p++ == ':';
  const char *digits = p;
  unsigned long port = 0;
  while (ok && *p >= '0' && *p <= '9' && p - digits < 5) port = port * 10 + (unsigned long)(*p++ - '0');
  ok = ok && p > digits && *p == 0 && port >= 1 && port <= 65535;
  if (!ok) {
    /* tcp://9478 was once read as host "947", port 8: say what is missing instead. */
    size_t all_digits = strspn(rest, "0123456789");
    if (all_digits > 0 && rest[all_digits] == 0)
      snprintf(why, why_size,
               "GILWATCH_ADDR=%s is not tcp://HOST:PORT: it has no host (this machine: tcp://127.0.0.1:%s)", addr,
               rest);
    else
      snprintf(
          why, why_size,
          "GILWATCH_ADDR=%s is not tcp://HOST:PORT with a port from 1 to 65535 (e.g. tcp://127.0.0.1:9478; IPv6 in "
          "brackets: tcp://[::1]:9478)",
          addr);
    return 0;
  }
  memcpy(config->tcp_host, host, host_length);
  config->tcp_host[host_length] = 0;
  snprintf(config->tcp_port, sizeof config->tcp_port, "%lu", port);
  config->transport = GW_TRANSPORT_TCP;
  return 1;
}

/* `addr` unset or empty means the default, which gw_config_load applies before this. */
static int parse_address(gw_config *config, const char *addr, char *why, size_t why_size) {
  if (!*addr) {
    snprintf(why, why_size, "GILWATCH_ADDR is empty: give a socket path, unix:PATH or tcp://HOST:PORT");
    return 0;
  }
  if (strncmp(addr, "tcp://", 6) == 0) return parse_tcp(config, addr, why, why_size);
  const char *path = strncmp(addr, "unix:", 5) == 0 ? addr + 5 : addr;
  if (path[0] != '/' || strlen(path) >= sizeof config->unix_path) {
    snprintf(why, why_size,
             "GILWATCH_ADDR=%s must be an absolute socket path, unix:PATH or tcp://HOST:PORT (a path under %zu bytes)",
             addr, sizeof config->unix_path);
    return 0;
  }
  gw_copy_string(config->unix_path, sizeof config->unix_path, path);
  config->transport = GW_TRANSPORT_UNIX;
  return 1;
}

/* GILWATCH_TOKEN, or the contents of GILWATCH_TOKEN_FILE (trimmed, like the server's): sent in an AUTH frame before
 * HELLO. The file, like the server's, must not be readable by other users. Only the server
 * judges the token itself; here it must merely fit the frame and be one printable word. */
static int load_token(gw_config *config, char *why, size_t why_size) {
  const char *literal = getenv("GILWATCH_TOKEN");
  const char *file = getenv("GILWATCH_TOKEN_FILE");
  char text[GW_MAX_TOKEN_BYTES + 2];
  size_t length = 0;
  if (literal && *literal && file && *file) {
    snprintf(why, why_size, "GILWATCH_TOKEN and GILWATCH_TOKEN_FILE are both set: keep one");
    return 0;
  }
  if (literal && *literal) {
    length = strlen(literal);
    if (length > GW_MAX_TOKEN_BYTES) length = GW_MAX_TOKEN_BYTES + 1;
    memcpy(text, literal, length);
  } else if (file && *file) {
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      snprintf(why, why_size, "GILWATCH_TOKEN_FILE=%s: %s", file, fd < 0 ? strerror(errno) : "not a regular file");
      if (fd >= 0) close(fd);
      return 0;
    }
    if (st.st_mode & 077) {
      snprintf(why, why_size, "GILWATCH_TOKEN_FILE=%s is open to other users (mode %04o): run `chmod 600 %s`", file,
               (unsigned)(st.st_mode & 0777), file);
      close(fd);
      return 0;
    }
    ssize_t n;
    while (length < sizeof text && (n = read(fd, text + length, sizeof text - length)) > 0) length += (size_t)n;
    close(fd);
    while (length && (text[length - 1] == '\n' || text[length - 1] == '\r' || text[length - 1] == ' ')) length--;
    size_t leading = 0;
    while (leading < length && (text[leading] == '\n' || text[leading] == '\r' || text[leading] == ' ')) leading++;
    memmove(text, text + leading, length - leading);
    length -= leading;
  } else {
    return 1;
  }
  int printable = length > 0;
  for (size_t i = 0; i < length && printable; i++) printable = text[i] > ' ' && text[i] != 0x7f;
  if (!printable || length > GW_MAX_TOKEN_BYTES) {
    snprintf(why, why_size, "the ingest token (%s) must be 1 to %u printable characters without spaces",
             literal && *literal ? "GILWATCH_TOKEN" : "GILWATCH_TOKEN_FILE", GW_MAX_TOKEN_BYTES);
    return 0;
  }
  memcpy(config->token, text, length);
  config->token[length] = 0;
  return 1;
}

static int parse_count(const char *name, uint32_t min, uint32_t max, uint32_t fallback, uint32_t *out, char *why,
                       size_t why_size) {
  const char *text = getenv(name);
  if (!text || !*text) {
    *out = fallback;
    return 1;
  }
  char *end = NULL;
  errno = 0;
  unsigned long value = strtoul(text, &end, 10);
  if (errno || !end || *end || value < min || value > max) {
    snprintf(why, why_size, "%s=%s must be a whole number from %u to %u", name, text, min, max);
    return 0;
  }
  *out = (uint32_t)value;
  return 1;
}

int gw_config_load(gw_config *config, char *why, size_t why_size) {
  memset(config, 0, sizeof *config);
  const char *addr = getenv("GILWATCH_ADDR");
  if (!addr || !*addr) {
    config->transport = GW_TRANSPORT_UNIX;
    if (!default_unix_path(config->unix_path, sizeof config->unix_path)) {
      snprintf(why, why_size, "the default socket path is too long; set GILWATCH_ADDR to a shorter path");
      return 0;
    }
  } else if (!parse_address(config, addr, why, why_size)) {
    return 0;
  }
  if (!load_token(config, why, why_size)) return 0;

  const char *service = getenv("GILWATCH_SERVICE");
  if (service && *service)
    gw_copy_string(config->service, sizeof config->service, service);
  else
    basename_of_executable(config->service, sizeof config->service);

  const char *domains = getenv("GILWATCH_DOMAINS");
  if (domains && strlen(domains) >= sizeof config->domains) {
    snprintf(why, why_size, "GILWATCH_DOMAINS is longer than %zu bytes", sizeof config->domains - 1);
    return 0;
  }
  gw_copy_string(config->domains, sizeof config->domains, domains ? domains : "");

  uint32_t ring_events, send_kb, long_hold_ms;
  if (!parse_count("GILWATCH_BUFFER_EVENTS", 256, 1u << 20, DEFAULT_RING_EVENTS, &ring_events, why, why_size)) return 0;
  if (!parse_count("GILWATCH_SEND_BUFFER_KB", 256, 1u << 20, DEFAULT_SEND_BUFFER_KB, &send_kb, why, why_size)) return 0;
  if (!parse_count("GILWATCH_LONG_HOLD_MS", 1, 60000, 20, &long_hold_ms, why, why_size)) return 0;
  config->long_hold_ns = (uint64_t)long_hold_ms * 1000000u;
  config->ring_events = 1;
  while (config->ring_events < ring_events) config->ring_events <<= 1;
  config->send_buffer_bytes = send_kb * 1024u;
  return 1;
}

int gw_config_domain_enabled(const gw_config *config, const char *name) {
  if (!config->domains[0]) return 1;
  const char *wanted = name[0] ? name : "default";
  size_t wanted_length = strlen(wanted);
  const char *p = config->domains;
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t length = comma ? (size_t)(comma - p) : strlen(p);
    while (length && *p == ' ') p++, length--;
    while (length && p[length - 1] == ' ') length--;
    if (length == wanted_length && memcmp(p, wanted, length) == 0) return 1;
    if (!comma) break;
    p = comma + 1;
  }
  return 0;
}
