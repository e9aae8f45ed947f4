#!/usr/bin/python3
"""Send the kernel-differential probes and print the replies as JSON.

usage: diff_probe.py IFACE DST_MAC probes|flags|closed

Runs in the client namespace of an e2e lab. Every reply is reduced to the
fields a Linux host shows, with the fields that are random in Linux
replaced by their policy (an IP ID becomes "zero" or "nonzero", a TCP
timestamp value "set"), so the kernel's and masscanned's replies can be
compared as plain dictionaries. The responder's own MAC becomes "self".
"""
import json
import random
import sys
import time

from scapy.all import (ARP, ICMP, IP, TCP, UDP, AsyncSniffer, Ether, ICMPv6EchoRequest,
                       ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6, Raw, conf, get_if_hwaddr,
                       sendp)

conf.verb = 0

CLIENT4, RESP4 = "198.51.100.1", "198.51.100.2"
CLIENT6, RESP6 = "2001:db8:100::1", "2001:db8:100::2"
SOLICITED6 = "ff02::1:ff00:2"

iface, dst_mac, mode = sys.argv[1], sys.argv[2].lower(), sys.argv[3]
src_mac = get_if_hwaddr(iface).lower()

# A Linux client's SYN options: MSS, SACK-permitted, timestamps, NOP, WS.
def linux_opts(mss, tsval):
    return [("MSS", mss), ("SAckOK", b""), ("Timestamp", (tsval, 0)), ("NOP", None), ("WScale", 7)]


def ipid_policy(i):
    return "zero" if i == 0 else "nonzero"


def tcp_options(raw):
    out, i = [], 0
    while i < len(raw):
        kind = raw[i]
        if kind in (0, 1):
            out.append({"kind": kind})
            i += 1
            continue
        ln = raw[i + 1]
        val = raw[i + 2:i + ln]
        o = {"kind": kind, "len": ln}
        if kind == 8:
            # TSval is random per connection in Linux; TSecr echoes ours.
            o["tsval"] = "set" if int.from_bytes(val[:4], "big") else "zero"
            o["tsecr"] = int.from_bytes(val[4:8], "big")
        else:
            o["value"] = val.hex()
        out.append(o)
        i += ln
    return out


def describe(p):
    d = {"frame_len": len(p), "eth_type": p[Ether].type,
         "eth_src": "self" if p[Ether].src.lower() != src_mac else p[Ether].src,
         "eth_dst_is_client": p[Ether].dst.lower() == src_mac}
    if ARP in p:
        a = p[ARP]
        d.update(arp_hwtype=a.hwtype, arp_ptype=a.ptype, arp_hwlen=a.hwlen, arp_plen=a.plen, arp_op=a.op,
                 arp_hwsrc="self" if a.hwsrc.lower() == p[Ether].src.lower() else a.hwsrc,
                 arp_psrc=a.psrc, arp_hwdst=a.hwdst.lower() == src_mac, arp_pdst=a.pdst,
                 trailer=bytes(a.payload).hex())
        return d
    l4 = None
    if IP in p:
        ip = p[IP]
        d.update(ip_version=ip.version, ip_ihl=ip.ihl, ip_tos=ip.tos, ip_df=bool(ip.flags.DF),
                 ip_mf=bool(ip.flags.MF), ip_frag=ip.frag, ip_ttl=ip.ttl, ip_proto=ip.proto,
                 ip_len=ip.len, ip_id=ipid_policy(ip.id), ip_src=ip.src, ip_dst=ip.dst)
        l4 = ip.payload
    elif IPv6 in p:
        ip = p[IPv6]
        d.update(ip_version=ip.version, ip6_tc=ip.tc, ip6_fl="zero" if ip.fl == 0 else "nonzero",
                 ip6_plen=ip.plen, ip6_nh=ip.nh, ip6_hlim=ip.hlim, ip_src=ip.src, ip_dst=ip.dst)
        l4 = ip.payload
    if TCP in p:
        t = p[TCP]
        raw = bytes(t)
        d.update(tcp_sport=t.sport, tcp_dport=t.dport, tcp_flags=int(t.flags), tcp_window=t.window,
                 tcp_dataofs=t.dataofs, tcp_reserved=t.reserved, tcp_urgptr=t.urgptr,
                 tcp_ack=t.ack, tcp_options=tcp_options(raw[20:t.dataofs * 4]),
                 tcp_payload_len=len(raw) - t.dataofs * 4)
    elif l4 is not None:
        raw = bytes(l4)
        if len(raw) >= 4:
            d.update(icmp_type=raw[0], icmp_code=raw[1])
        if IP in p and raw[0] == 0 or IPv6 in p and raw[0] == 129:
            d.update(icmp_rest=raw[4:].hex())
        if IPv6 in p and raw[0] == 136:
            d.update(na_flags=raw[4] >> 5, na_reserved=(int.from_bytes(raw[4:8], "big") & 0x1fffffff),
                     na_target=raw[8:24].hex(), na_options=raw[24:].hex().replace(
                         bytes.fromhex(p[Ether].src.replace(":", "")).hex(), "<self>"))
    return d


