package adb

import (
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/shell"
	"github.com/masscanned-go/masscanned/internal/event"
)

type kind uint8

const (
	kindShell   kind = iota + 1 // a shell: one command, or interactive
	kindSync                    // the file sync protocol
	kindInstall                 // an APK streamed to "package install -S SIZE"
	kindSink                    // data taken and ignored
)

// Shell protocol v2 packet ids.
const (
	v2Stdin      = 0
	v2Stdout     = 1
	v2Stderr     = 2
	v2Exit       = 3
	v2CloseStdin = 4
	v2WindowSize = 5
	// v2Chunk bounds one stdout packet (the client's buffer is larger).
	v2Chunk = 4096
)

// stream is one service the client opened.
type stream struct {
	local, remote uint32
	kind          kind

	// shell
	v2, pty bool
	sh      *shell.Session
	line    []byte // interactive input not yet run
	lastCR  bool
	pk      [5]byte // v2 input: the packet header being read
	pkn     int
	pkLeft  int  // v2 input: payload bytes left of the current packet
	pkID    byte // its id

	sync *syncer
	inst *installer
}

// host is the Android device the shell shows.
func (st *state) host() shell.Host {
	h := shell.NewHost(st.hostname, st.uname, false, "shell")
	h.Android = &shell.Android{Props: st.props}
	return h
}

// open answers OPEN(local-id, 0, service): OKAY(our id, local-id) and
// what the service says, or CLSE(0, local-id) when it cannot start.
func (st *state) open(c *app.Conn, m header, p []byte) app.Result {
	svc := strings.TrimRight(string(p), "\x00")
	if len(svc) > shell.MaxLine+64 {
		svc = svc[:shell.MaxLine+64]
	}
	f := []event.Field{{Key: "service", Value: app.Printable([]byte(svc))}}
	if m.arg0 == 0 || m.arg1 != 0 {
		return app.Result{Fields: append(f, event.Field{Key: "error", Value: "bad OPEN ids"})}
	}
	refuse := func(why string) app.Result {
		if why != "" {
			f = append(f, event.Field{Key: "error", Value: why})
		}
		return app.Result{Fields: f, Reply: st.packet(cmdCLSE, 0, m.arg0, nil)}
	}
	if len(st.streams) >= maxStreams {
		return refuse("too many streams")
	}
	s := &stream{local: st.nextID, remote: m.arg0}
	st.nextID++
	if st.nextID == 0 {
		st.nextID = 1
	}
	okay := st.packet(cmdOKAY, s.local, s.remote, nil)
	// say answers with output then closes the stream
	say := func(out string) app.Result {
		r := okay
		if out != "" {
			r = append(r, st.writes(s, []byte(out))...)
		}
		r = append(r, st.packet(cmdCLSE, s.local, s.remote, nil)...)
		return app.Result{Fields: f, Reply: r}
	}
	name := svc
	switch {
	case strings.HasPrefix(name, "shell"):
		args, cmd, ok := strings.Cut(name[len("shell"):], ":")
		if !ok || args != "" && args[0] != ',' {
			return refuse("")
		}
		s.kind, s.pty = kindShell, cmd == ""
		for _, a := range strings.Split(args, ",") {
			switch {
			case a == "raw":
				s.pty = false
			case a == "pty":
				s.pty = true
			case a == "v2":
				s.v2 = true
			case strings.HasPrefix(a, "TERM="):
				f = append(f, event.Field{Key: "term", Value: app.Printable([]byte(a[5:]))})
			}
		}
		return st.startShell(s, cmd, okay, f)
	case strings.HasPrefix(name, "exec:"):
		s.kind = kindShell
		return st.startShell(s, name[len("exec:"):], okay, f)
	case strings.HasPrefix(name, "abb_exec:"), strings.HasPrefix(name, "abb:"):
		_, rest, _ := strings.Cut(name, ":")
		argv := strings.Split(rest, "\x00")
		s.kind, s.v2 = kindShell, strings.HasPrefix(name, "abb:")
		return st.startShell(s, "cmd "+strings.Join(argv, " "), okay, f)
	case strings.HasPrefix(name, "sync:"):
		s.kind, s.sync = kindSync, &syncer{}
		st.streams = append(st.streams, s)
		return app.Result{Fields: f, Reply: okay}
	case strings.HasPrefix(name, "reboot:"):
		// the device reboots: adbd and its connection go away
		res := say("")
		res.Close = true
		return res
	case strings.HasPrefix(name, "tcpip:"):
		port, err := strconv.Atoi(strings.TrimSpace(name[len("tcpip:"):]))
		if err != nil || port <= 0 || port > 65535 {
			return refuse("")
		}
		res := say("restarting in TCP mode port: " + strconv.Itoa(port) + "\n")
		res.Close = true
		return res
	case strings.HasPrefix(name, "usb:"):
		res := say("restarting in USB mode\n")
		res.Close = true
		return res
	case name == "reconnect":
		res := say("done")
		res.Close = true
		return res
	case strings.HasPrefix(name, "root:"):
		return say("adbd cannot run as root in production builds\n")
	case strings.HasPrefix(name, "unroot:"):
		return say("adbd not running as root\n")
	case strings.HasPrefix(name, "remount:"):
		return say("Not running as root. Try \"adb root\" first.\n")
	case strings.HasPrefix(name, "disable-verity:"), strings.HasPrefix(name, "enable-verity:"):
		return say("verity cannot be disabled/enabled - USER build\n")
	case name == "spin":
		return say("refusing to spin on non-debuggable build\n")
	case strings.HasPrefix(name, "framebuffer:"), strings.HasPrefix(name, "backup:"), strings.HasPrefix(name, "restore:"):
		// screencap and bu fail for the shell user: nothing comes out
		return say("")
	case name == "jdwp", name == "track-jdwp":
		// no debuggable app runs: an empty process list, then silence
		s.kind = kindSink
		st.streams = append(st.streams, s)
		return app.Result{Fields: f, Reply: append(okay, st.writes(s, []byte("0000"))...)}
	case strings.HasPrefix(name, "tcp:"), strings.HasPrefix(name, "udp:"), strings.HasPrefix(name, "local"),
		strings.HasPrefix(name, "vsock:"), strings.HasPrefix(name, "dev:"), strings.HasPrefix(name, "jdwp:"):
		// a connection through the device: nothing listens there
		if strings.HasPrefix(name, "tcp:") || strings.HasPrefix(name, "udp:") {
			f = append(f, event.Field{Key: "forward", Value: app.Printable([]byte(name))})
		}
		return refuse("connection refused")
	}
	return refuse("unknown service")
}

