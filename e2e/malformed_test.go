package e2e

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"
)

// Malformed frames: e2e/scripts/malformed_frames.py sends every kind below
// perKind times (each kind from its own source MAC). Each frame must give
// exactly one event with the expected verdict, layer and reason, and no
// reply unless the kind says so; afterwards masscanned is alive and still
// answers ping and a SYN.

const perKind = "15"

type malformedWant struct {
	layer, reason string
	reply         string // "" (none) or the reply kind, e.g. "syn-ack"
}

// Kinds the receiving kernel drops before any packet socket sees them (no
// event, no reply).
var kernelDropped = map[string]bool{"eth-vlan-truncated": true}

var malformedKinds = map[string]malformedWant{
	// An 802.1Q tag with nothing after it: the kernel's VLAN untagging
	// (skb_vlan_untag) frees it before the packet taps, so masscanned never
	// sees it. Frames shorter than the Ethernet header cannot be sent on a
	// veth at all; the stack's own truncation checks are unit-tested.
	"eth-vlan-truncated": {"eth", "truncated", ""},
	"eth-qinq-88a8":      {"eth", "vlan-stacked", ""},
	"eth-qinq-8100":      {"eth", "vlan-stacked", ""},
	"eth-multicast-src":  {"eth", "bad-source", ""},
	"eth-not-our-mac":    {"eth", "not-our-mac", ""},
	"eth-unknown-type":   {"eth", "ethertype-not-handled", ""},

	"ipv4-truncated":           {"ipv4", "truncated", ""},
	"ipv4-ihl-lt5":             {"ipv4", "bad-header", ""},
	"ipv4-ihl-past-end":        {"ipv4", "bad-header", ""},
	"ipv4-total-length-lie":    {"ipv4", "bad-length", ""},
	"ipv4-total-length-lt-ihl": {"ipv4", "bad-length", ""},
	"ipv4-bad-version":         {"ipv4", "bad-ip-version", ""},
	"ipv4-bad-checksum":        {"ipv4", "bad-checksum", ""},
	"ipv4-fragment-mf":         {"ipv4", "fragment", ""},
	"ipv4-fragment-offset":     {"ipv4", "fragment", ""},
	"ipv4-broadcast-src":       {"ipv4", "bad-source", ""},
	"ipv4-multicast-src":       {"ipv4", "bad-source", ""},

	"ipv6-truncated":          {"ipv6", "truncated", ""},
	"ipv6-payload-length-lie": {"ipv6", "bad-length", ""},
	"ipv6-bad-version":        {"ipv6", "bad-ip-version", ""},
	"ipv6-ext-too-many":       {"ipv6", "extension-headers", ""},
	"ipv6-hbh-not-first":      {"ipv6", "extension-headers", ""},
	"ipv6-fragment":           {"ipv6", "fragment", ""},
	"ipv6-ext-past-end":       {"ipv6", "extension-headers", ""},
	"ipv6-multicast-src":      {"ipv6", "bad-source", ""},

	"tcp-truncated":          {"tcp", "truncated", ""},
	"tcp-doff-lt5":           {"tcp", "bad-header", ""},
	"tcp-doff-past-segment":  {"tcp", "bad-header", ""},
	"tcp-bad-checksum":       {"tcp", "bad-checksum", ""},
	"tcp6-bad-checksum":      {"tcp", "bad-checksum", ""},
	"tcp-option-past-header": {"tcp", "", "syn-ack"},
	"tcp-option-zero-length": {"tcp", "", "syn-ack"},

	"udp-truncated":      {"udp", "truncated", ""},
	"udp-length-bigger":  {"udp", "bad-length", ""},
	"udp-length-lt8":     {"udp", "bad-length", ""},
	"udp-bad-checksum":   {"udp", "bad-checksum", ""},
	"udp6-zero-checksum": {"udp", "bad-checksum", ""},

	"icmp-truncated":      {"icmpv4", "truncated", ""},
	"icmp-bad-checksum":   {"icmpv4", "bad-checksum", ""},
	"icmpv6-bad-checksum": {"icmpv6", "bad-checksum", ""},

	"arp-truncated": {"arp", "truncated", ""},
	"arp-bad-hwlen": {"arp", "arp-bad-format", ""},
	"arp-bad-plen":  {"arp", "arp-bad-format", ""},

	// A valid SYN in a 9 KB frame (both MTUs raised): answered, its data
	// ignored, as Linux does.
	"oversize-jumbo": {"tcp", "", "syn-ack"},
}

