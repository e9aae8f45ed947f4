package mail

import (
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/event"
)

func conn(banners map[string]string) *app.Conn {
	c := apptest.Conn(app.TCP, "linux", "192.0.2.1:40000", "198.51.100.7:110", time.Unix(0, 0))
	c.Banners = banners
	return c
}

type step struct {
	in     string
	reply  string
	close  bool
	fields map[string]any
}

func asSteps(steps []step) []apptest.Step {
	out := make([]apptest.Step, len(steps))
	for i, s := range steps {
		out[i] = apptest.Step{In: s.in, Reply: s.reply, Close: s.close, Fields: s.fields}
	}
	return out
}

func run(t *testing.T, g app.Greeter, steps []step) {
	t.Helper()
	apptest.Converse(t, g, conn(nil), asSteps(steps))
}

func TestGreet(t *testing.T) {
	if g := NewPOP3().Greet(conn(nil)).Reply; string(g) != "+OK Dovecot (Debian) ready.\r\n" {
		t.Errorf("pop3 %q", g)
	}
	if g := NewPOP3().Greet(conn(map[string]string{"pop3": "Dovecot (Ubuntu)"})).Reply; string(g) != "+OK Dovecot (Ubuntu) ready.\r\n" {
		t.Errorf("pop3 banner %q", g)
	}
	want := "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n"
	if g := NewIMAP().Greet(conn(nil)).Reply; string(g) != want {
		t.Errorf("imap %q", g)
	}
	if g := NewIMAP().Greet(conn(map[string]string{"imap": "Dovecot (Ubuntu)"})).Reply; !strings.HasSuffix(string(g), "] Dovecot (Ubuntu) ready.\r\n") {
		t.Errorf("imap banner %q", g)
	}
}

func TestPOP3(t *testing.T) {
	run(t, NewPOP3(), []step{
		{"CAPA\r\n", pop3Capa, false, nil},
		{"PASS x\r\n", "-ERR No username given.\r\n", false, nil},
		{"USER admin\r\n", "+OK\r\n", false, map[string]any{"command": "USER", "argument": "admin"}},
		{"PASS hunter 2\r\n", "-ERR [AUTH] Authentication failed.\r\n", false, map[string]any{"user": "admin", "password": "hunter 2", "auth": event.Auth{Protocol: "pop3", User: "admin", Password: "hunter 2"}}},
		{"AUTH PLAIN AGFkbWluAHMzY3JldA==\r\n", "-ERR [AUTH] Authentication failed.\r\n", false, map[string]any{"user": "admin", "password": "s3cret", "auth": event.Auth{Protocol: "pop3", User: "admin", Password: "s3cret"}}},
		{"AUTH PLAIN\r\n", "+ \r\n", false, nil},
		{"AGEAYg==\r\n", "-ERR [AUTH] Authentication failed.\r\n", false, map[string]any{"user": "a", "password": "b", "auth": event.Auth{Protocol: "pop3", User: "a", Password: "b"}}},
		{"STLS\r\n", "-ERR TLS support isn't enabled.\r\n", false, nil},
		{"\r\n", "-ERR Unknown command.\r\n", false, nil},
		{"GET / HTTP/1.0\r\n", "-ERR Unknown command.\r\n", false, nil},
		{"QUIT\r\n", "+OK Logging out\r\n", true, nil},
	})
	steps := []step{}
	for i := 0; i < maxBad-1; i++ {
		steps = append(steps, step{"X\r\n", "-ERR Unknown command.\r\n", false, nil})
	}
	run(t, NewPOP3(), append(steps, step{"X\r\n", "-ERR Too many bad commands.\r\n", true, nil}))
}

