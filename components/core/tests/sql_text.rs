//! The SQL each dialect gets: numbered placeholders, PostgreSQL casts, filters and paging.

use http::Request;
use spincrud_core::request::Query;
use spincrud_core::resource::definitions::{CATS, CONFIGS, USERS};
use spincrud_core::resource::list::ListQuery;
use spincrud_core::store::{Dialect, Value};

fn list(r: &'static spincrud_core::resource::Resource, query: &str) -> Result<ListQuery, spincrud_core::problem::ApiError> {
    let req = Request::builder().uri(format!("/x?{query}")).body(Vec::new()).unwrap();
    ListQuery::parse(r, &Query::parse(&req)?)
}

#[test]
fn sqlite_and_postgres_placeholders() {
    let s = CATS.get_statement(Dialect::Sqlite, "k");
    assert_eq!(s.sql, "SELECT id, name, breed, age, color, version, created_at, updated_at FROM cats WHERE id = ?1");
    let p = CATS.get_statement(Dialect::Postgres, "k");
    assert!(p.sql.ends_with("WHERE id = $1::text"), "{}", p.sql);
    assert_eq!(p.params, [Value::Text("k".into())]);
}

#[test]
fn inserts_cast_every_postgres_parameter_so_nulls_have_a_type() {
    let values = [Value::Text("Tom".into()), Value::Null, Value::Null, Value::Null];
    let s = CATS.insert_statement(Dialect::Postgres, Some("id-1"), &values, "now");
    assert_eq!(
        s.sql,
        "INSERT INTO cats (id, name, breed, age, color, version, created_at, updated_at) VALUES \
         ($1::text, $2::text, $3::text, $4::bigint, $5::text, $6::bigint, $7::text, $8::text)"
    );
    assert_eq!(s.params.len(), 8);
}

#[test]
fn users_store_lowercased_unique_keys() {
    let values = [Value::Text("Ada".into()), Value::Text("Ada@Example.com".into())];
    let s = USERS.insert_statement(Dialect::Sqlite, Some("i"), &values, "t");
    assert!(s.sql.contains("username_key") && s.sql.contains("email_key"), "{}", s.sql);
    assert!(s.params.contains(&Value::Text("ada@example.com".into())));
    let q = list(&USERS, "email=ADA@example.COM").unwrap();
    let c = q.count_statement(&USERS, Dialect::Sqlite);
    assert_eq!(c.sql, "SELECT COUNT(*) FROM users WHERE email_key = ?1");
    assert_eq!(c.params, [Value::Text("ada@example.com".into())]);
}

#[test]
fn updates_are_guarded_by_the_version() {
    let values = [Value::Text("T".into()), Value::Null, Value::Integer(2), Value::Null];
    let s = CATS.update_statement(Dialect::Sqlite, "k", Some(7), &values, "now");
    assert!(s.sql.ends_with("WHERE id = ?6 AND version = ?7 RETURNING version, created_at"), "{}", s.sql);
    assert!(s.sql.contains("version = version + 1"));
    assert_eq!(s.params.last(), Some(&Value::Integer(7)));
    // Unconditional: one atomic statement, no guard.
    let s = CATS.update_statement(Dialect::Postgres, "k", None, &values, "now");
    assert!(s.sql.ends_with("WHERE id = $6::text RETURNING version, created_at"), "{}", s.sql);
}

#[test]
fn list_paging_ordering_and_filters() {
    let q = list(&CATS, "limit=5&offset=10&order=name.desc&age=3").unwrap();
    let s = q.page_statement(&CATS, Dialect::Postgres);
    assert!(s.sql.ends_with("WHERE age = $1::bigint ORDER BY name DESC NULLS LAST, seq ASC LIMIT $2::bigint OFFSET $3::bigint"), "{}", s.sql);
    // One row of look-ahead: whether a next page is due.
    assert_eq!(s.params, [Value::Integer(3), Value::Integer(6), Value::Integer(10)]);
    assert!(s.sql.starts_with("SELECT id, name, breed, age, color, version, created_at, updated_at, seq FROM cats"), "{}", s.sql);
    let default = list(&CATS, "").unwrap();
    assert!(default.page_statement(&CATS, Dialect::Sqlite).sql.ends_with("ORDER BY seq ASC LIMIT ?1 OFFSET ?2"));
    assert_eq!((default.limit, default.offset), (100, 0));
}

/// The cursor a page's last row gives, read back by the next request.
fn after(r: &'static spincrud_core::resource::Resource, query: &str, last: Vec<Value>) -> ListQuery {
    let q = list(r, query).unwrap();
    let cursor = q.cursor_after(r, &last);
    list(r, &format!("{query}&cursor={cursor}")).unwrap()
}

fn cat_row(name: Value, seq: i64) -> Vec<Value> {
    let t = Value::Text("t".into());
    vec![Value::Text("id".into()), name, Value::Null, Value::Null, Value::Null, Value::Integer(1), t.clone(), t, Value::Integer(seq)]
}

