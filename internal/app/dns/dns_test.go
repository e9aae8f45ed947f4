package dns

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
)

func conn(t app.Transport, pers, server string) *app.Conn {
	return apptest.Conn(t, pers, "192.0.2.7:13274", server, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
}

type qspec struct {
	name string
	typ  dnsmessage.Type
	cls  dnsmessage.Class
}

func mkquery(t testing.TB, id uint16, rd bool, edns bool, qs ...qspec) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: rd})
	b.StartQuestions()
	for _, q := range qs {
		if err := b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(q.name), Type: q.typ, Class: q.cls}); err != nil {
			t.Fatal(err)
		}
	}
	if edns {
		b.StartAdditionals()
		var rh dnsmessage.ResourceHeader
		rh.SetEDNS0(4096, 0, true)
		b.OPTResource(rh, dnsmessage.OPTResource{})
	}
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func inA(n string) qspec { return qspec{n, dnsmessage.TypeA, dnsmessage.ClassINET} }

// Upstream §9.2 test_ipv4_udp_dns_in_a and _multiple_queries.
func TestUpstream(t *testing.T) {
	h := New()
	names := []string{"example.com.", "www.example.com.", "masscan.ned."}
	for _, dport := range []int{53, 5353, 80, 161, 24732} {
		server := netip.AddrPortFrom(netip.MustParseAddr("192.0.0.1"), uint16(dport)).String()
		for _, n := range names {
			req := mkquery(t, 1234, false, false, inA(n))
			if h.Detect(req, app.UDP) != app.Yes {
				t.Fatal("not detected")
			}
			res := h.Serve(conn(app.UDP, "masscanned", server), req)
			checkUpstream(t, req, res.Reply, []string{n})
		}
		req := mkquery(t, 1234, false, false, inA(names[0]), inA(names[1]), inA(names[2]))
		res := h.Serve(conn(app.UDP, "masscanned", server), req)
		checkUpstream(t, req, res.Reply, names)
	}
}

func checkUpstream(t *testing.T, req, rep []byte, names []string) {
	t.Helper()
	if len(rep) < 12 {
		t.Fatalf("no reply")
	}
	if binary.BigEndian.Uint16(rep) != 1234 || rep[2] != 0x84 || rep[3] != 0 {
		t.Fatalf("header %x", rep[:4])
	}
	n := uint16(len(names))
	if binary.BigEndian.Uint16(rep[4:]) != n || binary.BigEndian.Uint16(rep[6:]) != n ||
		binary.BigEndian.Uint16(rep[8:]) != 0 || binary.BigEndian.Uint16(rep[10:]) != 0 {
		t.Fatalf("counts %x", rep[4:12])
	}
	if !bytes.Equal(rep[12:len(req)], req[12:]) {
		t.Fatalf("question bytes differ")
	}
	var m dnsmessage.Message
	if err := m.Unpack(rep); err != nil {
		t.Fatal(err)
	}
	for i, a := range m.Answers {
		if a.Header.Name.String() != names[i] || a.Header.Type != dnsmessage.TypeA || a.Header.Class != dnsmessage.ClassINET || a.Header.TTL != 43200 {
			t.Fatalf("answer %d: %v", i, a.Header)
		}
		if a.Body.(*dnsmessage.AResource).A != [4]byte{192, 0, 0, 1} {
			t.Fatalf("rdata %v", a.Body)
		}
	}
}

func unpack(t *testing.T, b []byte) dnsmessage.Message {
	t.Helper()
	var m dnsmessage.Message
	if err := m.Unpack(b); err != nil {
		t.Fatalf("unpack %x: %v", b, err)
	}
	return m
}

