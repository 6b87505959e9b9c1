//! The floor of a store-backed request: the least a component can do to read one row by its key,
//! or insert one, on a database with one table (`items`), through Spin's SQLite
//! (`spin:sqlite@3.0.0`, database `default`) or PostgreSQL (`spin:postgres@4.0.0`, the
//! `database_url` variable).
//!
//! - `POST /floor/{sqlite|pg}/setup`: creates the table (SQLite in WAL mode) with 100 rows;
//! - `GET /floor/{sqlite|pg}/items/{id}`: one point `SELECT`, the row as JSON;
//! - `GET /floor/sqlite/configured/{id}`, `POST /floor/sqlite/configured`: the same after reading
//!   the `database_url` variable: the least a component can do that picks its store by a Spin
//!   variable, as spincrud does (and as the PostgreSQL floor must, to find its database);
//! - `POST /floor/{sqlite|pg}/items`: one `INSERT` of the body as the row's name.
//!
//! Errors are plain `500`s: the benchmark counts any other status than the expected one.

use spin_sdk::http::{Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};
use spin_sdk::{pg4, sqlite3, variables};

#[spin_sdk::http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let path = req.path_with_query().unwrap_or_default();
    let method = req.method();
    let (status, body) = match serve(&method, &path, req) {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!("floor: {e}");
            (500, b"error".to_vec())
        }
    };
    respond(out, status, &body);
}

fn serve(method: &Method, path: &str, req: IncomingRequest) -> Result<(u16, Vec<u8>), String> {
    let mut parts = path.trim_start_matches('/').split('/');
    let (Some("floor"), Some(store), Some(what)) = (parts.next(), parts.next(), parts.next()) else {
        return Ok((404, b"no such route".to_vec()));
    };
    let id = parts.next();
    match (store, what, method, id) {
        ("sqlite", "setup", Method::Post, None) => sqlite_setup(),
        ("sqlite", "items", Method::Get, Some(id)) => sqlite_get(id),
        ("sqlite", "items", Method::Post, None) => sqlite_insert(&read_body(req)?),
        ("sqlite", "configured", Method::Get, Some(id)) => embedded_by_variable().and_then(|()| sqlite_get(id)),
        ("sqlite", "configured", Method::Post, None) => embedded_by_variable().and_then(|()| sqlite_insert(&read_body(req)?)),
        ("pg", "setup", Method::Post, None) => pg_setup(),
        ("pg", "items", Method::Get, Some(id)) => pg_get(id),
        ("pg", "items", Method::Post, None) => pg_insert(&read_body(req)?),
        _ => Ok((404, b"no such route".to_vec())),
    }
}

fn now() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

