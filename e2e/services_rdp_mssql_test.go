package e2e

import (
	"strings"
	"testing"
	"time"
)

// Real RDP and SQL Server clients: each test has its own lab and checks
// what the client saw and the credential masscanned recorded.

// authOf is the shared credential record of an app event, or nil.
func authOf(a map[string]any) map[string]any {
	m, _ := a["auth"].(map[string]any)
	return m
}

// TestServicesRDPFreeRDP: xfreerdp /auth-only goes through the X.224
// negotiation, TLS and CredSSP; the NTLM AUTHENTICATE is refused with
// STATUS_LOGON_FAILURE, the NetNTLMv2 hash is recorded.
func TestServicesRDPFreeRDP(t *testing.T) {
	t.Parallel()
	// xfreerdp opens an X display even for /auth-only: xvfb-run gives one
	Require(t, "xfreerdp", "xvfb-run")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(60*time.Second, "xvfb-run", "-a", "xfreerdp", "/auth-only", "/u:admin", "/p:secret", "/d:CORP", "/v:"+RespIP4, "/cert:ignore")
	t.Logf("xfreerdp: %v\n%s", err, out)
	if err == nil || !strings.Contains(out, "LOGON_FAILURE") {
		t.Errorf("xfreerdp: want a logon failure, got %v\n%s", err, out)
	}
	recs := appEvents(t, l, "rdp")
	requireApp(t, recs, map[string]string{"command": "connection_request", "cookie": "admin", "selected_protocol": "hybrid"}, "requested_protocols")
	a := requireApp(t, recs, map[string]string{"ntlm_version": "NTLMv2", "user": "admin", "domain": "CORP"}, "netntlm", "workstation")
	if a != nil {
		au := authOf(a)
		if str(au["protocol"]) != "rdp" || str(au["user"]) != "admin" || str(au["format"]) != "netntlmv2" ||
			!strings.HasPrefix(str(au["hash"]), "admin::CORP:") || au["success"] != false {
			t.Errorf("auth record %v", au)
		}
	}
}

// warmCert has the address's certificate (RSA 2048, shared by TLS and
// RDP) generated before clients with short TLS timeouts connect.
func warmCert(t *testing.T, l *Lab) {
	t.Helper()
	if out, err := l.InClient(60*time.Second, "curl", "-sk", "-o", "/dev/null", "--max-time", "50", "https://"+RespIP4+"/"); err != nil {
		t.Fatalf("curl https (certificate warm-up): %v\n%s", err, out)
	}
}

// rdpCheck is impacket's rdp_check example.
const rdpCheck = "/usr/share/doc/python3-impacket/examples/rdp_check.py"

// TestServicesRDPImpacket: impacket's rdp_check (CredSSP version 2) sends
// its NTLM AUTHENTICATE with pubKeyAuth and, as from Windows, gets a TLS
// access_denied alert: "Access Denied".
func TestServicesRDPImpacket(t *testing.T) {
	t.Parallel()
	Require(t, "python3", "curl")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	warmCert(t, l)
	out, err := l.InClient(60*time.Second, "/usr/bin/python3", rdpCheck, "WORKGRP/alice:Winter2024!@"+RespIP4)
	t.Logf("rdp_check: %v\n%s", err, out)
	if strings.Contains(out, "Access Granted") || !strings.Contains(out, "[-] Access Denied") {
		t.Errorf("rdp_check: want a refusal, got %v\n%s", err, out)
	}
	recs := appEvents(t, l, "rdp")
	requireApp(t, recs, map[string]string{"command": "connection_request", "requested_protocols": "[ssl hybrid]", "selected_protocol": "hybrid"})
	requireApp(t, recs, map[string]string{"ntlm_type": "1", "credssp_version": "2"})
	a := requireApp(t, recs, map[string]string{"ntlm_version": "NTLMv2", "user": "alice", "domain": "WORKGRP"}, "netntlm", "pub_key_auth_length")
	if au := authOf(a); str(au["protocol"]) != "rdp" || str(au["user"]) != "alice" || str(au["format"]) != "netntlmv2" ||
		!strings.HasPrefix(str(au["hash"]), "alice::WORKGRP:") {
		t.Errorf("auth record %v", au)
	}
}

// TestServicesRDPNmap: nmap -sV names ms-wbt-server (Microsoft Terminal
// Services) and rdp-enum-encryption sees CredSSP accepted, and with
// debugging the other layers refused with HYBRID_REQUIRED_BY_SERVER.
func TestServicesRDPNmap(t *testing.T) {
	t.Parallel()
	Require(t, "nmap", "curl")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	warmCert(t, l)
	out, err := l.InClient(180*time.Second, "nmap", "-Pn", "-n", "-sT", "-sV", "-d", "-p", "3389", "--script", "rdp-enum-encryption,rdp-ntlm-info", RespIP4)
	t.Logf("nmap: %v\n%s", err, out)
	for _, want := range []string{"ms-wbt-server", "Microsoft Terminal Service", "CredSSP (NLA): SUCCESS", "SSL: FAILED (HYBRID_REQUIRED_BY_SERVER)", "Native RDP: FAILED (HYBRID_REQUIRED_BY_SERVER)", "NetBIOS_Computer_Name: WIN-"} {
		if !strings.Contains(out, want) {
			t.Errorf("nmap output lacks %q", want)
		}
	}
	recs := appEvents(t, l, "rdp")
	requireApp(t, recs, map[string]string{"cookie": "nmap", "selected_protocol": "hybrid"})
	requireApp(t, recs, map[string]string{"requested_protocols": "[ssl]", "failure": "HYBRID_REQUIRED_BY_SERVER"})
	requireApp(t, recs, map[string]string{"ntlm_type": "1", "credssp_version": "96", "ntlm_os_version": "10.0.17763"})
}

