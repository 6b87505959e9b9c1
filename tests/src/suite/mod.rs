//! The tests: one module per area, plain `fn(&Ctx)` functions registered below. A test
//! panics to fail. Tests run in parallel on shared servers, so each creates its own items,
//! tagged with a unique value, and filters lists by that tag.

use crate::harness::{Ctx, Engine, Stores};

mod resources;
pub(crate) mod support;

mod auth;
mod bodies;
mod bulk;
mod cats;
mod compression;
mod conditional;
mod configs;
mod cors;
mod csv_import;
mod cursors;
mod dashboard;
mod data;
mod faults;
mod items;
mod lists;
mod ops;
mod passengers;
mod routing;
mod search;
mod seed_routes;
mod telemetry;
mod users;

use resources::Resource;

pub type Body = Box<dyn FnOnce(&Ctx) + Send>;

pub struct Case {
    pub name: String,
    pub body: Body,
}

type Plain = &'static [(&'static str, fn(&Ctx))];
type PerResource = &'static [(&'static str, fn(&Ctx, &'static Resource))];

/// `tests![a, b]` → `&[("a", a as fn(&Ctx)), ("b", b as fn(&Ctx))]`.
macro_rules! tests {
    ($($f:ident),* $(,)?) => { &[$((stringify!($f), $f as fn(&crate::harness::Ctx))),*] };
}
/// Like `tests!` for `fn(&Ctx, &Resource)`, expanded once per SQL resource.
macro_rules! resource_tests {
    ($($f:ident),* $(,)?) => {
        &[$((stringify!($f), $f as fn(&crate::harness::Ctx, &'static crate::suite::resources::Resource))),*]
    };
}
pub(crate) use {resource_tests, tests};

/// Every test for an engine and a store set, named `area::test` or `area::test::resource`.
pub fn all(engine: Engine, stores: Stores) -> Vec<Case> {
    // Stopping and restarting a store only means something for the networked ones.
    let outages: &[Plain] = match (stores, engine) {
        (Stores::Embedded, _) => &[],
        (Stores::PostgresRedis, Engine::Spin) => &[faults::OUTAGE_TESTS, faults::SPIN_REDIS_OUTAGE_TESTS],
        (Stores::PostgresRedis, _) => &[faults::OUTAGE_TESTS, faults::HOST_RUNNER_REDIS_OUTAGE_TESTS],
    };
    // What only host-runner's own server has (metrics, traces it makes, deadlines), what only its
    // wasm engine has (the components' memory growths), and what Spin answers in their place.
    let host_runner: &[(&str, Plain)] = &[("ops", ops::HOST_RUNNER_TESTS), ("ops", dashboard::TESTS), ("faults", faults::SERVER_TESTS), ("telemetry", telemetry::TESTS)];
    let engine_specific: Vec<(&str, Plain)> = match engine {
        Engine::Native => host_runner.to_vec(),
        Engine::Wasm => [host_runner, &[("ops", ops::WASM_TESTS)]].concat(),
        Engine::Spin => vec![("ops", ops::SPIN_TESTS)],
    };
    let plain: &[(&str, Plain)] = &[
        ("ops", ops::TESTS),
        ("routing", routing::TESTS),
        ("bodies", bodies::TESTS),
        ("auth", auth::TESTS),
        ("lists", lists::TESTS),
        ("cursors", cursors::TESTS),
        ("cors", cors::TESTS),
        ("compression", compression::TESTS),
        ("cats", cats::TESTS),
        ("passengers", passengers::TESTS),
        ("csv_import", csv_import::TESTS),
        ("seed_routes", seed_routes::TESTS),
        ("configs", configs::TESTS),
        ("search", search::TESTS),
        ("users", users::TESTS),
        ("data", data::TESTS),
        ("faults", faults::TESTS),
    ];
    let per_resource: &[(&str, PerResource)] = &[
        ("items", items::TESTS),
        ("conditional", conditional::TESTS),
        ("bulk", bulk::TESTS),
    ];

    let mut cases = Vec::new();
    let outages: Vec<(&str, Plain)> = outages.iter().map(|tests| ("faults", *tests)).collect();
    for (area, tests) in plain.iter().chain(&engine_specific).chain(&outages) {
        for (name, f) in tests.iter() {
            let f = *f;
            cases.push(Case {
                name: format!("{area}::{name}"),
                body: Box::new(move |ctx: &Ctx| f(ctx)),
            });
        }
    }
    for (area, tests) in per_resource {
        for (name, f) in tests.iter() {
            for resource in resources::ALL.iter() {
                let f = *f;
                cases.push(Case {
                    name: format!("{area}::{name}::{}", resource.name),
                    body: Box::new(move |ctx: &Ctx| f(ctx, resource)),
                });
            }
        }
    }
    cases
}
