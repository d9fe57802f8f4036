//! `Foo` (UUID key, unique `foo`, optional `bar`) against the real server:
//! every repository operation, its success path and its error paths.

mod common;

use common::*;
use futures::TryStreamExt;
use model::{Error, Model, Query, Uuid};

#[tokio::test]
async fn insert_one_generates_the_key_and_stamps_created_at() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    let inserted = foos.insert_one(foo("a", Some(1))).now(at(1_000)).await.unwrap();
    assert_eq!(inserted.created_at, at(1_000));
    assert_eq!(inserted.updated_at, None);
    assert_eq!(foos.find(&inserted.id).await.unwrap(), inserted);

    // The key is stored as a UUID (BSON binary subtype 4).
    let raw = conn.database().await.unwrap().collection::<bson::Document>("foos");
    let stored = raw.find_one(bson::doc! {}).await.unwrap().unwrap();
    match stored.get("_id") {
        Some(bson::Bson::Binary(b)) => assert_eq!(b.subtype, bson::spec::BinarySubtype::Uuid),
        other => panic!("_id stored as {other:?}"),
    }
}

#[tokio::test]
async fn insert_one_keeps_a_given_key() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    let id = Uuid::new();
    let inserted =
        foos.insert_one(FooInsert { id: Some(id), foo: "a".into(), bar: None }).await.unwrap();
    assert_eq!(inserted.id, id);
    assert_eq!(foos.find(&id).await.unwrap().foo, "a");
}

#[tokio::test]
async fn duplicates_on_the_key_and_on_the_unique_index_are_conflicts() {
    let conn = connection_with_indexes().await;
    let foos = conn.repo::<Foo>();
    let a = foos.insert_one(foo("a", None)).await.unwrap();

    let same_id = FooInsert { id: Some(a.id), foo: "other".into(), bar: None };
    let err = foos.insert_one(same_id).await.unwrap_err();
    let Error::Conflict { collection, index, .. } = &err else { panic!("{err:?}") };
    assert_eq!((collection.as_str(), index.as_deref()), ("foos", Some("_id_")), "{err:?}");

    // The conflict names the unique index and the value that collided
    // (mongod's message format, which SecantusDB follows).
    let err = foos.insert_one(foo("a", None)).await.unwrap_err();
    let Error::Conflict { index, key, .. } = &err else { panic!("{err:?}") };
    assert_eq!(index.as_deref(), Some("foo_1"), "{err:?}");
    assert!(key.as_deref().is_some_and(|k| k.contains("\"a\"")), "{err:?}");
    assert!(err.to_string().contains("(index `foo_1`)"), "{err}");
    assert!(!err.to_string().contains("\"a\""), "the value stays out of the message: {err}");
    assert_eq!(foos.count(Query::all()).await.unwrap(), 1, "nothing else written");
}

#[tokio::test]
async fn find_of_a_missing_key_is_not_found() {
    let conn = connection().await;
    let err = conn.repo::<Foo>().find(&Uuid::new()).await.unwrap_err();
    assert!(matches!(&err, Error::NotFound { collection } if collection == "foos"), "{err:?}");
}

#[tokio::test]
async fn find_one_returns_a_match_or_none() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    foos.insert_many([foo("a", Some(1)), foo("b", Some(2))]).await.unwrap();
    let b = foos.find_one(Foo::FOO.eq("b")).await.unwrap().unwrap();
    assert_eq!(b.bar, Some(2));
    let highest = foos.find_one(Query::all()).sort(Foo::BAR.desc()).await.unwrap().unwrap();
    assert_eq!(highest.foo, "b");
    assert!(foos.find_one(Foo::FOO.eq("zzz")).await.unwrap().is_none());
}

