#!/usr/bin/env python3
"""Send one payload over UDP or TCP and print what came back.

usage: apps_send.py udp|tcp HOST PORT HEXPAYLOAD [TIMEOUT]
prints "REPLY <len> <hex>" (TCP: everything read until TIMEOUT or close)
or "NOREPLY".
"""
import socket
import sys
import time

proto, host, port, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), bytes.fromhex(sys.argv[4])
timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 2.0
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
if proto == "udp":
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(payload, (host, port))
    try:
        data, _ = s.recvfrom(65535)
    except socket.timeout:
        data = b""
else:
    s = socket.create_connection((host, port), timeout=timeout)
    s.sendall(payload)
    data = b""
    end = time.time() + timeout
    while time.time() < end:
        s.settimeout(max(0.05, end - time.time()))
        try:
            chunk = s.recv(65535)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
print("REPLY %d %s" % (len(data), data.hex()) if data else "NOREPLY")
