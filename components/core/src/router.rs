//! Paths and methods to handlers: the one routing table of the API.

use http::Method;

use crate::clock::canonical_uuid;
use crate::resource::definitions::{CATS, CONFIGS, PASSENGERS, USERS};
use crate::resource::handlers::{COLLECTION_METHODS, ITEM_METHODS};
use crate::resource::{Key, Resource};

/// What a path addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Collection(&'static Resource),
    /// An item by its stored key; `None` when the path's key cannot exist (not a UUID).
    Item(&'static Resource, Option<String>),
    DataCollection,
    DataItem(String),
    Healthz,
    Readyz,
    Hello,
    OpenApi,
}

/// A matched route: its template (for metrics and logs), target and methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub template: &'static str,
    pub target: Target,
    pub methods: &'static [Method],
}

impl PartialEq for Resource {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

const GET: &[Method] = &[Method::GET, Method::HEAD];
const POST: &[Method] = &[Method::POST];
const PUT: &[Method] = &[Method::PUT];
const DELETE: &[Method] = &[Method::DELETE];
const DATA_COLLECTION: &[Method] = &[Method::GET, Method::HEAD, Method::POST, Method::DELETE];
const DATA_ITEM: &[Method] = &[Method::GET, Method::HEAD, Method::DELETE];

/// The route templates of the API, for documents and checks (`{id}` marks a path parameter).
pub const TEMPLATES: &[&str] = &[
    "/cats", "/cats/{id}", "/passengers", "/passengers/{id}", "/configs", "/configs/{dcname}", "/search",
    "/users", "/users/{id}", "/data", "/data/{id}", "/passengerlist", "/getpassenger/{id}",
    "/postpassenger", "/putpassenger/{id}", "/deletepassenger/{id}", "/healthz", "/readyz", "/hello",
    "/openapi.json",
];

/// Matches a path (without query). `None` is an unknown route.
pub fn route(path: &str) -> Option<Route> {
    let rest = path.strip_prefix('/')?;
    let (first, second) = match rest.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    // An item segment is one non-empty segment, percent-decoded.
    let item = match second {
        None => None,
        Some(s) if s.is_empty() || s.contains('/') => return None,
        Some(s) => Some(percent_encoding::percent_decode_str(s).decode_utf8().ok()?.into_owned()),
    };
    let resource = |r: &'static Resource, collection: &'static str, item_template: &'static str, item: &Option<String>| match item {
        None => Route { template: collection, target: Target::Collection(r), methods: COLLECTION_METHODS },
        Some(key) => Route { template: item_template, target: Target::Item(r, item_key(r, key)), methods: ITEM_METHODS },
    };
    let seed = |template: &'static str, target: Target, methods: &'static [Method]| Route { template, target, methods };
    Some(match (first, item.clone()) {
        ("cats", _) => resource(&CATS, "/cats", "/cats/{id}", &item),
        ("passengers", _) => resource(&PASSENGERS, "/passengers", "/passengers/{id}", &item),
        ("configs", _) => resource(&CONFIGS, "/configs", "/configs/{dcname}", &item),
        ("users", _) => resource(&USERS, "/users", "/users/{id}", &item),
        ("data", None) => seed("/data", Target::DataCollection, DATA_COLLECTION),
        ("data", Some(id)) => seed("/data/{id}", Target::DataItem(id), DATA_ITEM),
        ("search", None) => seed("/search", Target::Collection(&CONFIGS), GET),
        ("passengerlist", None) => seed("/passengerlist", Target::Collection(&PASSENGERS), GET),
        ("postpassenger", None) => seed("/postpassenger", Target::Collection(&PASSENGERS), POST),
        ("getpassenger", Some(id)) => seed("/getpassenger/{id}", Target::Item(&PASSENGERS, canonical_uuid(&id)), GET),
        ("putpassenger", Some(id)) => seed("/putpassenger/{id}", Target::Item(&PASSENGERS, canonical_uuid(&id)), PUT),
        ("deletepassenger", Some(id)) => seed("/deletepassenger/{id}", Target::Item(&PASSENGERS, canonical_uuid(&id)), DELETE),
        ("healthz", None) => seed("/healthz", Target::Healthz, GET),
        ("readyz", None) => seed("/readyz", Target::Readyz, GET),
        ("hello", None) => seed("/hello", Target::Hello, GET),
        ("openapi.json", None) => seed("/openapi.json", Target::OpenApi, GET),
        _ => return None,
    })
}

/// The stored key a path segment names, or `None` when no item can have it (not a UUID; a
/// `dcname` that breaks its own rules): such a path is `404` whatever the method or body.
fn item_key(r: &Resource, segment: &str) -> Option<String> {
    match r.key {
        Key::Id => canonical_uuid(segment),
        Key::Field(name) => {
            let field = r.field(name)?;
            field.check(Some(&serde_json::Value::String(segment.to_string()))).ok().map(|_| segment.to_string())
        }
    }
}

impl Target {
    /// Operations routes stay public even when reads need a token: probes carry no secrets.
    pub fn is_public(&self) -> bool {
        matches!(self, Target::Healthz | Target::Readyz | Target::Hello | Target::OpenApi)
    }
}
