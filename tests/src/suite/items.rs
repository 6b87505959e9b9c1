//! Item routes of every SQL resource: create, read, replace, patch, delete, 404s, the
//! representation, read-only and unknown fields.

use serde_json::Value;

use super::resource_tests;
use super::resources::Resource;
use super::support::*;
use crate::harness::Ctx;

pub const TESTS: super::PerResource = resource_tests![
    create_answers_201_with_location_and_representation,
    get_returns_what_create_returned,
    list_item_equals_get,
    missing_item_is_404,
    malformed_key_in_path_is_404,
    put_replaces_the_item,
    put_needs_every_required_field,
    patch_merges,
    patch_result_is_validated,
    patch_accepts_merge_patch_json,
    put_rejects_merge_patch_json,
    read_only_fields_are_ignored,
    unknown_field_is_422,
    delete_answers_204_then_404,
    timestamps_follow_writes,
    concurrent_creates_all_succeed,
    concurrent_deletes_delete_once,
];

/// Creates `sample(tag)` and returns (representation, item path, ETag).
#[track_caller]
pub fn create_sample(ctx: &Ctx, r: &Resource, tag: &str) -> (Value, String, String) {
    let resp = ctx.api().post(r.path).json(&(r.sample)(tag)).send();
    let item = resp.expect_json(201);
    let etag = etag(&resp);
    (item.clone(), r.item_path(&item), etag)
}

fn create_answers_201_with_location_and_representation(ctx: &Ctx, r: &'static Resource) {
    let tag = tag(r.name);
    let body = (r.sample)(&tag);
    let resp = ctx.api().post(r.path).json(&body).send();
    let item = resp.expect_json(201);
    resp.check(
        keys(&item) == r.fields,
        &format!("representation keys should be {:?} in this order", r.fields),
    );
    let path = r.item_path(&item);
    resp.check(
        resp.header("location") == Some(path.as_str()),
        &format!("Location should be {path}"),
    );
    etag(&resp);
    if r.has_uuid_id {
        resp.check(
            item["id"].as_str().is_some_and(is_uuid_v4),
            "id should be a lower-case UUID v4",
        );
    }
    for ts in ["createdAt", "updatedAt"] {
        resp.check(
            item[ts].as_str().is_some_and(is_timestamp),
            &format!("{ts} should look like 2026-11-21T05:37:00.123456Z"),
        );
    }
    for (k, v) in body.as_object().unwrap() {
        assert_json_eq(
            &resp,
            &item[k],
            v,
            &format!("field {k} should echo the body"),
        );
    }
}

fn get_returns_what_create_returned(ctx: &Ctx, r: &'static Resource) {
    let (created, path, created_etag) = create_sample(ctx, r, &tag(r.name));
    let resp = ctx.api().get(&path).send();
    let got = resp.expect_json(200);
    assert_json_eq(
        &resp,
        &got,
        &created,
        "GET should return the created representation",
    );
    resp.check(
        etag(&resp) == created_etag,
        &format!("GET ETag should equal the create ETag {created_etag}"),
    );
}

fn list_item_equals_get(ctx: &Ctx, r: &'static Resource) {
    let tag = tag(r.name);
    let (created, _, _) = create_sample(ctx, r, &tag);
    let page = list(ctx.api(), &r.list_target(&tag));
    assert_json_eq(
        &page.resp,
        &Value::Array(page.items.clone()),
        &Value::Array(vec![created]),
        "the list should hold exactly the item",
    );
    page.resp
        .check(page.total == 1, "X-Total-Count should be 1");
    page.resp
        .check(page.next.is_none(), "no Link rel=next when nothing remains");
}

fn missing_item_is_404(ctx: &Ctx, r: &'static Resource) {
    let api = ctx.api();
    let path = r.path_of(&r.missing_key());
    let tag = tag(r.name);
    assert_not_found(&api.get(&path).send());
    assert_not_found(&api.put(&path).json(&(r.replacement)(&tag)).send());
    assert_not_found(&api.patch(&path).json(&json!({})).send());
    assert_not_found(&api.delete(&path).send());
    let head = api.head(&path).send();
    head.expect(404);
    head.check(head.body.is_empty(), "HEAD answers have no body");
    // Nothing was created by the PUT.
    assert_not_found(&api.get(&path).send());
}

fn malformed_key_in_path_is_404(ctx: &Ctx, r: &'static Resource) {
    let api = ctx.api();
    let keys: &[&str] = if r.has_uuid_id {
        &[
            "not-a-uuid",
            "12345",
            "00000000-0000-0000-0000-00000000000g",
            "0",
        ]
    } else {
        &["Not_A_Dcname", "-x-"]
    };
    for key in keys {
        let path = r.path_of(key);
        assert_not_found(&api.get(&path).send());
        assert_not_found(&api.put(&path).json(&(r.replacement)(&tag(r.name))).send());
        assert_not_found(&api.patch(&path).json(&json!({})).send());
        assert_not_found(&api.delete(&path).send());
    }
}

