//! Sets and optional arrays as fields: stored as arrays, read back, queried
//! and updated with the operators that keep a set a set; and an `Option`
//! field set from what its inner type's field takes.

mod common;

use std::collections::{BTreeSet, HashSet};

use bson::{Bson, Document, doc};
use model::{Connection, Model, Query, Repo};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "articles", key = id, timestamps = false)]
struct Article {
    #[serde(rename = "_id")]
    id: i64,
    title: Option<String>,
    tags: BTreeSet<String>,
    readers: HashSet<i64>,
    notes: Option<Vec<String>>,
}

fn article(id: i64, tags: &[&str], readers: &[i64], notes: Option<&[&str]>) -> ArticleInsert {
    ArticleInsert {
        id,
        title: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        readers: readers.iter().copied().collect(),
        notes: notes.map(|n| n.iter().map(|t| t.to_string()).collect()),
    }
}

/// A connection with the articles' validator in place.
async fn articles() -> (Connection, Repo<Article>) {
    let conn = common::connection().await;
    conn.migrate::<Article>().await.unwrap();
    let repo = conn.repo::<Article>();
    (conn, repo)
}

/// The article with `id` as stored.
async fn stored(conn: &Connection, id: i64) -> Document {
    let raw = conn.database().await.unwrap().collection::<Document>("articles");
    raw.find_one(doc! { "_id": id }).await.unwrap().unwrap()
}

/// The ids of the articles matching `query`, in order.
async fn ids(repo: &Repo<Article>, query: Query<Article>) -> Vec<i64> {
    let found = repo.find_many(query).sort(Article::ID.asc()).await.unwrap();
    found.into_iter().map(|a| a.id).collect()
}

#[test]
fn the_schema_of_a_set_is_an_array_of_distinct_elements() {
    let schema = Article::json_schema();
    let properties = schema.get_document("properties").unwrap();
    assert_eq!(
        properties.get_document("tags").unwrap(),
        &doc! { "bsonType": "array", "items": { "bsonType": "string" }, "uniqueItems": true }
    );
    assert_eq!(
        properties.get_document("readers").unwrap(),
        &doc! { "bsonType": "array", "items": { "bsonType": "long" }, "uniqueItems": true }
    );
    let required = schema.get_array("required").unwrap();
    assert!(required.contains(&Bson::from("tags")) && required.contains(&Bson::from("readers")));
    assert!(!required.contains(&Bson::from("notes")));
}

#[tokio::test]
async fn sets_and_optional_arrays_are_stored_as_arrays_and_read_back() {
    let (conn, repo) = articles().await;
    let inserted =
        repo.insert_one(article(1, &["rust", "db"], &[7, 3], Some(&["n"]))).await.unwrap();
    repo.insert_one(article(2, &[], &[], None)).await.unwrap();

    assert_eq!(repo.find(&1).await.unwrap(), inserted);
    let one = stored(&conn, 1).await;
    // A `BTreeSet` is stored in its order, sorted.
    assert_eq!(one.get_array("tags").unwrap(), &vec![Bson::from("db"), Bson::from("rust")]);
    assert_eq!(one.get_array("readers").unwrap().len(), 2);
    assert_eq!(one.get_array("notes").unwrap(), &vec![Bson::from("n")]);
    assert!(!stored(&conn, 2).await.contains_key("notes"));
}

#[tokio::test]
async fn the_validator_refuses_a_set_stored_with_a_duplicate() {
    let (conn, _) = articles().await;
    let raw = conn.database().await.unwrap().collection::<Document>("articles");
    let twice = doc! { "_id": 1_i64, "tags": ["a", "a"], "readers": [] };

    let error = raw.insert_one(twice).await.expect_err("a duplicate in a set");

    assert_eq!(testkit::server_code(&error), Some(121), "{error}");
}

#[tokio::test]
async fn contains_and_len_is_query_sets_and_optional_arrays() {
    let (_conn, repo) = articles().await;
    repo.insert_one(article(1, &["rust", "db"], &[7, 3], Some(&["a", "b"]))).await.unwrap();
    repo.insert_one(article(2, &["rust"], &[3], None)).await.unwrap();

    assert_eq!(ids(&repo, Article::TAGS.contains("rust")).await, [1, 2]);
    assert_eq!(ids(&repo, Article::TAGS.contains_all(["db", "rust"])).await, [1]);
    assert_eq!(ids(&repo, Article::READERS.contains(7)).await, [1]);
    assert_eq!(ids(&repo, Article::NOTES.contains("b")).await, [1]);
    assert_eq!(ids(&repo, Article::TAGS.len_is(1)).await, [2]);
    assert_eq!(ids(&repo, Article::READERS.len_is(2)).await, [1]);
    assert_eq!(ids(&repo, Article::NOTES.len_is(2)).await, [1]);
    assert_eq!(ids(&repo, Article::NOTES.elements().eq("a")).await, [1]);
}

