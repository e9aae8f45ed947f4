package ssh

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/shell"
	"github.com/masscanned-go/masscanned/internal/event"
)

// The key exchange, run by golang.org/x/crypto/ssh (RunLibrary), offers
// OpenSSH 9.2p1's lists (Debian 12 defaults) in OpenSSH's order, less what
// the library does not implement: sntrup761x25519-sha512@openssh.com and
// diffie-hellman-group18-sha512 (kex), umac-* and hmac-sha1-etm (MAC).
var (
	serverKex = []string{
		"curve25519-sha256", "curve25519-sha256@libssh.org",
		"ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
		"diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512",
		"diffie-hellman-group14-sha256",
	}
	serverCiphers = []string{
		"chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
		"aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
	}
	serverMACs = []string{
		"hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
		"hmac-sha2-256", "hmac-sha2-512", "hmac-sha1",
	}
)

// OpenSSH's sshd_config defaults that shape a login attempt.
const (
	maxAuthTries   = 6                 // MaxAuthTries
	loginGraceTime = 120 * time.Second // LoginGraceTime
)

// HostKeys returns the host keys of the host c belongs to. The default
// (nil) is one Ed25519 key per process.
type HostKeys func(c *app.Conn) ([]xssh.Signer, error)

var (
	processKeyOnce sync.Once
	processKey     xssh.Signer
	processKeyErr  error
)

func defaultHostKeys(*app.Conn) ([]xssh.Signer, error) {
	processKeyOnce.Do(func() {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			processKeyErr = err
			return
		}
		processKey, processKeyErr = xssh.NewSignerFromKey(k)
	})
	if processKeyErr != nil {
		return nil, processKeyErr
	}
	return []xssh.Signer{processKey}, nil
}

// UseLibrary implements app.LibraryHandler: a complete SSH server under
// every personality but upstream's (banner only), over TCP.
func (h *Handler) UseLibrary(c *app.Conn) bool {
	return c.Transport == app.TCP && c.Personality != "masscanned" && !h.BannerOnly
}

var errDenied = errors.New("permission denied")

// RunLibrary implements app.LibraryHandler: golang.org/x/crypto/ssh runs
// the key exchange and the user authentication; every attempt is recorded
// and refused, as sshd refuses a wrong password, until the client gives up
// or MaxAuthTries is reached.
func (h *Handler) RunLibrary(c *app.Conn, nc net.Conn, recApp func(*event.App)) {
	rec := func(f []event.Field) { recApp(&event.App{Fields: f}) }
	keys := h.HostKeys
	if keys == nil {
		keys = defaultHostKeys
	}
	signers, err := keys(c)
	if err != nil || len(signers) == 0 {
		rec([]event.Field{{Key: "error", Value: "no host key"}})
		return
	}
	_ = nc.SetDeadline(time.Now().Add(loginGraceTime))
	tap := &clientTap{Conn: nc, rec: rec}
	attempt := 0
	record := func(meta xssh.ConnMetadata, method string, extra ...event.Field) {
		attempt++
		f := []event.Field{
			{Key: "auth_method", Value: method},
			{Key: "user", Value: app.Printable([]byte(meta.User()))},
		}
		f = append(f, extra...)
		f = append(f, event.Field{Key: "client_version", Value: app.Printable(meta.ClientVersion())},
			event.Field{Key: "attempt", Value: attempt})
		if tap.hassh != "" {
			f = append(f, event.Field{Key: "hassh", Value: tap.hassh})
		}
		rec(f)
	}
	cfg := &xssh.ServerConfig{
		Config:        xssh.Config{KeyExchanges: serverKex, Ciphers: serverCiphers, MACs: serverMACs},
		MaxAuthTries:  maxAuthTries,
		ServerVersion: string(bytes.TrimRight([]byte(serverBanner(c)), "\r\n")),
		PasswordCallback: func(meta xssh.ConnMetadata, pw []byte) (*xssh.Permissions, error) {
			if h.AcceptAfter > 0 && attempt+1 >= h.AcceptAfter {
				record(meta, "password", event.Field{Key: "password", Value: app.Printable(pw)},
					event.Field{Key: "accepted", Value: true},
					event.AuthField("ssh", app.Printable([]byte(meta.User())), app.Printable(pw), true))
				return &xssh.Permissions{}, nil
			}
			record(meta, "password", event.Field{Key: "password", Value: app.Printable(pw)},
				event.AuthField("ssh", app.Printable([]byte(meta.User())), app.Printable(pw), false))
			return nil, errDenied
		},
		PublicKeyCallback: func(meta xssh.ConnMetadata, key xssh.PublicKey) (*xssh.Permissions, error) {
			record(meta, "publickey", event.Field{Key: "key_type", Value: key.Type()},
				event.Field{Key: "key_fingerprint", Value: xssh.FingerprintSHA256(key)},
				event.AuthHashField("ssh", app.Printable([]byte(meta.User())), xssh.FingerprintSHA256(key), "ssh-publickey-sha256", false))
			return nil, errDenied
		},
		KeyboardInteractiveCallback: func(meta xssh.ConnMetadata, ch xssh.KeyboardInteractiveChallenge) (*xssh.Permissions, error) {
			ans, err := ch("", "", []string{"Password: "}, []bool{false})
			if err != nil || len(ans) != 1 {
				return nil, errDenied
			}
			record(meta, "keyboard-interactive", event.Field{Key: "password", Value: app.Printable([]byte(ans[0]))},
				event.AuthField("ssh", app.Printable([]byte(meta.User())), app.Printable([]byte(ans[0])), false))
			return nil, errDenied
		},
	}
	for _, s := range signers {
		cfg.AddHostKey(s)
	}
	conn, chans, reqs, err := xssh.NewServerConn(tap, cfg)
	if err != nil {
		return // refused, gave up, or not SSH: the close sends our FIN
	}
	// A login was accepted (AcceptAfter): the session's shell and exec
	// requests go to the command recorder.
	_ = nc.SetDeadline(time.Now().Add(loginGraceTime))
	host := shell.NewHost(c.Banner("hostname", ""), c.Banner("uname", ""),
		strings.Contains(strings.ToLower(c.Banner("telnet", "")), "busybox"), app.Printable([]byte(conn.User())))
	go xssh.DiscardRequests(reqs)
	sessions := 0
	for nch := range chans {
		if nch.ChannelType() != "session" {
			rec([]event.Field{{Key: "channel", Value: app.Printable([]byte(nch.ChannelType()))}, {Key: "refused", Value: true}})
			_ = nch.Reject(xssh.Prohibited, "administratively prohibited")
			continue
		}
		if sessions >= maxSessions {
			_ = nch.Reject(xssh.Prohibited, "open failed")
			continue
		}
		ch, chReqs, err := nch.Accept()
		if err != nil {
			break
		}
		sessions++
		go session(ch, chReqs, rec, host, nc)
	}
	_ = conn.Close()
}

