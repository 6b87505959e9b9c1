//! The benchmark at size: `/data` pages at 1,000 and at 45,716 records (NASA's size), lists at
//! 1,000 rows and at a large row count, on each engine over each store set (embedded SQLite and
//! key-value store; PostgreSQL and Redis, throwaway servers started here), and a soak of
//! `GET /healthz` with host-runner's memory after each run.
//!
//! Each store set is seeded once and served by one engine after the other on the same data, so
//! the engines read the same rows. Each figure is one run of `--seconds` at `--concurrency`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{die, rss_kib, run_scenario, start_with, Conn, Options, Scenario, Stats};

/// What to run at size.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Rows of the large list.
    pub rows: u64,
    /// Records of the large `/data` load (the generated full-size dataset).
    pub records: u64,
    pub stores: Vec<String>,
    /// Seconds of each soak run (three per engine).
    pub soak_seconds: f64,
}

impl Sizes {
    /// What CI affords: the full dataset, 100,000 rows, 10 s soaks.
    pub fn ci() -> Sizes {
        Sizes { rows: 100_000, records: 45_716, stores: vec!["embedded".into(), "postgres".into()], soak_seconds: 10.0 }
    }

    /// `--at-size full`: a million rows and 20 s soaks (the README records its figures).
    pub fn full() -> Sizes {
        Sizes { rows: 1_000_000, soak_seconds: 20.0, ..Sizes::ci() }
    }
}

