/*
 * citus.c
 *		What the extension does on the nodes of a Citus cluster.
 *
 * Everything the extension knows about Citus is in this file and citus.h.
 * The hook table (module.c) calls its steps; lower layers reach it only
 * through neutral callbacks that module.c points at it (a shipped value
 * may pass the input function; the keys changed).  A reader who does not
 * use Citus can skip this file.
 *
 * A Citus coordinator runs a statement on distributed tables by sending
 * shard queries to worker sessions that it opens as the same role.  Two
 * things of the client's session must reach them:
 *
 *	- The keys.  decrypt(), reencrypt() and lookups run on the shards, in
 *	  the worker sessions.  Citus carries SET LOCAL commands made in a
 *	  transaction block to every worker session of that transaction (with
 *	  citus.propagate_set_commands = 'local'), over its own connections,
 *	  which use TLS.  So the extension, at each statement in a transaction
 *	  block, hands the session's key settings to Citus as SET LOCAL
 *	  commands, once per transaction and again after they change.  The
 *	  client's statement text is masked as on one server; only the copy
 *	  given to Citus carries the value.  Nothing is stored: the values live
 *	  in the transaction's memory on each node and go at its end.
 *
 *	- Values already encrypted.  The coordinator encrypts literals and
 *	  parameters, then ships each value in the shard query as its
 *	  ciphertext text form, which a worker's input function would refuse
 *	  (the laundering rule).  A worker accepts it only when three things
 *	  hold:
 *	  - the session authenticated with the cluster's node certificate: a
 *		TLS client certificate that the server verified against its
 *		ssl_ca_file and whose common name is
 *		encrypted_column.trusted_node_cn (a postgresql.conf setting), a fact
 *		of the connection that a client without the node's private key
 *		cannot forge;
 *	  - the value is a literal or a parameter of the statement as the node
 *		received it: the input function is called while no planner,
 *		executor, DO block or procedural function of the session runs.
 *		Whatever a shard query computes (a cast from a text column, an
 *		inlined function, a trigger) follows the one-server rule, so a
 *		pushed-down expression cannot launder a ciphertext on a worker;
 *	  - the statement came from Citus, not from a client: Citus's functions
 *		that send a client's SQL text to other nodes over these
 *		connections (run_command_on_workers() and the like) are refused to
 *		roles that could not turn the restore switch on anyway.
 *
 * Stored keys need no secret on the workers: every node reads its own
 * encrypted_column.kek_source and unwraps the stored keys itself.  What
 * the workers need is the key table, and the key name:
 *
 *	- The key table.  The key functions run on the coordinator (a worker
 *	  refuses them); after each change the coordinator sends the rows of
 *	  the key name it changed (all rows, after rotate_kek), with the grants
 *	  naming roles by name, to every worker, which replaces its rows of
 *	  that name with them.  The wrapped keys are not secret without the
 *	  KEK.  The copy is sent through run_command_on_workers() as the key
 *	  table's owner and commits on the workers at once; a failure on any
 *	  worker is an error here.
 *	- encrypted_column.key_name, which is not secret, goes with the keys as
 *	  a SET LOCAL in a transaction block.  Nothing carries it in
 *	  autocommit, where the workers only decrypt and compare, which finds
 *	  the stored key by the key id in each value.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_language.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "optimizer/planner.h"
#include "tcop/dest.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "executor/spi.h"

#include "compat.h"
#include "encrypted_column.h"
#include "citus.h"
#include "redact.h"
#include "store.h"

/* encrypted_column.trusted_node_cn */
char	   *ec_trusted_node_cn = NULL;

/*
 * Set while the key settings handed to Citus in this transaction may be
 * quoted in a message (citus.log_remote_commands prints every command it
 * sends); the log hook masks key-shaped runs of hex digits meanwhile.
 */
static bool keys_in_flight = false;

/* the session's key settings were handed over, as they are now */
static bool keys_sent = false;

