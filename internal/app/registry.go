package app

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/masscanned-go/masscanned/internal/event"
)

type registered struct {
	h           Handler
	enabled     bool
	description string
}

// Registry is the ordered set of application handlers. Detection tries
// handlers in registration order; the first Yes wins. A Registry is
// configured at startup and read-only afterwards.
type Registry struct {
	list []registered
	// MaxLibraries bounds the connections served by a library at once
	// (0: DefaultMaxLibraries); beyond it a LibraryHandler serves as a
	// plain handler.
	MaxLibraries int
	libs         atomic.Int64
}

// DefaultMaxLibraries is the default bound of library-served connections:
// each holds a goroutine, the library's state (tens of KiB) and at most
// 64 KiB of pipe buffers, so 1024 of them stay within about 100 MiB even
// when every client stuffs its pipe.
const DefaultMaxLibraries = 1024

// Libraries is the number of connections a library serves now.
func (r *Registry) Libraries() int { return int(r.libs.Load()) }

// Register appends h. Handlers registered with enabled=false are off until
// Enable is called for them.
func (r *Registry) Register(h Handler, enabled bool, description string) {
	r.list = append(r.list, registered{h: h, enabled: enabled, description: description})
}

// SetEnabled switches the named protocols on or off. Unknown names are an
// error that lists the known ones.
func (r *Registry) SetEnabled(names []string, on bool) error {
	for _, n := range names {
		n = strings.TrimSpace(strings.ToLower(n))
		if n == "" {
			continue
		}
		if n == "all" {
			for i := range r.list {
				r.list[i].enabled = on
			}
			continue
		}
		found := false
		for i := range r.list {
			if r.list[i].h.Name() == n {
				r.list[i].enabled = on
				found = true
			}
		}
		if !found {
			return fmt.Errorf("unknown protocol %q (known: %s)", n, strings.Join(r.Names(), ", "))
		}
	}
	return nil
}

// Names lists the registered protocol names, sorted.
func (r *Registry) Names() []string {
	var n []string
	for _, e := range r.list {
		n = append(n, e.h.Name())
	}
	sort.Strings(n)
	return n
}

// tlsLibrary is the index of an enabled TLS library handler that would
// serve c (STARTTLS), or -1.
func (r *Registry) tlsLibrary(c *Conn) int {
	for i, e := range r.list {
		if lh, ok := e.h.(LibraryHandler); ok && e.enabled && e.h.Name() == "tls" && lh.UseLibrary(c) {
			return i
		}
	}
	return -1
}

// Handler returns the registered handler named name, or nil.
func (r *Registry) Handler(name string) Handler {
	for _, e := range r.list {
		if e.h.Name() == name {
			return e.h
		}
	}
	return nil
}

// List describes every registered handler in dispatch order.
func (r *Registry) List() []Info {
	out := make([]Info, 0, len(r.list))
	for _, e := range r.list {
		out = append(out, Info{Name: e.h.Name(), Enabled: e.enabled, Description: e.description})
	}
	return out
}

// Greeter returns the registry index of the enabled greeter for service,
// or -1.
func (r *Registry) Greeter(service string) int {
	for i, e := range r.list {
		if g, ok := e.h.(Greeter); ok && e.enabled && g.Service() == service {
			return i
		}
	}
	return -1
}

// serviceHandler names the handler of a profile service: TLS-wrapped
// services are served by tls (which hands the decrypted stream on).
func serviceHandler(service string) string {
	switch service {
	case "https", "imaps", "pop3s", "smtps":
		return "tls"
	case "netbios-ssn":
		return "smb"
	case "submission":
		return "smtp"
	}
	return service
}

// insideTLS is the service spoken inside a TLS-wrapped one ("" when it is
// not one: detection by content decides).
func insideTLS(service string) string {
	switch service {
	case "https":
		return "http"
	case "imaps":
		return "imap"
	case "pop3s":
		return "pop3"
	case "smtps":
		return "smtp"
	}
	return ""
}

// serviceIndex is the index of the enabled handler serving service, or -1.
func (r *Registry) serviceIndex(service string) int {
	if service == "" {
		return -1
	}
	name := serviceHandler(service)
	for i, e := range r.list {
		if e.enabled && e.h.Name() == name {
			return i
		}
	}
	return -1
}

// detect returns the index of the first enabled handler that says Yes, or
// -1; maybe reports whether any enabled handler said Maybe. When the host
// profile maps the port to a service that has an enabled handler, only
// that handler is asked, as only that server listens there: a Redis port
// does not answer an HTTP request, a SIP port does not answer nmap's
// GetRequest probe, so a scanner's later probes name the service.
func (r *Registry) detect(data []byte, t Transport, service string) (idx int, maybe bool) {
	if only := r.serviceIndex(service); only >= 0 {
		h := r.list[only].h
		v := h.Detect(data, t)
		if sd, ok := h.(ServiceDetector); ok {
			v = sd.DetectService(data, t)
		}
		switch v {
		case Yes:
			return only, false
		case Maybe:
			return -1, true
		}
		return -1, false
	}
	for i, e := range r.list {
		if !e.enabled {
			continue
		}
		switch e.h.Detect(data, t) {
		case Yes:
			return i, false
		case Maybe:
			maybe = true
		}
	}
	return -1, maybe
}

// Datagram dispatches one UDP payload. It returns the reply (nil for none)
// and the application record (nil when no protocol recognised the data).
func (r *Registry) Datagram(c *Conn, data []byte) ([]byte, *event.App) {
	if len(data) == 0 {
		return nil, nil
	}
	idx, _ := r.detect(data, UDP, c.Service)
	if idx < 0 {
		return nil, nil
	}
	h := r.list[idx].h
	res := h.Serve(c, data)
	a := &event.App{Proto: h.Name(), Fields: res.Fields, Raw: capRaw(data)}
	if res.NeedMore || len(res.Reply) == 0 {
		return nil, a
	}
	return res.Reply, a
}

// CapRaw is a copy of the first RawCap bytes of b, for App.Raw.
func CapRaw(b []byte) []byte { return capRaw(b) }

func capRaw(b []byte) []byte {
	if len(b) > RawCap {
		b = b[:RawCap]
	}
	return append([]byte(nil), b...)
}