/// One figure: `(store set, engine, what)` → stats.
type Figures = BTreeMap<(String, String, &'static str), Stats>;

/// Names of the measured scenarios, in the order they are printed.
const DATA_SMALL: &str = "GET /data?start=500&limit=20      (1,000 records)";
const DATA_LARGE: &str = "GET /data?start=22858&limit=20    (45,716 records)";
const LIST_SMALL: &str = "GET /cats?limit=20                (1,000 rows)";
const LIST_LARGE: &str = "GET /cats?limit=20                (large)";
const LIST_FILTERED: &str = "GET /cats?color=black&limit=20    (large)";
const LIST_ORDERED: &str = "GET /cats?order=name.desc&limit=20 (large)";
const DEEP_CURSOR: &str = "GET /cats?limit=20&cursor=…        (at 90%)";
const DEEP_ORDERED_CURSOR: &str = "GET /cats?order=name.desc&limit=20&cursor=… (at 90%)";
const DEEP_OFFSET: &str = "GET /cats?limit=20&offset=…        (at 90%)";

pub async fn run(o: &Options, sizes: &Sizes, scratch: &Path) -> u64 {
    let full = scratch.join("full.json");
    generate_full(&full, sizes.records);
    let mut figures = Figures::new();
    let mut loads: Vec<(String, String, u64, Duration)> = Vec::new();
    let mut soaks: Vec<(String, Vec<(u64, u64)>)> = Vec::new();
    let mut failed = 0;
    for stores in &sizes.stores {
        let (env, _guards) = store_env(stores, "bench-postgres");
        for group in data_groups(stores, &o.engines) {
            failed += run_group(o, sizes, stores, &group, &env, scratch, &full, &mut figures, &mut loads, &mut soaks).await;
        }
    }
    report(o, sizes, &figures, &loads, &soaks);
    failed
}

/// The engines that can serve the same data, one group after another: host-runner's two engines
/// share their embedded stores, Spin keeps its own; on PostgreSQL + Redis all three share.
fn data_groups(stores: &str, engines: &[String]) -> Vec<Vec<String>> {
    if stores != "embedded" {
        return vec![engines.to_vec()];
    }
    let (spin, host_runner): (Vec<String>, Vec<String>) = engines.iter().cloned().partition(|e| e == "spin");
    [host_runner, spin].into_iter().filter(|g| !g.is_empty()).collect()
}

type Loads = Vec<(String, String, u64, Duration)>;
type Soaks = Vec<(String, Vec<(u64, u64)>)>;

/// One group of engines on one store set: seeded by its first engine, served by each in turn.
/// Returns the failed requests.
#[allow(clippy::too_many_arguments)]
async fn run_group(
    o: &Options,
    sizes: &Sizes,
    stores: &String,
    engines: &[String],
    env: &[(&'static str, String)],
    scratch: &Path,
    full: &Path,
    figures: &mut Figures,
    loads: &mut Loads,
    soaks: &mut Soaks,
) -> u64 {
    let mut failed = 0;
    {
        let data_dir = scratch.join(format!("at-size-{stores}-{}", engines.join("-")));
        let first = &engines[0];
        // Pass 1: /data at both sizes (each engine loads them: the load is a figure too), and the
        // list at 1,000 rows.
        for engine in engines {
            eprintln!("spincrud-bench: at size, {stores}, {engine}: /data and a 1,000-row list");
            let (server, _) = start_with(engine, &data_dir, o.binary.as_deref(), env).await;
            let addr = server.addr;
            let mut conn = Conn::connect(addr).await.expect("connect");
            for (records, body, name) in [(1000, None, DATA_SMALL), (sizes.records, Some(full), DATA_LARGE)] {
                send_ok(&mut conn, "DELETE", "/data", None, 204).await;
                let body = body.map(|p| std::fs::read_to_string(p).expect("the generated dataset"));
                let t = Instant::now();
                send_ok(&mut conn, "POST", "/data", body.as_deref(), 201).await;
                loads.push((stores.clone(), engine.clone(), records, t.elapsed()));
                failed += measure(o, figures, (stores, engine, name), addr, server.pid(), target_of(name)).await;
            }
            if engine == first {
                seed_cats(addr, 1_000).await;
            }
            failed += measure(o, figures, (stores, engine, LIST_SMALL), addr, server.pid(), "/cats?limit=20").await;
            server.stop();
        }
        // The table grows to its large size.
        let (server, _) = start_with(first, &data_dir, o.binary.as_deref(), env).await;
        seed_cats(server.addr, sizes.rows.saturating_sub(1_000)).await;
        server.stop();
        // Pass 2: lists at size, and (embedded stores) memory under a long load.
        for engine in engines {
            eprintln!("spincrud-bench: at size, {stores}, {engine}: {}-row lists", sizes.rows);
            let (server, _) = start_with(engine, &data_dir, o.binary.as_deref(), env).await;
            let addr = server.addr;
            for name in [LIST_LARGE, LIST_FILTERED, LIST_ORDERED] {
                failed += measure(o, figures, (stores, engine, name), addr, server.pid(), target_of(name)).await;
            }
            // Pages at 90% of the table: by the cursor of the page before (what following `Link`
            // does), and by offset for comparison.
            let depth = sizes.rows * 9 / 10;
            for (name, order) in [(DEEP_CURSOR, ""), (DEEP_ORDERED_CURSOR, "order=name.desc&")] {
                let target = cursor_at(addr, order, depth).await;
                failed += measure(o, figures, (stores, engine, name), addr, server.pid(), target).await;
            }
            let offset: &'static str = Box::leak(format!("/cats?limit=20&offset={depth}").into_boxed_str());
            failed += measure(o, figures, (stores, engine, DEEP_OFFSET), addr, server.pid(), offset).await;
            if stores == "embedded" {
                let mut runs = Vec::new();
                for run in 0..3 {
                    eprintln!("spincrud-bench: soak {}/3 ({} s, concurrency 32): {engine}", run + 1, sizes.soak_seconds);
                    let stats = run_scenario(addr, server.pid(), Scenario::Healthz, Arc::new(Vec::new()), 32, Duration::ZERO, Duration::from_secs_f64(sizes.soak_seconds)).await;
                    failed += stats.errors;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    runs.push((stats.requests, rss_kib(server.pid()).unwrap_or(0)));
                }
                soaks.push((engine.clone(), runs));
            }
            server.stop();
        }
    }
    failed
}

fn target_of(name: &'static str) -> &'static str {
    match name {
        DATA_SMALL => "/data?start=500&limit=20",
        DATA_LARGE => "/data?start=22858&limit=20",
        LIST_LARGE => "/cats?limit=20",
        LIST_FILTERED => "/cats?color=black&limit=20",
        LIST_ORDERED => "/cats?order=name.desc&limit=20",
        _ => "/cats?limit=20",
    }
}

/// The `Link` target of the page that ends at position `depth` (read once, by offset): the page
/// from `depth` on, by cursor.
async fn cursor_at(addr: SocketAddr, order: &str, depth: u64) -> &'static str {
    let mut conn = Conn::connect(addr).await.expect("connect");
    let target = format!("/cats?{order}limit=20&offset={}", depth - 20);
    let (status, headers, _) = conn.send_with("GET", &target, None, &[]).await.unwrap_or_else(|e| die(&format!("GET {target}: {e}")));
    match super::next_link(&headers) {
        Some(next) if status == 200 && next.contains("cursor=") => Box::leak(next.into_boxed_str()),
        _ => die(&format!("GET {target} answered {status} without a cursor Link: {headers:?}")),
    }
}

/// One measured run; returns its failed requests.
async fn measure(o: &Options, figures: &mut Figures, key: (&String, &String, &'static str), addr: SocketAddr, pid: u32, target: &'static str) -> u64 {
    let stats = run_scenario(addr, pid, Scenario::Fixed(target), Arc::new(Vec::new()), o.concurrency, Duration::from_secs(1), Duration::from_secs_f64(o.seconds)).await;
    let errors = stats.errors;
    figures.insert((key.0.clone(), key.1.clone(), key.2), stats);
    errors
}

async fn send_ok(conn: &mut Conn, method: &str, target: &str, body: Option<&str>, expected: u16) {
    match conn.send(method, target, body).await {
        Ok((status, _)) if status == expected => {}
        Ok((status, body)) => die(&format!("{method} {target} answered {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]))),
        Err(e) => die(&format!("{method} {target}: {e}")),
    }
}

/// Adds `n` cats in bulk (arrays of 1,000 in one transaction each), over two connections. One in
/// ten is black; names spread over the alphabet.
async fn seed_cats(addr: SocketAddr, n: u64) {
    let started = Instant::now();
    let batches: Vec<u64> = (0..n.div_ceil(1000)).collect();
    let workers: Vec<_> = batches
        .chunks(batches.len().div_ceil(2).max(1))
        .map(|mine| {
            let mine = mine.to_vec();
            tokio::spawn(async move {
                let mut conn = Conn::connect(addr).await.expect("connect");
                for b in mine {
                    let size = (n - b * 1000).min(1000);
                    let items: Vec<String> = (0..size)
                        .map(|i| {
                            let k = b * 1000 + i;
                            let color = ["black", "grey", "white", "ginger", "tabby", "cream", "brown", "blue", "silver", "calico"][(k % 10) as usize];
                            format!(r#"{{"name":"Cat {:08x}","age":{},"color":"{color}"}}"#, k.wrapping_mul(0x9E37_79B9) & 0xffff_ffff, k % 21)
                        })
                        .collect();
                    send_ok(&mut conn, "POST", "/cats", Some(&format!("[{}]", items.join(","))), 201).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("seeding worker");
    }
    eprintln!("spincrud-bench: seeded {n} cats in {:.1} s", started.elapsed().as_secs_f64());
}

fn generate_full(path: &Path, records: u64) {
    let root = super::workspace();
    let status = std::process::Command::new("python3")
        .arg(root.join("data/generate_meteorites.py"))
        .args(["--count", &records.to_string(), "--output"])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("cannot run python3");
    if !status.success() {
        die("generating the full-size dataset failed");
    }
}

/// The environment for a store set, and what keeps its servers running (named `name`, for
/// PostgreSQL + Redis).
pub fn store_env(stores: &str, name: &str) -> (Vec<(&'static str, String)>, Option<Box<dyn std::any::Any>>) {
    // Loads of the full dataset are ~8 MB.
    let mut env = vec![("BODY_LIMIT", (32u64 << 20).to_string())];
    match stores {
        "embedded" => (env, None),
        "postgres" => {
            let root = spincrud_tests::harness::tempdir::root();
            let pg = spincrud_tests::harness::postgres::Postgres::start_named(root, name);
            let redis = spincrud_tests::harness::redis::Redis::start_named(root, &format!("{name}-redis"));
            env.push(("DATABASE_URL", pg.create_database("spincrud_bench")));
            env.push(("REDIS_URL", redis.url(0)));
            (env, Some(Box::new((pg, redis))))
        }
        other => die(&format!("unknown store set {other} (embedded, postgres)")),
    }
}

fn report(o: &Options, sizes: &Sizes, figures: &Figures, loads: &[(String, String, u64, Duration)], soaks: &[(String, Vec<(u64, u64)>)]) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\nspincrud-bench at size: concurrency {}, one run of {} s each; large = {} rows", o.concurrency, o.seconds, sizes.rows);
    let _ = writeln!(out, "\n{:<10} {:<7} {:<54} {:>9} {:>10} {:>10} {:>7}", "stores", "engine", "scenario", "req/s", "p50", "p99", "failed");
    for ((stores, engine, name), s) in figures {
        let _ = writeln!(out, "{stores:<10} {engine:<7} {name:<54} {:>9.0} {:>10} {:>10} {:>7}", s.rps(), super::ms(s.p50_us), super::ms(s.p99_us), s.errors);
    }
    let _ = writeln!(out);
    for (stores, engine, records, took) in loads {
        let _ = writeln!(out, "{stores:<10} {engine:<7} POST /data of {records} records: {:.2} s", took.as_secs_f64());
    }
    for (engine, runs) in soaks {
        let text: Vec<String> = runs.iter().map(|(n, rss)| format!("{n} requests → RSS {}", super::mib(*rss))).collect();
        let _ = writeln!(out, "soak    {engine:<7} 3 × {} s GET /healthz (c=32): {}", sizes.soak_seconds, text.join(", "));
    }
    let mark = |ok: bool| if ok { "met" } else { "NOT met" };
    let rps = |stores: &str, engine: &str, name: &'static str| figures.get(&(stores.to_owned(), engine.to_owned(), name)).map(Stats::rps);
    let _ = writeln!(out, "\ntargets (issues 10, 11 and 19):");
    for stores in &sizes.stores {
        for engine in &o.engines {
            if let (Some(small), Some(large)) = (rps(stores, engine, DATA_SMALL), rps(stores, engine, DATA_LARGE)) {
                let _ = writeln!(out, "  {stores}/{engine}: /data page at 45,716 within 2x of at 1,000: {:.0} vs {:.0} req/s  {}", large, small, mark(large * 2.0 >= small));
            }
            if let (Some(page), Some(list)) = (rps(stores, engine, DATA_SMALL), rps(stores, engine, LIST_SMALL)) {
                let _ = writeln!(out, "  {stores}/{engine}: /data page at least half a 20-row list: {:.0}%  {}", 100.0 * page / list, mark(page * 2.0 >= list));
            }
            if let (Some(small), Some(large)) = (rps(stores, engine, LIST_SMALL), rps(stores, engine, LIST_LARGE)) {
                let _ = writeln!(out, "  {stores}/{engine}: list at {} rows within 4x of at 1,000: {:.0} vs {:.0} req/s  {}", sizes.rows, large, small, mark(large * 4.0 >= small));
            }
            for (first, deep) in [(LIST_LARGE, DEEP_CURSOR), (LIST_ORDERED, DEEP_ORDERED_CURSOR)] {
                if let (Some(first_rps), Some(deep_rps)) = (rps(stores, engine, first), rps(stores, engine, deep)) {
                    let _ = writeln!(out, "  {stores}/{engine}: {} by cursor at {} of {} rows within 2x of the first page: {:.0} vs {:.0} req/s  {}",
                        if first == LIST_ORDERED { "name.desc page" } else { "page" }, sizes.rows * 9 / 10, sizes.rows, deep_rps, first_rps, mark(deep_rps * 2.0 >= first_rps));
                }
            }
        }
    }
    for (stores, engine, records, took) in loads.iter().filter(|l| l.2 == sizes.records) {
        let _ = writeln!(out, "  {stores}/{engine}: load of {records} records under 5 s: {:.2} s  {}", took.as_secs_f64(), mark(*took < Duration::from_secs(5)));
    }
    // host-runner's memory is ours to keep flat; Spin's is shown for comparison.
    for (engine, runs) in soaks {
        let grew = runs[2].1 as i64 - runs[0].1 as i64;
        let verdict = if engine == "spin" { "(Spin's own process)" } else { mark(grew <= 5 * 1024) };
        let _ = writeln!(out, "  {engine}: RSS after the third soak run within 5 MiB of after the first: {:+.1} MiB  {verdict}", grew as f64 / 1024.0);
    }
}