func TestIMAP(t *testing.T) {
	const fail = " NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
	run(t, NewIMAP(), []step{
		{"a CAPABILITY\r\n", "* CAPABILITY " + imapCaps + "\r\na OK Pre-login capabilities listed, post-login capabilities have more.\r\n", false, nil},
		{"a1 LOGIN admin password\r\n", "a1" + fail, false, map[string]any{"user": "admin", "password": "password", "auth": event.Auth{Protocol: "imap", User: "admin", Password: "password"}}},
		{"a2 login \"ad\\\"min\" \"p w\"\r\n", "a2" + fail, false, map[string]any{"user": "ad\"min", "password": "p w", "auth": event.Auth{Protocol: "imap", User: "ad\"min", Password: "p w"}}},
		{"a3 LOGIN {5}\r\n", "+ OK\r\n", false, nil},
		{"admin {6+}\r\nsecret\r\n", "a3" + fail, false, map[string]any{"user": "admin", "password": "secret", "auth": event.Auth{Protocol: "imap", User: "admin", Password: "secret"}}},
		{"a4 AUTHENTICATE PLAIN AGFkbWluAHMzY3JldA==\r\n", "a4" + fail, false, map[string]any{"user": "admin", "password": "s3cret", "auth": event.Auth{Protocol: "imap", User: "admin", Password: "s3cret"}}},
		{"a5 AUTHENTICATE PLAIN\r\n", "+ \r\n", false, nil},
		{"*\r\n", "a5 BAD Authentication aborted by client.\r\n", false, nil},
		{"a6 SELECT INBOX\r\n", "a6 BAD Error in IMAP command received by server.\r\n", false, nil},
		{"a7 LOGIN onlyuser\r\n", "a7 BAD Error in IMAP command received by server.\r\n", false, nil},
		{"GET / HTTP/1.0\r\n\r\n", "GET BAD Error in IMAP command received by server.\r\n* BAD Error in IMAP command received by server.\r\n", false, nil},
		{"a8 NOOP\r\n", "a8 OK NOOP completed.\r\n", false, nil},
		{"a9 LOGOUT\r\n", "* BYE Logging out\r\na9 OK Logout completed.\r\n", true, nil},
	})
}

func TestFraming(t *testing.T) {
	for _, g := range []app.Greeter{NewPOP3(), NewIMAP()} {
		c := conn(nil)
		g.Greet(c)
		if r := g.Serve(c, []byte("USER a")); !r.NeedMore {
			t.Errorf("%s partial: %+v", g.Name(), r)
		}
		if r := g.Serve(c, []byte(strings.Repeat("a", maxLine))); !r.Close {
			t.Errorf("%s long: %+v", g.Name(), r)
		}
		if g.Detect([]byte("a LOGIN x y\r\n"), app.TCP) != app.No {
			t.Errorf("%s detects", g.Name())
		}
	}
	// a literal over the line limit
	c := conn(nil)
	h := NewIMAP()
	h.Greet(c)
	if r := h.Serve(c, []byte("a LOGIN {999999}\r\n")); !r.Close {
		t.Errorf("huge literal: %+v", r)
	}
}

// TestNmap: Dovecot's Debian greetings match no NULL-probe line, so nmap
// names them from its GenericLines (POP3) and GetRequest (IMAP) probes;
// the Ubuntu greeting matches the NULL probe.
func TestNmap(t *testing.T) {
	probe := func(g app.Greeter, banners map[string]string, in string) []byte {
		c := conn(banners)
		out := g.Greet(c).Reply
		buf := []byte(in)
		for len(buf) > 0 {
			r := g.Serve(c, buf)
			out = append(out, r.Reply...)
			if r.Consumed == 0 {
				break
			}
			buf = buf[r.Consumed:]
		}
		return out
	}
	apptest.NmapNames(t, "GenericLines", probe(NewPOP3(), nil, "\r\n\r\n"), "Dovecot pop3d")
	apptest.NmapNames(t, "GetRequest", probe(NewIMAP(), nil, "GET / HTTP/1.0\r\n\r\n"), "Dovecot imapd")
	apptest.NmapNames(t, "NULL", probe(NewIMAP(), map[string]string{"imap": "Dovecot (Ubuntu)"}, ""), "Dovecot imapd")
}

func FuzzPOP3(f *testing.F) {
	f.Add([]byte("USER a\r\nPASS b\r\nQUIT\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		apptest.Drive(t, NewPOP3(), conn(nil), data, apptest.Limits{})
		apptest.DriveGreeter(t, NewPOP3(), conn(nil), data)
	})
}

func FuzzIMAP(f *testing.F) {
	f.Add([]byte("a LOGIN {1}\r\nx \"y\"\r\nb LOGOUT\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		apptest.Drive(t, NewIMAP(), conn(nil), data, apptest.Limits{})
		apptest.DriveGreeter(t, NewIMAP(), conn(nil), data)
	})
}
