//! Real load and real faults: clients that hang up mid-request, a soak with the server's memory
//! sampled, connections that stall or say nothing, oversize heads, U+0000 everywhere, and (for
//! PostgreSQL + Redis) a store stopped and started again under load. Each test that loads or
//! breaks a server starts one of its own.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::support::*;
use super::tests;
use crate::harness::http::Request;
use crate::harness::load::{closed_within, connect, keep_alive_gets, rss_kib};
use crate::harness::{Api, Ctx, Engine, Server};

pub const TESTS: super::Plain = tests![
    writers_that_hang_up_leave_the_stores_writable,
    memory_stays_flat_under_a_soak,
    unparseable_and_oversize_requests_get_problems,
    nul_is_refused_in_every_string_and_matches_no_filter,
];

/// host-runner's own server: deadlines and a connection cap it is configured with (Spin has no
/// such settings; docs/contract-notes.md).
pub const SERVER_TESTS: super::Plain = tests![stalled_and_silent_connections_are_closed, the_connection_cap_makes_new_clients_wait];

pub const OUTAGE_TESTS: super::Plain = tests![postgres_outage_fails_fast_and_recovers, a_postgres_certificate_that_does_not_verify_is_explained_in_the_log];

/// Redis stopped and started again: host-runner fails fast meanwhile; Spin's Redis client waits
/// for it to come back (docs/contract-notes.md).
pub const HOST_RUNNER_REDIS_OUTAGE_TESTS: super::Plain = tests![redis_outage_fails_fast_and_recovers];
pub const SPIN_REDIS_OUTAGE_TESTS: super::Plain = tests![redis_outage_on_spin_holds_key_value_requests_until_it_is_back];

fn api(server: &Server) -> Api<'_> {
    server.api()
}

/// Closes `stream` with a reset (SO_LINGER 0), as a client that gives up does.
fn reset(stream: TcpStream) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a socket this function owns, with a valid linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

