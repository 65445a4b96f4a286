//! One record through a planned job: read once per source that reads its topic, then every SELECT of that source
//! evaluated over the same row. Pure: no I/O, no clock (the caller passes the round's `now`). What it gives goes
//! to an [`Emit`]: rows for sinks, and dead letters (the whole record when it cannot be read; one sink's row when
//! only that row fails).

use std::borrow::Cow;

use contract::time::TimeError;

use crate::bytes::same_bytes;
use crate::catalog::Meta;
use crate::error::MapError;
use crate::expr::{Ctx, Fail, Res, Spare};
use crate::flink_json::Refusal;
use crate::nested::Rules;
use crate::plan::{At, Field, Plan, Sink, Slot, Source, Step};
use crate::raw::Raw;
use crate::read::read_fields;
use crate::types::Type;
use crate::value::{Val, Why, NULL};

/// A Kafka record, as the job sees it.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Its topic.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp, epoch milliseconds.
    pub timestamp_ms: i64,
    /// Its key.
    pub key: Option<&'a [u8]>,
    /// Its value (`None`: a tombstone).
    pub value: Option<&'a [u8]>,
    /// Its headers, if the caller has them (read only by a job that declares the `headers` metadata).
    pub headers: Option<&'a Headers>,
}

/// A record's headers, as the Kafka client gives them.
pub type Headers = std::collections::BTreeMap<String, Vec<u8>>;

/// A row for a sink: one value per sink column, each read where it is (a column that passes a source column
/// through is read in the source row, the others among the values the branch computed).
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// The sink.
    pub sink: &'a Sink,
    /// The source row.
    slots: &'a [Val<'a>],
    /// Bit i: slot i of the source row holds a string that needs no escapes in JSON (slots from 64 on: unknown).
    verbatim: u64,
    /// The computed values.
    computed: &'a [Val<'a>],
    /// Where each column's value is.
    at: &'a [At],
}

impl<'a> Row<'a> {
    /// The value of column `column`.
    #[inline(always)]
    pub fn value(&self, column: usize) -> &'a Val<'a> {
        self.at(self.at[column])
    }

    #[inline(always)]
    fn at(&self, at: At) -> &'a Val<'a> {
        match at {
            At::Slot(i) => &self.slots[i as usize],
            At::Computed(i) => &self.computed[i as usize],
        }
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Appends the row in Flink's JSON format.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let verbatim = |at| matches!(at, At::Slot(i) if is_verbatim(self.verbatim, i.into()));
        let entries = self.at.iter().map(|&at| (self.at(at), verbatim(at)));
        crate::write::write_json(&self.sink.json_keys, &self.sink.columns, entries, out);
    }
}

/// Slot `slot`'s bit in a row's verbatim bits; none for slots from 64 on (their strings are checked as written).
fn slot_bit(slot: usize) -> u64 {
    if slot < 64 {
        1 << slot
    } else {
        0
    }
}

/// Whether `bits` (see [`slot_bit`]) say slot `slot` holds a verbatim string.
fn is_verbatim(bits: u64, slot: usize) -> bool {
    slot < 64 && bits & (1 << slot) != 0
}