#[tokio::test]
async fn find_many_sorts_on_several_fields_with_offset_and_limit() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    foos.insert_many([
        foo("d", Some(2)),
        foo("a", Some(1)),
        foo("c", Some(2)),
        foo("b", Some(1)),
        foo("e", None),
    ])
    .await
    .unwrap();
    let names = |docs: Vec<Foo>| docs.into_iter().map(|f| f.foo).collect::<Vec<_>>();

    let all =
        foos.find_many(Query::all()).sort(Foo::BAR.desc().then_by(Foo::FOO.asc())).await.unwrap();
    assert_eq!(names(all), ["c", "d", "a", "b", "e"]);

    let window = foos
        .find_many(Query::all())
        .sort(Foo::BAR.desc().then_by(Foo::FOO.asc()))
        .offset(1)
        .limit(2)
        .await
        .unwrap();
    assert_eq!(names(window), ["d", "a"]);

    let some = foos.find_many(Foo::FOO.one_of(["a", "e", "x"])).sort(Foo::FOO.asc()).await.unwrap();
    assert_eq!(names(some), ["a", "e"]);

    let without_bar = foos.find_many(Foo::BAR.eq(None)).await.unwrap();
    assert_eq!(names(without_bar), ["e"]);
}

#[tokio::test]
async fn range_queries_exclude_or_include_the_end() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    for (name, millis) in [("t1", 1_000), ("t2", 2_000), ("t3", 3_000)] {
        foos.insert_one(foo(name, None)).now(at(millis)).await.unwrap();
    }
    let exclusive = foos.count(Foo::CREATED_AT.range(at(1_000)..at(3_000))).await.unwrap();
    assert_eq!(exclusive, 2, "[begin, end) leaves t3 out");
    let inclusive = foos.count(Foo::CREATED_AT.range(at(1_000)..=at(3_000))).await.unwrap();
    assert_eq!(inclusive, 3, "[begin, end] takes t3 in");
    let open_start = foos.count(Foo::CREATED_AT.range(..at(2_000))).await.unwrap();
    assert_eq!(open_start, 1);
    let after = foos.count(Foo::CREATED_AT.gt(at(1_000))).await.unwrap();
    assert_eq!(after, 2);
}

#[tokio::test]
async fn find_many_to_map_by_keys_the_documents() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    foos.insert_many([foo("a", Some(1)), foo("b", Some(2)), foo("c", Some(3))]).await.unwrap();
    let by_name = foos.find_many_to_map_by(|f: &Foo| f.foo.clone(), Foo::BAR.gte(2)).await.unwrap();
    assert_eq!(by_name.len(), 2);
    assert_eq!(by_name["b"].bar, Some(2));
    assert_eq!(by_name["c"].bar, Some(3));

    // A window of the sorted matches: the second and third by `bar`.
    let window = foos
        .find_many_to_map_by(|f: &Foo| f.foo.clone(), Query::all())
        .sort(Foo::BAR.asc())
        .offset(1)
        .limit(2)
        .await
        .unwrap();
    let mut names: Vec<&str> = window.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["b", "c"]);
}

#[tokio::test]
async fn iterate_streams_in_order_across_batches() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    let inserts = (0..250).map(|i| foo(&format!("n{i:03}"), Some(i)));
    foos.insert_many(inserts).await.unwrap();
    let stream =
        foos.iterate(Foo::BAR.gte(10)).sort(Foo::BAR.asc()).offset(5).limit(200).await.unwrap();
    let bars: Vec<i64> = stream.map_ok(|f| f.bar.unwrap()).try_collect().await.unwrap();
    assert_eq!(bars, (15..215).collect::<Vec<_>>(), "more than one 101-document batch");

    // A small batch size: many round trips, the same documents in the same order.
    let stream = foos.iterate(Foo::BAR.gte(10)).sort(Foo::BAR.asc()).batch_size(7).await.unwrap();
    let bars: Vec<i64> = stream.map_ok(|f| f.bar.unwrap()).try_collect().await.unwrap();
    assert_eq!(bars, (10..250).collect::<Vec<_>>());

    let err = foos.iterate(Query::all()).batch_size(0).await.err().unwrap();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
}

