/*
 * scaleout.c
 *		What the extension does on the nodes of a Citus cluster.
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
 *	  (the laundering rule).  A worker accepts it only from a session
 *	  that authenticated with the cluster's node certificate: a TLS client
 *	  certificate that the server verified against its ssl_ca_file and
 *	  whose common name is encrypted_column.trusted_node_cn (a
 *	  postgresql.conf setting).  That is a fact of the connection, which a
 *	  client without the node's private key cannot forge; what the node
 *	  ships has passed the coordinator's own rules.
 */
#include "postgres.h"

#include "access/xact.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "tcop/dest.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"

#include "compat.h"
#include "encrypted_column.h"
#include "redact.h"

/* encrypted_column.trusted_node_cn */
char	   *ec_trusted_node_cn = NULL;

/*
 * Set while the key settings handed to Citus in this transaction may be
 * quoted in a message (citus.log_remote_commands prints every command it
 * sends); the log hook masks key-shaped runs of hex digits meanwhile.
 */
bool		ec_citus_keys_in_flight = false;

/* the session's key settings were handed over, as they are now */
static bool keys_sent = false;

/* the subtransaction in which they were handed over */
static SubTransactionId sent_subxact = InvalidSubTransactionId;

/* set while the extension itself runs a SET LOCAL for Citus */
static bool forwarding = false;

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

static bool
check_log_remote(bool *newval, void **extra, GucSource source)
{
	if (*newval && ec_citus_keys_in_flight)
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
 * Is this session a cluster node's connection, authenticated with the
 * node certificate?
 */
bool
ec_trusted_node_session(void)
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
 * chain (Citus's among them), with a text that carries the value, then
 * wipe that text.
 */
static void
set_local_for_citus(VariableSetStmt *stmt, const char *name, const char *value,
					ProcessUtility_hook_type next)
{
	PlannedStmt *pstmt = makeNode(PlannedStmt);
	StringInfoData sql;

	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = false;
	pstmt->utilityStmt = (Node *) stmt;
	pstmt->stmt_location = -1;
	pstmt->stmt_len = 0;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SET LOCAL %s TO ", name);
	appendStringInfoString(&sql, quote_literal_cstr(value));

	forwarding = true;
	PG_TRY();
	{
		next(pstmt, sql.data, false, PROCESS_UTILITY_QUERY, NULL, NULL,
			 None_Receiver, NULL);
	}
	PG_FINALLY();
	{
		forwarding = false;
		ec_wipe(sql.data, sql.len);
		pfree(sql.data);
	}
	PG_END_TRY();
	ec_citus_keys_in_flight = true;
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

/* A SET LOCAL statement for one key setting, with its value. */
static VariableSetStmt *
make_set_local(const char *name, const char *value)
{
	VariableSetStmt *stmt = makeNode(VariableSetStmt);
	A_Const    *arg = makeNode(A_Const);

	arg->val.sval.type = T_String;
	arg->val.sval.sval = pstrdup(value);
	arg->location = -1;
	stmt->kind = VAR_SET_VALUE;
	stmt->name = pstrdup(name);
	stmt->args = list_make1(arg);
	stmt->is_local = true;
	return stmt;
}

/*
 * Before a statement runs: if Citus will open worker sessions for it in
 * this transaction block, hand them the session's keys, unless that was
 * done already with the same values.
 */
void
ec_citus_before_statement(ProcessUtility_hook_type next)
{
	if (keys_sent || forwarding || !citus_propagates())
		return;
	if ((ec_key_guc == NULL || ec_key_guc[0] == '\0') &&
		(ec_previous_keys_guc == NULL || ec_previous_keys_guc[0] == '\0'))
		return;
	refuse_while_logging();
	if (ec_previous_keys_guc != NULL && ec_previous_keys_guc[0] != '\0')
	{
		char	   *value = pstrdup(ec_previous_keys_guc);

		set_local_for_citus(make_set_local("encrypted_column.previous_keys", value),
							"encrypted_column.previous_keys", value, next);
		ec_wipe(value, strlen(value));
	}
	if (ec_key_guc != NULL && ec_key_guc[0] != '\0')
	{
		char	   *value = pstrdup(ec_key_guc);

		set_local_for_citus(make_set_local("encrypted_column.key", value),
							"encrypted_column.key", value, next);
		ec_wipe(value, strlen(value));
	}
	keys_sent = true;
	sent_subxact = GetCurrentSubTransactionId();
}

/*
 * A client's own SET LOCAL of a setting in the extension's prefix, in a
 * transaction block that Citus propagates: Citus would send the client's
 * statement text, which is masked by then.  Run it with a text made from
 * the parse tree instead.  Returns false when the statement is not one of
 * these, and the caller runs it as usual.
 */
bool
ec_citus_forward_set(VariableSetStmt *stmt, ProcessUtility_hook_type next)
{
	char	   *value;

	if (forwarding || stmt->kind != VAR_SET_VALUE || !stmt->is_local ||
		stmt->name == NULL ||
		strncmp(stmt->name, "encrypted_column.", strlen("encrypted_column.")) != 0 ||
		!citus_propagates())
		return false;
	refuse_while_logging();
	value = ExtractSetVariableArgs(stmt);
	if (value == NULL)
		return false;
	set_local_for_citus(stmt, stmt->name, value, next);
	ec_wipe(value, strlen(value));
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

/* A transaction or subtransaction ended. */
static void
scaleout_xact_callback(XactEvent event, void *arg)
{
	(void) arg;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		keys_sent = false;
		ec_citus_keys_in_flight = false;
		sent_subxact = InvalidSubTransactionId;
	}
}

/* A subtransaction ended: Citus forgets the SET LOCALs of an aborted one. */
static void
scaleout_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	(void) arg;
	if (event == SUBXACT_EVENT_ABORT_SUB && mySubid == sent_subxact)
		keys_sent = false;
	else if (event == SUBXACT_EVENT_COMMIT_SUB && mySubid == sent_subxact)
		sent_subxact = parentSubid;
}

/* Register the setting and the callbacks; called once from _PG_init. */
void
ec_scaleout_install(void)
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
	RegisterXactCallback(scaleout_xact_callback, NULL);
	RegisterSubXactCallback(scaleout_subxact_callback, NULL);
}
