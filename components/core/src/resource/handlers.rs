//! The CRUD handlers every SQL resource shares.

use http::{header, Method, StatusCode};
use serde_json::{json, Value as Json};

use super::field::{Field, Kind, Unique};
use super::list::ListQuery;
use super::{Item, Key, Resource};
use crate::clock;
use crate::conditional::{check_if_match, etag, has_if_match, not_modified};
use crate::problem::{ApiError, ApiResult, FieldError};
use crate::request::{content_type, json_body, link, BodyType, Query};
use crate::response::{self, set_header, Response};
use crate::store::{SqlStore, StoreError, Value};
use crate::Request;

/// How often a read-modify-write (PATCH, or a conditional PUT) is retried when another write
/// changed the row between read and update. Every round lets at least one writer through, so this
/// bounds the number of concurrent writers of one item that all succeed.
const WRITE_ATTEMPTS: usize = 64;

/// `GET /<resource>` (also `/search` and `/passengerlist`, whose `path` the `Link` keeps).
///
/// `X-Total-Count` is exact, and cheap without filters (a kept count). A client paging a large
/// filtered set can ask for none with `Prefer: count=none` (see [`CountPreference`]). The page
/// is read with one row of look-ahead, which tells whether a `Link` to the next page is due;
/// that `Link` carries a cursor, so that following it costs O(page) at any depth.
pub async fn list<S: SqlStore>(sql: &S, r: &'static Resource, req: &Request) -> ApiResult<Response> {
    let query = Query::parse(req)?;
    let list = ListQuery::parse(r, &query)?;
    let preference = CountPreference::of(req);
    let (items, total, next) = if list.matches_nothing() {
        (Vec::new(), (preference != Some(CountPreference::None)).then_some(0), None)
    } else {
        let total = match preference {
            Some(CountPreference::None) => None,
            _ => {
                let count = list.count_statement(r, sql.dialect());
                match sql.query(&count.sql, &count.params).await?.first().and_then(|row| row.first()) {
                    Some(Value::Integer(n)) => Some((*n).max(0) as u64),
                    _ => return Err(ApiError::Internal("the count query returned no integer".into())),
                }
            }
        };
        let page = list.page_statement(r, sql.dialect());
        let mut rows = sql.query(&page.sql, &page.params).await?;
        let more = list.limit > 0 && rows.len() as u64 > list.limit;
        rows.truncate(list.limit as usize);
        let next = if more { rows.last().map(|last| list.cursor_after(r, last)) } else { None };
        (rows.iter().map(|row| r.item_from_row(row).body).collect(), total, next)
    };
    let mut resp = response::json(StatusCode::OK, &Json::Array(items));
    if let Some(total) = total {
        set_header(&mut resp, header::HeaderName::from_static("x-total-count"), &total.to_string());
    }
    if let Some(applied) = preference {
        set_header(&mut resp, header::HeaderName::from_static("preference-applied"), applied.as_str());
    }
    set_header(&mut resp, header::VARY, "Prefer");
    if let Some(cursor) = next {
        let next = next_page(query.pairs(), &["offset"], &[("limit", list.limit.to_string()), (crate::cursor::PARAM, cursor)]);
        set_header(&mut resp, header::LINK, &format!("<{}>; rel=\"next\"", link(req.uri().path(), &next)));
    }
    Ok(resp)
}

/// The `count` preference of a list request (RFC 7240 `Prefer`, as PostgREST spells it):
/// `count=exact` (the default) or `count=none` (no `X-Total-Count`). Other values, such as
/// PostgREST's `planned` and `estimated`, are answered exactly: an exact count is what this API
/// can give identically on every store. The applied choice is echoed in `Preference-Applied`
/// when the client stated one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountPreference {
    Exact,
    None,
}

impl CountPreference {
    pub fn of(req: &Request) -> Option<CountPreference> {
        let mut found = None;
        for value in req.headers().get_all("prefer") {
            let Ok(text) = value.to_str() else { continue };
            for preference in text.split(',') {
                let pair = preference.split(';').next().unwrap_or("");
                let Some((name, value)) = pair.split_once('=') else { continue };
                if name.trim().eq_ignore_ascii_case("count") {
                    found = Some(match value.trim().trim_matches('"').to_ascii_lowercase().as_str() {
                        "none" => CountPreference::None,
                        _ => CountPreference::Exact,
                    });
                }
            }
        }
        found
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CountPreference::Exact => "count=exact",
            CountPreference::None => "count=none",
        }
    }
}

