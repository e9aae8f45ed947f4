#!/usr/bin/python3
"""Send malformed frames of many named kinds and report the replies.

usage: malformed_frames.py IFACE DST_MAC COUNT

Runs in the client namespace of an e2e lab. Every kind is sent COUNT times
from its own source MAC (02:00:00:00:KK:00, or 03:... for the multicast
source kind), so that masscanned's events and any reply can be matched to
the kind. Prints {kind: {"mac": ..., "sent": n, "replies": [summaries]}}.
"""
import json
import sys
import time

from scapy.all import (ARP, ICMP, IP, TCP, UDP, AsyncSniffer, Dot1Q, Ether, ICMPv6EchoRequest,
                       IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, Raw, conf,
                       get_if_hwaddr, raw, sendp)

conf.verb = 0

CLIENT4, RESP4 = "198.51.100.1", "198.51.100.2"
CLIENT6, RESP6 = "2001:db8:100::1", "2001:db8:100::2"

iface, dst_mac, count = sys.argv[1], sys.argv[2].lower(), int(sys.argv[3])
client_mac = get_if_hwaddr(iface).lower()


def syn(sport=33000, **kw):
    return TCP(sport=sport, dport=80, flags="S", seq=12345, window=1024, **kw)


def ip4(**kw):
    return IP(src=CLIENT4, dst=RESP4, **kw)


def ip6(**kw):
    return IPv6(src=CLIENT6, dst=RESP6, **kw)


def cut(pkt, n):
    """The first n bytes of pkt after its Ethernet header."""
    b = raw(pkt)
    return b[:n]


def fix_ip4_checksum(b):
    """b is an IPv4 header + rest: recompute the header checksum in place."""
    b = bytearray(b)
    ihl = (b[0] & 0x0f) * 4
    b[10:12] = b"\0\0"
    s = 0
    for i in range(0, ihl, 2):
        s += (b[i] << 8) | b[i + 1]
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    c = ~s & 0xffff
    b[10], b[11] = c >> 8, c & 0xff
    return bytes(b)


