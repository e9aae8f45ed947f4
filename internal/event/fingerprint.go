package event

import (
	"strconv"
	"strings"
)

// Quirks of a SYN, as p0f names them (p0f v3's README, "quirks").
const (
	QuirkDF        uint32 = 1 << iota // df: IPv4 don't-fragment set
	QuirkIDPlus                       // id+: DF set but IPv4 ID non-zero
	QuirkIDMinus                      // id-: DF not set but IPv4 ID zero
	QuirkECN                          // ecn: explicit congestion notification
	QuirkZeroPlus                     // 0+: IPv4 "must be zero" flag set
	QuirkFlow                         // flow: IPv6 flow label non-zero
	QuirkSeqMinus                     // seq-: sequence number zero
	QuirkAckPlus                      // ack+: ACK number non-zero, ACK flag not set
	QuirkAckMinus                     // ack-: ACK flag set, ACK number zero
	QuirkUptrPlus                     // uptr+: URG pointer non-zero, URG flag not set
	QuirkUrgfPlus                     // urgf+: URG flag set
	QuirkPushfPlus                    // pushf+: PUSH flag set
	QuirkTS1Minus                     // ts1-: own timestamp zero
	QuirkTS2Plus                      // ts2+: peer timestamp non-zero on a SYN
	QuirkOptPlus                      // opt+: non-zero data past EOL
	QuirkExWS                         // exws: window scale above 14
	QuirkBad                          // bad: malformed TCP options
)

var quirkNames = [...]string{"df", "id+", "id-", "ecn", "0+", "flow", "seq-", "ack+", "ack-",
	"uptr+", "urgf+", "pushf+", "ts1-", "ts2+", "opt+", "exws", "bad"}

// QuirkNames lists the quirk names in bit order (QuirkDF first).
func QuirkNames() []string { return quirkNames[:] }

// Option kinds in a fingerprint's layout (TCP option numbers).
const (
	OptEOL   = 0
	OptNOP   = 1
	OptMSS   = 2
	OptWS    = 3
	OptSOK   = 4
	OptSACK  = 5
	OptTS    = 8
	MaxOpts  = 40 // a 40-byte options area holds at most 40 options
	MinTCP4  = 40 // IPv4 + TCP headers without options
	MinTCP6  = 60 // IPv6 + TCP headers without options
	maxTTLGu = 35 // p0f's MAX_DIST
)

// TCPFingerprint is a SYN's TCP/IP fingerprint in p0f's terms: the stack
// fills it on the packet path (no allocation), the sinks format it (Raw)
// and may label it with an OS from a p0f database (Label).
type TCPFingerprint struct {
	Set      bool
	IPVer    uint8  // 4 or 6
	TTL      uint8  // observed TTL or hop limit
	OptLen   uint8  // IPv4 options length (0 for IPv6)
	MSS      uint16 // 0: no MSS option
	Win      uint16
	Scale    uint8 // window scale (0 when none)
	NLayout  uint8 // options in Layout
	EOLPad   uint8 // bytes after EOL
	Payload  bool  // the SYN carried data
	TotHdr   uint16
	TS1      uint32 // own timestamp (0: none or zero)
	Quirks   uint32
	Layout   [MaxOpts]uint8
	Label    string // the OS p0f's database names, set off the packet path
	Generic  bool   // the label is from a generic signature
	Fuzzy    bool   // the label matched fuzzily (quirks or TTL distance)
	Distance uint8  // hops from the guessed initial TTL
}

// InitialTTL is p0f's guess of the sender's initial TTL: the next of 32,
// 64, 128 and 255 at or above the observed one.
func (f *TCPFingerprint) InitialTTL() uint8 {
	switch {
	case f.TTL <= 32:
		return 32
	case f.TTL <= 64:
		return 64
	case f.TTL <= 128:
		return 128
	}
	return 255
}