/// The query of the next page: the request's parameters without `dropped` and the paging ones,
/// then the paging ones as set.
pub fn next_page(pairs: &[(String, String)], dropped: &[&str], paging: &[(&str, String)]) -> Vec<(String, String)> {
    let mut next: Vec<(String, String)> =
        pairs.iter().filter(|(k, _)| !dropped.contains(&k.as_str()) && !paging.iter().any(|(p, _)| p == k)).cloned().collect();
    next.extend(paging.iter().map(|(k, v)| (k.to_string(), v.clone())));
    next
}

/// `GET /<resource>/{key}`.
pub async fn get<S: SqlStore>(sql: &S, r: &'static Resource, key: &str, req: &Request) -> ApiResult<Response> {
    let item = find(sql, r, key).await?.ok_or_else(|| not_found(r))?;
    let (mut resp, tag) = item_response(StatusCode::OK, &item);
    if not_modified(req, &tag) {
        resp = http::Response::new(Vec::new());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        set_header(&mut resp, header::ETAG, &tag);
    }
    Ok(resp)
}

/// `POST /<resource>`: one item (a JSON object), many in one transaction (a JSON array), or a
/// CSV file for resources that import one.
pub async fn create<S: SqlStore>(sql: &S, r: &'static Resource, req: &Request) -> ApiResult<Response> {
    let accepted: &[BodyType] = if r.csv.is_some() { &[BodyType::Json, BodyType::Csv] } else { &[BodyType::Json] };
    if content_type(req, accepted)? == BodyType::Csv {
        return import_csv(sql, r, req.body()).await;
    }
    match json_body(req.body())? {
        Json::Array(bodies) => {
            let mut errors = Vec::new();
            let mut items = Vec::with_capacity(bodies.len());
            for (i, body) in bodies.iter().enumerate() {
                match r.validate(body, &format!("[{i}]."), None) {
                    Ok(values) => items.push(values),
                    Err(e) => errors.extend(e),
                }
            }
            if !errors.is_empty() {
                return Err(invalid(errors));
            }
            let created = insert_all(sql, r, items, true).await?;
            let bodies: Vec<Json> = created.into_iter().map(|item| item.body).collect();
            Ok(response::json(StatusCode::CREATED, &Json::Array(bodies)))
        }
        body => {
            let values = r.validate(&body, "", None).map_err(invalid)?;
            let item = insert_all(sql, r, vec![values], false).await?.remove(0);
            let (mut resp, _) = item_response(StatusCode::CREATED, &item);
            set_header(&mut resp, header::LOCATION, &r.item_path(&item.key));
            Ok(resp)
        }
    }
}

/// `PUT /<resource>/{key}`: replaces every field. Without `If-Match` it needs no read: one
/// `UPDATE` replaces the row atomically, so concurrent replacements never fail (the last wins).
pub async fn replace<S: SqlStore>(sql: &S, r: &'static Resource, key: &str, req: &Request) -> ApiResult<Response> {
    content_type(req, &[BodyType::Json])?;
    let body = json_body(req.body())?;
    let values = r.validate(&body, "", Some(key)).map_err(invalid)?;
    if has_if_match(req) {
        return write(sql, r, key, req, |_| Ok(values.clone())).await;
    }
    check_unique(sql, r, std::slice::from_ref(&values), false, Some(key)).await?;
    match update(sql, r, key, None, &values).await? {
        Some(item) => Ok(item_response(StatusCode::OK, &item).0),
        None => Err(not_found(r)),
    }
}

/// `PATCH /<resource>/{key}`: a JSON Merge Patch (RFC 7396), validated as a whole item.
pub async fn patch<S: SqlStore>(sql: &S, r: &'static Resource, key: &str, req: &Request) -> ApiResult<Response> {
    content_type(req, &[BodyType::Json, BodyType::MergePatch])?;
    let patch = json_body(req.body())?;
    write(sql, r, key, req, |current| {
        let mut merged = current.body.clone();
        json_patch::merge(&mut merged, &patch);
        r.validate(&merged, "", Some(key)).map_err(invalid)
    })
    .await
}

