-- spincrud's PostgreSQL schema, the twin of migrations/sqlite/0001_schema.sql. Idempotent.
-- Text is COLLATE "C" so that ordering is by code point, as in SQLite: the engines and stores
-- must answer lists in the same order.

CREATE TABLE IF NOT EXISTS cats (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT COLLATE "C" NOT NULL UNIQUE,
    name       TEXT COLLATE "C" NOT NULL,
    breed      TEXT COLLATE "C",
    age        BIGINT,
    color      TEXT COLLATE "C",
    version    BIGINT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE IF NOT EXISTS passengers (
    seq                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                      TEXT COLLATE "C" NOT NULL UNIQUE,
    survived                BOOLEAN NOT NULL,
    passenger_class         BIGINT NOT NULL,
    name                    TEXT COLLATE "C" NOT NULL,
    sex                     TEXT COLLATE "C" NOT NULL,
    age                     DOUBLE PRECISION NOT NULL,
    siblings_spouses_aboard BIGINT NOT NULL,
    parents_children_aboard BIGINT NOT NULL,
    fare                    DOUBLE PRECISION NOT NULL,
    version                 BIGINT NOT NULL,
    created_at              TEXT COLLATE "C" NOT NULL,
    updated_at              TEXT COLLATE "C" NOT NULL
);

CREATE TABLE IF NOT EXISTS configs (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dcname     TEXT COLLATE "C" NOT NULL UNIQUE,
    metadata   TEXT NOT NULL,
    version    BIGINT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id           TEXT COLLATE "C" NOT NULL UNIQUE,
    username     TEXT COLLATE "C" NOT NULL,
    username_key TEXT COLLATE "C" NOT NULL UNIQUE,
    email        TEXT COLLATE "C" NOT NULL,
    email_key    TEXT COLLATE "C" NOT NULL UNIQUE,
    version      BIGINT NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    updated_at   TEXT COLLATE "C" NOT NULL
);
