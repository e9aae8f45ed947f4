package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzDecode: the line decoder agrees with encoding/json on what is valid
// JSON, agrees with it on the values it reads, never panics, and whatever
// it accepts renders into a page with our one script and no markup from
// the input.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"ts":"2026-11-30T10:00:00Z","verdict":"send","layer":"tcp","ip_src":"198.51.100.1","proto":"tcp","port_dst":80,"tcp_flags":"S","tcp_fp":{"raw":"4:64+0:0:1460:mss*44,10:mss,sok,ts,nop,ws:df,id+:0"}}`))
	f.Add([]byte(`{"ts":"2026-11-30T10:00:00Z","kind":"app","verdict":"recv","layer":"tcp","ip_src":"198.51.100.1","app":{"proto":"ssh","command":"wget http://x/\u003cscript\u003e","urls":["http://x/"],"auth":{"protocol":"ssh","user":"r\"oot","password":"<b>","success":true}}}`))
	f.Add([]byte(`{"ts":"2026-11-30T10:00:00Z","kind":"conn-end","verdict":"recv","layer":"tcp","conn":{"end":"fin","duration":0.5,"bytes_in":1,"bytes_out":2,"proto":"http"}}`))
	f.Add([]byte(`{"a":[1,-2.5e3,true,false,null,{"b":"\ud83d\ude00\ud800"}]}`))
	f.Add([]byte(`{"ts":"x","port_src":65536}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var e jsonEvent
		err := decode(line, &e, map[string]string{})
		var se *syntaxError
		valid := json.Valid(line)
		if errors.As(err, &se) == valid {
			t.Fatalf("decode says %v, json.Valid %v", err, valid)
		}
		if err != nil {
			return
		}
		// the values read are encoding/json's (for keys spelled exactly once)
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(line))
		if d.Decode(&m) != nil {
			t.Fatal("valid but not an object")
		}
		for k, got := range map[string]string{"ts": e.TS, "verdict": e.Verdict, "ip_src": e.IPSrc, "reason": e.Reason} {
			if bytes.Count(bytes.ToLower(line), []byte(`"`+k+`"`)) != 1 {
				continue
			}
			if want, ok := m[k].(string); ok && want != got {
				t.Fatalf("%s: got %q, encoding/json %q", k, got, want)
			}
		}
		a := New(Options{})
		if a.add(&e) != nil {
			return
		}
		var b bytes.Buffer
		if err := a.Render(&b, "fuzz", time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(strings.ToLower(b.String()), "<script"); n != 1 {
			t.Fatalf("%d script tags", n)
		}
	})
}
