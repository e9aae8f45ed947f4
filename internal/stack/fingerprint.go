package stack

import (
	"encoding/binary"

	"github.com/masscanned-go/masscanned/internal/event"
	"github.com/masscanned-go/masscanned/internal/personality"
)

// fingerprintSYN fills fp with the p0f-style fingerprint of a SYN: ip is
// the whole IP packet, tcp its TCP segment (header at least 20 bytes,
// doff checked). No allocation.
func fingerprintSYN(fp *event.TCPFingerprint, ip []byte, v6 bool, tcp []byte) {
	*fp = event.TCPFingerprint{Set: true}
	doff := int(tcp[12]>>4) * 4
	if v6 {
		fp.IPVer = 6
		fp.TTL = ip[7]
		fp.TotHdr = uint16(40 + doff)
		if binary.BigEndian.Uint32(ip[0:4])&0xfffff != 0 {
			fp.Quirks |= event.QuirkFlow
		}
		if (ip[1]>>4)&3 != 0 {
			fp.Quirks |= event.QuirkECN
		}
	} else {
		ihl := int(ip[0]&0x0f) * 4
		fp.IPVer = 4
		fp.TTL = ip[8]
		fp.OptLen = uint8(ihl - 20)
		fp.TotHdr = uint16(ihl + doff)
		frag := binary.BigEndian.Uint16(ip[6:8])
		id := binary.BigEndian.Uint16(ip[4:6])
		if frag&0x4000 != 0 {
			fp.Quirks |= event.QuirkDF
			if id != 0 {
				fp.Quirks |= event.QuirkIDPlus
			}
		} else if id == 0 {
			fp.Quirks |= event.QuirkIDMinus
		}
		if frag&0x8000 != 0 {
			fp.Quirks |= event.QuirkZeroPlus
		}
		if ip[1]&3 != 0 {
			fp.Quirks |= event.QuirkECN
		}
	}
	flags := tcp[13]
	if flags&(personality.ECE|personality.CWR) != 0 || tcp[12]&1 != 0 {
		fp.Quirks |= event.QuirkECN
	}
	if binary.BigEndian.Uint32(tcp[4:8]) == 0 {
		fp.Quirks |= event.QuirkSeqMinus
	}
	ack := binary.BigEndian.Uint32(tcp[8:12])
	if flags&personality.ACK != 0 {
		if ack == 0 {
			fp.Quirks |= event.QuirkAckMinus
		}
	} else if ack != 0 {
		fp.Quirks |= event.QuirkAckPlus
	}
	if flags&personality.URG != 0 {
		fp.Quirks |= event.QuirkUrgfPlus
	} else if binary.BigEndian.Uint16(tcp[18:20]) != 0 {
		fp.Quirks |= event.QuirkUptrPlus
	}
	if flags&personality.PSH != 0 {
		fp.Quirks |= event.QuirkPushfPlus
	}
	fp.Win = binary.BigEndian.Uint16(tcp[14:16])
	fp.Payload = len(tcp) > doff
	fingerprintOptions(fp, tcp[20:doff])
}

// fingerprintOptions records the option layout and the option quirks, as
// p0f parses them: it stops at EOL (counting the padding after it) and at
// a malformed option.
func fingerprintOptions(fp *event.TCPFingerprint, o []byte) {
	for len(o) > 0 && fp.NLayout < event.MaxOpts {
		kind := o[0]
		fp.Layout[fp.NLayout] = kind
		fp.NLayout++
		o = o[1:]
		switch kind {
		case event.OptEOL:
			fp.EOLPad = uint8(len(o))
			for _, b := range o {
				if b != 0 {
					fp.Quirks |= event.QuirkOptPlus
					break
				}
			}
			return
		case event.OptNOP:
			continue
		}
		// As p0f: a known option is read at its fixed size whatever its
		// length byte says (a wrong length is a quirk); another is
		// skipped by its length.
		need := 1
		switch kind {
		case event.OptMSS:
			need = 3
		case event.OptWS:
			need = 2
		case event.OptTS:
			need = 9
		}
		if len(o) < need {
			fp.Quirks |= event.QuirkBad
			return
		}
		switch kind {
		case event.OptMSS:
			if o[0] != 4 {
				fp.Quirks |= event.QuirkBad
			}
			fp.MSS = binary.BigEndian.Uint16(o[1:3])
			o = o[3:]
		case event.OptWS:
			if o[0] != 3 {
				fp.Quirks |= event.QuirkBad
			}
			fp.Scale = o[1]
			if fp.Scale > 14 {
				fp.Quirks |= event.QuirkExWS
			}
			o = o[2:]
		case event.OptSOK:
			if o[0] != 2 {
				fp.Quirks |= event.QuirkBad
			}
			o = o[1:]
		case event.OptTS:
			if o[0] != 10 {
				fp.Quirks |= event.QuirkBad
			}
			fp.TS1 = binary.BigEndian.Uint32(o[1:5])
			if fp.TS1 == 0 {
				fp.Quirks |= event.QuirkTS1Minus
			}
			if binary.BigEndian.Uint32(o[5:9]) != 0 {
				fp.Quirks |= event.QuirkTS2Plus
			}
			o = o[9:]
		default:
			l := int(o[0])
			if kind == event.OptSACK && (l < 10 || l > 34) || kind != event.OptSACK && (l < 2 || l > 40) {
				fp.Quirks |= event.QuirkBad
			}
			if l < 2 || l-1 > len(o) {
				fp.Quirks |= event.QuirkBad
				return
			}
			o = o[l-1:]
		}
	}
}