/* the subtransaction in which they were handed over */
static SubTransactionId sent_subxact = InvalidSubTransactionId;

/* set while the extension itself runs a SET LOCAL for Citus */
static bool forwarding = false;

/* set while the extension sends the key table's rows to the workers */
static bool pushing = false;

/*
 * citus.log_remote_commands sends every command Citus issues to the
 * client as a NOTICE, which reaches no hook of the server's: with it on,
 * the SET LOCAL commands would show the keys.  The extension adds a check
 * to Citus's setting so that it cannot be turned on in a transaction that
 * handed keys over, whichever way it is set, and hands none over while it
 * is on.
 */
static struct config_bool *citus_log_remote = NULL;
static GucBoolCheckHook prev_log_remote_check = NULL;

static void refuse_while_logging(void);

static bool
check_log_remote(bool *newval, void **extra, GucSource source)
{
	if (*newval && keys_in_flight)
	{
		GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
		GUC_check_errmsg("citus.log_remote_commands cannot be turned on in this transaction");
		GUC_check_errdetail("The worker sessions of this transaction were handed the encryption keys, "
							"and the commands that did so would be printed.");
		return false;
	}
	return prev_log_remote_check == NULL ||
		prev_log_remote_check(newval, extra, source);
}

/* Find Citus's setting and add the check, once Citus is loaded. */
static void
guard_citus_logging(void)
{
	struct config_generic *gen = NULL;

	if (citus_log_remote != NULL)
		return;
#if PG_VERSION_NUM >= 160000
	gen = find_option("citus.log_remote_commands", false, true, ERROR);
#else
	{
		struct config_generic **vars = get_guc_variables();
		int			n = GetNumConfigOptions();

		for (int i = 0; i < n; i++)
			if (strcmp(vars[i]->name, "citus.log_remote_commands") == 0)
				gen = vars[i];
	}
#endif
	if (gen == NULL || gen->vartype != PGC_BOOL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("this Citus version has no boolean setting citus.log_remote_commands"),
				 errdetail("The extension hands keys to Citus's worker sessions only while it can keep that setting off.")));
	citus_log_remote = (struct config_bool *) gen;
	prev_log_remote_check = citus_log_remote->check_hook;
	citus_log_remote->check_hook = check_log_remote;
}

/*
 * How many planners, executor runs, DO blocks and (in a node's session)
 * procedural functions of this backend are running.  Zero while a
 * statement is parsed and its parameters are read.
 */
static int	computing = 0;


/*
 * Is this session a cluster node's connection, authenticated with the
 * node certificate?
 */
static bool
trusted_node_session(void)
{
#ifdef USE_SSL
	return ec_trusted_node_cn != NULL && ec_trusted_node_cn[0] != '\0' &&
		MyProcPort != NULL && MyProcPort->peer_cert_valid &&
		MyProcPort->peer_cn != NULL &&
		strcmp(MyProcPort->peer_cn, ec_trusted_node_cn) == 0;
#else
	return false;
#endif
}

/*
 * May the input function take this ciphertext text form as it is?  Only
 * in a node's session, and only for a literal or parameter of the
 * statement as the node received it (see the header).
 */
bool
ec_citus_may_ship(void)
{
	return computing == 0 && trusted_node_session();
}

/*
 * The planner, the executor, a DO block or a procedural function starts
 * computing (the hook table calls this around each; the planner inlines
 * SQL functions, AFTER triggers run in ExecutorFinish).
 */
void
ec_citus_computing_enter(void)
{
	computing++;
}

/* ... and has ended, or failed. */
void
ec_citus_computing_leave(void)
{
	computing--;
}

/* Is funcid one of Citus's functions (pg_catalog, citus extension) named in names? */
static bool
is_citus_function(Oid funcid, const char *const *names, int n)
{
	char	   *name = get_func_name(funcid);
	bool		named = false;
	Oid			ext;

	if (name == NULL)
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			named = true;
	pfree(name);
	if (!named || get_func_namespace(funcid) != PG_CATALOG_NAMESPACE)
		return false;
	ext = getExtensionOfObject(ProcedureRelationId, funcid);
	return OidIsValid(ext) && strcmp(get_extension_name(ext), "citus") == 0;
}

