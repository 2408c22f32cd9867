#!/usr/bin/env bash
# Reliability: SQL-level fuzzing of every way into the type.
# Runs test/reliability/sql_fuzz.sh (it starts and removes its own servers), stopped
# after 240 s at most.
set -uo pipefail
cd "$(dirname "$0")/../.."
exec timeout -k 10 240 bash test/reliability/sql_fuzz.sh
