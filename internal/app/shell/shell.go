// Package shell is the command recorder shared by every service that gives
// a client a command line (Telnet after a login, SSH sessions, ADB shell,
// Redis): each command line is recorded as typed, the URLs and host:port
// pairs it names are extracted, and nothing is ever executed or fetched.
//
// A Session plays a small POSIX shell well enough for the handful of
// commands bots use to fingerprint a shell before they drop a payload
// (uname, /proc/cpuinfo, /bin/busybox APPLET, echo -e, cd, wget/tftp
// attempts); its answers come from the host profile (Host), not from
// branches on the personality.
package shell

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/event"
)

// Limits on what one line may cost.
const (
	// MaxLine is the longest command line recorded; the rest is cut.
	MaxLine = 1024
	// maxList caps the URLs and hosts extracted from one line.
	maxList = 16
	// maxOut caps the output of one line.
	maxOut = 4096
	// maxCmds caps the commands run from one line.
	maxCmds = 64
)

// Host is what the shell shows of the machine: the host profile's values.
type Host struct {
	Hostname string
	// Uname is the whole `uname -a` line ("Linux HOST 5.10.0 ... x86_64
	// GNU/Linux"); its fields answer uname's other options.
	Uname string
	// BusyBox: the shell is BusyBox ash (messages, applets); otherwise
	// GNU bash with coreutils.
	BusyBox bool
	// User is the logged-in user name (prompt, id, whoami).
	User string
	// Android, when set, makes the shell Android's mksh with toybox
	// (ADB shell): see android.go.
	Android *Android
}

// Default uname lines, used when the profile names none.
const (
	DefaultUnameLinux   = "Linux %s 5.10.0-28-amd64 #1 SMP Debian 5.10.209-2 (2024-01-31) x86_64 GNU/Linux"
	DefaultUnameBusyBox = "Linux %s 3.10.14 #1 SMP PREEMPT Thu Mar 4 10:21:42 CST 2021 armv7l GNU/Linux"
)

// NewHost fills the defaults of a Host: hostname "localhost", the uname
// line of the shell's flavour, user "root".
func NewHost(hostname, uname string, busybox bool, user string) Host {
	if hostname == "" {
		hostname = "localhost"
	}
	if uname == "" {
		f := DefaultUnameLinux
		if busybox {
			f = DefaultUnameBusyBox
		}
		uname = strings.Replace(f, "%s", hostname, 1)
	}
	if user == "" {
		user = "root"
	}
	return Host{Hostname: hostname, Uname: uname, BusyBox: busybox, User: user}
}

// Arch is the machine field of the uname line (x86_64, armv7l, mips, ...).
func (h Host) Arch() string {
	f := strings.Fields(h.Uname)
	if len(f) >= 2 && f[len(f)-1] == "GNU/Linux" {
		return f[len(f)-2]
	}
	if len(f) > 0 {
		return f[len(f)-1]
	}
	return "x86_64"
}

// Session is one shell: its working directory and whether it ended.
type Session struct {
	host Host
	cwd  string
	done bool
}

// New starts a shell for h in the user's home directory.
func New(h Host) *Session {
	s := &Session{host: h, cwd: "/root"}
	if h.User != "root" {
		s.cwd = "/home/" + h.User
	}
	if h.BusyBox {
		s.cwd = "/"
	}
	return s
}

// Prompt is the shell's prompt: "# " for BusyBox root, bash's
// "user@host:dir# " otherwise.
func (s *Session) Prompt() string {
	sign := "$ "
	if s.host.User == "root" {
		sign = "# "
	}
	if s.host.BusyBox {
		return sign
	}
	dir := s.cwd
	home := "/root"
	if s.host.User != "root" {
		home = "/home/" + s.host.User
	}
	if dir == home {
		dir = "~"
	} else if strings.HasPrefix(dir, home+"/") {
		dir = "~" + dir[len(home):]
	}
	return s.host.User + "@" + s.host.Hostname + ":" + dir + sign
}

// Done reports whether the shell ended (exit, logout).
func (s *Session) Done() bool { return s.done }

// Run records line and returns the shell's output (lines end in "\n")
// and the fields to record: command, and urls and hosts when it names
// any. An empty line gives no fields.
func (s *Session) Run(line string) (out string, fields []event.Field) {
	if len(line) > MaxLine {
		line = line[:MaxLine]
	}
	fields = Fields(line)
	var b strings.Builder
	for i, cmd := range split(line) {
		if i >= maxCmds || s.done || b.Len() >= maxOut {
			break
		}
		s.exec(cmd, &b)
	}
	out = b.String()
	if len(out) > maxOut {
		out = out[:maxOut]
	}
	return out, fields
}

// Fields are the recorded fields of a command line: command (printable,
// capped at MaxLine), urls and hosts when it names any; none for a blank
// line.
func Fields(line string) []event.Field {
	if len(line) > MaxLine {
		line = line[:MaxLine]
	}
	if strings.TrimSpace(line) == "" {
		return nil
	}
	f := []event.Field{{Key: "command", Value: printable(line)}}
	urls, hosts := Extract(line)
	if len(urls) > 0 {
		f = append(f, event.Field{Key: "urls", Value: urls})
	}
	if len(hosts) > 0 {
		f = append(f, event.Field{Key: "hosts", Value: hosts})
	}
	return f
}

