//! Datacenter configs: dcname rules, validated metadata keys, free-form metadata, conflicts,
//! PUT/PATCH with the path's dcname.

use serde_json::Value;

use super::resources::config;
use super::support::*;
use super::tests;
use crate::harness::{Api, Ctx};

pub const TESTS: super::Plain = tests![
    dcname_rules,
    metadata_validated_keys,
    cpu_quantities,
    free_form_metadata_is_kept,
    duplicate_dcname_is_409,
    bulk_conflicts_store_nothing,
    put_may_omit_dcname_but_not_contradict_it,
    patch_merges_nested_metadata,
    concurrent_duplicates_create_one_config,
];

fn monitored(dcname: &str) -> Value {
    config(dcname, "team")
}

#[track_caller]
fn rejected(api: Api, body: &Value, field: &str) {
    assert_invalid(&api.post("/configs").json(body).send(), field);
}

/// A dcname of exactly `len` characters, unique, valid.
fn dcname_of_len(len: usize) -> String {
    let t = tag("d");
    assert!(len >= t.len());
    format!("{t}{}", "z".repeat(len - t.len()))
}

fn dcname_rules(ctx: &Ctx) {
    let api = ctx.api();
    // One-character names are a shared space: take the first that is free.
    let mut one_char = None;
    for c in ('a'..='z').chain('0'..='9') {
        let resp = api.post("/configs").json(&monitored(&c.to_string())).send();
        if resp.status != 409 {
            one_char = Some(resp.expect_json(201));
            break;
        }
    }
    assert!(
        one_char.is_some_and(|c| c["dcname"].as_str().map(str::len) == Some(1)),
        "a 1-character dcname is valid"
    );
    for ok in [
        dcname_of_len(63),
        format!("{}-9", tag("x")),
        format!("0{}", tag("n")),
    ] {
        let c = create(api, "/configs", &monitored(&ok));
        assert_eq!(c["dcname"], json!(ok));
    }
    for bad in [
        String::new(),
        dcname_of_len(64),
        format!("-{}", tag("l")),
        format!("{}-", tag("t")),
        format!("{}Upper", tag("u")),
        format!("{}_x", tag("s")),
        format!("{}.x", tag("p")),
        format!("{} x", tag("w")),
        format!("{}é", tag("e")),
    ] {
        rejected(api, &monitored(&bad), "dcname");
    }
    rejected(api, &without(&monitored("x"), "dcname"), "dcname");
    rejected(
        api,
        &with(&monitored("x"), json!({"dcname": null})),
        "dcname",
    );
    rejected(api, &with(&monitored("x"), json!({"dcname": 12})), "dcname");
}

fn metadata_validated_keys(ctx: &Ctx) {
    let api = ctx.api();
    let dc = tag("meta");
    let base = monitored(&dc);
    rejected(api, &without(&base, "metadata"), "metadata");
    rejected(api, &with(&base, json!({"metadata": null})), "metadata");
    for not_object in [json!("x"), json!([]), json!(3)] {
        rejected(
            api,
            &with(&base, json!({ "metadata": not_object })),
            "metadata",
        );
    }
    let cases = [
        (
            json!({"limits": {"cpu": {"enabled": true}}}),
            "metadata.monitoring.enabled",
        ),
        (
            json!({"limits": {"cpu": {"enabled": true}}, "monitoring": {}}),
            "metadata.monitoring.enabled",
        ),
        (
            json!({"limits": {"cpu": {"enabled": true}}, "monitoring": {"enabled": "yes"}}),
            "metadata.monitoring.enabled",
        ),
        (
            json!({"limits": {"cpu": {"enabled": true}}, "monitoring": {"enabled": null}}),
            "metadata.monitoring.enabled",
        ),
        (
            json!({"monitoring": {"enabled": true}}),
            "metadata.limits.cpu.enabled",
        ),
        (
            json!({"limits": {}, "monitoring": {"enabled": true}}),
            "metadata.limits.cpu.enabled",
        ),
        (
            json!({"limits": {"cpu": {}}, "monitoring": {"enabled": true}}),
            "metadata.limits.cpu.enabled",
        ),
        (
            json!({"limits": {"cpu": {"enabled": 1}}, "monitoring": {"enabled": true}}),
            "metadata.limits.cpu.enabled",
        ),
        (
            json!({"limits": {"cpu": {"enabled": true, "value": 2}}, "monitoring": {"enabled": true}}),
            "metadata.limits.cpu.value",
        ),
    ];
    for (metadata, field) in cases {
        rejected(api, &json!({"dcname": dc, "metadata": metadata}), field);
    }
    let page = list(api, &format!("/configs?dcname={dc}"));
    page.resp
        .check(page.total == 0, "rejected configs are not stored");
    // cpu.value is optional; null is as good as absent.
    let c = create(
        api,
        "/configs",
        &json!({"dcname": dc, "metadata": {"limits": {"cpu": {"enabled": false, "value": null}}, "monitoring": {"enabled": false}}}),
    );
    assert_eq!(c["dcname"], json!(dc));
}

