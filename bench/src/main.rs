//! spincrud-bench: host-runner's native and wasm engines and the Spin CLI side by side.
//!
//! ```sh
//! cargo run --release -p spincrud-bench                 # everything, about two minutes
//! cargo run --release -p spincrud-bench -- --help       # knobs
//! ```
//!
//! It builds `host-runner` (release) and, when they are missing, the components; then starts
//! `host-runner serve` once per engine, and `spin up` when a Spin CLI is there (`SPIN_BIN`, or
//! `spin` on PATH), each on a fresh data directory (embedded SQLite) and a free loopback port,
//! plus Spin once more on PostgreSQL + Redis (`spin-pg`: SpinKube's stores), and seeds 100 cats
//! in each. Every scenario — GET an item, create an item,
//! list 20 items, GET /healthz — runs at a fixed concurrency over keep-alive connections for a
//! fixed time, in rounds that alternate between the engines (the machine's other load weighs on
//! both alike); the median round is shown: requests/s, p50/p99 latency, host-runner's RSS (idle,
//! and the peak under load, from /proc; the measured server is a restart, since the first start
//! may have compiled the components). Then the per-request overhead of the wasm engine (wasm
//! minus native p50 at concurrency 1) and, after stopping both, the time from starting
//! host-runner to its first response with a warm compilation cache. Then what tracing costs
//! (`tracing_cost.rs`), the throughput through nginx with 1, 2 and 3 replicas (`replicas.rs`)
//! and the service at size (`at_size.rs`).
//!
//! Exit status: 0 when every request got its expected status; 1 when any did not, in any round
//! (the figures would not measure the API; the servers' logs are kept and named); 2 on a usage
//! or start-up error.
//!
//! Loopback only; every loop is bounded by time. The load generator shares the machine with the
//! server, so absolute figures depend on the machine; the ratios are what to compare.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

mod at_size;
mod compression;
mod floors;
mod launch;
mod replicas;
mod tracing_cost;

use launch::{rss_kib, start_with, Server};

const HELP: &str = "spincrud-bench: host-runner's native and wasm engines and the Spin CLI side by side (loopback)

USAGE: cargo run --release -p spincrud-bench [-- OPTIONS]

