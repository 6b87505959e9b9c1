//! Scalar fields: their rules, checked once for every resource.

use serde_json::Value as Json;

use crate::store::Value;

/// Why a string with U+0000 is refused: PostgreSQL cannot store it in `text` (nor in `jsonb`),
/// so every store refuses it alike, as the contract asks.
pub const NUL_MESSAGE: &str = "must not contain the character U+0000";

/// The path (`.key`, `[i]`) below `value` of the first string or object key that contains
/// U+0000, `""` for `value` itself; `None` when there is none.
pub fn nul_path(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => s.contains('\0').then(String::new),
        Json::Array(items) => items.iter().enumerate().find_map(|(i, v)| nul_path(v).map(|p| format!("[{i}]{p}"))),
        Json::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                // The key itself is shown escaped, as JSON would write it.
                return Some(format!(".{}", k.replace('\0', "\\u0000")));
            }
            nul_path(v).map(|p| format!(".{k}{p}"))
        }),
        _ => None,
    }
}

/// What a field holds, with its bounds.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string of `min..=max` Unicode code points (after trimming, if `trim`), with an extra
    /// format check.
    Text { min: usize, max: usize, trim: bool, format: Option<Format> },
    Integer { min: i64, max: i64 },
    /// A finite number; fractions allowed.
    Number { min: f64, max: Option<f64> },
    Boolean,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
    /// A JSON object, validated by the resource's own check.
    Object,
}

/// Extra rules for a text field.
#[derive(Debug, Clone, Copy)]
pub enum Format {
    /// `[A-Za-z0-9_.-]`.
    Username,
    /// An e-mail address.
    Email,
    /// A DNS label: `[a-z0-9-]`, not starting or ending with `-`.
    DnsLabel,
}

/// How a field takes part in uniqueness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    No,
    /// Unique ignoring case: a lowercased copy lives in the column `<column>_key`.
    IgnoreCase,
}

#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The JSON name.
    pub name: &'static str,
    pub column: &'static str,
    pub kind: Kind,
    /// Required fields reject absent and `null`; optional ones store `null`.
    pub required: bool,
    pub unique: Unique,
    pub description: &'static str,
}

impl Field {
    /// The column that equality filters and uniqueness compare.
    pub fn key_column(&self) -> String {
        match self.unique {
            Unique::No => self.column.to_string(),
            Unique::IgnoreCase => format!("{}_key", self.column),
        }
    }

    /// Checks a value from a body, giving what to store. `Err` is the message for this field.
    pub fn check(&self, value: Option<&Json>) -> Result<Value, String> {
        let value = match value {
            None | Some(Json::Null) if self.required => return Err("is required".into()),
            None | Some(Json::Null) => return Ok(Value::Null),
            Some(v) => v,
        };
        match self.kind {
            Kind::Text { min, max, trim, format } => {
                let Json::String(s) = value else { return Err("must be a string".into()) };
                if s.contains('\0') {
                    return Err(NUL_MESSAGE.into());
                }
                let s = if trim { s.trim() } else { s.as_str() };
                let len = s.chars().count();
                if len < min || len > max {
                    return Err(match (min, trim) {
                        (0, _) => format!("must be at most {max} characters"),
                        (_, true) => format!("must be {min} to {max} characters after trimming"),
                        _ => format!("must be {min} to {max} characters"),
                    });
                }
                if let Some(format) = format {
                    format.check(s)?;
                }
                Ok(Value::Text(s.to_string()))
            }
            // Fractions and numbers beyond 64 bits fail the range rule like any other number.
            Kind::Integer { min, max } => match json_integer(value) {
                Some(n) if (min..=max).contains(&n) => Ok(Value::Integer(n)),
                _ if value.is_number() => Err(integer_range(min, max)),
                _ => Err("must be an integer".into()),
            },
            Kind::Number { min, max } => {
                let Some(n) = value.as_f64() else { return Err("must be a number".into()) };
                let in_range = n >= min && max.is_none_or(|max| n <= max);
                if !in_range {
                    return Err(match max {
                        Some(max) => format!("must be between {} and {}", fmt_num(min), fmt_num(max)),
                        None => format!("must be at least {}", fmt_num(min)),
                    });
                }
                Ok(Value::Real(n))
            }
            Kind::Boolean => value.as_bool().map(Value::Bool).ok_or_else(|| "must be a boolean".into()),
            Kind::Choice(_) if value.as_str().is_some_and(|s| s.contains('\0')) => Err(NUL_MESSAGE.into()),
            Kind::Choice(choices) => match value.as_str() {
                Some(s) if choices.contains(&s) => Ok(Value::Text(s.to_string())),
                _ => Err(format!("must be one of: {}", choices.join(", "))),
            },
            Kind::Object => match value {
                Json::Object(_) => Ok(Value::Text(value.to_string())),
                _ => Err("must be an object".into()),
            },
        }
    }

