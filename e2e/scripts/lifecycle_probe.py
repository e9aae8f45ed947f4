#!/usr/bin/python3
"""Clients for the connection-lifecycle and closed-port tests; prints JSON.

usage: lifecycle_probe.py MODE ARGS...

  rst HOST PORT             connect, then close with SO_LINGER 0 (a RST)
  idle HOST PORT WAIT       connect, send nothing, wait up to WAIT s for
                            the server's FIN (recv returns b"")
  hold HOST PORT N SECS     open N connections at once, hold them SECS s,
                            then reset them all
  udpburst HOST PORT N WAIT send N UDP datagrams at once to a closed port,
                            count the ICMP port unreachable received
                            during WAIT s (IPv4)
  proto IFACE DST_MAC       IPv4 protocol 132 and IPv6 next header 132:
                            the ICMP errors received (scapy)

Every loop is bounded in packets and seconds.
"""
import json
import socket
import struct
import sys
import time


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def rst(host, port):
    s = socket.create_connection((host, int(port)), timeout=5)
    local = s.getsockname()[1]
    time.sleep(0.3)  # the handshake's last ACK reaches the server first
    linger0(s)
    s.close()
    return {"port": local}


def idle(host, port, wait):
    s = socket.create_connection((host, int(port)), timeout=5)
    local = s.getsockname()[1]
    t0 = time.monotonic()
    s.settimeout(float(wait))
    try:
        data = s.recv(4096)
        res = {"port": local, "eof": data == b"", "data": data.hex(), "after": time.monotonic() - t0}
    except socket.timeout:
        res = {"port": local, "eof": False, "timeout": True, "after": time.monotonic() - t0}
    s.close()
    return res


def hold(host, port, n, secs):
    socks, errors = [], 0
    for _ in range(int(n)):
        try:
            socks.append(socket.create_connection((host, int(port)), timeout=5))
        except OSError:
            errors += 1
    ports = [s.getsockname()[1] for s in socks]
    time.sleep(float(secs))
    for s in socks:
        linger0(s)
        s.close()
    return {"opened": len(socks), "errors": errors, "ports": ports}


def udpburst(host, port, n, wait):
    port, n, wait = int(port), int(n), float(wait)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    raw.settimeout(0.2)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", 0))
    sport = u.getsockname()[1]
    start = time.time()
    t0 = time.monotonic()
    sent = 0
    for i in range(n):
        try:
            u.sendto(b"burst %d" % i, (host, port))
            sent += 1
        except OSError:
            pass  # a previous ICMP error reported on the socket
    send_time = time.monotonic() - t0
    got = []
    while time.monotonic() - t0 < wait:
        try:
            b = raw.recv(2048)
        except socket.timeout:
            continue
        ihl = (b[0] & 15) * 4
        icmp = b[ihl:]
        if len(icmp) < 8 + 20 + 8 or icmp[0] != 3 or icmp[1] != 3:
            continue
        q = icmp[8:]
        qihl = (q[0] & 15) * 4
        qs, qd = struct.unpack("!HH", q[qihl:qihl + 4])
        if qs == sport and qd == port:
            got.append(round(time.monotonic() - t0, 3))
    return {"sent": sent, "start": start, "send_time": send_time, "wait": wait, "icmp": len(got), "times": got}


def proto(iface, dst_mac):
    from scapy.all import IP, AsyncSniffer, Ether, IPv6, Raw, conf, get_if_hwaddr, sendp
    conf.verb = 0
    src = get_if_hwaddr(iface).lower()
    eth = Ether(src=src, dst=dst_mac)
    out = {}
    for name, pkt in (("v4", eth / IP(src="198.51.100.1", dst="198.51.100.2", proto=132) / Raw(b"x")),
                      ("v6", eth / IPv6(src="2001:db8:100::1", dst="2001:db8:100::2", nh=132) / Raw(b"x"))):
        s = AsyncSniffer(iface=iface, filter="not ether src %s" % src, store=True)
        s.start()
        time.sleep(0.5)
        sendp(pkt, iface=iface)
        time.sleep(0.7)
        replies = []
        for p in s.stop():
            if IP in p and p[IP].proto == 1:
                b = bytes(p[IP].payload)
                replies.append({"type": b[0], "code": b[1], "rest": b[4:8].hex(), "quote": b[8:].hex()})
            elif IPv6 in p and p[IPv6].nh == 58:
                b = bytes(p[IPv6].payload)
                if b[0] in (135, 136):
                    continue  # neighbour discovery
                replies.append({"type": b[0], "code": b[1], "rest": b[4:8].hex(), "quote": b[8:].hex()})
        out[name] = {"sent": bytes(pkt.payload).hex(), "replies": replies}
    return out


MODES = {"rst": rst, "idle": idle, "hold": hold, "udpburst": udpburst, "proto": proto}
print(json.dumps(MODES[sys.argv[1]](*sys.argv[2:]), sort_keys=True))