/*
 * Citus's functions through which a node runs SQL text that the
 * coordinator built from what it had already parsed and checked: shard DDL
 * and the query of a repartitioned INSERT ... SELECT.  A statement run
 * inside one is a statement as the node received it, so its literals may
 * be shipped values; whatever it computes is counted again.
 */
static const char *const statement_runners[] = {
	"worker_apply_shard_ddl_command",
	"worker_apply_inter_shard_ddl_command",
	"worker_partition_query_result",
};

#define MAX_RUNNERS 16
static Oid	runner_oids[MAX_RUNNERS];
static int	n_runner_oids = 0;

/* the depth to go back to when a statement runner returns */
#define MAX_RUNNER_DEPTH 32
static int	saved_computing[MAX_RUNNER_DEPTH];
static int	n_saved = 0;

static bool
is_runner(Oid fn_oid)
{
	for (int i = 0; i < n_runner_oids; i++)
		if (runner_oids[i] == fn_oid)
			return true;
	return false;
}

/*
 * Does fmgr need to report this function's calls (needs_fmgr_hook)?  In a
 * node's session, watch procedural functions (triggers, deferred ones at
 * commit among them, run their code outside any executor) and Citus's
 * statement runners.  Other sessions are not affected.
 */
bool
ec_citus_needs_fmgr(Oid fn_oid)
{
	bool		watch = false;

	if (trusted_node_session())
	{
		HeapTuple	tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));

		if (HeapTupleIsValid(tuple))
		{
			Oid			lang = ((Form_pg_proc) GETSTRUCT(tuple))->prolang;

			watch = lang != INTERNALlanguageId && lang != ClanguageId &&
				lang != SQLlanguageId;
			ReleaseSysCache(tuple);
		}
		if (!watch && !is_runner(fn_oid) && n_runner_oids < MAX_RUNNERS &&
			is_citus_function(fn_oid, statement_runners, lengthof(statement_runners)))
			runner_oids[n_runner_oids++] = fn_oid;
		watch = watch || is_runner(fn_oid);
	}
	return watch;
}

/*
 * A watched function starts or ends (fmgr_hook): count procedural
 * functions; a statement runner starts from zero and gives the depth back
 * after.
 */
void
ec_citus_fmgr(FmgrHookEventType event, FmgrInfo *flinfo)
{
	if (is_runner(flinfo->fn_oid))
	{
		if (event == FHET_START)
		{
			if (n_saved >= MAX_RUNNER_DEPTH)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("too many nested Citus statement runners")));
			saved_computing[n_saved++] = computing;
			computing = 0;
		}
		else if ((event == FHET_END || event == FHET_ABORT) && n_saved > 0)
			computing = saved_computing[--n_saved];
	}
	else if (event == FHET_START)
		computing++;
	else if (event == FHET_END || event == FHET_ABORT)
		computing--;
}

/*
 * Citus's functions that run SQL text written by their caller on other
 * nodes, over connections that authenticate with the node certificate.
 */
static const char *const command_shippers[] = {
	"run_command_on_workers",
	"run_command_on_placements",
	"run_command_on_colocated_placements",
	"run_command_on_shards",
	"run_command_on_all_nodes",
	"run_command_on_coordinator",
	"master_run_on_worker",
};

/*
 * Object access check before a function runs: refuse Citus's command
 * shippers to a role that could not turn the restore switch on, where
 * nodes trust the node certificate.  The function is known by catalog
 * facts: its name in pg_catalog, and membership of the citus extension.
 */
