//! The unified record as JSON, written straight from a [`Mapped`] into the output buffer.
//!
//! The bytes are exactly what `serde_json::to_vec(&mapped.to_event())` gives (a property test holds the two
//! together), without building the owned record first: no `String` per field, and strings that need no escaping
//! (nearly all of them) are copied in one piece instead of serde_json's byte-by-byte escape scan. This was the
//! transformer's largest cost per record (see BENCHMARKS.md).

use crate::map::{event_type, java_double_to_string, Mapped};

impl Mapped<'_> {
    /// Appends the unified record's JSON to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.reserve(self.json_size_hint());
        out.extend_from_slice(b"{\"event_id\":\"");
        out.extend_from_slice(&self.event_id);
        out.extend_from_slice(b"\",\"event_type\":\"");
        push_event_type(out, self.src.topic);
        out.extend_from_slice(b"\",\"event_timestamp\":\"");
        let (ts, len) = contract::time::format_flink_ascii(self.event_time_ms);
        out.extend_from_slice(&ts[..len]);
        out.extend_from_slice(b"\",\"event_time_ms\":");
        push_number(out, &self.event_time_ms);
        out.extend_from_slice(b",\"user_id\":");
        push_str(out, &self.user_id);
        out.extend_from_slice(b",\"details\":\"");
        push_details(out, self);
        out.extend_from_slice(b"\",\"url\":");
        push_opt_str(out, self.url.as_deref());
        out.extend_from_slice(b",\"element_id\":");
        push_opt_str(out, self.element_id.as_deref());
        out.extend_from_slice(b",\"duration_seconds\":");
        push_number(out, &self.duration_seconds);
        out.extend_from_slice(b",\"order_id\":");
        push_opt_str(out, self.order_id.as_deref());
        out.extend_from_slice(b",\"amount\":");
        push_number(out, &self.amount);
        out.extend_from_slice(b",\"ip_address\":");
        push_opt_str(out, self.ip_address.as_deref());
        out.extend_from_slice(b",\"source_topic\":");
        push_str(out, self.src.topic);
        out.extend_from_slice(b",\"source_partition\":");
        push_number(out, &self.src.partition);
        out.extend_from_slice(b",\"source_offset\":");
        push_number(out, &self.src.offset);
        out.push(b'}');
    }

    /// The size of [`Mapped::write_json`]'s output when no string needs escaping (an upper bound then).
    pub fn json_size_hint(&self) -> usize {
        // From the field table: names, quotes and separators, numbers of at most 24 bytes, `null`s 2 bytes
        // longer than `""`; then in details three separators and the amount again.
        use contract::record::{json_fixed_bytes, nullable_string_fields, numeric_fields};
        const FIXED: usize = json_fixed_bytes() + numeric_fields() * 24 + nullable_string_fields() * 2 + 3 * 3 + 24;
        let len = |s: Option<&str>| s.map_or(0, str::len);
        let strings = len(self.url.as_deref()) + len(self.element_id.as_deref()) + len(self.order_id.as_deref());
        FIXED
            + self.event_id.len()
            + 23 // event_timestamp
            + 2 * self.src.topic.len()
            + self.user_id.len()
            + 2 * strings // as fields and again in details
            + len(self.ip_address.as_deref())
    }
}

/// `UPPER(REPLACE(topic, 'user_', ''))`, written without building the string for the ASCII topic names Kafka allows.
fn push_event_type(out: &mut Vec<u8>, topic: &str) {
    if !topic.is_ascii() || needs_escape(topic) {
        return push_str_contents(out, &event_type(topic));
    }
    let b = topic.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"user_") {
            i += 5; // REPLACE: left to right, non-overlapping, like str::replace
        } else {
            out.push(b[i].to_ascii_uppercase());
            i += 1;
        }
    }
}

/// `CONCAT_WS(' | ', url, element_id, order_id, CAST(amount AS STRING))`, the contents of the JSON string.
fn push_details(out: &mut Vec<u8>, m: &Mapped<'_>) {
    let parts = [m.url.as_deref(), m.element_id.as_deref(), m.order_id.as_deref()];
    let mut first = true;
    for part in parts.into_iter().flatten() {
        if !first {
            out.extend_from_slice(b" | ");
        }
        push_str_contents(out, part);
        first = false;
    }
    if let Some(amount) = m.amount {
        if !first {
            out.extend_from_slice(b" | ");
        }
        push_java_double(out, amount);
    }
}

