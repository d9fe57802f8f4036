use model::{Connection, DateTime, Model, ObjectId};
use serde::{Deserialize, Serialize};

// A model-level mistake (no `updated_at`) is one error: the uses of the
// model below type-check against what the derive emits beside it.
#[derive(Debug, Model, Serialize, Deserialize)]
#[model(key = id)]
struct Article {
    #[serde(rename = "_id")]
    id: ObjectId,
    title: String,
    favorites: i64,
    created_at: DateTime,
}

async fn handler(conn: Connection, id: ObjectId) -> model::Result<Article> {
    let articles = conn.repo::<Article>();
    articles.insert_one(ArticleInsert { id: None, title: "t".into(), favorites: 0 }).await?;
    let found = articles.find_one(Article::TITLE.eq("t")).await?;
    let _ = found.map(|a| a.favorites);
    articles.update(&id, Article::FAVORITES.inc(1)).await
}

fn main() {
    let _ = handler;
}
