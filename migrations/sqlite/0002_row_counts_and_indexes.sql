-- Lists at any table size. Idempotent: `spin up --sqlite @...` runs it at every start.
--
-- `row_counts` keeps each table's row count exact (triggers on every insert and delete), so that
-- an unfiltered list's X-Total-Count is one row read instead of a COUNT(*) over the table. It is
-- seeded from the tables when it is first created (`INSERT OR IGNORE` leaves it alone after).
-- The `shard` column exists for PostgreSQL's twin (spread over rows against lock contention);
-- SQLite has one writer at a time and uses shard 0.

CREATE TABLE IF NOT EXISTS row_counts (
    tbl   TEXT    NOT NULL,
    shard INTEGER NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (tbl, shard)
);

INSERT OR IGNORE INTO row_counts (tbl, shard, n) SELECT 'cats', 0, COUNT(*) FROM cats;
INSERT OR IGNORE INTO row_counts (tbl, shard, n) SELECT 'passengers', 0, COUNT(*) FROM passengers;
INSERT OR IGNORE INTO row_counts (tbl, shard, n) SELECT 'configs', 0, COUNT(*) FROM configs;
INSERT OR IGNORE INTO row_counts (tbl, shard, n) SELECT 'users', 0, COUNT(*) FROM users;

CREATE TRIGGER IF NOT EXISTS cats_counted_insert AFTER INSERT ON cats
BEGIN UPDATE row_counts SET n = n + 1 WHERE tbl = 'cats' AND shard = 0; END;
CREATE TRIGGER IF NOT EXISTS cats_counted_delete AFTER DELETE ON cats
BEGIN UPDATE row_counts SET n = n - 1 WHERE tbl = 'cats' AND shard = 0; END;
CREATE TRIGGER IF NOT EXISTS passengers_counted_insert AFTER INSERT ON passengers
BEGIN UPDATE row_counts SET n = n + 1 WHERE tbl = 'passengers' AND shard = 0; END;
CREATE TRIGGER IF NOT EXISTS passengers_counted_delete AFTER DELETE ON passengers
BEGIN UPDATE row_counts SET n = n - 1 WHERE tbl = 'passengers' AND shard = 0; END;
CREATE TRIGGER IF NOT EXISTS configs_counted_insert AFTER INSERT ON configs
BEGIN UPDATE row_counts SET n = n + 1 WHERE tbl = 'configs' AND shard = 0; END;
CREATE TRIGGER IF NOT EXISTS configs_counted_delete AFTER DELETE ON configs
BEGIN UPDATE row_counts SET n = n - 1 WHERE tbl = 'configs' AND shard = 0; END;
CREATE TRIGGER IF NOT EXISTS users_counted_insert AFTER INSERT ON users
BEGIN UPDATE row_counts SET n = n + 1 WHERE tbl = 'users' AND shard = 0; END;
CREATE TRIGGER IF NOT EXISTS users_counted_delete AFTER DELETE ON users
BEGIN UPDATE row_counts SET n = n - 1 WHERE tbl = 'users' AND shard = 0; END;

-- One index per filterable or orderable column, ending in `seq`: an equality filter then reads
-- its matches already in creation order (the default order and the tie-break), and an ordered
-- page reads the index instead of sorting the table. SQLite sorts NULLs first, as the API's
-- ascending order does.
CREATE INDEX IF NOT EXISTS cats_name ON cats (name, seq);
CREATE INDEX IF NOT EXISTS cats_breed ON cats (breed, seq);
CREATE INDEX IF NOT EXISTS cats_age ON cats (age, seq);
CREATE INDEX IF NOT EXISTS cats_color ON cats (color, seq);
CREATE INDEX IF NOT EXISTS cats_created_at ON cats (created_at, seq);
CREATE INDEX IF NOT EXISTS cats_updated_at ON cats (updated_at, seq);

CREATE INDEX IF NOT EXISTS passengers_survived ON passengers (survived, seq);
CREATE INDEX IF NOT EXISTS passengers_passenger_class ON passengers (passenger_class, seq);
CREATE INDEX IF NOT EXISTS passengers_name ON passengers (name, seq);
CREATE INDEX IF NOT EXISTS passengers_sex ON passengers (sex, seq);
CREATE INDEX IF NOT EXISTS passengers_age ON passengers (age, seq);
CREATE INDEX IF NOT EXISTS passengers_siblings_spouses_aboard ON passengers (siblings_spouses_aboard, seq);
CREATE INDEX IF NOT EXISTS passengers_parents_children_aboard ON passengers (parents_children_aboard, seq);
CREATE INDEX IF NOT EXISTS passengers_fare ON passengers (fare, seq);
CREATE INDEX IF NOT EXISTS passengers_created_at ON passengers (created_at, seq);
CREATE INDEX IF NOT EXISTS passengers_updated_at ON passengers (updated_at, seq);

CREATE INDEX IF NOT EXISTS configs_created_at ON configs (created_at, seq);
CREATE INDEX IF NOT EXISTS configs_updated_at ON configs (updated_at, seq);

-- Filters on username/email compare the lowercased `*_key` columns (unique indexes already);
-- ordering uses the columns as written.
CREATE INDEX IF NOT EXISTS users_username ON users (username, seq);
CREATE INDEX IF NOT EXISTS users_email ON users (email, seq);
CREATE INDEX IF NOT EXISTS users_created_at ON users (created_at, seq);
CREATE INDEX IF NOT EXISTS users_updated_at ON users (updated_at, seq);
