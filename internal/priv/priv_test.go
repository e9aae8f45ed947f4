package priv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const childEnv = "MASSCANNED_PRIV_TEST_CHILD"

func TestIsRootAndStatus(t *testing.T) {
	if IsRoot() != (os.Geteuid() == 0) {
		t.Fatal("IsRoot")
	}
	uid, caps, err := Status()
	if err != nil {
		t.Fatal(err)
	}
	if uid != os.Geteuid() {
		t.Fatalf("uid %d, want %d", uid, os.Geteuid())
	}
	for _, want := range []string{"CapEff=", "CapPrm=", "CapBnd=", "CapAmb=", "NoNewPrivs="} {
		if !strings.Contains(caps, want) {
			t.Fatalf("status %q lacks %s", caps, want)
		}
	}
	t.Log(uid, caps)
}

func TestUnknownUser(t *testing.T) {
	err := Drop("no-such-user-masscanned-test", false)
	if err == nil || err.Error() != `user "no-such-user-masscanned-test" not found` {
		t.Fatalf("err = %v", err)
	}
}

func TestParseStatus(t *testing.T) {
	in := "Name:\tx\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\n" +
		"CapInh:\t0000000000000000\nCapPrm:\t0000000000003000\nCapEff:\t0000000000002000\n" +
		"CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\n"
	st, err := parseStatus([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(st.uids) != "[65534 65534 65534 65534]" || st.capPrm != 0x3000 || st.capEff != 0x2000 ||
		st.capBnd != 0x1ffffffffff || st.noNewPrivs != "1" {
		t.Fatalf("%+v", st)
	}
	if _, err := parseStatus([]byte("CapEff:\tzz\nUid:\t0\n")); err == nil {
		t.Fatal("bad CapEff accepted")
	}
	if _, err := parseStatus([]byte("Name:\tx\n")); err == nil {
		t.Fatal("missing Uid accepted")
	}
}

func TestCapNames(t *testing.T) {
	for _, tc := range []struct {
		set  uint64
		want string
	}{
		{0, ""},
		{1 << CapNetRaw, "cap_net_raw"},
		{1<<CapNetRaw | 1<<CapNetAdmin, "cap_net_admin,cap_net_raw"},
		{1 << 50, "cap_50"},
		{0x1ffffffffff, "41 capabilities"},
	} {
		if got := capNames(tc.set); got != tc.want {
			t.Errorf("capNames(%x) = %q, want %q", tc.set, got, tc.want)
		}
	}
}

// TestDrop drops privileges in a child process (dropping is irreversible)
// and checks every thread of the child from the inside.
func TestDrop(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child")
	}
	if !IsRoot() {
		t.Skip("needs root")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skip("no user nobody")
	}
	bin := childBinary(t)
	for _, tc := range []struct {
		name         string
		keepNetAdmin bool
		want         uint64
	}{
		{"net_raw only", false, 1 << CapNetRaw},
		{"net_raw and net_admin", true, 1<<CapNetRaw | 1<<CapNetAdmin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, "-test.run=^TestDropChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=nobody:%t:%x", childEnv, tc.keepNetAdmin, tc.want))
			out, err := cmd.CombinedOutput()
			t.Logf("child output:\n%s", out)
			if err != nil {
				t.Fatalf("child: %v", err)
			}
			if !bytes.Contains(out, []byte("CHILD OK")) {
				t.Fatal("child did not run its checks")
			}
		})
	}
}

// childBinary returns a test binary that can drop privileges: this one if
// it was built without cgo, else one built now with CGO_ENABLED=0.
func childBinary(t *testing.T) string {
	t.Helper()
	_, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_GET_KEEPCAPS, 0, 0)
	if e != syscall.ENOTSUP {
		return os.Args[0]
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("test binary uses cgo and no go command to rebuild it with CGO_ENABLED=0")
	}
	bin := filepath.Join(t.TempDir(), "priv.test")
	cmd := exec.Command(gobin, "test", "-c", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the child with CGO_ENABLED=0: %v\n%s", err, out)
	}
	return bin
}

