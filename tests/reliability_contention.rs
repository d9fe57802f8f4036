//! Many tasks on one document or one unique value at once: exactly one
//! insert wins, no increment is lost, and racing bulk writes fail with
//! nothing but the documented errors.

mod reliability;

use std::sync::Arc;

use futures::future::join_all;
use model::{Error, Query};
use reliability::*;
use tokio::sync::Barrier;

const TASKS: usize = 32;

/// A client on a fresh database with the unique index on `Item::name`.
async fn client() -> Client {
    let c = Client::fresh(ClientSpec::default()).await;
    c.conn.repo::<Item>().create_indexes().await.unwrap();
    c
}

#[tokio::test]
async fn thirty_two_inserts_of_one_unique_value_give_one_success_and_thirty_one_conflicts() {
    let c = client().await;
    let start = Arc::new(Barrier::new(TASKS));
    let tasks = (0..TASKS).map(|i| {
        let items = c.conn.repo::<Item>();
        let start = start.clone();
        tokio::spawn(async move {
            start.wait().await;
            items.insert_one(item("the-one", &format!("task{i}"))).await
        })
    });
    let results: Vec<_> = join_all(tasks).await.into_iter().map(Result::unwrap).collect();

    let won = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(Error::Conflict { collection, .. }) if collection == "items"))
        .count();
    let other: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter(|e| !matches!(e, Error::Conflict { .. }))
        .collect();
    assert!(other.is_empty(), "errors other than Conflict: {other:?}");
    assert_eq!((won, conflicts), (1, TASKS - 1));
    let stored = c.conn.repo::<Item>().find_many(Query::all()).await.unwrap();
    assert_eq!(stored.len(), 1, "one document stored");
    let winner = results.iter().find_map(|r| r.as_ref().ok()).unwrap();
    assert_eq!(&stored[0], winner, "the stored document is the winner's");
    Figures { operations: TASKS as u64, duplicated: stored.len() as u64 - 1, ..Figures::default() }
        .print("thirty_two_inserts_of_one_unique_value_give_one_success_and_thirty_one_conflicts");
}

#[tokio::test]
async fn thirty_two_tasks_incrementing_one_counter_reach_the_exact_total() {
    let c = client().await;
    let per_task = if heavy() { 50 } else { 8 };
    let counter = c.conn.repo::<Item>().insert_one(item("counter", "c")).await.unwrap();
    let start = Arc::new(Barrier::new(TASKS));
    let tasks = (0..TASKS).map(|_| {
        let items = c.conn.repo::<Item>();
        let start = start.clone();
        let id = counter.id;
        tokio::spawn(async move {
            start.wait().await;
            let mut seen = Vec::new();
            for _ in 0..per_task {
                seen.push(items.update(&id, Item::N.inc(1)).await.unwrap().n);
            }
            seen
        })
    });
    let mut seen: Vec<i64> = join_all(tasks).await.into_iter().flat_map(Result::unwrap).collect();
    let total = (TASKS * per_task) as i64;
    let stored = c.conn.repo::<Item>().find(&counter.id).await.unwrap().n;
    seen.sort_unstable();
    // Each update returns the document after it: every value 1..=total once.
    let duplicated = duplicates(seen.iter().copied());
    Figures {
        operations: total as u64,
        lost: (total - stored).max(0) as u64,
        duplicated: duplicated + (stored - total).max(0) as u64,
        ..Figures::default()
    }
    .print("thirty_two_tasks_incrementing_one_counter_reach_the_exact_total");
    assert_eq!(stored, total, "no increment lost or doubled");
    assert_eq!(seen, (1..=total).collect::<Vec<_>>(), "each increment saw its own result");
}

#[tokio::test]
async fn update_many_racing_delete_many_fails_with_no_undocumented_error() {
    let c = client().await;
    let items = c.conn.repo::<Item>();
    let (keep, doomed) = if heavy() { (100, 100) } else { (20, 20) };
    let rounds = 8;
    items.insert_many((0..keep).map(|i| item(format!("keep{i}"), "keep"))).await.unwrap();
    let doomed_ids: Vec<_> = items
        .insert_many((0..doomed).map(|i| item(format!("doomed{i}"), "doomed")))
        .await
        .unwrap()
        .into_iter()
        .map(|doc| doc.id)
        .collect();

    let start = Arc::new(Barrier::new(2 * rounds));
    let mut updates = Vec::new();
    let mut deletes = Vec::new();
    let mut batches = vec![Vec::new(); rounds];
    for (i, id) in doomed_ids.into_iter().enumerate() {
        batches[i % rounds].push(id);
    }
    for batch in batches {
        let (items, start) = (items.clone(), start.clone());
        deletes.push(tokio::spawn(async move {
            start.wait().await;
            items.delete_many(Item::ID.one_of(batch)).await
        }));
    }
    for _ in 0..rounds {
        let (items, start) = (items.clone(), start.clone());
        updates.push(tokio::spawn(async move {
            start.wait().await;
            items.update_many(Query::all(), Item::N.inc(1)).await
        }));
    }
    assert_eq!(deletes.len(), rounds, "one delete per update");
    let deleted: Vec<_> = join_all(deletes).await.into_iter().map(Result::unwrap).collect();
    let modified: Vec<_> = join_all(updates).await.into_iter().map(Result::unwrap).collect();

    // No error is documented for either on a healthy server.
    let errors: Vec<_> = deleted
        .iter()
        .filter_map(|r| r.as_ref().err())
        .chain(modified.iter().filter_map(|r| r.as_ref().err()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let deleted: u64 = deleted.into_iter().map(Result::unwrap).sum();
    assert_eq!(deleted, doomed as u64, "each doomed item deleted once");
    for modified in modified.into_iter().map(Result::unwrap) {
        let range = keep as u64..=(keep + doomed) as u64;
        assert!(range.contains(&modified), "modified {modified}: every live item, once");
    }
    let kept = items.find_many(Query::all()).await.unwrap();
    assert_eq!(kept.len(), keep, "the kept items, all of them");
    let wrong: Vec<_> = kept.iter().filter(|i| i.group != "keep" || i.n != rounds as i64).collect();
    assert!(wrong.is_empty(), "each kept item incremented once per round: {wrong:?}");
    Figures {
        operations: 2 * rounds as u64,
        lost: (keep - kept.len()) as u64,
        duplicated: wrong.len() as u64,
        ..Figures::default()
    }
    .print("update_many_racing_delete_many_fails_with_no_undocumented_error");
}