/// A `POST /cats` that the client abandons: after part of its body (`whole` false), or after all
/// of it, `wait` later, before the answer (its handler may be mid-statement then).
fn abandoned_create(addr: SocketAddr, whole: bool, wait: Duration) {
    let body = format!(r#"{{"name":"{}","color":"hangup"}}"#, tag("h"));
    let head = format!("POST /cats HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
    let Ok(mut s) = TcpStream::connect(addr) else { return };
    let sent = if whole { body.as_bytes() } else { &body.as_bytes()[..body.len() / 2] };
    let _ = s.write_all(head.as_bytes()).and_then(|()| s.write_all(sent));
    std::thread::sleep(wait);
    reset(s);
}

fn writers_that_hang_up_leave_the_stores_writable(ctx: &Ctx) {
    let server = ctx.start_dedicated("hangups", &[]);
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let (created, failures) = (Arc::new(AtomicU64::new(0)), Arc::new(Mutex::new(Vec::new())));
    let writers: Vec<_> = (0..64u64)
        .map(|w| {
            let (stop, created, failures) = (stop.clone(), created.clone(), failures.clone());
            std::thread::spawn(move || {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    match i % 4 {
                        0 => abandoned_create(addr, false, Duration::ZERO),
                        1 => abandoned_create(addr, true, Duration::from_micros(i * 397 % 3000)),
                        _ => {
                            let body = json!({"name": tag("w"), "color": "hangup"});
                            let resp = Request::new(addr, "POST", "/cats").json(&body).allow_server_error().send();
                            if resp.status == 201 {
                                created.fetch_add(1, Ordering::Relaxed);
                            } else {
                                failures.lock().unwrap().push(resp.describe());
                            }
                        }
                    }
                }
                // Every client hangs up at the end, mid-request.
                abandoned_create(addr, true, Duration::from_micros(w * 53 % 2000));
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "{} of {} creates failed during the load; the first:\n{}", failures.len(), failures.len() as u64 + created.load(Ordering::Relaxed), failures[0]);
    assert!(created.load(Ordering::Relaxed) > 64, "the load created only {} cats", created.load(Ordering::Relaxed));
    // After the hang-ups, single writes all succeed: no connection was left dirty.
    for i in 0..20 {
        let resp = api(&server).post("/cats").json(&json!({"name": format!("after {i}")})).allow_server_error().send();
        resp.expect(201);
    }
    api(&server).get("/readyz").send().expect(200);
    let log = server.log_text();
    assert!(!log.contains("within a transaction"), "a connection was reused inside a transaction:\n{}", server.log_tail(40));
}

fn memory_stays_flat_under_a_soak(ctx: &Ctx) {
    let server = ctx.start_dedicated("soak", &[]);
    let cat = create(api(&server), "/cats", &json!({"name": "Soak"}));
    let item = format!("/cats/{}", cat["id"].as_str().unwrap());
    let round = |seconds: u64| {
        let item_load = {
            let (addr, item) = (server.addr, item.clone());
            std::thread::spawn(move || keep_alive_gets(addr, &item, 8, Duration::from_secs(seconds)))
        };
        let health = keep_alive_gets(server.addr, "/healthz", 24, Duration::from_secs(seconds));
        let items = item_load.join().unwrap();
        for tally in [&health, &items] {
            assert_eq!(tally.failed, 0, "failed requests in the soak: {:?}", tally.first_failure);
        }
        (health.ok + items.ok, rss_kib(server.pid()))
    };
    let _warm_up = round(2);
    let rounds: Vec<(u64, u64)> = (0..3).map(|_| round(8)).collect();
    let served: u64 = rounds.iter().map(|r| r.0).sum();
    eprintln!("soak ({:?}): {served} requests; RSS after each round (KiB): {:?}", ctx.engine, rounds.iter().map(|r| r.1).collect::<Vec<_>>());
    let (first, last) = (rounds[0].1, rounds[2].1);
    assert!(last <= first + 5 * 1024, "RSS grew from {first} KiB to {last} KiB over {served} requests");
}

fn stalled_and_silent_connections_are_closed(ctx: &Ctx) {
    let server = ctx.start_dedicated("deadlines", &[("HEADER_TIMEOUT", "2s"), ("KEEP_ALIVE_TIMEOUT", "4s"), ("BODY_TIMEOUT", "1s")]);
    let addr = server.addr;
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /heal").unwrap();
            s
        })
        .collect();
    let mut silent: Vec<TcpStream> = (0..50).map(|_| connect(addr)).collect();
    // The server keeps answering meanwhile: well before the head deadline (2 s) frees the
    // stalled ones (the margin is for a CI machine busy with the other tests).
    let t = Instant::now();
    api(&server).get("/healthz").send().expect(200);
    assert!(t.elapsed() < Duration::from_millis(1500), "/healthz took {:?} beside 250 stalled connections", t.elapsed());
    for s in stalled.iter_mut().chain(silent.iter_mut()) {
        let left = Duration::from_secs(5).saturating_sub(started.elapsed());
        assert!(closed_within(s, left), "a stalled or silent connection was still open after {:?}", started.elapsed());
    }
    // A kept-alive connection outlives the head deadline, and is closed at its idle timeout.
    let mut idle = connect(addr);
    idle.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).unwrap();
    let mut reader = std::io::BufReader::new(idle.try_clone().unwrap());
    assert_eq!(crate::harness::load::read_response(&mut reader).unwrap().0, 200);
    let t = Instant::now();
    assert!(!closed_within(&mut idle, Duration::from_millis(2500)), "an idle kept-alive connection was closed at the head deadline");
    assert!(closed_within(&mut idle, Duration::from_secs(3)), "an idle kept-alive connection was still open after {:?}", t.elapsed());
    // A body that stops coming: 408, and the connection closes.
    let mut s = connect(addr);
    s.write_all(format!("POST /cats HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"na").as_bytes()).unwrap();
    let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
    let (status, body) = crate::harness::load::read_response(&mut reader).unwrap();
    assert_eq!(status, 408, "{}", String::from_utf8_lossy(&body));
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["type"], "https://spincrud.dev/problems/request-timeout");
    assert!(closed_within(&mut s, Duration::from_secs(2)));
    assert!(server.is_running());
}

fn the_connection_cap_makes_new_clients_wait(ctx: &Ctx) {
    let server = ctx.start_dedicated("cap", &[("MAX_CONNECTIONS", "8"), ("HEADER_TIMEOUT", "1s")]);
    let held: Vec<TcpStream> = (0..8).map(|_| connect(server.addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    // The ninth waits in the backlog until the silent ones are cut off at their head deadline.
    let t = Instant::now();
    api(&server).get("/healthz").send().expect(200);
    let waited = t.elapsed();
    assert!(waited >= Duration::from_millis(500), "a ninth connection was served at once ({waited:?}) with the cap at 8");
    assert!(waited < Duration::from_secs(5), "the ninth connection waited {waited:?}");
    drop(held);
}

fn unparseable_and_oversize_requests_get_problems(ctx: &Ctx) {
    let addr = ctx.api().server().addr;
    let exchange = |bytes: &[u8]| {
        let mut s = connect(addr);
        let _ = s.write_all(bytes);
        let mut reader = std::io::BufReader::new(s);
        crate::harness::load::read_response(&mut reader).unwrap()
    };
    let mut big = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Big: ").into_bytes();
    big.extend(std::iter::repeat_n(b'a', 1 << 20));
    big.extend_from_slice(b"\r\n\r\n");
    for (request, status, slug) in [(big, 431, "request-header-fields-too-large"), (b"NOT HTTP AT ALL\r\n\r\n".to_vec(), 400, "bad-request")] {
        let (got, body) = exchange(&request);
        assert_eq!(got, status, "{}", String::from_utf8_lossy(&body));
        if !ctx.engine.is_host_runner() {
            // Spin's HTTP server answers these before any component runs: the same status,
            // with no body (docs/contract-notes.md).
            assert!(body.is_empty(), "Spin's own {status} came with a body: {}", String::from_utf8_lossy(&body));
            continue;
        }
        let problem: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["type"], format!("https://spincrud.dev/problems/{slug}"));
        assert_eq!(problem["title"], title_of(status));
        assert_eq!(problem["status"], status);
    }
    ctx.api().get("/healthz").send().expect(200);
}

fn nul_is_refused_in_every_string_and_matches_no_filter(ctx: &Ctx) {
    let api = ctx.api();
    let nul = "a\u{0}b";
    let color = tag("nul");
    let cat = json!({"name": "Nul", "breed": "x", "color": color});
    for field in ["name", "breed", "color"] {
        assert_invalid(&api.post("/cats").json(&with(&cat, json!({ field: nul }))).send(), field);
    }
    let passenger = json!({"survived": true, "passengerClass": 1, "name": "N", "sex": "male", "age": 1, "siblingsOrSpousesAboard": 0, "parentsOrChildrenAboard": 0, "fare": 1});
    for field in ["name", "sex"] {
        assert_invalid(&api.post("/passengers").json(&with(&passenger, json!({ field: nul }))).send(), field);
    }
    let user = json!({"username": tag("nu"), "email": format!("{}@example.com", tag("nu"))});
    for field in ["username", "email"] {
        assert_invalid(&api.post("/users").json(&with(&user, json!({ field: nul }))).send(), field);
    }
    let config = json!({"dcname": tag("nul"), "metadata": {"limits": {"cpu": {"enabled": true}}, "monitoring": {"enabled": true}}});
    assert_invalid(&api.post("/configs").json(&with(&config, json!({"dcname": nul}))).send(), "dcname");
    let free_value = json!({"limits": {"cpu": {"enabled": true}}, "monitoring": {"enabled": true}, "owner": {"team": nul}});
    assert_invalid(&api.post("/configs").json(&with(&config, json!({"metadata": free_value}))).send(), "metadata.owner.team");
    let free_key = json!({"limits": {"cpu": {"enabled": true}}, "monitoring": {"enabled": true}, "a\u{0}b": 1});
    assert_invalid(&api.post("/configs").json(&with(&config, json!({"metadata": free_key}))).send(), "metadata.a\\u0000b");
    // Replacing or patching with one changes nothing.
    let created = create(api, "/cats", &cat);
    let path = format!("/cats/{}", created["id"].as_str().unwrap());
    assert_invalid(&api.patch(&path).merge_patch(&json!({"name": nul})).send(), "name");
    assert_invalid(&api.put(&path).json(&with(&cat, json!({"color": nul}))).send(), "color");
    assert_unchanged(ctx, &path, &created, "a refused write with U+0000");
    // CSV rows too, by line.
    let csv = format!("Survived,Pclass,Name,Sex,Age,Siblings/Spouses Aboard,Parents/Children Aboard,Fare\n1,1,{nul},male,1,0,0,1\n");
    let p = assert_invalid(&api.post("/passengers").content_type("text/csv").body(csv).send(), "name");
    assert_eq!(p["errors"][0]["line"], 2);
    // /data records.
    assert_invalid(&api.post("/data").json(&json!([{"id": "nul-ok"}, {"id": "nul-x", "name": nul}])).send(), "[1].name");
    assert_invalid(&api.post("/data").json(&json!([{"id": nul}])).send(), "[0].id");
    assert_not_found(&api.get("/data/a%00b").send());
    // Filters with one match nothing, on every store alike.
    for target in [
        "/cats?name=a%00b".to_owned(),
        format!("/cats?color={color}%00"),
        "/users?email=a%00b".to_owned(),
        "/passengers?sex=a%00b".to_owned(),
        "/search?metadata.owner.team=a%00b".to_owned(),
        "/configs?metadata.a%00b=1".to_owned(),
    ] {
        let page = list(api, &target);
        page.resp.check(page.items.is_empty() && page.total == 0, "a filter with U+0000 matches nothing");
    }
    // The cat with that color is still found without the NUL.
    assert_eq!(list(api, &format!("/cats?color={color}")).total, 1);
}

/// Sends each request, which must answer a 503 problem with Retry-After within a second;
/// returns the slowest answer's time.
fn each_fails_fast(server: &Server, requests: Vec<Request>, what: &str) -> Duration {
    let mut slowest = Duration::ZERO;
    for req in requests {
        let t = Instant::now();
        let resp = req.allow_server_error().send();
        let took = t.elapsed();
        slowest = slowest.max(took);
        assert_problem(&resp, 503, "service-unavailable");
        resp.check(resp.header("retry-after").is_some(), "a 503 carries Retry-After");
        assert!(took < Duration::from_secs(1), "{what}: {took:?} to answer 503\n{}", resp.describe());
    }
    assert!(server.is_running());
    slowest
}

/// Requests in the background while a store goes away: each must answer (200 or 503) within
/// 1.5 s. Returns a stop switch and the thread.
fn background(server: &Server, targets: &'static [&'static str]) -> (Arc<AtomicBool>, std::thread::JoinHandle<Vec<String>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let addr = server.addr;
    let handle = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut problems = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let resp = Request::new(addr, "GET", targets[i % targets.len()]).allow_server_error().send();
                let took = t.elapsed();
                if !matches!(resp.status, 200 | 503) || took > Duration::from_millis(1500) {
                    problems.push(format!("{} after {took:?}: {}", resp.status, resp.describe()));
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            problems
        })
    };
    (stop, handle)
}

