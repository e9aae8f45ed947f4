#!/bin/bash
# bench/load.sh: SYN load benchmark in a private lab (two network
# namespaces + one veth pair, removed on exit). Generator: one trafgen
# process (CPU0) sending 54-byte IPv4 TCP SYNs (full checksums,
# incrementing source port). Responder pinned to CPU1. Reference: the
# Linux kernel answering with SYN cookies; then masscanned.
#
# usage: sudo bench/load.sh [DURATION_S] [WARMUP_S]     (defaults 5 1)
# env:   MASSCANNED=path/to/binary (default: built from this checkout)
#        TX_MODES="ring sendmmsg write"  AF_PACKET transmit modes to run
#                 (MASSCANNED_AFPACKET_TX), each measured in turn
#        BASELINE=path/to/other/binary    also measured (e.g. an older build)
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
HZ=$(getconf CLK_TCK)

# measure NAME [PID]: run the generator for WARM+DUR s, count over DUR s
measure() {
	local name=$1 pid=${2:-}
	setsid ip netns exec "$G" trafgen -i "$TMP/syn.cfg" -o "$VG" -P 1 -C -Q >/dev/null 2>&1 &
	local tg=$!
	PIDS+=("$tg")
	sleep "$WARM"
	local g0 r0 c0=0 g1 r1 c1=0
	g0=$(rx "$G" "$VG"); r0=$(rx "$R" "$VR")
	[ -n "$pid" ] && c0=$(ticks "$pid")
	sleep "$DUR"
	g1=$(rx "$G" "$VG"); r1=$(rx "$R" "$VR")
	[ -n "$pid" ] && c1=$(ticks "$pid")
	kill -TERM -- "-$tg" 2>/dev/null || true; wait "$tg" 2>/dev/null || true
	OFFERED=$(( (r1 - r0) / DUR ))
	REPLIES=$(( (g1 - g0) / DUR ))
	CPU=$(( (c1 - c0) * 100 / HZ / DUR ))
	printf '%-32s offered %8d pps   replies %8d /s' "$name" "$OFFERED" "$REPLIES"
	[ -n "$pid" ] && printf '   process CPU %3d %%' "$CPU"
	echo
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
K=$REPLIES KO=$OFFERED
kill "$LP" 2>/dev/null || true; wait "$LP" 2>/dev/null || true
ip -n "$R" addr del $RIP/24 dev "$VR"

# (b) masscanned, responder kernel silenced, once per transmit mode (and
# the baseline binary if given)
ip netns exec "$R" nft 'table inet bench { chain in { type filter hook input priority 0; policy drop; }; }'
RESULTS=()
run_mc() { # NAME BINARY TXMODE
	local name=$1 bin=$2 mode=$3
	ip netns exec "$R" env MASSCANNED_AFPACKET_TX="$mode" taskset -c 1 "$bin" -i "$VR" --no-rate-limit -q --self-ip-list $RIP 2>"$TMP/mc.err" &
	local mp=$!
	PIDS+=("$mp")
	for _ in $(seq 50); do [ "$(wc -l </proc/$mp/net/packet 2>/dev/null || echo 0)" -gt 1 ] && break; sleep 0.1; done
	sleep 0.5
	measure "$name" "$mp"
	kill -INT "$mp"; wait "$mp" 2>/dev/null || true
	grep -o 'frames=.*kernel_drops=[0-9]*' "$TMP/mc.err" | sed 's/^/    exit: /' || true
	RESULTS+=("$name|$REPLIES|$OFFERED|$CPU")
}
for mode in ${TX_MODES:-ring sendmmsg write}; do
	run_mc "masscanned tx=$mode" "$BIN" "$mode"
done
if [ -n "${BASELINE:-}" ]; then
	run_mc "baseline $(basename "$BASELINE")" "$BASELINE" ""
fi
echo
printf 'offered (kernel run)      %8d pps\n' "$KO"
printf 'kernel replies/s          %8d  (%d %% of offered)\n' "$K" "$(( KO > 0 ? K * 100 / KO : 0 ))"
for r in "${RESULTS[@]}"; do
	IFS='|' read -r name rep off cpu <<<"$r"
	awk -v n="$name" -v m="$rep" -v o="$off" -v k="$K" -v c="$cpu" 'BEGIN {
		printf "%-28s replies/s %8d  %3d %% of offered %8d  CPU %3d %%  ratio to kernel %5.2f\n", n, m, (o > 0 ? m * 100 / o : 0), o, c, (k > 0 ? m / k : 0) }'
done