func TestDropChild(t *testing.T) {
	spec := os.Getenv(childEnv)
	if spec == "" {
		t.Skip("only run as a child of TestDrop")
	}
	parts := strings.Split(spec, ":")
	name, keepNetAdmin := parts[0], parts[1] == "true"
	want, _ := strconv.ParseUint(parts[2], 16, 64)
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	// Extra OS threads that exist before Drop: each must be dropped too.
	const nthreads = 4
	work := make([]chan func(), nthreads)
	done := make(chan error)
	for i := range work {
		work[i] = make(chan func())
		go func(c chan func()) {
			runtime.LockOSThread()
			for f := range c {
				f()
			}
		}(work[i])
	}
	for i := range work {
		work[i] <- func() { done <- nil }
		<-done
	}

	if err := Drop(name, keepNetAdmin); err != nil {
		t.Fatal(err)
	}

	tasks, _ := filepath.Glob("/proc/self/task/*/status")
	if len(tasks) < nthreads+1 {
		t.Fatalf("only %d threads", len(tasks))
	}
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		st, err := parseStatus(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range st.uids {
			if id != uid {
				t.Errorf("%s: Uid %v, want %d", path, st.uids, uid)
			}
		}
		if !bytes.Contains(b, []byte(fmt.Sprintf("Gid:\t%d\t%d\t%d\t%d\n", gid, gid, gid, gid))) {
			t.Errorf("%s: Gid is not %d", path, gid)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if g, ok := strings.CutPrefix(line, "Groups:"); ok {
				for _, f := range strings.Fields(g) {
					if f == "0" {
						t.Errorf("%s: still in group 0: %q", path, line)
					}
				}
			}
		}
		if st.capEff != want || st.capPrm != want {
			t.Errorf("%s: CapEff %016x CapPrm %016x, want %016x", path, st.capEff, st.capPrm, want)
		}
		if st.capInh != 0 || st.capAmb != 0 {
			t.Errorf("%s: CapInh %016x CapAmb %016x, want 0", path, st.capInh, st.capAmb)
		}
		if st.capBnd != want {
			t.Errorf("%s: CapBnd %016x, want %016x", path, st.capBnd, want)
		}
		if st.noNewPrivs != "1" {
			t.Errorf("%s: NoNewPrivs %q", path, st.noNewPrivs)
		}
	}
	if want == 1<<CapNetRaw {
		// The exact value the operator will look for in /proc.
		b, _ := os.ReadFile("/proc/self/status")
		if !bytes.Contains(b, []byte("CapEff:\t0000000000002000\n")) {
			t.Error("CapEff is not 0000000000002000")
		}
	}

	checks := func() error {
		fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0)
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %v", err)
		}
		syscall.Close(fd)
		if err := bindPrivilegedPort(); err != nil {
			return err
		}
		if err := syscall.Setresuid(0, 0, 0); err == nil {
			return errors.New("setresuid(0) succeeded")
		}
		return nil
	}
	if err := checks(); err != nil {
		t.Error("main goroutine:", err)
	}
	for i := range work {
		work[i] <- func() { done <- checks() }
		if err := <-done; err != nil {
			t.Errorf("thread %d: %v", i, err)
		}
	}
	if keepNetAdmin {
		// Already the target user, without CAP_SETPCAP or CAP_SETUID (the
		// systemd User= + AmbientCapabilities= case): Drop only reduces the
		// capabilities. The bounding set cannot shrink any more.
		for _, again := range []string{name, ""} {
			if err := Drop(again, false); err != nil {
				t.Fatalf("second Drop(%q): %v", again, err)
			}
			for _, path := range tasks {
				st, err := readStatus(path)
				if err != nil {
					t.Fatal(err)
				}
				if st.capEff != 1<<CapNetRaw || st.capPrm != 1<<CapNetRaw || st.uids[0] != uid {
					t.Errorf("after second Drop(%q): %s: %+v", again, path, st)
				}
			}
		}
	}
	uidNow, caps, err := Status()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after Drop: uid %d %s", uidNow, caps)
	if !t.Failed() {
		fmt.Println("CHILD OK")
	}
}

// bindPrivilegedPort checks that a TCP socket cannot bind a port below
// ip_unprivileged_port_start (port 80 on a default system).
func bindPrivilegedPort() error {
	port := 80
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); err == nil {
		start, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if start == 0 {
			return nil // every port is unprivileged here: nothing to check
		}
		if port >= start {
			port = start - 1
		}
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return fmt.Errorf("TCP socket: %v", err)
	}
	defer syscall.Close(fd)
	err = syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	if err == nil {
		return fmt.Errorf("bind to port %d succeeded without CAP_NET_BIND_SERVICE", port)
	}
	if err != syscall.EACCES {
		return fmt.Errorf("bind to port %d: %v, want EACCES", port, err)
	}
	return nil
}
