//! Strong ETags and the `If-Match` / `If-None-Match` preconditions (RFC 9110 §13.1.1, §13.1.2).
//!
//! Both fields are `"*" / #entity-tag`. Their evaluation has three cases: `*`, a list of entity
//! tags (possibly empty), and "otherwise" — a value that is neither, i.e. malformed. RFC 9110
//! decides that last case too: a malformed `If-Match` is a false condition (`412`, as a tag that
//! does not match), a malformed `If-None-Match` a true one (the request is answered as if it had
//! no such field). A malformed value is never read as a list: `"a", *` is not `*`, `w/"a"` is not
//! a weak tag, and a list with one bad member is not a list.

use http::header::{self, HeaderName};
use sha2::{Digest, Sha256};

use crate::problem::{ApiError, ApiResult};
use crate::Request;

/// A strong validator for a representation written `version` times: `"<32 hex>"`.
///
/// The version is part of the hash so that every write changes the tag, even one that leaves the
/// representation as it was.
pub fn etag(version: i64, representation: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(version.to_be_bytes());
    hasher.update(representation);
    let digest = hasher.finalize();
    let mut tag = String::with_capacity(34);
    tag.push('"');
    for byte in &digest[..16] {
        tag.push_str(&format!("{byte:02x}"));
    }
    tag.push('"');
    tag
}

/// An `If-Match` or `If-None-Match` field value, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `*`: any current representation.
    Any,
    /// The entity tags listed, in order; empty for a value of only commas and whitespace.
    Tags(Vec<EntityTag>),
    /// Neither `*` nor a list of entity tags.
    Malformed,
}

/// One entity tag: `"opaque"` or `W/"opaque"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    pub weak: bool,
    /// The tag with its quotes, as [`etag`] writes it.
    pub quoted: Vec<u8>,
}

impl EntityTag {
    /// RFC 9110 §8.8.3.2: equal opaque tags, and neither weak.
    fn strongly_matches(&self, current: &str) -> bool {
        !self.weak && self.quoted == current.as_bytes()
    }

    /// Equal opaque tags, weak or not.
    fn weakly_matches(&self, current: &str) -> bool {
        self.quoted == current.as_bytes()
    }
}

impl Condition {
    /// Parses a field value. Field lines of the same name are one comma-separated list
    /// (RFC 9110 §5.3), so callers join them with `, ` first.
    pub fn parse(value: &[u8]) -> Condition {
        if trim_ows(value) == b"*" {
            return Condition::Any;
        }
        let mut tags = Vec::new();
        let mut rest = value;
        loop {
            rest = trim_ows_start(rest);
            match rest.first() {
                None => return Condition::Tags(tags),
                // An empty list element (RFC 9110 §5.6.1.2: recipients ignore them).
                Some(b',') => rest = &rest[1..],
                Some(_) => {
                    let Some((tag, after)) = entity_tag(rest) else { return Condition::Malformed };
                    tags.push(tag);
                    rest = trim_ows_start(after);
                    match rest.first() {
                        None => return Condition::Tags(tags),
                        Some(b',') => rest = &rest[1..],
                        Some(_) => return Condition::Malformed,
                    }
                }
            }
        }
    }
}

/// `entity-tag = [ weak ] opaque-tag`, `weak = %s"W/"`, `opaque-tag = DQUOTE *etagc DQUOTE`,
/// `etagc = %x21 / %x23-7E / obs-text`: the tag at the start of `input` and what follows it.
fn entity_tag(input: &[u8]) -> Option<(EntityTag, &[u8])> {
    let (weak, opaque) = match input.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, input),
    };
    let inner = opaque.strip_prefix(b"\"")?;
    let end = inner.iter().position(|&b| b == b'"')?;
    let is_etagc = |b: u8| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80;
    if !inner[..end].iter().all(|&b| is_etagc(b)) {
        return None;
    }
    let quoted = opaque[..end + 2].to_vec();
    Some((EntityTag { weak, quoted }, &inner[end + 1..]))
}

fn trim_ows_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    s = trim_ows_start(s);
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The request's field of this name, parsed: `None` when absent.
fn condition(req: &Request, name: HeaderName) -> Option<Condition> {
    let mut lines = req.headers().get_all(name).iter().peekable();
    lines.peek()?;
    let joined = lines.map(|v| v.as_bytes()).collect::<Vec<_>>().join(&b", "[..]);
    Some(Condition::parse(&joined))
}

/// `If-Match` (strong comparison): `412` unless `*` is given or the current tag is listed.
/// `current` is `None` when the item does not exist. A malformed value is a false condition
/// (RFC 9110 §13.1.1, step 3), so it is `412` as well.
pub fn check_if_match(req: &Request, current: Option<&str>) -> ApiResult<()> {
    let Some(condition) = condition(req, header::IF_MATCH) else { return Ok(()) };
    let holds = match (condition, current) {
        (_, None) => false,
        (Condition::Any, Some(_)) => true,
        (Condition::Tags(tags), Some(current)) => tags.iter().any(|t| t.strongly_matches(current)),
        (Condition::Malformed, Some(_)) => false,
    };
    if holds {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed)
    }
}

