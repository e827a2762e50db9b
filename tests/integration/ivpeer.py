#!/usr/bin/python3
"""Test helpers for tests/integration/ivserver.sh and doorbell_vm.sh: ivshmem peers, a refused client, a QMP probe.

  ivpeer.py peer --socket S [--vectors N] [--timeout T]
      Join the ivshmem server as a peer, check the handshake, then print one line per event on stdout
      until end of file or the timeout:  handshake id=0 shm_size=N vectors=V peers=1,2
                                         join id=1 vectors=2 | leave id=1 | eof
      SIGUSR1 rings vector 0 of every known peer.
  ivpeer.py echo --socket S --count N [--vectors V] [--timeout T]
      Join, wait for one more peer (the guest's QEMU), then ring its vector 0 back each time it rings ours,
      N times; prints "echoed N".
  ivpeer.py refused --socket S
      Connect and expect a refusal: version -1, then end of file.
  ivpeer.py qmp-probe --qmp Q [--boot] [--timeout T]
      Print what QEMU (started with -S) shows of its ivshmem device: ivshmem slot=1 bar0=256 bar1=4096 bar2=N
      With --boot, let the firmware place the BARs, stop the CPU, and add the IVPosition register and
      the first 32-bit word of BAR2, read through the monitor: ivposition=1 bar2_word0=0x...
Exit: 0 success, 1 a check failed, 2 usage error.
"""

import argparse
import json
import os
import select
import signal
import socket
import struct
import sys
import time

PROTOCOL_VERSION = 0
MAX_FDS = 8


class PeerError(Exception):
    pass


def deadline_after(seconds):
    return time.monotonic() + seconds


