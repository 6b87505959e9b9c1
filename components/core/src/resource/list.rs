//! `GET /<resource>`: paging, ordering and filters, parsed from the query and turned into SQL.
//!
//! A page starts at an `offset` (O(offset): the store skips the rows before it) or after a
//! `cursor` (O(page) at any depth): the sort key and creation order (`seq`) of the last row of
//! the previous page, continued as a keyset read on the index of the sort column, which ends in
//! `seq` (`migrations/*/0002_row_counts_and_indexes.sql`).

use serde_json::{json, Value as Json};

use super::field::Field;
use super::sql::{json_path_text, Params, SqlType};
use super::Resource;
use crate::cursor;
use crate::problem::{ApiError, ApiResult};
use crate::request::Query;
use crate::store::{Dialect, Row, Statement, Value};

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

/// A parsed list request.
pub struct ListQuery {
    pub limit: u64,
    pub offset: u64,
    order: Option<Order>,
    filters: Vec<Filter>,
    /// Where a cursor says the page starts: after this row.
    after: Option<After>,
}

/// `order=<name>.asc|.desc`.
#[derive(Clone, Copy)]
struct Order {
    /// The API's name (`name`, `createdAt`): what the cursor records.
    name: &'static str,
    column: &'static str,
    ascending: bool,
    ty: SqlType,
    /// Whether the column can hold NULL (an optional field): its NULLs are a range of their own.
    nullable: bool,
}

impl Order {
    fn spec(&self) -> String {
        format!("{}.{}", self.name, if self.ascending { "asc" } else { "desc" })
    }
}

/// The last row of the previous page: its sort key (with an `order`) and creation order.
struct After {
    key: Value,
    seq: i64,
}

