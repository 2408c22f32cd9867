# A Citus cluster on loopback, set up as the README's "Scaling out with
# Citus" says; source it after lib.sh and rel_init.
#
# citus_tls: a test CA in $REL_TMP/tls that signs the servers' certificate
# (127.0.0.1), the nodes' client certificate (ec-cluster-node) and two
# other client certificates (ec-app-client, ec-cluster-node2).
# citus_node NAME PORT: initdb, configure and start one node (extra
# postgresql.conf lines in $CITUS_EXTRA_CONF, shared_preload_libraries
# from $CITUS_PRELOAD if set), and create the database
# "app" with Citus and, unless CITUS_NO_EXTENSION=1, encrypted_column.
# citus_cluster: a coordinator on $PC and workers on $PW1 and $PW2.

citus_tls() {
	TLS=$REL_TMP/tls
	mkdir -p "$TLS"
	(
		cd "$TLS" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ec-test-ca \
			-keyout ca.key -out ca.crt
		for name in server:127.0.0.1 node:ec-cluster-node other:ec-app-client \
			prefix:ec-cluster-node2; do
			openssl req -newkey rsa:2048 -nodes -subj "/CN=${name#*:}" \
				-keyout "${name%%:*}.key" -out "${name%%:*}.csr"
			openssl x509 -req -in "${name%%:*}.csr" -CA ca.crt -CAkey ca.key \
				-CAcreateserial -days 2 -out "${name%%:*}.crt"
		done
		chmod 0600 ./*.key
	) >"$REL_TMP/tls.log" 2>&1 || { cat "$REL_TMP/tls.log"; return 1; }
	if ((EUID == 0)); then chown -R postgres: "$TLS"; fi
}

citus_node() {
	local node=$1 port=$2
	cluster_init "$node" <<CONF || return 1
shared_preload_libraries = '${CITUS_PRELOAD:-citus,encrypted_column}'
max_connections = 100
max_worker_processes = 16
wal_level = logical
ssl = on
ssl_cert_file = '$TLS/server.crt'
ssl_key_file = '$TLS/server.key'
ssl_ca_file = '$TLS/ca.crt'
citus.node_conninfo = 'sslmode=verify-ca sslrootcert=$TLS/ca.crt sslcert=$TLS/node.crt sslkey=$TLS/node.key'
citus.propagate_set_commands = 'local'
citus.enable_local_execution = off
citus.shard_count = 8
encrypted_column.trusted_node_cn = 'ec-cluster-node'
${CITUS_EXTRA_CONF:-}
CONF
	cluster_start "$node" "$port" || return 1
	pq "$port" postgres -c "CREATE DATABASE app" >/dev/null || return 1
	pq "$port" app -c "CREATE EXTENSION citus" >/dev/null || return 1
	[[ ${CITUS_NO_EXTENSION:-0} == 1 ]] ||
		pq "$port" app -c "CREATE EXTENSION encrypted_column" >/dev/null
}

citus_cluster() {
	citus_tls || return 1
	PC=$(free_port "${CITUS_PORT:-55500}") || return 1
	PW1=$(free_port $((PC + 1))) || return 1
	PW2=$(free_port $((PW1 + 1))) || return 1
	citus_node coord "$PC" && citus_node w1 "$PW1" && citus_node w2 "$PW2" || return 1
	pq "$PC" app -c "SELECT citus_set_coordinator_host('127.0.0.1', $PC)" \
		-c "SELECT citus_add_node('127.0.0.1', $PW1)" \
		-c "SELECT citus_add_node('127.0.0.1', $PW2)" >/dev/null
}
