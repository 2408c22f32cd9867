-- After a crash and restart: compare what the server holds with what the
-- clients saw acknowledged.  Needs :key_old and :key_new (key ids) and a
-- session key that decrypts everything.  Prints one row of counts; every
-- count named bad_* or lost or phantom must be 0.
WITH k AS (
	SELECT a.epoch, a.client, a.acked,
		coalesce(max(l.seq), 0) AS k, count(l.seq) AS n
	FROM acked a LEFT JOIN ledger l USING (epoch, client)
	GROUP BY a.epoch, a.client, a.acked
), ledger_check AS (
	SELECT count(*) AS rows,
		count(*) FILTER (WHERE l.gen <> CASE WHEN l.seq = k.k THEN 0 ELSE 1 END
			OR decrypt(l.v) <> payload(l.epoch, l.client, l.seq,
				CASE WHEN l.seq = k.k THEN 0 ELSE 1 END)) AS bad
	FROM ledger l JOIN k USING (epoch, client)
), stock_check AS (
	SELECT count(*) AS rows,
		count(*) FILTER (WHERE s.seq <= k.k) AS rotated,
		count(*) FILTER (WHERE decrypt(s.v) <> payload(s.epoch, s.client, s.seq, -1)
			OR key_id(s.v) <> CASE WHEN s.seq <= k.k THEN :'key_new' ELSE :'key_old' END) AS bad
	FROM stock s JOIN k USING (epoch, client)
), hot_check AS (
	SELECT sum(n) AS n,
		count(*) FILTER (WHERE decrypt(v) <> n::text) AS bad
	FROM hot
)
SELECT
	(SELECT count(*) FROM k WHERE k < acked) AS lost,
	(SELECT count(*) FROM k WHERE k > acked + 1) AS phantom,
	(SELECT count(*) FROM k WHERE n <> k) AS bad_gaps,
	(SELECT bad FROM ledger_check) AS bad_ledger,
	(SELECT bad FROM stock_check) AS bad_stock,
	(SELECT bad FROM hot_check)
		+ (SELECT CASE WHEN (SELECT n FROM hot_check) = (SELECT sum(k) FROM k) THEN 0 ELSE 1 END)
		AS bad_hot,
	(SELECT count(*) FROM ghost) AS bad_ghost,
	(SELECT sum(acked) FROM k) AS acked,
	(SELECT sum(k) FROM k) AS committed,
	(SELECT rows FROM ledger_check) + (SELECT rows FROM stock_check) + 4 AS rows_verified,
	(SELECT rotated FROM stock_check) AS rotated;
