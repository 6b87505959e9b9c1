//! SQL-backed resources: what differs between cats, passengers, configs and users is data
//! ([`Resource`]); listing, paging, ETags, bulk and writes are written once ([`handlers`]).

pub mod definitions;
pub mod field;
pub mod handlers;
pub mod list;
pub mod sql;

use serde_json::{Map, Value as Json};

use crate::problem::FieldError;
use crate::store::{Row, Value};
use field::{Field, Kind};

/// How an item is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A server-assigned UUID v4 in the column and JSON field `id`.
    Id,
    /// One of the resource's own fields, given by the client (a config's `dcname`).
    Field(&'static str),
}

#[derive(Debug)]
pub struct Resource {
    /// The collection's path segment and table: `cats`.
    pub name: &'static str,
    /// One item, for messages and the OpenAPI document: `cat`.
    pub singular: &'static str,
    pub key: Key,
    pub fields: &'static [Field],
    /// Rules beyond single fields (a config's nested metadata). Runs on the whole body.
    pub check: Option<fn(&Map<String, Json>, &mut Vec<FieldError>)>,
    /// An example body, for the OpenAPI document.
    pub example: fn() -> Json,
    /// For a resource that imports `text/csv`: each CSV header and the field it fills.
    pub csv: Option<&'static [(&'static str, &'static str)]>,
}

/// What must be escaped inside one path segment (RFC 3986 `pchar`, and `%` itself).
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ').add(b'"').add(b'#').add(b'%').add(b'/').add(b'<').add(b'>').add(b'?').add(b'`').add(b'{').add(b'}');

/// Fields every SQL resource has, which a body may carry but never sets.
pub const READ_ONLY: [&str; 3] = ["id", "createdAt", "updatedAt"];

/// One stored item, as read back.
#[derive(Debug, Clone)]
pub struct Item {
    pub key: String,
    pub version: i64,
    pub body: Json,
}

impl Resource {
    pub fn key_column(&self) -> &'static str {
        match self.key {
            Key::Id => "id",
            Key::Field(name) => self.field(name).map(|f| f.column).unwrap_or(name),
        }
    }

    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The JSON name of the key.
    pub fn key_name(&self) -> &'static str {
        match self.key {
            Key::Id => "id",
            Key::Field(name) => name,
        }
    }

    /// The path of one item.
    pub fn item_path(&self, key: &str) -> String {
        let key = percent_encoding::utf8_percent_encode(key, PATH_SEGMENT);
        format!("/{}/{key}", self.name)
    }

    /// The columns a read selects, in the order [`Resource::item_from_row`] reads them.
    pub fn select_columns(&self) -> Vec<&'static str> {
        let mut cols = Vec::with_capacity(self.fields.len() + 4);
        if self.key == Key::Id {
            cols.push("id");
        }
        cols.extend(self.fields.iter().map(|f| f.column));
        cols.extend(["version", "created_at", "updated_at"]);
        cols
    }

    /// Builds the representation from a row of [`Resource::select_columns`].
    pub fn item_from_row(&self, row: &Row) -> Item {
        let mut body = Map::new();
        let mut values = row.iter();
        if self.key == Key::Id {
            body.insert("id".into(), field::value_to_json(values.next().unwrap_or(&Value::Null)));
        }
        for f in self.fields {
            body.insert(f.name.into(), f.to_json(values.next().unwrap_or(&Value::Null)));
        }
        let version = match values.next() {
            Some(Value::Integer(v)) => *v,
            _ => 0,
        };
        body.insert("createdAt".into(), field::value_to_json(values.next().unwrap_or(&Value::Null)));
        body.insert("updatedAt".into(), field::value_to_json(values.next().unwrap_or(&Value::Null)));
        let key = body.get(self.key_name()).and_then(Json::as_str).unwrap_or_default().to_string();
        Item { key, version, body: Json::Object(body) }
    }

    /// Checks a body against every rule, giving the field values in field order.
    ///
    /// `prefix` is prepended to error paths (`[3].` in a bulk). `path_key` is the key from the
    /// URL on PUT/PATCH: a client key field may be omitted, but must match if given.
    pub fn validate(&self, body: &Json, prefix: &str, path_key: Option<&str>) -> Result<Vec<Value>, Vec<FieldError>> {
        let root = prefix.strip_suffix('.').unwrap_or(prefix);
        let Json::Object(obj) = body else {
            return Err(vec![FieldError::new(root, format!("must be a {} object", self.singular))]);
        };
        let mut obj = obj.clone();
        let mut errors = Vec::new();
        if let (Key::Field(name), Some(path_key)) = (self.key, path_key) {
            match obj.get(name) {
                None => {
                    obj.insert(name.into(), Json::String(path_key.into()));
                }
                Some(given) if given.as_str() == Some(path_key) => {}
                Some(_) => errors.push(FieldError::new(format!("{prefix}{name}"), "must equal the name in the path")),
            }
        }
        for name in obj.keys() {
            if self.field(name).is_none() && !READ_ONLY.contains(&name.as_str()) {
                errors.push(FieldError::new(format!("{prefix}{name}"), "is not a known field"));
            }
        }
        let mut values = Vec::with_capacity(self.fields.len());
        for f in self.fields {
            match f.check(obj.get(f.name)) {
                Ok(v) => values.push(v),
                Err(message) => errors.push(FieldError::new(format!("{prefix}{}", f.name), message)),
            }
            // Free-form objects: U+0000 anywhere inside, named by its path.
            if let (Kind::Object, Some(Json::Object(_))) = (f.kind, obj.get(f.name)) {
                if let Some(path) = obj.get(f.name).and_then(field::nul_path) {
                    errors.push(FieldError::new(format!("{prefix}{}{path}", f.name), field::NUL_MESSAGE));
                }
            }
        }
        if let Some(check) = self.check {
            let mut extra = Vec::new();
            check(&obj, &mut extra);
            errors.extend(extra.into_iter().map(|e| FieldError { field: format!("{prefix}{}", e.field), ..e }));
        }
        if errors.is_empty() {
            Ok(values)
        } else {
            Err(errors)
        }
    }
}
