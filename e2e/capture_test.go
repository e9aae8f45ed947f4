package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// capPacket is one packet of a --capture file as tshark reads it.
type capPacket struct {
	file    string
	comment string
	dir     int // 1 inbound, 2 outbound
	length  int
}

// readCapture reads every file of a capture with tshark (which must
// accept each one) and returns their packets, in file order.
func readCapture(t *testing.T, files []string) []capPacket {
	t.Helper()
	var out []capPacket
	for _, f := range files {
		cmd := exec.Command("tshark", "-r", f, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
			"-e", "frame.comment", "-e", "frame.packet_flags_direction", "-e", "frame.len")
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("tshark -r %s: %v", f, err)
		}
		for line := range strings.SplitSeq(strings.TrimRight(string(b), "\n"), "\n") {
			if line == "" {
				continue
			}
			fs := strings.Split(line, "\t")
			if len(fs) != 3 {
				t.Fatalf("%s: tshark line %q", f, line)
			}
			dir, _ := strconv.ParseInt(strings.TrimPrefix(fs[1], "0x"), 16, 64)
			n, _ := strconv.Atoi(fs[2])
			out = append(out, capPacket{file: filepath.Base(f), comment: fs[0], dir: int(dir & 3), length: n})
		}
	}
	return out
}

func captureFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "cap-[0-9][0-9][0-9][0-9][0-9][0-9].pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// TestCaptureFullDuplex: with --capture and a small rotation size, real
// clients (ping, nmap -sS, curl, ssh-keyscan, ssh with a password served
// by the SSH library) leave numbered pcapng files that tshark reads; they
// hold one packet per frame received and per reply sent (the exit
// summary's counts, and the JSON events' frames, verdicts and reply
// bytes), each with its event's comment and direction. SIGHUP starts a
// new file, which gets the packets of a later request.
func TestCaptureFullDuplex(t *testing.T) {
	Require(t, "tshark", "nmap", "curl", "ssh-keyscan", "sshpass", "ssh", "ping")
	t.Parallel()
	l := NewLab(t, LabOptions{})
	dir := filepath.Join(l.Dir, "capture")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	const rotate = 24 << 10
	l.Start("-v", "--capture", filepath.Join(dir, "cap.pcapng"), "--capture-rotate-size", "24K")

	if out, err := l.InClient(20*time.Second, "ping", "-c", "3", "-i", "0.2", RespIP4); err != nil {
		t.Errorf("ping: %v\n%s", err, out)
	}
	if out, err := l.InClient(20*time.Second, "ping", "-6", "-c", "2", "-i", "0.2", RespIP6); err != nil {
		t.Errorf("ping -6: %v\n%s", err, out)
	}
	if out, err := l.InClient(60*time.Second, "nmap", "-n", "-Pn", "-sS", "-p", "21,22,80,443,3306", RespIP4); err != nil || !strings.Contains(out, "80/tcp") {
		t.Errorf("nmap: %v\n%s", err, out)
	}
	if out, err := l.InClient(20*time.Second, "curl", "-s", "-m", "10", "http://"+RespIP4+"/before"); err != nil {
		t.Errorf("curl: %v\n%s", err, out)
	}
	warmSSH(t, l)
	out, err := l.InClient(30*time.Second, "sshpass", "-p", "hunter2", "ssh", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
		"-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=10", "root@"+RespIP4, "true")
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("ssh: %v\n%s", err, out)
	}

	// SIGHUP: the next file starts, and gets the next request
	before := captureFiles(t, dir)
	l.Signal(syscall.SIGHUP)
	reopened := regexp.MustCompile(`msg="capture file" path=(\S+) why=reopen`)
	var hupFile string
	for i := 0; i < 100 && hupFile == ""; i++ {
		if m := reopened.FindStringSubmatch(l.Stderr()); m != nil {
			hupFile = filepath.Base(m[1])
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if hupFile == "" {
		t.Fatalf("no new file after SIGHUP:\n%s", l.Stderr())
	}
	if out, err := l.InClient(20*time.Second, "curl", "-s", "-m", "10", "http://"+RespIP4+"/after-hup"); err != nil {
		t.Errorf("curl: %v\n%s", err, out)
	}
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	stderr := l.Stderr()

	// the exit summary
	sum := regexp.MustCompile(`msg=stopped frames=(\d+) sent=(\d+) send_errors=(\d+) .*capture_packets=(\d+) capture_dropped=(\d+) capture_errors=(\d+) capture_files=(\d+) events_written=\d+ events_dropped=(\d+)`).FindStringSubmatch(stderr)
	if sum == nil {
		t.Fatalf("no exit summary:\n%s", stderr)
	}
	num := func(i int) int { n, _ := strconv.Atoi(sum[i]); return n }
	frames, sent, sendErrors, written, dropped, capErrs, nfiles, evDropped := num(1), num(2), num(3), num(4), num(5), num(6), num(7), num(8)
	if dropped != 0 || capErrs != 0 || evDropped != 0 || sendErrors != 0 {
		t.Fatalf("losses: %s", sum[0])
	}

	files := captureFiles(t, dir)
	if len(files) != nfiles || len(files) < 3 {
		t.Errorf("files %v, summary says %d (want several: rotation at %d bytes, and SIGHUP)", files, nfiles, rotate)
	}
	if !slices.Contains(files, filepath.Join(dir, hupFile)) || slices.Contains(before, filepath.Join(dir, hupFile)) {
		t.Errorf("SIGHUP file %s: before %v, after %v", hupFile, before, files)
	}
	pkts := readCapture(t, files)
	perFile := map[string]int{}
	for _, p := range pkts {
		perFile[p.file]++
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if n := perFile[filepath.Base(f)]; st.Size() > rotate && n > 1 {
			t.Errorf("%s: %d bytes with %d packets, over the rotation size", f, st.Size(), n)
		}
	}
	if !strings.Contains(stderr, "why=size") {
		t.Errorf("no rotation by size in the log")
	}

	// packets: one per frame received, one per reply sent
	if len(pkts) != frames+sent || written != len(pkts) {
		t.Errorf("%d packets (capture_packets %d), want frames %d + sent %d", len(pkts), written, frames, sent)
	}
	var in, outN, outBytes, unrecorded int
	inVerdicts := map[string]int{}
	var hupHTTP bool
	for _, p := range pkts {
		if p.comment == "" {
			t.Errorf("%s: packet without comment", p.file)
		}
		switch p.dir {
		case 1:
			in++
			inVerdicts[strings.Fields(p.comment + " ")[0]]++
		case 2:
			outN++
			if p.comment == "timer" {
				// a frame Tick sent that no event records (the pure
				// ACK of a library greeting): its bytes are in no
				// reply_len
				unrecorded += p.length
			} else {
				outBytes += p.length
			}
		default:
			t.Errorf("%s: packet without direction: %+v", p.file, p)
		}
		if p.file == hupFile && strings.Contains(p.comment, "app=http") && strings.Contains(p.comment, "/after-hup") {
			hupHTTP = true
		}
	}
	// the events: one per frame (no kind), with its verdict; every reply's
	// bytes in reply_len (frame events and timer actions)
	evFrames, replyBytes := 0, 0
	evVerdicts := map[string]int{}
	for _, e := range l.Events() {
		replyBytes += int(e.Num("reply_len"))
		if e.Str("kind") == "" {
			evFrames++
			evVerdicts[e.Str("verdict")]++
		}
	}
	if in != frames || in != evFrames {
		t.Errorf("%d inbound packets, %d frames received, %d frame events", in, frames, evFrames)
	}
	if outN != sent || outBytes != replyBytes {
		t.Errorf("%d outbound packets of %d bytes (and %d bytes under \"timer\"); %d sent, %d reply bytes in the events", outN, outBytes, unrecorded, sent, replyBytes)
		byCap, byEv := map[string]int{}, map[string]int{}
		for _, p := range pkts {
			if p.dir == 2 {
				f := strings.Fields(p.comment)
				k := f[0]
				if len(f) > 1 && strings.HasPrefix(f[1], "reply=") {
					k += " " + f[1]
				}
				byCap[k] += p.length
			}
		}
		for _, e := range l.Events() {
			k := e.Str("kind")
			if k == "" {
				k = e.Str("verdict")
			}
			if r := e.Str("reply"); r != "" {
				k += " reply=" + r
			}
			byEv[k] += int(e.Num("reply_len"))
		}
		t.Logf("reply bytes by comment %v\nby event %v", byCap, byEv)
	}
	for _, v := range []string{"recv", "send", "drop"} {
		if inVerdicts[v] != evVerdicts[v] {
			t.Errorf("inbound %q: %d packets, %d events", v, inVerdicts[v], evVerdicts[v])
		}
	}
	if !hupHTTP {
		t.Errorf("the request after SIGHUP is not in %s", hupFile)
	}
	// what the comments say
	has := func(dir int, parts ...string) bool {
		for _, p := range pkts {
			if p.dir != dir {
				continue
			}
			ok := true
			for _, s := range parts {
				ok = ok && strings.Contains(p.comment, s)
			}
			if ok {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		dir   int
		parts []string
	}{
		{1, []string{"send reply=echo-reply"}},
		{2, []string{"send reply=echo-reply"}},
		{1, []string{"send reply=syn-ack"}},
		{2, []string{"send reply=syn-ack"}},
		{1, []string{"drop reason="}},
		{1, []string{"send reply=data app=http", "path=/before"}},
		{2, []string{"send reply=data app=http", "path=/before"}},
		{2, []string{"timer reply=data"}}, // the SSH library's output, sent by Tick
		// the library's record of the password rides on the next reply
		// on that connection: a timer's data or the ACK of a client frame
		{2, []string{"reply=", "app=ssh", "auth_method=password", "user=root"}},
	} {
		if !has(c.dir, c.parts...) {
			t.Errorf("no packet (direction %d) with %q", c.dir, c.parts)
		}
	}
	if t.Failed() {
		var b strings.Builder
		for _, p := range pkts {
			b.WriteString(p.file + " " + strconv.Itoa(p.dir) + " " + p.comment + "\n")
		}
		t.Logf("packets:\n%s", b.String())
	}
}