def sniffer():
    s = AsyncSniffer(iface=iface, filter="not ether src %s" % src_mac, store=True)
    s.start()
    time.sleep(0.5)
    return s


def send_all(frames, wait=1.0):
    s = sniffer()
    for f in frames:
        sendp(f, iface=iface)
        time.sleep(0.05)
    time.sleep(wait)
    return s.stop()


eth = Ether(src=src_mac, dst=dst_mac)


def probes():
    rnd = random.Random(4)
    seq4, seq6 = rnd.randrange(1 << 32), rnd.randrange(1 << 32)
    payload = bytes(range(16, 72))  # 56 bytes like ping's default
    probes = [
        ("arp", Ether(src=src_mac, dst="ff:ff:ff:ff:ff:ff") /
         ARP(op=1, hwsrc=src_mac, psrc=CLIENT4, hwdst="00:00:00:00:00:00", pdst=RESP4)),
        ("ns-multicast", Ether(src=src_mac, dst="33:33:ff:00:00:02") /
         IPv6(src=CLIENT6, dst=SOLICITED6, hlim=255) / ICMPv6ND_NS(tgt=RESP6) / ICMPv6NDOptSrcLLAddr(lladdr=src_mac)),
        ("ns-unicast", eth / IPv6(src=CLIENT6, dst=RESP6, hlim=255) / ICMPv6ND_NS(tgt=RESP6) /
         ICMPv6NDOptSrcLLAddr(lladdr=src_mac)),
        ("syn4", eth / IP(src=CLIENT4, dst=RESP4, flags="DF", id=rnd.randrange(1, 65536), ttl=64) /
         TCP(sport=41000, dport=80, flags="S", seq=seq4, window=64240, options=linux_opts(1460, 1234567))),
        ("syn6", eth / IPv6(src=CLIENT6, dst=RESP6, hlim=64) /
         TCP(sport=41001, dport=80, flags="S", seq=seq6, window=64800, options=linux_opts(1440, 7654321))),
        ("syn4-noopts", eth / IP(src=CLIENT4, dst=RESP4, flags="DF", id=rnd.randrange(1, 65536), ttl=64) /
         TCP(sport=41002, dport=80, flags="S", seq=seq4, window=1024)),
        ("syn6-noopts", eth / IPv6(src=CLIENT6, dst=RESP6, hlim=64) /
         TCP(sport=41004, dport=80, flags="S", seq=seq6, window=1024)),
        ("syn4-ecn", eth / IP(src=CLIENT4, dst=RESP4, flags="DF", id=rnd.randrange(1, 65536), ttl=64) /
         TCP(sport=41003, dport=80, flags="SEC", seq=seq4, window=64240, options=linux_opts(1460, 1234567))),
        ("echo4", eth / IP(src=CLIENT4, dst=RESP4, flags="DF", id=rnd.randrange(1, 65536), ttl=64) /
         ICMP(type=8, id=0x1234, seq=1) / Raw(payload)),
        ("echo6", eth / IPv6(src=CLIENT6, dst=RESP6, hlim=64) / ICMPv6EchoRequest(id=0x1234, seq=1, data=payload)),
    ]
    # ARP and NS first, so that the kernel knows the client's link-layer
    # address before it answers the rest.
    out = {}
    for name, frame in probes:
        got = send_all([frame], wait=0.7)
        replies = []
        for p in got:
            if name in ("arp",) and ARP not in p:
                continue
            if name.startswith("ns") and not (IPv6 in p and bytes(p[IPv6].payload)[:1] == b"\x88"):
                continue
            if name == "echo4" and not (ICMP in p and p[ICMP].type == 0):
                continue
            if name == "echo6" and not (IPv6 in p and bytes(p[IPv6].payload)[:1] == b"\x81"):
                continue
            if name.startswith("syn") and not (TCP in p and p[TCP].dport == frame[TCP].sport):
                continue
            replies.append(describe(p))
        out[name] = replies
        if name.startswith("syn"):
            out[name + "-ack-ok"] = [r.get("tcp_ack") == (frame[TCP].seq + 1) % (1 << 32) for r in replies]
    # After a handshake, the ACK of a first data segment: window (scaled
    # when the client offered timestamps and window scaling), DF, ID policy,
    # timestamp option. The kernel's listener never reads, so it only acks;
    # masscanned may answer with data: the shape is compared, not the flags.
    for name, mk_ip, sport, opts in (
            ("data4-ts", lambda: IP(src=CLIENT4, dst=RESP4, flags="DF", ttl=64), 41100, True),
            ("data4-plain", lambda: IP(src=CLIENT4, dst=RESP4, flags="DF", ttl=64), 41101, False),
            ("data6-ts", lambda: IPv6(src=CLIENT6, dst=RESP6, hlim=64), 41102, True)):
        out[name] = data_ack(mk_ip, sport, opts)
    return out


