//! Throughput through nginx (Debian's, with the project's proxy settings: `nginx/`, as compose
//! runs it) in front of 1, 2 and 3 replicas of each engine on one PostgreSQL + Redis, next to one
//! replica without nginx: `GET /cats/{id}` and `POST /cats`, one run per figure. The replicas,
//! nginx, PostgreSQL and the load share the machine's cores, so on a small machine more replicas
//! add no CPU: the figures show what the proxy costs and that replicas behind it do not slow
//! each other down (one shared database), not how far they scale on separate machines.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use spincrud_tests::harness::{postgres::Postgres, redis::Redis, tempdir};
use spincrud_tests::replicas::nginx::Nginx;

use super::{run_scenario, seed_items, start_with, Options, Scenario, Stats};

const MOST: usize = 3;
/// Per figure: a few seconds at most, so that CI's run stays short.
const MEASURE: Duration = Duration::from_secs(2);
const WARMUP: Duration = Duration::from_millis(500);

/// Runs the comparison and prints it; returns the failed requests.
pub async fn run(o: &Options, scratch: &Path) -> u64 {
    let root = tempdir::root();
    let pg = Postgres::start_named(root, "bench-replicas-postgres");
    let redis = Redis::start_named(root, "bench-replicas-redis");
    // (engine, replicas behind nginx: 0 for one replica without it, scenario)
    let mut figures: BTreeMap<(String, usize, &str), Stats> = BTreeMap::new();
    let mut failed = 0;
    for (e, engine) in o.engines.iter().enumerate() {
        eprintln!("spincrud-bench: replicas behind nginx, {engine}");
        let env = vec![("DATABASE_URL", pg.create_database(&format!("bench_replicas_{engine}"))), ("REDIS_URL", redis.url(e))];
        let mut servers = Vec::new();
        for i in 0..MOST {
            let (server, _) = start_with(engine, &scratch.join(format!("replicas-{engine}-{i}")), o.binary.as_deref(), &env).await;
            servers.push(server);
        }
        let addrs: Vec<_> = servers.iter().map(|s| s.addr).collect();
        let ids = seed_items(addrs[0]).await;
        // Warm every replica's pool and PostgreSQL's cache, so that the first figure is not the
        // cold one.
        for addr in &addrs {
            for scenario in [Scenario::GetItem, Scenario::Create] {
                failed += run_scenario(*addr, servers[0].pid(), scenario, ids.clone(), o.concurrency, Duration::ZERO, Duration::from_millis(700)).await.errors;
            }
        }
        let mut nginx = Nginx::start(&format!("bench-nginx-{engine}"), &addrs[..1]);
        for setup in 0..=MOST {
            let target = if setup == 0 {
                addrs[0]
            } else {
                nginx.set_upstreams(&addrs[..setup]);
                nginx.addr
            };
            for scenario in [Scenario::GetItem, Scenario::Create] {
                let stats = run_scenario(target, servers[0].pid(), scenario, ids.clone(), o.concurrency, WARMUP, measure(o)).await;
                failed += stats.errors;
                figures.insert((engine.clone(), setup, scenario.key()), stats);
            }
        }
        drop(nginx);
        for server in servers {
            server.stop();
        }
    }
    print!("{}", report(o, &figures));
    failed
}

fn measure(o: &Options) -> Duration {
    MEASURE.min(Duration::from_secs_f64(o.seconds))
}

fn report(o: &Options, figures: &BTreeMap<(String, usize, &str), Stats>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nreplicas behind nginx: PostgreSQL + Redis, concurrency {}, one run of {} s per figure, {} CPUs", o.concurrency, measure(o).as_secs_f64(), std::thread::available_parallelism().map_or(0, |n| n.get()));
    let _ = writeln!(out, "  {:<8} {:<18} {:>14} {:>14} {:>8}", "engine", "replicas", "GET item/s", "POST /cats/s", "failed");
    for ((engine, setup, _), get) in figures.iter().filter(|((_, _, s), _)| *s == "get") {
        let Some(create) = figures.get(&(engine.clone(), *setup, "create")) else { continue };
        let label = if *setup == 0 { "1, no proxy".to_string() } else { format!("{setup} behind nginx") };
        let _ = writeln!(out, "  {engine:<8} {label:<18} {:>14.0} {:>14.0} {:>8}", get.rps(), create.rps(), get.errors + create.errors);
    }
    out
}
