// Peer credentials (see peer.h).
#include "peer.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gilwatch {

int64_t unixPeerUid(int fd) {
  ucred credentials{};
  socklen_t size = sizeof credentials;
  if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0 || size != sizeof credentials)
    return kUnknownUid;
  return credentials.uid;
}

namespace {

struct InetAddress {
  int family = 0;
  uint32_t words[4] = {0, 0, 0, 0}; // inet_diag's layout: IPv4 in the first word
};

// IPv4-mapped IPv6 (a dual-stack listener's view of an IPv4 peer) is read as the IPv4
// address it stands for: the peer's own socket is an IPv4 one.
bool parseAddress(const std::string &text, InetAddress &out) {
  in6_addr v6;
  if (inet_pton(AF_INET, text.c_str(), out.words) == 1) {
    out.family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    out.family = AF_INET;
    std::memcpy(out.words, &v6.s6_addr[12], 4);
  } else {
    out.family = AF_INET6;
    std::memcpy(out.words, &v6, 16);
  }
  return true;
}

// One NETLINK_SOCK_DIAG socket for the process (opened on first use, close-on-exec). The
// kernel answers a request for one socket inside sendmsg, so the reply is already queued
// when recv runs: MSG_DONTWAIT never misses it, and nothing ever blocks.
int diagSocket() {
  static int fd = -1;
  if (fd < 0) fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  return fd;
}

int64_t query(int family, const InetAddress &local, uint16_t localPort, const InetAddress &peer, uint16_t peerPort) {
  int fd = diagSocket();
  if (fd < 0) return kUnknownUid;
  static uint32_t sequence = 0;
  struct {
    nlmsghdr header;
    inet_diag_req_v2 body;
  } request{};
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request.header.nlmsg_flags = NLM_F_REQUEST;
  request.header.nlmsg_seq = ++sequence;
  request.body.sdiag_family = static_cast<uint8_t>(family);
  request.body.sdiag_protocol = IPPROTO_TCP;
  request.body.idiag_states = ~0u;
  // The peer's socket: its source is the peer, its destination us.
  request.body.id.idiag_sport = htons(peerPort);
  request.body.id.idiag_dport = htons(localPort);
  std::memcpy(request.body.id.idiag_src, peer.words, sizeof peer.words);
  std::memcpy(request.body.id.idiag_dst, local.words, sizeof local.words);
  request.body.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  request.body.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, &request, sizeof request, 0, reinterpret_cast<sockaddr *>(&kernel), sizeof kernel) < 0)
    return kUnknownUid;
  alignas(nlmsghdr) char reply[8192];
  for (;;) { // replies to earlier requests that timed out cannot be left: skip by sequence
    ssize_t n = recv(fd, reply, sizeof reply, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return kUnknownUid;
    auto *header = reinterpret_cast<nlmsghdr *>(reply);
    if (!NLMSG_OK(header, static_cast<uint32_t>(n))) return kUnknownUid;
    if (header->nlmsg_seq != request.header.nlmsg_seq) continue;
    if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY || header->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
      return kUnknownUid; // NLMSG_ERROR: no such socket (a remote peer)
    return reinterpret_cast<inet_diag_msg *>(NLMSG_DATA(header))->idiag_uid;
  }
}

} // namespace

int64_t tcpPeerUid(const std::string &localAddress, uint16_t localPort, const std::string &peerAddress,
                   uint16_t peerPort) {
  InetAddress local, peer;
  if (!parseAddress(localAddress, local) || !parseAddress(peerAddress, peer) || local.family != peer.family)
    return kUnknownUid;
  int64_t uid = query(local.family, local, localPort, peer, peerPort);
  if (uid != kUnknownUid || local.family != AF_INET) return uid;
  // An IPv6 socket connected to an IPv4-mapped address is an AF_INET6 socket.
  InetAddress mappedLocal{AF_INET6, {0, 0, htonl(0xffff), local.words[0]}};
  InetAddress mappedPeer{AF_INET6, {0, 0, htonl(0xffff), peer.words[0]}};
  return query(AF_INET6, mappedLocal, localPort, mappedPeer, peerPort);
}

} // namespace gilwatch