def data_ack(mk_ip, sport, opts):
    seq = 1000000
    o = linux_opts(1460, 5000) if opts else []
    s = sniffer()
    sendp(eth / mk_ip() / TCP(sport=sport, dport=80, flags="S", seq=seq, window=64240, options=o), iface=iface)
    time.sleep(0.5)
    got = s.stop()
    sa = [p for p in got if TCP in p and p[TCP].dport == sport and int(p[TCP].flags) & 0x12 == 0x12]
    if not sa:
        return [{"error": "no SYN-ACK"}]
    sa = sa[0][TCP]
    tsecr = 0
    for k, v in sa.options:
        if k == "Timestamp":
            tsecr = v[0]
    data = b"\x01\x02\x03\x04 hello\r\n"
    o = [("NOP", None), ("NOP", None), ("Timestamp", (5001, tsecr))] if opts else []
    ack = eth / mk_ip() / TCP(sport=sport, dport=80, flags="A", seq=seq + 1, ack=sa.seq + 1,
                              window=502 if opts else 64240, options=o)
    s = sniffer()
    sendp(ack, iface=iface)
    sendp(eth / mk_ip() / TCP(sport=sport, dport=80, flags="PA", seq=seq + 1, ack=sa.seq + 1,
                              window=502 if opts else 64240, options=o) / Raw(data), iface=iface)
    time.sleep(0.7)
    got = s.stop()
    out = []
    for p in got:
        if TCP in p and p[TCP].dport == sport and p[TCP].ack == seq + 1 + len(data):
            d = describe(p)
            keep = {k: d[k] for k in d if k in ("ip_df", "ip_id", "ip_ttl", "ip6_hlim", "ip6_fl", "tcp_window",
                                               "tcp_dataofs", "tcp_options", "tcp_urgptr")}
            out.append(keep)
            break
    return out


def flags():
    frames = []
    for f in range(256):
        frames.append(eth / IP(src=CLIENT4, dst=RESP4, flags="DF", ttl=64) /
                      TCP(sport=42000 + f, dport=80, flags=f, seq=1000 + f, ack=0 if f & 0x10 == 0 else 5000,
                          window=64240, options=linux_opts(1460, 1000 + f)))
    s = sniffer()
    sendp(frames, iface=iface, inter=0.002)
    time.sleep(1.5)
    got = s.stop()
    out = {}
    for p in got:
        if TCP in p and 42000 <= p[TCP].dport < 42256:
            f = p[TCP].dport - 42000
            out.setdefault(str(f), []).append(int(p[TCP].flags))
    return out