// TestServicesMSSQLTsql: FreeTDS's tsql logs in with SQL authentication
// (TDS 7.4) and gets error 18456; the password is recorded in clear.
func TestServicesMSSQLTsql(t *testing.T) {
	t.Parallel()
	Require(t, "tsql")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(60*time.Second, "env", "TDSVER=7.4", "tsql", "-H", RespIP4, "-p", "1433", "-U", "sa", "-P", "S3cret!pw")
	t.Logf("tsql: %v\n%s", err, out)
	if !strings.Contains(out, "Login failed for user 'sa'") || !strings.Contains(out, "18456") {
		t.Errorf("tsql: want error 18456, got %v\n%s", err, out)
	}
	recs := appEvents(t, l, "mssql")
	requireApp(t, recs, map[string]string{"command": "prelogin", "encryption_answer": "not_supported"}, "client_version")
	a := requireApp(t, recs, map[string]string{"command": "login7", "user": "sa", "tds_version": "7.4"}, "hostname", "app_name", "library", "client_pid")
	if au := authOf(a); str(au["protocol"]) != "mssql" || str(au["user"]) != "sa" || str(au["password"]) != "S3cret!pw" || au["success"] != false {
		t.Errorf("auth record %v", au)
	}
}

// mssqlClient is impacket's mssqlclient example.
const mssqlClient = "/usr/share/doc/python3-impacket/examples/mssqlclient.py"

// TestServicesMSSQLImpacket: impacket's mssqlclient with SQL
// authentication (password in the Login7) and with Windows authentication
// (NTLM through SSPI: NetNTLMv2 recorded); both get 18456.
func TestServicesMSSQLImpacket(t *testing.T) {
	t.Parallel()
	Require(t, "python3")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start()
	out, err := l.InClient(60*time.Second, "/usr/bin/python3", mssqlClient, "sa:Passw0rd!@"+RespIP4)
	t.Logf("mssqlclient: %v\n%s", err, out)
	if !strings.Contains(out, "Login failed for user 'sa'") {
		t.Errorf("mssqlclient: want 18456, got %v\n%s", err, out)
	}
	out, err = l.InClient(60*time.Second, "/usr/bin/python3", mssqlClient, "-windows-auth", "CORP/bob:Summer2024@"+RespIP4)
	t.Logf("mssqlclient -windows-auth: %v\n%s", err, out)
	if !strings.Contains(out, `Login failed for user 'CORP\bob'`) {
		t.Errorf("mssqlclient -windows-auth: want 18456, got %v\n%s", err, out)
	}
	recs := appEvents(t, l, "mssql")
	a := requireApp(t, recs, map[string]string{"command": "login7", "user": "sa"}, "hostname", "tds_version")
	if au := authOf(a); str(au["user"]) != "sa" || str(au["password"]) != "Passw0rd!" {
		t.Errorf("auth record %v", au)
	}
	requireApp(t, recs, map[string]string{"command": "login7", "integrated_security": "true", "ntlm_type": "1"})
	a = requireApp(t, recs, map[string]string{"command": "sspi", "user": "bob", "domain": "CORP", "ntlm_version": "NTLMv2"}, "netntlm")
	if au := authOf(a); str(au["protocol"]) != "mssql" || str(au["user"]) != "bob" || str(au["format"]) != "netntlmv2" ||
		!strings.HasPrefix(str(au["hash"]), "bob::CORP:") {
		t.Errorf("auth record %v", au)
	}
}

// TestServicesMSSQLNmap: nmap -sV names Microsoft SQL Server 2019. nmap
// sends its RPCCheck probe to 1433 before the ms-sql-s one, and the ONC
// RPC handler answers on every port: it is switched off here.
func TestServicesMSSQLNmap(t *testing.T) {
	t.Parallel()
	Require(t, "nmap")
	l := NewLab(t, LabOptions{NoClientIPv6: true})
	l.Start("--disable-proto", "rpc")
	out, err := l.InClient(180*time.Second, "nmap", "-Pn", "-n", "-sT", "-sV", "-p", "1433", RespIP4)
	t.Logf("nmap: %v\n%s", err, out)
	if !strings.Contains(out, "ms-sql-s") || !strings.Contains(out, "Microsoft SQL Server 2019 15.00.2000") {
		t.Errorf("nmap did not name SQL Server 2019")
	}
	recs := appEvents(t, l, "mssql")
	requireApp(t, recs, map[string]string{"command": "prelogin", "instance": "MSSQLServer", "encryption": "off"})
}
