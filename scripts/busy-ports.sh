#!/usr/bin/env bash
# Run a command while the ports a test run likes are taken.
#
#   bash scripts/busy-ports.sh COMMAND [ARGS...]
#
# Starts a throwaway PostgreSQL server on 127.0.0.1:5432 (the default
# port, where another installation usually listens) and holds a listening
# socket on each port that a suite starts counting from (and on the next
# two), runs COMMAND, stops them all and exits with COMMAND's status.  For
# checking that every cluster the suites start picks a free port:
#
#   bash scripts/chroot.sh 15 bash scripts/busy-ports.sh \
#       bash scripts/test.sh --pg 15 --suite deb
#
# A port already in use is left as it is (it is busy either way).
set -uo pipefail
(($#)) || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }

postgres=$(ls -v /usr/lib/postgresql/*/bin/postgres 2>/dev/null | tail -n 1)
[[ -x $postgres ]] || { echo "busy-ports: no PostgreSQL server installed" >&2; exit 2; }
bindir=$(dirname "$postgres")
tmp=$(mktemp -d -t ec-busy.XXXXXX)
chmod 0755 "$tmp"
as_pg() {
	if ((EUID == 0)); then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}
((EUID == 0)) && chown postgres: "$tmp"
listener=
stop() {
	[[ -n $listener ]] && kill "$listener" 2>/dev/null
	[[ -f $tmp/data/postmaster.pid ]] &&
		as_pg "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$tmp"
}
trap stop EXIT
trap 'exit 143' TERM INT HUP

as_pg "$bindir/initdb" -D "$tmp/data" -U postgres --auth=trust --no-sync >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log"; exit 1; }
if as_pg "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w \
	-o "-p 5432 -c listen_addresses=127.0.0.1 -c unix_socket_directories=$tmp" start >/dev/null; then
	echo "busy-ports: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:5432"
else
	echo "busy-ports: 5432 is taken already: $(tail -n 1 "$tmp/server.log")"
fi

# the suites' base ports (test/suites/*.sh) and the next two of each
ports=()
for p in 5433 55400 55410 55420 55430 55440 55450 55470 55480 55500 55600; do
	ports+=("$p" $((p + 1)) $((p + 2)))
done
python3 - "${ports[@]}" >"$tmp/listener.log" 2>&1 <<'PY' &
import selectors, socket, sys
# accept and close at once, so that a look at the port never waits
sel = selectors.DefaultSelector()
held = []
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", int(p)))
        s.listen(64)
        sel.register(s, selectors.EVENT_READ)
        held.append(p)
    except OSError:
        s.close()
print("holding", " ".join(held), flush=True)
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        conn.close()
PY
listener=$!
for _ in $(seq 50); do
	grep -q holding "$tmp/listener.log" 2>/dev/null && break
	sleep 0.1
done
echo "busy-ports: also $(cat "$tmp/listener.log")"
"$@"