// startShell runs cmd (or starts an interactive shell when cmd is empty).
func (st *state) startShell(s *stream, cmd string, okay []byte, f []event.Field) app.Result {
	s.sh = shell.NewAndroid(st.host())
	if cmd != "" {
		if n, ok := installSize(cmd); ok {
			// an APK follows on the stream: take it, then say Success
			s.kind, s.inst = kindInstall, newInstaller(n)
			f = append(f, shell.Fields(cmd)...)
			st.streams = append(st.streams, s)
			if n == 0 {
				return app.Result{Fields: f, Reply: append(okay, s.inst.finish(st, s, &f)...)}
			}
			return app.Result{Fields: f, Reply: okay}
		}
		out, fields := s.sh.Run(cmd)
		f = append(f, fields...)
		r := append(okay, s.output(st, out)...)
		if s.v2 {
			r = append(r, st.writes(s, v2Packet(v2Exit, []byte{exitCode(out)}))...)
		}
		r = append(r, st.packet(cmdCLSE, s.local, s.remote, nil)...)
		return app.Result{Fields: f, Reply: r}
	}
	st.streams = append(st.streams, s)
	r := okay
	if s.pty {
		r = append(r, s.output(st, s.sh.AndroidPrompt())...)
	}
	return app.Result{Fields: f, Reply: r}
}

// output is out as the stream carries it: a tty's CRLF line ends, in
// stdout packets under shell protocol v2.
func (s *stream) output(st *state, out string) []byte {
	if out == "" {
		return nil
	}
	if s.pty {
		out = strings.ReplaceAll(out, "\n", "\r\n")
	}
	if !s.v2 {
		return st.writes(s, []byte(out))
	}
	var p []byte
	for b := []byte(out); len(b) > 0; {
		n := min(len(b), v2Chunk)
		p = append(p, v2Packet(v2Stdout, b[:n])...)
		b = b[n:]
	}
	return st.writes(s, p)
}

func v2Packet(id byte, data []byte) []byte {
	p := []byte{id, byte(len(data)), byte(len(data) >> 8), byte(len(data) >> 16), byte(len(data) >> 24)}
	return append(p, data...)
}

