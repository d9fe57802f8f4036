//! Evolving a model: version 1 of `Post` has stored data; version 2 adds
//! a defaulted field (`tags`), renames another (`body` → `text`), and
//! tightens a constraint (`slug` becomes required). The migration that
//! gets there: a typed backfill computing the slug in Rust, a rename by
//! update pipeline, then the new validator synced after the steps. The
//! plan is printed before it runs; a progress line per batch.
//!
//! Uses `MONGODB_URI` when set; otherwise starts a local test server.
//! Run: `cargo run --example evolve`

use std::io::Write;

use model::bson::doc;
use model::migrations::{Migrations, Progress, StepContext, StepStatus, step};
use model::{DateTime, Model, Query};
use serde::{Deserialize, Serialize};

/// Version 1, as an earlier release of the service stored it.
mod v1 {
    use super::*;

    #[derive(Debug, Model, Serialize, Deserialize)]
    #[model(collection = "posts", key = id)]
    pub struct Post {
        #[serde(rename = "_id")]
        pub id: i64,
        pub title: String,
        pub body: String,
        pub created_at: DateTime,
        pub updated_at: Option<DateTime>,
    }
}

/// Version 2: what this release reads and writes.
mod v2 {
    use super::*;

    #[derive(Debug, Model, Serialize, Deserialize)]
    #[model(collection = "posts", key = id)]
    pub struct Post {
        #[serde(rename = "_id")]
        pub id: i64,
        pub title: String,
        /// Was `body`: renamed by the migration.
        pub text: String,
        /// New and required: computed from the title by the migration.
        #[model(unique)]
        pub slug: String,
        /// New, with a default: documents without it stay valid.
        #[serde(default)]
        pub tags: Vec<String>,
        pub created_at: DateTime,
        pub updated_at: Option<DateTime>,
    }

    /// What the slug backfill reads: a post of either version.
    #[derive(Debug, Model, Serialize, Deserialize)]
    #[model(collection = "posts", key = id)]
    pub struct Unslugged {
        #[serde(rename = "_id")]
        pub id: i64,
        pub title: String,
        pub slug: Option<String>,
        pub created_at: DateTime,
        pub updated_at: Option<DateTime>,
    }
}

fn slug(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// The migrations of this release, in order. Each step's checksum is
/// taken from its code at compile time: editing an applied step is
/// refused on the next start.
fn migrations(conn: &model::Connection) -> Migrations {
    Migrations::new(conn)
        .step(step!("2026-12-01-rename-body-to-text", |cx: StepContext| async move {
            let db = cx.connection().database().await?;
            let posts = db.collection::<model::bson::Document>("posts");
            let renamed = posts
                .update_many(
                    doc! { "body": { "$exists": true } },
                    doc! { "$rename": { "body": "text" } },
                )
                .await?;
            println!("  renamed `body` in {} posts", renamed.modified_count);
            Ok(())
        }))
        .step(step!("2026-12-02-backfill-slugs", |cx: StepContext| async move {
            let done = cx
                .rewrite(v2::Unslugged::SLUG.absent())
                .batch(250)
                .on_progress(|p: Progress| {
                    print!("\r  slugs: {} posts, {:.0}/s", p.done, p.per_second);
                    let _ = std::io::stdout().flush();
                })
                .run(|post: &v2::Unslugged| Some(v2::Unslugged::SLUG.set(Some(slug(&post.title)))))
                .await?;
            println!("\n  slugs: {} rewritten", done.rewritten);
            Ok(())
        }))
        // Applied after the steps, when every stored post has a slug and a
        // text: the new validator (slug and text required) and the unique
        // index on the slug.
        .sync::<v2::Post>()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (uri, db) = match std::env::var("MONGODB_URI") {
        Ok(uri) => (uri, format!("evolve_example_{}", std::process::id())),
        Err(_) => {
            let db = testkit::database().await;
            (db.uri, db.name)
        }
    };
    let conn = model::Connection::new(uri, db);

    // Release 1: its schema, and 1,000 posts.
    conn.migrate::<v1::Post>().await?;
    let posts = conn.repo::<v1::Post>();
    posts
        .insert_many((1..=1000).map(|id| v1::PostInsert {
            id,
            title: format!("Post number {id}: on evolving models"),
            body: "…".into(),
        }))
        .await?;
    println!("release 1: {} posts stored", posts.count(Query::all()).await?);

    // Release 2 starts: first the plan, with nothing written.
    let release2 = migrations(&conn);
    let plan = release2.plan().await?;
    println!("plan:");
    for planned in &plan.steps {
        let status = match &planned.status {
            StepStatus::Applied => "applied".to_string(),
            StepStatus::Pending => "pending".to_string(),
            other => format!("{other:?}"),
        };
        println!("  step {} [{}] {}", planned.name, planned.checksum, status);
    }
    for schema in &plan.schema {
        println!("  schema {schema}");
    }

    // Every instance of the fleet runs this at start-up; one applies the
    // steps, the others wait for it and find them applied.
    let report = release2.run().await?;
    println!("applied {:?}", report.applied);
    for schema in &report.schema {
        println!("  schema {schema}");
    }

    // Version 2 reads every post, old ones included.
    let v2 = conn.repo::<v2::Post>();
    let first = v2.find(&1).await?;
    println!("post 1: slug `{}`, text `{}`, tags {:?}", first.slug, first.text, first.tags);

    // A second start finds nothing to do.
    let again = migrations(&conn).run().await?;
    println!("second start: {} applied, {} already", again.applied.len(), again.already_applied);
    Ok(())
}
