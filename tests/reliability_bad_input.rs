//! Bad input: each is a clear, typed error, and nothing is written.

mod reliability;

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use model::{Connection, DateTime, Error, Model, ObjectId, ParseKey, Query, Uuid};
use reliability::*;
use serde::{Deserialize, Serialize};

/// A model with free-form keys, where a caller can put any field name.
#[derive(Debug, Clone, PartialEq, Model, Serialize, Deserialize)]
#[model(collection = "tagged", key = id)]
struct Tagged {
    #[serde(rename = "_id")]
    id: Uuid,
    tags: HashMap<String, i64>,
    created_at: DateTime,
    updated_at: Option<DateTime>,
}

fn tagged(key: &str) -> TaggedInsert {
    TaggedInsert { id: None, tags: HashMap::from([(key.to_string(), 1)]) }
}

/// The driver's error kind behind `error`, for messages.
fn kind(error: &Error) -> String {
    match error.driver_error() {
        Some(e) => format!("{:?}", e.kind),
        None => format!("{error:?}"),
    }
}

const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn a_document_over_16_mib_is_refused_and_nothing_is_written() {
    let c = Client::fresh(ClientSpec::default()).await;
    let items = c.conn.repo::<Item>();
    let huge = "x".repeat(17 * MIB);

    let error = items.insert_one(item(huge.clone(), "huge")).await.unwrap_err();
    assert!(matches!(error, Error::Mongo(_)), "{error:?}");
    let message = whole_chain(&error);
    assert!(
        message.contains("16777216"),
        "the limit is named: {}",
        &message[..message.len().min(500)]
    );
    println!("[reliability] a 17 MiB insert: {}", error.driver_error().unwrap());
    assert_eq!(c.stored("items").await, 0, "nothing written");

    // In a batch, the small documents before the huge one are not written either.
    let batch = [item("small", "g"), item(huge.clone(), "huge")];
    let error = items.insert_many(batch).await.unwrap_err();
    assert!(matches!(error, Error::Mongo(_)), "{error:?}");
    assert_eq!(c.stored("items").await, 0, "nothing written");

    // Updates that would grow a stored document past the limit: refused by
    // the server (mongod: 10334 BSONObjectTooLarge; SecantusDB answers a
    // findAndModify with 1 InternalError).
    let doc = items.insert_one(item("x".repeat(9 * MIB), "g")).await.unwrap();
    let nine_mib = "y".repeat(9 * MIB);
    let error = items.update(&doc.id, Item::GROUP.set(nine_mib.clone())).await.unwrap_err();
    assert!(server_code(&error).is_some(), "a server error: {}", kind(&error));
    println!("[reliability] update_one past 16 MiB: server code {:?}", server_code(&error));
    let error =
        items.update_many(Item::ID.eq(doc.id), Item::GROUP.set(nine_mib)).await.unwrap_err();
    assert_eq!(server_code(&error), Some(10334), "BSONObjectTooLarge: {}", kind(&error));
    assert_eq!(items.find(&doc.id).await.unwrap(), doc, "the stored document is unchanged");

    // A value over the limit in the update itself.
    let error = items.update(&doc.id, Item::GROUP.set(huge)).await.unwrap_err();
    assert!(matches!(error, Error::Mongo(_)), "{error:?}");
    assert_eq!(items.find(&doc.id).await.unwrap(), doc, "the stored document is unchanged");
    assert_eq!(c.stored("items").await, 1);
    Figures { operations: 5, ..Figures::default() }
        .print("a_document_over_16_mib_is_refused_and_nothing_is_written");
}

#[tokio::test]
async fn a_field_name_with_a_nul_byte_is_refused_before_sending_and_nothing_is_written() {
    let c = Client::fresh(ClientSpec::default()).await;
    let repo = c.conn.repo::<Tagged>();

    let error = repo.insert_one(tagged("a\0b")).await.unwrap_err();
    assert!(matches!(error, Error::Serialize(_)), "{error:?}");
    assert_eq!(c.stored("tagged").await, 0, "nothing written");

    let doc = repo.insert_one(tagged("fine")).await.unwrap();
    let bad = HashMap::from([("a\0b".to_string(), 2)]);
    let error = repo.update(&doc.id, Tagged::TAGS.set(bad.clone())).await.unwrap_err();
    assert!(matches!(&error, Error::InvalidValue { field, .. } if field == "tags"), "{error:?}");
    let error = repo.update_many(Query::all(), Tagged::TAGS.set(bad)).await.unwrap_err();
    assert!(matches!(&error, Error::InvalidValue { field, .. } if field == "tags"), "{error:?}");
    assert_eq!(repo.find(&doc.id).await.unwrap(), doc, "unchanged");
    Figures { operations: 4, ..Figures::default() }
        .print("a_field_name_with_a_nul_byte_is_refused_before_sending_and_nothing_is_written");
}

