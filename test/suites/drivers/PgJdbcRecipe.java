// PgJDBC's recipe for encrypted_text, run by test/suites/drivers.sh.
//
// PgJDBC binds parameters on the server; setString sends a varchar-typed
// parameter unless the connection sets stringtype=unspecified, and
// setObject(i, s, Types.OTHER) sends an untyped one.  Prints one "ok" /
// "NOT OK" line per check.  Environment: EC_HOST, EC_PORT, EC_DB, EC_KEY.
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.Properties;

import org.postgresql.util.PGobject;

public class PgJdbcRecipe {
	static int failed = 0;
	static final String KEY = System.getenv("EC_KEY");
	static final String URL = "jdbc:postgresql://" + System.getenv("EC_HOST") + ":"
		+ System.getenv("EC_PORT") + "/" + System.getenv("EC_DB");

	/* Record one check. */
	static void check(String desc, boolean ok) {
		System.out.println((ok ? "ok    " : "NOT OK") + " - PgJDBC: " + desc);
		if (!ok)
			failed++;
	}

	/* A connection as app with extra properties given as name, value pairs. */
	static Connection connect(String... props) throws SQLException {
		Properties p = new Properties();
		p.setProperty("user", "app");
		for (int i = 0; i < props.length; i += 2)
			p.setProperty(props[i], props[i + 1]);
		return DriverManager.getConnection(URL, p);
	}

	/* The first column of the first row, as a string (null when none). */
	static String one(PreparedStatement ps) throws SQLException {
		try (ResultSet rs = ps.executeQuery()) {
			return rs.next() ? rs.getString(1) : null;
		}
	}

	static String one(Connection c, String sql) throws SQLException {
		try (PreparedStatement ps = c.prepareStatement(sql)) {
			return one(ps);
		}
	}

	/* The SQLSTATE a prepared statement with one string parameter fails with. */
	static String sqlstate(Connection c, String sql, Object value, int type) {
		try (PreparedStatement ps = c.prepareStatement(sql)) {
			if (type == Types.VARCHAR)
				ps.setString(1, (String) value);
			else
				ps.setObject(1, value, type);
			ps.execute();
			return null;
		} catch (SQLException e) {
			return e.getSQLState();
		}
	}

	/*
	 * Every message of the exception executeBatch throws when the second
	 * of two equal values breaks td's UNIQUE, joined; "" when none.
	 */
	static String batchMessages(Connection c, String value) throws SQLException {
		StringBuilder all = new StringBuilder();
		try (PreparedStatement ps = c.prepareStatement("INSERT INTO td (who, c) VALUES ('jdbc-batch', ?)")) {
			for (int i = 0; i < 2; i++) {
				ps.setObject(1, value, Types.OTHER);
				ps.addBatch();
			}
			ps.executeBatch();
		} catch (BatchUpdateException e) {
			for (SQLException x = e; x != null; x = x.getNextException())
				all.append(x.getSQLState()).append(' ').append(x.getMessage()).append('\n');
		}
		return all.toString();
	}

	/* Run an update with one parameter set by setString or setObject. */
	static void update(Connection c, String sql, String value, int type) throws SQLException {
		try (PreparedStatement ps = c.prepareStatement(sql)) {
			if (type == Types.VARCHAR)
				ps.setString(1, value);
			else
				ps.setObject(1, value, type);
			ps.execute();
		}
	}

