//! The SQL text for both dialects, built from a [`Resource`]. The only place that writes SQL.

use super::field::{Field, Kind, Unique};
use super::{Key, Resource};
use crate::store::{Dialect, Statement, Value};

/// Numbers placeholders and, for PostgreSQL, types them: a typed placeholder lets a `NULL`
/// parameter stand for any column type.
pub struct Params {
    dialect: Dialect,
    pub values: Vec<Value>,
}

/// The SQL type of a placeholder, for PostgreSQL's casts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    Text,
    BigInt,
    Double,
    Boolean,
}

impl SqlType {
    pub fn of(field: &Field) -> SqlType {
        match field.kind {
            Kind::Integer { .. } => SqlType::BigInt,
            Kind::Number { .. } => SqlType::Double,
            Kind::Boolean => SqlType::Boolean,
            Kind::Text { .. } | Kind::Choice(_) | Kind::Object => SqlType::Text,
        }
    }
}

impl Params {
    pub fn new(dialect: Dialect) -> Params {
        Params { dialect, values: Vec::new() }
    }

    /// Adds a parameter and returns its placeholder.
    pub fn push(&mut self, value: Value, ty: SqlType) -> String {
        self.values.push(value);
        let n = self.values.len();
        match self.dialect {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => {
                let cast = match ty {
                    SqlType::Text => "text",
                    SqlType::BigInt => "bigint",
                    SqlType::Double => "double precision",
                    SqlType::Boolean => "boolean",
                };
                format!("${n}::{cast}")
            }
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn statement(self, sql: String) -> Statement {
        Statement { sql, params: self.values }
    }
}

/// A `WHERE` condition on a resource, with its parameters already pushed.
pub struct Condition(pub String);

impl Resource {
    pub fn select_sql(&self) -> String {
        format!("SELECT {} FROM {}", self.select_columns().join(", "), self.name)
    }

    /// `SELECT … WHERE key = ?`.
    pub fn get_statement(&self, dialect: Dialect, key: &str) -> Statement {
        let mut p = Params::new(dialect);
        let ph = p.push(Value::Text(key.into()), SqlType::Text);
        let sql = format!("{} WHERE {} = {ph}", self.select_sql(), self.key_column());
        p.statement(sql)
    }

    /// One `INSERT` of a validated item.
    pub fn insert_statement(&self, dialect: Dialect, id: Option<&str>, values: &[Value], now: &str) -> Statement {
        let mut p = Params::new(dialect);
        let mut cols = Vec::new();
        let mut phs = Vec::new();
        if let (Key::Id, Some(id)) = (self.key, id) {
            cols.push("id".to_string());
            phs.push(p.push(Value::Text(id.into()), SqlType::Text));
        }
        for (f, v) in self.fields.iter().zip(values) {
            cols.push(f.column.to_string());
            phs.push(p.push(v.clone(), SqlType::of(f)));
        }
        for (col, value) in self.unique_key_values(values) {
            cols.push(col);
            phs.push(p.push(value, SqlType::Text));
        }
        cols.extend(["version".into(), "created_at".into(), "updated_at".into()]);
        phs.push(p.push(Value::Integer(1), SqlType::BigInt));
        phs.push(p.push(Value::Text(now.into()), SqlType::Text));
        phs.push(p.push(Value::Text(now.into()), SqlType::Text));
        let sql = format!("INSERT INTO {} ({}) VALUES ({})", self.name, cols.join(", "), phs.join(", "));
        p.statement(sql)
    }

    /// `UPDATE` of every field — only if the row is still at `version`, when given (optimistic
    /// concurrency) — returning the new `version` and the `created_at` it keeps.
    pub fn update_statement(&self, dialect: Dialect, key: &str, version: Option<i64>, values: &[Value], now: &str) -> Statement {
        let mut p = Params::new(dialect);
        let mut sets = Vec::new();
        for (f, v) in self.fields.iter().zip(values) {
            sets.push(format!("{} = {}", f.column, p.push(v.clone(), SqlType::of(f))));
        }
        for (col, value) in self.unique_key_values(values) {
            sets.push(format!("{col} = {}", p.push(value, SqlType::Text)));
        }
        sets.push("version = version + 1".into());
        sets.push(format!("updated_at = {}", p.push(Value::Text(now.into()), SqlType::Text)));
        let key_ph = p.push(Value::Text(key.into()), SqlType::Text);
        let mut sql = format!("UPDATE {} SET {} WHERE {} = {key_ph}", self.name, sets.join(", "), self.key_column());
        if let Some(version) = version {
            sql.push_str(&format!(" AND version = {}", p.push(Value::Integer(version), SqlType::BigInt)));
        }
        sql.push_str(" RETURNING version, created_at");
        p.statement(sql)
    }

    /// `DELETE`, optionally only if the row is still at `version`.
    pub fn delete_statement(&self, dialect: Dialect, key: &str, version: Option<i64>) -> Statement {
        let mut p = Params::new(dialect);
        let mut sql = format!("DELETE FROM {} WHERE {} = {}", self.name, self.key_column(), p.push(Value::Text(key.into()), SqlType::Text));
        if let Some(version) = version {
            sql.push_str(&format!(" AND version = {}", p.push(Value::Integer(version), SqlType::BigInt)));
        }
        p.statement(sql)
    }

    /// Which of `values` (of a unique column) are taken by an item other than `except`.
    pub fn taken_statement(&self, dialect: Dialect, column: &str, values: &[String], except: Option<&str>) -> Statement {
        let mut p = Params::new(dialect);
        let phs: Vec<String> = values.iter().map(|v| p.push(Value::Text(v.clone()), SqlType::Text)).collect();
        let mut sql = format!("SELECT {column} FROM {} WHERE {column} IN ({})", self.name, phs.join(", "));
        if let Some(key) = except {
            sql.push_str(&format!(" AND {} <> {}", self.key_column(), p.push(Value::Text(key.into()), SqlType::Text)));
        }
        p.statement(sql)
    }

    /// The lowercased copies stored for fields unique ignoring case.
    fn unique_key_values(&self, values: &[Value]) -> Vec<(String, Value)> {
        self.fields
            .iter()
            .zip(values)
            .filter(|(f, _)| f.unique == Unique::IgnoreCase)
            .map(|(f, v)| {
                let lowered = match v {
                    Value::Text(s) => Value::Text(s.to_lowercase()),
                    other => other.clone(),
                };
                (f.key_column(), lowered)
            })
            .collect()
    }
}

/// The text of the JSON value at `path` inside the JSON column `column`: unquoted for a string,
/// `true`/`false` for a boolean, the number as written; `NULL` for JSON `null` or a missing path.
pub fn json_path_text(dialect: Dialect, column: &str, path: &[&str], p: &mut Params) -> String {
    match dialect {
        Dialect::Sqlite => {
            let json_path: String = std::iter::once("$".to_string()).chain(path.iter().map(|k| format!(".\"{k}\""))).collect();
            let ph = p.push(Value::Text(json_path), SqlType::Text);
            format!(
                "(CASE json_type({column}, {ph}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN NULL \
                 ELSE CAST(json_extract({column}, {ph}) AS TEXT) END)"
            )
        }
        Dialect::Postgres => {
            let args: Vec<String> = path.iter().map(|k| p.push(Value::Text((*k).into()), SqlType::Text)).collect();
            format!("jsonb_extract_path_text({column}::jsonb, {})", args.join(", "))
        }
    }
}
