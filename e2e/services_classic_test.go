package e2e

import (
	"crypto/des"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The server-first services with the clients people use: each client
// gets the real server's refusal, and the credential it sent is recorded
// in the shared auth shape.

// authRecs returns the auth records of protocol proto in recs.
func authRecs(recs []map[string]any, proto string) []map[string]any {
	var out []map[string]any
	for _, a := range recs {
		if m, ok := a["auth"].(map[string]any); ok && m["protocol"] == proto {
			out = append(out, m)
		}
	}
	return out
}

func hasAuth(recs []map[string]any, user, password string) bool {
	for _, a := range recs {
		if a["user"] == user && a["password"] == password && a["success"] == false {
			return true
		}
	}
	return false
}

// TestServicesFTP: lftp and ftp log in and are refused (530); nmap's
// ftp-anon script finds no anonymous access.
func TestServicesFTP(t *testing.T) {
	t.Parallel()
	Require(t, "lftp", "ftp", "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(30*time.Second, "lftp", "-c", "set net:max-retries 1; set net:timeout 5; open -u admin,s3cret ftp://"+RespIP4+"; ls")
	if err == nil || !strings.Contains(out, "530") {
		t.Errorf("lftp: want a 530 refusal, got %v\n%s", err, out)
	}
	out, _ = l.InClient(30*time.Second, "sh", "-c", "printf 'user anonymous guest@\\nquit\\n' | ftp -inv "+RespIP4)
	if !strings.Contains(out, "220") || !strings.Contains(out, "530") {
		t.Errorf("ftp: want the 220 greeting and a 530:\n%s", out)
	}
	out, err = l.InClient(60*time.Second, "nmap", "-Pn", "-n", "-p", "21", "--script", "ftp-anon", RespIP4)
	if err != nil || !strings.Contains(out, "21/tcp open") || strings.Contains(out, "Anonymous FTP login allowed") {
		t.Errorf("nmap ftp-anon: %v\n%s", err, out)
	}
	recs := authRecs(appEvents(t, l, "ftp"), "ftp")
	if !hasAuth(recs, "admin", "s3cret") || !hasAuth(recs, "anonymous", "guest@") {
		t.Errorf("ftp credentials recorded: %v", recs)
	}
}

// TestServicesSMTP: swaks is refused AUTH LOGIN (535), then delivers a
// message (250 queued); nmap's smtp-commands lists Postfix's EHLO
// capabilities.
func TestServicesSMTP(t *testing.T) {
	t.Parallel()
	Require(t, "swaks", "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(30*time.Second, "swaks", "--server", RespIP4, "--from", "a@example.com", "--to", "b@example.com",
		"--auth", "LOGIN", "--auth-user", "mailer", "--auth-password", "Winter2026!", "--timeout", "10")
	if err == nil || !strings.Contains(out, "535") {
		t.Errorf("swaks --auth: want a 535 refusal, got %v\n%s", err, out)
	}
	out, err = l.InClient(30*time.Second, "swaks", "--server", RespIP4, "--from", "a@example.com", "--to", "b@example.com",
		"--header", "Subject: invoice 42", "--timeout", "10")
	if err != nil || !strings.Contains(out, "250 2.0.0 Ok: queued") {
		t.Errorf("swaks: %v\n%s", err, out)
	}
	out, err = l.InClient(60*time.Second, "nmap", "-Pn", "-n", "-p", "25", "--script", "smtp-commands", RespIP4)
	if err != nil || !strings.Contains(out, "PIPELINING") || !strings.Contains(out, "STARTTLS") {
		t.Errorf("nmap smtp-commands: %v\n%s", err, out)
	}
	recs := appEvents(t, l, "smtp")
	if a := authRecs(recs, "smtp"); !hasAuth(a, "mailer", "Winter2026!") {
		t.Errorf("smtp credential not recorded: %v", a)
	}
	if findApp(recs, map[string]string{"subject": "invoice 42"}) == nil {
		t.Errorf("message subject not recorded: %v", recs)
	}
}

// TestServicesPOP3IMAP: curl's POP3 and IMAP logins are refused as by
// Dovecot and recorded.
func TestServicesPOP3IMAP(t *testing.T) {
	t.Parallel()
	Require(t, "curl")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(30*time.Second, "curl", "-sS", "--max-time", "15", "-u", "alice:pop-pass", "pop3://"+RespIP4+"/")
	if err == nil || !strings.Contains(out, "Access denied") && !strings.Contains(out, "Login denied") {
		t.Errorf("curl pop3: want a refusal, got %v\n%s", err, out)
	}
	out, err = l.InClient(30*time.Second, "curl", "-sS", "--max-time", "15", "-u", "bob:imap-pass", "imap://"+RespIP4+"/INBOX")
	if err == nil || !strings.Contains(out, "Access denied") && !strings.Contains(out, "Login denied") {
		t.Errorf("curl imap: want a refusal, got %v\n%s", err, out)
	}
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	for _, e := range l.Events() {
		if a := e.App(); a != nil {
			recs = append(recs, a)
		}
	}
	if a := authRecs(recs, "pop3"); !hasAuth(a, "alice", "pop-pass") {
		t.Errorf("pop3 credential not recorded: %v", a)
	}
	if a := authRecs(recs, "imap"); !hasAuth(a, "bob", "imap-pass") {
		t.Errorf("imap credential not recorded: %v", a)
	}
}

// TestServicesMySQL: the mariadb client is refused with ERROR 1045, and
// its auth response is recorded with the scramble it answers.
func TestServicesMySQL(t *testing.T) {
	t.Parallel()
	Require(t, "mariadb")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(30*time.Second, "mariadb", "--connect-timeout=10", "-h", RespIP4, "-u", "root", "-ptoor", "-e", "select 1")
	if err == nil || !strings.Contains(out, "1045") || !strings.Contains(out, "Access denied for user 'root'") {
		t.Errorf("mariadb: want ERROR 1045, got %v\n%s", err, out)
	}
	recs := authRecs(appEvents(t, l, "mysql"), "mysql")
	if len(recs) == 0 || recs[0]["user"] != "root" || str(recs[0]["hash"]) == "" || recs[0]["success"] != false {
		t.Errorf("mysql credential: %v", recs)
	}
}

// vncKey is the DES key VNC derives from a password: eight bytes, each
// with its bits reversed (RFC 6143 7.2.2 and the reference implementation).
func vncKey(password string) []byte {
	k := make([]byte, 8)
	copy(k, password)
	for i, b := range k {
		var r byte
		for j := 0; j < 8; j++ {
			r |= (b >> j & 1) << (7 - j)
		}
		k[i] = r
	}
	return k
}

// vncEncrypt is DES-ECB of 8-byte blocks with key.
func vncEncrypt(key, data []byte) []byte {
	c, _ := des.NewCipher(key)
	out := make([]byte, len(data))
	for i := 0; i+8 <= len(data); i += 8 {
		c.Encrypt(out[i:i+8], data[i:i+8])
	}
	return out
}

// TestServicesVNC: vncsnapshot authenticates with a password file and is
// refused; the recorded $vnc$ challenge and response verify against the
// password (the record is crackable); nmap's vnc-info sees RFB 3.8 with
// VNC authentication.
func TestServicesVNC(t *testing.T) {
	t.Parallel()
	Require(t, "vncsnapshot", "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	// a vncpasswd file: the password encrypted with VNC's fixed key
	fixed := []byte{23, 82, 107, 6, 35, 78, 88, 7}
	pw := make([]byte, 8)
	copy(pw, "hunter2")
	passwd := filepath.Join(l.Dir, "passwd")
	if err := os.WriteFile(passwd, vncEncrypt(vncKey(string(fixed)), pw), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := l.InClient(30*time.Second, "vncsnapshot", "-passwd", passwd, RespIP4+":0", filepath.Join(l.Dir, "shot.jpg"))
	if err == nil || !strings.Contains(strings.ToLower(out), "auth") {
		t.Errorf("vncsnapshot: want an authentication failure, got %v\n%s", err, out)
	}
	out, err = l.InClient(60*time.Second, "nmap", "-Pn", "-n", "-p", "5900", "--script", "vnc-info", RespIP4)
	if err != nil || !strings.Contains(out, "3.8") || !strings.Contains(out, "VNC Authentication") {
		t.Errorf("nmap vnc-info: %v\n%s", err, out)
	}
	recs := authRecs(appEvents(t, l, "vnc"), "vnc")
	ok := false
	for _, a := range recs {
		f := strings.Split(str(a["hash"]), "*")
		if len(f) != 3 || f[0] != "$vnc$" {
			continue
		}
		ch, _ := hex.DecodeString(f[1])
		resp, _ := hex.DecodeString(f[2])
		if len(ch) == 16 && hex.EncodeToString(vncEncrypt(vncKey("hunter2"), ch)) == hex.EncodeToString(resp) {
			ok = true
		}
	}
	if !ok {
		t.Errorf("no $vnc$ record that verifies with the password: %v", recs)
	}
}