#[tokio::test]
async fn dollar_and_dotted_field_names_in_values_are_stored_and_read_back_intact() {
    // MongoDB 5.0+ and SecantusDB store `$`-prefixed and dotted field names
    // inside documents; the round trip must not corrupt them.
    let c = Client::fresh(ClientSpec::default()).await;
    let repo = c.conn.repo::<Tagged>();
    let weird = HashMap::from([("$price".to_string(), 1), ("a.b".to_string(), 2)]);
    let doc = repo.insert_one(TaggedInsert { id: None, tags: weird.clone() }).await.unwrap();
    assert_eq!(repo.find(&doc.id).await.unwrap().tags, weird);
    let more = HashMap::from([("$set".to_string(), 3)]);
    let after = repo.update(&doc.id, Tagged::TAGS.set(more.clone())).await.unwrap();
    assert_eq!(after.tags, more);
    assert_eq!(repo.find(&doc.id).await.unwrap().tags, more);
}

#[tokio::test]
async fn keys_that_do_not_parse_are_invalid_arguments_and_nothing_is_sent() {
    let c = Client::fresh(ClientSpec::default()).await;
    let items = c.conn.repo::<Item>();
    let kept = items.insert_one(item("kept", "g")).await.unwrap();
    c.commands.clear();

    let not_uuids = [
        "",
        "not-a-uuid",
        "0123456789abcdef0123456789abcdeg",
        "01234567-89ab-cdef-0123-456789abcdef0",
        "01234567-89ab-cdef-0123-456789abcde",
        " 01234567-89ab-cdef-0123-456789abcdef",
        "01234567-89ab-cdef-0123-456789abcdef\n",
        "01234567-89ab-cdef-0123-456789abc\0ef",
        "6553f1c1e4b0f3a1c2d3e4f5",
    ];
    for text in not_uuids {
        let error = Uuid::parse_key(text).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidArgument { message } if message.contains("UUID")),
            "{text:?}: {error:?}"
        );
    }
    let not_object_ids = [
        "",
        "6553f1c1e4b0f3a1c2d3e4f",
        "6553f1c1e4b0f3a1c2d3e4f55",
        "6553f1c1e4b0f3a1c2d3e4fg",
        "01234567-89ab-cdef-0123-456789abcdef",
        "0x6553f1c1e4b0f3a1c2d3e4",
    ];
    for text in not_object_ids {
        let error = ObjectId::parse_key(text).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidArgument { message } if message.contains("ObjectId")),
            "{text:?}: {error:?}"
        );
    }
    for text in ["", "1.5", "9223372036854775808", "-9223372036854775809", "12a"] {
        let error = i64::parse_key(text).unwrap_err();
        assert!(matches!(error, Error::InvalidArgument { .. }), "{text:?}: {error:?}");
    }
    assert!(matches!(i32::parse_key("2147483648"), Err(Error::InvalidArgument { .. })));

    // The good forms parse, and the parsed key finds the document.
    let parsed = Uuid::parse_key(&kept.id.to_string()).unwrap();
    assert_eq!(items.find(&parsed).await.unwrap(), kept);
    assert_eq!(i64::parse_key("-42").unwrap(), -42);

    assert_eq!(c.commands.count("find"), 1, "only the good key was sent");
    assert_eq!(c.commands.all(), ["find"], "nothing else was sent");
    assert_eq!(c.stored("items").await, 1);
}

#[tokio::test]
async fn paginate_and_find_many_with_out_of_range_offset_or_limit_are_invalid_arguments() {
    let c = Client::fresh(ClientSpec::default()).await;
    let items = c.conn.repo::<Item>();
    items.insert_many((0..3).map(|i| item(format!("p{i}"), "p"))).await.unwrap();
    c.commands.clear();
    let over_i64 = i64::MAX as u64 + 1;

    for (what, result) in [
        ("limit 0", items.paginate(Query::all()).limit(0).await),
        ("limit over 1000", items.paginate(Query::all()).limit(u64::MAX).await),
        ("offset u64::MAX", items.paginate(Query::all()).offset(u64::MAX).await),
        ("offset over i64::MAX", items.paginate(Query::all()).offset(over_i64).await),
    ] {
        let error = result.unwrap_err();
        assert!(matches!(error, Error::InvalidArgument { .. }), "paginate {what}: {error:?}");
    }
    for (what, result) in [
        ("limit 0", items.find_many(Query::all()).limit(0).await),
        ("limit over i64::MAX", items.find_many(Query::all()).limit(over_i64).await),
        ("offset over i64::MAX", items.find_many(Query::all()).offset(over_i64).await),
    ] {
        let error = result.unwrap_err();
        assert!(matches!(error, Error::InvalidArgument { .. }), "find_many {what}: {error:?}");
    }
    let error = items.iterate(Query::all()).offset(u64::MAX).await.err().unwrap();
    assert!(matches!(error, Error::InvalidArgument { .. }), "iterate: {error:?}");
    assert!(c.commands.all().is_empty(), "nothing was sent");

    // The edges that are in range: the largest offset and limit.
    let page = items.paginate(Query::all()).offset(i64::MAX as u64).await.unwrap();
    assert_eq!((page.count, page.items.len()), (3, 0), "past the end: an empty page");
    let page = items.paginate(Query::all()).limit(1000).await.unwrap();
    assert_eq!((page.limit, page.items.len()), (1000, 3), "the largest page");
    let docs = items.find_many(Query::all()).offset(i64::MAX as u64).await.unwrap();
    assert!(docs.is_empty());
    assert_eq!(c.stored("items").await, 3);
}

