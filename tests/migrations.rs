//! Versioned data migrations in one process: steps applied once and in
//! order, checksums of their definitions, crash states and their
//! resolution, resumable backfills, the plan, and bad step lists.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bson::{Document, doc};
use model::migrations::{
    MigrationError, Migrations, Resolution, StepContext, StepState, StepStatus, step, update_all,
};
use model::{Connection, DateTime, Model, Query, Update};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "articles", key = id)]
struct Article {
    #[serde(rename = "_id")]
    id: i64,
    title: String,
    slug: Option<String>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

async fn articles(conn: &Connection, n: i64) {
    let inserts = (1..=n).map(|id| ArticleInsert { id, title: format!("Title {id}"), slug: None });
    conn.repo::<Article>().insert_many(inserts).await.unwrap();
}

async fn changelog(conn: &Connection) -> Vec<Document> {
    use futures::TryStreamExt;
    let db = conn.database().await.unwrap();
    let records = db.collection::<Document>("migrations");
    records.find(doc! {}).sort(doc! { "seq": 1 }).await.unwrap().try_collect().await.unwrap()
}

async fn history(conn: &Connection, step: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let db = conn.database().await.unwrap();
    let log = db.collection::<Document>("migrations_history");
    let found = log.find(doc! { "step": step }).sort(doc! { "_id": 1 }).await.unwrap();
    let entries: Vec<Document> = found.try_collect().await.unwrap();
    entries.iter().map(|e| e.get_str("event").unwrap().to_string()).collect()
}

fn counting(name: &'static str, count: &Arc<AtomicUsize>) -> model::migrations::Step {
    let count = count.clone();
    step!(name, move |_cx: StepContext| {
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    })
}

#[tokio::test]
async fn steps_apply_once_in_order_and_are_recorded_with_their_history() {
    let conn = common::connection().await;
    let (first, second) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let migrations = || {
        Migrations::new(&conn)
            .step(counting("001-first", &first))
            .step(counting("002-second", &second))
    };
    let report = migrations().run().await.unwrap();
    assert_eq!(report.applied, ["001-first", "002-second"]);
    assert_eq!(report.already_applied, 0);
    let again = migrations().run().await.unwrap();
    assert!(again.applied.is_empty(), "{again:?}");
    assert_eq!(again.already_applied, 2);
    assert_eq!((first.load(Ordering::SeqCst), second.load(Ordering::SeqCst)), (1, 1));

    let records = changelog(&conn).await;
    assert_eq!(records.len(), 2);
    for (record, step) in records.iter().zip(migrations().steps()) {
        assert_eq!(record.get_str("_id").unwrap(), step.name());
        assert_eq!(record.get_str("state").unwrap(), "applied");
        assert_eq!(record.get_str("checksum").unwrap(), step.checksum());
        let (started, ended) = (record.get_datetime("started_at"), record.get_datetime("ended_at"));
        assert!(started.unwrap() <= ended.unwrap(), "times by the server's clock");
    }
    assert_eq!(history(&conn, "001-first").await, ["started", "applied"]);
}

#[tokio::test]
async fn an_edited_applied_step_is_refused_until_it_is_rebaselined() {
    let conn = common::connection().await;
    let original = step!("001-edit-me", |_cx: StepContext| async move { Ok(()) });
    Migrations::new(&conn).step(original).run().await.unwrap();
    let edited = || {
        step!("001-edit-me", |cx: StepContext| async move {
            cx.repo::<Article>().delete_many(Query::all()).await?;
            Ok(())
        })
    };
    let refused = Migrations::new(&conn).step(edited()).run().await.unwrap_err();
    match &refused {
        MigrationError::Edited { step, recorded, current } => {
            assert_eq!(step, "001-edit-me");
            assert_ne!(recorded, current);
        }
        other => panic!("{other:?}"),
    }
    let plan = Migrations::new(&conn).step(edited()).plan().await.unwrap();
    assert!(matches!(plan.steps[0].status, StepStatus::Edited { .. }), "{plan:?}");

    Migrations::new(&conn).step(edited()).rebaseline("001-edit-me").await.unwrap();
    let report = Migrations::new(&conn).step(edited()).run().await.unwrap();
    assert!(report.applied.is_empty(), "a re-baselined step is not run again");
    assert_eq!(history(&conn, "001-edit-me").await, ["started", "applied", "rebaselined"]);
}

#[tokio::test]
async fn bad_step_lists_and_names_are_typed_errors_before_anything_is_written() {
    let conn = common::connection().await;
    let noop = |name: &'static str| step!(name, |_cx: StepContext| async move { Ok(()) });
    let duplicate = Migrations::new(&conn).step(noop("a")).step(noop("a")).run().await;
    assert!(matches!(duplicate, Err(MigrationError::InvalidSteps { .. })), "{duplicate:?}");
    let unnamed = Migrations::new(&conn).step(noop(" ")).plan().await;
    assert!(matches!(unnamed, Err(MigrationError::InvalidSteps { .. })), "{unnamed:?}");
    let unknown = Migrations::new(&conn).step(noop("a")).resolve("b", Resolution::Retry).await;
    assert!(matches!(&unknown, Err(MigrationError::UnknownStep { step }) if step == "b"));
    let db = conn.database().await.unwrap();
    assert!(db.list_collection_names().await.unwrap().is_empty(), "nothing written");

    Migrations::new(&conn).step(noop("a")).step(noop("b")).run().await.unwrap();
    let swapped = Migrations::new(&conn).step(noop("b")).step(noop("a")).run().await;
    assert!(
        matches!(&swapped, Err(MigrationError::OrderChanged { step, applied }) if step == "b" && applied == "a"),
        "{swapped:?}"
    );
    let inserted = Migrations::new(&conn).step(noop("a")).step(noop("new")).step(noop("b"));
    let inserted = inserted.run().await;
    assert!(
        matches!(&inserted, Err(MigrationError::OrderChanged { step, applied }) if step == "new" && applied == "b"),
        "{inserted:?}"
    );
    let not_crashed =
        Migrations::new(&conn).step(noop("a")).resolve("a", Resolution::Applied).await;
    assert!(matches!(not_crashed, Err(MigrationError::NotCrashed { .. })), "{not_crashed:?}");
    assert_eq!(changelog(&conn).await.len(), 2, "only the two applied steps are recorded");
}

/// A backfill over 25 articles in batches of 10 whose update fails at
/// article 15 when `fail` is set: the step is `failed`, with its progress
/// recorded after the first batch.
fn slugs(conn: &Connection, fail: &Arc<AtomicBool>, seen: &Arc<AtomicUsize>) -> Migrations {
    let (fail, seen) = (fail.clone(), seen.clone());
    Migrations::new(conn).step(step!("001-slugs", move |cx: StepContext| {
        let (fail, seen) = (fail.clone(), seen.clone());
        async move {
            let done = cx
                .rewrite(Query::all())
                .batch(10)
                .run(|article: &Article| {
                    seen.fetch_add(1, Ordering::SeqCst);
                    if fail.load(Ordering::SeqCst) && article.id == 15 {
                        return Some(Update::raw(doc! { "$bogus": { "slug": 1 } }));
                    }
                    Some(Article::SLUG.set(Some(article.title.to_lowercase().replace(' ', "-"))))
                })
                .await?;
            assert!(done.done >= 15);
            Ok(())
        }
    }))
}

#[tokio::test]
async fn a_failed_step_blocks_until_resolved_and_its_backfill_resumes_where_it_stopped() {
    let conn = common::connection().await;
    articles(&conn, 25).await;
    let (fail, seen) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicUsize::new(0)));
    let failed = slugs(&conn, &fail, &seen).run().await.unwrap_err();
    assert!(matches!(&failed, MigrationError::StepFailed { step, .. } if step == "001-slugs"));
    assert_eq!(
        seen.load(Ordering::SeqCst),
        20,
        "two batches read; the second's update of 15 failed"
    );
    let record = &changelog(&conn).await[0];
    assert_eq!(record.get_str("state").unwrap(), "failed");
    let progress = record.get_document("progress").unwrap().get_document("0").unwrap();
    assert_eq!(progress.get_i64("done").unwrap(), 10, "progress after the first batch");
    assert_eq!(progress.get_i64("after").unwrap(), 10, "the last key done");

    // Blocked until resolved.
    fail.store(false, Ordering::SeqCst);
    let blocked = slugs(&conn, &fail, &seen).run().await.unwrap_err();
    match &blocked {
        MigrationError::Crashed { step, state, .. } => {
            assert_eq!((step.as_str(), state.as_str()), ("001-slugs", "failed"));
        }
        other => panic!("{other:?}"),
    }
    let plan = slugs(&conn, &fail, &seen).plan().await.unwrap();
    assert!(
        matches!(plan.steps[0].status, StepStatus::Crashed { state: StepState::Failed, .. }),
        "{plan:?}"
    );
    slugs(&conn, &fail, &seen).resolve("001-slugs", Resolution::Retry).await.unwrap();

    // Resumed after the first batch: articles 11 to 25 are read, not 1 to 10.
    seen.store(0, Ordering::SeqCst);
    let report = slugs(&conn, &fail, &seen).run().await.unwrap();
    assert_eq!(report.applied, ["001-slugs"]);
    assert_eq!(seen.load(Ordering::SeqCst), 15, "resumed where the progress was recorded");
    let repo = conn.repo::<Article>();
    assert_eq!(repo.count(Article::SLUG.absent()).await.unwrap(), 0, "every article has a slug");
    let tenth = repo.find(&10).await.unwrap();
    assert_eq!(tenth.slug.as_deref(), Some("title-10"));
    assert_eq!(
        history(&conn, "001-slugs").await,
        ["started", "failed", "resolved-retry", "started", "applied"]
    );
}