/// [`java_double_to_string`], with a fast path for what amounts are: a whole number of cents below 10^7.
///
/// For such a value the shortest text that reads back as the same double is its cents with trailing zeros dropped
/// (any shorter text is another decimal at least 0.01 away, far more than the double's precision there), and it
/// lies in Java's plain-notation range `[1e-3, 1e7)`.
fn push_java_double(out: &mut Vec<u8>, x: f64) {
    let cents = (x * 100.0).round();
    // `cents / 100.0` is the double nearest to the decimal cents/100, i.e. what parsing that decimal gives.
    if !(1.0..1e9).contains(&cents.abs()) || cents / 100.0 != x {
        return out.extend_from_slice(java_double_to_string(x).as_bytes());
    }
    let c = cents.abs() as u64;
    if x < 0.0 {
        out.push(b'-');
    }
    push_number(out, &(c / 100));
    out.push(b'.');
    let (tens, ones) = ((c % 100 / 10) as u8, (c % 10) as u8);
    out.push(b'0' + tens);
    if ones != 0 {
        out.push(b'0' + ones);
    }
}

fn push_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => push_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// `s` as a JSON string.
fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_str_contents(out, s);
    out.push(b'"');
}

/// `s` as the inside of a JSON string: copied as is when nothing needs escaping, else escaped by serde_json.
fn push_str_contents(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    let start = out.len();
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
    out.pop(); // the closing quote
    out.remove(start); // the opening quote
}

/// Whether JSON (as serde_json writes it) escapes anything in `s`: a quote, a backslash or a control character.
/// A fold without early exit, so the compiler can check many bytes at once.
fn needs_escape(s: &str) -> bool {
    s.bytes().fold(false, |acc, b| acc | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// A number (or `null` for `None`) exactly as serde_json writes it.
fn push_number<T: serde::Serialize>(out: &mut Vec<u8>, n: &T) {
    serde_json::to_writer(&mut *out, n).expect("writing a number to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::{map, Source};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_amount_fast_path_agrees_with_java(cents in -2_000_000_000i64..2_000_000_000, x in any::<f64>()) {
            for v in [cents as f64 / 100.0, x, cents as f64 / 1000.0, cents as f64] {
                let mut out = Vec::new();
                push_java_double(&mut out, v);
                prop_assert_eq!(String::from_utf8(out).unwrap(), java_double_to_string(v));
            }
        }
    }

    fn both(topic: &str, raw: &str) -> (Vec<u8>, Vec<u8>) {
        let m = map(Source { topic, partition: 2, offset: 7 }, Some(raw.as_bytes()), 1 << 20).unwrap();
        let mut ours = Vec::new();
        m.write_json(&mut ours);
        (ours, serde_json::to_vec(&m.to_event()).unwrap())
    }

    #[test]
    fn same_bytes_as_serde_json() {
        for (topic, raw) in [
            (
                "user_clicks",
                r#"{"user_id":"u","element_id":"btn-1","url":"https://a/b","timestamp":"2024-05-01 10:00:00","ip_address":"1.2.3.4"}"#,
            ),
            ("page_views", r#"{"user_id":"u","url":"x","duration_seconds":42,"timestamp":"2024-05-01T10:00:00.5Z"}"#),
            ("orders", r#"{"order_id":"o","user_id":"u","amount":100.0,"timestamp":1714557600250}"#),
            (
                "orders",
                r#"{"user_id":"a\"b\\c\n\u0001\u00e9\/","url":"\t","amount":1e300,"timestamp":"2024-05-01 10:00:00"}"#,
            ),
            ("user_user_x\"y", r#"{"user_id":"u","timestamp":"2024-05-01 10:00:00"}"#),
            ("usér_clicks", r#"{"user_id":"u","timestamp":"2024-05-01 10:00:00"}"#),
        ] {
            let (ours, theirs) = both(topic, raw);
            assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs), "{topic} {raw}");
        }
    }

    #[test]
    fn the_size_hint_bounds_unescaped_output() {
        let raw = r#"{"order_id":"o-1","user_id":"u","url":"https://a/b","element_id":"btn-2","amount":-123456789.125,"duration_seconds":-9223372036854775808,"timestamp":"2105-12-31 23:59:59","ip_address":"255.255.255.255"}"#;
        let m =
            map(Source { topic: "user_clicks", partition: i32::MIN, offset: i64::MIN }, Some(raw.as_bytes()), 1 << 20)
                .unwrap();
        let mut out = Vec::new();
        m.write_json(&mut out);
        assert!(out.len() <= m.json_size_hint(), "{} > {}", out.len(), m.json_size_hint());
    }
}