/// Read, check `If-Match`, compute the new values, and update only if nobody wrote in between;
/// otherwise start again (or `412`, when the client made the write conditional).
async fn write<S: SqlStore>(
    sql: &S,
    r: &'static Resource,
    key: &str,
    req: &Request,
    new_values: impl Fn(&Item) -> ApiResult<Vec<Value>>,
) -> ApiResult<Response> {
    for _ in 0..WRITE_ATTEMPTS {
        let current = find(sql, r, key).await?.ok_or_else(|| not_found(r))?;
        check_if_match(req, Some(&item_etag(&current)))?;
        let values = new_values(&current)?;
        check_unique(sql, r, std::slice::from_ref(&values), false, Some(key)).await?;
        if let Some(item) = update(sql, r, key, Some(current.version), &values).await? {
            return Ok(item_response(StatusCode::OK, &item).0);
        }
        if has_if_match(req) {
            return Err(ApiError::PreconditionFailed);
        }
    }
    Err(ApiError::unavailable("The item is being written by too many clients at once; try again.", None))
}

/// Runs one `UPDATE … RETURNING`: the item as written, or `None` when no row matched.
async fn update<S: SqlStore>(sql: &S, r: &'static Resource, key: &str, version: Option<i64>, values: &[Value]) -> ApiResult<Option<Item>> {
    let now = clock::now_rfc3339();
    let stmt = r.update_statement(sql.dialect(), key, version, values, &now);
    let rows = match sql.query(&stmt.sql, &stmt.params).await {
        Ok(rows) => rows,
        Err(StoreError::Conflict(_)) => return Err(conflict_after_race(sql, r, std::slice::from_ref(&values.to_vec()), false, Some(key)).await),
        Err(e) => return Err(e.into()),
    };
    let Some(row) = rows.first() else { return Ok(None) };
    let (Some(Value::Integer(version)), Some(Value::Text(created_at))) = (row.first(), row.get(1)) else {
        return Err(ApiError::Internal("UPDATE … RETURNING gave no version and created_at".into()));
    };
    Ok(Some(build_item(r, key, values, *version, created_at, &now)))
}

/// `DELETE /<resource>/{key}`.
pub async fn delete<S: SqlStore>(sql: &S, r: &'static Resource, key: &str, req: &Request) -> ApiResult<Response> {
    let version = if has_if_match(req) {
        let current = find(sql, r, key).await?.ok_or_else(|| not_found(r))?;
        check_if_match(req, Some(&item_etag(&current)))?;
        Some(current.version)
    } else {
        None
    };
    let stmt = r.delete_statement(sql.dialect(), key, version);
    match sql.execute(&stmt.sql, &stmt.params).await? {
        0 if version.is_some() => Err(ApiError::PreconditionFailed),
        0 => Err(not_found(r)),
        _ => Ok(response::no_content()),
    }
}

/// `POST` of `text/csv`: every row in one transaction, errors naming file lines.
async fn import_csv<S: SqlStore>(sql: &S, r: &'static Resource, body: &[u8]) -> ApiResult<Response> {
    let items = parse_csv(r, body)?;
    let imported = insert_all(sql, r, items, true).await?.len();
    Ok(response::json(StatusCode::CREATED, &json!({ "imported": imported })))
}

/// Parses and validates a CSV file in the resource's layout: all rows valid, or a `422` listing
/// every bad one by line.
pub fn parse_csv(r: &'static Resource, body: &[u8]) -> ApiResult<Vec<Vec<Value>>> {
    let layout = r.csv.unwrap_or_default();
    let text = std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("The CSV file is not valid UTF-8.".into()))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| ApiError::BadRequest(format!("The CSV header cannot be read: {e}.")))?.clone();
    let mut columns = Vec::with_capacity(layout.len());
    for (csv_name, field_name) in layout {
        let index = headers.iter().position(|h| h.trim() == *csv_name).ok_or_else(|| {
            let expected: Vec<&str> = layout.iter().map(|(c, _)| *c).collect();
            invalid_csv(1, csv_name, format!("is a missing column: the header must be {}", expected.join(",")))
        })?;
        let field = r.field(field_name).expect("CSV layouts name fields of their resource");
        columns.push((index, field));
    }
    let mut errors = Vec::new();
    let mut items = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| line_at(text, p.byte())).unwrap_or(0);
            invalid_csv(line, "", format!("cannot be read: {e}"))
        })?;
        let line = record.position().map(|p| line_at(text, p.byte())).unwrap_or(0);
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let body = Json::Object(columns.iter().filter_map(|(i, f)| csv_cell(f, record.get(*i)?).map(|v| (f.name.to_string(), v))).collect());
        match r.validate(&body, "", None) {
            Ok(values) => items.push(values),
            Err(e) => errors.extend(e.into_iter().map(|e| FieldError { line: Some(line), ..e })),
        }
    }
    if let Some(first) = errors.first() {
        let detail = format!("The CSV file has invalid rows, the first on line {}; nothing was imported.", first.line.unwrap_or(0));
        return Err(ApiError::Validation(detail, errors));
    }
    Ok(items)
}

