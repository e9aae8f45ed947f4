package e2e

import (
	"crypto/md5"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// TestSIPClients: sipvicious svmap names our PBX by its Server header,
// sipsak's OPTIONS gets 200 OK, and sipsak's REGISTER with a password
// answers the digest challenge: the digest is recorded in hashcat's form
// and verifies against that password.
func TestSIPClients(t *testing.T) {
	t.Parallel()
	Require(t, "svmap", "sipsak")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(30*time.Second, "svmap", RespIP4)
	t.Logf("svmap:\n%s", out)
	if err != nil || !strings.Contains(out, RespIP4+":5060") || !strings.Contains(out, "Asterisk PBX") {
		t.Errorf("svmap: %v\n%s", err, out)
	}
	out, err = l.InClient(30*time.Second, "sipsak", "-vv", "-s", "sip:100@"+RespIP4)
	if err != nil || !strings.Contains(out, "200 OK") {
		t.Errorf("sipsak OPTIONS: %v\n%s", err, out)
	}
	out, err = l.InClient(30*time.Second, "sipsak", "-vv", "-U", "-s", "sip:100@"+RespIP4, "-a", "secret")
	t.Logf("sipsak -U:\n%s", out)
	if !strings.Contains(out, "403") {
		t.Errorf("sipsak REGISTER: %v\n%s", err, out)
	}
	recs := appEvents(t, l, "sip")
	var options, scanner, challenged bool
	var auth map[string]any
	for _, a := range recs {
		switch {
		case str(a["method"]) == "OPTIONS" && str(a["user_agent"]) == "friendly-scanner" && str(a["status"]) == "200":
			scanner = true
		case str(a["method"]) == "OPTIONS" && strings.HasPrefix(str(a["user_agent"]), "sipsak") && str(a["status"]) == "200":
			options = true
		case str(a["method"]) == "REGISTER" && str(a["status"]) == "401":
			challenged = true
		case str(a["method"]) == "REGISTER" && str(a["status"]) == "403":
			auth, _ = a["auth"].(map[string]any)
			if str(a["uri"]) == "" || str(a["call_id"]) == "" || str(a["from"]) == "" {
				t.Errorf("REGISTER record: %v", a)
			}
		}
	}
	if !scanner || !options || !challenged || auth == nil {
		t.Fatalf("svmap %v, sipsak OPTIONS %v, REGISTER challenged %v, digest %v; records:\n%v", scanner, options, challenged, auth, recs)
	}
	h := str(auth["hash"])
	p := strings.Split(h, "*")
	if str(auth["protocol"]) != "sip" || str(auth["format"]) != "sip-digest" || len(p) != 15 || p[0] != "$sip$" || p[3] != str(auth["user"]) {
		t.Fatalf("auth %v", auth)
	}
	md5hex := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	uri := p[6] + ":" + p[7]
	if p[8] != "" {
		uri += ":" + p[8]
	}
	ha1, ha2 := md5hex(p[3]+":"+p[4]+":secret"), md5hex(p[5]+":"+uri)
	want := md5hex(ha1 + ":" + p[9] + ":" + ha2)
	if p[12] != "" {
		want = md5hex(ha1 + ":" + p[9] + ":" + p[11] + ":" + p[10] + ":" + p[12] + ":" + ha2)
	}
	if p[14] != want {
		t.Errorf("digest %s does not verify with the password", h)
	}
}

// TestSIPNmap: nmap -sU -sV names the PBX on 5060/udp. (Over TCP nmap
// sends its GetRequest probe to 5060 first and our HTTP handler answers
// it, so TCP is checked with sipsak in TestSIPTCP.)
func TestSIPNmap(t *testing.T) {
	t.Parallel()
	Require(t, "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(180*time.Second, "nmap", "-sU", "-sV", "-Pn", "-n", "-p", "5060", RespIP4)
	if err != nil {
		t.Fatalf("nmap: %v\n%s", err, out)
	}
	t.Logf("nmap -sU -sV:\n%s", out)
	f := strings.Join(nmapPorts(out)["5060/udp"], " ")
	if !strings.HasPrefix(f, "open sip") || !strings.Contains(f, "Asterisk PBX") {
		t.Errorf("5060/udp: %q, want open sip Asterisk PBX", f)
	}
}

// TestSIPTCP: sipsak over TCP, on 5060 and on another port, gets 200 OK
// to OPTIONS and a challenge to REGISTER on the same connection.
func TestSIPTCP(t *testing.T) {
	t.Parallel()
	Require(t, "sipsak")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	for _, port := range []string{"5060", "8089"} {
		out, err := l.InClient(30*time.Second, "sipsak", "-vv", "--transport=tcp", "-s", "sip:100@"+RespIP4+":"+port)
		if err != nil || !strings.Contains(out, "200 OK") || !strings.Contains(out, "transport=TCP") {
			t.Errorf("sipsak tcp %s: %v\n%s", port, err, out)
		}
	}
	out, _ := l.InClient(30*time.Second, "sipsak", "-vv", "--transport=tcp", "-U", "-s", "sip:200@"+RespIP4, "-a", "pw")
	if !strings.Contains(out, "authorizing") || !strings.Contains(out, "403 Forbidden") {
		t.Errorf("sipsak tcp REGISTER:\n%s", out)
	}
	var tcp int
	var digest bool
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, e := range l.Events() {
		a := e.App()
		if a == nil || a["proto"] != "sip" || str(e["proto"]) != "tcp" {
			continue
		}
		tcp++
		if au, ok := a["auth"].(map[string]any); ok && strings.HasPrefix(str(au["hash"]), "$sip$*") {
			digest = true
		}
	}
	if tcp < 4 || !digest {
		t.Errorf("%d sip records over tcp, digest %v", tcp, digest)
	}
}
