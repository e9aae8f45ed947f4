package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestReportCommand(t *testing.T) {
	dir := t.TempDir()
	lab, err := os.ReadFile("../../internal/report/testdata/lab.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(dir, "events.json")
	os.WriteFile(events, lab, 0o644)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(lab)
	zw.Close()
	gzPath := filepath.Join(dir, "events.json.gz")
	os.WriteFile(gzPath, gz.Bytes(), 0o644)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, append(append([]byte{}, lab[:bytes.IndexByte(lab, '\n')+1]...), "{oops\n"...), 0o644)
	nLab := bytes.Count(lab, []byte("\n"))

	for _, c := range []struct {
		name    string
		args    []string
		stdin   string
		code    int
		stdout  string // substring of stdout
		stderr  string // substring of stderr ("" = empty stderr)
		outFile string // -o file that must exist with this substring
	}{
		{name: "help", args: []string{"--help"}, code: exitOK, stdout: "masscanned report [options] [EVENTS...]"},
		{name: "bad flag", args: []string{"--nope"}, code: exitUsage, stderr: "masscanned: error: report: unknown flag: --nope"},
		{name: "bad top", args: []string{"--top", "0"}, code: exitUsage, stderr: "--top must be at least 1"},
		{name: "missing file", args: []string{filepath.Join(dir, "nosuch.json")}, code: exitRuntime, stderr: "nosuch.json: no such file"},
		{name: "invalid line", args: []string{events, bad}, code: exitRuntime, stderr: "bad.json:2: invalid JSON"},
		{name: "stdin", stdin: string(lab), code: exitOK, stdout: `id="total-events">` + fmtThousands(nLab) + `<`},
		{name: "dash", args: []string{"-"}, stdin: string(lab), code: exitOK, stdout: "<!DOCTYPE html>"},
		{name: "two files to -o", args: []string{"-o", filepath.Join(dir, "r.html"), "--title", "<lab>", events, gzPath}, code: exitOK,
			outFile: `id="total-events">` + fmtThousands(2*nLab) + `<`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runReport(c.args, strings.NewReader(c.stdin), &out, &errb)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", code, c.code, errb.String())
			}
			if c.stderr == "" && errb.Len() != 0 || !strings.Contains(errb.String(), c.stderr) {
				t.Errorf("stderr %q, want %q", errb.String(), c.stderr)
			}
			if c.stderr != "" && strings.Count(errb.String(), "\n") != 1 {
				t.Errorf("error is not one line: %q", errb.String())
			}
			if !strings.Contains(out.String(), c.stdout) {
				t.Errorf("stdout lacks %q", c.stdout)
			}
			if c.outFile != "" {
				b, err := os.ReadFile(filepath.Join(dir, "r.html"))
				if err != nil || !strings.Contains(string(b), c.outFile) || !strings.Contains(string(b), "<title>&lt;lab&gt;</title>") {
					t.Errorf("output file: %v, lacks %q", err, c.outFile)
				}
				if out.Len() != 0 {
					t.Errorf("stdout not empty with -o")
				}
			}
		})
	}
	// a failed run leaves no page behind
	out := filepath.Join(dir, "fail.html")
	if code := runReport([]string{"-o", out, bad}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); code != exitRuntime {
		t.Fatalf("exit %d", code)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*fail.html*")); len(m) != 0 {
		t.Errorf("left behind: %v", m)
	}
}

// fmtThousands writes n as the page does: 1,234.
func fmtThousands(n int) string {
	d := strconv.Itoa(n)
	var s strings.Builder
	for i := range len(d) {
		if i > 0 && (len(d)-i)%3 == 0 {
			s.WriteByte(',')
		}
		s.WriteByte(d[i])
	}
	return s.String()
}
