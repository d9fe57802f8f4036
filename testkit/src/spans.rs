//! A `tracing` subscriber for tests that records what was opened and said.

use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records each new span as `name{field=value ...}` and each event as
/// `event{field=value ...}`, in order. Install it for a scope with
/// `tracing::subscriber::set_default(recorder.clone())`.
#[derive(Debug, Clone, Default)]
pub struct SpanRecorder(Arc<Mutex<Vec<String>>>);

impl SpanRecorder {
    /// Every span and event recorded, in order.
    pub fn lines(&self) -> Vec<String> {
        self.lock().clone()
    }

    /// The spans named `name`, in order.
    pub fn spans(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}{{");
        self.lock().iter().filter(|line| line.starts_with(&prefix)).cloned().collect()
    }

    /// The events, in order.
    pub fn events(&self) -> Vec<String> {
        self.spans("event")
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!(" {}={value}", field.name()));
    }
}

impl Subscriber for SpanRecorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(String::new());
        span.record(&mut fields);
        let mut lines = self.lock();
        lines.push(format!("{}{{{}}}", span.metadata().name(), fields.0.trim()));
        Id::from_u64(lines.len() as u64)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.lock().push(format!("event{{{}}}", fields.0.trim()));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
