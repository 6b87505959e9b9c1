//! Cursor pages: every list's `Link: rel="next"` carries an opaque cursor; following the links
//! walks the whole list in its order (ties in creation order, NULLs first ascending and last
//! descending) whatever the page size, on every store; a changed or misused cursor is a `400`.

use serde_json::Value;

use super::support::*;
use super::tests;
use crate::harness::{Api, Ctx};

pub const TESTS: super::Plain = tests![
    cursors_walk_every_order_of_cats,
    cursors_walk_numbers_and_booleans_of_passengers,
    cursors_walk_configs_found_by_metadata,
    a_cursor_continues_after_its_item_through_writes,
    a_changed_or_misused_cursor_is_a_400,
];

/// Follows `Link: rel="next"` from `first` to the end; the items of every page, in order (from
/// the first page: as many as `X-Total-Count` says).
#[track_caller]
fn walk(api: Api, first: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut target = first.to_string();
    for _ in 0..500 {
        let page = list(api, &target);
        let total = page.total;
        items.extend(page.items.iter().cloned());
        match page.next {
            None => {
                if !first.contains("cursor=") {
                    assert_eq!(items.len() as u64, total, "{first}: X-Total-Count is every item walked");
                }
                return items;
            }
            Some(next) => {
                page.resp.check(!page.items.is_empty(), "a Link after a page with items only");
                page.resp.check(next.contains("cursor=") && !next.contains("offset="), "the Link carries a cursor, not an offset");
                target = next;
            }
        }
    }
    panic!("{first}: more than 500 pages");
}

/// The walk from `base` at several page sizes equals the list read in one page.
#[track_caller]
fn check_walks(api: Api, base: &str, expected: &[Value], key: &str) {
    let whole = list(api, &format!("{base}&limit=1000"));
    assert_eq!(pluck(&whole.items, key), pluck(expected, key), "{base}: one page in the expected order");
    assert_eq!(whole.items, expected, "{base}: one page");
    for limit in [1, 2, 3, 5] {
        let walked = walk(api, &format!("{base}&limit={limit}"));
        assert_eq!(pluck(&walked, key), pluck(expected, key), "{base}&limit={limit}: the walk by cursor");
    }
}

/// Sorts `items` (in creation order) as the API orders by `field`: NULLs first ascending, last
/// descending, ties in creation order.
fn sorted(items: &[Value], field: &str, ascending: bool) -> Vec<Value> {
    let mut out = items.to_vec();
    let rank = |v: &Value| -> (u8, f64, String) {
        match v {
            Value::Null => (0, 0.0, String::new()),
            Value::Bool(b) => (1, f64::from(u8::from(*b)), String::new()),
            Value::Number(n) => (1, n.as_f64().unwrap(), String::new()),
            Value::String(s) => (1, 0.0, s.clone()),
            other => panic!("not a sort key: {other}"),
        }
    };
    // A stable sort keeps creation order among ties.
    out.sort_by(|a, b| {
        let (ra, rb) = (rank(&a[field]), rank(&b[field]));
        let ord = ra.0.cmp(&rb.0).then(ra.1.partial_cmp(&rb.1).unwrap()).then(ra.2.cmp(&rb.2));
        if ascending {
            ord
        } else {
            // Descending: NULLs last, the rest reversed; ties still in creation order.
            match (a[field].is_null(), b[field].is_null()) {
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ => ord.reverse(),
            }
        }
    });
    out
}

fn cursors_walk_every_order_of_cats(ctx: &Ctx) {
    let api = ctx.api();
    let color = tag("walk");
    // Ties, NULLs and code-point order (`B` < `a` < `é`) in names, ages and breeds.
    let specs = [
        ("Tom", Some(3), None),
        ("alice", None, Some("Siamese")),
        ("Tom", Some(3), Some("Persian")),
        ("Bob", Some(1), None),
        ("émile", Some(3), Some("Siamese")),
        ("Tom", None, None),
        ("Zed", Some(40), Some("Abyssinian")),
        ("alice", Some(0), Some("Siamese")),
        ("Bob", Some(3), None),
        ("Ann", Some(1), Some("Persian")),
        ("Tom", Some(0), None),
    ];
    let created: Vec<Value> = specs
        .iter()
        .map(|(name, age, breed)| create(api, "/cats", &json!({"name": name, "age": age, "breed": breed, "color": color})))
        .collect();
    let base = format!("/cats?color={color}");
    check_walks(api, &base, &created, "id");
    for field in ["name", "age", "breed", "createdAt", "updatedAt"] {
        for ascending in [true, false] {
            let order = format!("{field}.{}", if ascending { "asc" } else { "desc" });
            check_walks(api, &format!("{base}&order={order}"), &sorted(&created, field, ascending), "id");
        }
    }
}