/// Where a record's results go.
pub trait Emit {
    /// A row for sink `sink`; returns its size as written, or why the sink cannot take it (the row then becomes a
    /// dead letter for that sink).
    fn row(&mut self, sink: usize, row: Row<'_>) -> Result<u64, MapError>;
    /// A dead letter: the whole record (`sink` None) or its row for one sink.
    fn dead_letter(&mut self, sink: Option<usize>, err: MapError);
    /// A row dropped for a NULL in a NOT NULL column (`table.exec.sink.not-null-enforcer` = DROP).
    fn dropped(&mut self, sink: usize);
}

/// Buffers one record's mapping needs, kept for the next record (see [`Plan::map_with`]).
#[derive(Debug, Default)]
pub struct Scratch {
    raw: Vec<Option<Raw<'static>>>,
    row: Vec<Val<'static>>,
    values: Vec<Val<'static>>,
    /// Per source: its per-topic expressions' results, and the topic they are for.
    topical: Vec<Option<(String, Vec<Res<'static>>)>>,
    /// The event id's hash input.
    id_input: Vec<u8>,
    /// Strings of the last records' computed values, for the next ones.
    spare: Spare,
}

/// `v` emptied, as a vector of another lifetime with the same allocation: collecting an emptied vector's
/// iterator into a vector of a type of the same size reuses its buffer (std's in-place collection), so the
/// buffers live on from record to record while what they hold borrows from one record only. A value that owns
/// nothing (nearly every one: they borrow from the record) is forgotten rather than dropped: `Val`'s drop is a call
/// out of line, ~25 instructions a value on the static build, 16 values a record in the default job. A string the
/// record computed goes back to `spare` for the next record's.
fn recycle<'a, 'b, T: Recycle<'a, 'b>>(v: Vec<T>, spare: &Spare) -> Vec<T::As> {
    v.into_iter()
        .filter_map(|x| {
            x.retire(spare);
            None
        })
        .collect()
}

/// A type whose values borrow for `'a`, and its twin borrowing for `'b`.
trait Recycle<'a, 'b> {
    type As;
    /// Ends the value: forgotten when it owns nothing, its string kept in `spare`, dropped otherwise.
    fn retire(self, spare: &Spare);
}

impl<'a, 'b> Recycle<'a, 'b> for Val<'a> {
    type As = Val<'b>;
    #[inline(always)]
    fn retire(self, spare: &Spare) {
        match self {
            Val::Str(Cow::Owned(s)) => spare.put(s),
            Val::Null(Why::BadTimestamp(Cow::Owned(_)))
            | Val::Bytes(Cow::Owned(_))
            | Val::Array(_)
            | Val::Map(_)
            | Val::Row(_) => drop(self),
            Val::Null(_)
            | Val::Bool(_)
            | Val::Int(_)
            | Val::Double(_)
            | Val::Dec(..)
            | Val::Date(_)
            | Val::Ts(_)
            | Val::Str(Cow::Borrowed(_))
            | Val::Bytes(Cow::Borrowed(_)) => std::mem::forget(self),
        }
    }
}

impl<'a, 'b> Recycle<'a, 'b> for Option<Raw<'a>> {
    type As = Option<Raw<'b>>;
    fn retire(self, _spare: &Spare) {}
}

/// What one record gave, owned: for tools (`transformer run-job`) and tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A row: the sink's name and the exact text a Kafka sink writes.
    Row {
        /// The sink table.
        sink: String,
        /// The JSON value.
        json: String,
    },
    /// A dead letter, for one sink or for the whole record.
    Dead {
        /// The sink table, if only its row failed.
        sink: Option<String>,
        /// Why.
        error: MapError,
    },
    /// A row dropped by `table.exec.sink.not-null-enforcer` = DROP.
    Dropped {
        /// The sink table.
        sink: String,
    },
}

/// An [`Emit`] that keeps owned [`Outcome`]s.
struct Collect<'p> {
    plan: &'p Plan,
    out: Vec<Outcome>,
}

impl Emit for Collect<'_> {
    fn row(&mut self, sink: usize, row: Row<'_>) -> Result<u64, MapError> {
        let mut json = Vec::new();
        row.write_json(&mut json);
        let n = json.len() as u64;
        let json = String::from_utf8(json).expect("the writer writes UTF-8");
        self.out.push(Outcome::Row { sink: self.plan.sinks[sink].name.clone(), json });
        Ok(n)
    }
    fn dead_letter(&mut self, sink: Option<usize>, error: MapError) {
        let sink = sink.map(|s| self.plan.sinks[s].name.clone());
        self.out.push(Outcome::Dead { sink, error });
    }
    fn dropped(&mut self, sink: usize) {
        self.out.push(Outcome::Dropped { sink: self.plan.sinks[sink].name.clone() });
    }
}

impl Plan {
    /// Maps `rec` through every source that reads its topic, and gives what came out, owned.
    pub fn map_owned(&self, rec: &Record<'_>, max_bytes: usize, now_ms: i64) -> Vec<Outcome> {
        let mut c = Collect { plan: self, out: Vec::new() };
        for source in self.sources_reading(rec.topic) {
            self.map(source, rec, max_bytes, now_ms, &mut c);
        }
        c.out
    }

    /// Maps `rec` through source `source`, whatever its topic (as the transformer does when `--input-topics`
    /// names the topics), and gives what came out, owned.
    pub fn map_owned_from(&self, source: usize, rec: &Record<'_>, max_bytes: usize, now_ms: i64) -> Vec<Outcome> {
        let mut c = Collect { plan: self, out: Vec::new() };
        self.map(source, rec, max_bytes, now_ms, &mut c);
        c.out
    }

