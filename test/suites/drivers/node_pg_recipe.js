// node-postgres's recipe for encrypted_text, run by test/suites/drivers.sh.
//
// node-postgres binds parameters on the server, untyped (the server picks
// each parameter's type from its context); a Buffer goes out in binary.
// Prints one "ok" / "NOT OK" line per check.
// Environment: EC_HOST, EC_PORT, EC_DB, EC_KEY, EC_KEY2 (the previous key
// of the rotation checks).
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
  check('a Buffer into decrypt($1): 42725 (two types have decrypt)',
    await sqlstate(c, 'SELECT decrypt($1)', [envelope]) === '42725');
  check('a Buffer into decrypt($1::encrypted_text)',
    await one(c, 'SELECT decrypt($1::encrypted_text)', [envelope]) === 'n-untyped');
  // bound on the server: a failed statement's log line shows $1, not the value
  check('a failed INSERT: 22012 (its STATEMENT: line is checked by the suite)',
    await sqlstate(c, "INSERT INTO t (id, who, c) VALUES (1/0, 'fail', $1)", ['node-statement-line-plaintext']) === '22012');
  await c.end();

  // a deterministic column during a rotation: a row under the previous key
  // (EC_KEY2) and one under the current key
  c = new Client({ ...base, options: `-c encrypted_column.key=${env.EC_KEY2}` });
  await c.connect();
  await c.query("INSERT INTO td (who, c) VALUES ('node', $1)", ['n-old']);
  await c.end();
  c = new Client({ ...base, options: `-c encrypted_column.key=${env.EC_KEY} -c encrypted_column.previous_keys=${env.EC_KEY2}` });
  await c.connect();
  await c.query("INSERT INTO td (who, c) VALUES ('node', $1)", ['n-new']);
  const count = (text, values) => one(c, text.replace('SELECT count(*)', 'SELECT count(*)::int'), values);
  check('det: c = $1 untyped finds a current-key row', await count('SELECT count(*) FROM td WHERE c = $1', ['n-new']) === 1);
  check('det: c = $1 untyped misses a previous-key row (encrypted with the current key)',
    await count('SELECT count(*) FROM td WHERE c = $1', ['n-old']) === 0);
  check('det: c = $1::text finds a previous-key row', await count('SELECT count(*) FROM td WHERE c = $1::text', ['n-old']) === 1);
  check('det: c = ANY ($1) with an array (untyped) finds the current-key row only',
    await count('SELECT count(*) FROM td WHERE c = ANY ($1)', [['n-old', 'n-new']]) === 1);
  check('det: c = ANY (encrypt_det_all($1::text[])) finds rows under both keys',
    await count('SELECT count(*) FROM td WHERE c = ANY (encrypt_det_all($1::text[]))', [['n-old', 'n-new']]) === 2);
  check('det: encrypted_text_send(c) on a det column: 42883',
    await sqlstate(c, "SELECT encrypted_text_send(c) FROM td WHERE who = 'node'") === '42883');
  const detEnvelope = await one(c, "SELECT encrypted_text_det_send(c) FROM td WHERE c = $1::text", ['n-new']);
  check('det: encrypted_text_det_send(c) gives the envelope as a Buffer (version 1, algorithm 2)',
    Buffer.isBuffer(detEnvelope) && detEnvelope[0] === 1 && (detEnvelope[1] & 0x0f) === 2);
  check('det: the envelope back as a Buffer into decrypt($1::encrypted_text_det)',
    await one(c, 'SELECT decrypt($1::encrypted_text_det)', [detEnvelope]) === 'n-new');
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
