package e2e

import (
	"crypto/md5"
	"crypto/sha256"
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

// TestMQTTRefused: by default the broker refuses every client as
// Mosquitto 2.0 does ("not authorised"); the credentials mosquitto_pub
// tried, over MQTT 3.1.1 and 5.0, are recorded; nmap -sV names mqtt.
func TestMQTTRefused(t *testing.T) {
	t.Parallel()
	Require(t, "mosquitto_pub", "mosquitto_sub", "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	for _, v := range []string{"mqttv311", "mqttv5"} {
		out, err := l.InClient(20*time.Second, "mosquitto_pub", "-h", RespIP4, "-V", v, "-t", "t", "-m", "hello", "-u", "bob", "-P", "secret-"+v)
		if err == nil || !strings.Contains(strings.ToLower(out), "not authori") {
			t.Errorf("mosquitto_pub %s: %v\n%s", v, err, out)
		}
	}
	out, err := l.InClient(20*time.Second, "mosquitto_sub", "-h", RespIP4, "-p", "11883", "-t", "#", "-C", "1", "-W", "3")
	if err == nil || !strings.Contains(strings.ToLower(out), "not authori") {
		t.Errorf("mosquitto_sub: %v\n%s", err, out)
	}
	out, err = l.InClient(120*time.Second, "nmap", "-sV", "-Pn", "-n", "-p", "1883", RespIP4)
	t.Logf("nmap -sV:\n%s", out)
	if f := nmapPorts(out)["1883/tcp"]; err != nil || len(f) < 2 || f[0] != "open" || f[1] != "mqtt" {
		t.Errorf("nmap: %v, 1883/tcp %v", err, f)
	}
	creds := map[string]bool{}
	var anonymous bool
	for _, a := range appEvents(t, l, "mqtt") {
		if str(a["connack"]) != "5" && str(a["connack"]) != "135" {
			continue
		}
		if au, ok := a["auth"].(map[string]any); ok {
			if str(au["protocol"]) == "mqtt" && str(au["user"]) == "bob" && au["success"] == false {
				creds[str(au["password"])+"/"+str(a["version"])] = true
			}
		} else if str(a["client_id"]) != "" {
			anonymous = true
		}
	}
	if !creds["secret-mqttv311/4"] || !creds["secret-mqttv5/5"] || !anonymous {
		t.Errorf("credentials %v, anonymous subscriber %v", creds, anonymous)
	}
}

// TestMQTTOpen: with mqtt_auth = "open" in its profile the broker takes
// mosquitto_pub's messages at QoS 0, 1 and 2 and gives mosquitto_sub the
// retained $SYS/broker/version.
func TestMQTTOpen(t *testing.T) {
	t.Parallel()
	Require(t, "mosquitto_pub", "mosquitto_sub")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start("--profile", writeProfile(t, l, "tcp = [1883]\nudp = []\n[host.banners]\nmqtt_auth = \"open\"\nmqtt = \"mosquitto version 2.0.18\"\n"))
	for _, q := range []string{"0", "1", "2"} {
		out, err := l.InClient(20*time.Second, "mosquitto_pub", "-h", RespIP4, "-q", q, "-t", "sensors/q"+q, "-m", "hello", "-u", "bob", "-P", "secret")
		if err != nil {
			t.Errorf("mosquitto_pub -q %s: %v\n%s", q, err, out)
		}
	}
	out, err := l.InClient(20*time.Second, "mosquitto_sub", "-h", RespIP4, "-V", "mqttv5", "-t", "$SYS/#", "-v", "-C", "1", "-W", "5")
	if err != nil || strings.TrimSpace(out) != "$SYS/broker/version mosquitto version 2.0.18" {
		t.Errorf("mosquitto_sub: %v\n%s", err, out)
	}
	sum := sha256.Sum256([]byte("hello"))
	published := map[string]bool{}
	var subscribed, auth bool
	for _, a := range appEvents(t, l, "mqtt") {
		if str(a["publish_topic"]) != "" && str(a["publish_size"]) == "5" && str(a["publish_sha256"]) == hex.EncodeToString(sum[:]) {
			published[str(a["publish_topic"])+"/"+str(a["publish_qos"])] = true
		}
		if au, ok := a["auth"].(map[string]any); ok && str(au["password"]) == "secret" && au["success"] == true {
			auth = true
		}
		if s, ok := a["subscribe"].([]any); ok && len(s) == 1 && s[0] == "$SYS/#" {
			subscribed = true
		}
	}
	if len(published) != 3 || !published["sensors/q0/0"] || !published["sensors/q1/1"] || !published["sensors/q2/2"] || !subscribed || !auth {
		t.Errorf("published %v, subscribed %v, auth %v", published, subscribed, auth)
	}
}
