//! Pagination: keyset pages that continue from a cursor, offset pages with
//! a total count, and a stream for reading everything in constant memory.
//!
//! Run: `cargo run --example pagination`

use futures::TryStreamExt;
use model::{DateTime, Model, Query, Uuid};
use serde::{Deserialize, Serialize};

#[derive(Debug, Model, Serialize, Deserialize)]
#[model(key = id)]
struct Article {
    #[serde(rename = "_id")]
    id: Uuid,
    title: String,
    #[model(index)]
    views: i64,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = testkit::try_server()?;
    let conn = model::Connection::new(&server.uri, testkit::unique_name("pagination"));
    let articles = conn.repo::<Article>();
    articles.create_indexes().await?;
    let inserts = (0..45).map(|i| ArticleInsert {
        id: None,
        title: format!("article {i}"),
        views: i * 7 % 50,
    });
    articles.insert_many(inserts).await?;

    // Keyset pages, most viewed first: each continues from the cursor of
    // the one before (an opaque string a client can send back), so the
    // last page costs what the first does.
    let popular = Article::VIEWS.gte(10);
    let mut at = None;
    let mut pages = 0;
    loop {
        let page =
            articles.scroll(popular.clone()).sort(Article::VIEWS.desc()).size(10).at(at).await?;
        pages += 1;
        let first = page.items.first().map(|a| a.views);
        println!("keyset page {pages}: {} articles, from {first:?} views", page.items.len());
        match page.next {
            Some(next) => at = Some(next.as_str().parse::<model::PageCursor>()?),
            None => break,
        }
    }

    // Offset pages, with the total.
    let mut offset = 0;
    loop {
        let page = articles
            .paginate(popular.clone())
            .sort(Article::VIEWS.desc().then_by(Article::TITLE.asc()))
            .offset(offset)
            .limit(10)
            .await?;
        println!("page at {:>2}: {} of {} matching", page.offset, page.items.len(), page.count);
        offset += page.limit;
        if offset >= page.count {
            break;
        }
    }

    // A stream reads every document in batches (500 unless told): memory stays flat.
    let total: i64 = articles
        .iterate(Query::all())
        .await?
        .try_fold(0, |sum, a| async move { Ok(sum + a.views) })
        .await?;
    println!("total views: {total}");

    conn.database().await?.drop().await?;
    Ok(())
}
