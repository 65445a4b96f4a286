//! What can go wrong: a job that cannot run ([`JobError`], before anything connects: exit 2 with the file, line
//! and column), and a record that cannot be mapped ([`MapError`], a value: the record becomes a dead letter).

use contract::time::TimeError;

/// A position in the job file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u64,
    /// Column, from 1.
    pub column: u64,
}

impl Pos {
    /// The position of a sqlparser location (0 when it has none).
    pub fn of(loc: sqlparser::tokenizer::Location) -> Pos {
        Pos { line: loc.line, column: loc.column }
    }
}

/// A problem found while reading or planning a job, before its file name is attached.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Where.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
    /// What is supported, or what to do instead.
    pub hint: Option<String>,
}

impl Problem {
    /// A problem at `pos`.
    pub fn at(pos: Pos, message: impl Into<String>) -> Self {
        Problem { pos, message: message.into(), hint: None }
    }

    /// The same problem with a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The problem as the error of the file `file`.
    pub fn in_file(self, file: &str) -> JobError {
        JobError { file: file.to_owned(), pos: self.pos, message: self.message, hint: self.hint }
    }
}

/// A job that cannot run, with where and why. Its `Display` is what the user sees:
/// `job.sql:12:5: unknown column `amout` in raw_events_source` and, on a second line, what is supported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{}:{}: {message}{}", pos.line, pos.column, hint.as_ref().map(|h| format!("\n  {h}")).unwrap_or_default())]
pub struct JobError {
    /// The job file, as given.
    pub file: String,
    /// Where in it.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
    /// What is supported, or what to do instead.
    pub hint: Option<String>,
}

/// Why a record could not be mapped. [`MapError::reason`] is the stable code stored with the dead letter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MapError {
    /// The record has no value, or an empty one.
    #[error("empty record")]
    Empty,
    /// The value is larger than the configured maximum.
    #[error("record of {size} bytes is over the {max}-byte limit")]
    TooLarge {
        /// Size of the value.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The value is not UTF-8.
    #[error("invalid UTF-8 at byte {0}")]
    InvalidUtf8(usize),
    /// The value is not JSON (or nests deeper than 128 levels).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The value is JSON but not an object.
    #[error("expected a JSON object, got {0}")]
    NotAnObject(&'static str),
    /// A value a NOT NULL column needs comes from a field that is absent or null.
    #[error("missing field {0}")]
    MissingField(String),
    /// A number, or a numeric string, that does not convert to the field's type (or is NaN or infinite).
    #[error("field {field} must be a finite number in range, got {text}")]
    BadNumber {
        /// The field.
        field: String,
        /// The value's text (at most 64 characters).
        text: String,
    },
    /// A field has a JSON type that does not convert to the field's type.
    #[error("field {field} must be {expected}, got {got}")]
    WrongType {
        /// The field.
        field: String,
        /// What the source table declares.
        expected: &'static str,
        /// What the record has.
        got: &'static str,
    },
    /// A string field that is not in the form its declared type needs (a TIMESTAMP, DATE or BYTES column).
    #[error("field {field} must be {expected}, got {text:?}")]
    BadText {
        /// The field.
        field: String,
        /// What the source table declares.
        expected: &'static str,
        /// The value's text (at most 64 characters).
        text: String,
    },
    /// The output record would be larger than a produce request may be (a huge but valid field).
    #[error("the output record would be {size} bytes, over the {max}-byte output limit")]
    OutputTooLarge {
        /// Size of the encoded record.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A timestamp a NOT NULL column needs is unparsable or out of range.
    #[error(transparent)]
    Timestamp(#[from] TimeError),
    /// A CAST that Flink would fail the job on (`CAST('abc' AS INT)`): the expression and what it met.
    #[error("{expr} (line {line}): {message}")]
    Cast {
        /// The expression, as written in the job.
        expr: String,
        /// Its line in the job file.
        line: u64,
        /// What went wrong.
        message: String,
    },
    /// A NULL reached a NOT NULL column of a sink (Flink's `table.exec.sink.not-null-enforcer` = ERROR).
    #[error("column {column} of {sink} is NOT NULL, but {expr} is NULL")]
    NotNull {
        /// The sink table.
        sink: String,
        /// The column.
        column: String,
        /// The expression that gave NULL.
        expr: String,
    },
    /// Another failure Flink would fail the job on (a division by zero): the expression and what happened.
    #[error("{expr} (line {line}): {message}")]
    Eval {
        /// The expression, as written in the job.
        expr: String,
        /// Its line in the job file.
        line: u64,
        /// What went wrong.
        message: String,
    },
}

impl MapError {
    /// Stable, machine-readable reason (a label value in metrics and a column in ClickHouse).
    pub fn reason(&self) -> &'static str {
        match self {
            MapError::Empty => "empty_record",
            MapError::TooLarge { .. } | MapError::OutputTooLarge { .. } => "too_large",
            MapError::InvalidUtf8(_) => "invalid_utf8",
            MapError::InvalidJson(_) => "invalid_json",
            MapError::NotAnObject(_) => "not_an_object",
            MapError::MissingField(_) => "missing_field",
            MapError::WrongType { .. } | MapError::BadNumber { .. } | MapError::BadText { .. } => "wrong_type",
            MapError::Timestamp(TimeError::Unparsable(_)) => "bad_timestamp",
            MapError::Timestamp(TimeError::OutOfRange(_)) => "timestamp_out_of_range",
            MapError::Cast { .. } => "cast_error",
            MapError::NotNull { .. } => "not_null",
            MapError::Eval { .. } => "eval_error",
        }
    }

    /// Every reason code, for metrics that want a zero for each.
    pub const REASONS: [&'static str; 12] = [
        "empty_record",
        "too_large",
        "invalid_utf8",
        "invalid_json",
        "not_an_object",
        "missing_field",
        "wrong_type",
        "bad_timestamp",
        "timestamp_out_of_range",
        "cast_error",
        "not_null",
        "eval_error",
    ];
}
