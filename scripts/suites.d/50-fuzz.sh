#!/usr/bin/env bash
# Reliability: libFuzzer on the envelope and text-form parsers.
# Runs test/reliability/fuzz.sh (it starts and removes its own servers), stopped
# after 300 s at most.
set -uo pipefail
cd "$(dirname "$0")/../.."
exec timeout -k 10 300 bash test/reliability/fuzz.sh