void
ec_citus_check_execute(Oid funcid)
{
	if (pushing || ec_trusted_node_cn == NULL || ec_trusted_node_cn[0] == '\0' ||
		!is_citus_function(funcid, command_shippers, lengthof(command_shippers)))
		return;
	if (superuser() ||
		pg_parameter_aclcheck("encrypted_column.accept_ciphertext", GetUserId(),
							  ACL_SET) == ACLCHECK_OK)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for function %s", get_func_name(funcid)),
			 errdetail("Cluster nodes accept ciphertext text forms from the connections this function uses, "
					   "so it would let its caller store a copied ciphertext."),
			 errhint("Only superusers and roles granted SET on encrypted_column.accept_ciphertext may run it.")));
}

/*
 * Will Citus carry a SET LOCAL to the worker sessions of this
 * transaction?  Only in a transaction block, not in a parallel query
 * (which cannot SET, and whose leader has handed the keys over), and only
 * when the cluster is set up to propagate SET LOCAL.
 */
static bool
citus_propagates(void)
{
	const char *mode;

	if (!IsTransactionBlock() || IsInParallelMode())
		return false;
	mode = GetConfigOption("citus.propagate_set_commands", true, false);
	return mode != NULL && strcmp(mode, "local") == 0;
}

/*
 * Run "SET LOCAL name TO 'value'" through the rest of the utility hook
 * chain (Citus's among them), with a text that carries the value.  value
 * is a palloc'd copy that this function wipes and frees, with the text
 * and the quoted copy, on every path.  A secret value (a key) keeps
 * citus.log_remote_commands off for the rest of the transaction.
 */
static void
set_local_for_citus(VariableSetStmt *stmt, const char *name, char *value,
					bool secret, ProcessUtility_hook_type next)
{
	PlannedStmt *pstmt = makeNode(PlannedStmt);
	StringInfoData sql;
	char	   *quoted = NULL;

	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = false;
	pstmt->utilityStmt = (Node *) stmt;
	pstmt->stmt_location = -1;
	pstmt->stmt_len = 0;

	/* sized once, so that no outgrown copy of the text is left unwiped */
	initStringInfo(&sql);
	enlargeStringInfo(&sql, strlen(name) + 2 * strlen(value) + 32);

	/* from here on messages may quote the text: mask key-shaped runs */
	if (secret)
		keys_in_flight = true;
	forwarding = true;
	PG_TRY();
	{
		quoted = quote_literal_cstr(value);
		appendStringInfo(&sql, "SET LOCAL %s TO %s", name, quoted);
		next(pstmt, sql.data, true, PROCESS_UTILITY_QUERY, NULL, NULL,
			 None_Receiver, NULL);
	}
	PG_FINALLY();
	{
		forwarding = false;
		if (quoted != NULL)
		{
			ec_wipe(quoted, strlen(quoted));
			pfree(quoted);
		}
		ec_wipe(sql.data, sql.maxlen);
		pfree(sql.data);
		ec_wipe(value, strlen(value));
		pfree(value);
	}
	PG_END_TRY();
}

/*
 * Before a statement, while this transaction's keys are in Citus's hands:
 * Citus sends them again to each worker session it opens, so
 * citus.log_remote_commands must still be off.  The check hook stops it
 * being set; this catches a value restored without a check (RESET, SET
 * ... TO DEFAULT, ROLLBACK TO, a function's SET clause) before the next
 * statement can open a connection.
 */
void
ec_citus_check_logging(void)
{
	if (keys_in_flight && !forwarding)
		refuse_while_logging();
}

/* Hand no key over while Citus prints the commands it sends. */
static void
refuse_while_logging(void)
{
	guard_citus_logging();
	if (*citus_log_remote->variable)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("cannot hand the encryption keys to Citus's worker sessions while citus.log_remote_commands is on"),
				 errdetail("The commands that hand them over would be printed."),
				 errhint("Turn citus.log_remote_commands off for transactions that use the keys.")));
}

/*
 * A SET LOCAL statement for one key setting, with its value (not copied:
 * set_local_for_citus wipes it).
 */
