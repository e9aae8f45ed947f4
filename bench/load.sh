#!/bin/bash
# bench/load.sh: SYN load benchmark in a private lab (two network
# namespaces + one veth pair, removed on exit). Generator: one trafgen
# process (CPU0) sending 54-byte IPv4 TCP SYNs (full checksums,
# incrementing source port). Responder pinned to CPU1. Reference: the
# Linux kernel answering with SYN cookies; then masscanned on AF_PACKET,
# masscanned on AF_XDP, and an XDP_TX hairpin (MAC swap, every frame
# bounced back by the driver) as the ceiling of this machine.
#
# usage: sudo bench/load.sh [DURATION_S] [WARMUP_S]     (defaults 5 1)
# env:   MASSCANNED=path/to/binary (default: built from this checkout)
#        MASSCANNED_AFPACKET_TX=ring|sendmmsg|write  AF_PACKET transmit path
#        RATE=100kpps  offer a fixed rate (trafgen -b) instead of a flood
#        WORKERS=2     masscanned --workers (AF_XDP: one per veth queue;
#                      AF_PACKET: fanout); with more than 1 the responder
#                      is not pinned (CPUS=0-1)
set -euo pipefail
DUR=${1:-5}
WARM=${2:-1}
HERE=$(cd "$(dirname "$0")/.." && pwd)
ID=$$
G=mcbg-$ID R=mcbr-$ID VG=vbg$ID VR=vbr$ID
GIP=198.51.100.1 RIP=198.51.100.2
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$G" 2>/dev/null || true
	ip netns del "$R" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

for t in trafgen taskset nft ip python3; do command -v $t >/dev/null || { echo "missing $t" >&2; exit 1; }; done
BIN=${MASSCANNED:-}
if [ -z "$BIN" ]; then
	BIN=$TMP/masscanned
	(cd "$HERE" && CGO_ENABLED=0 go build -o "$BIN" ./cmd/masscanned)
fi
XDPTX=$TMP/xdptx
(cd "$HERE" && CGO_ENABLED=0 go build -o "$XDPTX" ./bench/xdptx)
WORKERS=${WORKERS:-1}
CPUS=1
[ "$WORKERS" != 1 ] && CPUS=0-1
TGRATE=()
[ -n "${RATE:-}" ] && TGRATE=(-b "$RATE")

ip netns add "$G"
ip netns add "$R"
ip -n "$G" link add "$VG" type veth peer name "$VR" netns "$R"
for ns in "$G" "$R"; do ip -n "$ns" link set lo up; done
ip -n "$G" addr add $GIP/24 dev "$VG"
ip -n "$G" link set "$VG" up
ip -n "$R" link set "$VR" up
ip netns exec "$R" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
GMAC=$(cat /sys/class/net/"$VG"/address 2>/dev/null || ip -n "$G" -br link show "$VG" | awk '{print $3}')
RMAC=$(ip -n "$R" -br link show "$VR" | awk '{print $3}')
ip -n "$G" neigh replace $RIP lladdr "$RMAC" dev "$VG" nud permanent
# the generator's kernel never answers the SYN-ACKs
ip netns exec "$G" nft 'table inet bench { chain in { type filter hook input priority 0; policy accept; meta l4proto tcp drop; }; }'

cat >"$TMP/syn.cfg" <<CFG
cpu(0): {
  eth(da=$RMAC, sa=$GMAC),
  ipv4(saddr=$GIP, daddr=$RIP, ttl=64, df),
  tcp(sp=dinc(1024, 65000), dp=80, seq=12345, syn, win=64240)
}
CFG

rx() { ip netns exec "$1" cat /sys/class/net/"$2"/statistics/rx_packets; }
ticks() { awk '{print $14+$15}' /proc/"$1"/stat; }
# busy ticks of the whole machine (all CPUs, softirq included)
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
HZ=$(getconf CLK_TCK)

# measure NAME [PID]: run the generator for WARM+DUR s, count over DUR s
measure() {
	local name=$1 pid=${2:-}
	setsid ip netns exec "$G" trafgen -i "$TMP/syn.cfg" -o "$VG" -P 1 -C -Q "${TGRATE[@]}" >/dev/null 2>&1 &
	local tg=$!
	PIDS+=("$tg")
	sleep "$WARM"
	local g0 r0 c0=0 g1 r1 c1=0 b0 b1
	g0=$(rx "$G" "$VG"); r0=$(rx "$R" "$VR"); b0=$(busy)
	[ -n "$pid" ] && c0=$(ticks "$pid")
	sleep "$DUR"
	g1=$(rx "$G" "$VG"); r1=$(rx "$R" "$VR"); b1=$(busy)
	[ -n "$pid" ] && c1=$(ticks "$pid")
	kill -TERM -- "-$tg" 2>/dev/null || true; wait "$tg" 2>/dev/null || true
	OFFERED=$(( (r1 - r0) / DUR ))
	REPLIES=$(( (g1 - g0) / DUR ))
	CPU=$(( (c1 - c0) * 100 / HZ / DUR ))
	MCPU=$(( (b1 - b0) * 100 / HZ / DUR ))
	printf '%-34s offered %8d pps   replies %8d /s   machine CPU %3d %%' "$name" "$OFFERED" "$REPLIES" "$MCPU"
	[ -n "$pid" ] && printf '   process CPU %3d %%' "$CPU"
	echo
}