// maxSessions is sshd's MaxSessions default: sessions one connection may
// open.
const maxSessions = 10

// session records a session's requests (pty-req, env, shell, exec,
// subsystem). An exec request's command runs in the recording shell, its
// output goes back with exit status 0, and the session ends; a shell
// request gets an interactive recording shell until exit or the client
// leaves; a subsystem (sftp) is recorded and ended. It reports whether the
// session ended that way.
func session(ch xssh.Channel, reqs <-chan *xssh.Request, rec func([]event.Field), host shell.Host, nc net.Conn) bool {
	defer ch.Close()
	pty := false
	for req := range reqs {
		f := []event.Field{{Key: "session_request", Value: req.Type}}
		var cmd string
		switch req.Type {
		case "exec", "subsystem":
			if len(req.Payload) >= 4 {
				cmd = string(req.Payload[4:])
				f = append(f, event.Field{Key: "command", Value: app.Printable(req.Payload[4:])})
			}
		case "env":
			var kv struct{ Name, Value string }
			if xssh.Unmarshal(req.Payload, &kv) == nil {
				f = append(f, event.Field{Key: "env", Value: app.Printable([]byte(kv.Name + "=" + kv.Value))})
			}
		case "pty-req":
			var p struct {
				Term string
				Rest []byte `ssh:"rest"`
			}
			if xssh.Unmarshal(req.Payload, &p) == nil {
				f = append(f, event.Field{Key: "term", Value: app.Printable([]byte(p.Term))})
			}
			pty = true
		}
		if req.Type == "exec" {
			// the command's URLs and hosts, as the shell records them
			for _, sf := range shell.Fields(cmd) {
				if sf.Key != "command" {
					f = append(f, sf)
				}
			}
		}
		rec(f)
		if req.WantReply {
			_ = req.Reply(req.Type != "x11-req" && req.Type != "auth-agent-req@openssh.com", nil)
		}
		switch req.Type {
		case "exec":
			sh := shell.New(host)
			out, _ := sh.Run(cmd)
			_, _ = ch.Write([]byte(newlines(out, pty)))
			_, _ = ch.SendRequest("exit-status", false, []byte{0, 0, 0, 0})
			return true
		case "subsystem":
			_, _ = ch.SendRequest("exit-status", false, []byte{0, 0, 0, 1})
			return true
		case "shell":
			go xssh.DiscardRequests(reqs)
			interactive(ch, rec, host, pty, nc)
			_, _ = ch.SendRequest("exit-status", false, []byte{0, 0, 0, 0})
			return true
		}
	}
	return false
}