/// Whether the request said `If-Match` (whatever its value): such a write is conditional.
pub fn has_if_match(req: &Request) -> bool {
    req.headers().contains_key(header::IF_MATCH)
}

/// `If-None-Match` (weak comparison): true when a GET should answer `304`. A malformed value is
/// a true condition (RFC 9110 §13.1.2, step 3): the GET is answered as without it.
pub fn not_modified(req: &Request, current: &str) -> bool {
    match condition(req, header::IF_NONE_MATCH) {
        Some(Condition::Any) => true,
        Some(Condition::Tags(tags)) => tags.iter().any(|t| t.weakly_matches(current)),
        Some(Condition::Malformed) | None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURRENT: &str = "\"0123456789abcdef0123456789abcdef\"";
    const OTHER: &str = "\"ffffffffffffffffffffffffffffffff\"";

    fn request(name: &str, values: &[&[u8]]) -> Request {
        let mut builder = http::Request::builder();
        for v in values {
            builder = builder.header(name, http::HeaderValue::from_bytes(v).unwrap());
        }
        builder.body(Vec::new()).unwrap()
    }

    fn if_match(values: &[&str]) -> u16 {
        let values: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
        match check_if_match(&request("if-match", &values), Some(CURRENT)) {
            Ok(()) => 200,
            Err(e) => e.status().as_u16(),
        }
    }

    fn if_none_match(values: &[&str]) -> bool {
        let values: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
        not_modified(&request("if-none-match", &values), CURRENT)
    }

    #[test]
    fn parses_star_lists_and_malformed_values() {
        let tag = |weak, t: &str| EntityTag { weak, quoted: t.as_bytes().to_vec() };
        assert_eq!(Condition::parse(b" * "), Condition::Any);
        assert_eq!(Condition::parse(b""), Condition::Tags(vec![]));
        assert_eq!(Condition::parse(b" , ,"), Condition::Tags(vec![]));
        assert_eq!(Condition::parse(b"\"a\",W/\"b\" ,\t\"\""), Condition::Tags(vec![tag(false, "\"a\""), tag(true, "\"b\""), tag(false, "\"\"")]));
        // A comma inside the quotes belongs to the tag.
        assert_eq!(Condition::parse(b"\"a,b\""), Condition::Tags(vec![tag(false, "\"a,b\"")]));
        // obs-text is allowed in a tag (it can never match one of ours).
        assert_eq!(Condition::parse(b"\"\xe9\""), Condition::Tags(vec![EntityTag { weak: false, quoted: b"\"\xe9\"".to_vec() }]));
        for malformed in [&b"abc"[..], b"\"a\", *", b"*, *", b"w/\"a\"", b"\"a", b"\"a\" \"b\"", b"\"a\"b", b"\"a b\"", b"W/ \"a\""] {
            assert_eq!(Condition::parse(malformed), Condition::Malformed, "{}", String::from_utf8_lossy(malformed));
        }
    }

    #[test]
    fn if_match_compares_strongly_and_fails_when_malformed() {
        assert_eq!(if_match(&[CURRENT]), 200);
        assert_eq!(if_match(&["*"]), 200);
        assert_eq!(if_match(&[&format!("{OTHER}, {CURRENT}")]), 200);
        assert_eq!(if_match(&[OTHER, CURRENT]), 200, "two field lines are one list");
        assert_eq!(if_match(&[OTHER]), 412);
        assert_eq!(if_match(&[&format!("W/{CURRENT}")]), 412, "a weak tag never matches strongly");
        // An empty list names no tag; malformed values are false conditions.
        for value in ["", " , ", &format!("{CURRENT}, *"), &format!("{CURRENT}, junk"), "junk", &CURRENT[1..33]] {
            assert_eq!(if_match(&[value]), 412, "If-Match: {value}");
        }
        assert_eq!(if_match(&["*", "*"]), 412, "two `*` lines are a list, not `*`");
        let req = request("if-match", &[b"*"]);
        assert_eq!(check_if_match(&req, None), Err(ApiError::PreconditionFailed), "`*` needs a current item");
        assert_eq!(check_if_match(&request("x", &[]), None), Ok(()), "no field, no condition");
    }

    #[test]
    fn if_none_match_compares_weakly_and_ignores_malformed_values() {
        assert!(if_none_match(&[CURRENT]));
        assert!(if_none_match(&[&format!("W/{CURRENT}")]));
        assert!(if_none_match(&[&format!("{OTHER}, {CURRENT}")]));
        assert!(if_none_match(&["*"]));
        assert!(if_none_match(&[OTHER, CURRENT]));
        assert!(!if_none_match(&[OTHER]));
        assert!(!if_none_match(&[""]));
        for value in [&format!("{CURRENT}, *"), &format!("{CURRENT}, junk"), &format!("w/{CURRENT}"), &CURRENT[1..33]] {
            assert!(!if_none_match(&[value]), "If-None-Match: {value} is malformed: answered as without it");
        }
    }
}