def syn_raw_opts(opts):
    opts = opts + b"\x01" * (-len(opts) % 4)  # pad with NOPs
    pkt = ip4() / TCP(sport=33001, dport=80, flags="S", seq=12345, window=1024,
                      options=[], dataofs=5 + len(opts) // 4) / Raw(opts)
    # scapy puts opts after the header as payload; the data offset covers
    # them, so they are the options area. The checksum is computed by scapy
    # over header + "payload", which is the whole segment: correct.
    return pkt


# kind -> builder of the L2 payload (bytes or scapy packet after Ethernet),
# ethertype, and optional Ethernet destination.
def kinds():
    k = {}
    eth4, eth6, etharp = 0x0800, 0x86dd, 0x0806
    # --- Ethernet / VLAN
    k["eth-vlan-truncated"] = (b"\x00\x01", 0x8100)
    k["eth-qinq-88a8"] = (raw(Dot1Q(vlan=10, type=0x8100) / Dot1Q(vlan=20, type=0x0800) / ip4() / syn()), 0x88a8)
    k["eth-qinq-8100"] = (raw(Dot1Q(vlan=10, type=0x8100) / Dot1Q(vlan=20, type=0x0800) / ip4() / syn()), 0x8100)
    k["eth-multicast-src"] = (raw(ip4() / syn()), eth4)  # source MAC made multicast below
    k["eth-not-our-mac"] = (raw(ip4() / syn()), eth4, "02:99:99:99:99:99")
    k["eth-unknown-type"] = (b"\x00" * 46, 0x88b5)
    # --- IPv4
    k["ipv4-truncated"] = (cut(ip4() / syn(), 12), eth4)
    b = bytearray(raw(ip4() / syn()))
    b[0] = 0x44
    k["ipv4-ihl-lt5"] = (fix_ip4_checksum(b), eth4)
    b = bytearray(raw(ip4() / syn()))
    b[0] = 0x4f  # IHL 15 = 60 bytes, more than the 40-byte packet
    k["ipv4-ihl-past-end"] = (bytes(b), eth4)
    k["ipv4-total-length-lie"] = (raw(ip4(len=1000) / syn()), eth4)
    k["ipv4-total-length-lt-ihl"] = (raw(ip4(len=12) / syn()), eth4)
    b = bytearray(raw(ip4() / syn()))
    b[0] = 0x55
    k["ipv4-bad-version"] = (fix_ip4_checksum(b), eth4)
    k["ipv4-bad-checksum"] = (raw(ip4(chksum=0x1234) / syn()), eth4)
    k["ipv4-fragment-mf"] = (raw(ip4(flags="MF", id=7) / syn()), eth4)
    k["ipv4-fragment-offset"] = (raw(ip4(frag=10, id=7) / syn()), eth4)
    k["ipv4-broadcast-src"] = (raw(IP(src="255.255.255.255", dst=RESP4) / syn()), eth4)
    k["ipv4-multicast-src"] = (raw(IP(src="224.0.0.9", dst=RESP4) / syn()), eth4)
    # --- IPv6
    k["ipv6-truncated"] = (cut(ip6() / syn(), 30), eth6)
    k["ipv6-payload-length-lie"] = (raw(ip6(plen=1000) / syn()), eth6)
    b = bytearray(raw(ip6() / syn()))
    b[0] = 0x40 | (b[0] & 0x0f)
    k["ipv6-bad-version"] = (bytes(b), eth6)
    many = ip6()
    for _ in range(12):
        many = many / IPv6ExtHdrDestOpt()
    k["ipv6-ext-too-many"] = (raw(many / syn()), eth6)
    k["ipv6-hbh-not-first"] = (raw(ip6() / IPv6ExtHdrDestOpt() / IPv6ExtHdrHopByHop() / syn()), eth6)
    k["ipv6-fragment"] = (raw(ip6() / IPv6ExtHdrFragment(m=1, id=9) / syn()), eth6)
    b = bytearray(raw(ip6() / IPv6ExtHdrDestOpt() / syn()))
    b[41] = 40  # header length (40+1)*8 bytes, past the payload
    k["ipv6-ext-past-end"] = (bytes(b), eth6)
    k["ipv6-multicast-src"] = (raw(IPv6(src="ff02::1", dst=RESP6) / syn()), eth6)
    # --- TCP
    k["tcp-truncated"] = (fix_len4(cut(ip4() / syn(), 20 + 12)), eth4)
    t = bytearray(raw(ip4() / syn()))
    t[20 + 12] = 0x40  # data offset 4
    k["tcp-doff-lt5"] = (bytes(t), eth4)
    t = bytearray(raw(ip4() / syn()))
    t[20 + 12] = 0xf0  # data offset 15 = 60 bytes, past the 20-byte segment
    k["tcp-doff-past-segment"] = (bytes(t), eth4)
    k["tcp-bad-checksum"] = (raw(ip4() / syn(chksum=0x4321)), eth4)
    k["tcp6-bad-checksum"] = (raw(ip6() / syn(chksum=0x4321)), eth6)
    # options that run past the header / have a zero length: Linux stops
    # parsing and still answers the SYN
    k["tcp-option-past-header"] = (raw(syn_raw_opts(b"\x02\x04\x05\xb4\x08\x0a\x00\x00")), eth4)
    k["tcp-option-zero-length"] = (raw(syn_raw_opts(b"\x02\x00\x05\xb4")), eth4)
    # --- UDP
    k["udp-truncated"] = (fix_len4(cut(ip4() / UDP(sport=33002, dport=53), 24)), eth4)
    k["udp-length-bigger"] = (raw(ip4() / UDP(sport=33002, dport=53, len=500) / Raw(b"x" * 10)), eth4)
    k["udp-length-lt8"] = (raw(ip4() / UDP(sport=33002, dport=53, len=4) / Raw(b"x" * 10)), eth4)
    k["udp-bad-checksum"] = (raw(ip4() / UDP(sport=33002, dport=53, chksum=0x1111) / Raw(b"x" * 10)), eth4)
    k["udp6-zero-checksum"] = (raw(ip6() / UDP(sport=33002, dport=53, chksum=0) / Raw(b"x" * 10)), eth6)
    # --- ICMP
    k["icmp-truncated"] = (fix_len4(cut(ip4() / ICMP(), 24)), eth4)
    k["icmp-bad-checksum"] = (raw(ip4() / ICMP(chksum=0x2222) / Raw(b"y" * 16)), eth4)
    k["icmpv6-bad-checksum"] = (raw(ip6() / ICMPv6EchoRequest(cksum=0x3333, data=b"z" * 16)), eth6)
    # --- ARP
    arp = ARP(op=1, hwsrc=client_mac, psrc=CLIENT4, pdst=RESP4)
    k["arp-truncated"] = (raw(arp)[:20], etharp)
    k["arp-bad-hwlen"] = (raw(ARP(op=1, hwlen=8, hwsrc=client_mac, psrc=CLIENT4, pdst=RESP4))[:28], etharp)
    k["arp-bad-plen"] = (raw(ARP(op=1, plen=16, hwsrc=client_mac, psrc=CLIENT4, pdst=RESP4))[:28], etharp)
    # --- oversize: a jumbo frame beyond the 1500-byte MTU (the lab raises
    # both MTUs so that the veth carries it)
    k["oversize-jumbo"] = (raw(ip4() / syn(sport=33003) / Raw(b"J" * 8000)), eth4)
    return k


def fix_len4(b):
    """Set the IPv4 total length to len(b) and fix the header checksum."""
    b = bytearray(b)
    b[2], b[3] = len(b) >> 8, len(b) & 0xff
    return fix_ip4_checksum(b)


def main():
    ks = kinds()
    frames, macs = [], {}
    for i, (name, spec) in enumerate(sorted(ks.items())):
        payload, etype = spec[0], spec[1]
        dst = spec[2] if len(spec) > 2 else dst_mac
        first = 0x03 if name == "eth-multicast-src" else 0x02
        mac = "%02x:00:00:00:%02x:00" % (first, i + 1)
        macs[name] = mac
        f = Ether(src=mac, dst=dst, type=etype) / Raw(payload)
        frames += [f] * count
    s = AsyncSniffer(iface=iface, filter="not ether src %s" % client_mac, store=True)
    s.start()
    time.sleep(0.5)
    sendp(frames, iface=iface, inter=0.001)
    time.sleep(1.5)
    got = s.stop()
    byname = {m: n for n, m in macs.items()}
    out = {n: {"mac": m, "sent": count, "replies": []} for n, m in macs.items()}
    for p in got:
        n = byname.get(p[Ether].dst.lower())
        if n is None:
            continue
        r = "eth"
        if TCP in p:
            r = "tcp:" + str(p[TCP].flags)
        elif ICMP in p:
            r = "icmp:%d" % p[ICMP].type
        elif ARP in p:
            r = "arp:%d" % p[ARP].op
        elif UDP in p:
            r = "udp"
        out[n]["replies"].append(r)
    print(json.dumps(out, sort_keys=True))


main()