#[tokio::test]
async fn a_crashed_step_resolved_applied_is_not_run_and_the_run_goes_on() {
    let conn = common::connection().await;
    let ran = Arc::new(AtomicUsize::new(0));
    let failing = step!("001-fails", |_cx: StepContext| async move { Err("boom".into()) });
    let failed = Migrations::new(&conn).step(failing).run().await.unwrap_err();
    assert!(matches!(failed, MigrationError::StepFailed { .. }), "{failed:?}");
    let fixed = || {
        let failing = step!("001-fails", |_cx: StepContext| async move { Err("boom".into()) });
        Migrations::new(&conn).step(failing).step(counting("002-after", &ran))
    };
    fixed().resolve("001-fails", Resolution::Applied).await.unwrap();
    let report = fixed().run().await.unwrap();
    assert_eq!(report.applied, ["002-after"]);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_plan_counts_a_backfill_and_the_schema_changes_and_writes_nothing() {
    let conn = common::connection().await;
    articles(&conn, 7).await;
    let repo = conn.repo::<Article>();
    repo.update(&3, Article::SLUG.set(Some("kept".to_string()))).await.unwrap();
    let migrations = || {
        Migrations::new(&conn)
            .step(update_all!(
                "001-default-slugs",
                Article,
                Article::SLUG.absent(),
                Article::SLUG.set(Some("untitled".to_string()))
            ))
            .sync::<Article>()
            .ttl(Duration::from_secs(10))
    };
    let plan = migrations().plan().await.unwrap();
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(plan.steps[0].status, StepStatus::Pending);
    assert_eq!(plan.steps[0].touches, Some(6), "the six articles without a slug");
    assert_eq!(plan.pending().count(), 1);
    assert_eq!(plan.schema.len(), 1);
    assert!(
        !plan.schema[0].is_unchanged(),
        "the validator and index would be set: {:?}",
        plan.schema
    );
    let db = conn.database().await.unwrap();
    assert_eq!(db.list_collection_names().await.unwrap(), ["articles"], "no changelog written");

    let report = migrations().run().await.unwrap();
    assert_eq!(report.applied, ["001-default-slugs"]);
    assert!(!report.schema[0].is_unchanged());
    assert_eq!(repo.count(Article::SLUG.eq(Some("untitled".to_string()))).await.unwrap(), 6);
    let after = migrations().plan().await.unwrap();
    assert_eq!(
        (after.steps[0].status.clone(), after.steps[0].touches),
        (StepStatus::Applied, None)
    );
    assert!(after.schema[0].is_unchanged(), "{:?}", after.schema);
}

/// The changelog write that records a step applied is fenced by the run's
/// lease: a step during which the lease moved to another owner is not
/// recorded (it stays `applying`), and the run reports the loss.
#[tokio::test]
async fn a_step_whose_lease_moved_on_is_not_recorded_applied() {
    let conn = common::connection().await;
    let steal = step!("001-lease-stolen", |cx: StepContext| async move {
        let db = cx.connection().database().await?;
        let locks = db.collection::<Document>("locks");
        locks
            .update_one(doc! { "_id": cx.signal().key() }, doc! { "$set": { "owner": "thief" } })
            .await?;
        Ok(())
    });
    let lost = Migrations::new(&conn).step(steal).ttl(Duration::from_secs(30)).run().await;
    assert!(
        matches!(&lost, Err(MigrationError::LeaseLost { step }) if step == "001-lease-stolen"),
        "{lost:?}"
    );
    let record = &changelog(&conn).await[0];
    assert_eq!(record.get_str("state").unwrap(), "applying", "not recorded applied");
    assert_eq!(history(&conn, "001-lease-stolen").await, ["started"]);
}

#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "notes", key = id)]
struct NoteV1 {
    #[serde(rename = "_id")]
    id: i64,
    body: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "notes", key = id)]
