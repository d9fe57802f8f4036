//! Every repository operation opens a `model` span naming the collection and
//! the operation (and the key where there is one), never document contents.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use model::Query;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records each new span as `name{field=value ...}`.
#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<String>>>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!(" {}={}", field.name(), value));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(String::new());
        span.record(&mut fields);
        let mut spans = self.spans.lock().unwrap();
        spans.push(format!("{}{{{}}}", span.metadata().name(), fields.0.trim()));
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn operations_open_spans_with_collection_operation_and_key() {
    let conn = connection().await;
    let foos = conn.repo::<Foo>();
    let recorder = Recorder::default();
    let guard = tracing::subscriber::set_default(recorder.clone());
    let a = foos.insert_one(foo("secret-value", Some(1))).await.unwrap();
    foos.find(&a.id).await.unwrap();
    foos.count(Query::all()).await.unwrap();
    drop(guard);

    let spans = recorder.spans.lock().unwrap().clone();
    let ours: Vec<&String> = spans.iter().filter(|s| s.starts_with("model{")).collect();
    assert_eq!(ours.len(), 3, "{spans:#?}");
    assert_eq!(
        ours[0],
        "model{db.system.name=mongodb db.collection.name=foos db.operation.name=insert_one}"
    );
    assert_eq!(
        ours[1],
        &format!(
            "model{{db.system.name=mongodb db.collection.name=foos db.operation.name=find key={:?}}}",
            a.id
        )
    );
    assert_eq!(
        ours[2],
        "model{db.system.name=mongodb db.collection.name=foos db.operation.name=count}"
    );
    assert!(
        spans.iter().all(|s| !s.contains("secret-value")),
        "no document contents in spans: {spans:#?}"
    );
}