fn put_replaces_the_item(ctx: &Ctx, r: &'static Resource) {
    let tag = tag(r.name);
    let (created, path, _) = create_sample(ctx, r, &tag);
    let replacement = (r.replacement)(&tag);
    let resp = ctx.api().put(&path).json(&replacement).send();
    let put = resp.expect_json(200);
    resp.check(
        keys(&put) == r.fields,
        &format!("representation keys should be {:?}", r.fields),
    );
    for field in r
        .fields
        .iter()
        .filter(|f| !["id", "createdAt", "updatedAt"].contains(f))
    {
        let expected = if *field == r.key {
            created[r.key].clone()
        } else {
            replacement.get(*field).cloned().unwrap_or(Value::Null)
        };
        assert_json_eq(
            &resp,
            &put[*field],
            &expected,
            &format!("after PUT, {field} should be the body's (null when omitted)"),
        );
    }
    if r.has_uuid_id {
        assert_json_eq(&resp, &put["id"], &created["id"], "PUT keeps the id");
    }
    let again = ctx.api().get(&path).send();
    assert_json_eq(
        &again,
        &again.expect_json(200),
        &put,
        "GET after PUT returns the PUT answer",
    );
}

fn put_needs_every_required_field(ctx: &Ctx, r: &'static Resource) {
    let (created, path, _) = create_sample(ctx, r, &tag(r.name));
    let resp = ctx.api().put(&path).json(&json!({})).send();
    let p = assert_problem(&resp, 422, "validation-error");
    let fields = error_fields(&p);
    for f in r.required {
        resp.check(
            fields.iter().any(|x| x == f),
            &format!("PUT {{}} should report required field {f:?} (errors name {fields:?})"),
        );
    }
    assert_unchanged(ctx, &path, &created, "a rejected PUT changes nothing");
}

fn patch_merges(ctx: &Ctx, r: &'static Resource) {
    let tag = tag(r.name);
    let (created, path, _) = create_sample(ctx, r, &tag);
    let (patch, expectations) = (r.patch)(&tag);
    let resp = ctx.api().patch(&path).json(&patch).send();
    let patched = resp.expect_json(200);
    for (pointer, expected) in expectations {
        match expected {
            Some(v) => assert_json_eq(
                &resp,
                patched.pointer(pointer).unwrap_or(&Value::Null),
                &v,
                &format!("after PATCH, {pointer}"),
            ),
            None => resp.check(
                patched.pointer(pointer).is_none(),
                &format!("after PATCH, {pointer} should be gone"),
            ),
        }
    }
    assert_json_eq(
        &resp,
        &patched["createdAt"],
        &created["createdAt"],
        "PATCH keeps createdAt",
    );
    let again = ctx.api().get(&path).send();
    assert_json_eq(
        &again,
        &again.expect_json(200),
        &patched,
        "GET after PATCH returns the PATCH answer",
    );
}

fn patch_result_is_validated(ctx: &Ctx, r: &'static Resource) {
    let (created, path, _) = create_sample(ctx, r, &tag(r.name));
    let (patch, field) = (r.invalid_patch)();
    assert_invalid(&ctx.api().patch(&path).json(&patch).send(), field);
    // A required field cannot be removed by `null`.
    let required = r.required[0];
    assert_invalid(
        &ctx.api()
            .patch(&path)
            .json(&json!({ required: null }))
            .send(),
        required,
    );
    assert_unchanged(ctx, &path, &created, "a rejected PATCH changes nothing");
}

fn patch_accepts_merge_patch_json(ctx: &Ctx, r: &'static Resource) {
    let tag = tag(r.name);
    let (_, path, _) = create_sample(ctx, r, &tag);
    let (patch, expectations) = (r.patch)(&tag);
    let resp = ctx.api().patch(&path).merge_patch(&patch).send();
    let patched = resp.expect_json(200);
    let (pointer, expected) = &expectations[0];
    assert_json_eq(
        &resp,
        patched.pointer(pointer).unwrap_or(&Value::Null),
        expected.as_ref().unwrap(),
        pointer,
    );
}

fn put_rejects_merge_patch_json(ctx: &Ctx, r: &'static Resource) {
    let tag = tag(r.name);
    let (created, path, _) = create_sample(ctx, r, &tag);
    assert_problem(
        &ctx.api()
            .put(&path)
            .merge_patch(&(r.replacement)(&tag))
            .send(),
        415,
        "unsupported-media-type",
    );
    assert_unchanged(ctx, &path, &created, "a rejected PUT changes nothing");
}

