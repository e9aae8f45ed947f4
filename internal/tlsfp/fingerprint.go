package tlsfp

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// Transport characters for JA4: the first character of the fingerprint.
const (
	TransportTCP  byte = 't'
	TransportQUIC byte = 'q'
	TransportDTLS byte = 'd'
)

// JA3 returns the JA3 string of ch and its MD5 as 32 lowercase hex digits.
// The string is
//
//	SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats
//
// with decimal values, lists joined by '-', and GREASE values left out.
// SSLVersion is the legacy_version field; the curves are the
// supported_groups extension.
func JA3(ch *ClientHello) (full, md5hex string) {
	var sb strings.Builder
	sb.WriteString(strconv.Itoa(int(ch.Version)))
	sb.WriteByte(',')
	writeDecimals(&sb, ch.CipherSuites)
	sb.WriteByte(',')
	types := make([]uint16, len(ch.Extensions))
	for i, e := range ch.Extensions {
		types[i] = e.Type
	}
	writeDecimals(&sb, types)
	sb.WriteByte(',')
	writeDecimals(&sb, ch.SupportedGroups)
	sb.WriteByte(',')
	for i, f := range ch.ECPointFormats {
		if i > 0 {
			sb.WriteByte('-')
		}
		sb.WriteString(strconv.Itoa(int(f)))
	}
	full = sb.String()
	sum := md5.Sum([]byte(full))
	return full, hex.EncodeToString(sum[:])
}

// writeDecimals writes the non-GREASE values of l in decimal, '-'-joined.
func writeDecimals(sb *strings.Builder, l []uint16) {
	first := true
	for _, v := range l {
		if IsGREASE(v) {
			continue
		}
		if !first {
			sb.WriteByte('-')
		}
		first = false
		sb.WriteString(strconv.Itoa(int(v)))
	}
}

// JA4 returns the JA4 fingerprint of ch, for example
// "t13d1516h2_8daaf6152771_e5627efa2ab1", as specified by FoxIO:
//
//   - transport: TransportTCP, TransportQUIC or TransportDTLS;
//   - TLS version: the highest non-GREASE value of supported_versions if
//     the extension is present, else legacy_version ("13", "12", "11",
//     "10", "s3", "s2", "d1", "d2", "d3", or "00" if unknown);
//   - 'd' if a server_name extension is present, else 'i';
//   - the number of cipher suites and of extensions, GREASE left out,
//     two digits each, at most 99;
//   - the first and last characters of the first ALPN protocol ("00" if
//     none), or the first and last hex digits of it if either end is not
//     an ASCII letter or digit;
//   - '_', the first 12 hex digits of the SHA-256 of the sorted cipher
//     suites (4 hex digits each, comma-separated);
//   - '_', the first 12 hex digits of the SHA-256 of the sorted extension
//     types without server_name and ALPN, then '_' and the signature
//     algorithms in wire order if there are any.
//
// An empty cipher or extension list is written as twelve zeros instead
// of a hash.
func JA4(ch *ClientHello, transport byte) string {
	return ja4(ch, transport, true, true)
}

// JA4R returns the raw form of JA4 (JA4_r): the lists that JA4 hashes,
// written out in place of their hashes.
func JA4R(ch *ClientHello, transport byte) string {
	return ja4(ch, transport, true, false)
}

// JA4O returns JA4_o: JA4 computed on the cipher suites and extensions in
// wire order (GREASE still left out), with server_name and ALPN kept in
// the extension list.
func JA4O(ch *ClientHello, transport byte) string {
	return ja4(ch, transport, false, true)
}

// JA4RO returns JA4_ro: the raw form of JA4_o.
func JA4RO(ch *ClientHello, transport byte) string {
	return ja4(ch, transport, false, false)
}

// ja4 computes the four JA4 variants: sorted or in wire order, hashed or
// raw.
func ja4(ch *ClientHello, transport byte, sorted, hashed bool) string {
	ciphers := withoutGREASE(ch.CipherSuites)
	var exts []uint16
	for _, e := range ch.Extensions {
		if !IsGREASE(e.Type) {
			exts = append(exts, e.Type)
		}
	}
	var sb strings.Builder
	sb.WriteByte(transport)
	sb.WriteString(ja4Version(ch))
	if ch.HasSNI {
		sb.WriteByte('d')
	} else {
		sb.WriteByte('i')
	}
	writeCount(&sb, len(ciphers))
	writeCount(&sb, len(exts))
	sb.WriteString(ja4ALPN(ch.ALPN))

	if sorted {
		slices.Sort(ciphers)
		exts = slices.DeleteFunc(exts, func(t uint16) bool {
			return t == ExtServerName || t == ExtALPN
		})
		slices.Sort(exts)
	}
	sigs := withoutGREASE(ch.SignatureAlgorithms)

	cipherList := hexList(ciphers)
	extList := hexList(exts)
	if len(sigs) > 0 {
		extList += "_" + hexList(sigs)
	}
	sb.WriteByte('_')
	if hashed {
		sb.WriteString(hash12(cipherList, len(ciphers) == 0))
	} else {
		sb.WriteString(cipherList)
	}
	sb.WriteByte('_')
	if hashed {
		sb.WriteString(hash12(extList, len(exts) == 0))
	} else {
		sb.WriteString(extList)
	}
	return sb.String()
}

// withoutGREASE returns a copy of l without its GREASE values.
func withoutGREASE(l []uint16) []uint16 {
	out := make([]uint16, 0, len(l))
	for _, v := range l {
		if !IsGREASE(v) {
			out = append(out, v)
		}
	}
	return out
}

// ja4Version returns the two-character JA4 version code of ch. As the
// specification says, the highest value of supported_versions is taken
// numerically, also for DTLS (where 0xfefd, DTLS 1.2, is above 0xfefc,
// DTLS 1.3), as FoxIO's own tools do.
func ja4Version(ch *ClientHello) string {
	v := ch.Version
	if _, ok := ch.Extension(ExtSupportedVersions); ok {
		best, found := uint16(0), false
		for _, sv := range ch.SupportedVersions {
			if !IsGREASE(sv) && (!found || sv > best) {
				best, found = sv, true
			}
		}
		if found {
			v = best
		}
	}
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

// writeCount writes n as two decimal digits, capped at 99.
func writeCount(sb *strings.Builder, n int) {
	n = min(n, 99)
	sb.WriteByte(byte('0' + n/10))
	sb.WriteByte(byte('0' + n%10))
}

// ja4ALPN returns the two ALPN characters of JA4 for the ALPN list l.
func ja4ALPN(l []string) string {
	if len(l) == 0 || len(l[0]) == 0 {
		return "00"
	}
	p := l[0]
	first, last := p[0], p[len(p)-1]
	if isAlnum(first) && isAlnum(last) {
		return string([]byte{first, last})
	}
	const digits = "0123456789abcdef"
	return string([]byte{digits[first>>4], digits[last&0x0f]})
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// hexList writes l as 4-digit lowercase hex values joined by commas.
func hexList(l []uint16) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 5*len(l))
	for i, v := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf])
	}
	return string(b)
}

// hash12 returns the first 12 hex digits of the SHA-256 of s, or twelve
// zeros if empty is set.
func hash12(s string, empty bool) string {
	if empty {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}
