package event

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	macClient = [6]byte{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	macUs     = [6]byte{0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE}
	macBcast  = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

// testEvents are the events of the golden tests, by name.
func testEvents() []struct {
	name string
	ev   Event
} {
	return []struct {
		name string
		ev   Event
	}{
		{"arp-answered", Event{
			Time: time.Unix(1700000000, 5_000_000), Verdict: Answered, Layer: "arp",
			SrcMAC: macClient, DstMAC: macBcast, EtherType: 0x0806,
			SrcIP: netip.MustParseAddr("192.0.2.1"), DstIP: netip.MustParseAddr("192.0.2.2"),
			ARPOp: 1, Reply: "arp-reply", ReplyLen: 42,
		}},
		{"tcp-syn-answered", Event{
			Time: time.Unix(1700000001, 123_456_789), Verdict: Answered, Layer: "tcp",
			SrcMAC: macClient, DstMAC: macUs, EtherType: 0x0800, VLAN: 101,
			SrcIP: netip.MustParseAddr("198.51.100.7"), DstIP: netip.MustParseAddr("192.0.2.2"),
			IPProto: 6, SrcPort: 40000, DstPort: 80, TCPFlags: 0x02, Seq: 12345,
			Reply: "syn-ack", ReplyLen: 58,
		}},
		{"dropped-bad-checksum", Event{
			Time: time.Unix(1700000002, 999_999_999), Verdict: Dropped, Reason: ReasonBadChecksum, Layer: "ipv4",
			SrcMAC: macClient, DstMAC: macUs, EtherType: 0x0800,
			SrcIP: netip.MustParseAddr("203.0.113.9"), DstIP: netip.MustParseAddr("192.0.2.2"),
			IPProto: 17,
		}},
		{"udp-app", Event{
			Time: time.Unix(1700000003, 0), Verdict: Answered, Layer: "udp",
			SrcMAC: macClient, DstMAC: macUs, EtherType: 0x86dd,
			SrcIP: netip.MustParseAddr("2001:db8::1"), DstIP: netip.MustParseAddr("2001:db8::2"),
			IPProto: 17, SrcPort: 5353, DstPort: 53, PayloadLen: 29, Reply: "data", ReplyLen: 120,
			App: &App{Proto: "dns", Fields: []Field{
				{"qname", "a b.example"},
				{"note", `say "hi"=1`},
				{"qtype", 1},
				{"flags", []string{"rd", "ad"}},
				{"qname", "dup"},
				{"ok", true},
			}, Raw: []byte("abc")},
		}},
		{"icmp-suppressed", Event{
			Time: time.Unix(1700000004, 10_000_000), Verdict: Received, Reason: ReasonRateLimited, Layer: "icmpv4",
			SrcMAC: macClient, DstMAC: macUs, EtherType: 0x0800,
			SrcIP: netip.MustParseAddr("198.51.100.7"), DstIP: netip.MustParseAddr("192.0.2.2"),
			IPProto: 1, ICMPType: 8, ICMPCode: 0, PayloadLen: 56, Suppressed: "echo-reply",
		}},
		{"eth-unknown", Event{
			Time: time.Unix(1700000005, 0), Verdict: Dropped, Reason: ReasonEtherType, Layer: "eth",
			SrcMAC: macClient, DstMAC: macUs, EtherType: 0x88b5,
		}},
	}
}

func TestGolden(t *testing.T) {
	golden := map[string]map[string]string{
		"console": {
			"arp-answered":         "1700000000.005\tarp\tsend\t02:00:00:00:00:01\tff:ff:ff:ff:ff:ff\t192.0.2.1\t192.0.2.2\t\t\t\t1\treply=arp-reply",
			"tcp-syn-answered":     "1700000001.123\ttcp\tsend\t02:00:00:00:00:01\t02:aa:bb:cc:dd:ee\t198.51.100.7\t192.0.2.2\ttcp\t40000\t80\tS\t12345\t0\treply=syn-ack",
			"dropped-bad-checksum": "1700000002.999\tipv4\tdrop\t02:00:00:00:00:01\t02:aa:bb:cc:dd:ee\t203.0.113.9\t192.0.2.2\tudp\t\t\treason=bad-checksum",
			"udp-app":              "1700000003.000\tudp\tsend\t02:00:00:00:00:01\t02:aa:bb:cc:dd:ee\t2001:db8::1\t2001:db8::2\tudp\t5353\t53\treply=data\tapp=dns\tqname=\"a b.example\"\tnote=\"say \\\"hi\\\"=1\"\tqtype=1\tflags=rd,ad\tqname=dup\tok=true",
			"icmp-suppressed":      "1700000004.010\ticmpv4\trecv\t02:00:00:00:00:01\t02:aa:bb:cc:dd:ee\t198.51.100.7\t192.0.2.2\ticmp\t\t\t8\t0\tsuppressed=echo-reply",
			"eth-unknown":          "1700000005.000\teth\tdrop\t02:00:00:00:00:01\t02:aa:bb:cc:dd:ee\t\t\t\t\t\t0x88b5\treason=ethertype-not-handled",
		},
		"logfmt": {
			"arp-answered":         "ts=1700000000.005 layer=arp verdict=send mac_src=02:00:00:00:00:01 mac_dst=ff:ff:ff:ff:ff:ff eth_type=0x0806 ip_src=192.0.2.1 ip_dst=192.0.2.2 arp_op=1 reply=arp-reply reply_len=42",
			"tcp-syn-answered":     "ts=1700000001.123 layer=tcp verdict=send mac_src=02:00:00:00:00:01 mac_dst=02:aa:bb:cc:dd:ee vlan=100 eth_type=0x0800 ip_src=198.51.100.7 ip_dst=192.0.2.2 proto=tcp port_src=40000 port_dst=80 tcp_flags=S seq=12345 ack=0 reply=syn-ack reply_len=58",
			"dropped-bad-checksum": "ts=1700000002.999 layer=ipv4 verdict=drop reason=bad-checksum mac_src=02:00:00:00:00:01 mac_dst=02:aa:bb:cc:dd:ee eth_type=0x0800 ip_src=203.0.113.9 ip_dst=192.0.2.2 proto=udp",
			"udp-app":              "ts=1700000003.000 layer=udp verdict=send mac_src=02:00:00:00:00:01 mac_dst=02:aa:bb:cc:dd:ee eth_type=0x86dd ip_src=2001:db8::1 ip_dst=2001:db8::2 proto=udp port_src=5353 port_dst=53 payload_len=29 reply=data reply_len=120 app=dns app_qname=\"a b.example\" app_note=\"say \\\"hi\\\"=1\" app_qtype=1 app_flags=rd,ad app_ok=true",
			"icmp-suppressed":      "ts=1700000004.010 layer=icmpv4 verdict=recv reason=rate-limited mac_src=02:00:00:00:00:01 mac_dst=02:aa:bb:cc:dd:ee eth_type=0x0800 ip_src=198.51.100.7 ip_dst=192.0.2.2 proto=icmp icmp_type=8 icmp_code=0 payload_len=56 suppressed=echo-reply",
			"eth-unknown":          "ts=1700000005.000 layer=eth verdict=drop reason=ethertype-not-handled mac_src=02:00:00:00:00:01 mac_dst=02:aa:bb:cc:dd:ee eth_type=0x88b5",
		},
		"json": {
			"arp-answered":         `{"ts":"2023-11-14T22:13:20.005000000Z","verdict":"send","layer":"arp","mac_src":"02:00:00:00:00:01","mac_dst":"ff:ff:ff:ff:ff:ff","eth_type":2054,"ip_src":"192.0.2.1","ip_dst":"192.0.2.2","arp_op":1,"reply":"arp-reply","reply_len":42}`,
			"tcp-syn-answered":     `{"ts":"2023-11-14T22:13:21.123456789Z","verdict":"send","layer":"tcp","mac_src":"02:00:00:00:00:01","mac_dst":"02:aa:bb:cc:dd:ee","vlan":100,"eth_type":2048,"ip_src":"198.51.100.7","ip_dst":"192.0.2.2","proto":"tcp","port_src":40000,"port_dst":80,"tcp_flags":"S","seq":12345,"reply":"syn-ack","reply_len":58}`,
			"dropped-bad-checksum": `{"ts":"2023-11-14T22:13:22.999999999Z","verdict":"drop","reason":"bad-checksum","layer":"ipv4","mac_src":"02:00:00:00:00:01","mac_dst":"02:aa:bb:cc:dd:ee","eth_type":2048,"ip_src":"203.0.113.9","ip_dst":"192.0.2.2","proto":"udp"}`,
			"udp-app":              `{"ts":"2023-11-14T22:13:23.000000000Z","verdict":"send","layer":"udp","mac_src":"02:00:00:00:00:01","mac_dst":"02:aa:bb:cc:dd:ee","eth_type":34525,"ip_src":"2001:db8::1","ip_dst":"2001:db8::2","proto":"udp","port_src":5353,"port_dst":53,"payload_len":29,"reply":"data","reply_len":120,"app":{"proto":"dns","qname":"a b.example","note":"say \"hi\"=1","qtype":1,"flags":["rd","ad"],"ok":true,"raw":"YWJj"}}`,
			"icmp-suppressed":      `{"ts":"2023-11-14T22:13:24.010000000Z","verdict":"recv","reason":"rate-limited","layer":"icmpv4","mac_src":"02:00:00:00:00:01","mac_dst":"02:aa:bb:cc:dd:ee","eth_type":2048,"ip_src":"198.51.100.7","ip_dst":"192.0.2.2","proto":"icmp","icmp_type":8,"icmp_code":0,"payload_len":56,"suppressed":"echo-reply"}`,
			"eth-unknown":          `{"ts":"2023-11-14T22:13:25.000000000Z","verdict":"drop","reason":"ethertype-not-handled","layer":"eth","mac_src":"02:00:00:00:00:01","mac_dst":"02:aa:bb:cc:dd:ee","eth_type":34997}`,
		},
	}
	for format, want := range golden {
		mk, err := ParseFormat(format)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range testEvents() {
			t.Run(format+"/"+tc.name, func(t *testing.T) {
				var out bytes.Buffer
				s := mk(&out)
				if err := s.Write(&tc.ev); err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				got := out.String()
				if got != want[tc.name]+"\n" {
					t.Errorf("got\n%q\nwant\n%q", got, want[tc.name]+"\n")
				}
			})
		}
	}
}

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{{"console", true}, {"logfmt", true}, {"json", true}, {"xml", false}, {"", false}, {"JSON", false}} {
		_, err := ParseFormat(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ParseFormat(%q) error = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestJSONParseBack(t *testing.T) {
	var out bytes.Buffer
	s := NewJSON(&out)
	evs := testEvents()
	for i := range evs {
		if err := s.Write(&evs[i].ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(evs) {
		t.Fatalf("%d lines, want %d", len(lines), len(evs))
	}
	for i, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%s: %v", evs[i].name, err)
		}
		e := &evs[i].ev
		ts, err := time.Parse(time.RFC3339Nano, m["ts"].(string))
		if err != nil || !ts.Equal(e.Time) {
			t.Errorf("%s: ts %v (%v), want %v", evs[i].name, ts, err, e.Time)
		}
		if m["verdict"] != e.Verdict.String() || m["layer"] != e.Layer {
			t.Errorf("%s: verdict/layer %v/%v", evs[i].name, m["verdict"], m["layer"])
		}
		if e.SrcIP.IsValid() && m["ip_src"] != e.SrcIP.String() {
			t.Errorf("%s: ip_src %v", evs[i].name, m["ip_src"])
		}
		if e.App != nil {
			app := m["app"].(map[string]any)
			if app["proto"] != e.App.Proto || app["raw"] != "YWJj" || app["qname"] != "a b.example" {
				t.Errorf("%s: app %v", evs[i].name, app)
			}
		}
	}
}

func TestZeroMACOmitted(t *testing.T) {
	e := Event{Time: time.Unix(1, 0), Layer: "eth", Verdict: Dropped, Reason: ReasonTruncated}
	for _, tc := range []struct {
		format, want string
	}{
		{"console", "1.000\teth\tdrop\t\t\t\t\t\t\t\t0x0000\treason=truncated\n"},
		{"logfmt", "ts=1.000 layer=eth verdict=drop reason=truncated\n"},
		{"json", `{"ts":"1970-01-01T00:00:01.000000000Z","verdict":"drop","reason":"truncated","layer":"eth"}` + "\n"},
	} {
		var out bytes.Buffer
		mk, _ := ParseFormat(tc.format)
		s := mk(&out)
		if err := s.Write(&e); err != nil {
			t.Fatal(err)
		}
		_ = s.Flush()
		if out.String() != tc.want {
			t.Errorf("%s: got %q want %q", tc.format, out.String(), tc.want)
		}
	}
}

func TestTCPFlagString(t *testing.T) {
	for _, tc := range []struct {
		f    uint8
		want string
	}{{0, ""}, {0x02, "S"}, {0x12, "SA"}, {0x11, "FA"}, {0x18, "PA"}, {0x04, "R"}, {0xff, "FSRPAUEC"}} {
		if got := TCPFlagString(tc.f); got != tc.want {
			t.Errorf("TCPFlagString(%#x) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "tab\tnl\nnul\x00", "<a&b>", "é\u2028\u2029x", "bad\xffutf8", "\x1f\x7f"} {
		got := string(appendJSONString(nil, s))
		var enc bytes.Buffer
		je := json.NewEncoder(&enc)
		je.SetEscapeHTML(false)
		if err := je.Encode(s); err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSuffix(enc.String(), "\n"); got != want {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestJSONAppValues(t *testing.T) {
	type custom struct{ A int }
	e := Event{Time: time.Unix(0, 0), Layer: "tcp", App: &App{Proto: "x", Fields: []Field{
		{"s", "v"}, {"i", -3}, {"u16", uint16(7)}, {"b", false}, {"nil", []string(nil)}, {"c", custom{2}}, {"f", 1.5},
	}}}
	var out bytes.Buffer
	s := NewJSON(&out)
	if err := s.Write(&e); err != nil {
		t.Fatal(err)
	}
	_ = s.Flush()
	want := `{"ts":"1970-01-01T00:00:00.000000000Z","verdict":"recv","layer":"tcp","app":{"proto":"x","s":"v","i":-3,"u16":7,"b":false,"nil":null,"c":{"A":2},"f":1.5}}` + "\n"
	if out.String() != want {
		t.Errorf("got  %s\nwant %s", out.String(), want)
	}
	// An unencodable value is an error, not a broken line.
	out.Reset()
	e.App.Fields = []Field{{"ch", make(chan int)}}
	if err := s.Write(&e); err == nil {
		t.Fatal("no error for a channel value")
	}
	_ = s.Flush()
	if out.Len() != 0 {
		t.Fatalf("partial line written: %q", out.String())
	}
}
