//! `/data`: the meteorite records in the key-value store. One collection per server, so
//! both tests hold `ctx.lock_data()` and start from an empty collection.

use serde_json::Value;

use super::support::*;
use super::tests;
use crate::harness::http::Response;
use crate::harness::{Api, Ctx};

pub const TESTS: super::Plain = tests![
    bundled_load_start_and_limit,
    array_load_upsert_and_delete,
    concurrent_loads_keep_every_record,
    clear_after_concurrent_loads_removes_every_record,
    offsets_follow_a_model_across_chunks_concurrent_loads_upserts_and_deletes,
    many_writers_at_once_follow_a_model,
];

const FIELDS: [&str; 7] = [
    "id",
    "name",
    "recclass",
    "mass (g)",
    "reclat",
    "reclong",
    "GeoLocation",
];

fn record(id: &str, name: &str) -> Value {
    json!({"id": id, "name": name, "recclass": "L5", "mass (g)": "21", "reclat": "50.775000",
           "reclong": "6.083330", "GeoLocation": "(50.775, 6.08333)"})
}

#[track_caller]
fn clear(api: Api) {
    let resp = api.delete("/data").send();
    resp.expect(204);
    resp.check(resp.body.is_empty(), "204 has no body");
    let page = list(api, "/data");
    page.resp.check(
        page.items.is_empty() && page.total == 0,
        "DELETE /data leaves it empty (X-Total-Count 0)",
    );
}

#[track_caller]
fn assert_loaded(resp: &Response, n: Option<u64>) -> u64 {
    let body = resp.expect_json(201);
    let loaded = body["loaded"]
        .as_u64()
        .unwrap_or_else(|| panic!("{{\"loaded\": N}} expected\n{}", resp.describe()));
    resp.check(
        keys(&body) == ["loaded"],
        "the answer is exactly {\"loaded\": N}",
    );
    if let Some(n) = n {
        resp.check(loaded == n, &format!("loaded should be {n}"));
    }
    loaded
}

fn ids(items: &[Value]) -> Vec<String> {
    pluck(items, "id")
}

fn bundled_load_start_and_limit(ctx: &Ctx) {
    let _guard = ctx.lock_data();
    let api = ctx.api();
    clear(api);

    let n = assert_loaded(&api.post("/data").send(), None);
    assert!(
        n >= 1000,
        "the bundled dataset has at least 1000 records, loaded {n}"
    );
    let all = list(api, "/data");
    all.resp.check(
        all.items.len() as u64 == n && all.total == n,
        &format!("GET /data returns all {n} records, X-Total-Count {n}"),
    );
    all.resp.check(all.next.is_none(), "no Link without limit");
    for r in &all.items {
        let obj = r
            .as_object()
            .unwrap_or_else(|| panic!("record is not an object: {r}"));
        let ok = obj
            .iter()
            .all(|(k, v)| FIELDS.contains(&k.as_str()) && v.is_string())
            && r["id"].as_str().is_some_and(|id| !id.is_empty());
        all.resp.check(
            ok,
            &format!("every record has a non-empty id and only the string fields {FIELDS:?}: {r}"),
        );
    }
    let all_ids = ids(&all.items);
    let mut unique = all_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all_ids.len(), "ids are unique");

    let from10 = list(api, "/data?start=10");
    from10.resp.check(
        from10.items == all.items[10..] && from10.total == n,
        "start=10 is the slice [10:], X-Total-Count the whole size",
    );
    let page = list(api, "/data?start=10&limit=5");
    page.resp.check(
        page.items == all.items[10..15] && page.total == n,
        "start=10&limit=5 is [10:15]",
    );
    let next = page
        .next
        .clone()
        .unwrap_or_else(|| panic!("Link rel=\"next\" expected\n{}", page.resp.describe()));
    page.resp.check(
        next.starts_with("/data?limit=5&cursor=") && !next.contains("start="),
        "Link continues by cursor",
    );
    let following = list(api, &next);
    following.resp.check(
        following.items == all.items[15..20],
        "following Link gives [15:20]",
    );
    let tail = list(api, &format!("/data?start={}&limit=5", n - 1));
    tail.resp.check(
        tail.items == all.items[(n - 1) as usize..] && tail.next.is_none(),
        "the last record, no Link",
    );
    let past = list(api, &format!("/data?start={n}"));
    past.resp.check(
        past.items.is_empty() && past.total == n,
        "start = size: empty",
    );
    let big = list(api, &format!("/data?limit={}", n + 5000));
    big.resp
        .check(big.items.len() as u64 == n, "limit on /data has no maximum");
    let head = list(api, "/data?limit=3");
    head.resp
        .check(head.items == all.items[..3], "limit alone starts at 0");
    for bad in [
        "/data?start=-1",
        "/data?start=abc",
        "/data?limit=abc",
        "/data?limit=-1",
        "/data?bogus=1",
        "/data?start=1&start=2",
    ] {
        assert_bad_request(&api.get(bad).send());
    }

    let sample = &all.items[5];
    let path = format!("/data/{}", enc(sample["id"].as_str().unwrap()));
    let resp = api.get(&path).send();
    assert_json_eq(
        &resp,
        &resp.expect_json(200),
        sample,
        "GET /data/{id} returns the record",
    );
    let tag_ = etag(&resp);
    let cached = api.get(&path).if_none_match(&tag_).send();
    cached.expect(304);
    cached.check(
        cached.body.is_empty() && cached.header("etag") == Some(tag_.as_str()),
        "304 repeats the ETag, no body",
    );
    assert_not_found(&api.get(&format!("/data/{}", tag("nometeorite"))).send());

    // Loading again upserts: same size, same order.
    assert_loaded(&api.post("/data").send(), Some(n));
    let again = list(api, "/data");
    again.resp.check(
        ids(&again.items) == all_ids,
        "reloading keeps the dataset order and size",
    );

    clear(api);
}