#[tokio::test]
async fn paginate_reports_the_total_and_bounds_the_limit() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    foos.insert_many((0..7).map(|i| foo(&format!("p{i}"), Some(i)))).await.unwrap();

    let page =
        foos.paginate(Foo::BAR.gte(1)).sort(Foo::BAR.asc()).offset(2).limit(3).await.unwrap();
    assert_eq!((page.offset, page.limit, page.count), (2, 3, 6));
    assert_eq!(page.sort, Some(bson::doc! { "bar": 1 }));
    assert_eq!(page.items.iter().map(|f| f.bar.unwrap()).collect::<Vec<_>>(), [3, 4, 5]);

    let page = foos.paginate(Query::all()).await.unwrap();
    assert_eq!((page.limit, page.count, page.items.len()), (1000, 7, 7), "limit defaults to 1000");

    // One rule at both ends: 1..=1000, refused outside, never changed.
    let page = foos.paginate(Query::all()).limit(1_000).await.unwrap();
    assert_eq!(page.limit, 1000);
    let err = foos.paginate(Query::all()).limit(1_001).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");

    let page = foos.paginate(Query::all()).offset(100).await.unwrap();
    assert_eq!((page.count, page.items.len()), (7, 0), "past the end: an empty page");

    let err = foos.paginate(Query::all()).limit(0).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    let err = foos.paginate(Query::all()).offset(u64::MAX).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
}

#[tokio::test]
async fn count_counts_matches() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    foos.insert_many([foo("a", Some(1)), foo("b", None), foo("c", Some(3))]).await.unwrap();
    assert_eq!(foos.count(Query::all()).await.unwrap(), 3);
    assert_eq!(foos.count(Foo::BAR.ne(None)).await.unwrap(), 2);
    assert_eq!(foos.count(Foo::BAR.gt(5)).await.unwrap(), 0);
}

#[tokio::test]
async fn insert_many_returns_the_documents_in_order() {
    let conn = connection_with_indexes().await;
    let foos = conn.repo::<Foo>();
    let docs =
        foos.insert_many([foo("a", Some(1)), foo("b", Some(2))]).now(at(5_000)).await.unwrap();
    assert_eq!(docs.iter().map(|f| f.foo.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert!(docs.iter().all(|f| f.created_at == at(5_000)));
    assert_ne!(docs[0].id, docs[1].id);

    let err = foos.insert_many([foo("c", None), foo("a", None)]).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
}

#[tokio::test]
async fn insert_many_of_nothing_makes_no_round_trip() {
    let conn = connection().await;
    conn.disconnect().await;
    // A round trip on a closed connection would fail with Disconnected.
    let docs = conn.repo::<Foo>().insert_many(Vec::new()).await.unwrap();
    assert!(docs.is_empty());
}

#[tokio::test]
async fn update_one_sets_unsets_and_increments_and_returns_the_result() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    let a = foos.insert_one(foo("a", Some(1))).now(at(1_000)).await.unwrap();

    let after = foos.update(&a.id, Foo::BAR.inc(41)).now(at(2_000)).await.unwrap();
    assert_eq!(after.bar, Some(42));
    assert_eq!(after.updated_at, Some(at(2_000)));
    assert_eq!(after.created_at, at(1_000), "created_at is kept");

    let after = foos.update(&a.id, Foo::FOO.set("renamed").and(Foo::BAR.unset())).await.unwrap();
    assert_eq!((after.foo.as_str(), after.bar), ("renamed", None));
    let raw = conn.database().await.unwrap().collection::<bson::Document>("foos");
    let stored = raw.find_one(bson::doc! {}).await.unwrap().unwrap();
    assert!(!stored.contains_key("bar"), "unset removes the field: {stored}");

    let after = foos.update(&a.id, Foo::BAR.set(7)).await.unwrap();
    assert_eq!(after.bar, Some(7));
    assert_eq!(foos.find(&a.id).await.unwrap(), after);
}

#[tokio::test]
async fn update_one_of_a_missing_key_is_not_found_and_writes_nothing() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    let err = foos.update(&Uuid::new(), Foo::BAR.set(1)).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(foos.count(Query::all()).await.unwrap(), 0, "no upsert");
}

#[tokio::test]
async fn update_one_on_a_unique_duplicate_is_a_conflict() {
    let conn = connection_with_indexes().await;
    let foos = conn.repo::<Foo>();
    foos.insert_one(foo("a", None)).await.unwrap();
    let b = foos.insert_one(foo("b", None)).await.unwrap();
    let err = foos.update(&b.id, Foo::FOO.set("a")).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(foos.find(&b.id).await.unwrap().foo, "b");
}

