package stack

import (
	"testing"
	"time"

	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
)

// TestConnSummary: a connection's end event carries its zeek-style
// summary (packets each way, history letters) and its uid, the same uid
// as every frame and timer event of the connection; the SYN, before the
// connection exists, has none.
func TestConnSummary(t *testing.T) {
	A, PA, FA, R := uint8(personality.ACK), uint8(personality.PSH|personality.ACK), uint8(personality.FIN|personality.ACK), uint8(personality.RST)
	type step struct {
		flags   uint8
		seq     uint32 // relative to the client's ISN 1000
		ack     uint32 // relative to our ISN
		payload string
		tick    time.Duration // > 0: run the timers instead of a frame
	}
	for _, tc := range []struct {
		name        string
		p           *personality.Personality
		synTick     time.Duration // > 0: timers before the handshake's ACK (SYN-ACK retransmission)
		steps       []step
		end         string
		history     string
		pktsIn      uint64
		pktsOut     uint64
		connEvents  int // frame and timer events that must carry the uid
		afterEndUID bool
	}{
		{name: "client FIN", p: personality.Linux(), steps: []step{
			{flags: A, seq: 1, ack: 1},
			{flags: PA, seq: 1, ack: 1, payload: "PING x\n"},
			{flags: FA, seq: 8, ack: 8},
		}, end: event.EndFIN, history: "ShADdFf", pktsIn: 4, pktsOut: 3, connEvents: 3},
		{name: "data on the handshake's ACK, server close", p: personality.Linux(), steps: []step{
			{flags: PA, seq: 1, ack: 1, payload: "PING a\nQUIT\n"},
			{flags: FA, seq: 13, ack: 13},
		}, end: event.EndClose, history: "ShDfFa", pktsIn: 3, pktsOut: 3, connEvents: 2},
		{name: "client RST", p: personality.Linux(), steps: []step{
			{flags: PA, seq: 1, ack: 1, payload: "PING x\n"},
			{flags: R, seq: 8},
		}, end: event.EndRST, history: "ShDdR", pktsIn: 3, pktsOut: 2, connEvents: 2},
		{name: "idle", p: personality.Linux(), steps: []step{
			{flags: A, seq: 1, ack: 1},
			{tick: 60 * time.Second},
		}, end: event.EndIdle, history: "ShAf", pktsIn: 2, pktsOut: 2, connEvents: 2},
		{name: "retransmissions T, again at 10", p: personality.Linux(), steps: []step{
			{flags: A, seq: 1, ack: 1},
			{flags: PA, seq: 1, ack: 1, payload: "PING x\n"},
			{flags: PA, seq: 1, ack: 1, payload: "PING x\n"}, {flags: PA, seq: 1, ack: 1, payload: "PING x\n"},
			{flags: PA, seq: 1, ack: 1, payload: "PING x\n"}, {flags: PA, seq: 1, ack: 1, payload: "PING x\n"},
			{flags: PA, seq: 1, ack: 1, payload: "PING x\n"}, {flags: PA, seq: 1, ack: 1, payload: "PING x\n"},
			{flags: PA, seq: 1, ack: 1, payload: "PING x\n"}, {flags: PA, seq: 1, ack: 1, payload: "PING x\n"},
			{flags: PA, seq: 1, ack: 1, payload: "PING x\n"}, {flags: PA, seq: 1, ack: 1, payload: "PING x\n"},
			{flags: R, seq: 8},
		}, end: event.EndRST, history: "ShADdTaTR", pktsIn: 14, pktsOut: 12, connEvents: 13},
		{name: "SYN-ACK retransmitted", p: personality.Linux(), synTick: time.Second, steps: []step{
			{flags: A, seq: 1, ack: 1},
			{flags: R, seq: 1},
		}, end: event.EndRST, history: "ShAR", pktsIn: 3, pktsOut: 2, connEvents: 2},
		{name: "pure cookie (no SYN queue)", p: personality.Masscanned(), steps: []step{
			{flags: A, seq: 1, ack: 1},
			{flags: FA, seq: 1, ack: 1},
		}, end: event.EndFIN, history: "ShAFf", pktsIn: 3, pktsOut: 2, connEvents: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLifeEnv(t, tc.p, "")
			isn := handshake(t, e.testEnv, false)
			if e.ev.UID != 0 {
				t.Errorf("SYN event has uid %d", e.ev.UID)
			}
			if tc.synTick > 0 {
				if out := e.tick(tc.synTick); len(out) != 1 {
					t.Fatalf("no SYN-ACK retransmission")
				}
			}
			var uids []uint64
			for _, s := range tc.steps {
				if s.tick > 0 {
					e.tick(s.tick)
					uids = append(uids, e.st.tickEv.UID)
					continue
				}
				e.handle(tcpFrame(t, false, s.flags, 1000+s.seq, isn+s.ack, s.payload, nil))
				uids = append(uids, e.ev.UID)
			}
			e.mu.Lock()
			var ends []event.Event
			for _, ev := range e.emitted {
				if ev.Kind == event.KindConnEnd {
					ends = append(ends, ev)
				}
			}
			e.mu.Unlock()
			if len(ends) != 1 {
				t.Fatalf("%d end events, want 1", len(ends))
			}
			end := ends[0]
			c := end.Conn
			if c.End != tc.end || c.History.String() != tc.history || c.PktsIn != tc.pktsIn || c.PktsOut != tc.pktsOut {
				t.Errorf("end %s history %q pkts in %d out %d, want %s %q %d %d",
					c.End, c.History, c.PktsIn, c.PktsOut, tc.end, tc.history, tc.pktsIn, tc.pktsOut)
			}
			if end.UID == 0 {
				t.Fatalf("end event without uid")
			}
			if len(uids) != tc.connEvents {
				t.Fatalf("%d events, want %d", len(uids), tc.connEvents)
			}
			for i, u := range uids {
				if u != end.UID {
					t.Errorf("event %d: uid %d, want the connection's %d", i, u, end.UID)
				}
			}
			// the same 4-tuple again: a new connection, a new uid
			isn2 := handshake(t, e.testEnv, false)
			e.handle(tcpFrame(t, false, A, 1001, isn2+1, "", nil))
			if e.ev.UID == 0 || e.ev.UID == end.UID {
				t.Errorf("second connection: uid %d (first %d)", e.ev.UID, end.UID)
			}
		})
	}
}

