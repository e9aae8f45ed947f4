package p0f

import (
	"os"
	"strings"
	"testing"

	"github.com/masscanned-go/masscanned/internal/event"
)

const testDB = `; comment
[tcp:request]
label = s:unix:Linux:3.11 and newer
sig   = *:64:0:*:mss*20,10:mss,sok,ts,nop,ws:df,id+:0
label = g:unix:Linux:2.2.x-3.x
sig   = *:64:0:*:*,*:mss,sok,ts,nop,ws:df,id+:0
label = s:!:NMap:SYN scan
sys   = @unix
sig   = *:64-:0:1460:1024,0:mss::0
label = s:win:Windows:7 or 8
sig   = *:128:0:*:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0
label = s:unix:Solaris:10
sig   = 4:64:0:*:%512,*:mss::0
[http:request]
label = s:unix:whatever:1
sig = garbage that is not read
`

func fp(ver, ttl uint8, mss, win uint16, scale uint8, quirks uint32, layout ...uint8) *event.TCPFingerprint {
	f := &event.TCPFingerprint{Set: true, IPVer: ver, TTL: ttl, MSS: mss, Win: win, Scale: scale, Quirks: quirks}
	f.NLayout = uint8(copy(f.Layout[:], layout))
	return f
}

var linuxLayout = []uint8{event.OptMSS, event.OptSOK, event.OptTS, event.OptNOP, event.OptWS}

func TestMatch(t *testing.T) {
	db, err := Parse(strings.NewReader(testDB))
	if err != nil {
		t.Fatal(err)
	}
	if db.Len() != 5 {
		t.Fatalf("%d signatures", db.Len())
	}
	dfid := event.QuirkDF | event.QuirkIDPlus
	for _, tc := range []struct {
		name    string
		fp      *event.TCPFingerprint
		label   string
		generic bool
		fuzzy   bool
		raw     string
	}{
		{"linux 3.11", fp(4, 64, 1460, 29200, 10, dfid, linuxLayout...), "Linux 3.11 and newer", false, false,
			"4:64+0:0:1460:mss*20,10:mss,sok,ts,nop,ws:df,id+:0"},
		{"linux generic", fp(4, 63, 1460, 64240, 7, dfid, linuxLayout...), "Linux 2.2.x-3.x", true, false,
			"4:63+1:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0"},
		{"linux fuzzy quirks", fp(6, 64, 1440, 28800, 10, event.QuirkFlow, linuxLayout...), "", false, false,
			"6:64+0:0:1440:mss*20,10:mss,sok,ts,nop,ws:flow:0"},
		{"linux without id+", fp(4, 64, 1460, 29200, 10, event.QuirkDF, linuxLayout...), "Linux 3.11 and newer", false, true,
			"4:64+0:0:1460:mss*20,10:mss,sok,ts,nop,ws:df:0"},
		{"nmap far away (random ttl)", fp(4, 41, 1460, 1024, 0, 0, event.OptMSS), "NMap SYN scan", false, false,
			"4:41+23:0:1460:1024,0:mss::0"},
		{"windows", fp(4, 120, 1460, 8192, 8, dfid, event.OptMSS, event.OptNOP, event.OptWS, event.OptNOP, event.OptNOP, event.OptSOK),
			"Windows 7 or 8", false, false, "4:120+8:0:1460:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0"},
		{"ttl above the signature's", fp(4, 200, 1460, 8192, 8, dfid, event.OptMSS, event.OptNOP, event.OptWS, event.OptNOP, event.OptNOP, event.OptSOK),
			"", false, false, "4:200+55:0:1460:8192,8:mss,nop,ws,nop,nop,sok:df,id+:0"},
		{"modulus", fp(4, 60, 536, 1024, 0, 0, event.OptMSS), "Solaris 10", false, false, "4:60+4:0:536:1024,0:mss::0"},
		{"modulus v6 excluded", fp(6, 60, 536, 1024, 0, 0, event.OptMSS), "", false, false, "6:60+4:0:536:1024,0:mss::0"},
	} {
		db.Label(tc.fp)
		if tc.fp.Label != tc.label || tc.fp.Generic != tc.generic || tc.fp.Fuzzy != tc.fuzzy {
			t.Errorf("%s: label %q generic %v fuzzy %v; want %q %v %v", tc.name, tc.fp.Label, tc.fp.Generic, tc.fp.Fuzzy, tc.label, tc.generic, tc.fuzzy)
		}
		if r := tc.fp.Raw(); r != tc.raw {
			t.Errorf("%s: raw %q, want %q", tc.name, r, tc.raw)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"[tcp:request]\nsig = *:64:0:*:*,*:mss::0\n", "2: sig before any label"},
		{"[tcp:request]\nlabel = x:unix:A:1\n", "2: bad label"},
		{"[tcp:request]\nlabel = s:unix:A:1\nsig = *:64:0:*:*,*:mss:bogus:0\n", `3: sig "*:64:0:*:*,*:mss:bogus:0": unknown quirk "bogus"`},
		{"[tcp:request]\nlabel = s:unix:A:1\nsig = *:64:0:*:%0,*:mss::0\n", "bad wsize"},
		{"[tcp:request]\nlabel = s:unix:A:1\nsig = *:64:0:*\n", "4 fields, want 8"},
		{"[tcp:request]\nfoo\n", "2: expected key = value"},
		{"[mtu]\nlabel = Ethernet\n", "no [tcp:request] signatures"},
	} {
		_, err := Parse(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
}

// TestDebianDB: Debian's p0f database loads whole.
func TestDebianDB(t *testing.T) {
	if _, err := os.Stat("/etc/p0f/p0f.fp"); err != nil {
		t.Skip("no /etc/p0f/p0f.fp (Debian package p0f)")
	}
	db, err := Load("/etc/p0f/p0f.fp")
	if err != nil {
		t.Fatal(err)
	}
	if db.Len() < 50 {
		t.Errorf("%d signatures", db.Len())
	}
	f := fp(4, 64, 1460, 64240, 7, event.QuirkDF|event.QuirkIDPlus, linuxLayout...)
	db.Label(f)
	if !strings.HasPrefix(f.Label, "Linux") {
		t.Errorf("a Linux SYN: %q", f.Label)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(testDB)
	f.Add("[tcp:request]\nlabel = s:unix:A:1\nsig = 6:255-:4:*:mtu*4,*:eol+3,?9,sack:ecn,0+,exws,bad:+\n")
	f.Fuzz(func(t *testing.T, s string) {
		db, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		x := fp(4, 64, 1460, 29200, 10, 0, linuxLayout...)
		db.Label(x)
		_ = x.Raw()
	})
}