fn cpu_quantities(ctx: &Ctx) {
    let api = ctx.api();
    let body = |dc: &str, value: &str| json!({"dcname": dc, "metadata": {"limits": {"cpu": {"enabled": true, "value": value}}, "monitoring": {"enabled": true}}});
    for ok in ["500m", "2", "1.5", "100m", "0.5", "64"] {
        let dc = tag("cpu");
        let c = create(api, "/configs", &body(&dc, ok));
        assert_eq!(
            c["metadata"]["limits"]["cpu"]["value"],
            json!(ok),
            "cpu value stored as sent"
        );
    }
    for bad in [" 500m", "500m ", "500 m", "m", "", "1.2.3", "abc", "5x"] {
        rejected(api, &body(&tag("cpu"), bad), "metadata.limits.cpu.value");
    }
}

fn free_form_metadata_is_kept(ctx: &Ctx) {
    let api = ctx.api();
    let dc = tag("free");
    let metadata = json!({
        "limits": {"cpu": {"enabled": true, "value": "1.5"}, "memory": {"value": "2Gi"}},
        "monitoring": {"enabled": true, "endpoint": "http://mon:9090"},
        "labels": {"tier": {"level": 3, "names": ["a", "b"]}},
        "ha": true,
        "weight": 0.25,
        "note": null,
        "ünïcode key": "✓"
    });
    let resp = api
        .post("/configs")
        .json(&json!({"dcname": dc, "metadata": metadata}))
        .send();
    let c = resp.expect_json(201);
    resp.check(
        keys(&c) == ["dcname", "metadata", "createdAt", "updatedAt"],
        "config keys in order (no id)",
    );
    resp.check(
        resp.header("location") == Some(format!("/configs/{dc}").as_str()),
        "Location is /configs/{dcname}",
    );
    assert_json_eq(
        &resp,
        &c["metadata"],
        &metadata,
        "free-form metadata is returned as sent",
    );
    let got = api.get(&format!("/configs/{dc}")).send();
    assert_json_eq(
        &got,
        &got.expect_json(200)["metadata"],
        &metadata,
        "and read back as sent",
    );
}

fn duplicate_dcname_is_409(ctx: &Ctx) {
    let api = ctx.api();
    let dc = tag("dup");
    let first = create(api, "/configs", &monitored(&dc));
    assert_conflict(
        &api.post("/configs").json(&config(&dc, "other")).send(),
        "dcname",
    );
    let got = api.get(&format!("/configs/{dc}")).send();
    assert_json_eq(
        &got,
        &got.expect_json(200),
        &first,
        "the first config is unchanged",
    );
}

fn bulk_conflicts_store_nothing(ctx: &Ctx) {
    let api = ctx.api();
    let (a, b, existing) = (tag("bulka"), tag("bulkb"), tag("bulke"));
    create(api, "/configs", &monitored(&existing));
    let within = json!([monitored(&a), monitored(&b), monitored(&a)]);
    assert_conflict(&api.post("/configs").json(&within).send(), "[2].dcname");
    let against = json!([monitored(&a), monitored(&existing), monitored(&b)]);
    assert_conflict(&api.post("/configs").json(&against).send(), "[1].dcname");
    for dc in [&a, &b] {
        assert_not_found(&api.get(&format!("/configs/{dc}")).send());
    }
    let page = list(api, &format!("/configs?dcname={existing}"));
    page.resp
        .check(page.total == 1, "the existing config is still there, once");
}

