//go:build linux

package hostports

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testNS is a network namespace with a veth interface "d0" holding
// 198.51.100.1 and 2001:db8::1; it is deleted when the test ends.
type testNS struct {
	name    string
	fd      int
	ifindex int
}

func newTestNS(t *testing.T) *testNS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	n := &testNS{name: fmt.Sprintf("mchp-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("ip", "netns", "add", n.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.name).Run() })
	run("ip", "-n", n.name, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
	run("ip", "-n", n.name, "link", "set", "d0", "up")
	run("ip", "-n", n.name, "link", "set", "d1", "up")
	run("ip", "-n", n.name, "addr", "add", "198.51.100.1/24", "dev", "d0")
	run("ip", "-n", n.name, "addr", "add", "2001:db8::1/64", "dev", "d0", "nodad")
	f, _, _ := strings.Cut(run("ip", "-n", n.name, "-o", "link", "show", "d0"), ":")
	var err error
	if n.ifindex, err = strconv.Atoi(f); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open("/run/netns/" + n.name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	n.fd = int(fh.Fd())
	return n
}

// nft runs the nft command line tool in the namespace.
func (n *testNS) nft(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.name, "nft"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (n *testNS) rules(spec string) Rules {
	sp, err := ParseSpec(spec)
	if err != nil {
		panic(err)
	}
	return Rules{Iface: "d0", Ifindex: n.ifindex, NetNS: n.fd, Spec: sp,
		Shared: []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("2001:db8::1")}}
}

func TestFirewall(t *testing.T) {
	n := newTestNS(t)
	fw, err := Install(n.rules("tcp:22,tcp:443,udp:53"))
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	if !fw.Owned || fw.Stale {
		t.Errorf("Owned %v, Stale %v; want true, false (kernel ≥ 5.12)", fw.Owned, fw.Stale)
	}
	out := n.nft(t, "list", "table", "inet", "masscanned_d0")
	for _, want := range []string{
		"flags owner",
		"hook input priority filter - 10; policy accept;",
		`iif "d0" ip daddr 198.51.100.1 jump shared`,
		`iif "d0" ip6 daddr 2001:db8::1 jump shared`,
		"ct state established,related accept",
		"tcp dport 22 counter packets 0 bytes 0 accept",
		"tcp dport 443 counter packets 0 bytes 0 accept",
		"udp dport 53 counter packets 0 bytes 0 accept",
		"icmpv6 type nd-neighbor-solicit accept",
		"counter packets 0 bytes 0 drop",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}

	// a second masscanned on the interface is refused
	if fw2, err := Install(n.rules("tcp:22")); !errors.Is(err, ErrBusy) {
		fw2.Close()
		t.Errorf("a second Install: %v, want ErrBusy", err)
	}
	// nobody else can change the owned table
	if out, err := exec.Command("ip", "netns", "exec", n.name, "nft", "delete", "table", "inet", "masscanned_d0").CombinedOutput(); err == nil {
		t.Errorf("nft deleted the owned table: %s", out)
	}
	// the read-back check notices a port the table does not accept
	if err := fw.Verify(n.rules("tcp:22,tcp:443,udp:53,tcp:8080")); err == nil || !strings.Contains(err.Error(), "1 listed ports") {
		t.Errorf("Verify with an extra port: %v", err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	if out := n.nft(t, "list", "tables"); strings.Contains(out, "masscanned") {
		t.Fatalf("table left after Close:\n%s", out)
	}
	if err := fw.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestFirewallOwner: when the socket closes without deleting the table
// (the process died), the kernel removes it.
func TestFirewallOwner(t *testing.T) {
	n := newTestNS(t)
	fw, err := Install(n.rules("tcp:22"))
	if err != nil {
		t.Fatal(err)
	}
	if out := n.nft(t, "list", "tables"); !strings.Contains(out, "table inet masscanned_d0") {
		t.Fatalf("no table:\n%s", out)
	}
	fw.conn.CloseLasting() // what the kernel does when the process dies
	if out := n.nft(t, "list", "tables"); strings.Contains(out, "masscanned") {
		t.Fatalf("table left after the socket closed:\n%s", out)
	}
}

// TestFirewallStale: an unowned table of the same name (left by a
// masscanned killed on an old kernel) is replaced.
func TestFirewallStale(t *testing.T) {
	n := newTestNS(t)
	n.nft(t, "add", "table", "inet", "masscanned_d0")
	n.nft(t, "add", "chain", "inet", "masscanned_d0", "old", "{ type filter hook input priority 0; policy drop; }")
	fw, err := Install(n.rules("tcp:22"))
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	out := n.nft(t, "list", "table", "inet", "masscanned_d0")
	if !fw.Stale || !fw.Owned || strings.Contains(out, "chain old") || !strings.Contains(out, "flags owner") {
		t.Errorf("Stale %v Owned %v:\n%s", fw.Stale, fw.Owned, out)
	}
}

func TestTableName(t *testing.T) {
	for in, want := range map[string]string{"eth0": "masscanned_eth0", "veth-r.10": "masscanned_veth_r_10", "wg@x": "masscanned_wg_x"} {
		if got := TableName(in); got != want {
			t.Errorf("TableName(%q) = %q, want %q", in, got, want)
		}
	}
}
