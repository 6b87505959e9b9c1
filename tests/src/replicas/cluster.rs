//! Replicas of one engine on one PostgreSQL + Redis: started, stopped (SIGTERM), killed
//! (SIGKILL) and started again on the same port, as a process supervisor or an orchestrator
//! does.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::http::Request;
use crate::harness::postgres::Postgres;
use crate::harness::redis::Redis;
use crate::harness::server::{Options, Server};
use crate::harness::{free_port, tempdir, Engine};

/// A replica waits this long for its stores and answers `/readyz` with `200`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One PostgreSQL and one Redis for the whole binary; each cluster has a database and a Redis
/// db index of its own.
struct Stores {
    postgres: Postgres,
    redis: Redis,
}

fn stores() -> &'static Stores {
    static STORES: OnceLock<Stores> = OnceLock::new();
    STORES.get_or_init(|| {
        let root = tempdir::root();
        Stores { postgres: Postgres::start_named(root, "postgres-replicas"), redis: Redis::start_named(root, "redis-replicas") }
    })
}

/// A cluster's replicas, by number; a stopped one keeps its port for its restart.
pub struct Cluster {
    pub engine: Engine,
    name: String,
    database_url: String,
    redis_url: String,
    env: Vec<(String, String)>,
    replicas: Vec<Replica>,
}

struct Replica {
    port: u16,
    server: Option<Server>,
}

impl Cluster {
    /// `n` replicas of `engine`, started one after the other and ready. `env` goes to every
    /// replica (host-runner's settings; Spin ignores them).
    pub fn start(engine: Engine, name: &str, n: usize, env: &[(&str, String)]) -> Cluster {
        static NEXT_REDIS_DB: AtomicUsize = AtomicUsize::new(0);
        let db = NEXT_REDIS_DB.fetch_add(1, Ordering::Relaxed);
        assert!(db < 16, "Redis has 16 databases: too many clusters in one binary");
        let stores = stores();
        let mut cluster = Cluster {
            engine,
            name: name.to_string(),
            database_url: stores.postgres.create_database(&format!("replicas_{name}")),
            redis_url: stores.redis.url(db),
            env: env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            replicas: Vec::new(),
        };
        for _ in 0..n {
            cluster.add();
        }
        cluster
    }

    /// Starts one more replica on a new port; returns its number.
    pub fn add(&mut self) -> usize {
        self.replicas.push(Replica { port: free_port(), server: None });
        let i = self.replicas.len() - 1;
        self.start_replica(i);
        i
    }

    /// Starts replica `i` (again) on its port and waits until it is ready.
    pub fn start_replica(&mut self, i: usize) {
        assert!(self.replicas[i].server.is_none(), "replica {i} is running");
        let name: &'static str = Box::leak(format!("{}-replica{i}", self.name).into_boxed_str());
        let server = Server::start(Options {
            name,
            engine: self.engine,
            database_url: Some(self.database_url.clone()),
            redis_url: Some(self.redis_url.clone()),
            env: self.env.clone(),
            port: Some(self.replicas[i].port),
            ..Default::default()
        });
        wait_ready(&server);
        self.replicas[i].server = Some(server);
    }

    /// The address of replica `i` (running or not).
    pub fn addr(&self, i: usize) -> SocketAddr {
        format!("127.0.0.1:{}", self.replicas[i].port).parse().unwrap()
    }

    /// The addresses of the running replicas.
    pub fn running(&self) -> Vec<SocketAddr> {
        (0..self.replicas.len()).filter(|&i| self.replicas[i].server.is_some()).map(|i| self.addr(i)).collect()
    }

    pub fn len(&self) -> usize {
        self.replicas.len()
    }

    pub fn server(&self, i: usize) -> &Server {
        self.replicas[i].server.as_ref().unwrap_or_else(|| panic!("replica {i} is not running"))
    }

    /// Sends SIGTERM to replica `i` and returns at once (it drains, then exits).
    pub fn terminate(&self, i: usize) {
        signal(self.server(i).pid(), libc::SIGTERM);
    }

    /// Waits until replica `i`, sent SIGTERM, has exited, and checks that it exited cleanly.
    pub fn wait_stopped(&mut self, i: usize, within: Duration) {
        let server = self.replicas[i].server.take().unwrap_or_else(|| panic!("replica {i} is not running"));
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = server.exit_status() {
                break status;
            }
            assert!(Instant::now() < deadline, "replica {i} did not exit within {within:?} of SIGTERM:\n{}", server.log_tail(40));
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "replica {i} exited with {status} after SIGTERM:\n{}", server.log_tail(40));
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(&mut self, i: usize, within: Duration) {
        self.terminate(i);
        self.wait_stopped(i, within);
    }

    /// SIGKILLs replica `i` and every process it started (`spin up` serves from a child
    /// process), as when its container or machine dies.
    pub fn kill(&mut self, i: usize) {
        let server = self.replicas[i].server.take().unwrap_or_else(|| panic!("replica {i} is not running"));
        assert!(kill_tree(&server), "replica {i} survived SIGKILL");
    }

    /// A request straight to replica `i`, past nginx.
    pub fn request(&self, i: usize, method: &str, target: &str) -> Request {
        Request::new(self.addr(i), method, target)
    }

    /// Every running replica's log tail, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (i, r) in self.replicas.iter().enumerate() {
            if let Some(s) = &r.server {
                out.push_str(&format!("--- replica {i} ({}):\n{}\n", self.addr(i), s.log_tail(15)));
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Nothing of a cluster outlives its test (the run's end would SIGKILL `spin up` only,
        // not the process it serves from).
        for replica in &mut self.replicas {
            if let Some(server) = replica.server.take() {
                kill_tree(&server);
            }
        }
    }
}

/// SIGKILLs `server` and its descendants; whether they are all gone within 10 s.
fn kill_tree(server: &Server) -> bool {
    let mut doomed = vec![server.pid()];
    let mut next = 0;
    while next < doomed.len() {
        doomed.extend(children(doomed[next]));
        next += 1;
    }
    for pid in doomed.iter().rev() {
        signal(*pid, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.is_running() || doomed.iter().skip(1).any(|&p| alive(p)) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Polls `GET /readyz` until `200`.
fn wait_ready(server: &Server) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if super::traffic::probe(server.addr, "/readyz") == Some(200) {
            return;
        }
        assert!(Instant::now() < deadline, "replica {} was not ready within {READY_TIMEOUT:?}:\n{}", server.addr, server.log_tail(40));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) on a process this test started.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

fn alive(pid: u32) -> bool {
    // A zombie has given up its sockets: it counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

/// The processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned)))
                .flatten()
                .is_some_and(|ppid| ppid == pid.to_string())
        })
        .filter(|&child| alive(child))
        .collect()
}
