#!/usr/bin/env bash
# Reliability: pg_dump / pg_restore of encrypted_text columns.
# Runs test/reliability/dump_restore.sh (it starts and removes its own servers), stopped
# after 240 s at most.
set -uo pipefail
cd "$(dirname "$0")/../.."
exec timeout -k 10 240 bash test/reliability/dump_restore.sh