var (
	urlRe  = regexp.MustCompile(`(?i)\b(?:https?|ftp|tftp)://[^\s'"` + "`" + `;|&<>()]+`)
	hostRe = regexp.MustCompile(`\b(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?::(\d{1,5}))?\b`)
)

// Extract returns the URLs a command line names (written out, or implied
// by tftp and ftpget arguments) and the IPv4 hosts it names, as
// "a.b.c.d" or "a.b.c.d:port"; each list deduplicated, in order, at most
// 16 entries.
func Extract(line string) (urls, hosts []string) {
	add := func(l []string, v string) []string {
		for _, x := range l {
			if x == v {
				return l
			}
		}
		if len(l) >= maxList {
			return l
		}
		return append(l, printable(v))
	}
	for _, u := range urlRe.FindAllString(line, -1) {
		urls = add(urls, u)
	}
	for _, cmd := range split(line) {
		argv := fieldsOf(cmd)
		if len(argv) > 1 && base(argv[0]) == "busybox" {
			argv = argv[1:]
		}
		if len(argv) == 0 {
			continue
		}
		switch base(argv[0]) {
		case "tftp":
			if u := tftpURL(argv[1:]); u != "" {
				urls = add(urls, u)
			}
		case "ftpget":
			if u := ftpgetURL(argv[1:]); u != "" {
				urls = add(urls, u)
			}
		}
	}
	for _, m := range hostRe.FindAllStringSubmatch(line, -1) {
		if !validIPv4(m[1]) {
			continue
		}
		h := m[1]
		if m[2] != "" {
			if p, err := strconv.Atoi(m[2]); err == nil && p > 0 && p < 65536 {
				h += ":" + m[2]
			}
		}
		hosts = add(hosts, h)
	}
	return urls, hosts
}

func validIPv4(s string) bool {
	for _, p := range strings.Split(s, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n > 255 || (len(p) > 1 && p[0] == '0') {
			return false
		}
	}
	return true
}

// tftpURL: BusyBox tftp [-g|-p] [-l LOCAL] [-r REMOTE] HOST [PORT].
func tftpURL(args []string) string {
	var remote, local, host, port string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-r" && i+1 < len(args):
			i++
			remote = args[i]
		case a == "-c" && i+2 < len(args): // GNU tftp: -c get FILE
			remote = args[i+2]
			i += 2
		case a == "-l" && i+1 < len(args):
			i++
			local = args[i]
		case strings.HasPrefix(a, "-"):
		case host == "":
			host = a
		case port == "":
			port = a
		}
	}
	if remote == "" {
		remote = local
	}
	if host == "" || remote == "" {
		return ""
	}
	if port != "" && port != "69" {
		host += ":" + port
	}
	return "tftp://" + host + "/" + strings.TrimPrefix(remote, "/")
}

// ftpgetURL: BusyBox ftpget [-u USER] [-p PASS] [-P PORT] HOST LOCAL [REMOTE].
func ftpgetURL(args []string) string {
	var pos []string
	port := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if (a == "-u" || a == "-p" || a == "-P") && i+1 < len(args) {
			if a == "-P" {
				port = args[i+1]
			}
			i++
			continue
		}
		if strings.HasPrefix(a, "-") {
			continue
		}
		pos = append(pos, a)
	}
	if len(pos) < 2 {
		return ""
	}
	remote := pos[1]
	if len(pos) >= 3 {
		remote = pos[2]
	}
	host := pos[0]
	if port != "" && port != "21" {
		host += ":" + port
	}
	return "ftp://" + host + "/" + strings.TrimPrefix(remote, "/")
}

// split cuts a line into commands at ; && || | and newlines, outside
// quotes.
func split(line string) []string {
	var out []string
	var q byte
	start := 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			} else if c == '\\' && q == '"' && i+1 < len(line) {
				i++
			}
		case c == '\'' || c == '"':
			q = c
		case c == '\\' && i+1 < len(line):
			i++
		case c == ';' || c == '|' || c == '&' || c == '\n' || c == '\r':
			if s := strings.TrimSpace(line[start:i]); s != "" {
				out = append(out, s)
			}
			if i+1 < len(line) && (c == '|' || c == '&') && line[i+1] == c {
				i++
			}
			start = i + 1
		}
	}
	if s := strings.TrimSpace(line[start:]); s != "" {
		out = append(out, s)
	}
	return out
}

// fieldsOf splits a command into words, removing quotes and backslash
// escapes the way sh does (no expansion); redirections stay words.
func fieldsOf(cmd string) []string {
	var out []string
	var w strings.Builder
	in := false
	var q byte
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case q == '\'':
			if c == '\'' {
				q = 0
			} else {
				w.WriteByte(c)
			}
		case q == '"':
			if c == '"' {
				q = 0
			} else if c == '\\' && i+1 < len(cmd) && strings.IndexByte("\"\\$`", cmd[i+1]) >= 0 {
				i++
				w.WriteByte(cmd[i])
			} else {
				w.WriteByte(c)
			}
		case c == '\'' || c == '"':
			q, in = c, true
		case c == '\\' && i+1 < len(cmd):
			i++
			w.WriteByte(cmd[i])
			in = true
		case c == ' ' || c == '\t':
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, w.String())
	}
	return out
}

func base(s string) string {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// printable escapes control bytes and invalid UTF-8 as \xNN.
func printable(s string) string { return app.Printable([]byte(s)) }