enum Filter {
    Field(&'static Field, Value),
    /// `metadata.a.b=text` on a JSON object field.
    JsonPath(&'static Field, Vec<String>, String),
}

/// The columns every resource can be ordered by besides its fields.
const TIMESTAMPS: [(&str, &str); 2] = [("createdAt", "created_at"), ("updatedAt", "updated_at")];

impl ListQuery {
    pub fn parse(resource: &'static Resource, query: &Query) -> ApiResult<ListQuery> {
        let limit = query.count("limit", DEFAULT_LIMIT, Some(MAX_LIMIT))?;
        let offset = query.count("offset", 0, Some(i64::MAX as u64))?;
        let order = query.get("order").map(|raw| parse_order(resource, raw)).transpose()?;
        let mut filters = Vec::new();
        for (name, raw) in query.pairs() {
            if matches!(name.as_str(), "limit" | "offset" | "order" | cursor::PARAM) {
                continue;
            }
            filters.push(parse_filter(resource, name, raw)?);
        }
        let after = match query.get(cursor::PARAM) {
            None => None,
            Some(_) if query.get("offset").is_some() => {
                return Err(ApiError::BadRequest("Give `offset` or `cursor`, not both: a cursor says where the page starts.".into()));
            }
            Some(text) => Some(parse_cursor(resource, order.as_ref(), text)?),
        };
        Ok(ListQuery { limit, offset, order, filters, after })
    }

    /// The cursor of the page after `last`, a row of [`ListQuery::page_statement`].
    pub fn cursor_after(&self, resource: &Resource, last: &Row) -> String {
        let seq = match last.last() {
            Some(Value::Integer(seq)) => *seq,
            _ => 0,
        };
        let key = self.order.and_then(|order| {
            let at = resource.select_columns().iter().position(|c| *c == order.column)?;
            Some(key_json(order.ty, last.get(at).unwrap_or(&Value::Null)))
        });
        cursor::encode(&json!({ "r": resource.name, "o": self.order.map(|o| o.spec()), "k": key, "s": seq }))
    }

    /// Whether no item can match: a filter names a string with U+0000, which no store holds
    /// (bodies with it are refused), and PostgreSQL could not even compare.
    pub fn matches_nothing(&self) -> bool {
        self.filters.iter().any(|filter| match filter {
            Filter::Field(_, Value::Text(v)) => v.contains('\0'),
            Filter::Field(..) => false,
            Filter::JsonPath(_, path, text) => text.contains('\0') || path.iter().any(|k| k.contains('\0')),
        })
    }

    fn condition(&self, p: &mut Params, dialect: Dialect) -> String {
        let mut parts = Vec::new();
        for filter in &self.filters {
            match filter {
                Filter::Field(f, v) => {
                    let ph = p.push(v.clone(), SqlType::of(f));
                    parts.push(format!("{} = {ph}", f.key_column()));
                }
                Filter::JsonPath(f, path, text) => {
                    let path: Vec<&str> = path.iter().map(String::as_str).collect();
                    let extracted = json_path_text(dialect, f.column, &path, p);
                    let ph = p.push(Value::Text(text.clone()), SqlType::Text);
                    parts.push(format!("{extracted} = {ph}"));
                }
            }
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", parts.join(" AND "))
        }
    }

    /// The number of matches before paging. Without filters it is read from `row_counts`, which
    /// triggers keep exact on every insert and delete (`migrations/*/0002_row_counts.sql`): O(1)
    /// at any table size. With filters it is a `COUNT(*)` over the matches (through an index for
    /// a column filter).
    pub fn count_statement(&self, resource: &Resource, dialect: Dialect) -> Statement {
        let mut p = Params::new(dialect);
        if self.filters.is_empty() {
            let table = p.push(Value::Text(resource.name.into()), SqlType::Text);
            let sum = match dialect {
                Dialect::Sqlite => "COALESCE(SUM(n), 0)",
                // SUM of bigint is numeric in PostgreSQL.
                Dialect::Postgres => "COALESCE(SUM(n), 0)::bigint",
            };
            return p.statement(format!("SELECT {sum} FROM row_counts WHERE tbl = {table}"));
        }
        let cond = self.condition(&mut p, dialect);
        p.statement(format!("SELECT COUNT(*) FROM {}{cond}", resource.name))
    }

    /// The page itself, and one row more than asked (a look-ahead that tells whether more
    /// remain). Every row ends with `seq`, for the next page's cursor. Ties (and the default)
    /// are in creation order, so pages never overlap.
    pub fn page_statement(&self, resource: &Resource, dialect: Dialect) -> Statement {
        let mut p = Params::new(dialect);
        let sql = match &self.after {
            None => {
                let mut sql = self.branch(resource, &mut p, None, &self.order_by());
                sql.push_str(&format!(" OFFSET {}", p.push(Value::Integer(self.offset as i64), SqlType::BigInt)));
                sql
            }
            Some(after) => self.keyset(resource, &mut p, after),
        };
        p.statement(sql)
    }

    /// `ORDER BY` of the list: the sort column with NULLs first in ascending order, as SQLite
    /// does (spelled out: PostgreSQL's default is the opposite, and its indexes say NULLS
    /// FIRST), then creation order.
    fn order_by(&self) -> String {
        match &self.order {
            Some(Order { column, ascending: true, .. }) => format!("{column} ASC NULLS FIRST, seq ASC"),
            Some(Order { column, ascending: false, .. }) => format!("{column} DESC NULLS LAST, seq ASC"),
            None => "seq ASC".to_string(),
        }
    }

    /// `SELECT … WHERE <filters> [AND <condition>] ORDER BY <order> LIMIT <limit + 1>`.
    fn branch(&self, resource: &Resource, p: &mut Params, condition: Option<String>, order: &str) -> String {
        let mut cond = self.condition(p, p.dialect());
        if let Some(extra) = condition {
            cond = if cond.is_empty() { format!(" WHERE {extra}") } else { format!("{cond} AND {extra}") };
        }
        let limit = p.push(Value::Integer((self.limit + 1) as i64), SqlType::BigInt);
        format!("SELECT {}, seq FROM {}{cond} ORDER BY {order} LIMIT {limit}", resource.select_columns().join(", "), resource.name)
    }

    /// The rows after `after`, in the list's order. Each part is one range of the sort column's
    /// index `(column, seq)` read in index order, so the page costs O(page) at any depth:
    /// the rest of the last row's ties (`column = key AND seq > s`), the rows beyond its key, and
    /// for a descending order of an optional field the NULLs, which come last. Parts that can
    /// hold no row are left out; more than one are merged by a sort of at most 3 × (limit + 1)
    /// rows. (A row comparison, `(column, seq) > (key, s)`, would be one part for an ascending
    /// order, but SQLite reads it as `column >= key` and filters the ties one by one.)
    fn keyset(&self, resource: &Resource, p: &mut Params, after: &After) -> String {
        let Some(order) = self.order else {
            let seq = p.push(Value::Integer(after.seq), SqlType::BigInt);
            return self.branch(resource, p, Some(format!("seq > {seq}")), "seq ASC");
        };
        let column = order.column;
        // Parts whose rows share one key are read forward on the index: in it they are in `seq`
        // order whether the planner sees the key as fixed or not.
        let forward = format!("{column} ASC NULLS FIRST, seq ASC");
        let mut parts = Vec::new();
        let seq = p.push(Value::Integer(after.seq), SqlType::BigInt);
        if after.key == Value::Null {
            parts.push(self.branch(resource, p, Some(format!("{column} IS NULL AND seq > {seq}")), &forward));
            if order.ascending {
                parts.push(self.branch(resource, p, Some(format!("{column} IS NOT NULL")), &self.order_by()));
            }
        } else {
            let key = p.push(after.key.clone(), order.ty);
            parts.push(self.branch(resource, p, Some(format!("{column} = {key} AND seq > {seq}")), &forward));
            let beyond = if order.ascending { ">" } else { "<" };
            parts.push(self.branch(resource, p, Some(format!("{column} {beyond} {key}")), &self.order_by()));
            if !order.ascending && order.nullable {
                parts.push(self.branch(resource, p, Some(format!("{column} IS NULL")), &forward));
            }
        }
        if let [only] = parts.as_slice() {
            return only.clone();
        }
        let union: Vec<String> = parts.iter().enumerate().map(|(i, part)| format!("SELECT * FROM ({part}) AS part{i}")).collect();
        let limit = p.push(Value::Integer((self.limit + 1) as i64), SqlType::BigInt);
        format!("SELECT * FROM ({}) AS page ORDER BY {} LIMIT {limit}", union.join(" UNION ALL "), self.order_by())
    }
}

/// A sort key as the cursor records it, in the JSON type of its column.
fn key_json(ty: SqlType, value: &Value) -> Json {
    match (ty, value) {
        (_, Value::Null) => Json::Null,
        // SQLite has no booleans: 0 and 1.
        (SqlType::Boolean, Value::Integer(n)) => Json::Bool(*n != 0),
        (SqlType::Double, Value::Integer(n)) => Json::from(*n as f64),
        (_, v) => super::field::value_to_json(v),
    }
}

/// The key of a cursor back as a column value; `None` if it is not of the column's type.
fn key_value(ty: SqlType, key: &Json) -> Option<Value> {
    Some(match (ty, key) {
        (_, Json::Null) => Value::Null,
        (SqlType::Text, Json::String(s)) => Value::Text(s.clone()),
        (SqlType::BigInt, Json::Number(n)) => Value::Integer(n.as_i64()?),
        (SqlType::Double, Json::Number(n)) => Value::Real(n.as_f64()?),
        (SqlType::Boolean, Json::Bool(b)) => Value::Bool(*b),
        _ => return None,
    })
}

/// Reads a cursor of this resource's list: it must have been made for the same `order`.
fn parse_cursor(resource: &Resource, order: Option<&Order>, text: &str) -> ApiResult<After> {
    let payload = cursor::decode(text)?;
    if payload["r"] != resource.name {
        return Err(cursor::invalid(&format!("it belongs to another list than {}", resource.name)));
    }
    let spec = order.map(Order::spec);
    if payload["o"].as_str() != spec.as_deref() {
        let made_for = payload["o"].as_str().map_or("the default order".to_string(), |o| format!("`order={o}`"));
        return Err(cursor::invalid(&format!("it was made for {made_for}; keep the order of the page it came from")));
    }
    let bad = || cursor::invalid("it is not one this API handed out");
    let seq = payload["s"].as_i64().ok_or_else(bad)?;
    let key = match order {
        None => Value::Null,
        Some(order) => key_value(order.ty, &payload["k"]).ok_or_else(bad)?,
    };
    Ok(After { key, seq })
}

fn parse_order(resource: &'static Resource, raw: &str) -> ApiResult<Order> {
    let bad = || {
        ApiError::BadRequest(format!(
            "`order` must be `<field>.asc` or `<field>.desc` with a field of {}: {}.",
            resource.name,
            orderable(resource).join(", ")
        ))
    };
    let (name, direction) = raw.rsplit_once('.').ok_or_else(bad)?;
    let ascending = match direction {
        "asc" => true,
        "desc" => false,
        _ => return Err(bad()),
    };
    match resource.field(name) {
        Some(f) if f.is_scalar() => Ok(Order { name: f.name, column: f.column, ascending, ty: SqlType::of(f), nullable: !f.required }),
        Some(_) => Err(bad()),
        None => TIMESTAMPS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(name, column)| Order { name, column, ascending, ty: SqlType::Text, nullable: false })
            .ok_or_else(bad),
    }
}

fn orderable(resource: &Resource) -> Vec<&'static str> {
    let mut names: Vec<&str> = resource.fields.iter().filter(|f| f.is_scalar()).map(|f| f.name).collect();
    names.extend(TIMESTAMPS.iter().map(|(n, _)| *n));
    names
}

fn parse_filter(resource: &'static Resource, name: &str, raw: &str) -> ApiResult<Filter> {
    if let Some(f) = resource.field(name) {
        return f
            .filter_value(raw)
            .map(|v| Filter::Field(f, v))
            .map_err(|m| ApiError::BadRequest(format!("The filter `{name}` {m}.")));
    }
    if let Some((head, rest)) = name.split_once('.') {
        if let Some(f) = resource.field(head).filter(|f| !f.is_scalar()) {
            let path: Vec<String> = rest.split('.').map(str::to_string).collect();
            if path.iter().any(|k| k.is_empty() || k.contains('"')) {
                return Err(ApiError::BadRequest(format!("The filter path `{name}` has an empty key or a `\"`.")));
            }
            return Ok(Filter::JsonPath(f, path, raw.to_string()));
        }
    }
    Err(ApiError::BadRequest(format!(
        "Unknown query parameter `{name}`: {} takes limit, offset, cursor, order and filters on {}.",
        resource.name,
        resource.fields.iter().map(|f| if f.is_scalar() { f.name.to_string() } else { format!("{}.<path>", f.name) }).collect::<Vec<_>>().join(", ")
    )))
}