/// The 1-based file line of a record that starts at `byte`. The csv crate's own line count is
/// off by one per CRLF line end, and with CRLF it starts a record at the `\n` that ends the
/// previous line: that `\n` belongs before the record.
fn line_at(text: &str, byte: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut end = (byte as usize).min(bytes.len());
    if bytes.get(end) == Some(&b'\n') {
        end += 1;
    }
    1 + bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::line_at;

    #[test]
    fn record_lines_with_lf_and_crlf() {
        for eol in ["\n", "\r\n"] {
            let text = format!("A,B{eol}1,\"x,{eol}y\"{eol}2,z{eol}");
            let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
            let lines: Vec<u64> = reader.records().map(|r| line_at(&text, r.unwrap().position().unwrap().byte())).collect();
            // The quoted field spans lines 2 and 3, so the next record is on line 4.
            assert_eq!(lines, [2, 4], "{eol:?}");
        }
    }
}

fn invalid_csv(line: u64, field: &str, message: String) -> ApiError {
    let detail = format!("Line {line} of the CSV file {}{message}.", if field.is_empty() { String::new() } else { format!("column `{field}` ") });
    ApiError::Validation(detail, vec![FieldError { line: Some(line), ..FieldError::new(field, message) }])
}

/// A CSV cell as the JSON a client would send; an empty cell is an absent field. A cell that does
/// not parse stays a string, so that validation reports it like any wrong type.
fn csv_cell(field: &Field, cell: &str) -> Option<Json> {
    let cell = cell.trim();
    if cell.is_empty() {
        return None;
    }
    let parsed = match field.kind {
        Kind::Boolean => match cell {
            "1" | "true" | "True" | "TRUE" => Some(Json::Bool(true)),
            "0" | "false" | "False" | "FALSE" => Some(Json::Bool(false)),
            _ => None,
        },
        Kind::Integer { .. } => cell.parse::<i64>().ok().map(Json::from),
        Kind::Number { .. } => cell.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Json::Number),
        _ => None,
    };
    Some(parsed.unwrap_or_else(|| Json::String(cell.to_string())))
}

