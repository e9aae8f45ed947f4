package ftp

import (
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
	"github.com/masscanned-go/masscanned/internal/event"
)

func conn(banner string) *app.Conn {
	c := apptest.Conn(app.TCP, "linux", "192.0.2.1:40000", "198.51.100.7:21", time.Unix(0, 0))
	if banner != "" {
		c.Banners = map[string]string{"ftp": banner}
	}
	return c
}

func fields(fs []event.Field) map[string]any {
	m := map[string]any{}
	for _, f := range fs {
		m[f.Key] = f.Value
	}
	return m
}

func TestGreet(t *testing.T) {
	cases := []struct{ banner, want string }{
		{"", "220 (vsFTPd 3.0.3)\r\n"},
		{"ProFTPD", "220 ProFTPD Server (Debian) [::ffff:198.51.100.7]\r\n"},
		{"ProFTPD 1.3.5 Server (Debian)", "220 ProFTPD 1.3.5 Server (Debian) [::ffff:198.51.100.7]\r\n"},
		{"Microsoft FTP Service", "220 Microsoft FTP Service\r\n"},
		{"evil\r\n230 in", "220 evil\r\n"},
	}
	for _, tc := range cases {
		res := New().Greet(conn(tc.banner))
		if string(res.Reply) != tc.want || res.Close {
			t.Errorf("banner %q: %q", tc.banner, res.Reply)
		}
	}
}

type step struct {
	in     string
	reply  string
	close  bool
	fields map[string]any
}

func run(t *testing.T, banner string, steps []step) {
	t.Helper()
	h := New()
	c := conn(banner)
	h.Greet(c)
	for i, s := range steps {
		res := h.Serve(c, []byte(s.in))
		if res.NeedMore || res.Consumed != len(s.in) {
			t.Fatalf("step %d %q: needMore %v consumed %d", i, s.in, res.NeedMore, res.Consumed)
		}
		if string(res.Reply) != s.reply || res.Close != s.close {
			t.Fatalf("step %d %q: reply %q close %v, want %q %v", i, s.in, res.Reply, res.Close, s.reply, s.close)
		}
		got := fields(res.Fields)
		for k, v := range s.fields {
			if got[k] != v {
				t.Errorf("step %d %q: field %s = %v, want %v", i, s.in, k, got[k], v)
			}
		}
	}
}

func TestVsftpd(t *testing.T) {
	run(t, "", []step{
		{"SYST\r\n", "530 Please login with USER and PASS.\r\n", false, map[string]any{"command": "SYST", "argument": ""}},
		{"feat\r\n", vsftpdFeat, false, map[string]any{"command": "feat"}},
		{"OPTS UTF8 ON\r\n", "200 Always in UTF8 mode.\r\n", false, nil},
		{"OPTS MLST type\r\n", "501 Option not understood.\r\n", false, nil},
		{"PASS x\r\n", "503 Login with USER first.\r\n", false, nil},
		{"PASV\r\n", "530 Please login with USER and PASS.\r\n", false, nil},
		{"\r\n", "", false, nil},
		{"USER root\r\n", "530 Permission denied.\r\n", false, map[string]any{"user": "root"}},
		{"USER admin\r\n", "331 Please specify the password.\r\n", false, map[string]any{"command": "USER", "argument": "admin"}},
		{"PASS secret word\r\n", "530 Login incorrect.\r\n", false, map[string]any{"user": "admin", "password": "secret word", "auth": event.Auth{Protocol: "ftp", User: "admin", Password: "secret word"}}},
		{"USER anonymous\n", "331 Please specify the password.\r\n", false, nil},
		{"PASS a@b\r\n", "530 Login incorrect.\r\n", false, map[string]any{"user": "anonymous", "password": "a@b", "auth": event.Auth{Protocol: "ftp", User: "anonymous", Password: "a@b"}}},
		{"XYZZY\r\n", "530 Please login with USER and PASS.\r\n", false, nil},
		{"USER u\r\n", "331 Please specify the password.\r\n", false, nil},
		{"PASS p\r\n", "530 Login incorrect.\r\n", true, map[string]any{"user": "u", "password": "p", "auth": event.Auth{Protocol: "ftp", User: "u", Password: "p"}}},
	})
	run(t, "", []step{
		{"GET / HTTP/1.0\r\n", "530 Please login with USER and PASS.\r\n", false, map[string]any{"command": "GET", "argument": "/ HTTP/1.0"}},
		{"\r\n", "", false, nil},
		{"QUIT\r\n", "221 Goodbye.\r\n", true, nil},
	})
}

