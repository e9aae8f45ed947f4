package smtp

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
)

func conn(banners map[string]string) *app.Conn {
	c := apptest.Conn(app.TCP, "linux", "192.0.2.1:40000", "198.51.100.7:25", time.Unix(0, 0))
	c.Banners = banners
	c.Rand = func(p []byte) {
		for i := range p {
			p[i] = byte(0xa0 + i)
		}
	}
	return c
}

func TestGreet(t *testing.T) {
	cases := []struct {
		banners map[string]string
		want    string
	}{
		{nil, "220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n"},
		{map[string]string{"hostname": "mx1.corp.test"}, "220 mx1.corp.test ESMTP Postfix (Debian/GNU)\r\n"},
		{map[string]string{"smtp": "mx.test ESMTP Exim 4.96 Thu, 1 Jan 2024"}, "220 mx.test ESMTP Exim 4.96 Thu, 1 Jan 2024\r\n"},
	}
	for _, tc := range cases {
		if got := New().Greet(conn(tc.banners)).Reply; string(got) != tc.want {
			t.Errorf("%v: %q", tc.banners, got)
		}
	}
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

func run(t *testing.T, steps []step) {
	t.Helper()
	apptest.Converse(t, New(), conn(nil), asSteps(steps))
}

const ehlo = "250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n" +
	"250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"

func TestSession(t *testing.T) {
	body := "Subject: hello there\r\nFrom: a@b\r\n\r\nline\r\n..dot\r\n"
	stored := "Subject: hello there\r\nFrom: a@b\r\n\r\nline\r\n.dot\r\n"
	sum := sha256.Sum256([]byte(stored))
	run(t, []step{
		{"MAIL FROM:<a@b>\r\n", "503 5.5.1 Error: send HELO/EHLO first\r\n", false, nil},
		{"AUTH PLAIN\r\n", "503 5.5.1 Error: send HELO/EHLO first\r\n", false, nil},
		{"EHLO\r\n", "501 Syntax: EHLO hostname\r\n", false, nil},
		{"EHLO client.test\r\n", ehlo, false, map[string]any{"helo": "client.test"}},
		{"HELO client.test\r\n", "250 mail.example.com\r\n", false, nil},
		{"AUTH PLAIN AGFkbWluAHMzY3JldA==\r\n", "535 5.7.8 Error: authentication failed: authentication failure\r\n", false,
			map[string]any{"user": "admin", "password": "s3cret", "auth_mechanism": "PLAIN"}},
		{"AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n", false, nil},
		{"cm9vdA==\r\n", "334 UGFzc3dvcmQ6\r\n", false, nil},
		{"dG9vcg==\r\n", "535 5.7.8 Error: authentication failed: authentication failure\r\n", false, map[string]any{"user": "root", "password": "toor"}},
		{"AUTH PLAIN\r\n", "334 \r\n", false, nil},
		{"!!!\r\n", "501 5.5.2 Cannot decode response\r\n", false, nil},
		{"AUTH CRAM-MD5\r\n", "535 5.7.8 Error: authentication failed: Invalid authentication mechanism\r\n", false, nil},
		{"STARTTLS\r\n", "454 4.7.0 TLS not available due to local problem\r\n", false, nil},
		{"RCPT TO:<x@y>\r\n", "503 5.5.1 Error: need MAIL command\r\n", false, nil},
		{"DATA\r\n", "503 5.5.1 Error: need RCPT command\r\n", false, nil},
		{"MAIL FROM:<spam@example.net> SIZE=100\r\n", "250 2.1.0 Ok\r\n", false, map[string]any{"mail_from": "<spam@example.net> SIZE=100"}},
		{"MAIL FROM:<x>\r\n", "503 5.5.1 Error: nested MAIL command\r\n", false, nil},
		{"DATA\r\n", "554 5.5.1 Error: no valid recipients\r\n", false, nil},
		{"rcpt to:<victim@example.org>\r\n", "250 2.1.5 Ok\r\n", false, map[string]any{"rcpt_to": "<victim@example.org>"}},
		{"DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n", false, nil},
		{body + ".\r\n", "250 2.0.0 Ok: queued as A0A1A2A3A4\r\n", false, map[string]any{
			"subject": "hello there", "message_size": len(stored), "body_sha256": hex.EncodeToString(sum[:])}},
		{"NOOP\r\n", "250 2.0.0 Ok\r\n", false, nil},
		{"RSET\r\n", "250 2.0.0 Ok\r\n", false, nil},
		{"VRFY root\r\n", "252 2.0.0 root\r\n", false, nil},
		{"XYZ\r\n", "502 5.5.2 Error: command not recognized\r\n", false, map[string]any{"command": "XYZ"}},
		{"QUIT\r\n", "221 2.0.0 Bye\r\n", true, nil},
	})
	run(t, []step{{"GET / HTTP/1.0\r\n", "221 2.7.0 Error: I can break rules, too. Goodbye.\r\n", true, nil}})
}

func TestLimits(t *testing.T) {
	h := New()
	c := conn(nil)
	h.Greet(c)
	if r := h.Serve(c, []byte("EHLO x")); !r.NeedMore {
		t.Fatalf("partial: %+v", r)
	}
	long := []byte(strings.Repeat("A", maxLine))
	r := h.Serve(c, long)
	if r.Consumed != len(long) || string(r.Reply) != "500 5.5.2 Error: line too long\r\n" {
		t.Fatalf("long: %+v", r)
	}
	if r = h.Serve(c, []byte("AAAA\r\n")); r.Reply != nil || r.Consumed != 6 {
		t.Fatalf("rest of long line: %+v", r)
	}
	// too many errors
	var closed bool
	for i := 0; i < maxErrors && !closed; i++ {
		r = h.Serve(c, []byte("BAD\r\n"))
		closed = r.Close
	}
	if !closed || !strings.HasSuffix(string(r.Reply), "421 4.7.0 mail.example.com Error: too many errors\r\n") {
		t.Fatalf("error limit: %+v", r)
	}
	// oversized message streams through and is refused
	h = New()
	c = conn(nil)
	h.Greet(c)
	for _, l := range []string{"HELO a\r\n", "MAIL FROM:<>\r\n", "RCPT TO:<b>\r\n", "DATA\r\n"} {
		h.Serve(c, []byte(l))
	}
	chunk := []byte(strings.Repeat("x", maxDataLine))
	for n := 0; n <= maxMessage; n += len(chunk) {
		if r := h.Serve(c, chunk); r.Consumed != len(chunk) {
			t.Fatalf("chunk: %+v", r)
		}
	}
	h.Serve(c, []byte("\r\n"))
	r = h.Serve(c, []byte(".\r\n"))
	if string(r.Reply) != "552 5.3.4 Error: message file too big\r\n" {
		t.Fatalf("big: %q", r.Reply)
	}
}

func TestNmap(t *testing.T) {
	apptest.NmapNames(t, "NULL", New().Greet(conn(nil)).Reply, "Postfix smtpd")
}

func FuzzServe(f *testing.F) {
	f.Add([]byte("EHLO x\r\nAUTH LOGIN\r\ncm9vdA==\r\ndG9vcg==\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\nSubject: s\r\n\r\nb\r\n.\r\nQUIT\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := New()
		apptest.Drive(t, h, conn(nil), data, apptest.Limits{})
		apptest.DriveGreeter(t, h, conn(nil), data)
	})
}