#[tokio::test]
async fn a_closed_connection_refuses_every_operation_and_writes_nothing() {
    let c = Client::fresh(ClientSpec::default()).await;
    let items = c.conn.repo::<Item>();
    let kept = items.insert_one(item("kept", "g")).await.unwrap();
    c.conn.disconnect().await;
    assert!(c.conn.is_closed());

    let mut errors = vec![
        items.insert_one(item("a", "g")).await.map(drop).unwrap_err(),
        items.insert_many([item("b", "g")]).await.map(drop).unwrap_err(),
        items.update(&kept.id, Item::N.inc(1)).await.map(drop).unwrap_err(),
        items.update_many(Query::all(), Item::N.inc(1)).await.map(drop).unwrap_err(),
        items.delete(&kept.id).await.unwrap_err(),
        items.delete_many(Query::all()).await.map(drop).unwrap_err(),
        items.find(&kept.id).await.map(drop).unwrap_err(),
        items.count(Query::all()).await.map(drop).unwrap_err(),
        items.paginate(Query::all()).await.map(drop).unwrap_err(),
        items.iterate(Query::all()).await.map(drop).err().unwrap(),
        c.conn.database().await.map(drop).unwrap_err(),
    ];
    // A repository made after the close, too.
    errors.push(c.conn.repo::<Item>().insert_one(item("c", "g")).await.map(drop).unwrap_err());
    for error in &errors {
        assert!(matches!(error, Error::Disconnected), "{error:?}");
        assert_eq!(error.to_string(), "the connection is closed");
    }
    let stored = c.admin.database(c.conn.database_name()).collection::<Item>("items");
    let stored = stored.find_one(bson::doc! {}).await.unwrap().unwrap();
    assert_eq!(stored, kept, "nothing written, nothing deleted");
    assert_eq!(c.stored("items").await, 1);
    c.conn.disconnect().await; // idempotent
}