#[tokio::test]
async fn update_many_counts_and_stamps_updated_at() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    foos.insert_many([foo("a", Some(1)), foo("b", Some(2)), foo("c", Some(3))]).await.unwrap();
    let modified =
        foos.update_many(Foo::BAR.gte(2), Foo::BAR.inc(10)).now(at(9_000)).await.unwrap();
    assert_eq!(modified, 2);
    let touched = foos.find_many(Foo::UPDATED_AT.eq(at(9_000))).await.unwrap();
    let mut bars: Vec<_> = touched.iter().map(|f| f.bar.unwrap()).collect();
    bars.sort();
    assert_eq!(bars, [12, 13]);
    assert_eq!(foos.count(Foo::UPDATED_AT.eq(None)).await.unwrap(), 1);
}

#[tokio::test]
async fn delete_one_then_not_found() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    let a = foos.insert_one(foo("a", None)).await.unwrap();
    foos.delete(&a.id).await.unwrap();
    assert!(matches!(foos.find(&a.id).await, Err(Error::NotFound { .. })));
    let err = foos.delete(&a.id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn delete_many_counts() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    foos.insert_many([foo("a", Some(1)), foo("b", Some(2)), foo("c", None)]).await.unwrap();
    assert_eq!(foos.delete_many(Foo::BAR.present().and(Foo::BAR.ne(None))).await.unwrap(), 2);
    assert_eq!(foos.delete_many(Query::all()).await.unwrap(), 1);
    assert_eq!(foos.count(Query::all()).await.unwrap(), 0);
}

#[tokio::test]
async fn a_transaction_commits_every_write() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    let a = foos.insert_one(foo("a", Some(1))).await.unwrap();
    let inserted = conn
        .transaction(async |s| {
            let b = foos.insert_one(foo("b", Some(2))).session(s).await?;
            foos.update(&a.id, Foo::BAR.inc(1)).session(s).await?;
            let seen = foos.count(Query::all()).session(s).await?;
            assert_eq!(seen, 2, "the transaction sees its own writes");
            Ok(b)
        })
        .await
        .unwrap();
    assert_eq!(foos.find(&inserted.id).await.unwrap().foo, "b");
    assert_eq!(foos.find(&a.id).await.unwrap().bar, Some(2));
}

#[tokio::test]
async fn a_failed_transaction_writes_nothing() {
    let conn = connection_with_indexes().await;
    let foos = conn.repo::<Foo>();
    let a = foos.insert_one(foo("a", Some(1))).await.unwrap();
    let result: model::Result<()> = conn
        .transaction(async |s| {
            foos.insert_one(foo("b", None)).session(s).await?;
            foos.update(&a.id, Foo::BAR.set(100)).session(s).await?;
            foos.insert_one(foo("a", None)).session(s).await?; // duplicate: aborts
            Ok(())
        })
        .await;
    assert!(matches!(result, Err(Error::Conflict { .. })), "{result:?}");
    assert_eq!(foos.count(Query::all()).await.unwrap(), 1, "b was rolled back");
    assert_eq!(foos.find(&a.id).await.unwrap().bar, Some(1), "the update was rolled back");
}

#[tokio::test]
async fn a_raw_duplicate_key_insert_in_a_transaction_is_a_conflict() {
    let conn = connection_with_indexes().await;
    let foos = conn.repo::<Foo>();
    let a = foos.insert_one(foo("a", Some(1))).await.unwrap();
    let raw = conn.database().await.unwrap().collection::<bson::Document>("foos");
    let result: model::Result<()> = conn
        .transaction(async |s| {
            // `?` on the driver's own error, as the repository maps its own.
            raw.insert_one(bson::doc! { "_id": a.id, "foo": "again" }).session(&mut *s).await?;
            Ok(())
        })
        .await;
    match result {
        Err(Error::Conflict { collection, index, .. }) => {
            assert_eq!((collection.as_str(), index.as_deref()), ("foos", Some("_id_")));
        }
        other => panic!("a duplicate key is a conflict: {other:?}"),
    }
    assert_eq!(foos.count(Query::all()).await.unwrap(), 1);
}