fn postgres_outage_fails_fast_and_recovers(ctx: &Ctx) {
    let (server, pg, _redis) = ctx.start_with_own_stores("pg_outage", &[]);
    let api = server.api();
    let cat = create(api, "/cats", &json!({"name": "Before"}));
    let path = format!("/cats/{}", cat["id"].as_str().unwrap());
    api.post("/data").json(&json!([{"id": "pg-outage"}])).send().expect(201);
    let (stop, load) = background(&server, &["/cats?limit=5", "/data?limit=5", "/users?limit=1"]);
    std::thread::sleep(Duration::from_millis(300));
    pg.stop();
    let slowest = each_fails_fast(
        &server,
        vec![
            api.get("/cats"),
            api.post("/cats").json(&json!({"name": "During"})),
            api.get(&path),
            api.put(&path).json(&json!({"name": "During"})),
            api.delete(&path),
            api.get("/passengers"),
            api.get("/users"),
            api.get("/configs"),
            api.get("/search?metadata.monitoring.enabled=true"),
            api.get("/readyz"),
            api.get("/cats"),
            api.get("/readyz"),
        ],
        "PostgreSQL stopped",
    );
    // The key-value store is still there.
    api.get("/data/pg-outage").send().expect(200);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let problems = load.join().unwrap();
    assert!(problems.is_empty(), "requests under load while PostgreSQL went away:\n{}", problems.join("\n"));
    pg.restart();
    // The first request after the database is back succeeds, without restarting host-runner.
    api.post("/cats").json(&json!({"name": "After"})).send().expect(201);
    api.get(&path).send().expect(200);
    api.get("/readyz").send().expect(200);
    eprintln!("PostgreSQL outage ({:?}): slowest 503 {slowest:?}", ctx.engine);
}

