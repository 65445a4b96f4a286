//! The JSON format reader's fast path: one pass over a record's text that finds the fields a source reads, checks
//! the syntax of everything else, and notes which strings have escapes (so the field reader does not look for
//! them again) and which values a JSON writer can copy as they are (so it does not look for what to escape).
//!
//! It accepts a record only where serde_json (the reader's slow path, [`crate::read`]) accepts it with the same
//! fields, and says "not sure" for everything else: any syntax error (so the dead letter carries serde_json's
//! message), a key with an escape, containers nested deeper than [`MAX_DEPTH`], a top level that is not an object.
//! A property test holds it to serde_json on random and mutated records (`tests` below).

use crate::bytes::word;
use crate::raw::{Raw, ESCAPES, NOT_VERBATIM};

/// Containers nested deeper than this inside a field's value are left to serde_json.
pub const MAX_DEPTH: usize = 64;

/// Finds the fields named `fields` in the record `text`, as [`crate::read::read_fields`] does: `out[i]` is field
/// i's raw value. `false` when the fast path cannot vouch for the record: the caller then reads it with serde_json
/// (`out` may hold partial results and must be cleared).
pub(crate) fn scan_fields<'a>(text: &'a str, fields: &[Name], out: &mut [Option<Raw<'a>>]) -> bool {
    let mut s = Scanner { b: text.as_bytes(), i: 0 };
    if s.ws() != Some(b'{') {
        return false;
    }
    s.i += 1;
    match s.ws() {
        Some(b'}') => return true,
        Some(b'"') => {}
        _ => return false,
    }
    let limit = fields.len();
    let mut read = 0;
    loop {
        // At a key's opening quote.
        s.i += 1;
        let key_at = s.i;
        let Some(key) = s.plain_key() else { return false };
        if s.ws() != Some(b':') {
            return false;
        }
        s.i += 1;
        if s.ws().is_none() {
            return false;
        }
        let start = s.i;
        let Some(seen) = s.value() else { return false };
        if read < limit {
            if let Some(k) = find(fields, key, &s.b[key_at..]) {
                out[k] = Some(Raw::scanned(&text[start..s.i], seen));
                read += 1;
            }
        }
        match s.ws() {
            Some(b',') => {
                s.i += 1;
                if s.ws() != Some(b'"') {
                    return false;
                }
            }
            // Anything after the object is ignored, as serde_json's reader here never looks at it.
            Some(b'}') => return true,
            _ => return false,
        }
    }
}

/// A field's name as the fast path matches keys: the name, its first eight bytes (fewer, padded with zeros, when it
/// is shorter) as a number, and its last eight bytes as a number (for a name longer than eight bytes).
#[derive(Debug, Clone)]
pub(crate) struct Name {
    /// The name.
    pub name: String,
    prefix: u64,
    suffix: u64,
}

impl Name {
    /// The name `name`.
    pub(crate) fn new(name: &str) -> Name {
        let b = name.as_bytes();
        let suffix = if b.len() > 8 { word(&b[b.len() - 8..]) } else { 0 };
        Name { name: name.to_owned(), prefix: prefix(b), suffix }
    }

    /// Whether the key `key`, whose [`prefix`] is `p`, is this name. Names of up to sixteen bytes are compared as
    /// two numbers (no call to the C library's `memcmp`, which musl's static build runs byte by byte).
    #[inline(always)]
    fn is(&self, p: u64, key: &[u8]) -> bool {
        let n = key.len();
        self.prefix == p
            && self.name.len() == n
            && match n {
                0..=8 => true,
                9..=16 => self.suffix == word(&key[n - 8..]),
                _ => self.name.as_bytes()[8..] == key[8..],
            }
    }
}

/// The first eight bytes of a key (fewer, padded with zeros), as a number.
fn prefix(key: &[u8]) -> u64 {
    if key.len() >= 8 {
        return word(&key[..8]);
    }
    let mut b = [0u8; 8];
    b[..key.len()].copy_from_slice(key);
    u64::from_le_bytes(b)
}

/// The field named `key`, if the source reads it; `from` is the text from the key on (so its first eight bytes
/// are read at once): the prefixes and lengths are compared first, the rest of a longer name only when they match.
#[inline(always)]
fn find(fields: &[Name], key: &[u8], from: &[u8]) -> Option<usize> {
    let p = match from.get(..8) {
        _ if key.len() >= 8 => word(&key[..8]),
        Some(eight) => word(eight) & ((1u64 << (8 * key.len())) - 1),
        None => prefix(key),
    };
    for (i, f) in fields.iter().enumerate() {
        if f.is(p, key) {
            return Some(i);
        }
    }
    None
}

