//! `Bar` (composite key `{foo: Uuid, bar: String}`) against the real server.

mod common;

use common::*;
use futures::TryStreamExt;
use model::{Error, Query, Uuid};

#[tokio::test]
async fn the_composite_key_is_stored_in_field_order_and_found_by_key() {
    let conn = connection().await;
    let bars = conn.repo::<Bar>();
    let key = bar_key("x");
    let inserted = bars.insert_one(bar(key.clone(), "a", Some(1))).await.unwrap();
    assert_eq!(inserted.id, key);
    assert_eq!(bars.find(&key).await.unwrap(), inserted);

    let raw = conn.database().await.unwrap().collection::<bson::Document>("bars");
    let stored = raw.find_one(bson::doc! {}).await.unwrap().unwrap();
    let id = stored.get_document("_id").unwrap();
    assert_eq!(id.keys().collect::<Vec<_>>(), ["foo", "bar"], "declaration order");
}

#[tokio::test]
async fn a_key_differing_in_any_part_does_not_match() {
    let conn = connection().await;
    let bars = conn.repo::<Bar>();
    let key = bar_key("x");
    bars.insert_one(bar(key.clone(), "a", None)).await.unwrap();
    let other_bar = BarKey { foo: key.foo, bar: "y".into() };
    let other_foo = BarKey { foo: Uuid::new(), bar: key.bar.clone() };
    for missing in [&other_bar, &other_foo] {
        let err = bars.find(missing).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    }
    // A document written by hand with the key's fields in the other order is
    // a different `_id` to MongoDB: the typed key never silently matches it.
    let raw = conn.database().await.unwrap().collection::<bson::Document>("bars");
    let reversed = bson::doc! {
        "_id": { "bar": "z", "foo": bson::Binary::from_uuid(key.foo) },
        "foo": "r", "created_at": bson::DateTime::now(),
    };
    raw.insert_one(reversed).await.unwrap();
    let z = BarKey { foo: key.foo, bar: "z".into() };
    assert!(matches!(bars.find(&z).await, Err(Error::NotFound { .. })));
    assert_eq!(bars.count(Query::all()).await.unwrap(), 2);
}

#[tokio::test]
async fn duplicate_composite_keys_and_unique_values_conflict() {
    let conn = connection_with_indexes().await;
    let bars = conn.repo::<Bar>();
    let key = bar_key("x");
    bars.insert_one(bar(key.clone(), "a", None)).await.unwrap();
    let err = bars.insert_one(bar(key, "b", None)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    let err = bars.insert_one(bar(bar_key("y"), "a", None)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(bars.count(Query::all()).await.unwrap(), 1);
}

#[tokio::test]
async fn update_and_delete_by_composite_key() {
    let conn = connection().await;
    let bars = conn.repo::<Bar>();
    let key = bar_key("x");
    bars.insert_one(bar(key.clone(), "a", Some(1))).await.unwrap();
    let after =
        bars.update(&key, Bar::BAR.inc(2).and(Bar::FOO.set("b"))).now(at(7_000)).await.unwrap();
    assert_eq!((after.bar, after.foo.as_str()), (Some(3), "b"));
    assert_eq!(after.updated_at, Some(at(7_000)));
    let after = bars.update(&key, Bar::BAR.unset()).await.unwrap();
    assert_eq!(after.bar, None);

    bars.delete(&key).await.unwrap();
    assert!(matches!(bars.delete(&key).await, Err(Error::NotFound { .. })));
    assert!(matches!(bars.update(&key, Bar::BAR.set(1)).await, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn queries_sorts_pages_and_streams_work_on_a_composite_model() {
    let conn = connection().await;
    let bars = conn.repo::<Bar>();
    let inserts = (0..6).map(|i| bar(bar_key(&format!("k{i}")), &format!("n{i}"), Some(i % 3)));
    bars.insert_many(inserts).await.unwrap();

    let sorted = bars
        .find_many(Query::all())
        .sort(Bar::BAR.desc().then_by(Bar::FOO.asc()))
        .limit(3)
        .await
        .unwrap();
    let names: Vec<_> = sorted.iter().map(|b| b.foo.as_str()).collect();
    assert_eq!(names, ["n2", "n5", "n1"]);

    let page =
        bars.paginate(Bar::BAR.gte(1)).sort(Bar::FOO.asc()).offset(1).limit(2).await.unwrap();
    assert_eq!((page.count, page.items.len()), (4, 2));

    let streamed: Vec<Bar> =
        bars.iterate(Bar::BAR.eq(0)).await.unwrap().try_collect().await.unwrap();
    assert_eq!(streamed.len(), 2);

    let by_key = bars.find_many_to_map_by(|b: &Bar| b.id.clone(), Query::all()).await.unwrap();
    assert_eq!(by_key.len(), 6);
    assert!(by_key.values().all(|b| by_key[&b.id].foo == b.foo));

    let a_key = sorted[0].id.clone();
    assert_eq!(bars.count(Bar::ID.eq(a_key)).await.unwrap(), 1);
    assert_eq!(bars.update_many(Bar::BAR.eq(0), Bar::BAR.set(9)).await.unwrap(), 2);
    assert_eq!(bars.delete_many(Bar::BAR.eq(9)).await.unwrap(), 2);
    assert_eq!(bars.count(Query::all()).await.unwrap(), 4);
}

#[tokio::test]
async fn a_transaction_on_bars_commits_or_aborts_as_a_whole() {
    let conn = connection().await;
    let bars = conn.repo::<Bar>();
    let kept = bar_key("kept");
    conn.transaction(async |s| {
        bars.insert_one(bar(kept.clone(), "a", None)).session(s).await?;
        Ok(())
    })
    .await
    .unwrap();
    let dropped = bar_key("dropped");
    let result: model::Result<()> = conn
        .transaction(async |s| {
            bars.insert_one(bar(dropped.clone(), "b", None)).session(s).await?;
            bars.delete(&kept).session(s).await?;
            Err(Error::NotFound { collection: "bars".into() })
        })
        .await;
    assert!(result.is_err());
    assert!(bars.find(&kept).await.is_ok(), "the delete was rolled back");
    assert!(matches!(bars.find(&dropped).await, Err(Error::NotFound { .. })));
}