#[test]
fn cursors_continue_on_the_sort_columns_index() {
    // The default order: the rows after the last one's creation order.
    let q = after(&CATS, "limit=2&color=black", cat_row(Value::Text("Tom".into()), 7));
    let s = q.page_statement(&CATS, Dialect::Sqlite);
    assert!(s.sql.ends_with("FROM cats WHERE color = ?2 AND seq > ?1 ORDER BY seq ASC LIMIT ?3"), "{}", s.sql);
    assert_eq!(s.params, [Value::Integer(7), Value::Text("black".into()), Value::Integer(3)]);

    // Descending: the rest of the ties, the lower keys, then the NULLs of an optional field, merged.
    let mut row = cat_row(Value::Text("Tom".into()), 7);
    row[4] = Value::Text("black".into());
    let q = after(&CATS, "limit=2&order=color.desc", row);
    let s = q.page_statement(&CATS, Dialect::Postgres);
    for part in [
        "WHERE color = $2::text AND seq > $1::bigint ORDER BY color ASC NULLS FIRST, seq ASC LIMIT $3::bigint",
        "WHERE color < $2::text ORDER BY color DESC NULLS LAST, seq ASC LIMIT $4::bigint",
        "WHERE color IS NULL ORDER BY color ASC NULLS FIRST, seq ASC LIMIT $5::bigint",
        ") AS page ORDER BY color DESC NULLS LAST, seq ASC LIMIT $6::bigint",
    ] {
        assert!(s.sql.contains(part), "{part}\nin {}", s.sql);
    }
    assert_eq!(s.params, [Value::Integer(7), Value::Text("black".into()), Value::Integer(3), Value::Integer(3), Value::Integer(3), Value::Integer(3)]);
    // A required field has no NULLs to read.
    let q = after(&CATS, "limit=2&order=name.desc", cat_row(Value::Text("Tom".into()), 7));
    let s = q.page_statement(&CATS, Dialect::Sqlite);
    assert!(s.sql.contains("WHERE name < ?2") && !s.sql.contains("IS NULL") && s.sql.matches("UNION ALL").count() == 1, "{}", s.sql);

    // Ascending after a NULL: the rest of the NULLs, then every key.
    let q = after(&CATS, "order=breed.asc", cat_row(Value::Text("x".into()), 9));
    let mut row = cat_row(Value::Text("x".into()), 9);
    row[2] = Value::Null;
    let q2 = list(&CATS, &format!("order=breed.asc&cursor={}", q.cursor_after(&CATS, &row))).unwrap();
    let s = q2.page_statement(&CATS, Dialect::Sqlite);
    assert!(s.sql.contains("WHERE breed IS NULL AND seq > ?1 ORDER BY breed ASC NULLS FIRST") && s.sql.contains("WHERE breed IS NOT NULL ORDER BY"), "{}", s.sql);
    // Descending after a NULL: only the rest of the NULLs remain.
    let q3 = list(&CATS, &format!("order=breed.desc&cursor={}", list(&CATS, "order=breed.desc").unwrap().cursor_after(&CATS, &row))).unwrap();
    let s = q3.page_statement(&CATS, Dialect::Sqlite);
    assert!(!s.sql.contains("UNION") && s.sql.contains("WHERE breed IS NULL AND seq > ?1"), "{}", s.sql);
}

#[test]
fn a_cursor_of_another_order_list_or_text_is_a_400() {
    let row = cat_row(Value::Text("Tom".into()), 7);
    let by_name = list(&CATS, "order=name.asc").unwrap().cursor_after(&CATS, &row);
    for bad in [
        format!("order=name.desc&cursor={by_name}"),
        format!("cursor={by_name}"),
        format!("order=name.asc&cursor={by_name}&offset=3"),
        format!("order=name.asc&cursor={}x", by_name),
        "cursor=".to_string(),
        "cursor=not-a-cursor".to_string(),
    ] {
        assert!(matches!(list(&CATS, &bad), Err(spincrud_core::problem::ApiError::BadRequest(_))), "{bad}");
    }
    assert!(list(&USERS, &format!("order=name.asc&cursor={by_name}")).is_err(), "another resource's cursor");
    assert!(list(&CATS, &format!("order=name.asc&cursor={by_name}")).is_ok());
}

#[test]
fn bad_list_parameters_are_rejected() {
    for bad in ["limit=1001", "limit=-1", "limit=x", "offset=-1", "order=name", "order=name.up", "order=owner.asc",
                "order=metadata.asc", "owner=x", "age=old", "limit=1&limit=2"] {
        assert!(list(&CATS, bad).is_err(), "{bad}");
    }
    for ok in ["limit=0", "limit=1000", "order=createdAt.desc", "order=age.asc", "name=Tom"] {
        assert!(list(&CATS, ok).is_ok(), "{ok}");
    }
}

#[test]
fn metadata_paths_become_json_extraction() {
    let q = list(&CONFIGS, "metadata.limits.cpu.value=500m&metadata.monitoring.enabled=true").unwrap();
    let pg = q.count_statement(&CONFIGS, Dialect::Postgres);
    assert_eq!(
        pg.sql,
        "SELECT COUNT(*) FROM configs WHERE jsonb_extract_path_text(metadata::jsonb, $1::text, $2::text, $3::text) = $4::text \
         AND jsonb_extract_path_text(metadata::jsonb, $5::text, $6::text) = $7::text"
    );
    let lite = q.count_statement(&CONFIGS, Dialect::Sqlite);
    assert!(lite.sql.contains("json_type(metadata, ?1)"), "{}", lite.sql);
    assert_eq!(lite.params[0], Value::Text("$.\"limits\".\"cpu\".\"value\"".into()));
    assert!(list(&CONFIGS, "metadata.a%22b=1").is_err());
    assert!(list(&CONFIGS, "metadata..x=1").is_err());
    assert!(list(&CONFIGS, "metadata=1").is_err());
}