/// A position in a record's bytes.
struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    /// Skips JSON whitespace; the byte after it.
    #[inline(always)]
    fn ws(&mut self) -> Option<u8> {
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b' ' | b'\n' | b'\t' | b'\r' => self.i += 1,
                _ => return Some(c),
            }
        }
        None
    }

    /// A key without escapes, after its opening quote; the position is left after its closing quote.
    fn plain_key(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        let end = self.to_special(start, &mut 0);
        if self.b.get(end) != Some(&b'"') {
            return None; // an escape, a control character or the end: serde_json decides
        }
        self.i = end + 1;
        Some(&self.b[start..end])
    }

    /// The first index from `i` on that holds a quote, a backslash or a control character (or the end). The bytes
    /// looked at (up to seven past that index) are ORed into `seen`: its high bits say whether any was not ASCII.
    #[inline(always)]
    fn to_special(&self, mut i: usize, seen: &mut u64) -> usize {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        while let Some(chunk) = self.b.get(i..i + 8) {
            let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            // The classic tests for a byte below 0x20 and for a zero byte (w XOR the byte sought); the lowest bit
            // set is the first byte that matches, whatever the borrows above it.
            let control = w.wrapping_sub(ONES * 0x20) & !w;
            let quote = (w ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES) & !(w ^ (ONES * u64::from(b'"')));
            let slash = (w ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES) & !(w ^ (ONES * u64::from(b'\\')));
            *seen |= w;
            let found = (control | quote | slash) & HIGH;
            if found != 0 {
                return i + (found.trailing_zeros() / 8) as usize;
            }
            i += 8;
        }
        while let Some(&c) = self.b.get(i) {
            *seen |= u64::from(c);
            if c == b'"' || c == b'\\' || c < 0x20 {
                return i;
            }
            i += 1;
        }
        i
    }

    /// The rest of a string after its opening quote, escapes checked as serde_json checks them when it skips a
    /// string; what was seen ([`ESCAPES`], [`NOT_VERBATIM`]). The position is left after the closing quote.
    #[inline(always)]
    fn string(&mut self) -> Option<u8> {
        let mut seen = 0;
        let mut bytes = 0;
        let mut i = self.i;
        loop {
            i = self.to_special(i, &mut bytes);
            match *self.b.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    // Not ASCII (or bytes after the string that are not: the test may look past its end): a
                    // character outside the BMP, which Jackson writes as a surrogate pair of escapes, may be there.
                    if bytes & 0x8080_8080_8080_8080 != 0 {
                        seen |= NOT_VERBATIM;
                    }
                    return Some(seen);
                }
                b'\\' => {
                    seen = ESCAPES | NOT_VERBATIM;
                    match *self.b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            let hex = self.b.get(i + 2..i + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            i += 6;
                        }
                        _ => return None,
                    }
                }
                _ => return None, // a raw control character: serde_json refuses it, the reader then retries
            }
        }
    }

    /// One value at the position (not whitespace); what was seen in it. The position is left after it.
    #[inline(always)]
    fn value(&mut self) -> Option<u8> {
        match self.b[self.i] {
            b'"' => {
                self.i += 1;
                self.string()
            }
            b'n' => self.word(b"null"),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'-' | b'0'..=b'9' => self.number(),
            b'{' | b'[' => self.container(),
            _ => None,
        }
    }

    fn word(&mut self, w: &[u8]) -> Option<u8> {
        if self.b.get(self.i..self.i + w.len())? != w {
            return None;
        }
        self.i += w.len();
        Some(0)
    }

    /// A number in JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<u8> {
        let b = self.b;
        let mut i = self.i;
        if b[i] == b'-' {
            i += 1;
        }
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits(b, i),
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            let after = digits(b, i + 1);
            if after == i + 1 {
                return None;
            }
            i = after;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let after = digits(b, i);
            if after == i {
                return None;
            }
            i = after;
        }
        // serde_json refuses a leading zero followed by a digit (`01`); here that digit ends the number, and
        // whatever reads next refuses it, so no check is needed for the value itself.
        self.i = i;
        Some(0)
    }

    /// An object or an array, skipped with its syntax checked as serde_json skips one; nested at most
    /// [`MAX_DEPTH`] deep. What was seen in it (never verbatim). The position is left after its closing bracket.
    fn container(&mut self) -> Option<u8> {
        let mut open = [0u8; MAX_DEPTH];
        let mut depth = 0;
        let mut seen = NOT_VERBATIM;
        'value: loop {
            // At the first byte of a value inside the container (or of the container itself).
            let c = self.b[self.i];
            if c == b'{' || c == b'[' {
                if depth == MAX_DEPTH {
                    return None;
                }
                open[depth] = c;
                depth += 1;
                self.i += 1;
                let first = self.ws()?;
                if first != close_of(c) {
                    if c == b'{' {
                        seen |= self.member_key()?;
                    }
                    continue 'value;
                }
                self.i += 1; // an empty container
                depth -= 1;
            } else {
                seen |= self.value()?;
            }
            // After a value: a comma and the next member, or the brackets it closes.
            while depth > 0 {
                let c = self.ws()?;
                if c == b',' {
                    self.i += 1;
                    self.ws()?;
                    if open[depth - 1] == b'{' {
                        seen |= self.member_key()?;
                    }
                    continue 'value;
                }
                if c != close_of(open[depth - 1]) {
                    return None;
                }
                self.i += 1;
                depth -= 1;
            }
            return Some(seen);
        }
    }

    /// A member's `"key":` inside a skipped object, at the key's opening quote; what was seen in the key. The
    /// position is left at the first byte of the member's value.
    fn member_key(&mut self) -> Option<u8> {
        if self.b[self.i] != b'"' {
            return None;
        }
        self.i += 1;
        let seen = self.string()?;
        if self.ws()? != b':' {
            return None;
        }
        self.i += 1;
        self.ws()?;
        Some(seen)
    }
}