struct NoteV2 {
    #[serde(rename = "_id")]
    id: i64,
    text: String,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

async fn validation_level(conn: &Connection, name: &str) -> String {
    use futures::TryStreamExt;
    let db = conn.database().await.unwrap();
    let specs: Vec<_> = db
        .list_collections()
        .filter(doc! { "name": name })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let level = specs[0].options.validation_level.clone();
    format!("{level:?}")
}

/// A step that renames a field runs with the old validator off; the new
/// one is synced after it. When a step fails, the validator is on again.
#[tokio::test]
async fn the_old_validator_is_off_while_steps_run_and_on_again_after_a_failure() {
    let conn = common::connection().await;
    conn.migrate::<NoteV1>().await.unwrap();
    let notes = conn.repo::<NoteV1>();
    notes.insert_one(NoteV1Insert { id: 1, body: "hello".into() }).await.unwrap();
    let rename = || {
        step!("001-rename-body", |cx: StepContext| async move {
            let db = cx.connection().database().await?;
            let notes = db.collection::<Document>("notes");
            notes.update_many(doc! {}, doc! { "$rename": { "body": "text" } }).await?;
            Ok(())
        })
    };
    let failing = step!("002-fails", |_cx: StepContext| async move { Err("boom".into()) });
    let failed = Migrations::new(&conn).step(rename()).step(failing).sync::<NoteV2>().run().await;
    assert!(matches!(failed, Err(MigrationError::StepFailed { .. })), "{failed:?}");
    assert_eq!(validation_level(&conn, "notes").await, "Some(Strict)", "on again");

    // Without the failing step, on a database of its own: the rename runs
    // (under the old validator, which requires `body`, it would fail), then
    // the new validator is set.
    let conn = common::connection().await;
    conn.migrate::<NoteV1>().await.unwrap();
    conn.repo::<NoteV1>().insert_one(NoteV1Insert { id: 1, body: "hello".into() }).await.unwrap();
    let report = Migrations::new(&conn).step(rename()).sync::<NoteV2>().run().await.unwrap();
    assert_eq!(report.applied, ["001-rename-body"]);
    assert!(!report.schema[0].is_unchanged(), "{:?}", report.schema);
    assert_eq!(validation_level(&conn, "notes").await, "Some(Strict)");
    assert_eq!(conn.repo::<NoteV2>().find(&1).await.unwrap().text, "hello");
    let old_shape =
        conn.repo::<NoteV1>().insert_one(NoteV1Insert { id: 2, body: "x".into() }).await;
    assert!(matches!(old_shape, Err(model::Error::Validation { .. })), "{old_shape:?}");
}

/// Two backfills in one step keep their progress apart: a rerun skips the
/// one that finished and resumes the other where it stopped; `Restart`
/// runs both from the start.
#[tokio::test]
async fn each_backfill_of_a_step_resumes_on_its_own_and_restart_starts_over() {
    let conn = common::connection().await;
    articles(&conn, 25).await;
    let fail = Arc::new(AtomicBool::new(true));
    let seen = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let migrations = || {
        let (fail, seen) = (fail.clone(), seen.clone());
        Migrations::new(&conn).step(step!("001-two-backfills", move |cx: StepContext| {
            let (fail, seen) = (fail.clone(), seen.clone());
            async move {
                cx.rewrite(Query::<Article>::all())
                    .batch(10)
                    .run(|a: &Article| {
                        seen[0].fetch_add(1, Ordering::SeqCst);
                        Some(Article::SLUG.set(Some(format!("s{}", a.id))))
                    })
                    .await?;
                cx.rewrite(Query::<Article>::all())
                    .batch(10)
                    .run(|a: &Article| {
                        seen[1].fetch_add(1, Ordering::SeqCst);
                        if fail.load(Ordering::SeqCst) && a.id == 15 {
                            return Some(Update::raw(doc! { "$bogus": { "title": 1 } }));
                        }
                        Some(Article::TITLE.set(a.title.to_uppercase()))
                    })
                    .await?;
                Ok(())
            }
        }))
    };
    let counts = || (seen[0].load(Ordering::SeqCst), seen[1].load(Ordering::SeqCst));
    assert!(matches!(migrations().run().await, Err(MigrationError::StepFailed { .. })));
    assert_eq!(counts(), (25, 20));
    migrations().resolve("001-two-backfills", Resolution::Retry).await.unwrap();
    assert!(matches!(migrations().run().await, Err(MigrationError::StepFailed { .. })));
    assert_eq!(counts(), (25, 30), "the first skipped, the second resumed at article 11");
    migrations().resolve("001-two-backfills", Resolution::Restart).await.unwrap();
    fail.store(false, Ordering::SeqCst);
    let report = migrations().run().await.unwrap();
    assert_eq!(report.applied, ["001-two-backfills"]);
    assert_eq!(counts(), (50, 55), "both from the start");
    let repo = conn.repo::<Article>();
    assert_eq!(repo.count(Article::TITLE.eq("TITLE 25".to_string())).await.unwrap(), 1);
}