	public static void main(String[] args) throws Exception {
		String first = "SELECT decrypt(c) FROM t WHERE who = 'jdbc' ORDER BY id LIMIT 1";
		try (Connection c = connect("options", "-c encrypted_column.key=" + KEY)) {
			check("key in the options connection property",
				"t".equals(one(c, "SELECT current_key_id() IS NOT NULL")));
			update(c, "INSERT INTO t (who, c) VALUES ('jdbc', ?)", "j-varchar", Types.VARCHAR);
			update(c, "INSERT INTO t (who, c) VALUES ('jdbc', ?)", "j-untyped", Types.OTHER);
			StringBuilder got = new StringBuilder();
			try (Statement st = c.createStatement();
				 ResultSet rs = st.executeQuery("SELECT decrypt(c) FROM t WHERE who = 'jdbc' ORDER BY id")) {
				while (rs.next())
					got.append(rs.getString(1)).append(';');
			}
			check("insert of a String by setString (varchar: assignment cast) and setObject(OTHER)",
				"j-varchar;j-untyped;".equals(got.toString()));
			try (PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM t WHERE decrypt(c) = ?")) {
				ps.setString(1, "j-untyped");
				check("lookup WHERE decrypt(c) = ? with setString", "1".equals(one(ps)));
			}
			String ct = one(c, "SELECT c FROM (SELECT * FROM t WHERE who = 'jdbc' ORDER BY id LIMIT 1) s");
			check("SELECT * gives the ciphertext text form", ct != null && ct.startsWith("ecv1:"));
			check("decrypt(?) with setString (varchar): 42883",
				"42883".equals(sqlstate(c, "SELECT decrypt(?)", ct, Types.VARCHAR)));
			check("the ciphertext back as an untyped parameter to decrypt(): 42725 (two types have decrypt)",
				"42725".equals(sqlstate(c, "SELECT decrypt(?)", ct, Types.OTHER)));
			check("the ciphertext back into an encrypted_text column with setString: 22023",
				"22023".equals(sqlstate(c, "INSERT INTO t (who, c) VALUES ('x', ?)", ct, Types.VARCHAR)));
			PGobject typed = new PGobject();
			typed.setType("encrypted_text");
			typed.setValue(ct);
			check("the ciphertext back as a PGobject of type encrypted_text: 22023 (text input is plaintext)",
				"22023".equals(sqlstate(c, "SELECT decrypt(?)", typed, Types.OTHER)));
			try (Statement st = c.createStatement()) {
				st.executeUpdate("INSERT INTO t (who, c) SELECT 'jdbc-copy', c FROM t WHERE who = 'jdbc' ORDER BY id LIMIT 1");
			}
			check("copy a value by referring to its row (INSERT ... SELECT)",
				"j-varchar".equals(one(c, "SELECT decrypt(c) FROM t WHERE who = 'jdbc-copy'")));
		}
		try (Connection c = connect("stringtype", "unspecified")) {
			check("SET encrypted_column.key = ?: 42601 (SET takes no parameters)",
				"42601".equals(sqlstate(c, "SET encrypted_column.key = ?", KEY, Types.VARCHAR)));
			update(c, "SELECT set_config('encrypted_column.key', ?, false)", KEY, Types.VARCHAR);
			check("set_config('encrypted_column.key', ?, false)", "j-varchar".equals(one(c, first)));
			check("stringtype=unspecified: setString to decrypt(?) is untyped: 42725",
				"42725".equals(sqlstate(c, "SELECT decrypt(?)", "ecv1:AQ==", Types.VARCHAR)));
		}
		try (Connection c = connect()) {
			c.setAutoCommit(false);
			update(c, "SELECT set_config('encrypted_column.key', ?, true)", KEY, Types.VARCHAR);
			String got = one(c, first);
			c.commit();
			check("set_config(..., true) inside a transaction", "j-varchar".equals(got));
			check("the key ends with the transaction", one(c, "SELECT current_key_id()") == null);
			c.rollback();
			c.setAutoCommit(true);
			check("without a key: 55000",
				"55000".equals(sqlstate(c, "SELECT decrypt(c) FROM t WHERE who = ?", "jdbc", Types.VARCHAR)));
		}
		// executeBatch: by default the exception quotes each failed entry
		// with its parameters, the plaintext included
		try (Connection c = connect("options", "-c encrypted_column.key=" + KEY)) {
			String msg = batchMessages(c, "j-batch-default");
			check("executeBatch: 23505 on the duplicate", msg.startsWith("23505"));
			check("executeBatch: BatchUpdateException quotes the plaintext by default",
				msg.contains("j-batch-default"));
		}
		try (Connection c = connect("options", "-c encrypted_column.key=" + KEY,
				"logServerErrorDetail", "false")) {
			String msg = batchMessages(c, "j-batch-quiet");
			check("executeBatch with logServerErrorDetail=false: 23505", msg.startsWith("23505"));
			check("executeBatch with logServerErrorDetail=false: no plaintext in the exception",
				!msg.contains("j-batch-quiet"));
		}
		System.exit(failed == 0 ? 0 : 1);
	}
}
