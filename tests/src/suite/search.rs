//! `GET /search` (and the same filters on `GET /configs`): dotted metadata paths, free-form
//! keys, booleans, numbers, strings; paging and ordering like any list.

use super::support::*;
use super::tests;
use crate::harness::{Api, Ctx};

pub const TESTS: super::Plain = tests![
    filters_by_dotted_paths,
    paging_and_ordering,
    bad_parameters_are_400
];

/// Creates three configs owned by a fresh tag; returns (owner, [a, b, c] dcnames).
fn three_configs(api: Api) -> (String, [String; 3]) {
    let owner = tag("own");
    let names = [
        format!("{owner}-a"),
        format!("{owner}-b"),
        format!("{owner}-c"),
    ];
    let metadata = [
        json!({"limits": {"cpu": {"enabled": true, "value": "500m"}}, "monitoring": {"enabled": true}, "owner": owner}),
        json!({"limits": {"cpu": {"enabled": false, "value": "2"}}, "monitoring": {"enabled": false}, "owner": owner, "region": "eu-west"}),
        json!({"limits": {"cpu": {"enabled": true, "value": "1.5"}}, "monitoring": {"enabled": true}, "owner": owner,
               "labels": {"tier": {"level": 3}}, "ha": true, "region": "eu-west"}),
    ];
    for (name, m) in names.iter().zip(metadata) {
        create(api, "/configs", &json!({"dcname": name, "metadata": m}));
    }
    (owner, names)
}

fn filters_by_dotted_paths(ctx: &Ctx) {
    let api = ctx.api();
    let (owner, [a, b, c]) = three_configs(api);
    let cases: [(&str, Vec<&String>); 12] = [
        ("", vec![&a, &b, &c]),
        ("&metadata.monitoring.enabled=true", vec![&a, &c]),
        ("&metadata.monitoring.enabled=false", vec![&b]),
        ("&metadata.limits.cpu.value=500m", vec![&a]),
        ("&metadata.limits.cpu.value=2", vec![&b]),
        ("&metadata.limits.cpu.value=1.5", vec![&c]),
        (
            "&metadata.monitoring.enabled=true&metadata.limits.cpu.value=500m",
            vec![&a],
        ),
        ("&metadata.labels.tier.level=3", vec![&c]),
        ("&metadata.ha=true", vec![&c]),
        ("&metadata.region=eu-west", vec![&b, &c]),
        ("&metadata.region=eu-east", vec![]),
        ("&metadata.no.such.path=1", vec![]),
    ];
    for base in ["/search", "/configs"] {
        for (extra, expected) in &cases {
            let target = format!("{base}?metadata.owner={owner}{extra}");
            let page = list(api, &target);
            let got = pluck(&page.items, "dcname");
            let want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
            page.resp.check(
                got == want && page.total == want.len() as u64,
                &format!(
                    "{target} should list {want:?} (X-Total-Count {})",
                    want.len()
                ),
            );
        }
    }
    let by_name = list(api, &format!("/search?dcname={b}"));
    by_name.resp.check(
        pluck(&by_name.items, "dcname") == [b.clone()],
        "dcname filter on /search",
    );
    let full = list(api, &format!("/search?dcname={a}"));
    let got = get_json(api, &format!("/configs/{a}"));
    full.resp.check(
        full.items == [got],
        "search results are full representations",
    );
}

fn paging_and_ordering(ctx: &Ctx) {
    let api = ctx.api();
    let (owner, [a, b, c]) = three_configs(api);
    let first = list(api, &format!("/search?metadata.owner={owner}&limit=2"));
    first.resp.check(
        pluck(&first.items, "dcname") == [a.clone(), b.clone()] && first.total == 3,
        "first page",
    );
    let next = first
        .next
        .clone()
        .unwrap_or_else(|| panic!("Link rel=\"next\" expected\n{}", first.resp.describe()));
    first.resp.check(
        next.contains(&format!("metadata.owner={owner}")),
        "Link keeps the metadata filter",
    );
    let second = list(api, &next);
    second.resp.check(
        pluck(&second.items, "dcname") == [c.clone()] && second.next.is_none(),
        "second page",
    );
    let desc = list(
        api,
        &format!("/search?metadata.owner={owner}&order=dcname.desc"),
    );
    desc.resp.check(
        pluck(&desc.items, "dcname") == [c.clone(), b.clone(), a.clone()],
        "order=dcname.desc",
    );
    let offset = list(api, &format!("/configs?metadata.owner={owner}&offset=2"));
    offset.resp.check(
        pluck(&offset.items, "dcname") == [c.clone()],
        "offset on /configs",
    );
}

fn bad_parameters_are_400(ctx: &Ctx) {
    let api = ctx.api();
    for target in [
        "/search?bogus=1",
        "/search?limit=1001",
        "/search?offset=-1",
        "/search?order=nope.asc",
        "/search?metadata=x",
        "/search?limit=1&limit=2",
    ] {
        assert_bad_request(&api.get(target).send());
    }
}