    /// Parses a query-string filter value into what the column holds.
    pub fn filter_value(&self, raw: &str) -> Result<Value, String> {
        Ok(match self.kind {
            Kind::Text { .. } | Kind::Choice(_) => match self.unique {
                Unique::IgnoreCase => Value::Text(raw.to_lowercase()),
                Unique::No => Value::Text(raw.to_string()),
            },
            Kind::Integer { .. } => Value::Integer(raw.parse().map_err(|_| "must be an integer".to_string())?),
            Kind::Number { .. } => match raw.parse::<f64>() {
                Ok(n) if n.is_finite() => Value::Real(n),
                _ => return Err("must be a number".into()),
            },
            Kind::Boolean => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err("must be `true` or `false`".into()),
            },
            Kind::Object => return Err("is an object: filter on a dotted path below it".into()),
        })
    }

    /// Turns a stored value back into JSON.
    pub fn to_json(&self, value: &Value) -> Json {
        match (self.kind, value) {
            (_, Value::Null) => Json::Null,
            (Kind::Boolean, Value::Integer(n)) => Json::Bool(*n != 0),
            (Kind::Number { .. }, Value::Integer(n)) => Json::from(*n as f64),
            (Kind::Object, Value::Text(s)) => serde_json::from_str(s).unwrap_or(Json::Null),
            (_, v) => value_to_json(v),
        }
    }

    pub fn is_scalar(&self) -> bool {
        !matches!(self.kind, Kind::Object)
    }
}

/// The integer a JSON number means, if it has no fraction and fits 64 bits: `3`, and also `3.0`
/// and `3e0`, which JSON (and JSON Schema's `integer`) count as the same number. A number
/// written with a fraction or an exponent is read as an IEEE 754 double, as JSON parsers do
/// (RFC 8259 §6): beyond 2^53 only plain integers are exact.
pub fn json_integer(value: &Json) -> Option<i64> {
    let Json::Number(n) = value else { return None };
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    // `as_u64` holds a plain integer beyond i64::MAX: out of range, not a float to round.
    if n.is_u64() {
        return None;
    }
    let f = n.as_f64()?;
    // Every double in [-2^63, 2^63) without a fraction is exactly an i64.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    (f.fract() == 0.0 && (-TWO_63..TWO_63).contains(&f)).then_some(f as i64)
}

fn integer_range(min: i64, max: i64) -> String {
    if max == i64::MAX {
        format!("must be an integer of at least {min}")
    } else {
        format!("must be an integer between {min} and {max}")
    }
}

fn fmt_num(n: f64) -> String {
    serde_json::Number::from_f64(n).map(|n| n.to_string()).unwrap_or_default().trim_end_matches(".0").to_string()
}

/// A store value as JSON, without knowing the field (timestamps, ids, counts).
pub fn value_to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Integer(n) => Json::from(*n),
        Value::Real(f) => Json::from(*f),
        Value::Text(s) => Json::String(s.clone()),
        Value::Bool(b) => Json::Bool(*b),
    }
}

impl Format {
    fn check(self, s: &str) -> Result<(), String> {
        match self {
            Format::Username => {
                if s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
                    Ok(())
                } else {
                    Err("may contain only letters, digits, `_`, `.` and `-`".into())
                }
            }
            Format::Email => {
                if is_email(s) {
                    Ok(())
                } else {
                    Err("must be a valid e-mail address".into())
                }
            }
            Format::DnsLabel => {
                let ok = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !s.starts_with('-')
                    && !s.ends_with('-');
                if ok {
                    Ok(())
                } else {
                    Err("must be lowercase letters, digits and `-`, not starting or ending with `-`".into())
                }
            }
        }
    }
}

/// The address rule browsers apply to `<input type=email>` (WHATWG HTML), with RFC 5321's
/// 64-octet local part; the 254 total is the field's length bound.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.chars().all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    local_ok && domain_ok
}