#[tokio::test]
async fn writes_racing_a_disconnect_either_succeed_and_are_stored_or_fail_and_are_not() {
    let c = Client::fresh(ClientSpec::default()).await;
    let items = c.conn.repo::<Item>();
    items.insert_one(item("warm-up", "warm-up")).await.unwrap();
    let (tasks, per_task) = (16, 4);
    let writers: Vec<_> = (0..tasks)
        .map(|t| {
            let items = items.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for i in 0..per_task {
                    outcomes.push(items.insert_one(item(format!("r{t}-{i}"), "race")).await);
                }
                outcomes
            })
        })
        .collect();
    // Close once the first racing write is acknowledged.
    let first = c.admin.database(c.conn.database_name()).collection::<Item>("items");
    while first.count_documents(bson::doc! { "group": "race" }).await.unwrap() == 0 {
        tokio::task::yield_now().await;
    }
    c.conn.disconnect().await;
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for writer in writers {
        for outcome in writer.await.unwrap() {
            match outcome {
                Ok(doc) => acknowledged.push(doc),
                Err(Error::Disconnected) => refused += 1,
                Err(other) => panic!("only Disconnected is documented: {other:?}"),
            }
        }
    }
    assert_eq!(acknowledged.len() + refused, tasks * per_task);
    let stored: Vec<Item> = c
        .admin
        .database(c.conn.database_name())
        .collection::<Item>("items")
        .find(bson::doc! { "group": "race" })
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    println!(
        "[reliability] racing a disconnect: {} acknowledged, {refused} refused",
        acknowledged.len()
    );
    let stored_ids: HashSet<Uuid> = stored.iter().map(|item| item.id).collect();
    let acknowledged_ids: HashSet<Uuid> = acknowledged.iter().map(|item| item.id).collect();
    let lost = acknowledged_ids.difference(&stored_ids).count() as u64;
    let unasked = stored_ids.difference(&acknowledged_ids).count() as u64;
    Figures {
        operations: (tasks * per_task) as u64,
        lost,
        duplicated: unasked + duplicates(stored.iter().map(|item| item.id)),
        ..Figures::default()
    }
    .print("writes_racing_a_disconnect_either_succeed_and_are_stored_or_fail_and_are_not");
    assert_eq!(stored.len(), acknowledged.len(), "acknowledged = stored");
    assert_eq!(
        stored_ids, acknowledged_ids,
        "the acknowledged ones are stored; the refused are not"
    );
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_uri_that_points_nowhere_fails_in_time_naming_the_host_and_never_the_password() {
    let password = "pa55-w0rd-do-not-print";
    let timeout = Duration::from_millis(500);
    let port = closed_port();
    for host in [format!("127.0.0.1:{port}"), "nowhere.invalid:27017".to_string()] {
        let uri = format!("mongodb://alice:{password}@{host}/?serverSelectionTimeoutMS=500");
        let conn = Connection::new(uri, "nowhere");
        let items = conn.repo::<Item>();
        let began = Instant::now();
        let error = items.insert_one(item("a", "g")).await.unwrap_err();
        let took = began.elapsed();
        assert!(took < timeout + Duration::from_secs(2), "{host}: failed after {took:?}");
        assert!(is_server_selection_error(&error), "{host}: {error:?}");
        let text = whole_chain(&error);
        assert!(text.contains(&host), "{host} is named: {text}");
        assert!(!text.contains(password), "the password leaked: {text}");
        for shown in [format!("{conn:?}"), format!("{items:?}")] {
            assert!(!shown.contains(password), "the password leaked: {shown}");
        }
    }

    // A URI the driver cannot parse: the error must not echo the password either.
    for uri in [
        format!("mongodb://alice:{password}@127.0.0.1:notaport/"),
        format!("mongodb://alice:{password}@127.0.0.1:{port}/?serverSelectionTimeoutMS=soon"),
        format!("mongodb://alice:{password}@127.0.0.1:{port}/?authMechanism=NOPE"),
        format!("mongodb://alice:{password}:extra@127.0.0.1:{port}/"),
    ] {
        let conn = Connection::new(uri.clone(), "nowhere");
        let error = conn.repo::<Item>().count(Query::all()).await.unwrap_err();
        assert!(matches!(error, Error::Mongo(_)), "{uri}: {error:?}");
        let text = whole_chain(&error);
        assert!(!text.contains(password), "the password leaked: {text}");
    }
}

#[tokio::test]
async fn lock_arguments_out_of_range_are_refused_before_anything_is_sent() {
    use lock::{LockingError, MAX_RETRIES};
    let c = Client::fresh(ClientSpec::default()).await;
    let locks = lock::Locks::new(&c.conn);
    let ttl = Duration::from_secs(5);
    let ran = std::sync::atomic::AtomicUsize::new(0);
    let work = |_signal: lock::Signal| async {
        ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    c.commands.clear();

    let refused = [
        ("an empty key", locks.lock("", work).await.err()),
        ("a zero ttl", locks.lock("k", work).ttl(Duration::ZERO).await.err()),
        ("a ttl under 1 ms", locks.lock("k", work).ttl(Duration::from_micros(999)).await.err()),
        ("an absurd ttl", locks.lock("k", work).ttl(Duration::MAX).await.err()),
        ("retries over the maximum", locks.lock("k", work).retries(MAX_RETRIES + 1).await.err()),
        ("u32::MAX retries", locks.lock("k", work).retries(u32::MAX).await.err()),
        ("try_lock with an empty key", locks.try_lock("", ttl).await.err()),
        ("try_lock with a zero ttl", locks.try_lock("k", Duration::ZERO).await.err()),
        ("acquire with a zero ttl", locks.acquire("k", Duration::ZERO, ttl).await.err()),
    ];
    // A negative retry count does not compile: `retries` takes a `u32`.
    for (what, error) in refused {
        let error = error.unwrap_or_else(|| panic!("{what} was accepted"));
        assert!(matches!(error, LockingError::InvalidArgument { .. }), "{what}: {error:?}");
        assert!(error.to_string().starts_with("invalid lock argument"), "{what}: {error}");
    }
    assert_eq!(ran.load(std::sync::atomic::Ordering::Relaxed), 0, "the work never ran");
    assert!(c.commands.all().is_empty(), "nothing was sent: {:?}", c.commands.all());
    assert_eq!(c.stored("locks").await + c.stored("lock_fences").await, 0, "nothing written");
}

#[tokio::test]
async fn waiting_for_a_lock_without_end_is_accepted_and_does_not_overflow() {
    let c = Client::fresh(ClientSpec::default()).await;
    let locks = lock::Locks::new(&c.conn);
    let lease = locks.acquire("k", Duration::from_secs(5), Duration::MAX).await.unwrap();
    locks.release(&lease).await.unwrap();
    let value = locks.lock("k", |_| async { 7 }).wait(Duration::MAX).await.unwrap();
    assert_eq!(value, 7);
}