static VariableSetStmt *
make_set_local(const char *name, char *value)
{
	VariableSetStmt *stmt = makeNode(VariableSetStmt);
	A_Const    *arg = makeNode(A_Const);

	arg->val.sval.type = T_String;
	arg->val.sval.sval = value;
	arg->location = -1;
	stmt->kind = VAR_SET_VALUE;
	stmt->name = pstrdup(name);
	stmt->args = list_make1(arg);
	stmt->is_local = true;
	return stmt;
}

/*
 * Before a statement runs: if Citus will open worker sessions for it in
 * this transaction block, hand them the session's keys and key name,
 * unless that was done already with the same values.  The key name is
 * not secret: it goes even while citus.log_remote_commands is on.
 */
void
ec_citus_before_statement(ProcessUtility_hook_type next)
{
	bool		keys;
	bool		named;

	ec_citus_check_logging();
	if (keys_sent || forwarding || !citus_propagates())
		return;
	keys = (ec_key_guc != NULL && ec_key_guc[0] != '\0') ||
		(ec_previous_keys_guc != NULL && ec_previous_keys_guc[0] != '\0');
	named = ec_key_name_guc != NULL && ec_key_name_guc[0] != '\0';
	if (!keys && !named)
		return;
	if (keys)
		refuse_while_logging();
	if (named)
	{
		char	   *value = pstrdup(ec_key_name_guc);

		set_local_for_citus(make_set_local("encrypted_column.key_name", value),
							"encrypted_column.key_name", value, false, next);
	}
	if (ec_previous_keys_guc != NULL && ec_previous_keys_guc[0] != '\0')
	{
		char	   *value = pstrdup(ec_previous_keys_guc);

		set_local_for_citus(make_set_local("encrypted_column.previous_keys", value),
							"encrypted_column.previous_keys", value, true, next);
	}
	if (ec_key_guc != NULL && ec_key_guc[0] != '\0')
	{
		char	   *value = pstrdup(ec_key_guc);

		set_local_for_citus(make_set_local("encrypted_column.key", value),
							"encrypted_column.key", value, true, next);
	}
	keys_sent = true;
	sent_subxact = GetCurrentSubTransactionId();
}

/*
 * A client's own SET LOCAL of a setting in the extension's prefix, in a
 * transaction block that Citus propagates: Citus would send the client's
 * statement text, which is masked by then.  Run it with a text made from
 * the parse tree instead (a name that needs quoting is left as it is: no
 * setting of the extension has one).  Returns false when the statement is
 * not one of these, and the caller runs it as usual.
 */
bool
ec_citus_forward_set(VariableSetStmt *stmt, ProcessUtility_hook_type next)
{
	char	   *value;
	bool		secret;

	if (forwarding || stmt->kind != VAR_SET_VALUE || !stmt->is_local ||
		stmt->name == NULL || !ec_is_extension_guc(stmt->name) ||
		strspn(stmt->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") !=
		strlen(stmt->name) ||
		!citus_propagates())
		return false;
	/* the key name is not secret; every other setting of the prefix may be */
	secret = pg_strcasecmp(stmt->name, "encrypted_column.key_name") != 0;
	if (secret)
		refuse_while_logging();
	value = ExtractSetVariableArgs(stmt);
	if (value == NULL)
		return false;
	set_local_for_citus(stmt, stmt->name, value, secret, next);
	/* the other key setting may not have been handed over yet */
	keys_sent = false;
	return true;
}

/* The key settings changed: hand them over again at the next statement. */
void
ec_citus_keys_changed(void)
{
	if (!forwarding)
		keys_sent = false;
}

/*
 * Is Citus running here, so that a lookup by plaintext is better planned
 * as a comparison with constants of the column's type, which Citus can
 * route to one shard?  In a database with the citus extension, once
 * Citus's library has registered its settings.
 */
bool
ec_citus_routes_constants(void)
{
	return GetConfigOption("citus.shard_count", true, false) != NULL &&
		OidIsValid(get_extension_oid("citus", true));
}

/* The hint for "encrypted_column.key is not set" in a node's session. */
const char *
ec_citus_no_key_hint(void)
{
	if (!trusted_node_session())
		return NULL;
	return _("This is a cluster node's session: the coordinator hands it "
			 "the keys only inside a transaction block (BEGIN ... COMMIT), "
			 "with citus.propagate_set_commands = 'local'.");
}

/* The keys are in Citus's hands: may a message quote them? */
bool
ec_citus_keys_out(void)
{
	return keys_in_flight;
}

/* A transaction or subtransaction ended. */
void
ec_citus_xact_callback(XactEvent event, void *arg)
{
	(void) arg;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		keys_sent = false;
		keys_in_flight = false;
		sent_subxact = InvalidSubTransactionId;
	}
}