/// The closing bracket of an opening one.
fn close_of(open: u8) -> u8 {
    if open == b'{' {
        b'}'
    } else {
        b']'
    }
}

/// The index after the ASCII digits from `i` on.
fn digits(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn fields() -> Vec<Name> {
        ["a", "b", "url", "é"].iter().map(|n| Name::new(n)).collect()
    }

    /// Whitespace as JSON allows it, often none.
    fn ws() -> impl Strategy<Value = &'static str> {
        prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\n\t "), 1 => Just("\r")]
    }

    /// A scalar's text, valid or nearly (numbers and strings from patterns that include JSON's edge cases).
    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?",
            "\"([a-zé😀 ]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-fA-F]{4}|\\\\ud800){0,8}\"",
        ]
    }

    /// A value's text: scalars, arrays and objects nested a few deep.
    fn value() -> impl Strategy<Value = String> {
        scalar().prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec((ws(), inner.clone(), ws()), 0..4).prop_map(|items| {
                    let items: Vec<String> = items.into_iter().map(|(a, v, b)| format!("{a}{v}{b}")).collect();
                    format!("[{}]", items.join(","))
                }),
                prop::collection::vec(("\"([a-z]|\\\\n){0,3}\"", ws(), inner), 0..4).prop_map(|members| {
                    let members: Vec<String> = members.into_iter().map(|(k, w, v)| format!("{k}{w}:{w}{v}")).collect();
                    format!("{{{}}}", members.join(", "))
                }),
            ]
        })
    }

    /// A record: an object whose keys are the fields read, others, and (flagged) a key with an escape.
    fn record() -> impl Strategy<Value = (String, bool)> {
        let key = prop_oneof![
            Just(("a", false)),
            Just(("b", false)),
            Just(("url", false)),
            Just(("é", false)),
            Just(("c", false)),
            Just(("", false)),
            Just(("a\\u0062", true)),
        ];
        (ws(), prop::collection::vec((key, ws(), value()), 0..7), ws(), "[ x}{]{0,2}").prop_map(
            |(w, members, w2, tail)| {
                let escaped = members.iter().any(|((_, e), _, _)| *e);
                let members: Vec<String> =
                    members.into_iter().map(|((k, _), w, v)| format!("{w}\"{k}\"{w}:{w}{v}{w}")).collect();
                (format!("{w}{{{}}}{w2}{tail}", members.join(",")), escaped)
            },
        )
    }

    /// A few edits of a text: bytes deleted, replaced or inserted from JSON's syntax and its edge cases.
    fn edits() -> impl Strategy<Value = Vec<(usize, u8, char)>> {
        let c = prop::sample::select(vec![
            '{', '}', '[', ']', '"', ',', ':', '\\', ' ', '0', '-', 'e', '.', 'u', 'n', '\u{1}', 'x',
        ]);
        prop::collection::vec((any::<usize>(), 0u8..3, c), 0..4)
    }

    fn texts<'a>(v: &[Option<Raw<'a>>]) -> Vec<Option<&'a str>> {
        v.iter().map(|r| r.map(Raw::get)).collect()
    }

    fn edit(text: &str, edits: &[(usize, u8, char)]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for &(at, how, c) in edits {
            let at = at % (chars.len() + 1);
            match how {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 if at < chars.len() => chars[at] = c,
                _ => chars.insert(at, c),
            }
        }
        chars.into_iter().collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// What the fast path accepts, serde_json accepts with the same fields; it accepts every valid record whose
        /// top-level keys have no escapes; a string it says has no escapes has no backslash, and a value it says is
        /// verbatim is written as JSON as it is.
        #[test]
        fn the_fast_path_agrees_with_serde_json((text, escaped_key) in record(), edits in edits()) {
            let fields = fields();
            let text = edit(&text, &edits);
            let mut fast = vec![None; fields.len()];
            let mut slow = vec![None; fields.len()];
            let accepted = scan_fields(&text, &fields, &mut fast);
            let by_serde = crate::read::read_fields_slowly(&text, &fields, &mut slow);
            if accepted {
                prop_assert!(by_serde.is_ok(), "accepted {text:?}, serde_json: {by_serde:?}");
                prop_assert_eq!(texts(&fast), texts(&slow), "{:?}", text);
                for r in fast.iter().flatten() {
                    prop_assert!(r.may_have_escapes() || !r.get().contains('\\'), "{:?}", r);
                    // Read as a STRING (null aside) and written as JSON, a verbatim value is written as it is.
                    let read = || crate::flink_json::string(*r).expect("a verbatim value reads");
                    if let Some(s) = r.verbatim().then(read).flatten() {
                        let mut written = Vec::new();
                        crate::write::push_json_string(&mut written, &s);
                        prop_assert_eq!(written, format!("\"{s}\"").into_bytes(), "{:?}", r);
                    }
                }
            } else if edits.is_empty() && !escaped_key {
                prop_assert!(by_serde.is_err(), "refused the valid {text:?}");
            }
        }
    }

    #[test]
    fn deep_containers_and_odd_records_are_left_to_serde_json() {
        let fields = fields();
        let mut out = vec![None; fields.len()];
        let deep = format!("{{\"a\": {}1{}}}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(!scan_fields(&deep, &fields, &mut out));
        let shallow = format!("{{\"a\": {}1{}}}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(scan_fields(&shallow, &fields, &mut out));
        for odd in
            ["[1]", "\"a\"", "{\"a\\u0062\": 1}", "{\"a\": 01}", "{\"a\": 1,}", "{\"a\": \"\u{1}\"}", "{\"a\": 1"]
        {
            assert!(!scan_fields(odd, &fields, &mut out), "{odd}");
        }
        out.fill(None);
        assert!(scan_fields(r#" {"b": {"x": [1, {"y": "\n"}]}, "a": "q\"", "a": "last"} trailing"#, &fields, &mut out));
        assert_eq!(out[0].map(Raw::get), Some(r#""last""#));
        assert_eq!(out[1].map(Raw::get), Some(r#"{"x": [1, {"y": "\n"}]}"#));
        assert!(out[1].unwrap().may_have_escapes());
        assert!(!out[0].unwrap().may_have_escapes());
        for (text, verbatim) in [
            (r#""plain""#, true),
            (r#""é""#, false),
            ("12.5e3", true),
            ("true", true),
            (r#""x😀""#, false),
            (r#""a\/b""#, false),
            (r#"{"b": 1}"#, false),
            ("[]", false),
        ] {
            let record = format!("{{\"a\": {text}}}");
            let mut one = vec![None; fields.len()];
            assert!(scan_fields(&record, &fields, &mut one));
            assert_eq!(one[0].map(Raw::verbatim), Some(verbatim), "{text}");
        }
    }
}
