//! spincrud beside its floors: on each engine that runs components (the Spin CLI when there is
//! one, and host-runner's wasm engine), spincrud's routes and the floor components' routes
//! (`bench/floor`: the least a spin-sdk component can do for the same request) are measured in
//! alternating rounds, on embedded SQLite and on PostgreSQL, so that each figure has its floor
//! beside it. Besides req/s and latency, the server's CPU time per request: the steadiest figure
//! on a machine that does other things too.
//!
//! The one-table SQLite floors are also measured on a database that holds spincrud's schema as
//! well: Spin opens a SQLite connection per instance, and SQLite reads the whole schema on each,
//! so the difference between the two is what spincrud's tables, indexes and triggers cost every
//! request on Spin. And the floors that read one Spin variable first (`database_url`, as spincrud
//! must to pick its store) show what that read costs; on spincrud's schema they are the most a
//! component configured by Spin variables can make of spincrud's database.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::launch::start_with;
use super::{median_round, ms, run_scenario, seed_items, workspace, Options, Scenario, Server, Stats};

/// A spincrud route and the floor it is held against.
struct Pair {
    what: &'static str,
    /// The measured scenario: spincrud's, or (in the rows without a floor) a floor's own.
    spincrud: Scenario,
    on: Serves,
    floor: Option<Scenario>,
}

/// Which server a pair's measured scenario runs on.
#[derive(Clone, Copy, PartialEq)]
enum Serves {
    Spincrud,
    /// The floor components.
    Floors,
    /// The floor components, their database holding spincrud's schema too.
    FloorsBesideSchema,
}

const EMBEDDED: [Pair; 10] = [
    Pair { what: "GET /healthz", spincrud: Scenario::Healthz, on: Serves::Spincrud, floor: Some(Scenario::Fixed("/floor/padded")) },
    Pair { what: "(floor \"ok\", unpadded)", spincrud: Scenario::Fixed("/floor/ok"), on: Serves::Floors, floor: None },
    Pair { what: "GET /cats/{id}", spincrud: Scenario::GetItem, on: Serves::Spincrud, floor: Some(SELECT) },
    Pair { what: "(floor SELECT + schema)", spincrud: SELECT, on: Serves::FloorsBesideSchema, floor: None },
    Pair { what: SELECT_CONFIGURED, spincrud: SELECT_AFTER_VARIABLE, on: Serves::Floors, floor: Some(SELECT) },
    Pair { what: SELECT_CONFIGURED_BESIDE_SCHEMA, spincrud: SELECT_AFTER_VARIABLE, on: Serves::FloorsBesideSchema, floor: None },
    Pair { what: "POST /cats", spincrud: Scenario::Create, on: Serves::Spincrud, floor: Some(INSERT) },
    Pair { what: "(floor INSERT + schema)", spincrud: INSERT, on: Serves::FloorsBesideSchema, floor: None },
    Pair { what: INSERT_CONFIGURED_BESIDE_SCHEMA, spincrud: INSERT_AFTER_VARIABLE, on: Serves::FloorsBesideSchema, floor: None },
    Pair { what: "GET /cats?limit=20", spincrud: Scenario::List20, on: Serves::Spincrud, floor: None },
];

const SELECT: Scenario = Scenario::GetEach("/floor/sqlite/items/{id}");
const INSERT: Scenario = Scenario::PostText("/floor/sqlite/items");
const SELECT_AFTER_VARIABLE: Scenario = Scenario::GetEach("/floor/sqlite/configured/{id}");
const INSERT_AFTER_VARIABLE: Scenario = Scenario::PostText("/floor/sqlite/configured");
const SELECT_CONFIGURED: &str = "(floor SELECT + variable)";
const SELECT_CONFIGURED_BESIDE_SCHEMA: &str = "(floor SELECT + var + schema)";
const INSERT_CONFIGURED_BESIDE_SCHEMA: &str = "(floor INSERT + var + schema)";

/// The rows that read a variable first.
const CEILING_ROWS: [&str; 3] = [SELECT_CONFIGURED, SELECT_CONFIGURED_BESIDE_SCHEMA, INSERT_CONFIGURED_BESIDE_SCHEMA];

/// spincrud's embedded routes and the floor that reads a variable beside spincrud's schema: the
/// most a component configured by Spin variables can make of spincrud's database.
const BESIDE_CONFIGURED: [(&str, &str, &str); 2] = [("GET /cats/{id}", SELECT_CONFIGURED_BESIDE_SCHEMA, "SELECT"), ("POST /cats", INSERT_CONFIGURED_BESIDE_SCHEMA, "INSERT")];

