#!/usr/bin/env bash
# Reliability: streaming standby and logical replication (binary and text).
# Runs test/reliability/replication.sh (it starts and removes its own servers), stopped
# after 300 s at most.
set -uo pipefail
cd "$(dirname "$0")/../.."
exec timeout -k 10 300 bash test/reliability/replication.sh