// interactive runs the recording shell over ch: each line the client
// types is one event (shell.Fields) and gets the shell's output and a new
// prompt. With a pty the line is echoed and ends in CR LF, as a terminal
// sees it.
func interactive(ch xssh.Channel, rec func([]event.Field), host shell.Host, pty bool, nc net.Conn) {
	sh := shell.New(host)
	var b strings.Builder
	if pty && !host.BusyBox {
		b.WriteString(host.Uname + "\n\nThe programs included with the Debian GNU/Linux system are free software;\n" +
			"the exact distribution terms for each program are described in the\nindividual files in /usr/share/doc/*/copyright.\n\n" +
			"Debian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent\npermitted by applicable law.\n")
	}
	b.WriteString(sh.Prompt())
	if _, err := ch.Write([]byte(newlines(b.String(), pty))); err != nil {
		return
	}
	buf := make([]byte, 1024)
	var line []byte
	prevCR := false
	for !sh.Done() {
		_ = nc.SetDeadline(time.Now().Add(loginGraceTime))
		n, err := ch.Read(buf)
		var echo []byte
		for _, c := range buf[:n] {
			cr := prevCR
			prevCR = c == '\r'
			switch {
			case c == '\r' || c == '\n':
				if c == '\n' && cr {
					continue // the LF of a CR LF
				}
				if pty {
					echo = append(echo, '\r', '\n')
				}
				out, fields := sh.Run(string(line))
				if len(fields) > 0 {
					rec(fields)
				}
				line = line[:0]
				if _, err := ch.Write(append(echo, newlines(out, pty)...)); err != nil {
					return
				}
				echo = echo[:0]
				if sh.Done() {
					return
				}
				if _, err := ch.Write([]byte(sh.Prompt())); err != nil {
					return
				}
			case c == 0x7f || c == 0x08:
				if len(line) > 0 {
					line = line[:len(line)-1]
					if pty {
						echo = append(echo, "\b \b"...)
					}
				}
			case c == 0x03: // ^C: the line is dropped
				line = line[:0]
				if pty {
					echo = append(echo, "^C\r\n"+sh.Prompt()...)
				}
			case c == 0x04 && len(line) == 0: // ^D: logout
				_, _ = ch.Write(append(echo, newlines("logout\n", pty)...))
				return
			default:
				if len(line) < shell.MaxLine {
					line = append(line, c)
					if pty {
						echo = append(echo, c)
					}
				}
			}
		}
		if len(echo) > 0 {
			if _, err := ch.Write(echo); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// newlines turns LF into CR LF for a pty.
func newlines(s string, pty bool) string {
	if !pty {
		return s
	}
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// clientTap reads the client's identification line and first binary
// packet (its KEXINIT, in clear) as they go to the library, and records
// them once, with the HASSH, as the content-detected handler does.
type clientTap struct {
	net.Conn
	rec   func([]event.Field)
	buf   []byte
	done  bool
	line  bool
	hassh string
}

func (t *clientTap) Read(b []byte) (int, error) {
	n, err := t.Conn.Read(b)
	if n > 0 && !t.done {
		t.buf = append(t.buf, b[:n]...)
		t.parse()
	}
	return n, err
}

func (t *clientTap) parse() {
	if !t.line {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			if len(t.buf) > maxIdentLine {
				t.done, t.buf = true, nil
			}
			return
		}
		line := bytes.TrimSuffix(t.buf[:i], []byte{'\r'})
		t.buf = t.buf[i+1:]
		if !bytes.HasPrefix(line, []byte("SSH-")) {
			return // lines before the identification (RFC 4253 4.2)
		}
		t.line = true
		proto, software, comment, ok := parseBanner(line)
		if ok {
			t.rec(bannerFields(line, proto, software, comment))
		}
	}
	res := serveKexinit(t.buf)
	if res.NeedMore {
		if len(t.buf) > maxPacket {
			t.done, t.buf = true, nil
		}
		return
	}
	t.done, t.buf = true, nil
	for _, f := range res.Fields {
		if f.Key == "hassh" {
			t.hassh, _ = f.Value.(string)
		}
	}
	if len(res.Fields) > 0 {
		t.rec(res.Fields)
	}
}