OPTIONS:
  --concurrency N    connections per scenario (default 16)
  --seconds S        measured time per scenario and round (default 3; plus 1 s of warm-up)
  --rounds N         rounds per scenario, alternating the engines; the median round is shown
                     (default 2: the default run, engines, floors and all, stays within CI's time)
  --engines LIST     comma-separated engines: native, wasm, spin (default: all three when a Spin
                     CLI is there, SPIN_BIN or spin on PATH; else native,wasm). With spin, the
                     engine comparison also runs Spin on PostgreSQL + Redis (spin-pg)
  --restarts N       warm restarts to time per engine (default 5)
  --only SCENARIO    run only one scenario (get, create, list, health) and skip the rest; or
                     `replicas`: only the figures through nginx
  --at-size SIZE     then the benchmark at size: `ci` (default: /data at 1,000 and 45,716
                     records, lists at 1,000 and 100,000 rows, on embedded SQLite and on
                     PostgreSQL + Redis, and three 10 s soaks), `full` (lists at 1,000,000
                     rows), or `none`
  --no-tracing-cost  skip the comparison of OpenTelemetry off, exporting, and exporting to a
                     dead collector (GET /cats/{id}, each engine; skipped with --only too)
  --no-floors        skip spincrud beside its floors (bench/floor: the least a component can
                     do; Spin and the wasm engine, embedded SQLite and PostgreSQL; skipped with
                     --only too)
  --floor-concurrency N
                     connections for the floors' comparison (default 32)
  --no-replicas      skip the throughput through nginx with 1, 2 and 3 replicas on PostgreSQL +
                     Redis (each engine; needs nginx; skipped with --only too)
  --no-compression   skip the comparison of answers with and without gzip (a page of 1,000
                     passengers and of 20 cats, each engine; skipped with --only too)
  --rows N           rows of the large list (overrides the size's)
  --stores LIST      store sets at size (default embedded,postgres)
  --no-build         use target/release/host-runner as it is
  --binary PATH      benchmark this host-runner instead (implies --no-build)
  -h, --help         this text";

#[derive(Debug, Clone)]
struct Options {
    concurrency: usize,
    seconds: f64,
    engines: Vec<String>,
    restarts: usize,
    rounds: usize,
    build: bool,
    only: Option<String>,
    binary: Option<PathBuf>,
    at_size: Option<at_size::Sizes>,
    tracing_cost: bool,
    floors: bool,
    floor_concurrency: usize,
    replicas: bool,
    compression: bool,
}

fn parse_options() -> Options {
    let mut engines = vec!["native".to_owned(), "wasm".to_owned()];
    if spincrud_tests::harness::spin::spin_binary().is_some() {
        engines.push("spin".to_owned());
    }
    let mut o = Options {
        concurrency: 16,
        seconds: 3.0,
        rounds: 2,
        engines,
        restarts: 5,
        build: true,
        only: None,
        binary: None,
        at_size: Some(at_size::Sizes::ci()),
        tracing_cost: true,
        floors: true,
        floor_concurrency: 32,
        replicas: true,
        compression: true,
    };
    let (mut rows, mut stores, mut at_size_given) = (None, None, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().unwrap_or_else(|| die(&format!("{name} needs a value")));
        match arg.as_str() {
            "--concurrency" => o.concurrency = value("--concurrency").parse().unwrap_or_else(|_| die("bad --concurrency")),
            "--seconds" => o.seconds = value("--seconds").parse().unwrap_or_else(|_| die("bad --seconds")),
            "--engines" => o.engines = value("--engines").split(',').map(str::to_owned).collect(),
            "--restarts" => o.restarts = value("--restarts").parse().unwrap_or_else(|_| die("bad --restarts")),
            "--rounds" => o.rounds = value("--rounds").parse().unwrap_or_else(|_| die("bad --rounds")),
            "--no-build" => o.build = false,
            "--no-tracing-cost" => o.tracing_cost = false,
            "--no-floors" => o.floors = false,
            "--floor-concurrency" => o.floor_concurrency = value("--floor-concurrency").parse().unwrap_or_else(|_| die("bad --floor-concurrency")),
            "--no-replicas" => o.replicas = false,
            "--no-compression" => o.compression = false,
            "--only" => o.only = Some(value("--only")),
            "--at-size" => {
                at_size_given = true;
                o.at_size = match value("--at-size").as_str() {
                    "ci" => Some(at_size::Sizes::ci()),
                    "full" => Some(at_size::Sizes::full()),
                    "none" => None,
                    other => die(&format!("--at-size takes ci, full or none, not {other}")),
                }
            }
            "--rows" => rows = Some(value("--rows").parse::<u64>().unwrap_or_else(|_| die("bad --rows"))),
            "--stores" => stores = Some(value("--stores").split(',').map(str::to_owned).collect()),
            "--binary" => {
                o.binary = Some(PathBuf::from(value("--binary")));
                o.build = false;
            }
            "-h" | "--help" => {
                println!("{HELP}");
                std::process::exit(0);
            }
            other => die(&format!("unknown option {other}\n\n{HELP}")),
        }
    }
    if o.only.is_some() && !at_size_given {
        o.at_size = None;
    }
    if o.only.is_some() {
        o.tracing_cost = false;
        o.floors = false;
        o.replicas = o.only.as_deref() == Some("replicas");
        o.compression = false;
    }
    o.floors &= o.engines.iter().any(|e| e != "native");
    if let Some(sizes) = &mut o.at_size {
        if let Some(rows) = rows {
            sizes.rows = rows.max(1_000);
        }
        if let Some(stores) = stores {
            sizes.stores = stores;
        }
    }
    if let Some(unknown) = o.engines.iter().find(|e| !["native", "wasm", "spin"].contains(&e.as_str())) {
        die(&format!("unknown engine {unknown} (native, wasm, spin)"));
    }
    o.concurrency = o.concurrency.max(1);
    o.rounds = o.rounds.max(1);
    o.seconds = o.seconds.clamp(0.5, 120.0);
    o
}

fn die(message: &str) -> ! {
    eprintln!("spincrud-bench: {message}");
    std::process::exit(2)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

const COMPONENTS: [&str; 7] = ["cats", "passengers", "configs", "data", "users", "ops", "docs"];

fn build(o: &Options) {
    let root = workspace();
    if o.build {
        eprintln!("spincrud-bench: cargo build --release -p host-runner");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo).args(["build", "--release", "-p", "host-runner"]).current_dir(&root).status().expect("cannot run cargo");
        if !status.success() {
            die("building host-runner failed");
        }
    }
    if o.engines.iter().any(|e| e == "wasm" || e == "spin") {
        // A cargo no-op when they are up to date.
        eprintln!("spincrud-bench: building the components and the floors (scripts/build-components.sh)");
        let mut args = COMPONENTS.to_vec();
        if o.floors {
            args.push("--floors");
        }
        let status = Command::new("bash").arg("scripts/build-components.sh").args(&args).current_dir(&root).status().expect("cannot run bash");
        if !status.success() {
            die("building the components failed");
        }
    }
}

// ---- a minimal HTTP/1.1 keep-alive client --------------------------------------------------------

struct Conn {
    stream: BufReader<TcpStream>,
    addr: SocketAddr,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream: BufReader::new(stream), addr })
    }

    /// One request; returns the status and body. Reconnects once if the server closed the
    /// connection.
    async fn send(&mut self, method: &str, target: &str, json: Option<&str>) -> std::io::Result<(u16, Vec<u8>)> {
        self.send_with(method, target, json, &[]).await.map(|(status, _, body)| (status, body))
    }

    /// [`Conn::send`] with more request headers; also returns the answer's headers (names
    /// lower-cased).
    async fn send_with(&mut self, method: &str, target: &str, json: Option<&str>, headers: &[(&str, &str)]) -> std::io::Result<Answer> {
        self.send_typed(method, target, json.map(|body| ("application/json", body)), headers).await
    }

    /// One request with a body of any type (`(content type, body)`).
    async fn send_typed(&mut self, method: &str, target: &str, body: Option<(&str, &str)>, headers: &[(&str, &str)]) -> std::io::Result<Answer> {
        match self.send_once(method, target, body, headers).await {
            Ok(r) => Ok(r),
            Err(_) => {
                *self = Conn::connect(self.addr).await?;
                self.send_once(method, target, body, headers).await
            }
        }
    }

    /// One request with a `text/plain` body.
    async fn send_text(&mut self, method: &str, target: &str, text: &str) -> std::io::Result<(u16, Vec<u8>)> {
        self.send_typed(method, target, Some(("text/plain", text)), &[]).await.map(|(status, _, body)| (status, body))
    }

    async fn send_once(&mut self, method: &str, target: &str, body: Option<(&str, &str)>, headers: &[(&str, &str)]) -> std::io::Result<Answer> {
        let json = body.map(|(_, b)| b);
        let mut head = format!("{method} {target} HTTP/1.1\r\nhost: {}\r\n", self.addr);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some((kind, body)) = body {
            head.push_str(&format!("content-type: {kind}\r\ncontent-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        if let Some(body) = json {
            out.extend_from_slice(body.as_bytes());
        }
        self.stream.get_mut().write_all(&out).await?;
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| std::io::Error::other("bad status line"))?;
        let mut length = 0usize;
        let mut answer_headers = Vec::new();
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((name, value)) = l.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().map_err(|_| std::io::Error::other("bad content-length"))?;
                }
                answer_headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, answer_headers, body))
    }
}

