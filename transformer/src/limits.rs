//! Sizes of output records: what a raw record of a given size can become, and what a record batch around it takes.
//! A leaf: the configuration checks and the Kafka sink both use it, and it uses nothing of the crate.

/// Bytes of a record batch that are not the record's value: the batch header (61 bytes) and one record's framing,
/// with room to spare.
pub const FRAMING: usize = 512;

/// The largest unified record (the default job's row) a raw record of `raw_bytes` can give, with strings where the
/// contract has strings:
/// each raw string is written at most twice (url, element_id and order_id again in details), never longer than its
/// JSON text in the raw record; the rest (event id, names, numbers, topic twice) takes under 4 KiB. Only an object
/// or array where a string belongs can grow past it (Flink's STRING coercion writes its JSON text, escaped again). A
/// job of your own can write larger rows; one over the output topic's limit is a `too_large` dead letter.
pub const fn output_bound(raw_bytes: usize) -> usize {
    raw_bytes.saturating_mul(2).saturating_add(OUTPUT_FIXED_BYTES)
}

/// The part of [`output_bound`] that does not grow with the raw record.
pub const OUTPUT_FIXED_BYTES: usize = 4096;

/// The largest raw record whose [`output_bound`] fits a record batch of `max_message_bytes` (its inverse).
pub const fn raw_bound(max_message_bytes: usize) -> usize {
    max_message_bytes.saturating_sub(FRAMING + OUTPUT_FIXED_BYTES) / 2
}