fn redis_outage_fails_fast_and_recovers(ctx: &Ctx) {
    let (server, _pg, redis) = ctx.start_with_own_stores("redis_outage", &[]);
    let api = server.api();
    api.post("/data").json(&json!([{"id": "r1"}, {"id": "r2"}])).send().expect(201);
    let (stop, load) = background(&server, &["/data?limit=5", "/cats?limit=5"]);
    std::thread::sleep(Duration::from_millis(300));
    redis.stop();
    let slowest = each_fails_fast(
        &server,
        vec![
            api.get("/data"),
            api.get("/data?start=1&limit=1"),
            api.get("/data/r1"),
            api.post("/data").json(&json!([{"id": "r3"}])),
            api.delete("/data/r2"),
            api.delete("/data"),
            api.get("/readyz"),
            api.get("/data"),
        ],
        "Redis stopped",
    );
    // The SQL store is still there.
    create(api, "/cats", &json!({"name": "During"}));
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let problems = load.join().unwrap();
    assert!(problems.is_empty(), "requests under load while Redis went away:\n{}", problems.join("\n"));
    redis.restart();
    // The first request after Redis is back succeeds (its data is gone: it keeps none here).
    api.get("/data").send().expect(200);
    api.post("/data").json(&json!([{"id": "r4"}])).send().expect(201);
    api.get("/readyz").send().expect(200);
    eprintln!("Redis outage ({:?}): slowest 503 {slowest:?}", ctx.engine);
}

