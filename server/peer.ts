// Who is at the other end of a client socket, as the kernel knows it (native/addon/peer.cc):
// the user of a local peer (SO_PEERCRED on the Unix socket, sock_diag for a TCP peer on this
// machine) or else the address of a remote one. Ingest binds a process to the credentials
// that started it (credentialOf); the HTTP side counts connections per peer (peerKey).
import net from 'node:net'
import { loadAddon } from './store'

export interface Peer {
  uid: number | null // a local peer's user; null when the kernel cannot tell (a remote peer)
  address: string | null // a TCP peer's address; null on a Unix socket
}

// libuv's descriptor of an accepted socket (an internal of net.Socket, stable on Linux).
const descriptorOf = (socket: net.Socket): number => (socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1

export function peerOf (socket: net.Socket): Peer {
  const addon = loadAddon()
  if (socket.remoteAddress === undefined) {
    const uid = addon.unixPeerUid(descriptorOf(socket))
    return { uid: uid >= 0 ? uid : null, address: null }
  }
  const uid = socket.localAddress !== undefined && socket.localPort !== undefined && socket.remotePort !== undefined
    ? addon.tcpPeerUid(socket.localAddress, socket.localPort, socket.remoteAddress, socket.remotePort)
    : -1
  return { uid: uid >= 0 ? uid : null, address: socket.remoteAddress }
}

// The bucket a peer's connections are counted in: a local user, an IPv4 address, or an IPv6
// /64 (one host usually has a whole /64, so single addresses would not bound it).
export function peerKey (peer: Peer): string {
  if (peer.uid !== null) return `uid ${peer.uid}`
  if (peer.address === null) return 'unknown'
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(peer.address)
  if (v4) return `address ${v4[1]}`
  return net.isIPv6(peer.address) ? `address ${ipv6Prefix64(peer.address)}` : `address ${peer.address}`
}

// "2001:db8:1:2:3::4" -> "2001:db8:1:2::/64"
export function ipv6Prefix64 (address: string): string {
  const [head, tail = ''] = address.toLowerCase().split('::')
  const left = head ? head.split(':') : []
  const right = address.includes('::') && tail ? tail.split(':') : []
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`
}

// The credentials a process's connection speaks with (NativeStore::attach): a local peer is
// its user, however it connected; a remote one that passed the ingest token is "token"
// (every holder of the token is one principal), one without a token its address.
export function credentialOf (peer: Peer, tokenChecked: boolean): string {
  if (peer.uid !== null) return `uid ${peer.uid}`
  if (tokenChecked) return 'the ingest token'
  return peer.address === null ? 'an unknown peer' : `address ${peer.address}`
}
