#!/usr/bin/env bash
# Security: where keys and plaintexts end up (logs, statistics, activity, errors).
# Runs test/reliability/leak_audit.sh (it starts and removes its own servers), stopped
# after 180 s at most.
set -uo pipefail
cd "$(dirname "$0")/../.."
exec timeout -k 10 180 bash test/reliability/leak_audit.sh
