//! Timestamps as services use them: a model that keeps its creation time
//! only, and writes that leave `updated_at` as it is (`touch(false)`).

use model::{DateTime, Error, Model};
use serde::{Deserialize, Serialize};

/// Keeps `created_at` only: no write stamps an update time.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(key = id, timestamps = "created_at")]
struct Event {
    #[serde(rename = "_id")]
    id: String,
    kind: String,
    created_at: DateTime,
}

/// Both timestamps; favourites are bookkeeping, not an edit.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(key = id)]
struct Article {
    #[serde(rename = "_id")]
    id: String,
    title: String,
    favorites: i64,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

async fn connection() -> model::Connection {
    let db = testkit::database().await;
    model::Connection::new(db.uri, db.name)
}

#[tokio::test]
async fn a_model_may_keep_its_creation_time_only() {
    assert_eq!(<Event as Model>::CREATED_AT, Some("created_at"));
    assert_eq!(<Event as Model>::UPDATED_AT, None);
    let conn = connection().await;
    conn.migrate::<Event>().await.unwrap();
    let events = conn.repo::<Event>();
    let at = DateTime::from_millis(1_000);
    let id = "e1".to_string();
    let inserted =
        events.insert_one(EventInsert { id: id.clone(), kind: "a".into() }).now(at).await.unwrap();
    assert_eq!(inserted.created_at, at);
    let updated = events.update(&id, Event::KIND.set("b")).await.unwrap();
    assert_eq!((updated.kind.as_str(), updated.created_at), ("b", at));
    let stored = conn.database().await.unwrap().collection::<bson::Document>("events");
    let stored = stored.find_one(bson::doc! { "_id": "e1" }).await.unwrap().unwrap();
    assert!(!stored.contains_key("updated_at"), "{stored}");
}

#[tokio::test]
async fn an_untouched_write_leaves_updated_at_as_it_is() {
    let conn = connection().await;
    let articles = conn.repo::<Article>();
    let id = "a1".to_string();
    let insert = ArticleInsert { id: id.clone(), title: "t".into(), favorites: 0 };
    articles.insert_one(insert).await.unwrap();
    let edited = articles
        .update(&id, Article::TITLE.set("t2"))
        .now(DateTime::from_millis(5_000))
        .await
        .unwrap();
    assert_eq!(edited.updated_at, Some(DateTime::from_millis(5_000)));
    // Favourited, by one write and by many: the edit time stays.
    let favorited = articles.update(&id, Article::FAVORITES.inc(1).touch(false)).await.unwrap();
    assert_eq!((favorited.favorites, favorited.updated_at), (1, edited.updated_at));
    let query = Article::ID.eq("a1");
    let changed =
        articles.update_many(query, Article::FAVORITES.inc(1).touch(false)).await.unwrap();
    assert_eq!(changed, 1);
    let stored = articles.find(&id).await.unwrap();
    assert_eq!((stored.favorites, stored.updated_at), (2, edited.updated_at));
    // Untouched and nothing else: nothing to write, refused before sending.
    let nothing = articles.update(&id, model::Update::none().touch(false)).await;
    assert!(matches!(nothing, Err(Error::InvalidArgument { .. })), "{nothing:?}");
}
