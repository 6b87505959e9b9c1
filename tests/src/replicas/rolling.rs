//! Changing the set of replicas under load: a rolling restart (each replica in turn stopped and
//! started again) and scaling from one replica to three and back. Not one request may fail, and
//! every acknowledged write must be there afterwards.

use std::net::SocketAddr;
use std::time::Duration;

use super::cluster::Cluster;
use super::nginx::Nginx;
use super::traffic::{self, Tally};
use super::{replica_env, stop_within, CLIENTS, REPLICAS};
use crate::harness::Engine;

/// Clients that hang up as soon as they have sent their request.
const RUDE_CLIENTS: usize = 4;
/// Load before, between and after the changes.
const SETTLE: Duration = Duration::from_millis(1000);
/// nginx leaves a replica that refused a connection out for `fail_timeout` (2 s).
const BACK_IN_ROTATION: Duration = Duration::from_secs(10);

pub fn rolling_restart(engine: Engine) {
    let name = format!("{}_rolling", engine.env_value());
    let mut cluster = Cluster::start(engine, &name, REPLICAS, &replica_env());
    let mut nginx = Nginx::start(&name, &cluster.running());
    let seeds = traffic::seed_cats(nginx.addr, 32);
    let load = traffic::start(nginx.addr, &seeds, CLIENTS, RUDE_CLIENTS);
    std::thread::sleep(SETTLE);
    for i in 0..REPLICAS {
        retire(&mut cluster, &mut nginx, i);
        cluster.start_replica(i);
        let started = traffic::now();
        if !engine.is_host_runner() {
            nginx.set_upstreams(&cluster.running());
        }
        // As a rollout waits for the new pod, the next replica goes once this one serves again.
        nginx.wait_served_by(cluster.addr(i), started, BACK_IN_ROTATION);
        std::thread::sleep(SETTLE);
    }
    let tally = load.finish();
    check(&cluster, &nginx, &tally, &format!("rolling restart of {REPLICAS} {engine:?} replicas"));
    if engine.is_host_runner() {
        // nginx kept its configuration, so it never closed a client's connection either.
        assert_eq!(tally.resent, 0, "requests resent after nginx closed a client's connection");
    }
}

pub fn scale_up_and_down(engine: Engine) {
    let name = format!("{}_scaling", engine.env_value());
    let mut cluster = Cluster::start(engine, &name, 1, &replica_env());
    let mut nginx = Nginx::start(&name, &cluster.running());
    let seeds = traffic::seed_cats(nginx.addr, 32);
    let load = traffic::start(nginx.addr, &seeds, CLIENTS, RUDE_CLIENTS);
    std::thread::sleep(SETTLE);
    while cluster.len() < REPLICAS {
        let i = cluster.add();
        let started = traffic::now();
        nginx.set_upstreams(&cluster.running());
        nginx.wait_served_by(cluster.addr(i), started, BACK_IN_ROTATION);
        std::thread::sleep(SETTLE);
    }
    for i in (1..REPLICAS).rev() {
        retire(&mut cluster, &mut nginx, i);
        nginx.set_upstreams(&cluster.running());
        std::thread::sleep(SETTLE);
    }
    let tally = load.finish();
    check(&cluster, &nginx, &tally, &format!("scaling {engine:?} replicas 1 → {REPLICAS} → 1"));
}

/// Takes replica `i` out of service as its engine is meant to leave: host-runner is sent SIGTERM
/// while nginx still routes to it and drains by itself; Spin, which stops at once, leaves nginx's
/// list first (Kubernetes' endpoint removal and preStop pause) and is stopped once nginx's old
/// workers have finished the requests they had sent it.
fn retire(cluster: &mut Cluster, nginx: &mut Nginx, i: usize) {
    if !cluster.engine.is_host_runner() {
        let others: Vec<SocketAddr> = cluster.running().into_iter().filter(|a| *a != cluster.addr(i)).collect();
        nginx.set_upstreams(&others);
    }
    cluster.stop(i, stop_within());
}

/// No failure; every acknowledged write is there; the load really ran.
#[track_caller]
fn check(cluster: &Cluster, nginx: &Nginx, tally: &Tally, what: &str) {
    eprintln!("{what}: {} GET and {} POST answered, {} failed, {} resent after nginx closed an idle connection", tally.gets, tally.posts, tally.failures.len(), tally.resent);
    assert!(
        tally.failures.is_empty(),
        "{what}: {} requests failed:\n{}\nnginx's error log:\n{}\n{}",
        tally.failures.len(),
        tally.describe_failures(),
        nginx.error_log(),
        cluster.logs()
    );
    assert!(tally.gets > 100 && tally.posts > 50, "{what}: the load hardly ran: {tally:?}");
    // Stronger than "nothing failed": nginx never lost a request it had sent to a replica (it
    // would have resent a GET unseen). A draining host-runner only ever refuses connections,
    // which is safe to retry; a Spin replica left the rotation before it stopped.
    let allowed = if cluster.engine.is_host_runner() { "connect() failed (111: Connection refused)" } else { "(no error)" };
    let lost: Vec<String> = nginx.errors().into_iter().filter(|e| !e.contains(allowed)).collect();
    assert!(lost.is_empty(), "{what}: nginx lost requests it had sent to a replica:\n{}", lost.join("\n"));
    traffic::assert_acknowledged_present(nginx.addr, tally);
}
