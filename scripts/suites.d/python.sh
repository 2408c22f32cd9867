#!/usr/bin/env bash
# Migration readers and the SQLAlchemy type: pytest against a throwaway
# cluster with the library preloaded.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec pg_virtualenv -v 15 -o shared_preload_libraries=encrypted_column bash python/run_tests.sh
