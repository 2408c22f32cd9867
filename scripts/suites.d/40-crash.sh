#!/usr/bin/env bash
# Reliability: SIGKILL of the server under 8 concurrent clients, then verification.
# Runs test/reliability/crash.sh (it starts and removes its own servers), stopped
# after 300 s at most.
set -uo pipefail
cd "$(dirname "$0")/../.."
exec timeout -k 10 300 bash test/reliability/crash.sh
