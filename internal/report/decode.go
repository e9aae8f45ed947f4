package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// jsonEvent is the part of a masscanned JSON event (internal/event's JSON
// sink) that the report reads; other keys are skipped.
type jsonEvent struct {
	TS         string   `json:"ts"`
	Kind       string   `json:"kind"`
	Verdict    string   `json:"verdict"`
	Reason     string   `json:"reason"`
	Layer      string   `json:"layer"`
	IPSrc      string   `json:"ip_src"`
	IPDst      string   `json:"ip_dst"`
	Proto      string   `json:"proto"`
	PortSrc    uint16   `json:"port_src"`
	PortDst    uint16   `json:"port_dst"`
	TCPFlags   string   `json:"tcp_flags"`
	ICMPType   *uint8   `json:"icmp_type"`
	Reply      string   `json:"reply"`
	Suppressed string   `json:"suppressed"`
	App        *jsonApp `json:"app"`
	TCPFP      *struct {
		Raw string `json:"raw"`
		OS  string `json:"os"`
	} `json:"tcp_fp"`
	Conn *struct {
		End      string  `json:"end"`
		Duration float64 `json:"duration"`
		BytesIn  uint64  `json:"bytes_in"`
		BytesOut uint64  `json:"bytes_out"`
		Proto    string  `json:"proto"`
	} `json:"conn"`
}

// jsonApp holds the application fields the report uses. Their values are
// whatever each protocol wrote: text and texts take any JSON value, so a
// protocol writing a number where another writes a string does not make
// the line invalid.
type jsonApp struct {
	Proto     string          `json:"proto"`
	Auth      authRec         `json:"auth"`
	Command   text            `json:"command"`
	URLs      texts           `json:"urls"`
	Hosts     texts           `json:"hosts"`
	UserAgent text            `json:"user_agent"`
	Method    text            `json:"method"`
	Path      text            `json:"path"`
	Host      text            `json:"host"`
	SNI       text            `json:"sni"`
	JA3       text            `json:"ja3"`
	JA3Hash   text            `json:"ja3_hash"`
	JA4       text            `json:"ja4"`
	HASSH     text            `json:"hassh"`
	Kex       json.RawMessage `json:"kex_algorithms"`
	Banner    text            `json:"banner"`
}

// text is a JSON value read as text: a string as is, null as "", any
// other value as its JSON text.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
	case bytes.Equal(b, []byte("null")):
		*t = ""
	default:
		*t = text(b)
	}
	return nil
}

// texts is a JSON array read as a list of text (a single value is a list
// of one).
type texts []string

func (t *texts) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		var l []text
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		*t = make(texts, 0, len(l))
		for _, s := range l {
			if s != "" {
				*t = append(*t, string(s))
			}
		}
		return nil
	}
	var s text
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s != "" {
		*t = texts{string(s)}
	}
	return nil
}

// authRec is the "auth" record every protocol writes (event.Auth); a
// value that is not an object is ignored.
type authRec struct {
	OK       bool
	Protocol text `json:"protocol"`
	User     text `json:"user"`
	Password text `json:"password"`
	Hash     text `json:"hash"`
	Format   text `json:"format"`
	Success  bool `json:"success"`
}

func (a *authRec) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	var x struct {
		Protocol text            `json:"protocol"`
		User     text            `json:"user"`
		Password text            `json:"password"`
		Hash     text            `json:"hash"`
		Format   text            `json:"format"`
		Success  json.RawMessage `json:"success"`
	}
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	*a = authRec{OK: true, Protocol: x.Protocol, User: x.User, Password: x.Password, Hash: x.Hash, Format: x.Format,
		Success: bytes.Equal(x.Success, []byte("true"))}
	return nil
}

// decode parses one line into e (which it clears first).
func decode(line []byte, e *jsonEvent) error {
	*e = jsonEvent{}
	if err := json.Unmarshal(line, e); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, err)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("not a masscanned event: %q is a JSON %s", te.Field, te.Value)
		}
		return fmt.Errorf("invalid JSON: %v", err)
	}
	return nil
}
