//! The driver's per-operation options, passed through: set per repository
//! ([`Repo::with_options`](crate::Repo::with_options)) and per action (the
//! setters each action has), the action's winning field by field.

use std::time::Duration;

use bson::Bson;
use mongodb::options::{
    AggregateOptions, Collation, CountOptions, DeleteOptions, DistinctOptions,
    FindOneAndDeleteOptions, FindOneAndReplaceOptions, FindOneAndUpdateOptions, FindOneOptions,
    FindOptions, Hint, InsertManyOptions, InsertOneOptions, ReadConcern, SelectionCriteria,
    UpdateOptions, WriteConcern,
};

/// Options an operation passes to the driver. Each applies where the
/// server command takes it: reads take the read concern and selection
/// criteria, writes the write concern; collation, hint, comment and max
/// time apply to both (inserts take only the write concern and comment).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Options {
    /// The write concern (`w`, `j`, `wtimeout`) of a write.
    pub write_concern: Option<WriteConcern>,
    /// The read concern (`local`, `majority`, `snapshot`, ...) of a read.
    pub read_concern: Option<ReadConcern>,
    /// Which members may serve a read (read preference).
    pub selection_criteria: Option<SelectionCriteria>,
    /// How strings compare (language rules, case-insensitivity).
    pub collation: Option<Collation>,
    /// The index the server must use.
    pub hint: Option<Hint>,
    /// A comment, shown in the server's logs, profiler and `currentOp`.
    pub comment: Option<Bson>,
    /// The longest the server may work on the command (`maxTimeMS`).
    pub max_time: Option<Duration>,
}

