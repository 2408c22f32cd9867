#!/usr/bin/env bash
# Demo: install what is missing, build and install the extension, start a
# throwaway cluster with the library preloaded, and show encryption at
# work.  The cluster is dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=()
((EUID == 0)) || sudo=(sudo)

bash scripts/install-deps.sh
make -s
"${sudo[@]}" make -s install >/dev/null
exec pg_virtualenv -v 15 -o shared_preload_libraries=encrypted_column \
	bash scripts/demo-session.sh
