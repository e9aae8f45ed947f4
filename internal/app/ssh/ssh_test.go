package ssh

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/event"
)

func conn(t app.Transport, pers string) *app.Conn {
	return &app.Conn{
		Transport:   t,
		Client:      netip.MustParseAddrPort("192.0.2.1:40000"),
		Server:      netip.MustParseAddrPort("198.51.100.1:22"),
		Personality: pers,
		Now:         time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Rand: func(p []byte) {
			for i := range p {
				p[i] = byte(i)
			}
		},
	}
}

func TestDetect(t *testing.T) {
	cases := []struct {
		in   string
		want app.Verdict
	}{
		{"S", app.Maybe}, {"SS", app.Maybe}, {"SSH", app.Maybe}, {"SSH-", app.Yes},
		{"SSH-2.0-Go\r\n", app.Yes}, {"SSH-1.99-x\r\n", app.Yes},
		{"ssh-2.0", app.No}, {"GET /", app.No}, {"SSX", app.No}, {"\x00", app.No},
	}
	for _, c := range cases {
		if got := New().Detect([]byte(c.in), app.TCP); got != c.want {
			t.Errorf("Detect(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestBanner(t *testing.T) {
	type want struct {
		needMore bool
		consumed int
		prefix   string
		kexinit  bool
	}
	cases := []struct {
		name string
		pers string
		tr   app.Transport
		in   string
		want want
	}{
		// upstream §9.2: banners over TCP and UDP get exactly SSH-2.0-1\r\n
		{"upstream AsyncSSH", "masscanned", app.TCP, "SSH-2.0-AsyncSSH_2.1.0\r\n", want{consumed: 24, prefix: upstreamBanner}},
		{"upstream PuTTY", "masscanned", app.TCP, "SSH-2.0-PuTTY\r\n", want{consumed: 15, prefix: upstreamBanner}},
		{"upstream libssh2", "masscanned", app.UDP, "SSH-2.0-libssh2_1.4.3\r\n", want{consumed: 23, prefix: upstreamBanner}},
		{"upstream Go udp", "masscanned", app.UDP, "SSH-2.0-Go\r\n", want{consumed: 12, prefix: upstreamBanner}},
		{"upstream PUTTY", "masscanned", app.TCP, "SSH-2.0-PUTTY\r\n", want{consumed: 15, prefix: upstreamBanner}},
		{"bare LF", "masscanned", app.TCP, "SSH-2.0-x\n", want{consumed: 10, prefix: upstreamBanner}},
		{"linux tcp", "linux", app.TCP, "SSH-2.0-OpenSSH_9.6 Ubuntu-3\r\n", want{consumed: 30, prefix: linuxBanner, kexinit: true}},
		{"linux udp", "linux", app.UDP, "SSH-2.0-Go\r\n", want{consumed: 12, prefix: linuxBanner}},
		{"linux 1.99", "linux", app.TCP, "SSH-1.99-x\r\nrest", want{consumed: 12, prefix: linuxBanner, kexinit: true}},
		{"incomplete", "linux", app.TCP, "SSH-2.0-Go", want{needMore: true}},
		{"bad proto", "linux", app.TCP, "SSH-x-Go\r\n", want{}},
		{"no software dash", "linux", app.TCP, "SSH-2.0\r\n", want{}},
		{"too long", "linux", app.TCP, "SSH-2.0-" + strings.Repeat("a", 300), want{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := New().Serve(conn(tc.tr, tc.pers), []byte(tc.in))
			if res.NeedMore != tc.want.needMore || res.Consumed != tc.want.consumed {
				t.Fatalf("needMore=%v consumed=%d, want %v %d", res.NeedMore, res.Consumed, tc.want.needMore, tc.want.consumed)
			}
			if !bytes.HasPrefix(res.Reply, []byte(tc.want.prefix)) {
				t.Fatalf("reply %q", res.Reply)
			}
			rest := res.Reply[len(tc.want.prefix):]
			if tc.want.kexinit != (len(rest) > 0) {
				t.Fatalf("kexinit present=%v want %v", len(rest) > 0, tc.want.kexinit)
			}
			if tc.want.kexinit {
				checkPacket(t, rest)
			}
		})
	}
}

func checkPacket(t *testing.T, p []byte) {
	t.Helper()
	n := int(binary.BigEndian.Uint32(p))
	if n+4 != len(p) || len(p)%8 != 0 || p[4] < 4 || p[5] != msgKexinit {
		t.Fatalf("bad packet framing: len %d total %d pad %d type %d", n, len(p), p[4], p[5])
	}
}

func TestFields(t *testing.T) {
	res := New().Serve(conn(app.TCP, "linux"), []byte("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"))
	want := []event.Field{
		{Key: "banner", Value: "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13"},
		{Key: "version", Value: "2.0"},
		{Key: "software", Value: "OpenSSH_9.6p1"},
		{Key: "comment", Value: "Ubuntu-3ubuntu13"},
	}
	if len(res.Fields) != len(want) {
		t.Fatalf("fields %v", res.Fields)
	}
	for i := range want {
		if res.Fields[i] != want[i] {
			t.Errorf("field %v want %v", res.Fields[i], want[i])
		}
	}
}

// goClient starts golang.org/x/crypto/ssh's client on one end of a pipe
// and returns the other (with a 5 s deadline); both close with the test.
func goClient(t *testing.T) net.Conn {
	cli, srv := net.Pipe()
	t.Cleanup(func() { cli.Close(); srv.Close() })
	go func() {
		cfg := &xssh.ClientConfig{User: "root", HostKeyCallback: xssh.InsecureIgnoreHostKey(),
			ClientVersion: "SSH-2.0-Go", Timeout: 5 * time.Second}
		if c, _, _, err := xssh.NewClientConn(cli, "x", cfg); err == nil {
			c.Close()
		}
	}()
	srv.SetDeadline(time.Now().Add(5 * time.Second))
	return srv
}

// TestInterop runs golang.org/x/crypto/ssh's client against the handler:
// the client must accept our banner and KEXINIT (it then sends its key
// exchange init, message 30) and the handler must record its KEXINIT.
func TestInterop(t *testing.T) {
	srv := goClient(t)
	h := New()
	c := conn(app.TCP, "linux")
	var buf []byte
	var fields []event.Field
	tmp := make([]byte, 4096)
	done := false
	for !done {
		n, err := srv.Read(tmp)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		buf = append(buf, tmp[:n]...)
		for len(buf) > 0 {
			res := h.Serve(c, buf)
			if res.NeedMore {
				break
			}
			if res.Consumed == 0 {
				t.Fatalf("rejected %q", buf)
			}
			fields = append(fields, res.Fields...)
			if len(res.Reply) > 0 {
				go srv.Write(res.Reply)
			}
			buf = buf[res.Consumed:]
			if res.Close {
				done = true
				break
			}
		}
	}
	var hassh string
	for _, f := range fields {
		if f.Key == "hassh" {
			hassh, _ = f.Value.(string)
		}
	}
	if len(hassh) != 32 {
		t.Fatalf("no hassh in %v", fields)
	}
	// Next packet from the client: its key exchange init.
	for len(buf) < 6 {
		n, err := srv.Read(tmp)
		if err != nil {
			if err == io.EOF {
				t.Fatal("client rejected our KEXINIT")
			}
			t.Fatalf("read: %v", err)
		}
		buf = append(buf, tmp[:n]...)
	}
	if buf[5] != 30 {
		t.Fatalf("client's next message is %d, want 30 (KEX_ECDH_INIT)", buf[5])
	}
}

func TestKexinitParse(t *testing.T) {
	// Build a client KEXINIT the way a client would.
	lists := [10]string{"curve25519-sha256,ext-info-c", "ssh-ed25519", "aes128-ctr", "aes128-ctr",
		"hmac-sha2-256", "hmac-sha2-256", "none", "none", "", ""}
	payload := []byte{msgKexinit}
	payload = append(payload, make([]byte, 16)...)
	for _, l := range lists {
		payload = binary.BigEndian.AppendUint32(payload, uint32(len(l)))
		payload = append(payload, l...)
	}
	payload = append(payload, 0, 0, 0, 0, 0)
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	pkt := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+pad))
	pkt = append(pkt, byte(pad))
	pkt = append(pkt, payload...)
	pkt = append(pkt, make([]byte, pad)...)

	h := New()
	c := conn(app.TCP, "masscanned")
	res := h.Serve(c, []byte("SSH-2.0-x\r\n"))
	if string(res.Reply) != upstreamBanner {
		t.Fatalf("reply %q", res.Reply)
	}
	for i := 0; i < len(pkt); i++ {
		if r := h.Serve(c, pkt[:i]); !r.NeedMore {
			t.Fatalf("prefix %d: not NeedMore", i)
		}
	}
	res = h.Serve(c, append(pkt, "junk"...))
	if res.Consumed != len(pkt) || !res.Close || len(res.Reply) != 0 {
		t.Fatalf("consumed %d close %v reply %q", res.Consumed, res.Close, res.Reply)
	}
	// HASSH of "curve25519-sha256,ext-info-c;aes128-ctr;hmac-sha2-256;none"
	got := map[string]any{}
	for _, f := range res.Fields {
		got[f.Key] = f.Value
	}
	if got["hassh"] != "cafb69eb1dbb2a4a505b5b25342a4940" {
		t.Errorf("hassh %v", got["hassh"])
	}
	if k, _ := got["kex_algorithms"].([]string); len(k) != 2 || k[1] != "ext-info-c" {
		t.Errorf("kex %v", got["kex_algorithms"])
	}
	// Lying length
	c2 := conn(app.TCP, "linux")
	h.Serve(c2, []byte("SSH-2.0-x\n"))
	if r := h.Serve(c2, []byte{0xff, 0xff, 0xff, 0xff, 0}); r.NeedMore || r.Consumed != 0 {
		t.Errorf("huge length accepted: %+v", r)
	}
}

func FuzzServe(f *testing.F) {
	f.Add([]byte("SSH-2.0-Go\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := New()
		for _, tr := range []app.Transport{app.TCP, app.UDP} {
			for _, pers := range []string{"linux", "masscanned"} {
				c := conn(tr, pers)
				c.MaxReply = 3 * len(data)
				apptest.Drive(t, h, c, data, apptest.Limits{})
				if tr == app.TCP {
					apptest.DriveGreeter(t, h, conn(tr, pers), data)
				}
			}
		}
	})
}

func TestGreet(t *testing.T) {
	custom := map[string]string{"ssh": "SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3"}
	cases := []struct {
		name    string
		pers    string
		banners map[string]string
		in      string
		greet   string
		reply   string // exact reply to in ("" with kexinit: KEXINIT only)
		kexinit bool
		close   bool
		need    bool
	}{
		{name: "linux", pers: "linux", in: "SSH-2.0-Go\r\n", greet: linuxBanner, kexinit: true},
		{name: "masscanned", pers: "masscanned", in: "SSH-2.0-Go\r\n", greet: upstreamBanner},
		{name: "custom", pers: "linux", banners: custom, in: "SSH-2.0-Go\r\n", greet: "SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3\r\n", kexinit: true},
		{name: "custom bare", pers: "linux", banners: map[string]string{"ssh": "dropbear_2022.83"}, in: "SSH-2.0-Go\n", greet: "SSH-2.0-dropbear_2022.83\r\n", kexinit: true},
		{name: "http", pers: "linux", in: "GET / HTTP/1.0\r\n\r\n", greet: linuxBanner, reply: invalidIdent, close: true},
		{name: "empty line", pers: "linux", in: "\r\n", greet: linuxBanner, reply: invalidIdent, close: true},
		{name: "ssh1", pers: "linux", in: "SSH-1.5-old\r\n", greet: linuxBanner, reply: majorMismatch, close: true},
		{name: "partial", pers: "linux", in: "SSH-2.0-Go", greet: linuxBanner, need: true},
		{name: "partial junk", pers: "linux", in: "GET / HT", greet: linuxBanner, need: true},
		{name: "endless", pers: "linux", in: strings.Repeat("A", maxIdentLine), greet: linuxBanner, reply: invalidIdent, close: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := New()
			c := conn(app.TCP, tc.pers)
			c.Banners = tc.banners
			g := h.Greet(c)
			if string(g.Reply) != tc.greet || g.Close {
				t.Fatalf("greet %q close %v", g.Reply, g.Close)
			}
			res := h.Serve(c, []byte(tc.in))
			if res.NeedMore != tc.need || res.Close != tc.close {
				t.Fatalf("needMore %v close %v: %+v", res.NeedMore, res.Close, res)
			}
			if tc.need {
				return
			}
			if tc.kexinit {
				checkPacket(t, res.Reply)
				if bytes.Contains(res.Reply, []byte("SSH-")) {
					t.Fatalf("banner sent twice: %q", res.Reply)
				}
			} else if string(res.Reply) != tc.reply {
				t.Fatalf("reply %q want %q", res.Reply, tc.reply)
			}
			if res.Consumed == 0 {
				t.Fatal("nothing consumed")
			}
		})
	}
}