func TestMalformed(t *testing.T) {
	Require(t, "ping", "nc")
	py := python(t)
	l := NewLab(t, LabOptions{})
	for _, x := range [][2]string{{l.Client, l.ClientIf}, {l.Resp, l.RespIf}} {
		l.must("ip", "-n", x[0], "link", "set", x[1], "mtu", "9000")
	}
	// one reply per frame is counted: no SYN-ACK retransmissions
	l.Start("--no-rate-limit", "--max-half-open", "0")
	out, err := l.InClient(180*time.Second, py, script(t, "malformed_frames.py"), l.ClientIf, RespMAC, perKind)
	if err != nil {
		t.Fatalf("malformed_frames.py: %v\n%s", err, out)
	}
	var res map[string]struct {
		MAC     string   `json:"mac"`
		Sent    int      `json:"sent"`
		Replies []string `json:"replies"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("output: %v\n%s", err, out)
	}
	total := 0
	for k := range res {
		if _, ok := malformedKinds[k]; !ok {
			t.Errorf("kind %s has no expectation in the table", k)
		}
		total += res[k].Sent
	}
	if len(res) < 20 || total < 500 {
		t.Errorf("%d kinds, %d frames: want at least 20 kinds and 500 frames", len(res), total)
	}
	// still alive, still answering
	if !l.Alive() {
		t.Fatalf("masscanned died:\n%s", l.Stderr())
	}
	if out, err := l.InClient(10*time.Second, "ping", "-c", "2", "-i", "0.2", "-W", "2", RespIP4); err != nil {
		t.Errorf("ping after the malformed frames: %v\n%s", err, out)
	}
	if out, err := l.InClient(10*time.Second, "nc", "-z", "-w", "3", RespIP4, "4242"); err != nil {
		t.Errorf("SYN after the malformed frames: %v\n%s", err, out)
	}
	evs := stop(t, l)
	names := make([]string, 0, len(res))
	for k := range res {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		r, want := res[k], malformedKinds[k]
		es := find(evs, func(e Event) bool { return strings.EqualFold(e.Str("mac_src"), r.MAC) })
		if kernelDropped[k] {
			if len(es) != 0 || len(r.Replies) != 0 {
				t.Errorf("%s: %d events, replies %v, want none (the kernel drops it)", k, len(es), r.Replies)
			}
			continue
		}
		if len(es) != r.Sent {
			t.Errorf("%s: %d events for %d frames", k, len(es), r.Sent)
		}
		bad := 0
		for _, e := range es {
			ok := e.Str("layer") == want.layer
			if want.reply == "" {
				ok = ok && e.Str("verdict") == "drop" && e.Str("reason") == want.reason
			} else {
				ok = ok && e.Str("verdict") == "send" && e.Str("reply") == want.reply
			}
			if !ok {
				if bad == 0 {
					t.Errorf("%s: event %v, want layer %s reason %q reply %q", k, e, want.layer, want.reason, want.reply)
				}
				bad++
			}
		}
		if want.reply == "" && len(r.Replies) != 0 {
			t.Errorf("%s: replies on the wire: %v", k, r.Replies)
		}
		if want.reply == "syn-ack" && (len(r.Replies) != r.Sent || r.Replies[0] != "tcp:SA") {
			t.Errorf("%s: replies %v, want %d SYN-ACKs", k, r.Replies, r.Sent)
		}
	}
}