def closed():
    """Probes to a closed port (81, TCP and UDP) and an unknown protocol:
    the resets and ICMP errors of a kernel without a socket there. One
    sniffer for all; each probe has its own source port (the ICMP errors
    are matched by the packet they quote). Few ICMP errors per peer (4
    IPv4, 3 IPv6: within Linux's per-peer burst of 6), 0.3 s apart."""
    rnd = random.Random(81)

    def ip4(tos=0):
        return IP(src=CLIENT4, dst=RESP4, flags="DF", id=rnd.randrange(1, 65536), ttl=64, tos=tos)

    def ip6(tc=0):
        return IPv6(src=CLIENT6, dst=RESP6, hlim=64, tc=tc)

    def syn_opts(ts):
        return linux_opts(1460, ts)

    seq = rnd.randrange(1 << 32)
    probes = []
    for v, mk in (("4", ip4), ("6", ip6)):
        base = 43000 if v == "4" else 43100
        probes += [
            ("syn" + v, mk() / TCP(sport=base + 1, dport=81, flags="S", seq=seq, window=64240, options=syn_opts(1111))),
            ("syn" + v + "-tos", mk(0xb9) / TCP(sport=base + 2, dport=81, flags="S", seq=seq, window=64240,
                                                options=syn_opts(2222))),
            ("syn" + v + "-data", mk() / TCP(sport=base + 3, dport=81, flags="S", seq=seq, window=64240) /
             Raw(b"0123456789")),
            ("ack" + v, mk() / TCP(sport=base + 4, dport=81, flags="A", seq=seq, ack=0x12345678, window=502,
                                   options=[("NOP", None), ("NOP", None), ("Timestamp", (3333, 4444))])),
            ("pshack" + v, mk() / TCP(sport=base + 5, dport=81, flags="PA", seq=seq, ack=0x23456789, window=502) /
             Raw(b"GET / HTTP/1.0\r\n\r\n")),
            ("fin" + v, mk() / TCP(sport=base + 6, dport=81, flags="F", seq=seq, window=1024)),
            ("null" + v, mk() / TCP(sport=base + 7, dport=81, flags="", seq=seq, window=1024)),
            ("xmas" + v, mk() / TCP(sport=base + 8, dport=81, flags="FPU", seq=seq, window=1024, urgptr=0)),
            ("rst" + v, mk() / TCP(sport=base + 9, dport=81, flags="R", seq=seq, window=0)),
        ]
    probes += [
        ("udp4", ip4() / UDP(sport=43201, dport=81) / Raw(b"hello")),
        ("udp4-tos", ip4(0xb9) / UDP(sport=43202, dport=81) / Raw(b"hello tos")),
        ("udp4-big", ip4() / UDP(sport=43203, dport=81) / Raw(bytes(range(256)) * 3)),
        ("proto4", IP(src=CLIENT4, dst=RESP4, flags="DF", id=rnd.randrange(1, 65536), ttl=64, proto=132) /
         Raw(b"sctp?")),
        ("udp6", ip6() / UDP(sport=43301, dport=81) / Raw(b"hello")),
        ("udp6-tc-big", ip6(0xb9) / UDP(sport=43302, dport=81) / Raw(bytes(range(256)) * 5)),
        ("proto6", IPv6(src=CLIENT6, dst=RESP6, hlim=64, nh=132) / Raw(b"sctp?")),
    ]
    frames = {name: eth / pkt for name, pkt in probes}
    s = sniffer()
    for name, _ in probes:
        sendp(frames[name], iface=iface)
        time.sleep(0.3)
    time.sleep(1.0)
    got = s.stop()

    def ip_of(f):
        return f[IP] if IP in f else f[IPv6]

    out = {name: [] for name, _ in probes}
    for p in got:
        if TCP in p:
            for name, f in frames.items():
                if TCP in f and p[TCP].dport == f[TCP].sport and p[TCP].sport == 81:
                    d = describe(p)
                    d["tcp_seq"] = p[TCP].seq
                    out[name].append(d)
            continue
        if IP in p and p[IP].proto == 1:
            raw = bytes(p[IP].payload)
            if len(raw) < 8 or raw[0] != 3:
                continue
            q = raw[8:]
            match = None
            for name, f in frames.items():
                if IP in f and TCP not in f and len(q) >= 20 and bytes(f[IP])[:len(q)] == q:
                    match = name
            if match is None:
                out.setdefault("unmatched", []).append(raw.hex())
                continue
        elif IPv6 in p and p[IPv6].nh == 58:
            raw = bytes(p[IPv6].payload)
            if len(raw) < 8 or raw[0] not in (1, 4):
                continue  # neighbour discovery
            q = raw[8:]
            match = None
            for name, f in frames.items():
                if IPv6 in f and TCP not in f and len(q) >= 40 and bytes(f[IPv6])[:len(q)] == q:
                    match = name
            if match is None:
                out.setdefault("unmatched", []).append(raw.hex())
                continue
        else:
            continue
        d = describe(p)
        sent = bytes(ip_of(frames[match]))
        d.update(icmp_rest=raw[4:8].hex(), quote_len=len(raw) - 8, sent_len=len(sent))
        out[match].append(d)
    return out


print(json.dumps({"probes": probes, "flags": flags, "closed": closed}[mode](), sort_keys=True))
