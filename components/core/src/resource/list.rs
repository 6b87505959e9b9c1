//! `GET /<resource>`: paging, ordering and filters, parsed from the query and turned into SQL.

use super::field::Field;
use super::sql::{json_path_text, Params, SqlType};
use super::Resource;
use crate::problem::{ApiError, ApiResult};
use crate::request::Query;
use crate::store::{Dialect, Statement, Value};

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;

/// A parsed list request.
pub struct ListQuery {
    pub limit: u64,
    pub offset: u64,
    order: Option<(String, bool)>,
    filters: Vec<Filter>,
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
            if matches!(name.as_str(), "limit" | "offset" | "order") {
                continue;
            }
            filters.push(parse_filter(resource, name, raw)?);
        }
        Ok(ListQuery { limit, offset, order, filters })
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

    /// The page itself, with `extra` rows more than asked (a look-ahead that tells whether more
    /// remain). Ties (and the default) are in creation order, so pages never overlap.
    pub fn page_statement(&self, resource: &Resource, dialect: Dialect) -> Statement {
        self.page_statement_with(resource, dialect, 0)
    }

    pub fn page_statement_with(&self, resource: &Resource, dialect: Dialect, extra: u64) -> Statement {
        let mut p = Params::new(dialect);
        let cond = self.condition(&mut p, dialect);
        // NULLS placement is spelled out: SQLite and PostgreSQL default to opposite ends.
        let order = match &self.order {
            Some((column, true)) => format!("{column} ASC NULLS FIRST, seq ASC"),
            Some((column, false)) => format!("{column} DESC NULLS LAST, seq ASC"),
            None => "seq ASC".to_string(),
        };
        let limit = p.push(Value::Integer((self.limit + extra) as i64), SqlType::BigInt);
        let offset = p.push(Value::Integer(self.offset as i64), SqlType::BigInt);
        p.statement(format!("{}{cond} ORDER BY {order} LIMIT {limit} OFFSET {offset}", resource.select_sql()))
    }
}

fn parse_order(resource: &Resource, raw: &str) -> ApiResult<(String, bool)> {
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
    let column = match resource.field(name) {
        Some(f) if f.is_scalar() => f.column.to_string(),
        Some(_) => return Err(bad()),
        None => TIMESTAMPS.iter().find(|(n, _)| *n == name).map(|(_, c)| c.to_string()).ok_or_else(bad)?,
    };
    Ok((column, ascending))
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
        "Unknown query parameter `{name}`: {} takes limit, offset, order and filters on {}.",
        resource.name,
        resource.fields.iter().map(|f| if f.is_scalar() { f.name.to_string() } else { format!("{}.<path>", f.name) }).collect::<Vec<_>>().join(", ")
    )))
}