/// Inserts validated items in one transaction, after checking uniqueness so that a `409` can
/// name the field (and, in a bulk, the index).
pub async fn insert_all<S: SqlStore>(sql: &S, r: &'static Resource, items: Vec<Vec<Value>>, bulk: bool) -> ApiResult<Vec<Item>> {
    check_unique(sql, r, &items, bulk, None).await?;
    let now = clock::now_rfc3339();
    let mut statements = Vec::with_capacity(items.len());
    let mut created = Vec::with_capacity(items.len());
    for values in &items {
        let id = (r.key == Key::Id).then(clock::new_id);
        statements.push(r.insert_statement(sql.dialect(), id.as_deref(), values, &now));
        let key = id.unwrap_or_else(|| key_of(r, values));
        created.push(build_item(r, &key, values, 1, &now, &now));
    }
    if !statements.is_empty() {
        match sql.transaction(&statements).await {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => return Err(conflict_after_race(sql, r, &items, bulk, None).await),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(created)
}

/// `409` if an item would take a unique value that another item (or another of `items`) has.
async fn check_unique<S: SqlStore>(sql: &S, r: &'static Resource, items: &[Vec<Value>], bulk: bool, except: Option<&str>) -> ApiResult<()> {
    for (index, field) in r.fields.iter().enumerate() {
        let is_key = r.key == Key::Field(field.name);
        if field.unique == Unique::No && !is_key {
            continue;
        }
        let keys: Vec<String> = items
            .iter()
            .map(|values| match &values[index] {
                Value::Text(s) if field.unique == Unique::IgnoreCase => s.to_lowercase(),
                Value::Text(s) => s.clone(),
                _ => String::new(),
            })
            .collect();
        let path = |i: usize| if bulk { format!("[{i}].{}", field.name) } else { field.name.to_string() };
        let conflict = |i: usize, message: &str| {
            let what = if is_key { format!("A {} with this {} already exists.", r.singular, field.name) } else { format!("The {} is already taken.", field.name) };
            ApiError::Conflict(what, vec![FieldError::new(path(i), message)])
        };
        for (i, key) in keys.iter().enumerate() {
            if keys[..i].contains(key) {
                return Err(conflict(i, "repeats an earlier item of this request"));
            }
        }
        for chunk in keys.chunks(500) {
            let stmt = r.taken_statement(sql.dialect(), &field.key_column(), chunk, except);
            let taken = sql.query(&stmt.sql, &stmt.params).await?;
            if let Some(Value::Text(t)) = taken.first().and_then(|row| row.first()) {
                let i = keys.iter().position(|k| k == t).unwrap_or(0);
                return Err(conflict(i, "is already taken"));
            }
        }
    }
    Ok(())
}

/// A unique constraint fired although [`check_unique`] had passed: another request took the
/// value in between. Looks again so that the `409` still names the field (and index).
async fn conflict_after_race<S: SqlStore>(sql: &S, r: &'static Resource, items: &[Vec<Value>], bulk: bool, except: Option<&str>) -> ApiError {
    match check_unique(sql, r, items, bulk, except).await {
        Err(named) => named,
        // The other item is gone again: name every unique field.
        Ok(()) => {
            let errors = r
                .fields
                .iter()
                .filter(|f| f.unique != Unique::No || r.key == Key::Field(f.name))
                .map(|f| FieldError::new(f.name, "is already taken"))
                .collect();
            ApiError::Conflict(format!("The {} conflicts with another one written at the same time.", r.singular), errors)
        }
    }
}

async fn find<S: SqlStore>(sql: &S, r: &'static Resource, key: &str) -> ApiResult<Option<Item>> {
    let stmt = r.get_statement(sql.dialect(), key);
    Ok(sql.query(&stmt.sql, &stmt.params).await?.first().map(|row| r.item_from_row(row)))
}

/// The item a write leaves, built as a read of it would be: a create's answer and `ETag` equal a
/// following `GET`'s.
fn build_item(r: &Resource, key: &str, values: &[Value], version: i64, created_at: &str, updated_at: &str) -> Item {
    let mut row = Vec::with_capacity(values.len() + 4);
    if r.key == Key::Id {
        row.push(Value::Text(key.into()));
    }
    row.extend(values.iter().cloned());
    row.extend([Value::Integer(version), Value::Text(created_at.into()), Value::Text(updated_at.into())]);
    r.item_from_row(&row)
}

fn key_of(r: &Resource, values: &[Value]) -> String {
    let index = r.fields.iter().position(|f| r.key == Key::Field(f.name)).unwrap_or(0);
    match &values[index] {
        Value::Text(s) => s.clone(),
        _ => String::new(),
    }
}

fn item_etag(item: &Item) -> String {
    etag(item.version, &response::json_bytes(&item.body))
}

fn item_response(status: StatusCode, item: &Item) -> (Response, String) {
    let body = response::json_bytes(&item.body);
    let tag = etag(item.version, &body);
    let mut resp = response::bytes(status, body);
    set_header(&mut resp, header::ETAG, &tag);
    (resp, tag)
}

fn invalid(errors: Vec<FieldError>) -> ApiError {
    let detail = match errors.as_slice() {
        [one] if one.field.is_empty() => format!("The body {}.", one.message),
        [one] => format!("`{}` {}.", one.field, one.message),
        many => format!("{} fields are invalid; nothing was stored.", many.len()),
    };
    ApiError::Validation(detail, errors)
}

pub fn not_found(r: &Resource) -> ApiError {
    ApiError::NotFound(format!("No {} has this {}.", r.singular, r.key_name()))
}

/// The methods a resource's collection and item paths answer.
pub const COLLECTION_METHODS: &[Method] = &[Method::GET, Method::HEAD, Method::POST];
pub const ITEM_METHODS: &[Method] = &[Method::GET, Method::HEAD, Method::PUT, Method::PATCH, Method::DELETE];
