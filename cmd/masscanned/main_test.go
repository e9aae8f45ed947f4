package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIErrors: every startup problem is one line on stderr, prefixed,
// with a non-zero exit and nothing on stdout.
func TestCLIErrors(t *testing.T) {
	dir := t.TempDir()
	badProfile := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(badProfile, []byte("[[host]]\naddresses = [\"192.0.2.1\"]\n\ntcp = [22, 70000]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no interface", nil, exitUsage, "no interface"},
		{"unknown flag", []string{"--nope"}, exitUsage, "unknown flag: --nope"},
		{"bad format", []string{"-i", "x", "--format", "xml"}, exitUsage, "invalid --format"},
		{"missing interface", []string{"-i", "nosuchif0"}, exitRuntime, `interface "nosuchif0" not found`},
		{"unreadable self file", []string{"-i", "lo", "--self-ip-file", filepath.Join(dir, "none")}, exitUsage, "cannot read"},
		{"unreadable pcap", []string{"--read-pcap", filepath.Join(dir, "none.pcap")}, exitRuntime, "none.pcap"},
		{"unknown protocol", []string{"-i", "lo", "--disable-proto", "gopher"}, exitUsage, `unknown protocol "gopher"`},
		{"bad rate", []string{"-i", "lo", "--rate-icmp-host", "-5"}, exitUsage, "rate"},
		{"bad profile", []string{"-i", "lo", "--profile", badProfile}, exitUsage, "bad.toml:4: host 1: tcp: port 70000 out of range"},
		{"missing profile", []string{"-i", "lo", "--profile", filepath.Join(dir, "none.toml")}, exitUsage, "none.toml"},
		{"bad greet-after", []string{"-i", "lo", "--greet-after", "-1s"}, exitUsage, "--greet-after"},
		{"bad idle-timeout", []string{"-i", "lo", "--idle-timeout", "0"}, exitUsage, "--idle-timeout"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		msg := errb.String()
		if code != tc.code || !strings.Contains(msg, tc.msg) || !strings.HasPrefix(msg, "masscanned: error: ") ||
			strings.Count(msg, "\n") != 1 || out.Len() != 0 {
			t.Errorf("%s: exit %d, stderr %q, stdout %q; want exit %d and one line with %q", tc.name, code, msg, out.String(), tc.code, tc.msg)
		}
	}
}

func TestHelpVersionList(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-V"}, {"--list-protocols"}, {"--list-protocols", "--enable-proto", "ghost"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 || out.Len() == 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, code, out.String(), errb.String())
		}
		s := out.String()
		switch args[0] {
		case "-V":
			if !strings.HasPrefix(s, "masscanned ") {
				t.Errorf("version: %q", s)
			}
		case "--list-protocols":
			ghostOn := len(args) > 1
			if strings.Contains(s, "ghost     enabled") != ghostOn || !strings.Contains(s, "http      enabled") {
				t.Errorf("%v: %q", args, s)
			}
		default:
			for _, want := range []string{"--iface", "--self-ip-file", "--personality", "--read-pcap", "--udp-max-ratio", "--rate-synack-host", "--profile", "--greet-after", "--idle-timeout", "--max-half-open"} {
				if !strings.Contains(s, want) {
					t.Errorf("help lacks %s", want)
				}
			}
		}
	}
}