    /// Maps `rec` through source `source` (see [`Plan::sources_reading`]). Values over `max_bytes` are
    /// dead-lettered unread. `now_ms` is `NOW()`.
    pub fn map(&self, source: usize, rec: &Record<'_>, max_bytes: usize, now_ms: i64, emit: &mut impl Emit) {
        self.map_with(&mut Scratch::default(), source, rec, max_bytes, now_ms, emit)
    }

    /// [`Plan::map`] with buffers kept from one record to the next (the pipeline's way: no allocation per record
    /// for the row).
    pub fn map_with(
        &self,
        scratch: &mut Scratch,
        source: usize,
        rec: &Record<'_>,
        max_bytes: usize,
        now_ms: i64,
        emit: &mut impl Emit,
    ) {
        let src = &self.sources[source];
        let text = match value_text(rec.value, max_bytes) {
            Ok(t) => t,
            Err(e) => return emit.dead_letter(None, e),
        };
        let escaped;
        let mut raw: Vec<Option<Raw<'_>>> = recycle(std::mem::take(&mut scratch.raw), &scratch.spare);
        raw.resize(src.fields.len(), None);
        if let Err(err) = read_fields(text, &src.names, &mut raw) {
            // Flink reads with ALLOW_UNESCAPED_CONTROL_CHARS: retry with raw control characters escaped.
            match crate::flink_json::escape_raw_control_chars(text) {
                Some(e) => {
                    escaped = e;
                    raw.fill(None);
                    if let Err(err) = read_fields(&escaped, &src.names, &mut raw) {
                        return emit.dead_letter(None, err);
                    }
                }
                None => return emit.dead_letter(None, err),
            }
        }
        let id;
        let event_id = if src.uses_event_id {
            id = contract::id::event_id_ascii_in(&mut scratch.id_input, rec.topic, rec.value.unwrap_or_default());
            std::str::from_utf8(&id).unwrap_or_default()
        } else {
            ""
        };
        // The row in one pass, slot by slot: each field read as its type (the fields are in slot order), the
        // metadata, and a place for each computed column (they read the row, so they come after it).
        let mut row: Vec<Val<'_>> = recycle(std::mem::take(&mut scratch.row), &scratch.spare);
        // Bit i: slot i holds a string that needs no escapes in JSON (a field read as it was written, the event id).
        let mut verbatim = 0u64;
        let mut fields = src.fields.iter().zip(&raw);
        for slot in &src.slots {
            let v = match slot {
                Slot::Field => {
                    let (f, r) = fields.next().expect("a field for each field slot");
                    debug_assert_eq!(f.slot as usize, row.len());
                    if f.ty == Type::String && r.is_some_and(Raw::verbatim) {
                        verbatim |= slot_bit(f.slot.into());
                    }
                    match field(f, *r, src) {
                        Ok(v) => v,
                        Err(e) => {
                            drop(fields);
                            scratch.row = recycle(row, &scratch.spare);
                            scratch.raw = recycle(raw, &scratch.spare);
                            return emit.dead_letter(None, e);
                        }
                    }
                }
                Slot::Computed(_) => NULL,
                Slot::Meta(meta, ty) => {
                    if *meta == Meta::EventId {
                        verbatim |= slot_bit(row.len()); // hexadecimal digits and hyphens
                    }
                    metadata(*meta, *ty, rec, text, event_id)
                }
            };
            row.push(v);
        }
        if scratch.topical.len() <= source {
            scratch.topical.resize_with(source + 1, || None);
        }
        let cached = &mut scratch.topical[source];
        if !src.per_topic.is_empty()
            && cached.as_ref().is_none_or(|(topic, _)| !same_bytes(topic.as_bytes(), rec.topic.as_bytes()))
        {
            // The metadata are in the row: all a per-topic expression reads.
            let ctx = Ctx { row: &row, topical: &[], now_ms, spare: &scratch.spare };
            let values = src.per_topic.iter().map(|e| e.eval(ctx).map(Val::into_owned)).collect();
            *cached = Some((rec.topic.to_owned(), values));
        }
        let topical: &[Res<'static>] = cached.as_ref().map_or(&[], |(_, v)| v);
        for (i, slot) in src.slots.iter().enumerate() {
            if let Slot::Computed(k) = slot {
                // Owned: the row it is computed from is the row it goes into.
                let computed = src.computed[*k as usize]
                    .eval(Ctx { row: &row, topical, now_ms, spare: &scratch.spare })
                    .map(Val::into_owned);
                let v = match computed {
                    Ok(v) => v,
                    Err(fail) => {
                        emit.dead_letter(None, self.failure(fail));
                        scratch.row = recycle(row, &scratch.spare);
                        scratch.raw = recycle(raw, &scratch.spare);
                        return;
                    }
                };
                row[i] = v;
            }
        }
        let ctx = Ctx { row: &row, topical, now_ms, spare: &scratch.spare };
        let mut values: Vec<Val<'_>> = recycle(std::mem::take(&mut scratch.values), &scratch.spare);
        for &b in &src.branches {
            let br = &self.branches[b];
            let sink = &self.sinks[br.sink];
            if let Some(filter) = &br.filter {
                match filter.eval(ctx) {
                    Ok(Val::Bool(true)) => {}
                    Ok(_) => continue,
                    Err(fail) => {
                        emit.dead_letter(Some(br.sink), self.failure(fail));
                        continue;
                    }
                }
            }
            values.clear();
            let mut error = None;
            let mut dropped = false;
            for step in &br.steps {
                let (i, v) = match *step {
                    // Passed through: the writer reads it in the row; only a NULL matters here.
                    Step::Check { col, slot } => match &row[slot as usize] {
                        Val::Null(why) => (col as usize, Ok(Val::Null(why.clone()))),
                        _ => continue,
                    },
                    Step::Compute { col } => (col as usize, br.exprs[col as usize].eval(ctx)),
                };
                match v {
                    Ok(Val::Null(_)) if !sink.columns[i].nullable && self.drop_not_null => {
                        dropped = true;
                        break;
                    }
                    Ok(Val::Null(why)) if !sink.columns[i].nullable => {
                        error = Some(self.not_null(src, sink, i, br.sites[i], why));
                        break;
                    }
                    Ok(v) => {
                        debug_assert!(matches!(br.at[i], At::Computed(k) if k as usize == values.len()));
                        values.push(v)
                    }
                    Err(fail) => {
                        error = Some(self.failure(fail));
                        break;
                    }
                }
            }
            match error {
                _ if dropped => emit.dropped(br.sink),
                Some(e) => emit.dead_letter(Some(br.sink), e),
                None => {
                    if let Err(e) =
                        emit.row(br.sink, Row { sink, slots: &row, verbatim, computed: &values, at: &br.at })
                    {
                        emit.dead_letter(Some(br.sink), e);
                    }
                }
            }
        }
        scratch.values = recycle(values, &scratch.spare);
        scratch.row = recycle(row, &scratch.spare);
        scratch.raw = recycle(raw, &scratch.spare);
    }

    /// A failure as the dead letter's error, naming the expression.
    fn failure(&self, fail: Fail) -> MapError {
        let site = self.site(fail.site);
        if fail.cast {
            MapError::Cast { expr: site.text.clone(), line: site.line, message: fail.message }
        } else {
            MapError::Eval { expr: site.text.clone(), line: site.line, message: fail.message }
        }
    }

    /// A NULL in a NOT NULL column, named by its cause where it has one.
    fn not_null(&self, src: &Source, sink: &Sink, col: usize, site: u32, why: Why<'_>) -> MapError {
        match why {
            Why::Missing(slot) => {
                let name = src.fields.iter().find(|f| f.slot == slot).map_or("?", |f| f.name.as_str());
                MapError::MissingField(name.to_owned())
            }
            Why::BadTimestamp(text) => MapError::Timestamp(TimeError::Unparsable(text.chars().take(64).collect())),
            Why::OutOfRange(ms) => MapError::Timestamp(TimeError::OutOfRange(ms)),
            Why::Plain => MapError::NotNull {
                sink: sink.name.clone(),
                column: sink.columns[col].name.clone(),
                expr: self.site(site).text.clone(),
            },
        }
    }
}

/// The value's text: present, within the limit, UTF-8, without a byte order mark, not blank.
fn value_text(value: Option<&[u8]>, max_bytes: usize) -> Result<&str, MapError> {
    let bytes = match value {
        None | Some([]) => return Err(MapError::Empty),
        Some(b) => b,
    };
    if bytes.len() > max_bytes {
        return Err(MapError::TooLarge { size: bytes.len(), max: max_bytes });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| MapError::InvalidUtf8(e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(MapError::Empty);
    }
    Ok(text)
}

/// A metadata value, as its declared type.
fn metadata<'a>(meta: Meta, ty: Type, rec: &Record<'a>, text: &'a str, event_id: &'a str) -> Val<'a> {
    match meta {
        Meta::Topic => Val::Str(Cow::Borrowed(rec.topic)),
        Meta::Partition => Val::Int(i64::from(rec.partition)),
        Meta::Offset => Val::Int(rec.offset),
        Meta::Timestamp => Val::Ts(rec.timestamp_ms),
        Meta::TimestampType => Val::Str(Cow::Borrowed("CreateTime")),
        Meta::LeaderEpoch => NULL,
        Meta::Key => match rec.key {
            None => NULL,
            Some(k) if ty == Type::String => Val::Str(String::from_utf8_lossy(k)),
            Some(k) => Val::Bytes(Cow::Borrowed(k)),
        },
        Meta::EventId => Val::Str(Cow::Borrowed(event_id)),
        Meta::Headers => {
            let text = matches!(ty, Type::Map(v) if v.ty == Type::String);
            let entries = rec.headers.into_iter().flatten().map(|(k, v)| {
                let v = if text { Val::Str(String::from_utf8_lossy(v)) } else { Val::Bytes(Cow::Borrowed(v)) };
                (Val::Str(Cow::Borrowed(k.as_str())), v)
            });
            Val::map(entries.collect())
        }
        Meta::Raw => Val::Str(Cow::Borrowed(text)),
    }
}