# row NAME REPLIES OFFERED PROC_CPU MACHINE_CPU: one line of the summary
row() {
	awk -v n="$1" -v r="$2" -v o="$3" -v c="$4" -v m="$5" -v k="$K" -v x="${X:-0}" 'BEGIN {
		share = (o > 0) ? 100 * r / o : 0
		pc = (c == "-" || r == 0) ? "      -" : sprintf("%7.1f", c * 100000 / r)
		mc = (r > 0) ? sprintf("%7.1f", m * 100000 / r) : "      -"
		rk = (k > 0) ? sprintf("%5.2f", r / k) : "    -"
		rx = (x > 0) ? sprintf("%5.2f", r / x) : "    -"
		printf "%-26s %9d %6.1f %%   %s   %s   %s   %s\n", n, r, share, pc, mc, rk, rx
	}'
}

echo "lab: 1 trafgen process on CPU0 -> veth -> responder on CPU1; ${WARM}s warm-up, ${DUR}s window; $(nproc) CPUs, $(uname -r)"

# (a) kernel reference: SYN cookies always, a listener on :80
ip -n "$R" addr add $RIP/24 dev "$VR"
ip netns exec "$R" sysctl -qw net.ipv4.tcp_syncookies=2
ip netns exec "$R" taskset -c 1 python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 80)); s.listen(16); time.sleep(3600)' &
LP=$!
PIDS+=("$LP")
sleep 0.5
measure "kernel (syncookies=2)"
K=$REPLIES KO=$OFFERED KM=$MCPU
kill "$LP" 2>/dev/null || true; wait "$LP" 2>/dev/null || true
ip -n "$R" addr del $RIP/24 dev "$VR"

# (b) masscanned on AF_PACKET, (c) on AF_XDP; the responder kernel silenced
ip netns exec "$R" nft 'table inet bench { chain in { type filter hook input priority 0; policy drop; }; }'
# mc NAME LINK: run masscanned with --link LINK and measure it
mc() {
	: >"$TMP/mc.err"
	ip netns exec "$R" taskset -c "$CPUS" "$BIN" -i "$VR" --link "$2" --workers "$WORKERS" --no-rate-limit -q -v --self-ip-list $RIP 2>"$TMP/mc.err" &
	local mp=$!
	PIDS+=("$mp")
	for _ in $(seq 50); do grep -q 'msg=link' "$TMP/mc.err" && break; sleep 0.1; done
	sleep 0.5
	measure "$1" "$mp"
	kill -INT "$mp"; wait "$mp" 2>/dev/null || true
	grep -o 'msg=link.*' "$TMP/mc.err" | head -1 | sed 's/^/    /'
	grep -o 'frames=.* kernel_drops=[0-9]*' "$TMP/mc.err" | tail -1 | sed 's/^/    /'
}
mc "masscanned AF_PACKET" afpacket
M=$REPLIES MO=$OFFERED MC=$CPU MM=$MCPU
mc "masscanned AF_XDP" afxdp
A=$REPLIES AO=$OFFERED AC=$CPU AM=$MCPU
ip netns exec "$R" nft delete table inet bench

# (d) the ceiling: XDP_TX hairpin in the responder's driver (a veth needs
# an XDP program on the peer too for XDP_TX: XDP_PASS there)
ip netns exec "$G" "$XDPTX" -i "$VG" -mode pass >/dev/null &
PP=$!
PIDS+=("$PP")
ip netns exec "$R" "$XDPTX" -i "$VR" -mode tx >/dev/null &
TP=$!
PIDS+=("$TP")
sleep 1
measure "XDP_TX hairpin (ceiling)"
X=$REPLIES XO=$OFFERED XM=$MCPU
kill -INT "$TP" "$PP"; wait "$TP" "$PP" 2>/dev/null || true

echo
echo "CPU per 100k replies: process = the responder process (utime+stime); machine = all CPUs (generator and softirq included)"
printf '%-26s %9s %8s   %7s   %7s   %5s   %5s\n' run replies/s share "proc%" "mach%" "/kern" "/ceil"
row "kernel (syncookies=2)" "$K" "$KO" - "$KM"
row "masscanned AF_PACKET" "$M" "$MO" "$MC" "$MM"
row "masscanned AF_XDP" "$A" "$AO" "$AC" "$AM"
row "XDP_TX hairpin" "$X" "$XO" - "$XM"
