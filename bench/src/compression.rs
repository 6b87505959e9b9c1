//! What gzip saves and costs: the same answers asked for with and without
//! `Accept-Encoding: gzip`, on each engine (embedded stores): the bytes of one answer, and
//! requests per second in alternating rounds (the median round is shown). A page of 1,000
//! passengers (the largest list page) and a page of 20 cats (the common one).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{die, median_round, run_scenario, seed_items, start_with, Conn, Options, Scenario, Stats};

const TARGETS: [&str; 2] = ["/passengers?limit=1000", "/cats?limit=20"];

/// One target on one engine: bytes and req/s, plain and gzipped.
struct Figure {
    engine: String,
    target: &'static str,
    plain_bytes: usize,
    gzip_bytes: usize,
    plain: Stats,
    gzip: Stats,
}

/// Runs the comparison and prints it; returns the failed requests.
pub async fn run(o: &Options, scratch: &Path) -> u64 {
    let mut figures = Vec::new();
    let mut failed = 0;
    for engine in &o.engines {
        eprintln!("spincrud-bench: compression, {engine}");
        let env = [("BODY_LIMIT", (8u64 << 20).to_string())];
        let (server, _) = start_with(engine, &scratch.join(format!("compression-{engine}")), o.binary.as_deref(), &env).await;
        seed_items(server.addr).await;
        seed_passengers(server.addr, 1000).await;
        for target in TARGETS {
            let (plain_bytes, gzip_bytes) = sizes(server.addr, target).await;
            let mut rounds = [Vec::new(), Vec::new()];
            for _ in 0..o.rounds {
                for (i, scenario) in [Scenario::Fixed(target), Scenario::Gzip(target)].into_iter().enumerate() {
                    let stats = run_scenario(server.addr, server.pid(), scenario, Arc::new(Vec::new()), o.concurrency, Duration::from_secs(1), Duration::from_secs_f64(o.seconds)).await;
                    failed += stats.errors;
                    rounds[i].push(stats);
                }
            }
            let [plain, gzip] = rounds.map(median_round);
            figures.push(Figure { engine: engine.clone(), target, plain_bytes, gzip_bytes, plain, gzip });
        }
        server.stop();
    }
    print!("{}", report(o, &figures));
    failed
}

/// The bytes of one answer to `target`, plain and gzipped (checking that it is gzip).
async fn sizes(addr: std::net::SocketAddr, target: &str) -> (usize, usize) {
    let mut conn = Conn::connect(addr).await.expect("connect");
    let (status, _, plain) = conn.send_with("GET", target, None, &[]).await.expect("GET");
    let (gz_status, headers, gzipped) = conn.send_with("GET", target, None, &[("accept-encoding", "gzip")]).await.expect("GET gzip");
    let coding = headers.iter().find(|(n, _)| n == "content-encoding").map(|(_, v)| v.as_str());
    if status != 200 || gz_status != 200 || coding != Some("gzip") {
        die(&format!("GET {target}: {status} plain, {gz_status} with gzip, Content-Encoding {coding:?}"));
    }
    (plain.len(), gzipped.len())
}

/// Adds `n` passengers in one bulk create.
async fn seed_passengers(addr: std::net::SocketAddr, n: usize) {
    let items: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"survived":{},"passengerClass":{},"name":"Passenger number {i}","sex":"{}","age":{}.5,"siblingsOrSpousesAboard":{},"parentsOrChildrenAboard":0,"fare":{}.25}}"#,
                i % 2 == 0,
                i % 3 + 1,
                if i % 2 == 0 { "female" } else { "male" },
                i % 80,
                i % 4,
                i % 90
            )
        })
        .collect();
    let mut conn = Conn::connect(addr).await.expect("connect");
    match conn.send("POST", "/passengers", Some(&format!("[{}]", items.join(",")))).await {
        Ok((201, _)) => {}
        Ok((status, body)) => die(&format!("seeding passengers: {status} {}", String::from_utf8_lossy(&body[..body.len().min(300)]))),
        Err(e) => die(&format!("seeding passengers: {e}")),
    }
}

fn report(o: &Options, figures: &[Figure]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\ncompression: embedded stores, concurrency {}, median of {} rounds of {} s (plain and gzip alternating)", o.concurrency, o.rounds, o.seconds);
    let _ = writeln!(out, "  {:<8} {:<24} {:>12} {:>12} {:>7} {:>11} {:>11} {:>8}", "engine", "GET", "bytes", "gzip bytes", "ratio", "req/s", "gzip req/s", "change");
    for f in figures {
        let _ = writeln!(
            out,
            "  {:<8} {:<24} {:>12} {:>12} {:>6.1}% {:>11.0} {:>11.0} {:>+7.0}%",
            f.engine,
            f.target,
            f.plain_bytes,
            f.gzip_bytes,
            100.0 * f.gzip_bytes as f64 / f.plain_bytes as f64,
            f.plain.rps(),
            f.gzip.rps(),
            (f.gzip.rps() / f.plain.rps() - 1.0) * 100.0
        );
    }
    out
}