fn array_load_upsert_and_delete(ctx: &Ctx) {
    let _guard = ctx.lock_data();
    let api = ctx.api();
    clear(api);
    let t = tag("met");
    let id = |s: &str| format!("{t}-{s}");
    let (a, b, c, d) = (
        record(&id("a"), "Aachen"),
        record(&id("b"), "Aarhus"),
        record(&id("c"), "Abee"),
        record(&id("d"), "Acapulco"),
    );

    assert_loaded(&api.post("/data").json(&json!([a, b, c])).send(), Some(3));
    let page = list(api, "/data");
    assert_json_eq(
        &page.resp,
        &Value::Array(page.items.clone()),
        &json!([a, b, c]),
        "records in load order, as sent",
    );

    let b2 = with(&b, json!({"name": "Aarhus II", "mass (g)": "720"}));
    assert_loaded(&api.post("/data").json(&json!([b2, d])).send(), Some(2));
    let page = list(api, "/data");
    assert_json_eq(
        &page.resp,
        &Value::Array(page.items.clone()),
        &json!([a, b2, c, d]),
        "an upserted record keeps its position; new ids go to the end",
    );
    page.resp.check(page.total == 4, "X-Total-Count 4");

    // One invalid record stores nothing.
    let e = record(&id("e"), "Achiras");
    let invalid_loads = [
        (json!([e, {"id": "", "name": "x"}]), "[1].id"),
        (json!([e, {"name": "no id"}]), "[1].id"),
        (json!([e, {"id": id("f"), "bogus": "1"}]), "[1].bogus"),
        (json!([{"id": id("f"), "mass (g)": 21}, e]), "[0].mass (g)"),
        (json!([e, {"id": 7}]), "[1].id"),
    ];
    for (body, field) in invalid_loads {
        assert_invalid(&api.post("/data").json(&body).send(), field);
    }
    let page = list(api, "/data");
    page.resp.check(
        ids(&page.items) == [id("a"), id("b"), id("c"), id("d")],
        "failed loads store nothing",
    );

    assert_loaded(&api.post("/data").json(&json!([])).send(), Some(0));
    assert_problem(
        &api.post("/data")
            .content_type("text/plain")
            .body("[]")
            .send(),
        415,
        "unsupported-media-type",
    );

    // Within one load a repeated id keeps its first position and its last value.
    let g1 = record(&id("g"), "first");
    let g2 = record(&id("g"), "last");
    let h = record(&id("h"), "between");
    api.post("/data")
        .json(&json!([g1, h, g2]))
        .send()
        .expect(201);
    let page = list(api, "/data");
    page.resp.check(
        ids(&page.items) == [id("a"), id("b"), id("c"), id("d"), id("g"), id("h")],
        "repeated id keeps its first position",
    );
    page.resp
        .check(page.items[4] == g2, "repeated id keeps its last value");

    // Rewriting identical content keeps the ETag; a change changes it.
    let a_path = format!("/data/{}", id("a"));
    let before = etag(&api.get(&a_path).send());
    assert_loaded(&api.post("/data").json(&json!([a])).send(), Some(1));
    assert_eq!(
        etag(&api.get(&a_path).send()),
        before,
        "identical content keeps the ETag"
    );

    let b_path = format!("/data/{}", id("b"));
    let stale = "\"0123456789abcdef0123456789abcdef\"";
    assert_problem(
        &api.delete(&b_path).if_match(stale).send(),
        412,
        "precondition-failed",
    );
    api.get(&b_path).send().expect(200);
    let resp = api
        .delete(&b_path)
        .if_match(&etag(&api.get(&b_path).send()))
        .send();
    resp.expect(204);
    resp.check(resp.body.is_empty(), "204 has no body");
    assert_not_found(&api.get(&format!("/data/{}", id("b"))).send());
    assert_not_found(&api.delete(&format!("/data/{}", id("b"))).send());
    let page = list(api, "/data");
    page.resp.check(
        ids(&page.items) == [id("a"), id("c"), id("d"), id("g"), id("h")] && page.total == 5,
        "a deleted record leaves the list",
    );

    clear(api);
}