fn json(id: i64, name: &str, created_at: &str) -> Vec<u8> {
    format!(r#"{{"id":{id},"name":"{name}","created_at":"{created_at}"}}"#).into_bytes()
}

// ---- SQLite ---------------------------------------------------------------------------------

/// The store choice as spincrud makes it: an empty `database_url` means the embedded database.
fn embedded_by_variable() -> Result<(), String> {
    match variables::get("database_url").map_err(|e| format!("{e:?}"))?.as_str() {
        "" => Ok(()),
        _ => Err("database_url names another store".into()),
    }
}

fn sqlite() -> Result<sqlite3::Connection, String> {
    sqlite3::Connection::open_default().map_err(|e| format!("{e:?}"))
}

fn sqlite_setup() -> Result<(u16, Vec<u8>), String> {
    let db = sqlite()?;
    for statement in [
        "PRAGMA journal_mode = WAL",
        "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL)",
        "WITH RECURSIVE n(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM n WHERE v < 100) \
         INSERT INTO items (name, created_at) SELECT 'item ' || v, '0' FROM n WHERE NOT EXISTS (SELECT 1 FROM items)",
    ] {
        db.execute(statement, &[]).map_err(|e| format!("{statement}: {e:?}"))?;
    }
    Ok((200, b"ready".to_vec()))
}

fn sqlite_get(id: &str) -> Result<(u16, Vec<u8>), String> {
    let id: i64 = id.parse().map_err(|_| "not an id".to_owned())?;
    let rows = sqlite()?.execute("SELECT id, name, created_at FROM items WHERE id = ?", &[sqlite3::Value::Integer(id)]).map_err(|e| format!("{e:?}"))?;
    let Some(row) = rows.rows.first() else { return Ok((404, b"not found".to_vec())) };
    match row.values.as_slice() {
        [sqlite3::Value::Integer(id), sqlite3::Value::Text(name), sqlite3::Value::Text(at)] => Ok((200, json(*id, name, at))),
        _ => Err("unexpected row".into()),
    }
}

fn sqlite_insert(name: &str) -> Result<(u16, Vec<u8>), String> {
    let db = sqlite()?;
    let at = now();
    db.execute("INSERT INTO items (name, created_at) VALUES (?, ?)", &[sqlite3::Value::Text(name.to_owned()), sqlite3::Value::Text(at.clone())]).map_err(|e| format!("{e:?}"))?;
    Ok((201, json(db.last_insert_rowid(), name, &at)))
}

// ---- PostgreSQL -----------------------------------------------------------------------------

fn pg() -> Result<pg4::Connection, String> {
    let url = variables::get("database_url").map_err(|e| format!("{e:?}"))?;
    pg4::Connection::open(&url).map_err(|e| format!("{e:?}"))
}

fn pg_setup() -> Result<(u16, Vec<u8>), String> {
    let db = pg()?;
    for statement in [
        "CREATE TABLE IF NOT EXISTS floor_items (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL)",
        "INSERT INTO floor_items (name, created_at) SELECT 'item ' || n, '0' FROM generate_series(1, 100) AS n WHERE NOT EXISTS (SELECT 1 FROM floor_items)",
    ] {
        db.execute(statement, &[]).map_err(|e| format!("{statement}: {e:?}"))?;
    }
    Ok((200, b"ready".to_vec()))
}

fn pg_get(id: &str) -> Result<(u16, Vec<u8>), String> {
    let id: i64 = id.parse().map_err(|_| "not an id".to_owned())?;
    let rows = pg()?.query("SELECT id, name, created_at FROM floor_items WHERE id = $1", &[pg4::ParameterValue::Int64(id)]).map_err(|e| format!("{e:?}"))?;
    let Some(row) = rows.rows.first() else { return Ok((404, b"not found".to_vec())) };
    match row.as_slice() {
        [pg4::DbValue::Int64(id), pg4::DbValue::Str(name), pg4::DbValue::Str(at)] => Ok((200, json(*id, name, at))),
        _ => Err("unexpected row".into()),
    }
}

fn pg_insert(name: &str) -> Result<(u16, Vec<u8>), String> {
    let at = now();
    let rows = pg()?
        .query("INSERT INTO floor_items (name, created_at) VALUES ($1, $2) RETURNING id", &[pg4::ParameterValue::Str(name.to_owned()), pg4::ParameterValue::Str(at.clone())])
        .map_err(|e| format!("{e:?}"))?;
    match rows.rows.first().map(Vec::as_slice) {
        Some([pg4::DbValue::Int64(id)]) => Ok((201, json(*id, name, &at))),
        _ => Err("no id returned".into()),
    }
}

// ---- HTTP -----------------------------------------------------------------------------------

fn read_body(req: IncomingRequest) -> Result<String, String> {
    let incoming = req.consume().map_err(|_| "no body")?;
    let mut body = Vec::new();
    {
        let stream = incoming.stream().map_err(|_| "no body stream")?;
        while let Ok(chunk) = stream.blocking_read(64 << 10) {
            body.extend_from_slice(&chunk);
        }
    }
    String::from_utf8(body).map_err(|_| "body is not UTF-8".to_owned())
}

fn respond(out: ResponseOutparam, status: u16, body: &[u8]) {
    let headers = Fields::from_list(&[
        ("content-type".to_owned(), b"application/json".to_vec()),
        ("content-length".to_owned(), body.len().to_string().into_bytes()),
    ])
    .expect("valid headers");
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let outgoing = response.body().expect("a body");
    out.set(response);
    {
        let stream = outgoing.write().expect("a stream");
        let _ = stream.blocking_write_and_flush(body);
    }
    let _ = OutgoingBody::finish(outgoing, None);
}