/// For each driver options type, a method that moves the named options
/// into a value of it: `find(base) -> FindOptions`.
macro_rules! carry {
    ($($(#[$doc:meta])* $name:ident($ty:ty) { $($field:ident),* $(,)? })*) => {$(
        $(#[$doc])*
        pub(crate) fn $name(self, mut options: $ty) -> $ty {
            $(options.$field = self.$field;)*
            options
        }
    )*};
}

impl Options {
    /// `self` if it sets any option, else `None`: an operation then gives
    /// the driver no options struct, which it fills with its defaults as
    /// for a call without options, and none is built, moved and dropped
    /// on the way (~500 instructions a `find_one` or `find`, callgrind,
    /// `--op-loop`).
    pub(crate) fn set(self) -> Option<Options> {
        (!self.is_unset()).then_some(self)
    }

    /// Whether no option is set.
    pub(crate) fn is_unset(&self) -> bool {
        let Options {
            write_concern,
            read_concern,
            selection_criteria,
            collation,
            hint,
            comment,
            max_time,
        } = self;
        write_concern.is_none()
            && read_concern.is_none()
            && selection_criteria.is_none()
            && collation.is_none()
            && hint.is_none()
            && comment.is_none()
            && max_time.is_none()
    }

    /// `self`, with every option `other` sets taking its place.
    pub(crate) fn overridden_by(&self, other: Options) -> Options {
        Options {
            write_concern: other.write_concern.or_else(|| self.write_concern.clone()),
            read_concern: other.read_concern.or_else(|| self.read_concern.clone()),
            selection_criteria: other
                .selection_criteria
                .or_else(|| self.selection_criteria.clone()),
            collation: other.collation.or_else(|| self.collation.clone()),
            hint: other.hint.or_else(|| self.hint.clone()),
            comment: other.comment.or_else(|| self.comment.clone()),
            max_time: other.max_time.or(self.max_time),
        }
    }

    carry! {
        /// Find options carrying these.
        find(FindOptions) { read_concern, selection_criteria, collation, hint, comment, max_time }
        /// Find-one options carrying these.
        find_one(FindOneOptions) {
            read_concern, selection_criteria, collation, hint, comment, max_time
        }
        /// Count options carrying these.
        count(CountOptions) { read_concern, selection_criteria, collation, hint, comment, max_time }
        /// Distinct options carrying these.
        distinct(DistinctOptions) {
            read_concern, selection_criteria, collation, hint, comment, max_time
        }
        /// Aggregate options carrying these.
        aggregate(AggregateOptions) {
            read_concern, selection_criteria, collation, hint, comment, max_time
        }
        /// Insert-one options carrying these.
        insert_one(InsertOneOptions) { write_concern, comment }
        /// Insert-many options carrying these.
        insert_many(InsertManyOptions) { write_concern, comment }
        /// Update options carrying these (`maxTimeMS` does not apply to `update`).
        update(UpdateOptions) { write_concern, collation, hint, comment }
        /// Delete options carrying these (`maxTimeMS` does not apply to `delete`).
        delete(DeleteOptions) { write_concern, collation, hint, comment }
        /// Find-and-modify (update) options carrying these.
        find_one_and_update(FindOneAndUpdateOptions) {
            write_concern, collation, hint, comment, max_time
        }
        /// Find-and-modify (replace) options carrying these.
        find_one_and_replace(FindOneAndReplaceOptions) {
            write_concern, collation, hint, comment, max_time
        }
        /// Find-and-modify (delete) options carrying these.
        find_one_and_delete(FindOneAndDeleteOptions) {
            write_concern, collation, hint, comment, max_time
        }
    }
}

/// Setters for the read options of an action with an `options: Options` field.
macro_rules! read_option_setters {
    ($($options:ident).+) => {
        /// The read concern of this read.
        pub fn read_concern(mut self, read_concern: ::mongodb::options::ReadConcern) -> Self {
            self.$($options).+.read_concern = Some(read_concern);
            self
        }

        /// Which members may serve this read (read preference).
        pub fn selection_criteria(
            mut self,
            criteria: impl Into<::mongodb::options::SelectionCriteria>,
        ) -> Self {
            self.$($options).+.selection_criteria = Some(criteria.into());
            self
        }
    };
}

/// Setters for the write concern of an action with an `options: Options` field.
macro_rules! write_option_setters {
    ($($options:ident).+) => {
        /// The write concern of this write.
        pub fn write_concern(mut self, write_concern: ::mongodb::options::WriteConcern) -> Self {
            self.$($options).+.write_concern = Some(write_concern);
            self
        }
    };
}

/// Setters for the options of commands that select documents.
macro_rules! select_option_setters {
    ($($options:ident).+) => {
        /// How strings compare for this command.
        pub fn collation(mut self, collation: ::mongodb::options::Collation) -> Self {
            self.$($options).+.collation = Some(collation);
            self
        }

        /// The index the server must use.
        pub fn hint(mut self, hint: ::mongodb::options::Hint) -> Self {
            self.$($options).+.hint = Some(hint);
            self
        }
    };
}

/// The comment setter, for every action.
macro_rules! comment_setter {
    ($($options:ident).+) => {
        /// A comment, shown in the server's logs, profiler and `currentOp`.
        pub fn comment(mut self, comment: impl Into<::bson::Bson>) -> Self {
            self.$($options).+.comment = Some(comment.into());
            self
        }
    };
}

/// The max-time setter (`maxTimeMS`), for the commands that take it.
macro_rules! max_time_setter {
    ($($options:ident).+) => {
        /// The longest the server may work on this command (`maxTimeMS`).
        pub fn max_time(mut self, max_time: ::std::time::Duration) -> Self {
            self.$($options).+.max_time = Some(max_time);
            self
        }
    };
}

/// The setters of a read command: read concern, read preference,
/// collation, hint, comment and max time.
macro_rules! read_command_setters {
    ($($options:ident).+) => {
        read_option_setters!($($options).+);
        select_option_setters!($($options).+);
        comment_setter!($($options).+);
        max_time_setter!($($options).+);
    };
}

/// The setters of a find-and-modify command: write concern, collation,
/// hint, comment and max time.
macro_rules! modify_command_setters {
    ($($options:ident).+) => {
        write_option_setters!($($options).+);
        select_option_setters!($($options).+);
        comment_setter!($($options).+);
        max_time_setter!($($options).+);
    };
}