fn redis_outage_on_spin_holds_key_value_requests_until_it_is_back(ctx: &Ctx) {
    let (server, _pg, redis) = ctx.start_with_own_stores("redis_outage", &[]);
    let api = server.api();
    api.post("/data").json(&json!([{"id": "r1"}, {"id": "r2"}])).send().expect(201);
    let (stop, load) = background(&server, &["/cats?limit=5", "/users?limit=1"]);
    std::thread::sleep(Duration::from_millis(300));
    redis.stop();
    // A request that needs the key-value store gets no answer while Redis is down: Spin's
    // Redis client waits for it without a deadline, and a component cannot bound a host call.
    let down = Instant::now();
    let addr = server.addr;
    let (tx, rx) = std::sync::mpsc::channel();
    let waiting = std::thread::spawn(move || {
        let resp = Request::new(addr, "GET", "/data?limit=5").allow_server_error().send();
        let _ = tx.send(resp.status);
    });
    assert!(rx.recv_timeout(Duration::from_secs(2)).is_err(), "Spin answered a /data request while Redis was down: update docs/contract-notes.md");
    // The SQL store is still there, and fast.
    create(api, "/cats", &json!({"name": "During"}));
    stop.store(true, Ordering::Relaxed);
    let problems = load.join().unwrap();
    assert!(problems.is_empty(), "SQL requests while Redis was down:\n{}", problems.join("\n"));
    std::thread::sleep(Duration::from_secs(3).saturating_sub(down.elapsed()));
    redis.restart();
    // The request that waited is answered once Spin's client has reconnected: after an outage
    // of a few seconds its backoff has grown to about 100 s (measured with Spin 3.6.3). Its data
    // is gone (Redis keeps none here). Later requests are answered as usual, without
    // restarting Spin.
    let back = Instant::now();
    assert_eq!(rx.recv_timeout(Duration::from_secs(150)).ok(), Some(200), "the request that waited for Redis");
    eprintln!("Redis outage (Spin): 3 s down, the waiting request answered {:?} after Redis was back", back.elapsed());
    waiting.join().unwrap();
    api.get("/data").send().expect(200);
    api.post("/data").json(&json!([{"id": "r4"}])).send().expect(201);
    api.get("/readyz").send().expect(200);
}

fn a_postgres_certificate_that_does_not_verify_is_explained_in_the_log(ctx: &Ctx) {
    let pg = crate::harness::postgres::Postgres::start_with_self_signed_tls(crate::harness::tempdir::root(), "postgres-tls");
    // host-runner (sqlx, as libpq) verifies the certificate when told to; Spin always does, and
    // knows no `verify-full`.
    let url = match ctx.engine {
        Engine::Spin => pg.create_database("spincrud"),
        Engine::Native | Engine::Wasm => format!("{}?sslmode=verify-full", pg.create_database("spincrud")),
    };
    let server = Server::start(crate::harness::server::Options {
        name: "pg_tls",
        engine: ctx.engine,
        database_url: Some(url),
        env: vec![("SKIP_MIGRATIONS".into(), "true".into())],
        ..Default::default()
    });
    let resp = server.api().get("/cats").allow_server_error().send();
    // The client learns nothing about the store...
    assert_problem(&resp, 503, "service-unavailable");
    // ...the operator reads why in the log (the component's stderr, on the wasm engine).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = server.log_text().to_lowercase();
        if log.contains("store unavailable") && log.contains("certificate") {
            break;
        }
        assert!(Instant::now() < deadline, "the log does not say why PostgreSQL is unavailable:\n{}", server.log_tail(30));
        std::thread::sleep(Duration::from_millis(100));
    }
}
