//! ETags and conditional requests (`If-None-Match`, `If-Match`) on every SQL resource.

use super::items::create_sample;
use super::resource_tests;
use super::resources::Resource;
use super::support::*;
use crate::harness::Ctx;

pub const TESTS: super::PerResource = resource_tests![
    etag_changes_on_every_write,
    if_none_match_gives_304,
    if_match_mismatch_is_412_and_changes_nothing,
    if_match_match_succeeds,
    concurrent_if_match_lets_one_writer_win,
    concurrent_unconditional_writes_all_succeed,
];

const OTHER: &str = "\"0123456789abcdef0123456789abcdef\"";

fn etag_changes_on_every_write(ctx: &Ctx, r: &'static Resource) {
    let api = ctx.api();
    let tag = tag(r.name);
    let (_, path, e1) = create_sample(ctx, r, &tag);
    let replacement = (r.replacement)(&tag);

    let put = api.put(&path).json(&replacement).send();
    put.expect(200);
    let e2 = etag(&put);
    put.check(e2 != e1, "PUT should change the ETag");
    put.check(
        etag(&api.get(&path).send()) == e2,
        "the PUT answer's ETag should equal a following GET's",
    );

    let patch = api.patch(&path).json(&(r.patch)(&tag).0).send();
    patch.expect(200);
    let e3 = etag(&patch);
    patch.check(e3 != e2 && e3 != e1, "PATCH should change the ETag");
    patch.check(
        etag(&api.get(&path).send()) == e3,
        "the PATCH answer's ETag should equal a following GET's",
    );

    let same = api.put(&path).json(&replacement).send();
    same.expect(200);
    let same_again = api.put(&path).json(&replacement).send();
    same_again.expect(200);
    same_again.check(
        etag(&same_again) != etag(&same),
        "every write changes the ETag, even with identical content",
    );
}

fn if_none_match_gives_304(ctx: &Ctx, r: &'static Resource) {
    let api = ctx.api();
    let (_, path, current) = create_sample(ctx, r, &tag(r.name));
    for header in [
        current.clone(),
        format!("W/{current}"),
        format!("{OTHER}, {current}"),
        "*".to_string(),
    ] {
        let resp = api.get(&path).if_none_match(&header).send();
        resp.expect(304);
        resp.check(
            resp.header("etag") == Some(current.as_str()),
            "a 304 repeats the ETag",
        );
        resp.check(resp.body.is_empty(), "a 304 has no body");
    }
    let resp = api.get(&path).if_none_match(OTHER).send();
    resp.expect(200);
    resp.check(etag(&resp) == current, "ETag of the 200");
}

fn if_match_mismatch_is_412_and_changes_nothing(ctx: &Ctx, r: &'static Resource) {
    let api = ctx.api();
    let tag = tag(r.name);
    let (created, path, current) = create_sample(ctx, r, &tag);
    // `If-Match` compares strongly: a weak tag never matches.
    for header in [OTHER.to_string(), format!("W/{current}")] {
        let put = api
            .put(&path)
            .if_match(&header)
            .json(&(r.replacement)(&tag))
            .send();
        assert_problem(&put, 412, "precondition-failed");
        let patch = api
            .patch(&path)
            .if_match(&header)
            .json(&(r.patch)(&tag).0)
            .send();
        assert_problem(&patch, 412, "precondition-failed");
        let delete = api.delete(&path).if_match(&header).send();
        assert_problem(&delete, 412, "precondition-failed");
    }
    let after = api.get(&path).send();
    assert_json_eq(
        &after,
        &after.expect_json(200),
        &created,
        "failed preconditions change nothing",
    );
    after.check(etag(&after) == current, "the ETag is unchanged");
}

fn if_match_match_succeeds(ctx: &Ctx, r: &'static Resource) {
    let api = ctx.api();
    let tag = tag(r.name);
    let (_, path, e1) = create_sample(ctx, r, &tag);
    let patch = api
        .patch(&path)
        .if_match(&e1)
        .json(&(r.patch)(&tag).0)
        .send();
    patch.expect(200);
    let e2 = etag(&patch);
    let put = api
        .put(&path)
        .if_match(&format!("{OTHER}, {e2}"))
        .json(&(r.replacement)(&tag))
        .send();
    put.expect(200);
    let e3 = etag(&put);
    // The old tag no longer matches.
    assert_problem(
        &api.delete(&path).if_match(&e1).send(),
        412,
        "precondition-failed",
    );
    api.delete(&path).if_match(&e3).send().expect(204);
    assert_not_found(&api.get(&path).send());

    let (_, path, _) = create_sample(ctx, r, &format!("{tag}b"));
    api.put(&path)
        .if_match("*")
        .json(&(r.replacement)(&format!("{tag}b")))
        .send()
        .expect(200);
    api.delete(&path).if_match("*").send().expect(204);
}

/// Writers racing with the same `If-Match`: exactly one wins, the others get 412.
fn concurrent_if_match_lets_one_writer_win(ctx: &Ctx, r: &'static Resource) {
    let api = ctx.api();
    let tag = tag(r.name);
    let (_, path, e1) = create_sample(ctx, r, &tag);
    let patch = (r.patch)(&tag).0;
    let answers = race(8, |_| api.patch(&path).if_match(&e1).json(&patch));
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    for lost in answers.iter().filter(|a| a.status == 412) {
        assert_problem(lost, 412, "precondition-failed");
    }
    let wins = statuses.iter().filter(|s| **s == 200).count();
    let lost = statuses.iter().filter(|s| **s == 412).count();
    assert!(
        wins == 1 && lost == 7,
        "8 PATCHes with If-Match {e1} at once: expected one 200 and seven 412, got {statuses:?}"
    );
}

/// Without `If-Match`, racing writes all succeed (the last one wins): api.md has no status
/// for "someone else wrote first" except `412`, which needs a precondition.
fn concurrent_unconditional_writes_all_succeed(ctx: &Ctx, r: &'static Resource) {
    let api = ctx.api();
    let tag = tag(r.name);
    let (_, path, _) = create_sample(ctx, r, &tag);
    let patch = (r.patch)(&tag).0;
    let replacement = (r.replacement)(&tag);
    let answers = race(12, |i| {
        if i % 2 == 0 {
            api.patch(&path).json(&patch)
        } else {
            api.put(&path).json(&replacement)
        }
    });
    for a in &answers {
        a.expect(200);
    }
}
