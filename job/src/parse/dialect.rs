//! The SQL dialect of Flink jobs for sqlparser's tokenizer and expression parser: backquoted identifiers, names
//! as in Java (letters, digits, `_`, `$`), string literals with `''` as the only escape, and no `>>` shift
//! operator (so `MAP<STRING, ARRAY<INT>>` would close both brackets).

use sqlparser::dialect::Dialect;

/// Flink SQL, as far as the statement layer ([`super`]) leaves it to sqlparser.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flink;

impl Dialect for Flink {
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`'
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_' || ch == '$'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '$'
    }

    fn supports_string_literal_backslash_escape(&self) -> bool {
        false
    }

    fn supports_bitwise_shift_operators(&self) -> bool {
        false
    }

    fn supports_nested_comments(&self) -> bool {
        true
    }
}
