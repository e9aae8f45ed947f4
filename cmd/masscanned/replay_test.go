package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// The replay test: a committed capture in (testdata/replay.pcap), the
// replies out (--write-pcap), compared with the committed expected replies
// (testdata/replay-masscanned.pcap) byte for byte under the masscanned
// personality with a fixed cookie key. MASSCANNED_UPDATE_REPLAY=1 rewrites
// both files.

var (
	rpOurMAC = net.HardwareAddr{0x52, 0x1c, 0x4e, 0xc2, 0xa4, 0x1f}
	rpCliMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	rpOur4   = net.IP{198, 51, 100, 2}
	rpCli4   = net.IP{198, 51, 100, 1}
	rpOur6   = net.ParseIP("2001:db8:100::2")
	rpCli6   = net.ParseIP("2001:db8:100::1")
)

// replayFrames is the capture: what each frame is, and the reply kind
// expected ("" = none).
func replayFrames(t *testing.T) (frames [][]byte, want []string) {
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	add := func(reply string, ls ...gopacket.SerializableLayer) {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, append([]byte(nil), buf.Bytes()...))
		want = append(want, reply)
	}
	eth := func(et layers.EthernetType, dst net.HardwareAddr) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: rpCliMAC, DstMAC: dst, EthernetType: et}
	}
	ip4 := func(p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: p, SrcIP: rpCli4, DstIP: rpOur4}
	}
	ip6 := func(p layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: p, SrcIP: rpCli6, DstIP: rpOur6}
	}
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	add("arp-reply", eth(layers.EthernetTypeARP, bcast), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: rpCliMAC, SourceProtAddress: rpCli4,
		DstHwAddress: make([]byte, 6), DstProtAddress: rpOur4})
	add("echo-reply", eth(layers.EthernetTypeIPv4, rpOurMAC), ip4(layers.IPProtocolICMPv4),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, gopacket.Payload("replay"))
	{
		ip := ip6(layers.IPProtocolICMPv6)
		ip.DstIP = net.ParseIP("ff02::1:ff00:2")
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(135, 0)}
		_ = ic.SetNetworkLayerForChecksum(ip)
		add("na", eth(layers.EthernetTypeIPv6, net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 2}), ip, ic,
			&layers.ICMPv6NeighborSolicitation{TargetAddress: rpOur6, Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: rpCliMAC}}})
	}
	{
		ip := ip4(layers.IPProtocolTCP)
		tc := &layers.TCP{SrcPort: 40000, DstPort: 445, Seq: 1000, SYN: true, Window: 1024}
		_ = tc.SetNetworkLayerForChecksum(ip)
		add("syn-ack", eth(layers.EthernetTypeIPv4, rpOurMAC), ip, tc)
	}
	{
		ip := ip4(layers.IPProtocolUDP)
		u := &layers.UDP{SrcPort: 5353, DstPort: 53}
		_ = u.SetNetworkLayerForChecksum(ip)
		q := &layers.DNS{ID: 1234, QDCount: 1, Questions: []layers.DNSQuestion{{Name: []byte("example.com"), Type: layers.DNSTypeA, Class: layers.DNSClassIN}}}
		add("data", eth(layers.EthernetTypeIPv4, rpOurMAC), ip, u, q)
	}
	{
		ip := ip4(layers.IPProtocolUDP)
		u := &layers.UDP{SrcPort: 12345, DstPort: 3478}
		_ = u.SetNetworkLayerForChecksum(ip)
		add("data", eth(layers.EthernetTypeIPv4, rpOurMAC), ip, u,
			gopacket.Payload("\x00\x01\x00\x00\x21\x12\xa4\x42\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	}
	{
		ip := ip4(layers.IPProtocolICMPv4)
		ip.DstIP = net.IP{203, 0, 113, 9}
		add("", eth(layers.EthernetTypeIPv4, rpOurMAC), ip, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})
	}
	{
		e := eth(layers.EthernetTypeIPv4, net.HardwareAddr{0x02, 0, 0, 0, 0, 9})
		add("", e, ip4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})
	}
	return frames, want
}

func writePcap(t *testing.T, path string, frames [][]byte, start time.Time) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
}

func readPcap(t *testing.T, path string) [][]byte {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for {
		d, _, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
}

func TestReplay(t *testing.T) {
	in := filepath.Join("testdata", "replay.pcap")
	golden := filepath.Join("testdata", "replay-masscanned.pcap")
	frames, want := replayFrames(t)
	update := os.Getenv("MASSCANNED_UPDATE_REPLAY") == "1"
	if update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		writePcap(t, in, frames, time.Unix(1764072000, 0))
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, pers := range []string{"masscanned", "linux"} {
		out := filepath.Join(dir, pers+".pcap")
		var stdout, stderr bytes.Buffer
		code := run([]string{"--read-pcap", in, "--write-pcap", out, "--format", "json", "-m", rpOurMAC.String(),
			"--self-ip-list", "198.51.100.2,2001:db8:100::2", "--cookie-key-file", key, "--personality", pers}, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", pers, code, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) != len(frames) {
			t.Fatalf("%s: %d events for %d frames", pers, len(lines), len(frames))
		}
		replies := 0
		for i, line := range lines {
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatal(err)
			}
			got, _ := ev["reply"].(string)
			if got != want[i] {
				t.Errorf("%s frame %d: reply %q, want %q (%s)", pers, i, got, want[i], line)
			}
			if got != "" {
				replies++
			}
		}
		gotReplies := readPcap(t, out)
		if len(gotReplies) != replies {
			t.Errorf("%s: %d frames in the reply capture, %d answered events", pers, len(gotReplies), replies)
		}
		if pers != "masscanned" {
			continue
		}
		if update {
			if err := os.WriteFile(golden, mustRead(t, out), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		wantReplies := readPcap(t, golden)
		if len(wantReplies) != len(gotReplies) {
			t.Fatalf("%d replies, golden has %d", len(gotReplies), len(wantReplies))
		}
		for i := range wantReplies {
			if !bytes.Equal(wantReplies[i], gotReplies[i]) {
				t.Errorf("reply %d differs from %s:\n got % x\nwant % x", i, golden, gotReplies[i], wantReplies[i])
			}
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