const POSTGRES: [Pair; 2] = [
    Pair { what: "GET /cats/{id}", spincrud: Scenario::GetItem, on: Serves::Spincrud, floor: Some(Scenario::GetEach("/floor/pg/items/{id}")) },
    Pair { what: "POST /cats", spincrud: Scenario::Create, on: Serves::Spincrud, floor: Some(Scenario::PostText("/floor/pg/items")) },
];

/// What the floors are held to: spincrud at 80% of its floor's throughput, p99 under 200 ms.
const RATIO: f64 = 0.8;
const P99_US: f64 = 200_000.0;

/// `(engine, stores, what)` → (spincrud, floor).
type Figures = BTreeMap<(String, &'static str, &'static str), (Stats, Option<Stats>)>;

pub async fn run(o: &Options, scratch: &Path) -> u64 {
    let engines: Vec<&String> = o.engines.iter().filter(|e| *e != "native").collect();
    let (pg_env, _stores) = super::at_size::store_env("postgres", "bench-floors");
    let database = pg_env.iter().find(|(k, _)| *k == "DATABASE_URL").map(|(_, v)| v.clone()).expect("a database URL");
    let floors_database = database.rsplit_once('/').map(|(server, _)| format!("{server}/floors")).expect("a database name");
    create_database(&pg_env, "floors");
    let floor_manifest = workspace().join("bench/floor/spin.toml");
    let mut figures = Figures::new();
    let mut failed = 0;
    for engine in engines {
        for (stores, pairs) in [("embedded", &EMBEDDED[..]), ("postgres", &POSTGRES[..])] {
            eprintln!("spincrud-bench: floors, {engine}, {stores}");
            let spincrud_env: Vec<(&str, String)> = if stores == "postgres" { pg_env.clone() } else { Vec::new() };
            // The floors' app, with or without spincrud's schema migrated into its database.
            let floor_env = |with_schema: bool| {
                let mut env = vec![("SPIN_MANIFEST", floor_manifest.display().to_string()), ("SKIP_MIGRATIONS", (!with_schema).to_string())];
                if stores == "postgres" {
                    env.push(("DATABASE_URL", floors_database.clone()));
                }
                env
            };
            let dir = scratch.join(format!("floors-{engine}-{stores}"));
            let (spincrud, _) = start_with(engine, &dir.join("spincrud"), o.binary.as_deref(), &spincrud_env).await;
            let (floors, _) = start_with(engine, &dir.join("floors"), o.binary.as_deref(), &floor_env(false)).await;
            let ids = seed_items(spincrud.addr).await;
            let setup = if stores == "postgres" { "/floor/pg/setup" } else { "/floor/sqlite/setup" };
            set_up(&floors, setup, engine).await;
            // The same floors, their SQLite database holding spincrud's schema too.
            let beside_schema = match stores {
                "embedded" => {
                    let (server, _) = start_with(engine, &dir.join("floors-beside-schema"), o.binary.as_deref(), &floor_env(true)).await;
                    set_up(&server, setup, engine).await;
                    Some(server)
                }
                _ => None,
            };
            let floor_ids: Arc<Vec<String>> = Arc::new((1..=100).map(|i| i.to_string()).collect());
            // The variable's cost is Spin's (host-runner reads variables in place): the rows that
            // show it run on Spin only, which keeps CI's run shorter.
            for pair in pairs.iter().filter(|p| engine == "spin" || !CEILING_ROWS.contains(&p.what)) {
                let server = match pair.on {
                    Serves::Spincrud => (&spincrud, &ids),
                    Serves::Floors => (&floors, &floor_ids),
                    Serves::FloorsBesideSchema => (beside_schema.as_ref().expect("embedded stores only"), &floor_ids),
                };
                let (mine, floor) = measure(o, pair, server, (&floors, &floor_ids)).await;
                failed += mine.errors + floor.as_ref().map_or(0, |f| f.errors);
                figures.insert((engine.clone(), stores, pair.what), (mine, floor));
            }
            spincrud.stop();
            floors.stop();
            if let Some(server) = beside_schema {
                server.stop();
            }
        }
    }
    print!("{}", report(o, &figures));
    failed
}

/// Creates the floors' table (and rows).
async fn set_up(floors: &Server, setup: &str, engine: &str) {
    let mut conn = super::Conn::connect(floors.addr).await.expect("connect");
    match conn.send("POST", setup, None).await {
        Ok((200, _)) => {}
        other => super::die(&format!("{setup} on the floors ({engine}): {other:?}")),
    }
}

