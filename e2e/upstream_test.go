package e2e

import (
	"os"
	"strings"
	"testing"
	"time"
)

// upstreamTests are the 42 tests of upstream's functional suite (spec
// upstream.md section 9.2), as named there.
var upstreamTests = []string{
	"test_arp_req", "test_arp_req_other_ip",
	"test_ipv4_udp_dns_in_a", "test_ipv4_udp_dns_in_a_multiple_queries",
	"test_ipv4_tcp_ghost",
	"test_ipv4_tcp_http", "test_ipv4_tcp_http_segmented", "test_ipv4_tcp_http_incomplete", "test_ipv6_tcp_http",
	"test_ipv4_udp_http", "test_ipv6_udp_http", "test_ipv4_tcp_http_ko", "test_ipv4_udp_http_ko",
	"test_ipv6_tcp_http_ko", "test_ipv6_udp_http_ko",
	"test_icmpv4_echo_req",
	"test_icmpv6_neighbor_solicitation", "test_icmpv6_neighbor_solicitation_other_ip", "test_icmpv6_echo_req",
	"test_ipv4_req", "test_eth_req_other_mac", "test_ipv4_req_other_ip",
	"test_rpc_nmap", "test_rpcinfo",
	"test_smb1_network_req", "test_smb2_network_req",
	"test_ipv4_tcp_ssh", "test_ipv4_udp_ssh", "test_ipv6_tcp_ssh", "test_ipv6_udp_ssh",
	"test_ipv4_udp_stun", "test_ipv6_udp_stun", "test_ipv4_udp_stun_change_port", "test_ipv6_udp_stun_change_port",
	"test_ipv4_tcp_empty", "test_ipv6_tcp_empty", "test_tcp_syn", "test_ipv4_tcp_psh_ack", "test_ipv6_tcp_psh_ack",
	"test_tcp_syn_with_flags",
	"test_ipv4_udp_empty", "test_ipv6_udp_empty",
}

// scapyPython is the Python that has scapy: the system one (python3-scapy)
// when present, as a python3 earlier in PATH (pyenv) may lack it.
func scapyPython() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// TestUpstreamSuite runs upstream's functional suite, reimplemented in
// scripts/upstream_suite.py, against one masscanned process with upstream's
// wire shape and no UDP caps or budgets, as upstream's harness does.
//
// UPSTREAM_TESTS=mod,name,... runs a subset (names or modules).
//
// The client kernel must not reset scapy's raw TCP (DropClientTCP), while
// nmap -sV, rpcinfo -t/-p and smbclient use ordinary sockets: as upstream's
// harness (iptables ESTABLISHED accept, then DROP), TCP segments of the
// client's own tracked connections are accepted ahead of the drop.
func TestUpstreamSuite(t *testing.T) {
	Require(t, "python3", "nmap", "rpcinfo", "smbclient", "nft")
	l := NewLab(t, LabOptions{})
	l.DropClientTCP()
	if out, err := l.InClient(5*time.Second, "nft", "insert rule inet mcfilter in ct state established,related accept"); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	l.Start("--personality", "masscanned", "--udp-max-ratio", "0", "--no-rate-limit", "--enable-proto", "ghost")
	only := os.Getenv("UPSTREAM_TESTS")
	start := time.Now()
	out, err := l.InClient(10*time.Minute, scapyPython(), "scripts/upstream_suite.py", l.ClientIf, only)
	t.Logf("upstream suite ran in %v", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Errorf("upstream_suite.py: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	var failed []string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "PASS "):
			seen[strings.TrimPrefix(line, "PASS ")] = true
		case strings.HasPrefix(line, "FAIL "):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "FAIL "), ":")
			seen[name] = true
			failed = append(failed, name)
		}
	}
	for _, name := range failed {
		i := strings.Index(out, "FAIL "+name)
		msg := out[i:]
		if j := strings.Index(msg[1:], "\nPASS "); j >= 0 {
			msg = msg[:j+1]
		}
		if j := strings.Index(msg[1:], "\nFAIL "); j >= 0 {
			msg = msg[:j+1]
		}
		t.Errorf("%s", msg)
	}
	if only == "" {
		for _, name := range upstreamTests {
			if !seen[name] {
				t.Errorf("%s: not run", name)
			}
		}
	}
	if !l.Alive() {
		t.Errorf("masscanned is not alive after the suite:\n%s", l.Stderr())
	}
	if err := l.Stop(); err != nil {
		t.Errorf("stop: %v\n%s", err, l.Stderr())
	}
}
