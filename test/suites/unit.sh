#!/usr/bin/env bash
# Unit tests outside PostgreSQL: the nonce pool across fork() and
# AES-SIV's known answers (RFC 5297 and an independent implementation),
# built from the extension's own src/crypto.c, and the size limit at its
# boundary (src/envelope.c).
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
cc -std=gnu99 -O2 -Wall -Wextra -Werror -Isrc -o "$out/limits" \
	test/unit/limits.c src/envelope.c
"$out/limits"
