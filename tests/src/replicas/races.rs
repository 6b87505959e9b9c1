//! Races between replicas: the same write sent to every replica at the same moment. The
//! database decides, never a replica's memory: exactly one request wins and the others get the
//! status docs/api.md gives them.

use std::sync::Barrier;

use serde_json::{json, Value};

use super::cluster::Cluster;
use super::{replica_env, REPLICAS};
use crate::harness::http::{Request, Response};
use crate::harness::Engine;
use crate::suite::support::{assert_conflict, assert_problem, etag, tag};

/// Requests per replica in each race.
const PER_REPLICA: usize = 4;
/// Rounds of each race (a race that one replica wins by being first every time proves little).
const ROUNDS: usize = 6;

pub fn races(engine: Engine) {
    let name = format!("{}_races", engine.env_value());
    let cluster = Cluster::start(engine, &name, REPLICAS, &replica_env());
    for _ in 0..ROUNDS {
        same_username_everywhere(&cluster);
        same_if_match_update_everywhere(&cluster, "PUT");
        same_if_match_update_everywhere(&cluster, "PATCH");
        same_delete_everywhere(&cluster, false);
        same_delete_everywhere(&cluster, true);
    }
    data_writers_on_every_replica(&cluster);
}

/// Sends `request(k)` for k in 0..n from n threads at once (a barrier lines them up), request k
/// to replica k % REPLICAS.
fn at_once(cluster: &Cluster, n: usize, request: impl Fn(usize, &Cluster) -> Request + Sync) -> Vec<Response> {
    let barrier = Barrier::new(n);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..n)
            .map(|k| {
                let (barrier, request) = (&barrier, &request);
                s.spawn(move || {
                    let req = request(k, cluster).allow_server_error();
                    barrier.wait();
                    req.send()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}

fn statuses(answers: &[Response]) -> Vec<u16> {
    answers.iter().map(|a| a.status).collect()
}

/// The one answer with `status`; panics unless there is exactly one.
#[track_caller]
fn the_winner<'a>(answers: &'a [Response], status: u16, what: &str) -> (usize, &'a Response) {
    let winners: Vec<(usize, &Response)> = answers.iter().enumerate().filter(|(_, a)| a.status == status).collect();
    assert_eq!(winners.len(), 1, "{what}: expected exactly one {status}, got {:?}", statuses(answers));
    winners[0]
}

/// `POST /users` with one username on every replica at once: one `201`, the others `409`
/// naming `username`.
fn same_username_everywhere(cluster: &Cluster) {
    let username = tag("race");
    let n = REPLICAS * PER_REPLICA;
    let answers = at_once(cluster, n, |k, c| {
        c.request(k % REPLICAS, "POST", "/users").json(&json!({ "username": username, "email": format!("{username}-{k}@example.com") }))
    });
    the_winner(&answers, 201, "one username created on every replica");
    for a in answers.iter().filter(|a| a.status != 201) {
        assert_conflict(a, "username");
    }
    for i in 0..REPLICAS {
        let list = cluster.request(i, "GET", &format!("/users?username={username}")).send();
        assert_eq!(list.expect(200).json().as_array().map(Vec::len), Some(1), "replica {i} lists one user {username}");
    }
}

/// A cat's `PUT` or `PATCH` with the same `If-Match` on every replica at once: one `200`, the
/// others `412`; every replica then reads the winner's cat.
fn same_if_match_update_everywhere(cluster: &Cluster, method: &'static str) {
    let created = cluster.request(0, "POST", "/cats").json(&json!({ "name": "Contested", "breed": "Race", "age": 1, "color": "grey" })).send();
    let id = created.expect(201).json()["id"].as_str().unwrap().to_string();
    let tag_now = etag(&created);
    let n = REPLICAS * PER_REPLICA;
    let answers = at_once(cluster, n, |k, c| {
        let req = c.request(k % REPLICAS, method, &format!("/cats/{id}")).if_match(&tag_now);
        match method {
            "PUT" => req.json(&json!({ "name": format!("Winner {k}"), "breed": "Race", "age": 2, "color": "grey" })),
            _ => req.merge_patch(&json!({ "name": format!("Winner {k}") })),
        }
    });
    let (k, winner) = the_winner(&answers, 200, &format!("{method} with one If-Match on every replica"));
    for a in answers.iter().filter(|a| a.status != 200) {
        assert_problem(a, 412, "precondition-failed");
    }
    for i in 0..REPLICAS {
        let now = cluster.request(i, "GET", &format!("/cats/{id}")).send();
        assert_eq!(now.expect(200).json()["name"], format!("Winner {k}"), "replica {i} reads the winner's {method}");
        assert_eq!(etag(&now), etag(winner), "replica {i} reads the winner's ETag");
    }
}

/// The same `DELETE` on every replica at once: one `204`, the others `404` (the cat is gone) or,
/// with `If-Match`, `412` or `404` (whether the tag or the cat was checked first, it is no longer
/// there).
fn same_delete_everywhere(cluster: &Cluster, if_match: bool) {
    let created = cluster.request(0, "POST", "/cats").json(&json!({ "name": "Doomed", "breed": "Race", "age": 1, "color": "grey" })).send();
    let id = created.expect(201).json()["id"].as_str().unwrap().to_string();
    let tag_now = etag(&created);
    let answers = at_once(cluster, REPLICAS * PER_REPLICA, |k, c| {
        let req = c.request(k % REPLICAS, "DELETE", &format!("/cats/{id}"));
        if if_match {
            req.if_match(&tag_now)
        } else {
            req
        }
    });
    let what = if if_match { "DELETE with If-Match on every replica" } else { "DELETE on every replica" };
    the_winner(&answers, 204, what);
    for a in answers.iter().filter(|a| a.status != 204) {
        match a.status {
            412 if if_match => assert_problem(a, 412, "precondition-failed"),
            _ => assert_problem(a, 404, "not-found"),
        };
    }
    for i in 0..REPLICAS {
        assert_problem(&cluster.request(i, "GET", &format!("/cats/{id}")).send(), 404, "not-found");
    }
}

/// `/data` writers on every replica at once: each loads records of its own, and some delete
/// records loaded before. Writers take turns through the key-value store (`/data`'s lease), so
/// none loses another's records: the listing is the model, and each load's new records stay
/// together and in order.
fn data_writers_on_every_replica(cluster: &Cluster) {
    const LOADS: usize = REPLICAS * PER_REPLICA;
    const PER_LOAD: usize = 25;
    let t = tag("dr");
    let record = |id: &str| json!({ "id": id, "name": "race" });
    cluster.request(0, "DELETE", "/data").send().expect(204);
    let base: Vec<String> = (0..60).map(|i| format!("{t}-base-{i:03}")).collect();
    cluster.request(0, "POST", "/data").json(&Value::Array(base.iter().map(|i| record(i)).collect())).send().expect(201);
    let doomed: Vec<&String> = base.iter().step_by(5).collect();
    let loads: Vec<Vec<String>> = (0..LOADS).map(|l| (0..PER_LOAD).map(|i| format!("{t}-l{l:02}-{i:03}")).collect()).collect();
    let writers = LOADS + doomed.len();
    let answers = at_once(cluster, writers, |k, c| {
        if k < LOADS {
            c.request(k % REPLICAS, "POST", "/data").json(&Value::Array(loads[k].iter().map(|i| record(i)).collect()))
        } else {
            c.request(k % REPLICAS, "DELETE", &format!("/data/{}", doomed[k - LOADS]))
        }
    });
    for (k, a) in answers.iter().enumerate() {
        a.expect(if k < LOADS { 201 } else { 204 });
    }
    let listing = |i: usize| {
        let listed = cluster.request(i, "GET", "/data?limit=100000").send();
        let ids: Vec<String> = listed.expect(200).json().as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
        assert_eq!(listed.header("x-total-count"), Some(ids.len().to_string().as_str()), "replica {i}: X-Total-Count");
        ids
    };
    let ids = listing(0);
    // The base records that were not deleted first, in their order; then every load's block.
    let survivors: Vec<String> = base.iter().filter(|i| !doomed.contains(i)).cloned().collect();
    assert_eq!(ids[..survivors.len().min(ids.len())], survivors[..], "the base records that were not deleted, in order");
    let mut blocks: Vec<&[String]> = ids[survivors.len()..].chunks(PER_LOAD).collect();
    blocks.sort();
    let mut wanted: Vec<&[String]> = loads.iter().map(Vec::as_slice).collect();
    wanted.sort();
    assert_eq!(blocks, wanted, "each load's records together, in its order, none lost");
    for i in 1..REPLICAS {
        assert_eq!(listing(i), ids, "replica {i} lists what replica 0 lists");
    }
    cluster.request(0, "DELETE", "/data").send().expect(204);
}
