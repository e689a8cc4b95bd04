// Who is at the other end of a socket, as the kernel knows it: the user of a Unix socket's
// peer (SO_PEERCRED) and the owner of a local TCP peer's socket (sock_diag). The server
// binds a process's identity to it (docs/security.md, "Identity") and counts HTTP
// connections per local user. Nothing here blocks: both are answered by the kernel at once.
#pragma once

#include <cstdint>
#include <string>

namespace gilwatch {

constexpr int64_t kUnknownUid = -1;

// The uid of the process that connected a Unix socket, or kUnknownUid.
int64_t unixPeerUid(int fd);

// The uid that owns the TCP socket at (peerAddress, peerPort) connected to (localAddress,
// localPort) on this machine, or kUnknownUid when that socket is not on this machine (a
// remote peer) or is gone. Addresses are numeric, as Node reports them (IPv4, IPv6 or
// IPv4-mapped IPv6).
int64_t tcpPeerUid(const std::string &localAddress, uint16_t localPort, const std::string &peerAddress,
                   uint16_t peerPort);

} // namespace gilwatch