/* A subtransaction ended: Citus forgets the SET LOCALs of an aborted one. */
void
ec_citus_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	(void) arg;
	if (event == SUBXACT_EVENT_ABORT_SUB && mySubid == sent_subxact)
		keys_sent = false;
	else if (event == SUBXACT_EVENT_COMMIT_SUB && mySubid == sent_subxact)
		sent_subxact = parentSubid;
}

/*
 * The key table's rows of one name (or of every name, NULL) as the body of
 * a DO block that replaces them on a worker: the key rows as stored
 * (wrapped keys in hex; times in UTC as ISO 8601, whatever the sessions'
 * DateStyle and time zone),
 * and the grants with each role by name, since role OIDs differ between
 * nodes.  Run in the caller's SPI connection, as the table's owner, with
 * a new snapshot (not read-only), which sees the change just made.
 */
static char *
key_rows_block(const char *name)
{
	StringInfoData body;
	StringInfoData sql;
	const char *schema;
	ec_store_location where;
	/* no key name is empty (key_admin.c): '' stands for every name */
	const char *args[1] = {name != NULL ? name : ""};
	char	   *where_name;
	char	   *keys;
	char	   *grants;
	char		tag[32];
	int			n = 0;

	ec_store_locate(&where);
	schema = where.schema;
	where_name = name != NULL ?
		psprintf(" WHERE name OPERATOR(pg_catalog.=) %s", quote_literal_cstr(name)) :
		pstrdup("");

	ec_store_query("SELECT pg_catalog.string_agg(pg_catalog.format("
				   "'(%%L,%%s,%%L,%%L,%%L,"
				   "(%%L::pg_catalog.timestamp AT TIME ZONE ''UTC''),"
				   "(%%L::pg_catalog.timestamp AT TIME ZONE ''UTC''),"
				   "pg_catalog.decode(%%L,''hex''),pg_catalog.decode(%%L,''hex''))', "
				   "name, version, key_id, kek_id, state, "
				   "pg_catalog.to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
				   "pg_catalog.to_char(destroyed AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
				   "pg_catalog.encode(wrapped, 'hex'), pg_catalog.encode(key_check, 'hex')), "
				   "',' ORDER BY name, version) FROM %s.stored_keys "
				   "WHERE $1 OPERATOR(pg_catalog.=) '' OR name OPERATOR(pg_catalog.=) $1",
				   false, 1, args);
	keys = ec_store_text(0, 1);
	ec_store_query("SELECT pg_catalog.string_agg(pg_catalog.format("
				   "'(%%L,%%L::pg_catalog.regrole,%%L,%%L)', "
				   "name, grantee::pg_catalog.text, may_encrypt, may_decrypt), "
				   "',' ORDER BY name, grantee::pg_catalog.text) FROM %s.stored_key_grants "
				   "WHERE $1 OPERATOR(pg_catalog.=) '' OR name OPERATOR(pg_catalog.=) $1",
				   false, 1, args);
	grants = ec_store_text(0, 1);

	initStringInfo(&body);
	appendStringInfo(&body, "BEGIN DELETE FROM %s.stored_keys%s; ", schema, where_name);
	if (keys != NULL)
		appendStringInfo(&body,
						 "INSERT INTO %s.stored_keys (name, version, key_id, kek_id, state, "
						 "created, destroyed, wrapped, key_check) VALUES %s; ",
						 schema, keys);
	appendStringInfo(&body, "DELETE FROM %s.stored_key_grants%s; ", schema, where_name);
	if (grants != NULL)
		appendStringInfo(&body,
						 "INSERT INTO %s.stored_key_grants (name, grantee, may_encrypt, "
						 "may_decrypt) VALUES %s; ",
						 schema, grants);
	appendStringInfoString(&body, "END");

	/* a dollar-quote tag that the body does not hold */
	do
		snprintf(tag, sizeof(tag), "$ec_keys%d$", n++);
	while (strstr(body.data, tag) != NULL);
	initStringInfo(&sql);
	appendStringInfo(&sql, "DO %s%s%s", tag, body.data, tag);
	pfree(body.data);
	return sql.data;
}