fn cursors_walk_numbers_and_booleans_of_passengers(ctx: &Ctx) {
    let api = ctx.api();
    let t = tag("pw");
    // A fare no other test uses isolates these passengers.
    let fare = 7000.25 + t.bytes().map(f64::from).sum::<f64>() + (t.len() as f64) * 0.5;
    let specs = [(true, 22.0, 1), (false, 0.42, 3), (true, 22.0, 3), (false, 150.0, 2), (true, 0.42, 1), (false, 22.0, 3), (true, 71.5, 2)];
    let created: Vec<Value> = specs
        .iter()
        .enumerate()
        .map(|(i, (survived, age, class))| {
            create(api, "/passengers", &json!({"survived": survived, "passengerClass": class, "name": format!("P{i} {t}"), "sex": "female",
                "age": age, "siblingsOrSpousesAboard": i % 2, "parentsOrChildrenAboard": 0, "fare": fare}))
        })
        .collect();
    let base = format!("/passengers?fare={fare}");
    check_walks(api, &base, &created, "id");
    for field in ["age", "survived", "passengerClass", "siblingsOrSpousesAboard", "fare"] {
        for ascending in [true, false] {
            let order = format!("{field}.{}", if ascending { "asc" } else { "desc" });
            check_walks(api, &format!("{base}&order={order}"), &sorted(&created, field, ascending), "id");
        }
    }
    // The seed route pages alike, and its Link stays on it.
    let first = list(api, &format!("/passengerlist?fare={fare}&order=age.desc&limit=3"));
    let next = first.next.clone().unwrap_or_else(|| panic!("a Link\n{}", first.resp.describe()));
    first.resp.check(next.starts_with("/passengerlist?"), "the seed route's Link keeps its path");
    assert_eq!(walk(api, &format!("/passengerlist?fare={fare}&order=age.desc&limit=3")), sorted(&created, "age", false));
}

fn cursors_walk_configs_found_by_metadata(ctx: &Ctx) {
    let api = ctx.api();
    let owner = tag("cw");
    let created: Vec<Value> = ["m", "a", "z", "b", "y"]
        .iter()
        .map(|p| {
            create(api, "/configs", &json!({"dcname": format!("{p}-{owner}"),
                "metadata": {"owner": owner, "monitoring": {"enabled": true}, "limits": {"cpu": {"enabled": false}}}}))
        })
        .collect();
    for path in ["/configs", "/search"] {
        let base = format!("{path}?metadata.owner={owner}");
        check_walks(api, &base, &created, "dcname");
        check_walks(api, &format!("{base}&order=dcname.desc"), &sorted(&created, "dcname", false), "dcname");
    }
}

fn a_cursor_continues_after_its_item_through_writes(ctx: &Ctx) {
    let api = ctx.api();
    let color = tag("cw");
    let cats: Vec<Value> = (0..6).map(|i| create(api, "/cats", &json!({"name": format!("W{i}"), "age": i / 2, "color": color}))).collect();
    let id = |c: &Value| c["id"].as_str().unwrap().to_string();
    let first = list(api, &format!("/cats?color={color}&order=age.desc&limit=2"));
    // age.desc: W4 W5 (2), W2 W3 (1), W0 W1 (0).
    assert_eq!(pluck(&first.items, "name"), ["W4", "W5"]);
    let next = first.next.clone().unwrap();
    // The page's last item goes, one before it goes, and a new one with its key comes after it.
    api.delete(&format!("/cats/{}", id(&cats[5]))).send().expect(204);
    api.delete(&format!("/cats/{}", id(&cats[4]))).send().expect(204);
    create(api, "/cats", &json!({"name": "W6", "age": 2, "color": color}));
    let second = list(api, &next);
    assert_eq!(pluck(&second.items, "name"), ["W6", "W2"], "continues after W5's place: the new tie, then the lower ages");
    assert_eq!(second.total, 5, "X-Total-Count counts the list as it is now");
    let rest = walk(api, &second.next.clone().unwrap());
    assert_eq!(pluck(&rest, "name"), ["W3", "W0", "W1"]);
}

fn a_changed_or_misused_cursor_is_a_400(ctx: &Ctx) {
    let api = ctx.api();
    let color = tag("cb");
    for i in 0..3 {
        create(api, "/cats", &json!({"name": format!("C{i}"), "color": color}));
    }
    let page = list(api, &format!("/cats?color={color}&order=name.asc&limit=1"));
    let next = page.next.clone().unwrap();
    let cursor = next.split('&').find_map(|p| p.strip_prefix("cursor=")).unwrap().to_string();
    let changed = {
        let mut bytes = cursor.clone().into_bytes();
        let i = bytes.len() / 2;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let users_cursor = {
        let username = tag("cu");
        create(api, "/users", &json!({"username": format!("{username}a"), "email": format!("{username}a@example.com")}));
        create(api, "/users", &json!({"username": format!("{username}b"), "email": format!("{username}b@example.com")}));
        let all = list(api, "/users?limit=1&order=username.asc");
        all.next.unwrap().split('&').find_map(|p| p.strip_prefix("cursor=")).unwrap().to_string()
    };
    for target in [
        format!("/cats?color={color}&order=name.asc&limit=1&cursor={changed}"),
        format!("/cats?color={color}&order=name.desc&limit=1&cursor={cursor}"),
        format!("/cats?color={color}&limit=1&cursor={cursor}"),
        format!("/cats?color={color}&order=name.asc&limit=1&offset=1&cursor={cursor}"),
        format!("/cats?color={color}&order=name.asc&cursor={}", &cursor[..cursor.len() - 2]),
        format!("/cats?color={color}&order=name.asc&cursor=not-a-cursor"),
        format!("/cats?color={color}&order=name.asc&cursor="),
        format!("/users?order=username.asc&cursor={cursor}"),
        format!("/cats?order=name.asc&cursor={users_cursor}"),
        format!("/data?cursor={cursor}"),
        format!("/cats?color={color}&order=name.asc&cursor={cursor}&cursor={cursor}"),
    ] {
        let resp = api.get(&target).send();
        let problem = assert_bad_request(&resp);
        resp.check(problem["detail"].as_str().is_some_and(|d| d.contains("cursor")), &format!("{target}: the problem names the cursor"));
    }
    // The cursor as handed out works, with the same order and another limit.
    let rest = list(api, &format!("/cats?color={color}&order=name.asc&limit=5&cursor={cursor}"));
    assert_eq!(pluck(&rest.items, "name"), ["C1", "C2"]);
}