def remaining(deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise PeerError("timed out")
    return left


def recv_msg(sock, deadline):
    """One server message: (value, fd or None); (None, None) at end of file."""
    ready, _, _ = select.select([sock], [], [], remaining(deadline))
    if not ready:
        raise PeerError("timed out waiting for a message from the server")
    data, ancdata, _, _ = sock.recvmsg(8, socket.CMSG_SPACE(MAX_FDS * 4), socket.MSG_WAITALL)
    fds = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.extend(struct.unpack(f"{len(payload) // 4}i", payload[: len(payload) // 4 * 4]))
    if not data:
        return None, None
    if len(data) != 8:
        raise PeerError(f"short message of {len(data)} bytes")
    if len(fds) > 1:
        raise PeerError(f"{len(fds)} fds with one message")
    return struct.unpack("<q", data)[0], (fds[0] if fds else None)


class Peer:
    """A peer as QEMU is one: our id, the region, our eventfds, and the other peers' eventfds."""

    def __init__(self, path, vectors, timeout):
        self.vectors = vectors
        self.deadline = deadline_after(timeout)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.peers = {}  # id -> [eventfd per vector]
        self.own = []
        version, fd = recv_msg(self.sock, self.deadline)
        if version != PROTOCOL_VERSION or fd is not None:
            raise PeerError(f"bad version message {version} (fd {fd})")
        self.id, fd = recv_msg(self.sock, self.deadline)
        if self.id is None or not 0 <= self.id <= 65535 or fd is not None:
            raise PeerError(f"bad id message {self.id} (fd {fd})")
        value, self.shm = recv_msg(self.sock, self.deadline)
        if value != -1 or self.shm is None:
            raise PeerError(f"bad region message {value} (fd {self.shm})")
        self.shm_size = os.fstat(self.shm).st_size
        # Other peers' vectors, then our own: the handshake ends with our id once per vector.
        while len(self.own) < vectors:
            value, fd = recv_msg(self.sock, self.deadline)
            if value is None:
                raise PeerError("end of file during the handshake")
            if fd is None:
                raise PeerError(f"message {value} without an fd during the handshake")
            if value == self.id:
                self.own.append(fd)
            else:
                if self.own:
                    raise PeerError(f"peer {value} announced after our own vectors")
                self.peers.setdefault(value, []).append(fd)

    def next_event(self):
        """('join', id, vectors) | ('leave', id) | ('eof',); a join is one message per vector."""
        value, fd = recv_msg(self.sock, self.deadline)
        if value is None:
            return ("eof",)
        if fd is None:
            for old in self.peers.pop(value, []):
                os.close(old)
            return ("leave", value)
        fds = [fd]
        while len(fds) < self.vectors:
            more, mfd = recv_msg(self.sock, self.deadline)
            if more != value or mfd is None:
                raise PeerError(f"join of {value} interrupted by message {more}")
            fds.append(mfd)
        self.peers[value] = fds
        return ("join", value, len(fds))

    def ring(self, peer, vector):
        os.write(self.peers[peer][vector], struct.pack("=Q", 1))

    def wait_own(self, vector, timeout):
        """True when our vector fires within timeout seconds (the count is consumed)."""
        ready, _, _ = select.select([self.own[vector]], [], [], timeout)
        if not ready:
            return False
        os.read(self.own[vector], 8)
        return True


def say(line):
    print(line, flush=True)


def cmd_peer(args):
    peer = Peer(args.socket, args.vectors, args.timeout)
    ids = ",".join(str(p) for p in sorted(peer.peers))
    say(f"handshake id={peer.id} shm_size={peer.shm_size} vectors={len(peer.own)} peers={ids}")

    def ring_all(_signum, _frame):
        for pid in list(peer.peers):
            peer.ring(pid, 0)
        say("rang " + ",".join(str(p) for p in sorted(peer.peers)))

    signal.signal(signal.SIGUSR1, ring_all)
    while True:
        event = peer.next_event()
        say(" ".join([event[0]] + [f"{k}={v}" for k, v in zip(("id", "vectors"), event[1:])]))
        if event[0] == "eof":
            return 0


def cmd_echo(args):
    """Wait for one peer (the guest's QEMU) to join, then ring it back on vector 0 each time it rings us."""
    peer = Peer(args.socket, args.vectors, args.timeout)
    say(f"handshake id={peer.id} vectors={len(peer.own)}")
    event = peer.next_event()
    if event[0] != "join":
        raise PeerError(f"expected a peer to join, got {event}")
    guest = event[1]
    say(f"join id={guest} vectors={event[2]}")
    echoed = 0
    while echoed < args.count:
        ready, _, _ = select.select([peer.own[0], peer.sock], [], [], remaining(peer.deadline))
        if peer.sock in ready:
            event = peer.next_event()
            say(" ".join([event[0]] + [str(x) for x in event[1:]]))
            if event[0] in ("eof", "leave"):
                break
            continue
        if not ready:
            raise PeerError("timed out")
        # One ring back per ring received, even when several came together.
        for _ in range(struct.unpack("=Q", os.read(peer.own[0], 8))[0]):
            peer.ring(guest, 0)
            echoed += 1
    say(f"echoed {echoed}")
    return 0 if echoed == args.count else 1


def cmd_refused(args):
    deadline = deadline_after(args.timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(args.socket)
    # A version no one speaks (so that QEMU fails rather than waits), then the end of the stream.
    value, fd = recv_msg(sock, deadline)
    if value != -1 or fd is not None:
        say(f"not refused: got message {value} (fd {fd})")
        return 1
    value, fd = recv_msg(sock, deadline)
    if value is not None:
        say(f"not refused: got a second message {value}")
        return 1
    say("refused")
    return 0


def qmp_command(sock_file, command):
    sock_file.write(json.dumps({"execute": command}).encode() + b"\n")
    sock_file.flush()
    while True:
        line = sock_file.readline()
        if not line:
            raise PeerError(f"QMP closed during {command}")
        reply = json.loads(line)
        if "return" in reply:
            return reply["return"]
        if "error" in reply:
            raise PeerError(f"QMP {command}: {reply['error']}")


def find_ivshmem(f):
    for bus in qmp_command(f, "query-pci"):
        for dev in bus["devices"]:
            if dev["id"]["vendor"] == 0x1AF4 and dev["id"]["device"] == 0x1110:
                return dev
    raise PeerError("no ivshmem device (1af4:1110) in query-pci")


def read_phys32(f, addr):
    """A 32-bit read of guest-physical memory (MMIO included) through the HMP command xp."""
    f.write(json.dumps({"execute": "human-monitor-command",
                        "arguments": {"command-line": f"xp /1wx {addr:#x}"}}).encode() + b"\n")
    f.flush()
    while True:
        reply = json.loads(f.readline() or b'{"error": "QMP closed"}')
        if "return" in reply:
            return int(reply["return"].split()[-1], 16)
        if "error" in reply:
            raise PeerError(f"xp {addr:#x}: {reply['error']}")


def cmd_qmp_probe(args):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(args.timeout)
    deadline = deadline_after(args.timeout)
    while True:
        try:
            sock.connect(args.qmp)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            time.sleep(0.05)
            remaining(deadline)
    f = sock.makefile("rwb")
    json.loads(f.readline())  # greeting
    qmp_command(f, "qmp_capabilities")
    dev = find_ivshmem(f)
    sizes = {r["bar"]: r["size"] for r in dev["regions"]}
    facts = [f"slot={dev['slot']}"] + [f"bar{b}={sizes[b]}" for b in sorted(sizes)]
    if args.boot:
        # Let the firmware run until it has placed the BARs, then stop the CPU again.
        qmp_command(f, "cont")
        while True:
            bars = {r["bar"]: r["address"] for r in find_ivshmem(f)["regions"]}
            if all(0 < bars.get(b, 0) < 2**64 - 1 for b in (0, 2)):
                break
            time.sleep(0.1)
            remaining(deadline)
        qmp_command(f, "stop")
        facts.append(f"ivposition={read_phys32(f, bars[0] + 8)}")
        facts.append(f"bar2_word0={read_phys32(f, bars[2]):#010x}")
    say("ivshmem " + " ".join(facts))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("peer")
    p.add_argument("--socket", required=True)
    p.add_argument("--vectors", type=int, default=1)
    p.add_argument("--timeout", type=float, default=60)
    p = sub.add_parser("echo")
    p.add_argument("--socket", required=True)
    p.add_argument("--vectors", type=int, default=1)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--timeout", type=float, default=120)
    p = sub.add_parser("refused")
    p.add_argument("--socket", required=True)
    p.add_argument("--timeout", type=float, default=10)
    p = sub.add_parser("qmp-probe")
    p.add_argument("--qmp", required=True)
    p.add_argument("--boot", action="store_true")
    p.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    handlers = {"peer": cmd_peer, "echo": cmd_echo, "refused": cmd_refused, "qmp-probe": cmd_qmp_probe}
    try:
        return handlers[args.command](args)
    except (PeerError, OSError, ValueError) as e:
        print(f"ivpeer.py {args.command}: {e}", file=sys.stderr)
        say(f"error {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
