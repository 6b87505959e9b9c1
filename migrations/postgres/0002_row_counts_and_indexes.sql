-- Lists at any table size: the twin of migrations/sqlite/0002_row_counts_and_indexes.sql.
-- Idempotent.
--
-- `row_counts` keeps each table's row count exact (a trigger on every insert and delete), so
-- that an unfiltered list's X-Total-Count is a sum over a few rows instead of a COUNT(*) over the
-- table. Each session adds to its own shard (its backend pid modulo 16), so concurrent writers of
-- one table do not queue on one counter row; the count is the sum of the shards.

CREATE TABLE IF NOT EXISTS row_counts (
    tbl   TEXT   NOT NULL,
    shard INT    NOT NULL,
    n     BIGINT NOT NULL,
    PRIMARY KEY (tbl, shard)
);

INSERT INTO row_counts (tbl, shard, n) SELECT 'cats', 0, COUNT(*) FROM cats ON CONFLICT DO NOTHING;
INSERT INTO row_counts (tbl, shard, n) SELECT 'passengers', 0, COUNT(*) FROM passengers ON CONFLICT DO NOTHING;
INSERT INTO row_counts (tbl, shard, n) SELECT 'configs', 0, COUNT(*) FROM configs ON CONFLICT DO NOTHING;
INSERT INTO row_counts (tbl, shard, n) SELECT 'users', 0, COUNT(*) FROM users ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION spincrud_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO row_counts (tbl, shard, n)
    VALUES (TG_TABLE_NAME, pg_backend_pid() % 16, CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END)
    ON CONFLICT (tbl, shard) DO UPDATE SET n = row_counts.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER cats_counted AFTER INSERT OR DELETE ON cats
    FOR EACH ROW EXECUTE FUNCTION spincrud_count_rows();
CREATE OR REPLACE TRIGGER passengers_counted AFTER INSERT OR DELETE ON passengers
    FOR EACH ROW EXECUTE FUNCTION spincrud_count_rows();
CREATE OR REPLACE TRIGGER configs_counted AFTER INSERT OR DELETE ON configs
    FOR EACH ROW EXECUTE FUNCTION spincrud_count_rows();
CREATE OR REPLACE TRIGGER users_counted AFTER INSERT OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION spincrud_count_rows();

-- One index per filterable or orderable column, ending in `seq` (see the SQLite twin). The API
-- sorts NULLs first in ascending order, as SQLite does, and every index says so, NOT NULL columns
-- included: PostgreSQL reads an index for `ORDER BY col ASC NULLS FIRST` (forward) or
-- `col DESC NULLS LAST` (backward, ties then sorted by `seq` group by group) only when the index
-- declares NULLS FIRST; without it an ordered page sorts the whole table.
CREATE INDEX IF NOT EXISTS cats_name ON cats (name NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS cats_breed ON cats (breed NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS cats_age ON cats (age NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS cats_color ON cats (color NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS cats_created_at ON cats (created_at NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS cats_updated_at ON cats (updated_at NULLS FIRST, seq);

CREATE INDEX IF NOT EXISTS passengers_survived ON passengers (survived NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS passengers_passenger_class ON passengers (passenger_class NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS passengers_name ON passengers (name NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS passengers_sex ON passengers (sex NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS passengers_age ON passengers (age NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS passengers_siblings_spouses_aboard ON passengers (siblings_spouses_aboard NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS passengers_parents_children_aboard ON passengers (parents_children_aboard NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS passengers_fare ON passengers (fare NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS passengers_created_at ON passengers (created_at NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS passengers_updated_at ON passengers (updated_at NULLS FIRST, seq);

CREATE INDEX IF NOT EXISTS configs_created_at ON configs (created_at NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS configs_updated_at ON configs (updated_at NULLS FIRST, seq);

CREATE INDEX IF NOT EXISTS users_username ON users (username NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS users_email ON users (email NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS users_created_at ON users (created_at NULLS FIRST, seq);
CREATE INDEX IF NOT EXISTS users_updated_at ON users (updated_at NULLS FIRST, seq);
