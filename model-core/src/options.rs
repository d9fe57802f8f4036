//! The driver's per-operation options, passed through: set per repository
//! ([`Repo::with_options`](crate::Repo::with_options)) and per action (the
//! setters each action has), the action's winning field by field.

use std::time::Duration;

use bson::Bson;
use mongodb::options::{
    Collation, CountOptions, DeleteOptions, FindOneAndDeleteOptions, FindOneAndReplaceOptions,
    FindOneAndUpdateOptions, FindOneOptions, FindOptions, Hint, InsertManyOptions,
    InsertOneOptions, ReadConcern, SelectionCriteria, UpdateOptions, WriteConcern,
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

impl Options {
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

    /// Find options carrying these.
    pub(crate) fn find(self, mut options: FindOptions) -> FindOptions {
        options.read_concern = self.read_concern;
        options.selection_criteria = self.selection_criteria;
        options.collation = self.collation;
        options.hint = self.hint;
        options.comment = self.comment;
        options.max_time = self.max_time;
        options
    }

    /// Find-one options carrying these.
    pub(crate) fn find_one(self, mut options: FindOneOptions) -> FindOneOptions {
        options.read_concern = self.read_concern;
        options.selection_criteria = self.selection_criteria;
        options.collation = self.collation;
        options.hint = self.hint;
        options.comment = self.comment;
        options.max_time = self.max_time;
        options
    }

    /// Count options carrying these.
    pub(crate) fn count(self) -> CountOptions {
        let mut options = CountOptions::default();
        options.read_concern = self.read_concern;
        options.selection_criteria = self.selection_criteria;
        options.collation = self.collation;
        options.hint = self.hint;
        options.comment = self.comment;
        options.max_time = self.max_time;
        options
    }

    /// Insert-one options carrying these.
    pub(crate) fn insert_one(self) -> InsertOneOptions {
        let mut options = InsertOneOptions::default();
        options.write_concern = self.write_concern;
        options.comment = self.comment;
        options
    }

    /// Insert-many options carrying these.
    pub(crate) fn insert_many(self) -> InsertManyOptions {
        let mut options = InsertManyOptions::default();
        options.write_concern = self.write_concern;
        options.comment = self.comment;
        options
    }

    /// Update options carrying these (`maxTimeMS` does not apply to `update`).
    pub(crate) fn update(self) -> UpdateOptions {
        let mut options = UpdateOptions::default();
        options.write_concern = self.write_concern;
        options.collation = self.collation;
        options.hint = self.hint;
        options.comment = self.comment;
        options
    }

    /// Delete options carrying these (`maxTimeMS` does not apply to `delete`).
    pub(crate) fn delete(self) -> DeleteOptions {
        let mut options = DeleteOptions::default();
        options.write_concern = self.write_concern;
        options.collation = self.collation;
        options.hint = self.hint;
        options.comment = self.comment;
        options
    }

    /// Find-and-modify (update) options carrying these.
    pub(crate) fn find_one_and_update(self) -> FindOneAndUpdateOptions {
        let mut options = FindOneAndUpdateOptions::default();
        options.write_concern = self.write_concern;
        options.collation = self.collation;
        options.hint = self.hint;
        options.comment = self.comment;
        options.max_time = self.max_time;
        options
    }

    /// Find-and-modify (replace) options carrying these.
    pub(crate) fn find_one_and_replace(self) -> FindOneAndReplaceOptions {
        let mut options = FindOneAndReplaceOptions::default();
        options.write_concern = self.write_concern;
        options.collation = self.collation;
        options.hint = self.hint;
        options.comment = self.comment;
        options.max_time = self.max_time;
        options
    }

    /// Find-and-modify (delete) options carrying these.
    pub(crate) fn find_one_and_delete(self) -> FindOneAndDeleteOptions {
        let mut options = FindOneAndDeleteOptions::default();
        options.write_concern = self.write_concern;
        options.collation = self.collation;
        options.hint = self.hint;
        options.comment = self.comment;
        options.max_time = self.max_time;
        options
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
