//! One field's raw JSON value as the JSON format's reader found it in a record ([`crate::scan`] or serde_json), with
//! what the reader saw in it; [`crate::flink_json`] converts it to the declared type.

/// One field's raw JSON value, as written in the record (syntax checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a> {
    text: &'a str,
    /// What the scanner saw in it: [`ESCAPES`], [`NOT_VERBATIM`].
    seen: u8,
}

/// The value may hold a backslash escape (without: a string's contents are its text between the quotes).
pub(crate) const ESCAPES: u8 = 1;
/// The value read as a STRING may hold a character a JSON writer escapes (a quote, a backslash, a control
/// character, one outside the BMP: any string that is not all ASCII counts), or is a container (read as a STRING,
/// it is rewritten).
pub(crate) const NOT_VERBATIM: u8 = 2;

impl<'a> Raw<'a> {
    /// A raw value whose text is `text` (valid JSON); where it came from is not known, so nothing is assumed.
    pub fn new(text: &'a str) -> Raw<'a> {
        Raw { text, seen: ESCAPES | NOT_VERBATIM }
    }

    /// A raw value `text` in which the scanner saw `seen` ([`ESCAPES`], [`NOT_VERBATIM`]).
    pub(crate) fn scanned(text: &'a str, seen: u8) -> Raw<'a> {
        Raw { text, seen }
    }

    /// The value's JSON text.
    pub fn get(self) -> &'a str {
        self.text
    }

    /// Whether the text may hold a backslash escape.
    pub fn may_have_escapes(self) -> bool {
        self.seen & ESCAPES != 0
    }

    /// Whether the value, read as a STRING (a string's contents, a number's or a boolean's text), is written in
    /// Flink's JSON format as it is, between quotes: nothing in it needs an escape.
    pub fn verbatim(self) -> bool {
        self.seen & NOT_VERBATIM == 0
    }
}
