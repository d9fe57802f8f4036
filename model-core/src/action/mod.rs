//! The actions `Repo` methods return, as the `mongodb` driver lays out its
//! own: one file per family, each `Repo` method beside the action it
//! builds. Each action is `#[must_use]`, configured with builder setters
//! and run by `.await`; its future is made in one place
//! (`run::spanned`: span, timeout), and its driver call runs in the
//! caller's session or detached (`in_session!`, `run::collect`,
//! `run::stream`).

mod aggregate;
mod bulk;
mod filtered;
mod find;
mod keyset;
mod stream;
mod versioned;
mod watch;
mod write;

pub use aggregate::{Aggregate, AggregateStream, CountBy, Distinct};
pub use bulk::{BulkOutcome, BulkProgress, BulkWrite, MAX_WRITE_BATCH, Write, WriteOutcome};
pub use filtered::{FindOneAndDelete, FindOneAndReplace, FindOneAndUpdate, Upsert, WithCollection};
pub use find::{Count, Find, FindMany, FindManyToMapBy, FindOne};
pub use keyset::{KeysetPage, SCROLL_SIZE, Scroll};
pub use stream::{ITERATE_BATCH_SIZE, Iterate, MAX_PAGE_LIMIT, Page, Paginate};
pub use watch::{Change, ChangeEvent, UpdatedFields, Watch};
pub use write::{DeleteMany, DeleteOne, InsertMany, InsertOne, Replace, UpdateMany, UpdateOne};
