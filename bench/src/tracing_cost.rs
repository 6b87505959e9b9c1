//! What tracing costs: `GET /cats/{id}` on each engine (embedded stores) with OpenTelemetry off,
//! exporting every request's spans to a collector (the test suite's OTLP/HTTP receiver, in this
//! process), and exporting to a collector that never answers. The three servers run side by
//! side and are measured in alternating rounds, so that they share the machine's noise; the
//! median round is shown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use spincrud_tests::harness::otlp::{DeadCollector, Receiver};

use super::{median_round, run_scenario, seed_items, start_with, Options, Scenario, Server, Stats};

const SETUPS: [&str; 3] = ["off", "to a collector", "to a dead collector"];

/// Runs the comparison and prints it; returns the failed requests.
pub async fn run(o: &Options, scratch: &Path) -> u64 {
    let receiver = Receiver::start();
    let dead = DeadCollector::start();
    let mut figures: BTreeMap<(String, &str), Stats> = BTreeMap::new();
    let mut failed = 0;
    // host-runner's own spans (Spin exports its own, which it controls).
    for engine in o.engines.iter().filter(|e| *e != "spin") {
        eprintln!("spincrud-bench: tracing cost, {engine}");
        let mut servers: Vec<(&str, Server, Arc<Vec<String>>)> = Vec::new();
        for setup in SETUPS {
            let env: Vec<(&str, String)> = match setup {
                "off" => Vec::new(),
                "to a collector" => vec![("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())],
                _ => vec![("OTEL_EXPORTER_OTLP_ENDPOINT", dead.endpoint()), ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000".into())],
            };
            let data_dir = scratch.join(format!("tracing-{engine}-{}", servers.len()));
            let (server, _) = start_with(engine, &data_dir, o.binary.as_deref(), &env).await;
            let ids = seed_items(server.addr).await;
            servers.push((setup, server, ids));
        }
        let mut rounds: Vec<Vec<Stats>> = vec![Vec::new(); SETUPS.len()];
        for _ in 0..o.rounds {
            for (i, (_, server, ids)) in servers.iter().enumerate() {
                let stats = run_scenario(server.addr, server.pid(), Scenario::GetItem, ids.clone(), o.concurrency, Duration::from_secs(1), Duration::from_secs_f64(o.seconds)).await;
                failed += stats.errors;
                rounds[i].push(stats);
            }
        }
        for ((setup, server, _), stats) in servers.into_iter().zip(rounds) {
            figures.insert((engine.clone(), setup), median_round(stats));
            server.stop();
        }
    }
    print!("{}", report(o, &figures, receiver.span_count()));
    failed
}

fn report(o: &Options, figures: &BTreeMap<(String, &str), Stats>, spans: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\ntracing cost: GET /cats/{{id}}, embedded stores, concurrency {}, median of {} rounds of {} s", o.concurrency, o.rounds, o.seconds);
    let _ = writeln!(out, "  {:<8} {:<22} {:>10} {:>10} {:>10} {:>7}", "engine", "OpenTelemetry", "req/s", "p50", "p99", "failed");
    for engine in o.engines.iter().filter(|e| *e != "spin") {
        let off = figures.get(&(engine.clone(), SETUPS[0])).map_or(f64::NAN, Stats::rps);
        for setup in SETUPS {
            let Some(s) = figures.get(&(engine.clone(), setup)) else { continue };
            let change = if setup == SETUPS[0] { String::new() } else { format!("  ({:+.0}% vs off)", (s.rps() / off - 1.0) * 100.0) };
            let _ = writeln!(out, "  {engine:<8} {setup:<22} {:>10.0} {:>10} {:>10} {:>7}{change}", s.rps(), super::ms(s.p50_us), super::ms(s.p99_us), s.errors);
        }
    }
    let _ = writeln!(out, "  spans the collector received: {spans}");
    out
}