#[tokio::test]
async fn a_raw_duplicate_key_insert_in_with_collection_is_a_conflict() {
    let conn = connection_with_indexes().await;
    let foos = conn.repo::<Foo>();
    let a = foos.insert_one(foo("a", Some(1))).await.unwrap();
    let result = foos
        .with_collection("raw_insert", |coll| async move {
            let raw = coll.clone_with_type::<bson::Document>();
            raw.insert_one(bson::doc! { "_id": a.id, "foo": "again" }).await?;
            Ok(())
        })
        .await;
    assert!(matches!(result, Err(Error::Conflict { .. })), "{result:?}");
}

#[tokio::test]
async fn a_driver_error_met_with_the_question_mark_keeps_its_meaning() {
    let conn = connection_with_indexes().await;
    let foos = conn.repo::<Foo>();
    foos.insert_one(foo("a", None)).await.unwrap();
    let raw = conn.database().await.unwrap().collection::<bson::Document>("foos");
    let insert = async || -> model::Result<()> {
        raw.insert_one(bson::doc! { "_id": Uuid::new(), "foo": "a" }).await?;
        Ok(())
    };
    match insert().await {
        Err(Error::Conflict { collection, index, .. }) => {
            assert_eq!((collection.as_str(), index.as_deref()), ("foos", Some("foo_1")));
        }
        other => panic!("a duplicate on a unique index is a conflict: {other:?}"),
    }
}

/// A domain error of the caller's, carrying the model's errors too.
#[derive(Debug)]
enum ShopError {
    OutOfStock,
    Db(Error),
}

impl std::fmt::Display for ShopError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShopError::OutOfStock => f.write_str("out of stock"),
            ShopError::Db(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ShopError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShopError::OutOfStock => None,
            ShopError::Db(e) => Some(e),
        }
    }
}

impl From<Error> for ShopError {
    fn from(e: Error) -> Self {
        ShopError::Db(e)
    }
}

#[tokio::test]
async fn a_domain_error_aborts_a_transaction_and_comes_back_as_itself() {
    let conn = connection_with_indexes().await;
    let foos = conn.repo::<Foo>();
    let a = foos.insert_one(foo("a", Some(1))).await.unwrap();
    let outcome: Result<(), ShopError> = conn
        .transaction_as(None, async |s| {
            foos.update(&a.id, Foo::BAR.set(0)).session(s).await?;
            let left = foos.find(&a.id).session(s).await?.bar;
            if left == Some(0) {
                return Err(ShopError::OutOfStock);
            }
            Ok(())
        })
        .await;
    assert!(matches!(outcome, Err(ShopError::OutOfStock)), "{outcome:?}");
    assert_eq!(foos.find(&a.id).await.unwrap().bar, Some(1), "the update was rolled back");

    // A model error travels inside the caller's type.
    let outcome: Result<(), ShopError> = conn
        .transaction_as(None, async |s| {
            foos.insert_one(foo("a", None)).session(s).await?; // duplicate
            Ok(())
        })
        .await;
    assert!(matches!(outcome, Err(ShopError::Db(Error::Conflict { .. }))), "{outcome:?}");
    assert_eq!(foos.count(Query::all()).await.unwrap(), 1);
}

#[tokio::test]
async fn a_closed_connection_is_disconnected() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    foos.insert_one(foo("a", None)).await.unwrap();
    conn.disconnect().await;
    let err = foos.count(Query::all()).await.unwrap_err();
    assert!(matches!(err, Error::Disconnected), "{err:?}");
    let err = conn.repo::<Foo>().insert_one(foo("b", None)).await.unwrap_err();
    assert!(matches!(err, Error::Disconnected), "{err:?}");
}

#[test]
fn the_derive_states_the_collection_and_stored_names() {
    assert_eq!(Foo::COLLECTION, "foos");
    assert_eq!(Foo::ID.name(), "_id");
    assert_eq!(Foo::CREATED_AT.name(), "created_at");
    let q: Query<Foo> = Foo::FOO.eq("a").and(Foo::BAR.gte(2));
    assert_eq!(q.to_document().unwrap(), bson::doc! { "foo": "a", "bar": { "$gte": 2_i64 } });
}