// WinMulti reports how p0f would write the window: as a multiple of the
// MSS (mtu false) or of the MTU (mtu true), or, with ok false, as is.
func (f *TCPFingerprint) WinMulti() (n int, mtu, ok bool) {
	win, mss := int(f.Win), int(f.MSS)
	if win == 0 || mss < 100 {
		return 0, false, false
	}
	div := func(d int) bool { return d > 0 && win%d == 0 }
	switch {
	case div(mss):
		return win / mss, false, true
	case f.TS1 != 0 && div(mss-12):
		return win / (mss - 12), false, true
	case div(1500 - MinTCP4):
		return win / (1500 - MinTCP4), false, true
	case div(1500 - MinTCP4 - 12):
		return win / (1500 - MinTCP4 - 12), false, true
	case f.IPVer == 6 && div(1500-MinTCP6):
		return win / (1500 - MinTCP6), false, true
	case f.IPVer == 6 && div(1500-MinTCP6-12):
		return win / (1500 - MinTCP6 - 12), false, true
	case div(mss + MinTCP4):
		return win / (mss + MinTCP4), true, true
	case div(mss + int(f.TotHdr)):
		return win / (mss + int(f.TotHdr)), true, true
	case f.IPVer == 6 && div(mss+MinTCP6):
		return win / (mss + MinTCP6), true, true
	case div(1500):
		return win / 1500, true, true
	}
	return 0, false, false
}

// LayoutString is the option layout as p0f writes it: mss,sok,ts,nop,ws.
func (f *TCPFingerprint) LayoutString() string {
	var b strings.Builder
	for i := 0; i < int(f.NLayout) && i < MaxOpts; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		switch k := f.Layout[i]; k {
		case OptEOL:
			b.WriteString("eol+")
			b.WriteString(strconv.Itoa(int(f.EOLPad)))
		case OptNOP:
			b.WriteString("nop")
		case OptMSS:
			b.WriteString("mss")
		case OptWS:
			b.WriteString("ws")
		case OptSOK:
			b.WriteString("sok")
		case OptSACK:
			b.WriteString("sack")
		case OptTS:
			b.WriteString("ts")
		default:
			b.WriteByte('?')
			b.WriteString(strconv.Itoa(int(k)))
		}
	}
	return b.String()
}

// QuirkString is the quirks as p0f writes them: df,id+.
func (f *TCPFingerprint) QuirkString() string {
	var b strings.Builder
	for i, n := range quirkNames {
		if f.Quirks&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n)
		}
	}
	return b.String()
}

// Raw is p0f's raw signature of the SYN:
// ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass, e.g.
// 4:64+0:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0 (the TTL written as
// observed+distance to the guessed initial TTL, as p0f logs it).
func (f *TCPFingerprint) Raw() string {
	b := make([]byte, 0, 96)
	b = strconv.AppendUint(b, uint64(f.IPVer), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(f.TTL), 10)
	b = append(b, '+')
	b = strconv.AppendUint(b, uint64(f.InitialTTL()-f.TTL), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(f.OptLen), 10)
	b = append(b, ':')
	if f.MSS == 0 {
		b = append(b, '*')
	} else {
		b = strconv.AppendUint(b, uint64(f.MSS), 10)
	}
	b = append(b, ':')
	if n, mtu, ok := f.WinMulti(); ok {
		if mtu {
			b = append(b, "mtu*"...)
		} else {
			b = append(b, "mss*"...)
		}
		b = strconv.AppendInt(b, int64(n), 10)
	} else {
		b = strconv.AppendUint(b, uint64(f.Win), 10)
	}
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(f.Scale), 10)
	b = append(b, ':')
	b = append(b, f.LayoutString()...)
	b = append(b, ':')
	b = append(b, f.QuirkString()...)
	b = append(b, ':')
	if f.Payload {
		b = append(b, '+')
	} else {
		b = append(b, '0')
	}
	return string(b)
}