func TestLinux(t *testing.T) {
	h := New()
	v4, v6 := "198.51.100.1:53", "[2001:db8::1]:53"
	cases := []struct {
		name    string
		server  string
		q       qspec
		answers int
		check   func(*testing.T, dnsmessage.Resource)
	}{
		{"A v4", v4, inA("example.com."), 1, func(t *testing.T, r dnsmessage.Resource) {
			if r.Body.(*dnsmessage.AResource).A != [4]byte{198, 51, 100, 1} || r.Header.TTL != 3600 {
				t.Errorf("A %v", r)
			}
		}},
		{"A v6", v6, inA("example.com."), 0, nil},
		{"AAAA v6", v6, qspec{"example.com.", dnsmessage.TypeAAAA, dnsmessage.ClassINET}, 1, func(t *testing.T, r dnsmessage.Resource) {
			if netip.AddrFrom16(r.Body.(*dnsmessage.AAAAResource).AAAA) != netip.MustParseAddr("2001:db8::1") {
				t.Errorf("AAAA %v", r)
			}
		}},
		{"AAAA v4", v4, qspec{"example.com.", dnsmessage.TypeAAAA, dnsmessage.ClassINET}, 0, nil},
		{"version.bind", v4, qspec{"VERSION.BIND.", dnsmessage.TypeTXT, classCHAOS}, 1, func(t *testing.T, r dnsmessage.Resource) {
			if r.Body.(*dnsmessage.TXTResource).TXT[0] != linuxVersion || r.Header.Class != classCHAOS {
				t.Errorf("TXT %v", r)
			}
		}},
		{"ANY", v4, qspec{"example.com.", dnsmessage.TypeALL, dnsmessage.ClassINET}, 0, nil},
		{"MX", v4, qspec{"example.com.", dnsmessage.TypeMX, dnsmessage.ClassINET}, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := mkquery(t, 7, true, true, tc.q)
			res := h.Serve(conn(app.UDP, "linux", tc.server), req)
			m := unpack(t, res.Reply)
			if !m.Header.Response || !m.Header.Authoritative || !m.Header.RecursionDesired || m.Header.RecursionAvailable ||
				m.Header.RCode != 0 || m.Header.ID != 7 || len(m.Questions) != 1 {
				t.Fatalf("header %+v", m.Header)
			}
			if len(m.Answers) != tc.answers {
				t.Fatalf("answers %v", m.Answers)
			}
			if tc.check != nil {
				tc.check(t, m.Answers[0])
			}
			if len(m.Additionals) != 1 || m.Additionals[0].Header.Type != dnsmessage.TypeOPT ||
				m.Additionals[0].Header.Class != ednsSize || !m.Additionals[0].Header.DNSSECAllowed() {
				t.Fatalf("OPT %v", m.Additionals)
			}
		})
	}
	// masscanned: version.bind gets an empty NOERROR.
	res := h.Serve(conn(app.UDP, "masscanned", v4), mkquery(t, 7, true, false, qspec{"version.bind.", dnsmessage.TypeTXT, classCHAOS}))
	if m := unpack(t, res.Reply); len(m.Answers) != 0 || m.Header.RCode != 0 {
		t.Fatalf("masscanned version.bind %v", m)
	}
}

func TestNotQuery(t *testing.T) {
	h := New()
	req := mkquery(t, 1, false, false, inA("example.com."))
	resp := append([]byte{}, req...)
	resp[2] |= 0x80
	notify := append([]byte{}, req...)
	notify[2] |= 4 << 3
	for _, b := range [][]byte{resp, notify} {
		if h.Detect(b, app.UDP) != app.No {
			t.Errorf("detected %x", b)
		}
		if r := h.Serve(conn(app.UDP, "linux", "198.51.100.1:53"), b); r.Reply != nil {
			t.Errorf("answered %x", b)
		}
	}
	for _, b := range []string{"GET / HTTP/1.1\r\n\r\n", "\x00\x01\x00\x00\x21\x12\xa4\x42\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "SSH-2.0-x\r\n", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"} {
		if h.Detect([]byte(b), app.UDP) != app.No || h.Detect([]byte(b), app.TCP) == app.Yes {
			t.Errorf("detected %q", b)
		}
	}
}

func TestTCP(t *testing.T) {
	h := New()
	q1 := mkquery(t, 1, true, false, inA("a.example."))
	q2 := mkquery(t, 2, true, true, qspec{"b.example.", dnsmessage.TypeAAAA, dnsmessage.ClassINET})
	var stream []byte
	for _, q := range [][]byte{q1, q2} {
		stream = binary.BigEndian.AppendUint16(stream, uint16(len(q)))
		stream = append(stream, q...)
	}
	for i := 1; i < 2+len(q1); i++ {
		if v := h.Detect(stream[:i], app.TCP); v != app.Maybe {
			t.Fatalf("Detect prefix %d = %v", i, v)
		}
	}
	if h.Detect(stream, app.TCP) != app.Yes {
		t.Fatal("not detected")
	}
	c := conn(app.TCP, "linux", "198.51.100.1:53")
	if r := h.Serve(c, stream[:5]); !r.NeedMore {
		t.Fatal("no NeedMore")
	}
	var ids []uint16
	for buf := stream; len(buf) > 0; {
		r := h.Serve(c, buf)
		if r.NeedMore || r.Consumed == 0 {
			t.Fatalf("stuck: %+v", r)
		}
		if int(binary.BigEndian.Uint16(r.Reply))+2 != len(r.Reply) {
			t.Fatal("bad length prefix")
		}
		m := unpack(t, r.Reply[2:])
		ids = append(ids, m.Header.ID)
		buf = buf[r.Consumed:]
	}
	if len(ids) != 2 || ids[0] != 1 || ids[1] != 2 {
		t.Fatalf("ids %v", ids)
	}
}