fn put_may_omit_dcname_but_not_contradict_it(ctx: &Ctx) {
    let api = ctx.api();
    let dc = tag("put");
    let original = create(api, "/configs", &config(&dc, "team"));
    let path = format!("/configs/{dc}");
    let metadata = json!({"limits": {"cpu": {"enabled": false}}, "monitoring": {"enabled": true}});
    let resp = api.put(&path).json(&json!({"metadata": metadata})).send();
    let put = resp.expect_json(200);
    assert_json_eq(
        &resp,
        &put["dcname"],
        &json!(dc),
        "dcname comes from the path",
    );
    assert_json_eq(
        &resp,
        &put["metadata"],
        &metadata,
        "PUT replaces the whole metadata (free-form keys too)",
    );
    let resp = api
        .put(&path)
        .json(&json!({"dcname": dc, "metadata": metadata}))
        .send();
    resp.expect(200);
    let other = tag("other");
    assert_invalid(
        &api.put(&path)
            .json(&json!({"dcname": other, "metadata": metadata}))
            .send(),
        "dcname",
    );
    assert_invalid(
        &api.patch(&path).json(&json!({"dcname": other})).send(),
        "dcname",
    );
    assert_not_found(&api.get(&format!("/configs/{other}")).send());
    let resp = api.patch(&path).json(&json!({"dcname": dc})).send();
    resp.expect(200);
    let got = get_json(api, &path);
    assert_eq!(got["createdAt"], original["createdAt"]);
}

fn patch_merges_nested_metadata(ctx: &Ctx) {
    let api = ctx.api();
    let dc = tag("patch");
    create(
        api,
        "/configs",
        &json!({"dcname": dc, "metadata": {
            "limits": {"cpu": {"enabled": true, "value": "500m"}},
            "monitoring": {"enabled": true},
            "labels": {"tier": "gold", "zone": "a"}
        }}),
    );
    let path = format!("/configs/{dc}");
    let resp = api.patch(&path).merge_patch(&json!({"metadata": {"labels": {"zone": null, "rack": 7}, "limits": {"cpu": {"value": "2"}}}})).send();
    let patched = resp.expect_json(200);
    let expected = json!({
        "limits": {"cpu": {"enabled": true, "value": "2"}},
        "monitoring": {"enabled": true},
        "labels": {"tier": "gold", "rack": 7}
    });
    assert_json_eq(
        &resp,
        &patched["metadata"],
        &expected,
        "merge patch merges nested objects and removes null keys",
    );
    assert_invalid(
        &api.patch(&path)
            .json(&json!({"metadata": {"limits": {"cpu": {"value": "1.2.3"}}}}))
            .send(),
        "metadata.limits.cpu.value",
    );
    assert_invalid(
        &api.patch(&path)
            .json(&json!({"metadata": {"monitoring": null}}))
            .send(),
        "metadata.monitoring.enabled",
    );
    let got = api.get(&path).send();
    assert_json_eq(
        &got,
        &got.expect_json(200)["metadata"],
        &expected,
        "rejected patches change nothing",
    );
}

/// Racing creates of one dcname: one 201, the rest 409 naming `dcname`.
fn concurrent_duplicates_create_one_config(ctx: &Ctx) {
    let api = ctx.api();
    let dc = tag("race");
    let answers = race(8, |i| {
        api.post("/configs")
            .json(&config(&dc, &format!("owner{i}")))
    });
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    for conflict in answers.iter().filter(|a| a.status == 409) {
        assert_conflict(conflict, "dcname");
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert!(
        created == 1 && statuses.iter().all(|s| *s == 201 || *s == 409),
        "8 racing creates of {dc}: expected one 201 and seven 409, got {statuses:?}"
    );
}