// TestConnUIDLibraryEvents: the events a library records on a
// connection carry the connection's uid.
func TestConnUIDLibraryEvents(t *testing.T) {
	lib := upperLib{seen: make(chan string, 8)}
	e := newLifeEnv(t, personality.Linux(), "", func(c *Config) { c.Apps.Register(lib, true, "test library") })
	isn := handshake(t, e.testEnv, false)
	e.handle(tcpFrame(t, false, personality.PSH|personality.ACK, 1001, isn+1, "UP hello\n", nil))
	uid := e.ev.UID
	if uid == 0 {
		t.Fatal("data segment without uid")
	}
	select {
	case <-lib.seen:
	case <-time.After(5 * time.Second):
		t.Fatal("the library did not read the line")
	}
	e.waitReady(t, time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.mu.Lock()
		var app []event.Event
		for _, ev := range e.emitted {
			if ev.Kind == event.KindApp {
				app = append(app, ev)
			}
		}
		e.mu.Unlock()
		if len(app) > 0 {
			for _, ev := range app {
				if ev.UID != uid {
					t.Errorf("library event uid %d, want %d", ev.UID, uid)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no library event")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConnUIDsDistinct: uids of a table's connections are distinct
// across shards and many connections, and never 0.
func TestConnUIDsDistinct(t *testing.T) {
	tab := NewConnTable(nil, ConnConfig{})
	seen := map[uint64]bool{}
	for i := 0; i < 20000; i++ {
		u := tab.newUID(&tab.shards[i%numShards])
		if u == 0 || seen[u] {
			t.Fatalf("uid %d at %d: zero or repeated", u, i)
		}
		seen[u] = true
	}
}