/// Loads racing each other: every record of every successful load is listed afterwards
/// (the dataset order must not lose ids), and racing deletes remove exactly their record.
fn concurrent_loads_keep_every_record(ctx: &Ctx) {
    let _guard = ctx.lock_data();
    let api = ctx.api();
    clear(api);
    let t = tag("race");
    let ids: Vec<String> = (0..8).map(|i| format!("{t}-{i}")).collect();
    let answers = race(ids.len(), |i| {
        api.post("/data").json(&json!([record(&ids[i], "Racer")]))
    });
    for a in &answers {
        assert_loaded(a, Some(1));
    }
    let page = list(api, "/data");
    let mut listed = pluck(&page.items, "id");
    listed.sort();
    let unlisted: Vec<String> = ids
        .iter()
        .filter(|id| !listed.contains(id))
        .map(|id| {
            format!(
                "{id} (GET /data/{id}: {})",
                api.get(&format!("/data/{id}")).send().status
            )
        })
        .collect();
    page.resp.check(
        unlisted.is_empty() && page.total == 8,
        &format!("all 8 racing loads should be listed; missing from GET /data: {unlisted:?}"),
    );

    let doomed = &ids[..4];
    let answers = race(doomed.len(), |i| {
        api.delete(&format!("/data/{}", doomed[i]))
    });
    for a in &answers {
        a.expect(204);
    }
    let page = list(api, "/data");
    let mut listed = pluck(&page.items, "id");
    listed.sort();
    page.resp.check(
        listed == ids[4..] && page.total == 4,
        "racing deletes remove exactly their records",
    );
    clear(api);
}

/// `DELETE /data` clears all: no record stays readable, even after racing loads.
fn clear_after_concurrent_loads_removes_every_record(ctx: &Ctx) {
    let _guard = ctx.lock_data();
    let api = ctx.api();
    clear(api);
    let t = tag("clear");
    let ids: Vec<String> = (0..8).map(|i| format!("{t}-{i}")).collect();
    for a in race(ids.len(), |i| {
        api.post("/data").json(&json!([record(&ids[i], "Racer")]))
    }) {
        assert_loaded(&a, Some(1));
    }
    clear(api);
    let still_there: Vec<&String> = ids
        .iter()
        .filter(|id| api.get(&format!("/data/{id}")).send().status != 404)
        .collect();
    assert!(still_there.is_empty(), "after DELETE /data (204), GET /data/{{id}} should be 404 for every record, but these are still readable: {still_there:?}");
}

/// Pages at chunk boundaries and in between, and the whole list, against the model.
#[track_caller]
fn check_against(api: Api, model: &[String], what: &str) {
    let n = model.len();
    let whole = list(api, "/data");
    assert_eq!(pluck(&whole.items, "id"), model, "{what}: GET /data is the model");
    assert_eq!(whole.total, n as u64, "{what}: X-Total-Count");
    for start in [0, 1, 255, 256, 257, 300, 511, 512, 513, n / 2, n.saturating_sub(3), n, n + 5] {
        let page = list(api, &format!("/data?start={start}&limit=20"));
        let from = start.min(n);
        let to = (start + 20).min(n);
        assert_eq!(pluck(&page.items, "id"), model[from..to], "{what}: page at start={start}");
        assert_eq!(page.total, n as u64, "{what}: X-Total-Count at start={start}");
        assert_eq!(page.next.is_some(), to < n, "{what}: Link at start={start}");
    }
    // Every page by cursor: from the first page's Link to the last, across chunk boundaries.
    let mut walked = Vec::new();
    let mut target = Some("/data?limit=97".to_string());
    while let Some(t) = target {
        let page = list(api, &t);
        walked.extend(pluck(&page.items, "id"));
        target = page.next;
        assert!(walked.len() <= n, "{what}: the walk by cursor goes past the end");
    }
    assert_eq!(walked, model, "{what}: the walk by cursor is the model");
}