fn read_only_fields_are_ignored(ctx: &Ctx, r: &'static Resource) {
    let tag = tag(r.name);
    let old = "2001-01-01T00:00:00.000000Z";
    let mut read_only = json!({"createdAt": old, "updatedAt": old});
    if r.has_uuid_id {
        read_only["id"] = json!(random_uuid());
    }
    let body = with(&(r.sample)(&tag), read_only.clone());
    let resp = ctx.api().post(r.path).json(&body).send();
    let item = resp.expect_json(201);
    for (k, v) in read_only.as_object().unwrap() {
        resp.check(
            &item[k] != v,
            &format!("read-only {k} from the body must be ignored"),
        );
    }
    let path = r.item_path(&item);
    let mut put_body = with(&(r.replacement)(&tag), read_only.clone());
    if r.has_uuid_id {
        put_body["id"] = json!(random_uuid());
    }
    let resp = ctx.api().put(&path).json(&put_body).send();
    let put = resp.expect_json(200);
    assert_json_eq(&resp, &put[r.key], &item[r.key], "PUT ignores a body id");
    assert_json_eq(
        &resp,
        &put["createdAt"],
        &item["createdAt"],
        "PUT ignores a body createdAt",
    );
    resp.check(put["updatedAt"] != old, "PUT ignores a body updatedAt");
    let resp = ctx.api().patch(&path).json(&read_only).send();
    let patched = resp.expect_json(200);
    assert_json_eq(
        &resp,
        &patched["createdAt"],
        &item["createdAt"],
        "PATCH ignores createdAt",
    );
    assert_json_eq(
        &resp,
        &patched[r.key],
        &item[r.key],
        "PATCH ignores a body id",
    );
}

fn unknown_field_is_422(ctx: &Ctx, r: &'static Resource) {
    let tag = tag(r.name);
    let body = with(&(r.sample)(&tag), json!({"nickname": "x"}));
    assert_invalid(&ctx.api().post(r.path).json(&body).send(), "nickname");
    let page = list(ctx.api(), &r.list_target(&tag));
    page.resp.check(
        page.total == 0 && page.items.is_empty(),
        "a rejected create stores nothing",
    );

    let (created, path, _) = create_sample(ctx, r, &tag);
    let put_body = with(&(r.replacement)(&tag), json!({"nickname": "x"}));
    assert_invalid(&ctx.api().put(&path).json(&put_body).send(), "nickname");
    assert_invalid(
        &ctx.api()
            .patch(&path)
            .json(&json!({"nickname": "x"}))
            .send(),
        "nickname",
    );
    let after = ctx.api().get(&path).send();
    assert_json_eq(
        &after,
        &after.expect_json(200),
        &created,
        "rejected writes change nothing",
    );
}

fn delete_answers_204_then_404(ctx: &Ctx, r: &'static Resource) {
    let tag = tag(r.name);
    let (_, path, _) = create_sample(ctx, r, &tag);
    let resp = ctx.api().delete(&path).send();
    resp.expect(204);
    resp.check(resp.body.is_empty(), "204 has no body");
    assert_not_found(&ctx.api().get(&path).send());
    assert_not_found(&ctx.api().delete(&path).send());
    let page = list(ctx.api(), &r.list_target(&tag));
    page.resp.check(
        page.total == 0 && page.items.is_empty(),
        "a deleted item is not listed",
    );
}

fn timestamps_follow_writes(ctx: &Ctx, r: &'static Resource) {
    let tag = tag(r.name);
    let (created, path, _) = create_sample(ctx, r, &tag);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let resp = ctx.api().put(&path).json(&(r.replacement)(&tag)).send();
    let put = resp.expect_json(200);
    assert_json_eq(
        &resp,
        &put["createdAt"],
        &created["createdAt"],
        "createdAt never changes",
    );
    let (before, after) = (
        created["updatedAt"].as_str().unwrap_or(""),
        put["updatedAt"].as_str().unwrap_or(""),
    );
    resp.check(
        is_timestamp(after) && after > before,
        &format!("updatedAt should move forward on PUT ({before} → {after})"),
    );
    std::thread::sleep(std::time::Duration::from_millis(5));
    let resp = ctx.api().patch(&path).json(&(r.patch)(&tag).0).send();
    let patched = resp.expect_json(200);
    let later = patched["updatedAt"].as_str().unwrap_or("");
    resp.check(
        later > after,
        &format!("updatedAt should move forward on PATCH ({after} → {later})"),
    );
}

/// Racing creates of distinct items all succeed and are all stored.
fn concurrent_creates_all_succeed(ctx: &Ctx, r: &'static Resource) {
    let api = ctx.api();
    let tags: Vec<String> = (0..16).map(|_| tag(r.name)).collect();
    for a in race(tags.len(), |i| api.post(r.path).json(&(r.sample)(&tags[i]))) {
        a.expect(201);
    }
    for t in &tags {
        let page = list(api, &r.list_target(t));
        page.resp
            .check(page.total == 1, "every racing create is stored");
    }
}

/// Racing deletes of one item: one 204, the others 404.
fn concurrent_deletes_delete_once(ctx: &Ctx, r: &'static Resource) {
    let api = ctx.api();
    let (_, path, _) = create_sample(ctx, r, &tag(r.name));
    let answers = race(8, |_| api.delete(&path));
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    for gone in answers.iter().filter(|a| a.status == 404) {
        assert_not_found(gone);
    }
    let deleted = statuses.iter().filter(|s| **s == 204).count();
    assert!(
        deleted == 1 && statuses.iter().all(|s| *s == 204 || *s == 404),
        "8 racing DELETEs of {path}: expected one 204 and seven 404, got {statuses:?}"
    );
    assert_not_found(&api.get(&path).send());
}