/*
 * Is this database, which has Citus, on its coordinator?  Raises an error
 * on a worker, whose key table only the coordinator writes.  In SPI.
 */
static bool
on_coordinator(void)
{
	bool		isnull;
	int32		group;

	if (SPI_execute("SELECT groupid FROM pg_catalog.pg_dist_local_group", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_dist_local_group");
	if (SPI_processed == 0)
		return false;
	group = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (!isnull && group != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stored keys are managed on the Citus coordinator"),
				 errdetail("This node is a worker (group %d): its key table is a copy that the coordinator keeps.", group),
				 errhint("Run the key functions on the coordinator; it sends the changed rows to every worker.")));
	return true;
}

/*
 * The key functions changed the rows of name (NULL: of every name) on
 * this node (the seam ec_stored_keys_changed).  On a Citus coordinator,
 * send those rows to every worker, which replaces its own with them; on a
 * worker, refuse (see on_coordinator).  Elsewhere nothing happens.
 */
void
ec_citus_stored_keys_changed(const char *name)
{
	ec_store_spi spi;
	char	   *block;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	Datum		ok;

	/* a single server, or a database without Citus: nothing to do */
	if (GetConfigOption("citus.shard_count", true, false) == NULL ||
		!OidIsValid(get_extension_oid("citus", true)))
		return;
	ec_store_spi_begin(&spi);
	if (!on_coordinator())
	{
		ec_store_spi_end(&spi);
		return;
	}
	block = key_rows_block(name);
	values[0] = CStringGetTextDatum(block);
	pushing = true;
	PG_TRY();
	{
		if (SPI_execute_with_args("SELECT pg_catalog.bool_and(success), "
								  "pg_catalog.string_agg(nodename OPERATOR(pg_catalog.||) ':' "
								  "OPERATOR(pg_catalog.||) nodeport OPERATOR(pg_catalog.||) ': ' "
								  "OPERATOR(pg_catalog.||) result, '; ') "
								  "FILTER (WHERE NOT success) "
								  "FROM pg_catalog.run_command_on_workers($1)",
								  1, types, values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not run the key table's copy on the workers");
	}
	PG_FINALLY();
	{
		pushing = false;
	}
	PG_END_TRY();
	ok = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull && !DatumGetBool(ok))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not copy the stored keys %s%s%s to every Citus worker",
						name ? "of \"" : "", name ? name : "", name ? "\"" : ""),
				 errdetail("%s", ec_store_text(0, 2)),
				 errhint("Nothing was changed on the coordinator. A worker that took the copy is brought back in line by the next change of the key.")));
	ec_store_spi_end(&spi);
}

/* Register encrypted_column.trusted_node_cn; called once from _PG_init. */
void
ec_citus_define_gucs(void)
{
	DefineCustomStringVariable("encrypted_column.trusted_node_cn",
							   "Common name of the TLS client certificate that cluster nodes connect with.",
							   "Sessions that authenticated with a verified certificate of this name "
							   "may pass ciphertext text forms, as with accept_ciphertext. Empty: none.",
							   &ec_trusted_node_cn,
							   "",
							   PGC_SIGHUP,
							   GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
}
