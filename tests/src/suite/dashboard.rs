//! The Grafana dashboard (`k8s/components/monitoring/spincrud-dashboard.json`) against a running
//! server's `/metrics`: every metric a query names is one the server exposes (on the native
//! engine, all but the wasm engine's `wasm_*`), every label a query matches or groups by is one
//! of that metric's labels (or Prometheus's own `job`, `instance`, and a histogram's `le`), and
//! every metric family the server exposes has a panel.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use super::tests;
use crate::harness::{Ctx, Engine};

pub const TESTS: super::Plain = tests![the_dashboard_asks_for_what_the_server_exposes];

/// Labels Prometheus adds to every scraped series, and a histogram bucket's bound.
const SCRAPE_LABELS: [&str; 3] = ["job", "instance", "le"];

/// PromQL words that are not metric names: aggregations (which `by (…)` may follow before their
/// `(`) and operators; functions are recognised by the `(` that follows them.
const KEYWORDS: [&str; 24] = [
    "sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio",
    "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "inf",
];

fn the_dashboard_asks_for_what_the_server_exposes(ctx: &Ctx) {
    let api = ctx.api();
    // Requests of every kind the panels count: a success, a client error, a store read.
    api.get("/healthz").send().expect(200);
    api.get("/cats?limit=1").send().expect(200);
    api.get("/nope").send().expect(404);
    api.get("/data?limit=1").send().expect(200);
    let resp = api.get("/metrics").send();
    resp.expect(200);
    let exposed = exposition(&resp.text());
    let families: BTreeSet<String> = resp.text().lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split_whitespace().next()).map(String::from).collect();

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("k8s/components/monitoring/spincrud-dashboard.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let queries = queries(&dashboard);
    assert!(queries.len() >= 10, "the dashboard has {} queries", queries.len());
    let mut used = BTreeSet::new();
    for (panel, expr) in &queries {
        let (metrics, labels) = scan(expr);
        assert!(!metrics.is_empty(), "panel `{panel}`: no metric in `{expr}`");
        for metric in &metrics {
            used.insert(metric.clone());
            if ctx.engine == Engine::Native && metric.starts_with("wasm_") {
                continue;
            }
            assert!(exposed.contains_key(metric), "panel `{panel}` asks for `{metric}`, which /metrics ({:?}) does not expose; it has: {:?}", ctx.engine, exposed.keys().collect::<Vec<_>>());
        }
        let known: BTreeSet<&str> = metrics.iter().filter_map(|m| exposed.get(m)).flatten().map(String::as_str).chain(SCRAPE_LABELS).collect();
        let checkable = metrics.iter().all(|m| exposed.contains_key(m));
        for label in labels.iter().filter(|_| checkable) {
            assert!(known.contains(label.as_str()), "panel `{panel}`: `{label}` is not a label of {metrics:?} (they have {known:?}): `{expr}`");
        }
    }
    // Every family the server exposes is on the dashboard (a histogram by its buckets).
    for family in &families {
        let shown = used.iter().any(|m| m == family || m.strip_prefix(family.as_str()).is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s)));
        assert!(shown, "/metrics exposes `{family}`, which no panel shows");
    }
}

/// Every query of the dashboard, with its panel's title (rows' panels too).
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for p in panels.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("").to_owned();
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((title.clone(), t["expr"].as_str().unwrap_or("").to_owned()));
            }
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The sample names of a Prometheus text exposition, each with the label names its samples carry.
fn exposition(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = out.entry(line[..name_end].to_owned()).or_default();
        if line[name_end..].starts_with('{') {
            let inner = &line[name_end + 1..line.rfind('}').unwrap_or(line.len())];
            labels.extend(label_names(inner));
        }
    }
    out
}

/// The label names of a matcher list (`a="x",b=~"y"`), skipping the quoted values.
fn label_names(inner: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = inner;
    while let Some(op) = rest.find(['=', '!']) {
        let name = rest[..op].trim().trim_start_matches(',').trim();
        if !name.is_empty() {
            names.push(name.to_owned());
        }
        // Past the quoted value (PromQL and the exposition escape `"` as `\"`).
        let Some(open) = rest[op..].find('"').map(|i| op + i) else { break };
        let mut i = open + 1;
        let bytes = rest.as_bytes();
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        rest = &rest[(i + 1).min(rest.len())..];
    }
    names
}

/// The metric names and the label names (in matchers, `by` and `without`) of a PromQL
/// expression. Grafana's `$variables` are left out.
fn scan(expr: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut metrics, mut labels) = (BTreeSet::new(), BTreeSet::new());
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut grouping = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '{' {
            let end = chars[i..].iter().position(|&c| c == '}').map_or(chars.len(), |p| i + p);
            labels.extend(label_names(&chars[i + 1..end].iter().collect::<String>()));
            i = end + 1;
        } else if c == '[' {
            i = chars[i..].iter().position(|&c| c == ']').map_or(chars.len(), |p| i + p + 1);
        } else if c == '$' {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if word == "by" || word == "without" {
                grouping = true;
            } else if next == Some(&'(') {
                // A function or an aggregation.
            } else if !KEYWORDS.contains(&word.as_str()) {
                metrics.insert(word);
            }
        } else if c == '(' && grouping {
            let end = chars[i..].iter().position(|&c| c == ')').map_or(chars.len(), |p| i + p);
            let inner: String = chars[i + 1..end].iter().collect();
            labels.extend(inner.split(',').map(str::trim).filter(|l| !l.is_empty()).map(String::from));
            grouping = false;
            i = end + 1;
        } else {
            i += 1;
        }
    }
    (metrics, labels)
}

#[cfg(test)]
mod scan_tests {
    use super::scan;

    #[test]
    fn finds_metrics_and_labels_of_a_query() {
        let (metrics, labels) = scan(r#"histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{job=~"$job", status=~"5.."}[$__rate_interval]))) / sum(up{x="a\"b"})"#);
        assert_eq!(metrics.into_iter().collect::<Vec<_>>(), ["http_request_duration_seconds_bucket", "up"]);
        assert_eq!(labels.into_iter().collect::<Vec<_>>(), ["job", "le", "route", "status", "x"]);
    }
}