func TestProftpd(t *testing.T) {
	run(t, "ProFTPD", []step{
		{"SYST\r\n", "215 UNIX Type: L8\r\n", false, nil},
		{"HELP\r\n", proftpdHelp, false, nil},
		{"FEAT\r\n", proftpdFeat, false, nil},
		{"LIST\r\n", "530 Please login with USER and PASS\r\n", false, nil},
		{"FOO bar\r\n", "500 FOO not understood\r\n", false, nil},
		{"USER root\r\n", "331 Password required for root\r\n", false, nil},
		{"PASS toor\r\n", "530 Login incorrect.\r\n", false, map[string]any{"user": "root", "password": "toor", "auth": event.Auth{Protocol: "ftp", User: "root", Password: "toor"}}},
		{"QUIT\r\n", "221 Goodbye.\r\n", true, nil},
	})
	run(t, "ProFTPD", []step{{"GET / HTTP/1.1\r\n", "", true, nil}})
}

func TestFraming(t *testing.T) {
	h := New()
	c := conn("")
	h.Greet(c)
	for _, in := range []string{"", "U", "USER adm", "USER admin\r"} {
		if r := h.Serve(c, []byte(in)); !r.NeedMore || r.Consumed != 0 || r.Reply != nil {
			t.Errorf("%q: %+v", in, r)
		}
	}
	r := h.Serve(c, []byte("USER a\r\nPASS b\r\n"))
	if r.Consumed != 8 || string(r.Reply) != "331 Please specify the password.\r\n" {
		t.Errorf("two lines: %+v", r)
	}
	long := strings.Repeat("A", maxLine)
	if r := h.Serve(c, []byte(long)); !r.Close || r.Reply != nil {
		t.Errorf("long line: %+v", r)
	}
	if r := h.Serve(conn(""), []byte(long+"\r\n")); !r.Close {
		t.Errorf("long terminated line: %+v", r)
	}
	// Serve without Greet still works (state created on demand).
	if r := h.Serve(conn(""), []byte("USER x\r\n")); string(r.Reply) != "331 Please specify the password.\r\n" {
		t.Errorf("no greet: %+v", r)
	}
	if New().Detect([]byte("USER x\r\n"), app.TCP) != app.No {
		t.Error("Detect must say No")
	}
}

// TestNmap: nmap -sV names our greetings vsftpd and, through its HELP
// probe, ProFTPD (ProFTPD's Debian greeting carries no version).
func TestNmap(t *testing.T) {
	apptest.NmapNames(t, "NULL", New().Greet(conn("")).Reply, "vsftpd")
	for _, banner := range []string{"", "ProFTPD"} {
		h := New()
		c := conn(banner)
		resp := h.Greet(c).Reply
		resp = append(resp, h.Serve(c, []byte("HELP\r\n")).Reply...)
		want := "vsftpd"
		if banner != "" {
			want = "ProFTPD"
		}
		apptest.NmapNames(t, "Help", resp, want)
	}
}

func FuzzServe(f *testing.F) {
	f.Add([]byte("USER a\r\nPASS b\r\nSYST\r\nQUIT\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := New()
		for _, b := range []string{"", "ProFTPD"} {
			apptest.Drive(t, h, conn(b), data, apptest.Limits{})
			apptest.DriveGreeter(t, h, conn(b), data)
		}
	})
}