// exitCode is the status of the last command of an output: mksh's 127
// for a missing command, 1 for a failed file operation, else 0.
func exitCode(out string) byte {
	last := strings.TrimSuffix(out, "\n")
	if i := strings.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	switch {
	case strings.HasSuffix(last, "inaccessible or not found"):
		return 127
	case strings.HasSuffix(last, "No such file or directory"), strings.HasSuffix(last, "Permission denied"):
		return 1
	}
	return 0
}

// ready is the client's OKAY for our WRTE: nothing waits for it.
func (s *stream) ready(*state) app.Result { return app.Result{} }

// input is data the client wrote to the stream (part of a WRTE payload).
func (s *stream) input(st *state, p []byte) app.Result {
	switch s.kind {
	case kindSync:
		return s.sync.input(st, s, p)
	case kindInstall:
		return s.inst.input(st, s, p)
	case kindShell:
		if !s.v2 {
			return s.typed(st, p)
		}
		return s.v2input(st, p)
	}
	return app.Result{}
}

// v2input takes shell protocol packets: stdin is typed, closing stdin
// ends the shell, window sizes are ignored.
func (s *stream) v2input(st *state, p []byte) app.Result {
	var res app.Result
	for len(p) > 0 && st.find(s.local, s.remote) != nil {
		if s.pkLeft == 0 && s.pkn < 5 {
			n := copy(s.pk[s.pkn:], p)
			s.pkn += n
			p = p[n:]
			if s.pkn < 5 {
				break
			}
			s.pkID = s.pk[0]
			s.pkLeft = int(uint32(s.pk[1]) | uint32(s.pk[2])<<8 | uint32(s.pk[3])<<16 | uint32(s.pk[4])<<24)
			s.pkn = 0
			if s.pkID == v2CloseStdin && s.pkLeft == 0 {
				res.Reply = append(res.Reply, s.exit(st)...)
				break
			}
			if s.pkLeft == 0 {
				continue
			}
			if s.pkLeft < 0 {
				s.pkLeft = 1 << 30
			}
		}
		n := min(len(p), s.pkLeft)
		s.pkLeft -= n
		if s.pkID == v2Stdin {
			r := s.typed(st, p[:n])
			res.Reply = append(res.Reply, r.Reply...)
			res.Fields = append(res.Fields, r.Fields...)
		}
		p = p[n:]
	}
	return res
}

// exit ends the shell: exit status 0 (v2) and our CLSE.
func (s *stream) exit(st *state) []byte {
	var r []byte
	if s.v2 {
		r = st.writes(s, v2Packet(v2Exit, []byte{0}))
	}
	return append(r, st.closeStream(s)...)
}

// typed is input to an interactive shell: a tty echoes it and edits the
// line; each line is run.
func (s *stream) typed(st *state, p []byte) app.Result {
	var res app.Result
	var echo []byte
	for _, c := range p {
		cr := s.lastCR
		s.lastCR = c == '\r'
		switch {
		case c == '\n' && cr:
			continue
		case c == '\r' || c == '\n':
			if s.pty {
				echo = append(echo, '\n')
			}
			line := string(s.line)
			s.line = s.line[:0]
			out, fields := s.sh.Run(line)
			res.Fields = append(res.Fields, fields...)
			echo = append(echo, out...)
			if s.sh.Done() {
				res.Reply = append(res.Reply, s.output(st, string(echo))...)
				res.Reply = append(res.Reply, s.exit(st)...)
				return res
			}
			if s.pty {
				echo = append(echo, s.sh.AndroidPrompt()...)
			}
		case c == 0x7f || c == 0x08:
			if len(s.line) > 0 {
				s.line = s.line[:len(s.line)-1]
				if s.pty {
					echo = append(echo, "\b \b"...)
				}
			}
		case c == 0x03 && s.pty: // ^C
			s.line = s.line[:0]
			echo = append(echo, "^C\n"...)
			echo = append(echo, s.sh.AndroidPrompt()...)
		case c == 0x04 && len(s.line) == 0: // ^D
			res.Reply = append(res.Reply, s.output(st, string(echo))...)
			res.Reply = append(res.Reply, s.exit(st)...)
			return res
		case c == 0x15: // ^U
			s.line = s.line[:0]
		default:
			if len(s.line) < shell.MaxLine {
				s.line = append(s.line, c)
				if s.pty {
					echo = append(echo, c)
				}
			}
		}
		if len(echo) > 16<<10 {
			res.Reply = append(res.Reply, s.output(st, string(echo))...)
			echo = echo[:0]
		}
	}
	res.Reply = append(res.Reply, s.output(st, string(echo))...)
	return res
}
