// Package all registers every application protocol in dispatch order.
// Adding a protocol is one line here.
package all

import (
	"github.com/masscanned-go/masscanned/internal/app"
	"github.com/masscanned-go/masscanned/internal/app/adb"
	"github.com/masscanned-go/masscanned/internal/app/dns"
	"github.com/masscanned-go/masscanned/internal/app/docker"
	"github.com/masscanned-go/masscanned/internal/app/ftp"
	"github.com/masscanned-go/masscanned/internal/app/ghost"
	"github.com/masscanned-go/masscanned/internal/app/http"
	"github.com/masscanned-go/masscanned/internal/app/mail"
	"github.com/masscanned-go/masscanned/internal/app/modbus"
	"github.com/masscanned-go/masscanned/internal/app/mqtt"
	"github.com/masscanned-go/masscanned/internal/app/mssql"
	"github.com/masscanned-go/masscanned/internal/app/mysql"
	"github.com/masscanned-go/masscanned/internal/app/quic"
	"github.com/masscanned-go/masscanned/internal/app/rdp"
	"github.com/masscanned-go/masscanned/internal/app/redis"
	"github.com/masscanned-go/masscanned/internal/app/rpc"
	"github.com/masscanned-go/masscanned/internal/app/sip"
	"github.com/masscanned-go/masscanned/internal/app/smb"
	"github.com/masscanned-go/masscanned/internal/app/smtp"
	"github.com/masscanned-go/masscanned/internal/app/ssh"
	"github.com/masscanned-go/masscanned/internal/app/stun"
	"github.com/masscanned-go/masscanned/internal/app/telnet"
	"github.com/masscanned-go/masscanned/internal/app/tlsd"
	"github.com/masscanned-go/masscanned/internal/app/vnc"
)

// Registry returns a registry with every protocol, each in its default
// state. Order matters: the first handler to recognise a payload wins, and
// DNS, whose header is the least distinctive, comes last.
func Registry() *app.Registry {
	r := &app.Registry{}
	// Docker API paths before every other HTTP request
	r.Register(docker.New(), docker.DefaultEnabled, docker.Description)
	r.Register(http.New(), http.DefaultEnabled, http.Description)
	r.Register(ssh.New(), ssh.DefaultEnabled, ssh.Description)
	// TLS: the decrypted stream comes back to this registry
	t := tlsd.New()
	t.Apps = r
	r.Register(t, tlsd.DefaultEnabled, tlsd.Description)
	r.Register(stun.New(), stun.DefaultEnabled, stun.Description)
	r.Register(rdp.New(t), rdp.DefaultEnabled, rdp.Description)
	r.Register(mssql.New(), mssql.DefaultEnabled, mssql.Description)
	r.Register(smb.New(), smb.DefaultEnabled, smb.Description)
	r.Register(rpc.New(), rpc.DefaultEnabled, rpc.Description)
	r.Register(ghost.New(), ghost.DefaultEnabled, ghost.Description)
	r.Register(adb.New(), adb.DefaultEnabled, adb.Description)
	r.Register(quic.New(), quic.DefaultEnabled, quic.Description)
	r.Register(sip.New(), sip.DefaultEnabled, sip.Description)
	r.Register(mqtt.New(), mqtt.DefaultEnabled, mqtt.Description)
	r.Register(redis.New(), redis.DefaultEnabled, redis.Description)
	r.Register(modbus.New(), modbus.DefaultEnabled, modbus.Description)
	r.Register(dns.New(), dns.DefaultEnabled, dns.Description)
	// Server-first protocols, reached through Registry.Greeter; they
	// detect nothing, so content detection above is unchanged.
	r.Register(ftp.New(), ftp.DefaultEnabled, ftp.Description)
	r.Register(smtp.New(), smtp.DefaultEnabled, smtp.Description)
	r.Register(mail.NewPOP3(), mail.DefaultEnabled, mail.Description)
	r.Register(mail.NewIMAP(), mail.DefaultEnabled, mail.Description)
	r.Register(vnc.New(), vnc.DefaultEnabled, vnc.Description)
	r.Register(mysql.New(), mysql.DefaultEnabled, mysql.Description)
	r.Register(telnet.New(), telnet.DefaultEnabled, telnet.Description)
	return r
}