#[tokio::test]
async fn add_to_set_adds_an_element_once() {
    let (_conn, repo) = articles().await;
    repo.insert_one(article(1, &["rust"], &[3], None)).await.unwrap();

    let update = Article::TAGS
        .add_to_set("rust")
        .and(Article::READERS.add_all_to_set([3, 4]))
        .and(Article::NOTES.add_to_set("first"));
    let once = repo.update(&1, update.clone()).await.unwrap();
    let twice = repo.update(&1, update).await.unwrap();

    assert_eq!(once, twice);
    assert_eq!(twice.tags, BTreeSet::from(["rust".to_string()]));
    assert_eq!(twice.readers, HashSet::from([3, 4]));
    // An absent optional array is created by its first element.
    assert_eq!(twice.notes, Some(vec!["first".to_string()]));
}

#[tokio::test]
async fn pull_removes_elements_from_sets_and_optional_arrays() {
    let (_conn, repo) = articles().await;
    repo.insert_one(article(1, &["a", "b", "c"], &[1, 2, 3], Some(&["x", "y"]))).await.unwrap();
    repo.insert_one(article(2, &[], &[], None)).await.unwrap();

    let update = Article::TAGS
        .pull("b")
        .and(Article::READERS.pull_all([1, 3]))
        .and(Article::NOTES.pull("x"));
    let after = repo.update(&1, update.clone()).await.unwrap();
    // Pulling from an absent optional array changes nothing.
    let absent = repo.update(&2, update).await.unwrap();

    assert_eq!(after.tags, BTreeSet::from(["a".to_string(), "c".to_string()]));
    assert_eq!(after.readers, HashSet::from([2]));
    assert_eq!(after.notes, Some(vec!["y".to_string()]));
    assert_eq!(absent.notes, None);
    assert_eq!(ids(&repo, Article::TAGS.len_is(2)).await, [1]);
}

#[tokio::test]
async fn same_elements_matches_a_set_in_any_stored_order() {
    let (conn, repo) = articles().await;
    repo.insert_one(article(1, &["b", "c"], &[5, 6], None)).await.unwrap();
    repo.insert_one(article(2, &["b"], &[], None)).await.unwrap();
    repo.update(&1, Article::TAGS.add_to_set("a")).await.unwrap();
    // `$addToSet` appends: the stored `BTreeSet` is no longer sorted, so an
    // array compared in order (what `eq` would send) misses it.
    let tags = stored(&conn, 1).await.get_array("tags").unwrap().clone();
    assert_eq!(tags, vec![Bson::from("b"), Bson::from("c"), Bson::from("a")]);
    let sorted = Query::raw(doc! { "tags": ["a", "b", "c"] });
    assert_eq!(ids(&repo, sorted).await, Vec::<i64>::new());

    let abc = BTreeSet::from(["a", "b", "c"].map(String::from));
    assert_eq!(ids(&repo, Article::TAGS.same_elements(abc)).await, [1]);
    let ab = BTreeSet::from(["a", "b"].map(String::from));
    assert_eq!(ids(&repo, Article::TAGS.same_elements(ab)).await, Vec::<i64>::new());
    assert_eq!(ids(&repo, Article::READERS.same_elements(HashSet::from([6, 5]))).await, [1]);
    assert_eq!(ids(&repo, Article::READERS.same_elements(HashSet::new())).await, [2]);
}

#[tokio::test]
async fn an_option_field_is_set_from_what_its_inner_type_takes() {
    let (_conn, repo) = articles().await;
    repo.insert_one(article(1, &[], &[], None)).await.unwrap();

    let titled = repo.update(&1, Article::TITLE.set("hi")).await.unwrap();
    assert_eq!(titled.title.as_deref(), Some("hi"));
    assert_eq!(ids(&repo, Article::TITLE.eq("hi")).await, [1]);
    assert_eq!(ids(&repo, Article::TITLE.one_of(["hi", "ho"])).await, [1]);
    let renamed = repo.update(&1, Article::TITLE.set(Some("ho".to_string()))).await.unwrap();
    assert_eq!(renamed.title.as_deref(), Some("ho"));
    let untitled = repo.update(&1, Article::TITLE.set(None)).await.unwrap();
    assert_eq!(untitled.title, None);
    assert_eq!(ids(&repo, Article::TITLE.absent()).await, [1]);
}