/// Status, headers (lower-cased names), body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// The target of an answer's `Link: <…>; rel="next"`.
fn next_link(headers: &[(String, String)]) -> Option<String> {
    let link = headers.iter().find(|(n, _)| n == "link").map(|(_, v)| v)?;
    Some(link.strip_prefix('<')?.split_once('>')?.0.to_owned())
}

// ---- load ---------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Scenario {
    GetItem,
    Create,
    List20,
    Healthz,
    /// `GET` of one target, expecting `200`.
    Fixed(&'static str),
    /// `POST` of a text body to one target, expecting `201` (the floors' inserts).
    PostText(&'static str),
    /// `GET` of a target with `{id}` replaced by the run's ids in turn, expecting `200`.
    GetEach(&'static str),
    /// The same, asking for gzip (`Accept-Encoding: gzip`).
    Gzip(&'static str),
}

impl Scenario {
    fn key(self) -> &'static str {
        match self {
            Scenario::GetItem => "get",
            Scenario::Create => "create",
            Scenario::List20 => "list",
            Scenario::Healthz => "health",
            Scenario::Fixed(_) => "fixed",
            Scenario::PostText(_) => "post",
            Scenario::GetEach(_) => "get-each",
            Scenario::Gzip(_) => "gzip",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scenario::GetItem => "GET an item      GET /cats/{id}",
            Scenario::Create => "create an item   POST /cats",
            Scenario::List20 => "list 20 items    GET /cats?limit=20",
            Scenario::Healthz => "health           GET /healthz",
            Scenario::Fixed(target) | Scenario::Gzip(target) | Scenario::PostText(target) | Scenario::GetEach(target) => target,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Stats {
    requests: u64,
    errors: u64,
    seconds: f64,
    p50_us: f64,
    p99_us: f64,
    peak_rss_kib: u64,
    /// CPU time the server's process spent in the measured time (user + system).
    cpu_seconds: f64,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// The server's CPU time per request, in µs (steadier than throughput on a shared machine).
    fn cpu_us_per_request(&self) -> f64 {
        self.cpu_seconds * 1e6 / self.requests.max(1) as f64
    }
}

/// A process's CPU time so far (user + system), in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at `state`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ: 100 on Linux.
    Some(ticks / 100.0)
}

async fn run_scenario(addr: SocketAddr, pid: u32, scenario: Scenario, ids: Arc<Vec<String>>, concurrency: usize, warmup: Duration, measure: Duration) -> Stats {
    let counter = Arc::new(AtomicU64::new(0));
    let measuring = Arc::new(AtomicBool::new(false));
    let start_at = Instant::now() + warmup;
    let end_at = start_at + measure;
    let mut workers = Vec::new();
    for w in 0..concurrency {
        let (ids, counter, measuring) = (ids.clone(), counter.clone(), measuring.clone());
        workers.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr).await.expect("cannot connect to host-runner");
            let mut latencies = Vec::with_capacity(100_000);
            let mut errors = 0u64;
            loop {
                let now = Instant::now();
                if now >= end_at {
                    break;
                }
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let (expected, result) = match scenario {
                    Scenario::GetItem => (200, conn.send("GET", &format!("/cats/{}", ids[(n as usize) % ids.len()]), None).await),
                    Scenario::Create => {
                        let body = format!(r#"{{"name":"Bench {w}-{n}","breed":"Siamese","age":3,"color":"black"}}"#);
                        (201, conn.send("POST", "/cats", Some(&body)).await)
                    }
                    Scenario::List20 => (200, conn.send("GET", "/cats?limit=20", None).await),
                    Scenario::Healthz => (200, conn.send("GET", "/healthz", None).await),
                    Scenario::Fixed(target) => (200, conn.send("GET", target, None).await),
                    Scenario::PostText(target) => (201, conn.send_text("POST", target, &format!("bench {w}-{n}")).await),
                    Scenario::GetEach(target) => (200, conn.send("GET", &target.replace("{id}", &ids[(n as usize) % ids.len()]), None).await),
                    Scenario::Gzip(target) => (200, conn.send_with("GET", target, None, &[("accept-encoding", "gzip")]).await.map(|(s, _, b)| (s, b))),
                };
                let latency = sent.elapsed();
                if sent >= start_at {
                    measuring.store(true, Ordering::Relaxed);
                    match result {
                        Ok((status, _)) if status == expected => latencies.push(latency.as_micros() as u32),
                        _ => errors += 1,
                    }
                }
            }
            (latencies, errors)
        }));
    }
    // Peak RSS while the load runs, and the CPU time of the measured part.
    let sampler = {
        tokio::spawn(async move {
            let mut peak = 0;
            tokio::time::sleep_until(start_at.into()).await;
            let cpu_at_start = cpu_seconds(pid);
            while Instant::now() < end_at {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(50).min(end_at.saturating_duration_since(Instant::now()))).await;
            }
            let cpu = cpu_seconds(pid).zip(cpu_at_start).map_or(0.0, |(end, start)| end - start);
            (peak, cpu)
        })
    };
    let mut latencies = Vec::new();
    let mut errors = 0;
    for w in workers {
        let (l, e) = w.await.expect("load worker panicked");
        latencies.extend(l);
        errors += e;
    }
    let (peak_rss_kib, cpu_seconds) = sampler.await.unwrap_or((0, 0.0));
    latencies.sort_unstable();
    let pct = |p: f64| if latencies.is_empty() { f64::NAN } else { f64::from(latencies[((latencies.len() - 1) as f64 * p).round() as usize]) };
    Stats { requests: latencies.len() as u64, errors, seconds: measure.as_secs_f64(), p50_us: pct(0.50), p99_us: pct(0.99), peak_rss_kib, cpu_seconds }
}