/// `/data` spans several chunks of slots: offsets stay those of the model through concurrent
/// loads (each one's new ids stay together and in order), upserts (in place) and deletes
/// (positions close up).
fn offsets_follow_a_model_across_chunks_concurrent_loads_upserts_and_deletes(ctx: &Ctx) {
    let _guard = ctx.lock_data();
    let api = ctx.api();
    clear(api);
    let t = tag("model");
    let id = |i: usize| format!("{t}-{i:04}");
    let mut model: Vec<String> = (0..700).map(id).collect();
    let first: Vec<Value> = model.iter().map(|i| record(i, "first")).collect();
    assert_loaded(&api.post("/data").json(&Value::Array(first)).send(), Some(700));
    check_against(api, &model, "after the first load");

    // Four loads at once: each upserts 50 records of the first load and adds 120 new ones.
    let batches: Vec<Vec<String>> = (0..4).map(|b| (0..120).map(|i| id(1000 + b * 120 + i)).collect()).collect();
    let answers = race(4, |b| {
        let mut body: Vec<Value> = (0..50).map(|i| record(&id(b * 150 + i), &format!("upsert {b}"))).collect();
        body.extend(batches[b].iter().map(|i| record(i, "new")));
        api.post("/data").json(&Value::Array(body))
    });
    for a in &answers {
        assert_loaded(a, Some(170));
    }
    // Upserts kept their places; the new ids follow, one load's block after another's.
    let listed = pluck(&list(api, "/data").items, "id");
    assert_eq!(listed[..700], model[..], "upserts keep their positions");
    let mut tail: Vec<&[String]> = listed[700..].chunks(120).collect();
    tail.sort_by_key(|block| block[0].clone());
    let expected: Vec<&[String]> = batches.iter().map(Vec::as_slice).collect();
    assert_eq!(tail, expected, "each load's new ids stay together, in its order");
    model = listed;
    let upserted = get_json(api, &format!("/data/{}", id(151)));
    assert_eq!(upserted["name"], "upsert 1");

    // Deletes at once (64 clients, spread over every chunk), then a deleted id loaded again goes
    // to the end. (Each takes the lease in turn: many more at once only test the lease's
    // patience, which a slow debug build under the whole suite's load can run out of.)
    let doomed: Vec<String> = model.iter().step_by(model.len() / 64).take(64).cloned().collect();
    for a in race(doomed.len(), |w| api.delete(&format!("/data/{}", doomed[w]))) {
        a.expect(204);
    }
    model.retain(|i| !doomed.contains(i));
    check_against(api, &model, "after the deletes");
    assert_loaded(&api.post("/data").json(&json!([record(&doomed[0], "back")])).send(), Some(1));
    model.push(doomed[0].clone());
    check_against(api, &model, "after loading a deleted id again");
    clear(api);
}

/// 64 writers at once for a few seconds, each loading records of its own (and now and then
/// deleting one it loaded): no answer is a 5xx, every acknowledged record is listed and every
/// acknowledged delete is gone, and each writer's records keep the order it loaded them in. Two
/// writers holding the lease at once would overwrite each other's chunks and lose records.
fn many_writers_at_once_follow_a_model(ctx: &Ctx) {
    const WRITERS: usize = 64;
    let _guard = ctx.lock_data();
    let api = ctx.api();
    clear(api);
    let t = tag("many");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let requests = std::sync::atomic::AtomicUsize::new(0);
    let models: Vec<Vec<String>> = std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (t, requests) = (&t, &requests);
                s.spawn(move || {
                    let mut mine: Vec<String> = Vec::new();
                    let mut i = 0;
                    while std::time::Instant::now() < until {
                        let id = format!("{t}-{w:02}-{i:04}");
                        let resp = api.post("/data").json(&json!([record(&id, "writer")])).allow_server_error().send();
                        assert_loaded(&resp, Some(1));
                        requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        mine.push(id);
                        i += 1;
                        if i % 4 == 0 {
                            let gone = mine.remove(mine.len() / 2);
                            api.delete(&format!("/data/{gone}")).allow_server_error().send().expect(204);
                            requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    mine
                })
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    eprintln!("{WRITERS} /data writers ({:?}, {:?}): {} writes in 5 s", ctx.engine, ctx.stores, requests.into_inner());
    let listed = ids(&list(api, "/data").items);
    let mut expected: Vec<&String> = models.iter().flatten().collect();
    expected.sort();
    let mut got: Vec<&String> = listed.iter().collect();
    got.sort();
    assert_eq!(got, expected, "every acknowledged record, and only those, is listed");
    for model in &models {
        let theirs: Vec<&String> = listed.iter().filter(|id| model.contains(id)).collect();
        assert_eq!(theirs, model.iter().collect::<Vec<_>>(), "a writer's records stay in its order");
    }
    clear(api);
}
