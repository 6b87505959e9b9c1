-- spincrud's SQLite schema. Idempotent: `spin up --sqlite @migrations/sqlite/0001_schema.sql`
-- runs it at every start, and host-runner applies it through sqlx's migrator.
-- `seq` gives creation order; `version` counts writes (it feeds the ETag and guards updates).

CREATE TABLE IF NOT EXISTS cats (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    breed      TEXT,
    age        INTEGER,
    color      TEXT,
    version    INTEGER NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS passengers (
    seq                     INTEGER PRIMARY KEY AUTOINCREMENT,
    id                      TEXT    NOT NULL UNIQUE,
    survived                INTEGER NOT NULL,
    passenger_class         INTEGER NOT NULL,
    name                    TEXT    NOT NULL,
    sex                     TEXT    NOT NULL,
    age                     REAL    NOT NULL,
    siblings_spouses_aboard INTEGER NOT NULL,
    parents_children_aboard INTEGER NOT NULL,
    fare                    REAL    NOT NULL,
    version                 INTEGER NOT NULL,
    created_at              TEXT    NOT NULL,
    updated_at              TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS configs (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    dcname     TEXT    NOT NULL UNIQUE,
    metadata   TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);

-- `*_key` hold lowercased copies: uniqueness ignores case.
CREATE TABLE IF NOT EXISTS users (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    username     TEXT    NOT NULL,
    username_key TEXT    NOT NULL UNIQUE,
    email        TEXT    NOT NULL,
    email_key    TEXT    NOT NULL UNIQUE,
    version      INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL
);