struct EngineResult {
    first_start: Duration,
    idle_rss_kib: u64,
    scenarios: Vec<(Scenario, Stats)>,
    c1_healthz: Stats,
    c1_get: Stats,
    restarts: Vec<Duration>,
    /// Requests that failed or got an unexpected status, in every round (not only the median).
    failed: u64,
}

/// A column of the engine comparison: an engine on a store set.
struct Column {
    name: String,
    engine: String,
    /// The store set's environment (none: embedded stores).
    env: Vec<(&'static str, String)>,
}

/// One column's server during the run.
struct Running {
    column: Column,
    server: Server,
    data_dir: PathBuf,
    ids: Arc<Vec<String>>,
    first_start: Duration,
    idle_rss_kib: u64,
}

/// Creates the 100 cats that `GET an item` reads; their ids.
async fn seed_items(addr: SocketAddr) -> Arc<Vec<String>> {
    let mut conn = Conn::connect(addr).await.expect("connect");
    let mut ids = Vec::new();
    for i in 0..100 {
        let body = format!(r#"{{"name":"Seed {i}","breed":"Maine Coon","age":{},"color":"grey"}}"#, i % 20);
        let (status, body) = conn.send("POST", "/cats", Some(&body)).await.expect("seed request");
        assert_eq!(status, 201, "seeding /cats failed: {}", String::from_utf8_lossy(&body));
        let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        ids.push(v["id"].as_str().expect("id").to_owned());
    }
    Arc::new(ids)
}

/// The round with the median throughput (p50/p99 from that round), with the peak RSS of all.
fn median_round(mut rounds: Vec<Stats>) -> Stats {
    let peak = rounds.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0);
    rounds.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
    let mut m = rounds.swap_remove(rounds.len() / 2);
    m.peak_rss_kib = peak;
    m
}

/// The round with the median p50 (for the concurrency-1 latency figures).
fn median_latency(mut rounds: Vec<Stats>) -> Stats {
    rounds.sort_by(|a, b| a.p50_us.total_cmp(&b.p50_us));
    rounds.swap_remove(rounds.len() / 2)
}

/// Runs every engine side by side: both servers stay up, and each scenario alternates between
/// them round by round, so that whatever else the machine is doing weighs on both alike.
async fn run_all(o: &Options, scratch: &Path) -> BTreeMap<String, EngineResult> {
    // Every engine on embedded stores; Spin also on PostgreSQL + Redis, as SpinKube runs it.
    let mut columns: Vec<Column> = o.engines.iter().map(|e| Column { name: e.clone(), engine: e.clone(), env: Vec::new() }).collect();
    let mut _stores = None;
    if o.engines.iter().any(|e| e == "spin") {
        let (env, guards) = at_size::store_env("postgres", "bench-compare");
        _stores = guards;
        columns.push(Column { name: "spin-pg".into(), engine: "spin".into(), env });
    }
    let mut running = Vec::new();
    for column in columns {
        eprintln!("spincrud-bench: {}: starting {}", column.name, column.engine);
        let data_dir = scratch.join(&column.name);
        // The first start may compile the components (cold cache); it is timed and stopped, and
        // the measured server is a restart, so that its idle RSS is a running server's and not
        // what the compiler left behind.
        let (server, first_start) = start_with(&column.engine, &data_dir, o.binary.as_deref(), &column.env).await;
        server.stop();
        let (server, _) = start_with(&column.engine, &data_dir, o.binary.as_deref(), &column.env).await;
        let ids = seed_items(server.addr).await;
        running.push(Running { column, server, data_dir, ids, first_start, idle_rss_kib: 0 });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for r in &mut running {
        r.idle_rss_kib = rss_kib(r.server.pid()).unwrap_or(0);
    }

    let warmup = Duration::from_secs(1);
    let measure = Duration::from_secs_f64(o.seconds);
    let all = [Scenario::GetItem, Scenario::Create, Scenario::List20, Scenario::Healthz];
    let chosen: Vec<Scenario> = match o.only.as_deref() {
        None => all.to_vec(),
        Some(only) => all.into_iter().filter(|s| s.key() == only).collect(),
    };
    if chosen.is_empty() {
        die("--only takes get, create, list or health");
    }
    let mut scenarios: Vec<Vec<(Scenario, Stats)>> = running.iter().map(|_| Vec::new()).collect();
    let mut failed = vec![0u64; running.len()];
    for scenario in chosen {
        let mut rounds: Vec<Vec<Stats>> = running.iter().map(|_| Vec::new()).collect();
        for round in 0..o.rounds {
            for (i, r) in running.iter().enumerate() {
                eprintln!("spincrud-bench: {} (concurrency {}) round {}/{}: {}", scenario.name(), o.concurrency, round + 1, o.rounds, r.column.name);
                let stats = run_scenario(r.server.addr, r.server.pid(), scenario, r.ids.clone(), o.concurrency, warmup, measure).await;
                failed[i] += stats.errors;
                rounds[i].push(stats);
            }
        }
        for (i, stats) in rounds.into_iter().enumerate() {
            scenarios[i].push((scenario, median_round(stats)));
        }
    }

    let mut c1: Vec<(Stats, Stats)> = running.iter().map(|_| (Stats::default(), Stats::default())).collect();
    if o.only.is_none() {
        let c1_time = Duration::from_secs_f64((o.seconds * 0.6).max(0.5));
        let mut health: Vec<Vec<Stats>> = running.iter().map(|_| Vec::new()).collect();
        let mut get: Vec<Vec<Stats>> = running.iter().map(|_| Vec::new()).collect();
        for round in 0..o.rounds {
            for (i, r) in running.iter().enumerate() {
                eprintln!("spincrud-bench: concurrency 1 round {}/{}: {}", round + 1, o.rounds, r.column.name);
                let h = run_scenario(r.server.addr, r.server.pid(), Scenario::Healthz, r.ids.clone(), 1, warmup / 2, c1_time).await;
                let g = run_scenario(r.server.addr, r.server.pid(), Scenario::GetItem, r.ids.clone(), 1, warmup / 2, c1_time).await;
                failed[i] += h.errors + g.errors;
                health[i].push(h);
                get[i].push(g);
            }
        }
        for (i, (h, g)) in health.into_iter().zip(get).enumerate() {
            c1[i] = (median_latency(h), median_latency(g));
        }
    }

    let mut servers = Vec::new();
    for r in running {
        servers.push((r.column, r.data_dir, r.first_start, r.idle_rss_kib));
        r.server.stop();
    }
    let mut restarts: Vec<Vec<Duration>> = servers.iter().map(|_| Vec::new()).collect();
    for round in 0..o.restarts {
        for (i, (column, data_dir, _, _)) in servers.iter().enumerate() {
            eprintln!("spincrud-bench: restart {}/{}: {}", round + 1, o.restarts, column.name);
            let (server, took) = start_with(&column.engine, data_dir, o.binary.as_deref(), &column.env).await;
            restarts[i].push(took);
            server.stop();
        }
    }

    let mut results = BTreeMap::new();
    for (i, ((column, _, first_start, idle_rss_kib), (scenarios, (c1_healthz, c1_get)))) in
        servers.into_iter().zip(scenarios.into_iter().zip(c1)).enumerate()
    {
        results.insert(column.name, EngineResult { first_start, idle_rss_kib, scenarios, c1_healthz, c1_get, restarts: std::mem::take(&mut restarts[i]), failed: failed[i] });
    }
    results
}

// ---- report -------------------------------------------------------------------------------------

fn ms(us: f64) -> String {
    format!("{:.3} ms", us / 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn report(o: &Options, results: &BTreeMap<String, EngineResult>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\nspincrud-bench: embedded SQLite (spin-pg: Spin on PostgreSQL + Redis), concurrency {}, {} rounds of {} s per scenario and engine (engines alternating; median round shown), loopback, {} CPUs", o.concurrency, o.rounds, o.seconds, std::thread::available_parallelism().map_or(0, |n| n.get()));
    let _ = writeln!(out, "\n{:<40} {:<7} {:>10} {:>11} {:>11} {:>9} {:>8} {:>12}", "scenario", "engine", "req/s", "p50", "p99", "CPU/req", "errors", "peak RSS");
    let mut engines: Vec<&String> = results.keys().collect();
    engines.sort_by_key(|e| ["native", "wasm", "spin", "spin-pg"].iter().position(|k| k == e));
    let rows = results.values().next().map_or(0, |r| r.scenarios.len());
    for i in 0..rows {
        for engine in &engines {
            let (scenario, s) = &results[*engine].scenarios[i];
            let _ = writeln!(out, "{:<40} {:<7} {:>10.0} {:>11} {:>11} {:>7.0}µs {:>8} {:>12}", scenario.name(), engine, s.rps(), ms(s.p50_us), ms(s.p99_us), s.cpu_us_per_request(), s.errors, mib(s.peak_rss_kib));
        }
        if let (Some(n), Some(w)) = (results.get("native"), results.get("wasm")) {
            let _ = writeln!(out, "{:<40} {:<7} {:>10}", "", "ratio", format!("{:.0}%", 100.0 * w.scenarios[i].1.rps() / n.scenarios[i].1.rps()));
        }
    }
    let _ = writeln!(out);
    for engine in &engines {
        let r = &results[*engine];
        let peak = r.scenarios.iter().map(|(_, s)| s.peak_rss_kib).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "{engine:<7} RSS idle {} / peak under load {};  p50 at concurrency 1: GET /healthz {}, GET an item {}",
            mib(r.idle_rss_kib),
            mib(peak),
            ms(r.c1_healthz.p50_us),
            ms(r.c1_get.p50_us)
        );
        let _ = writeln!(
            out,
            "{engine:<7} start to first response: first start {:.0} ms; warm restarts median {:.0} ms, max {:.0} ms (n={})",
            r.first_start.as_secs_f64() * 1000.0,
            median(r.restarts.clone()).as_secs_f64() * 1000.0,
            r.restarts.iter().max().copied().unwrap_or_default().as_secs_f64() * 1000.0,
            r.restarts.len()
        );
    }
    if o.only.is_some() {
        return;
    }
    if let (Some(n), Some(w)) = (results.get("native"), results.get("wasm")) {
        let ratio = w.scenarios[0].1.rps() / n.scenarios[0].1.rps();
        let overhead_health = w.c1_healthz.p50_us - n.c1_healthz.p50_us;
        let overhead_get = w.c1_get.p50_us - n.c1_get.p50_us;
        let restart = median(w.restarts.clone());
        let mark = |ok: bool| if ok { "met" } else { "NOT met" };
        let _ = writeln!(out, "\ntargets (issue 4):");
        let _ = writeln!(out, "  wasm throughput on GET an item >= 50% of native:   {:.0}%  {}", ratio * 100.0, mark(ratio >= 0.5));
        let _ = writeln!(
            out,
            "  per-request overhead (wasm - native p50, c=1) < 100 us:  GET /healthz {:.0} us  {}; GET an item {:.0} us  {}",
            overhead_health,
            mark(overhead_health < 100.0),
            overhead_get,
            mark(overhead_get < 100.0)
        );
        let _ = writeln!(out, "  warm restart to first response < 300 ms:  median {:.0} ms  {}", restart.as_secs_f64() * 1000.0, mark(restart < Duration::from_millis(300)));
    }
}

fn main() {
    let o = parse_options();
    build(&o);
    // Spin on PostgreSQL gets its schema from `host-runner migrate` (the suite's harness runs
    // it): the build measured here.
    if std::env::var_os("SPINCRUD_HOST_RUNNER").is_none() {
        std::env::set_var("SPINCRUD_HOST_RUNNER", launch::host_runner_binary(o.binary.as_deref()));
    }
    match spincrud_tests::harness::spin::spin_binary() {
        Some(spin) if o.engines.iter().any(|e| e == "spin") => eprintln!("spincrud-bench: Spin CLI {}", spin.display()),
        _ if o.engines.iter().any(|e| e == "spin") => die("--engines spin needs a Spin CLI (SPIN_BIN, or spin on PATH)"),
        _ => eprintln!("spincrud-bench: no Spin CLI (SPIN_BIN, or spin on PATH): no Spin columns"),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let scratch = std::env::temp_dir().join(format!("spincrud-bench-{}", std::process::id()));
    let results = if o.only.as_deref() == Some("replicas") { BTreeMap::new() } else { runtime.block_on(run_all(&o, &scratch)) };
    let mut failed: u64 = results.values().map(|r| r.failed).sum();
    if !results.is_empty() {
        report(&o, &results);
    }
    if o.tracing_cost {
        failed += runtime.block_on(tracing_cost::run(&o, &scratch));
    }
    if o.floors {
        failed += runtime.block_on(floors::run(&o, &scratch));
    }
    if o.replicas {
        failed += runtime.block_on(replicas::run(&o, &scratch));
    }
    if o.compression {
        failed += runtime.block_on(compression::run(&o, &scratch));
    }
    if let Some(sizes) = &o.at_size {
        failed += runtime.block_on(at_size::run(&o, sizes, &scratch));
    }
    if o.replicas || o.at_size.is_some() {
        spincrud_tests::harness::shutdown(true);
    }
    if failed > 0 || std::env::var_os("SPINCRUD_BENCH_KEEP").is_some() {
        eprintln!("spincrud-bench: server logs kept in {}", scratch.display());
    } else {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    // Figures from failing requests measure nothing: a run with any is a failed run.
    if failed > 0 {
        eprintln!("spincrud-bench: {failed} requests failed or got an unexpected status");
        for (engine, r) in results.iter().filter(|(_, r)| r.failed > 0) {
            eprintln!("spincrud-bench: {engine}: {} requests failed or got an unexpected status", r.failed);
        }
        std::process::exit(1);
    }
}
