/* Environment configuration of the injection library (documented in docs/configuration.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime.h"

#define DEFAULT_RING_EVENTS 4096u
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

static int parse_address(gw_config *config, const char *addr, char *why, size_t why_size) {
  if (!addr || !*addr) {
    config->transport = GW_TRANSPORT_UNIX;
    config->unix_path_is_default = 1;
    if (!default_unix_path(config->unix_path, sizeof config->unix_path)) {
      snprintf(why, why_size, "the default socket path is too long; set GILWATCH_ADDR to a shorter path");
      return 0;
    }
    return 1;
  }
  if (strncmp(addr, "tcp://", 6) == 0) {
    const char *hostport = addr + 6;
    const char *colon = strrchr(hostport, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    size_t host_length = colon ? (size_t)(colon - hostport) : 0;
    if (!colon || host_length == 0 || host_length >= sizeof config->tcp_host || !end || *end || port <= 0 ||
        port > 65535) {
      snprintf(why, why_size, "GILWATCH_ADDR=%s is not tcp://HOST:PORT (e.g. tcp://127.0.0.1:9478)", addr);
      return 0;
    }
    /* [::1]:port -> ::1 */
    if (hostport[0] == '[' && host_length >= 2 && hostport[host_length - 1] == ']') {
      hostport++;
      host_length -= 2;
    }
    memcpy(config->tcp_host, hostport, host_length);
    config->tcp_host[host_length] = 0;
    snprintf(config->tcp_port, sizeof config->tcp_port, "%ld", port);
    config->transport = GW_TRANSPORT_TCP;
    return 1;
  }
  const char *path = strncmp(addr, "unix:", 5) == 0 ? addr + 5 : addr;
  if (path[0] != '/' || strlen(path) >= sizeof config->unix_path) {
    snprintf(why, why_size,
             "GILWATCH_ADDR=%s must be an absolute socket path (< %zu bytes), unix:/PATH or tcp://HOST:PORT",
             addr, sizeof config->unix_path);
    return 0;
  }
  gw_copy_string(config->unix_path, sizeof config->unix_path, path);
  config->transport = GW_TRANSPORT_UNIX;
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
  if (!parse_address(config, getenv("GILWATCH_ADDR"), why, why_size)) return 0;

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
  if (!parse_count("GILWATCH_BUFFER_EVENTS", 256, 1u << 20, DEFAULT_RING_EVENTS, &ring_events, why, why_size))
    return 0;
  if (!parse_count("GILWATCH_SEND_BUFFER_KB", 256, 1u << 20, DEFAULT_SEND_BUFFER_KB, &send_kb, why, why_size))
    return 0;
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
