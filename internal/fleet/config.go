// Package fleet publishes events to a NATS JetStream stream (--nats), so
// that the events of several sensors gather in one place. Every event is
// written to a bounded spool on disk first and sent from there in order,
// with JetStream acknowledgement and a bounded number of acknowledgements
// in flight; what the broker did not acknowledge (it went away) is sent
// again once it is back, each message carrying a Nats-Msg-Id so that the
// stream stores it only once.
package fleet

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nkeys"
)

// DefaultSubjectPrefix is the first tokens of the default subject,
// masscanned.events.<sensor id>.
const DefaultSubjectPrefix = "masscanned.events"

// DefaultStream is the stream created when none exists (--nats-stream).
const DefaultStream = "masscanned"

// DefaultSpoolSize bounds the spool (--nats-spool-size).
const DefaultSpoolSize = 256 << 20

// CheckURL validates a --nats value: comma-separated server URLs with the
// scheme nats, tls, ws or wss (or none: host:port).
func CheckURL(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("--nats: empty server URL")
	}
	for _, u := range strings.Split(s, ",") {
		u = strings.TrimSpace(u)
		raw := u
		if !strings.Contains(u, "://") {
			u = "nats://" + u
		}
		p, err := url.Parse(u)
		if err != nil {
			return fmt.Errorf("--nats: invalid server URL %q: %v", raw, err)
		}
		switch p.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("--nats: invalid server URL %q: scheme %q (want nats://, tls://, ws:// or wss://)", raw, p.Scheme)
		}
		if p.Hostname() == "" {
			return fmt.Errorf("--nats: invalid server URL %q: no host", raw)
		}
		if p.Path != "" && p.Path != "/" && p.Scheme != "ws" && p.Scheme != "wss" {
			return fmt.Errorf("--nats: invalid server URL %q: unexpected path %q", raw, p.Path)
		}
	}
	return nil
}

// Creds is a user JWT and its seed, read from a NATS credentials file.
type Creds struct {
	JWT  string
	Seed string
}

// ReadCreds reads a NATS credentials file (nsc's .creds: a user JWT and
// its nkey seed between the usual markers). It is read once at start,
// before privileges are dropped.
func ReadCreds(path string) (*Creds, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("--nats-creds: cannot read %s: %v", path, err)
	}
	jwt, err := nkeys.ParseDecoratedJWT(b)
	if err != nil || jwt == string(b) || strings.Count(jwt, ".") != 2 {
		return nil, fmt.Errorf("--nats-creds: %s holds no user JWT (want a .creds file as nsc writes it)", path)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(b)
	if err != nil {
		return nil, fmt.Errorf("--nats-creds: %s: no user nkey seed: %v", path, err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, fmt.Errorf("--nats-creds: %s: %v", path, err)
	}
	return &Creds{JWT: jwt, Seed: string(seed)}, nil
}

// Token makes s usable as one subject token: characters other than
// letters, digits, '-' and '_' become '_'.
func Token(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// CheckSubject validates a publish subject: dot-separated non-empty
// tokens, no wildcard, no white space.
func CheckSubject(s string) error {
	if s == "" {
		return errors.New("--nats-subject: empty subject")
	}
	for _, t := range strings.Split(s, ".") {
		if t == "" || t == "*" || t == ">" || strings.ContainsAny(t, " \t\r\n") {
			return fmt.Errorf("--nats-subject: invalid subject %q (want dot-separated tokens without wildcards or spaces)", s)
		}
	}
	return nil
}

// CheckSensorID validates --sensor-id: printable, no white space (it is a
// message header and part of every message id).
func CheckSensorID(s string) error {
	if s == "" || len(s) > 128 {
		return errors.New("--sensor-id: want 1 to 128 characters")
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c > 0x7e {
			return fmt.Errorf("--sensor-id: invalid %q (printable ASCII without spaces)", s)
		}
	}
	return nil
}

// CheckStreamName validates --nats-stream ("" is allowed: no stream is
// created).
func CheckStreamName(s string) error {
	if strings.ContainsAny(s, ".*> \t\r\n/\\") {
		return fmt.Errorf("--nats-stream: invalid stream name %q (no '.', '*', '>', '/', '\\' or spaces)", s)
	}
	return nil
}

// StreamSubjects is what a stream created for subject captures: every
// sensor's default subject when subject is a default one, else subject.
func StreamSubjects(subject string) []string {
	if strings.HasPrefix(subject, DefaultSubjectPrefix+".") && strings.Count(subject, ".") == strings.Count(DefaultSubjectPrefix, ".")+1 {
		return []string{DefaultSubjectPrefix + ".>"}
	}
	return []string{subject}
}

// subjectMatches reports whether the subject filter (with * and >
// wildcards) matches subject.
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, t := range f {
		if t == ">" {
			return len(s) > i
		}
		if i >= len(s) || (t != "*" && t != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}
