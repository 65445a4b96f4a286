//! Building the dead-letter record for a raw record the mapping rejected. Pure, like the mapping.

use contract::processed::DeadLetter;

use job::MapError;

use crate::source::Source;

/// The dead letter for `value` read at `src`, rejected with `err`, at `now_ms`. The raw value is kept as UTF-8 text
/// (invalid bytes replaced) and cut to at most `max_raw` bytes on a character boundary; `raw_size` keeps the real size.
pub fn dead_letter(src: Source<'_>, value: Option<&[u8]>, err: &MapError, max_raw: usize, now_ms: i64) -> DeadLetter {
    let bytes = value.unwrap_or_default();
    let head = &bytes[..bytes.len().min(max_raw)];
    let mut raw = String::from_utf8_lossy(head).into_owned();
    while raw.len() > max_raw {
        raw.pop(); // a replacement character may have made it longer than the cut
    }
    DeadLetter {
        source_topic: src.topic.to_owned(),
        source_partition: src.partition,
        source_offset: src.offset,
        reason: err.reason().to_owned(),
        error: err.to_string(),
        raw,
        raw_size: bytes.len() as u64,
        failed_at_ms: now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_coordinates_reason_and_cut_raw() {
        let src = Source { topic: "orders", partition: 2, offset: 41 };
        let value = "x".repeat(100);
        let d = dead_letter(src, Some(value.as_bytes()), &MapError::MissingField("user_id".into()), 10, 7);
        assert_eq!((d.source_topic.as_str(), d.source_partition, d.source_offset), ("orders", 2, 41));
        assert_eq!(d.reason, "missing_field");
        assert_eq!(d.raw, "x".repeat(10));
        assert_eq!(d.raw_size, 100);
        assert_eq!(d.failed_at_ms, 7);
    }

    #[test]
    fn invalid_utf8_is_replaced_and_still_within_the_cut() {
        let src = Source { topic: "orders", partition: 0, offset: 0 };
        let d = dead_letter(src, Some(&[b'a', 0xff, 0xfe, b'b']), &MapError::InvalidUtf8(1), 3, 0);
        assert!(d.raw.len() <= 3);
        assert!(d.raw.starts_with('a'));
        assert!(serde_json::to_string(&d).is_ok());
    }
}