func TestTruncate(t *testing.T) {
	h := New()
	var qs []qspec
	for i := 0; i < 16; i++ {
		qs = append(qs, inA(strings.Repeat(string(rune('a'+i)), 60)+".example."))
	}
	req := mkquery(t, 9, false, true, qs...)
	c := conn(app.UDP, "linux", "198.51.100.1:53")
	c.MaxReply = len(req) * 3
	res := h.Serve(c, req)
	m := unpack(t, res.Reply)
	if len(res.Reply) > c.MaxReply {
		t.Fatalf("reply %d > %d", len(res.Reply), c.MaxReply)
	}
	// 16 questions of ~70 bytes and their answers do not fit 1232 bytes
	if !m.Header.Truncated || len(m.Answers) != 0 {
		t.Fatalf("not truncated: %+v, %d answers, %d bytes", m.Header, len(m.Answers), len(res.Reply))
	}
	// A tight cap: TC with nothing but the header and questions.
	c.MaxReply = 40
	req = mkquery(t, 9, false, true, inA("example.com."))
	res = h.Serve(c, req)
	if len(res.Reply) > 40 || len(res.Reply) < 12 || res.Reply[2]&0x02 == 0 {
		t.Fatalf("tight reply %x", res.Reply)
	}
}

func TestFields(t *testing.T) {
	req := mkquery(t, 4660, true, true, inA("Example.COM."), qspec{"x.", dnsmessage.TypeAAAA, dnsmessage.ClassINET})
	res := New().Serve(conn(app.UDP, "linux", "198.51.100.1:53"), req)
	got := map[string]any{}
	for _, f := range res.Fields {
		got[f.Key] = f.Value
	}
	if got["id"] != 4660 || got["opcode"] != "QUERY" || got["qname"] != "Example.COM." || got["qtype"] != "A" ||
		got["qclass"] != "IN" || got["edns"] != true || got["edns_udp_size"] != 4096 || got["do"] != true {
		t.Fatalf("fields %v", res.Fields)
	}
	if q, _ := got["questions"].([]string); strings.Join(q, "|") != "Example.COM. A IN|x. AAAA IN" {
		t.Fatalf("questions %v", got["questions"])
	}
}

func FuzzServe(f *testing.F) {
	f.Add(mkquery(f, 1234, false, false, inA("example.com.")))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := New()
		for _, tr := range []app.Transport{app.TCP, app.UDP} {
			for _, pers := range []string{"linux", "masscanned"} {
				for _, srv := range []string{"198.51.100.1:53", "[2001:db8::1]:53"} {
					c := conn(tr, pers, srv)
					c.MaxReply = 3 * len(data)
					apptest.Drive(t, h, c, data, apptest.Limits{FitsCap: true})
				}
			}
		}
	})
}

// Several questions in one query (upstream's
// test_ipv4_udp_dns_in_a_multiple_queries), on raw bytes: every question
// is answered, in order. Upstream's shape: names uncompressed, TTL 43200;
// the linux personality's (BIND): names compressed, TTL 3600. Both fit
// the default UDP cap.
func TestMultipleQuestionsRaw(t *testing.T) {
	const q = "03777777086578616d706c65" // www.example
	req := unhexDNS(t, "04d200000003000000000000"+
		q+"3103636f6d0000010001"+q+"3203636f6d0000010001"+q+"3303636f6d0000010001")
	for _, tc := range []struct{ pers, want string }{
		{"masscanned", "04d2840000030003000000" + "00" +
			q + "3103636f6d0000010001" + q + "3203636f6d0000010001" + q + "3303636f6d0000010001" +
			q + "3103636f6d00000100010000a8c00004c6336402" +
			q + "3203636f6d00000100010000a8c00004c6336402" +
			q + "3303636f6d00000100010000a8c00004c6336402"},
		{"linux", "04d2840000030003000000" + "00" +
			q + "3103636f6d0000010001" + q + "32c01900010001" + q + "33c01900010001" +
			"c00c0001000100000e100004c6336402" +
			"c0220001000100000e100004c6336402" +
			"c0350001000100000e100004c6336402"},
	} {
		c := conn(app.UDP, tc.pers, "198.51.100.2:24732")
		c.MaxReply = 3 * len(req)
		res := New().Serve(c, req)
		if got := hex.EncodeToString(res.Reply); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.pers, got, tc.want)
		}
		qs, _ := fieldsMap(res)["questions"].([]string)
		if len(qs) != 3 || qs[2] != "www.example3.com. A IN" {
			t.Errorf("%s: questions %v", tc.pers, qs)
		}
	}
}

func unhexDNS(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fieldsMap(res app.Result) map[string]any {
	m := map[string]any{}
	for _, f := range res.Fields {
		m[f.Key] = f.Value
	}
	return m
}