/// The pair's two scenarios in alternating rounds (the first on `server`); the median round of
/// each.
async fn measure(o: &Options, pair: &Pair, server: (&Server, &Arc<Vec<String>>), floors: (&Server, &Arc<Vec<String>>)) -> (Stats, Option<Stats>) {
    let (warmup, time) = (Duration::from_millis(500), Duration::from_secs_f64(o.seconds));
    let concurrency = o.floor_concurrency;
    let mut mine = Vec::new();
    let mut floor = Vec::new();
    let (server, ids) = server;
    for _ in 0..o.rounds {
        mine.push(run_scenario(server.addr, server.pid(), pair.spincrud, ids.clone(), concurrency, warmup, time).await);
        if let Some(scenario) = pair.floor {
            floor.push(run_scenario(floors.0.addr, floors.0.pid(), scenario, floors.1.clone(), concurrency, warmup, time).await);
        }
    }
    let floor = (!floor.is_empty()).then(|| median_round(floor));
    (median_round(mine), floor)
}

fn create_database(pg_env: &[(&str, String)], name: &str) {
    let url = pg_env.iter().find(|(k, _)| *k == "DATABASE_URL").map(|(_, v)| v.as_str()).expect("a database URL");
    let status = std::process::Command::new("psql")
        .arg(url)
        .args(["-q", "-c", &format!("CREATE DATABASE {name}")])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| super::die(&format!("cannot run psql: {e}")));
    if !status.success() {
        super::die(&format!("CREATE DATABASE {name} failed"));
    }
}

fn report(o: &Options, figures: &Figures) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nfloors: spincrud beside the least a component can do, concurrency {}, median of {} rounds of {} s (alternating)", o.floor_concurrency, o.rounds, o.seconds);
    let _ = writeln!(out, "  {:<7} {:<9} {:<26} {:>9} {:>10} {:>10} {:>9}   {:>9} {:>10} {:>9}  {:>6}", "engine", "stores", "scenario", "req/s", "p50", "p99", "CPU/req", "floor/s", "floor p99", "CPU/req", "ratio");
    for ((engine, stores, what), (mine, floor)) in figures {
        let floor_text = match floor {
            Some(f) => format!("{:>9.0} {:>10} {:>7.0}µs  {:>5.0}%", f.rps(), ms(f.p99_us), f.cpu_us_per_request(), 100.0 * mine.rps() / f.rps()),
            None => String::new(),
        };
        let _ = writeln!(out, "  {engine:<7} {stores:<9} {what:<26} {:>9.0} {:>10} {:>10} {:>7.0}µs   {floor_text}", mine.rps(), ms(mine.p50_us), ms(mine.p99_us), mine.cpu_us_per_request());
    }
    let mark = |ok: bool| if ok { "met" } else { "NOT met" };
    let _ = writeln!(out, "\ntargets (issue 17, on Spin): spincrud at {:.0}% of its floor or more; p99 under {} at concurrency {}:", RATIO * 100.0, ms(P99_US), o.floor_concurrency);
    for ((engine, stores, what), (mine, floor)) in figures.iter().filter(|((e, ..), _)| e == "spin") {
        if let Some(f) = floor.as_ref().filter(|_| !what.starts_with('(')) {
            let ratio = mine.rps() / f.rps();
            let _ = writeln!(out, "  {engine}/{stores}: {what}: {:.0}%  {}", ratio * 100.0, mark(ratio >= RATIO));
        }
        if stores == &"embedded" && !what.starts_with('(') {
            let _ = writeln!(out, "  {engine}/{stores}: {what}: p99 {}  {}", ms(mine.p99_us), mark(mine.p99_us < P99_US));
        }
    }
    // What the targets above ask for beside what Spin leaves reachable: a component that reads
    // one variable, on a database holding spincrud's schema, against the one-table floor; and
    // spincrud against that component.
    let mut ceilings = String::new();
    for (route, configured, floor) in BESIDE_CONFIGURED {
        let key = |what| ("spin".to_owned(), "embedded", what);
        if let (Some((mine, Some(one_table))), Some((reachable, _))) = (figures.get(&key(route)), figures.get(&key(configured))) {
            let _ = writeln!(
                ceilings,
                "  {configured} at {:.0}% of the one-table {floor}; {route} at {:.0}% of it",
                100.0 * reachable.rps() / one_table.rps(),
                100.0 * mine.rps() / reachable.rps()
            );
        }
    }
    if !ceilings.is_empty() {
        let _ = write!(out, "\non Spin's SQLite, the most a component configured by a Spin variable can make of spincrud's database:\n{ceilings}");
    }
    out
}
