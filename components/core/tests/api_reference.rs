//! `docs/api.md` and `/openapi.json` describe the same API: the same routes (method and path),
//! each with the same statuses, and every status's problem type.
//!
//! `docs/api.md` follows a convention, stated at its top, that this test reads:
//! - a route is a level-3 heading `### METHOD /path`;
//! - the rows of the table under that heading whose first cell is a status (`200`, `` `404` ``)
//!   are the statuses the route answers besides the common ones;
//! - the common ones are the status rows under the heading `## Statuses every route can answer`.
//!
//! Fenced code blocks are skipped.

use std::collections::{BTreeMap, BTreeSet};

use http::StatusCode;
use serde_json::Value as Json;
use spincrud_core::openapi::{self, EVERY_OPERATION};
use spincrud_core::problem::problem_type;

type Route = (String, String);
type Statuses = BTreeSet<u16>;

const COMMON_HEADING: &str = "## Statuses every route can answer";
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn reference() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What a line of the reference starts.
enum Section {
    Route(Route),
    Common,
    Other,
}

/// The routes of the reference with their own statuses, and the common statuses.
fn parse(markdown: &str) -> (BTreeMap<Route, Statuses>, Statuses) {
    let mut routes: BTreeMap<Route, Statuses> = BTreeMap::new();
    let mut common = Statuses::new();
    let mut section = Section::Other;
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if line.starts_with('#') {
            section = heading(line);
            if let Section::Route(route) = &section {
                assert!(routes.insert(route.clone(), Statuses::new()).is_none(), "docs/api.md documents {route:?} twice");
            }
            continue;
        }
        let Some(status) = status_row(line) else { continue };
        match &section {
            Section::Route(route) => {
                routes.get_mut(route).expect("inserted at its heading").insert(status);
            }
            Section::Common => {
                common.insert(status);
            }
            Section::Other => {}
        }
    }
    (routes, common)
}

fn heading(line: &str) -> Section {
    if line.trim_end() == COMMON_HEADING {
        return Section::Common;
    }
    let Some(rest) = line.strip_prefix("### ") else { return Section::Other };
    match rest.trim().split_once(' ') {
        Some((method, path)) if METHODS.contains(&method) && path.starts_with('/') && !path.contains(' ') => {
            Section::Route((method.to_string(), path.to_string()))
        }
        _ => Section::Other,
    }
}

/// The status in a table row's first cell, if it is one.
fn status_row(line: &str) -> Option<u16> {
    let cell = line.trim().strip_prefix('|')?.split('|').next()?.trim().trim_matches('`');
    (cell.len() == 3).then(|| cell.parse().ok()).flatten()
}

/// Every operation of the OpenAPI document with the statuses it answers.
fn operations(doc: &Json) -> BTreeMap<Route, Statuses> {
    let mut ops = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            let statuses = op["responses"].as_object().expect("responses").keys().map(|s| s.parse().expect("a status")).collect();
            ops.insert((method.to_uppercase(), path.clone()), statuses);
        }
    }
    ops
}

#[test]
fn routes_and_statuses_match_the_openapi_document() {
    let (documented, common) = parse(&reference());
    let ops = operations(&openapi::document(openapi::Security::default()));
    assert_eq!(common, EVERY_OPERATION.into_iter().collect(), "the common statuses of docs/api.md and openapi::EVERY_OPERATION");
    let undocumented: Vec<&Route> = ops.keys().filter(|r| !documented.contains_key(*r)).collect();
    let unknown: Vec<&Route> = documented.keys().filter(|r| !ops.contains_key(*r)).collect();
    assert!(undocumented.is_empty(), "operations missing from docs/api.md: {undocumented:?}");
    assert!(unknown.is_empty(), "docs/api.md routes that /openapi.json does not have: {unknown:?}");
    for (route, statuses) in &documented {
        assert!(!statuses.is_empty(), "docs/api.md: {route:?} has no status table");
        let with_common: Statuses = statuses.union(&common).copied().collect();
        assert_eq!(&with_common, &ops[route], "{} {}: statuses of docs/api.md (with the common ones) and /openapi.json", route.0, route.1);
    }
}

#[test]
fn every_status_has_its_problem_type_documented() {
    let markdown = reference();
    let ops = operations(&openapi::document(openapi::Security::default()));
    let mut statuses: Statuses = ops.values().flatten().copied().filter(|s| *s >= 400).collect();
    statuses.insert(405);
    for status in statuses {
        let (slug, title) = problem_type(StatusCode::from_u16(status).unwrap());
        let row = format!("| {status} | `{slug}` | {title} |");
        assert!(markdown.contains(&row), "docs/api.md's problem types lack the row `{row}`");
    }
}

#[test]
fn the_documents_stand_on_their_own() {
    for name in ["api.md", "contract-notes.md"] {
        let path = format!("{}/../../docs/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("../shared"), "{path} points outside the repository");
    }
}

#[test]
fn the_convention_is_read_as_documented() {
    let sample = "## Statuses every route can answer\n| status | when |\n|---|---|\n| 500 | failed |\n\
        ### GET /cats/{id}\ntext\n| status | when |\n|---|---|\n| `200` | ok |\n| 404 | none |\n\
        ```\n| 418 | in code |\n```\n### Cats\n| 201 | not a route |\n";
    let (routes, common) = parse(sample);
    assert_eq!(common, [500].into());
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[&("GET".to_string(), "/cats/{id}".to_string())], [200, 404].into());
}