/// One field, read as its declared type.
fn field<'a>(f: &Field, raw: Option<Raw<'a>>, src: &Source) -> Result<Val<'a>, MapError> {
    let missing = || Val::Null(Why::Missing(f.slot));
    let Some(raw) = raw else {
        return if src.fail_on_missing || f.not_null {
            Err(MapError::MissingField(f.name.clone()))
        } else {
            Ok(missing())
        };
    };
    let read = if f.ty.is_nested() {
        let rules = Rules { ignore_parse_errors: src.ignore_parse_errors, fail_on_missing: src.fail_on_missing };
        crate::nested::read(raw, f.ty, rules)
    } else {
        crate::flink_json::scalar(raw, f.ty)
    };
    match read {
        Ok(Some(v)) => Ok(v),
        Ok(None) if f.not_null => Err(MapError::MissingField(f.name.clone())),
        Ok(None) => Ok(missing()),
        Err(_) if src.ignore_parse_errors => Ok(NULL),
        Err(refusal) => Err(refusal_error(f, refusal)),
    }
}

/// A refusal as the dead letter's error, naming the field (and the part of it, in a nested value).
fn refusal_error(f: &Field, refusal: Refusal) -> MapError {
    refusal_at(f.name.clone(), f.ty, refusal)
}

/// [`refusal_error`] for the field or part `field` of type `ty`.
fn refusal_at(field: String, ty: Type, refusal: Refusal) -> MapError {
    match refusal {
        Refusal::Inside(path, part, why) => refusal_at(format!("{field}{path}"), part, *why),
        Refusal::Missing => MapError::MissingField(field),
        Refusal::Kind(got) => MapError::WrongType { field, expected: expected(ty), got },
        Refusal::Number(text) => MapError::BadNumber { field, text },
        Refusal::LoneSurrogate => MapError::InvalidJson(format!("field {field} has a lone UTF-16 surrogate escape")),
        Refusal::Text(expected, text) => MapError::BadText { field, expected, text },
    }
}

/// What a type needs, as messages say it.
fn expected(ty: Type) -> &'static str {
    match ty {
        Type::String => "a string",
        Type::TinyInt | Type::SmallInt | Type::Int | Type::BigInt => "an integer",
        Type::Float | Type::Double => "a finite number",
        Type::Decimal(..) => "a decimal number",
        Type::Boolean => "a boolean",
        Type::Timestamp(_) | Type::TimestampLtz(_) => "a timestamp string",
        Type::Date => "a date string",
        Type::Bytes => "a base64 string",
        Type::Null => "null",
        Type::Array(_) => "an array",
        Type::Map(_) | Type::Row(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recycled_buffers_keep_their_allocation() {
        let mut v: Vec<Val<'static>> = Vec::with_capacity(16);
        v.push(Val::Int(1));
        let ptr = v.as_ptr() as usize;
        let w: Vec<Val<'_>> = recycle(v, &Spare::default());
        assert_eq!((w.as_ptr() as usize, w.capacity(), w.len()), (ptr, 16, 0));
    }
}
