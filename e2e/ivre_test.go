package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ivreSpec is one record as e2e/scripts/ivre_check.py (IVRE's import,
// re-implemented) leaves it.
type ivreSpec struct {
	Type   string         `json:"recontype"`
	Addr   string         `json:"addr"`
	Source string         `json:"source"`
	Value  string         `json:"value"`
	UID    string         `json:"uid"`
	Infos  map[string]any `json:"infos"`
}

// TestIVREAndConnRecords: under real clients (curl with Basic
// credentials, dig, ssh with a password, curl over TLS, nmap -sS),
// --ivre writes records that IVRE's import accepts (checked by
// scripts/ivre_check.py, IVRE's passiverecon2db path re-implemented: IVRE
// is neither packaged nor installable here), of the expected types and
// values, carrying the connections' uids; and the curl connection's
// conn-end event has the uid of its http event, its packets (as many
// segments as its frame events, plus the SYN) and its history.
func TestIVREAndConnRecords(t *testing.T) {
	Require(t, "curl", "dig", "ssh", "sshpass", "ssh-keyscan", "nmap", "python3")
	t.Parallel()
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	ivreFile := filepath.Join(l.Dir, "passiverecon.json")
	l.Start("--ivre", ivreFile)

	if out, err := l.InClient(20*time.Second, "curl", "-s", "-m", "10", "-A", "ivre-e2e/1.0", "-u", "admin:s3cret",
		"http://"+RespIP4+"/ivre-test"); err != nil {
		t.Errorf("curl: %v\n%s", err, out)
	}
	if out, err := l.InClient(20*time.Second, "dig", "+tries=1", "+time=5", "@"+RespIP4, "ivre.example", "A"); err != nil {
		t.Errorf("dig: %v\n%s", err, out)
	}
	warmSSH(t, l)
	out, err := l.InClient(30*time.Second, "sshpass", "-p", "hunter2", "ssh", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
		"-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=10", "root@"+RespIP4, "true")
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("ssh: %v\n%s", err, out)
	}
	if out, err := l.InClient(20*time.Second, "curl", "-k", "-s", "-m", "10", "-o", "/dev/null", "https://"+RespIP4+"/"); err != nil {
		t.Errorf("curl https: %v\n%s", err, out)
	}
	if out, err := l.InClient(60*time.Second, "nmap", "-n", "-Pn", "-sS", "-p", "8081,8082", RespIP4); err != nil {
		t.Errorf("nmap: %v\n%s", err, out)
	}
	// the connections end (FIN exchanges, idle SSH/TLS ones at exit)
	time.Sleep(500 * time.Millisecond)
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	evs := l.Events()

	// --- connection records: curl's connection
	var httpEv Event
	for _, e := range evs {
		if a := e.App(); a != nil && a["proto"] == "http" && a["path"] == "/ivre-test" {
			httpEv = e
			break
		}
	}
	if httpEv == nil {
		t.Fatal("no http event for curl's request")
	}
	uid := httpEv.Str("uid")
	if !strings.HasPrefix(uid, "C") || len(uid) != 12 {
		t.Fatalf("http event uid %q", uid)
	}
	// The connection ends on the client's FIN (its end event comes out
	// just before that frame's event): its segments are its frame events
	// up to that FIN.
	var end Event
	frames, bytesIn, finSeen := 0, 0.0, false
	for _, e := range evs {
		if e.Str("uid") != uid {
			continue
		}
		switch {
		case e.Str("kind") == "conn-end":
			end = e
		case e.Str("kind") == "" && !finSeen:
			frames++
			bytesIn += e.Num("payload_len")
			finSeen = strings.Contains(e.Str("tcp_flags"), "F")
		}
	}
	if end == nil {
		t.Fatalf("no conn-end event with uid %s", uid)
	}
	c, _ := end["conn"].(map[string]any)
	hist, _ := c["history"].(string)
	t.Logf("curl connection %s: %v", uid, c)
	if n, _ := c["pkts_in"].(float64); int(n) != frames+1 {
		t.Errorf("pkts_in %v, want %d (the SYN and the connection's %d frame events up to the client's FIN)", c["pkts_in"], frames+1, frames)
	}
	if n, _ := c["pkts_out"].(float64); n < 3 {
		t.Errorf("pkts_out %v: want at least SYN-ACK, the response, a FIN or ACK", c["pkts_out"])
	}
	if c["bytes_in"] != bytesIn || c["proto"] != "http" {
		t.Errorf("bytes_in %v (frames carried %v), proto %v", c["bytes_in"], bytesIn, c["proto"])
	}
	// curl: SYN, our SYN-ACK, its ACK, its request, our response (data
	// or data+FIN), its FIN
	if !strings.HasPrefix(hist, "ShAD") || !strings.ContainsAny(hist, "df") || !strings.Contains(hist, "F") {
		t.Errorf("history %q", hist)
	}
	// the other connections have their own uids
	uids := map[string]bool{}
	for _, e := range evs {
		if e.Str("kind") == "conn-end" {
			if uids[e.Str("uid")] || e.Str("uid") == "" {
				t.Errorf("conn-end uid %q empty or repeated", e.Str("uid"))
			}
			uids[e.Str("uid")] = true
		}
	}

	// --- IVRE records, through IVRE's import path
	cmd := exec.Command("python3", "scripts/ivre_check.py", ivreFile)
	b, err := cmd.Output()
	var res struct {
		Error   string         `json:"error"`
		Line    string         `json:"line"`
		Records int            `json:"records"`
		ByType  map[string]int `json:"by_type"`
		List    []ivreSpec     `json:"records_list"`
	}
	if jerr := json.Unmarshal(b, &res); jerr != nil || err != nil || res.Error != "" {
		raw, _ := os.ReadFile(ivreFile)
		t.Fatalf("ivre_check: %v %v %s %s\n%s", err, jerr, res.Error, res.Line, raw)
	}
	t.Logf("%d IVRE records: %v", res.Records, res.ByType)
	find := func(typ, source string, match func(r ivreSpec) bool) *ivreSpec {
		for i, r := range res.List {
			if r.Type == typ && (source == "" || r.Source == source) && (match == nil || match(r)) {
				return &res.List[i]
			}
		}
		t.Errorf("no %s record (source %q)", typ, source)
		return nil
	}
	is := func(v string) func(ivreSpec) bool { return func(r ivreSpec) bool { return r.Value == v } }
	if r := find("HTTP_HONEYPOT_REQUEST", "GET-1.1-tcp/80", is("/ivre-test")); r != nil && (r.UID != uid || r.Addr != ClientIP4) {
		t.Errorf("HTTP request record %+v: want uid %s, host %s", r, uid, ClientIP4)
	}
	find("HTTP_CLIENT_HEADER", "USER-AGENT", is("ivre-e2e/1.0"))
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:s3cret"))
	if r := find("HTTP_CLIENT_HEADER", "AUTHORIZATION", is(basic)); r != nil && (r.Infos["username"] != "admin" || r.Infos["password"] != "s3cret") {
		t.Errorf("IVRE's credentials of the AUTHORIZATION record: %v", r.Infos)
	}
	find("TCP_HONEYPOT_HIT", "tcp/80", func(r ivreSpec) bool { return r.UID == uid && strings.HasPrefix(r.Value, "GET /ivre-test HTTP/1.1") })
	find("TCP_HONEYPOT_HIT", "tcp/8081", is(""))
	find("TCP_HONEYPOT_HIT", "tcp/8082", is(""))
	find("DNS_HONEYPOT_QUERY", "udp/53-A-C_INTERNET", is("ivre.example"))
	find("UDP_HONEYPOT_HIT", "udp/53", nil)
	find("SSH_CLIENT", "", func(r ivreSpec) bool { return strings.HasPrefix(r.Value, "SSH-2.0-OpenSSH") })
	find("SSH_CLIENT_HASSH", "hassh-v1.1", nil)
	find("SSH_CLIENT_ALGOS", "kex_algorithms", nil)
	find("AUTH_CLIENT", "SSH-USER", is("root"))
	find("AUTH_CLIENT", "SSH-PASS", is("hunter2"))
	find("SSL_CLIENT", "ja3", nil)
	find("SSL_CLIENT", "ja4", nil)
	// every connection that had an application event has records with
	// its uid (events of the SSH library included)
	recUIDs := map[string]bool{}
	for _, r := range res.List {
		recUIDs[r.UID] = true
	}
	for _, e := range evs {
		if e.App() != nil && e.Str("uid") != "" && !recUIDs[e.Str("uid")] {
			t.Errorf("app event %v: no IVRE record with its uid", e)
		}
	}
	if !strings.Contains(l.Stderr(), "ivre_records=") {
		t.Errorf("exit summary without ivre_records:\n%s", l.Stderr())
	}
}
