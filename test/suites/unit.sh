#!/usr/bin/env bash
# Unit tests of the crypto layer outside PostgreSQL: the nonce pool across
# fork(), and AES-SIV's known answers (RFC 5297 and an independent
# implementation).  Built from the extension's own src/crypto.c.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -std=gnu99 -O2 -Wall -Wextra -Werror -Isrc -o "$out/nonce_fork" \
	test/unit/nonce_fork.c src/crypto.c -lcrypto -lpthread
"$out/nonce_fork"
cc -std=gnu99 -O2 -Wall -Wextra -Werror -Isrc -o "$out/siv_vectors" \
	test/unit/siv_vectors.c src/crypto.c -lcrypto -lpthread
"$out/siv_vectors"
