//! A replica dies (`kill -9`: its process and what it started) under load. Only requests in
//! flight on it may fail: nginx resends reads to another replica, and a write it had already
//! sent there is answered `502` (it may or may not have been stored: nginx cannot know, so it does
//! not resend it). Nothing acknowledged is lost.

use std::time::Duration;

use super::cluster::Cluster;
use super::nginx::Nginx;
use super::{replica_env, traffic, CLIENTS, REPLICAS};
use crate::harness::Engine;

/// How late after the kill a request may still have been on its way to the dead replica (nginx
/// takes a kept-alive connection from its pool before it has read that the peer closed it).
const IN_FLIGHT_SLACK: f64 = 0.25;

pub fn kill_9_under_load(engine: Engine) {
    let name = format!("{}_kill", engine.env_value());
    let mut cluster = Cluster::start(engine, &name, REPLICAS, &replica_env());
    let nginx = Nginx::start(&name, &cluster.running());
    let seeds = traffic::seed_cats(nginx.addr, 32);
    let load = traffic::start(nginx.addr, &seeds, CLIENTS, 0);
    std::thread::sleep(Duration::from_millis(1500));
    let victim = REPLICAS - 1;
    let killed_at = traffic::now();
    cluster.kill(victim);
    std::thread::sleep(Duration::from_secs(3));
    let tally = load.finish();
    let dead = cluster.addr(victim).to_string();
    eprintln!(
        "kill -9 of one of {REPLICAS} {engine:?} replicas: {} GET and {} POST answered, {} failed",
        tally.gets,
        tally.posts,
        tally.failures.len()
    );

    // Reads are whole: nginx resent every read the dead replica dropped.
    let failed_reads: Vec<_> = tally.failures.iter().filter(|f| f.method != "POST").collect();
    assert!(failed_reads.is_empty(), "reads failed:\n{}\n{}", tally.describe_failures(), nginx.error_log());
    // A write failed only if it was on the dead replica when it died, and nginx said so (502).
    for f in &tally.failures {
        assert_eq!(f.status, Some(502), "a write failed otherwise than with nginx's 502: {f:?}\n{}", nginx.error_log());
    }
    let log = nginx.access_log();
    let bad_gateways: Vec<_> = log.iter().filter(|l| l.status == 502).collect();
    assert_eq!(bad_gateways.len(), tally.failures.len(), "nginx's 502s are the failures the clients saw");
    for l in &bad_gateways {
        assert_eq!(l.method, "POST", "nginx resends reads, so only a write can fail: {l:?}");
        assert!(l.tried.iter().any(|(a, _)| *a == dead), "a 502 that never tried the dead replica {dead}: {l:?}");
        assert!(l.started() <= killed_at + IN_FLIGHT_SLACK, "a request sent {:.3} s after the kill failed: {l:?}", l.started() - killed_at);
    }
    assert!(tally.failures.len() <= CLIENTS, "more failures ({}) than requests in flight", tally.failures.len());
    // Requests went on being served after the kill.
    assert!(log.iter().any(|l| l.started() > killed_at + 1.0 && l.status < 300), "nothing was served after the kill");
    assert_eq!(tally.resent, 0, "requests resent after nginx closed a client's connection");
    traffic::assert_acknowledged_present(nginx.addr, &tally);
}
