//! The replica set: several servers of one engine on one PostgreSQL + Redis, behind a real
//! nginx from Debian, as operators run spincrud, under load: rolling restarts, a crash
//! (`kill -9`), scaling up and down, races between replicas, and host-runner's lame-duck
//! shutdown on its own. Runs on host-runner's two engines and, when a Spin CLI is there, on Spin.
//!
//! How a replica leaves the rotation differs, as it does in production: host-runner drains by
//! itself on SIGTERM (`/readyz` 503, `Connection: close`, then it refuses connections, which
//! nginx retries elsewhere), so it is sent SIGTERM while nginx still routes to it. Spin stops at
//! once on SIGTERM (its in-flight requests are cut), so it is first taken out of nginx's list
//! and stopped once nginx's old workers are done: what Kubernetes' endpoint removal and a preStop
//! pause do for a SpinKube pod.

pub(crate) mod cluster;
mod crash;
mod lame_duck;
pub mod nginx;
mod races;
mod rolling;
pub(crate) mod traffic;

use std::process::ExitCode;
use std::time::Duration;

use libtest_mimic::{Arguments, Trial};

use crate::harness::{self, Engine};
use crate::runner;

/// Default parallelism: one test at a time, since each load test alone keeps two cores busy
/// with its replicas, PostgreSQL and nginx.
const DEFAULT_TEST_THREADS: usize = 1;

/// Replicas per cluster.
pub const REPLICAS: usize = 3;
/// Kept-alive client connections to nginx.
pub const CLIENTS: usize = 32;

/// Runs the replica set on every engine there is, and returns the process exit code.
pub fn run() -> ExitCode {
    let mut args = Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(DEFAULT_TEST_THREADS);
    }
    runner::install_panic_hook();
    let mut engines = vec![Engine::Native, Engine::Wasm];
    if harness::spin::spin_binary().is_some() {
        engines.push(Engine::Spin);
    } else {
        eprintln!("spincrud-tests: no Spin CLI (set SPIN_BIN or put `spin` on PATH): the replica set on Spin was not run");
    }
    let mut trials = Vec::new();
    for engine in engines {
        let prefix = engine.env_value();
        let mut add = |name: &str, body: fn(Engine)| trials.push(Trial::test(format!("{prefix}::{name}"), move || runner::captured(|| body(engine))));
        if engine.is_host_runner() {
            add("lame_duck::readyz_503_connection_close_then_refuses_and_finishes_in_flight", lame_duck::drains_then_stops);
            add("lame_duck::a_second_signal_ends_the_drain", lame_duck::second_signal_ends_the_drain);
        } else {
            add("sigterm_stops_at_once_without_a_drain", lame_duck::spin_stops_at_once);
        }
        add("rolling_restart_under_load_fails_no_request", rolling::rolling_restart);
        add("scaling_up_and_down_under_load_fails_no_request", rolling::scale_up_and_down);
        add("kill_9_loses_only_requests_in_flight_on_it", crash::kill_9_under_load);
        add("races_across_replicas_have_exactly_one_winner", races::races);
    }
    let wasm_selected = trials.iter().any(|t| t.name().starts_with("wasm::") && !args.list && args.filter.as_ref().is_none_or(|f| t.name().contains(f.as_str())));
    if wasm_selected {
        harness::wasm::prepare_wasm_engine();
    }
    let conclusion = libtest_mimic::run(&args, trials);
    harness::shutdown(!conclusion.has_failed());
    conclusion.exit_code()
}

/// host-runner replicas drain for longer than nginx keeps an idle connection to them
/// (`nginx/upstream.conf`), so that no connection nginx may reuse is closed under it.
pub fn drain_period() -> Duration {
    nginx::upstream_idle_timeout() + Duration::from_secs(1)
}

/// Settings of every host-runner replica.
pub fn replica_env() -> Vec<(&'static str, String)> {
    vec![("DRAIN_PERIOD", format!("{}s", drain_period().as_secs())), ("SHUTDOWN_TIMEOUT", "20".into())]
}

/// How long a replica may take to exit after SIGTERM.
pub fn stop_within() -> Duration {
    drain_period() + Duration::from_secs(30)
}
