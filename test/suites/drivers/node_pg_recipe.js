// node-postgres's recipe for encrypted_text, run by test/suites/drivers.sh.
//
// node-postgres binds parameters on the server, untyped (the server picks
// each parameter's type from its context); a Buffer goes out in binary.
// Prints one "ok" / "NOT OK" line per check.
// Environment: EC_HOST, EC_PORT, EC_DB, EC_KEY.
'use strict';
const { Client } = require('pg');

const env = process.env;
const base = { host: env.EC_HOST, port: Number(env.EC_PORT), database: env.EC_DB, user: 'app' };
let failed = 0;

// Record one check.
function check(desc, ok) {
  console.log(`${ok ? 'ok    ' : 'NOT OK'} - node-postgres: ${desc}`);
  if (!ok) failed++;
}

// The SQLSTATE a statement fails with, or null.
async function sqlstate(client, text, values) {
  try {
    await client.query(text, values);
    return null;
  } catch (err) {
    return err.code || 'no code';
  }
}

// The first column of the first row.
async function one(client, text, values) {
  const res = await client.query({ text, values, rowMode: 'array' });
  return res.rows.length ? res.rows[0][0] : undefined;
}

async function main() {
  let c = new Client({ ...base, options: `-c encrypted_column.key=${env.EC_KEY}` });
  await c.connect();
  check('key in the options connection parameter', await one(c, 'SELECT current_key_id() IS NOT NULL') === true);
  await c.query("INSERT INTO t (who, c) VALUES ('node', $1)", ['n-untyped']);
  await c.query("INSERT INTO t (who, c) VALUES ('node', $1::text)", ['n-text']);
  const rows = (await c.query({ text: "SELECT decrypt(c) FROM t WHERE who = 'node' ORDER BY id", rowMode: 'array' })).rows;
  check('insert of a string, untyped and cast to text (assignment cast)',
    JSON.stringify(rows) === JSON.stringify([['n-untyped'], ['n-text']]));
  check('lookup WHERE decrypt(c) = $1', await one(c, 'SELECT count(*)::int FROM t WHERE decrypt(c) = $1', ['n-text']) === 1);
  const ct = (await c.query("SELECT * FROM t WHERE who = 'node' ORDER BY id LIMIT 1")).rows[0].c;
  check('SELECT * gives the ciphertext text form', ct.startsWith('ecv1:'));
  check('the ciphertext back as a parameter to decrypt(): 42725 (two types have decrypt)', await sqlstate(c, 'SELECT decrypt($1)', [ct]) === '42725');
  check('the ciphertext back as a text parameter to decrypt(): 42883', await sqlstate(c, 'SELECT decrypt($1::text)', [ct]) === '42883');
  check('the ciphertext back into an encrypted_text column: 22023',
    await sqlstate(c, "INSERT INTO t (who, c) VALUES ('x', $1)", [ct]) === '22023');
  await c.query("INSERT INTO t (who, c) SELECT 'node-copy', c FROM t WHERE who = 'node' ORDER BY id LIMIT 1");
  check('copy a value by referring to its row (INSERT ... SELECT)',
    await one(c, "SELECT decrypt(c) FROM t WHERE who = 'node-copy'") === 'n-untyped');
  // the binary form: node-postgres reads binary results as strings, so the
  // envelope comes as bytea from the type's send function; a Buffer
  // parameter goes out in binary, through the type's receive function
  const envelope = await one(c, "SELECT encrypted_text_send(c) FROM t WHERE who = 'node' ORDER BY id LIMIT 1");
  check('encrypted_text_send(c) gives the envelope as a Buffer (version byte 1)', Buffer.isBuffer(envelope) && envelope[0] === 1);
  await c.query("INSERT INTO t (who, c) VALUES ('node-bin', $1)", [envelope]);
  check('the envelope passed back as a Buffer (binary parameter)',
    await one(c, "SELECT decrypt(c) FROM t WHERE who = 'node-bin'") === 'n-untyped');
  await c.end();

  c = new Client(base);
  await c.connect();
  check('SET encrypted_column.key = $1: 42601 (SET takes no parameters)',
    await sqlstate(c, 'SET encrypted_column.key = $1', [env.EC_KEY]) === '42601');
  await c.query("SELECT set_config('encrypted_column.key', $1, false)", [env.EC_KEY]);
  check("set_config('encrypted_column.key', $1, false)",
    await one(c, "SELECT decrypt(c) FROM t WHERE who = 'node' ORDER BY id LIMIT 1") === 'n-untyped');
  await c.end();

  c = new Client(base);
  await c.connect();
  await c.query('BEGIN');
  await c.query("SELECT set_config('encrypted_column.key', $1, true)", [env.EC_KEY]);
  const got = await one(c, "SELECT decrypt(c) FROM t WHERE who = 'node' ORDER BY id LIMIT 1");
  await c.query('COMMIT');
  check('set_config(..., true) inside a transaction', got === 'n-untyped');
  check('the key ends with the transaction', await one(c, 'SELECT current_key_id()') === null);
  check('without a key: 55000', await sqlstate(c, "SELECT decrypt(c) FROM t WHERE who = 'node'") === '55000');
  await c.end();
}

main().then(() => process.exit(failed ? 1 : 0), (err) => {
  console.log(`NOT OK - node-postgres: unexpected error ${err.code || ''} ${err.message}`);
  process.exit(1);
});