// A client-first exchange uses the profile's banner too.
func TestCustomBannerClientFirst(t *testing.T) {
	c := conn(app.TCP, "masscanned")
	c.Banners = map[string]string{"ssh": "SSH-2.0-OpenSSH_7.4\r\n"}
	res := New().Serve(c, []byte("SSH-2.0-Go\r\n"))
	if string(res.Reply) != "SSH-2.0-OpenSSH_7.4\r\n" {
		t.Fatalf("reply %q", res.Reply)
	}
}

// After Greet the client's identification is recorded and its KEXINIT
// parsed as in the client-first exchange.
func TestGreetThenKexinit(t *testing.T) {
	h := New()
	c := conn(app.TCP, "linux")
	h.Greet(c)
	res := h.Serve(c, []byte("SSH-2.0-libssh_0.9.6\r\n"))
	if len(res.Fields) < 3 || res.Fields[2].Value != "libssh_0.9.6" {
		t.Fatalf("fields %v", res.Fields)
	}
	// the KEXINIT we sent parses as one
	r2 := h.Serve(c, res.Reply)
	if !r2.Close || r2.Consumed != len(res.Reply) || len(r2.Fields) != 6 {
		t.Fatalf("own kexinit not parsed: %+v", r2)
	}
}

func TestNmap(t *testing.T) {
	for _, b := range []map[string]string{nil, {"ssh": "SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3"}} {
		c := conn(app.TCP, "linux")
		c.Banners = b
		apptest.NmapNames(t, "NULL", New().Greet(c).Reply, "OpenSSH")
	}
}

// TestInteropGreeted runs the x/crypto client against a greeting server.
func TestInteropGreeted(t *testing.T) {
	srv := goClient(t)
	h := New()
	c := conn(app.TCP, "linux")
	go srv.Write(h.Greet(c).Reply)
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		n, err := srv.Read(tmp)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		buf = append(buf, tmp[:n]...)
		res := h.Serve(c, buf)
		if res.NeedMore {
			continue
		}
		if res.Close {
			t.Fatalf("closed: %q", res.Reply)
		}
		buf = buf[res.Consumed:]
		go srv.Write(res.Reply)
		break
	}
	for {
		res := h.Serve(c, buf)
		if !res.NeedMore {
			if len(res.Fields) != 6 {
				t.Fatalf("kexinit fields %v", res.Fields)
			}
			return
		}
		n, err := srv.Read(tmp)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		buf = append(buf, tmp[:n]...)
	}
}
