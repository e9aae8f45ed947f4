package event

import "strings"

// Auth is the one credential record every protocol writes, as the
// application field "auth", so that a single query over the events lists
// every credential tried whatever the service:
//
//	jq -c 'select(.app.fields.auth) | .app.fields.auth'
//
// Exactly one of Password (a secret sent in clear or trivially encoded:
// FTP, Telnet, HTTP Basic, SMTP AUTH, SSH password, TDS Login7, ...) and
// Hash (a challenge response or digest: NetNTLMv2, MySQL native, VNC DES,
// SIP digest, SSH public key fingerprint) is set; Format names the hash's
// form ("netntlmv2", "mysql_native_password", "vnc-des", "sip-digest",
// "ssh-publickey-sha256", ...).
type Auth struct {
	Protocol string `json:"protocol"`
	User     string `json:"user"`
	Password string `json:"password,omitempty"`
	Hash     string `json:"hash,omitempty"`
	Format   string `json:"format,omitempty"`
	Success  bool   `json:"success"`
}

// AuthField is the event field of a credential tried in clear.
func AuthField(protocol, user, password string, success bool) Field {
	return Field{Key: "auth", Value: Auth{Protocol: protocol, User: user, Password: password, Success: success}}
}

// AuthHashField is the event field of a credential seen as a hash or
// challenge response of the given format.
func AuthHashField(protocol, user, hash, format string, success bool) Field {
	return Field{Key: "auth", Value: Auth{Protocol: protocol, User: user, Hash: hash, Format: format, Success: success}}
}

// String renders the record for the text formats (console, logfmt).
func (a Auth) String() string {
	var b strings.Builder
	b.WriteString(a.Protocol)
	b.WriteString(" user=")
	b.WriteString(a.User)
	if a.Password != "" || a.Hash == "" {
		b.WriteString(" password=")
		b.WriteString(a.Password)
	}
	if a.Hash != "" {
		b.WriteString(" hash=")
		b.WriteString(a.Format)
		b.WriteString(":")
		b.WriteString(a.Hash)
	}
	if a.Success {
		b.WriteString(" success")
	}
	return b.String()
}
