//! Values while a record is evaluated: borrowed from the raw record wherever they can be, and NULLs that remember
//! why they are NULL (so a NULL that reaches a NOT NULL column is dead-lettered with its cause, e.g. the field that
//! was missing or the timestamp that did not parse).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

/// One value. Every integer type is an `i64`, FLOAT and DOUBLE an `f64`; the plan knows the declared type.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'r> {
    /// SQL NULL, and why.
    Null(Why<'r>),
    /// BOOLEAN.
    Bool(bool),
    /// TINYINT, SMALLINT, INT, BIGINT.
    Int(i64),
    /// FLOAT, DOUBLE.
    Double(f64),
    /// DECIMAL: the unscaled value and the scale.
    Dec(i128, u8),
    /// DATE: days since 1970-01-01.
    Date(i32),
    /// TIMESTAMP, TIMESTAMP_LTZ: epoch milliseconds (UTC).
    Ts(i64),
    /// STRING.
    Str(Cow<'r, str>),
    /// BYTES.
    Bytes(Cow<'r, [u8]>),
    /// ARRAY: the elements, in order.
    Array(Parts<Vec<Val<'r>>>),
    /// MAP: the entries, in the order they were read (a key once, with its last value); keys are STRING.
    Map(Parts<Vec<(Val<'r>, Val<'r>)>>),
    /// ROW: one value per declared field, in order.
    Row(Parts<Vec<Val<'r>>>),
}

/// The parts of a nested value, on the heap, dropped by a function of their own. A value that holds values makes
/// `Val`'s drop recursive and larger; with the parts in a `Vec` inside `Val`, that drop cost the default job ~1,000
/// instructions per record (measured, BENCHMARKS.md). Here the parts are freed out of line, so `Val`'s drop only
/// calls out for a nested value (it is still called out of line itself: ~13 instructions a value).
pub struct Parts<T>(Option<ManuallyDrop<Box<T>>>);

impl<T> Parts<T> {
    /// `parts`, boxed.
    pub fn new(parts: T) -> Self {
        Parts(Some(ManuallyDrop::new(Box::new(parts))))
    }
}

impl<T> Drop for Parts<T> {
    #[inline(never)]
    fn drop(&mut self) {
        if let Some(parts) = self.0.take() {
            drop(ManuallyDrop::into_inner(parts));
        }
    }
}

impl<T> Deref for Parts<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("the parts are there until dropped")
    }
}

impl<T> DerefMut for Parts<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("the parts are there until dropped")
    }
}

impl<'a, T> IntoIterator for &'a Parts<Vec<T>> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Clone> Clone for Parts<T> {
    fn clone(&self) -> Self {
        Parts::new((**self).clone())
    }
}

impl<T: PartialEq> PartialEq for Parts<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: fmt::Debug> fmt::Debug for Parts<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// Why a value is NULL.
#[derive(Debug, Clone, PartialEq)]
pub enum Why<'r> {
    /// No cause worth naming (a NULL literal, a NULL from a function's rules).
    Plain,
    /// The source column with this index is absent from the record, or null in it.
    Missing(u16),
    /// A timestamp text that did not parse.
    BadTimestamp(Cow<'r, str>),
    /// A timestamp outside the range the sink can store, in epoch milliseconds.
    OutOfRange(i64),
}

/// A plain NULL.
pub const NULL: Val<'static> = Val::Null(Why::Plain);

impl<'r> Val<'r> {
    /// An ARRAY of `items`.
    pub fn array(items: Vec<Val<'r>>) -> Val<'r> {
        Val::Array(Parts::new(items))
    }

    /// A MAP of `entries` (STRING keys, each once).
    pub fn map(entries: Vec<(Val<'r>, Val<'r>)>) -> Val<'r> {
        Val::Map(Parts::new(entries))
    }

    /// A ROW of `fields`, one per declared field.
    pub fn row(fields: Vec<Val<'r>>) -> Val<'r> {
        Val::Row(Parts::new(fields))
    }

    /// Whether the value is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Val::Null(_))
    }

    /// The string, if the value is a STRING.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer of an integer value.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Val::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The value as a double (for numeric values).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Int(n) => Some(*n as f64),
            Val::Double(x) => Some(*x),
            Val::Dec(v, s) => Some(decimal_to_f64(*v, *s)),
            _ => None,
        }
    }

    /// The same value, owning everything it borrowed.
    pub fn into_owned(self) -> Val<'static> {
        match self {
            Val::Null(w) => Val::Null(w.into_owned()),
            Val::Bool(b) => Val::Bool(b),
            Val::Int(n) => Val::Int(n),
            Val::Double(x) => Val::Double(x),
            Val::Dec(v, s) => Val::Dec(v, s),
            Val::Date(d) => Val::Date(d),
            Val::Ts(t) => Val::Ts(t),
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
            Val::Bytes(b) => Val::Bytes(Cow::Owned(b.into_owned())),
            nested => nested_into_owned(nested),
        }
    }
}

/// [`Val::into_owned`] of a nested value (out of line: it recurses).
#[inline(never)]
fn nested_into_owned(v: Val<'_>) -> Val<'static> {
    let owned = |items: &mut Vec<Val<'_>>| std::mem::take(items).into_iter().map(Val::into_owned).collect();
    match v {
        Val::Array(mut items) => Val::array(owned(&mut items)),
        Val::Map(mut entries) => {
            Val::map(std::mem::take(&mut *entries).into_iter().map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        }
        Val::Row(mut fields) => Val::row(owned(&mut fields)),
        other => other.into_owned(),
    }
}

impl Why<'_> {
    /// The same cause, owning its text.
    pub fn into_owned(self) -> Why<'static> {
        match self {
            Why::Plain => Why::Plain,
            Why::Missing(c) => Why::Missing(c),
            Why::BadTimestamp(s) => Why::BadTimestamp(Cow::Owned(s.into_owned())),
            Why::OutOfRange(ms) => Why::OutOfRange(ms),
        }
    }
}

/// The order of two values of one type; `None` when either is NULL (or a NaN is involved).
pub fn compare(a: &Val<'_>, b: &Val<'_>) -> Option<Ordering> {
    match (a, b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Double(x), Val::Double(y)) => x.partial_cmp(y),
        (Val::Dec(x, sx), Val::Dec(y, sy)) => {
            let s = (*sx).max(*sy);
            Some(rescale(*x, *sx, s)?.cmp(&rescale(*y, *sy, s)?))
        }
        (Val::Str(x), Val::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Ts(x), Val::Ts(y)) => Some(x.cmp(y)),
        (Val::Date(x), Val::Date(y)) => Some(x.cmp(y)),
        (Val::Bytes(x), Val::Bytes(y)) => Some(x.cmp(y)),
        // Mixed numbers (the planner casts to a common type; this covers literals folded without it).
        (x, y) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => None,
        },
    }
}

/// 10^n as an i128, n ≤ 38.
pub fn pow10(n: u32) -> i128 {
    10i128.pow(n)
}

/// An unscaled decimal as a double (the nearest, through its decimal text).
pub fn decimal_to_f64(v: i128, scale: u8) -> f64 {
    decimal_plain(v, scale).parse().unwrap_or(f64::NAN)
}

/// A decimal as plain text with exactly `scale` decimals (`1.50`), as `CAST(d AS STRING)` writes it.
pub fn decimal_plain(v: i128, scale: u8) -> String {
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let s = scale as usize;
    let padded = if digits.len() <= s { format!("{}{digits}", "0".repeat(s - digits.len() + 1)) } else { digits };
    let (int, frac) = padded.split_at(padded.len() - s);
    format!("{sign}{int}.{frac}")
}

/// Java's `BigDecimal.toString()` of an unscaled value and a scale ≥ 0: plain unless the adjusted exponent is below
/// -6 (`1E-7`), as Jackson writes a DECIMAL in Flink's JSON format.
pub fn decimal_java(v: i128, scale: u8) -> String {
    let digits = v.unsigned_abs().to_string();
    let adjusted = digits.len() as i64 - 1 - i64::from(scale);
    if scale == 0 || adjusted >= -6 {
        return decimal_plain(v, scale);
    }
    let sign = if v < 0 { "-" } else { "" };
    let (first, rest) = digits.split_at(1);
    if rest.is_empty() {
        format!("{sign}{first}E{adjusted}")
    } else {
        format!("{sign}{first}.{rest}E{adjusted}")
    }
}

/// Rescales an unscaled decimal from scale `from` to `to`, rounding half away from zero (Java's HALF_UP) when
/// digits are dropped. `None` on overflow.
pub fn rescale(v: i128, from: u8, to: u8) -> Option<i128> {
    if to >= from {
        v.checked_mul(pow10(u32::from(to - from)))
    } else {
        let d = pow10(u32::from(from - to));
        let (q, r) = (v / d, v % d);
        Some(if r.abs() * 2 >= d { q + v.signum() } else { q })
    }
}

/// Whether an unscaled value fits `precision` digits.
pub fn fits(v: i128, precision: u8) -> bool {
    v.unsigned_abs() < pow10(u32::from(precision)) as u128
}

/// Parses decimal text (`-12.50`, `1e3`, `.5`) into an unscaled value at `scale`, rounding HALF_UP; `None` when it
/// is not a decimal number or does not fit 38 digits.
pub fn parse_decimal(text: &str, scale: u8) -> Option<i128> {
    let t = text.trim();
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i32>().ok()?),
        None => (body, 0),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    // value = digits * 10^(exp - frac.len())
    let shift = exp - frac.len() as i32 + i32::from(scale);
    let unscaled = if digits.is_empty() {
        0
    } else if shift >= 0 {
        if digits.len() as i32 + shift > 38 {
            return None;
        }
        digits.parse::<i128>().ok()?.checked_mul(pow10(shift as u32))?
    } else {
        let drop = (-shift) as usize;
        if drop > digits.len() {
            // Everything is below the last kept digit: rounds to 0, or to 1 when the first dropped digit is ≥ 5.
            let first = if drop == digits.len() { digits.as_bytes()[0] } else { b'0' };
            i128::from(first >= b'5')
        } else {
            let (keep, dropped) = digits.split_at(digits.len() - drop);
            if keep.len() > 38 {
                return None;
            }
            let k: i128 = if keep.is_empty() { 0 } else { keep.parse().ok()? };
            k + i128::from(dropped.as_bytes()[0] >= b'5')
        }
    };
    Some(if neg { -unscaled } else { unscaled })
}

/// Java's `Double.toString` (JDK 19+, the shortest text that reads back as the same double): plain within
/// `[1e-3, 1e7)` with at least one decimal (`100.0`), else `1.0E7` notation. `CAST(DOUBLE AS STRING)` in Flink.
pub fn java_double(x: f64) -> String {
    let mut out = String::new();
    push_java_double(&mut out, x);
    out
}

/// [`java_double`], appended to `out`.
pub fn push_java_double(out: &mut String, x: f64) {
    // What amounts are, fast: a whole number of cents below 10^7. For such a value the shortest text that reads
    // back as the same double is its cents with trailing zeros dropped (any shorter text is another decimal at
    // least 0.01 away, far more than the double's precision there), within Java's plain range [1e-3, 1e7).
    let cents = (x * 100.0).round();
    if (1.0..1e9).contains(&cents.abs()) && cents / 100.0 == x {
        let c = cents.abs() as u64;
        if x < 0.0 {
            out.push('-');
        }
        out.push_str(itoa::Buffer::new().format(c / 100));
        out.push('.');
        let (tens, ones) = ((c % 100 / 10) as u8, (c % 10) as u8);
        out.push(char::from(b'0' + tens));
        if ones != 0 {
            out.push(char::from(b'0' + ones));
        }
        return;
    }
    push_java_double_general(out, x);
}

/// [`push_java_double`] without the fast path for cents.
fn push_java_double_general(out: &mut String, x: f64) {
    push_java_floating(out, x.is_sign_negative(), x.is_nan(), x.is_infinite(), || shortest_digits(x.abs()));
}

/// Java's `Float.toString`: as [`java_double`], on the float's own shortest digits (`1.1f` is `1.1`).
pub fn java_float(x: f32) -> String {
    let mut out = String::new();
    push_java_floating(&mut out, x.is_sign_negative(), x.is_nan(), x.is_infinite(), || shortest_digits(x.abs()));
    out
}

/// Java's text of a double or a float from its sign, kind and shortest digits: plain within `[1e-3, 1e7)` with at
/// least one decimal (`100.0`), else `1.0E7` notation (Rust would print `1e7`).
fn push_java_floating(
    out: &mut String,
    negative: bool,
    nan: bool,
    infinite: bool,
    digits: impl FnOnce() -> (String, i32),
) {
    if nan {
        return out.push_str("NaN");
    }
    if infinite {
        return out.push_str(if negative { "-Infinity" } else { "Infinity" });
    }
    let (digits, exp) = digits();
    if negative {
        out.push('-');
    }
    if digits == "0" || (-3..7).contains(&exp) {
        // Plain: `exp + 1` digits before the point, at least one after it.
        let point = exp + 1;
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
            out.push_str(&digits);
        } else if point as usize >= digits.len() {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('E');
        use std::fmt::Write;
        write!(out, "{exp}").expect("writing to a String");
    }
}

/// The significant digits of the shortest decimal that reads back as `a` (finite, not negative), and the power of
/// ten of the first one. Of two such decimals equally close to `a`, Java takes the one ending in an even digit;
/// Rust's shortest printer may take the other (`1.2477222370209253e15` is `…925.25` exactly: Java prints
/// `…252E15`). So the length comes from Rust's shortest printer and the digits from rounding `a` to that many
/// digits, half to even, which is the closest decimal of that length — unless it does not read back as `a` (the
/// interval below a power of two is half as wide), when Rust's digits stand.
fn shortest_digits<F>(a: F) -> (String, i32)
where
    F: std::fmt::LowerExp + std::str::FromStr + PartialEq + Copy,
{
    let split = |s: String| {
        let (m, e) = s.split_once('e').expect("{:e} always has an exponent");
        (m.chars().filter(char::is_ascii_digit).collect::<String>(), e.parse::<i32>().expect("an exponent"))
    };
    let (digits, exp) = split(format!("{a:e}"));
    let rounded = format!("{:.*e}", digits.len() - 1, a);
    if rounded.parse::<F>().ok() == Some(a) {
        split(rounded)
    } else {
        (digits, exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The fast path for cents agrees with the general one.
        #[test]
        fn the_cents_fast_path_is_javas(cents in -2_000_000_000i64..2_000_000_000, x in proptest::prelude::any::<f64>()) {
            for v in [cents as f64 / 100.0, x, cents as f64 / 1000.0, cents as f64] {
                let mut fast = String::new();
                push_java_double(&mut fast, v);
                proptest::prop_assert_eq!(fast, slow_java_double(v));
            }
        }
    }

    /// The general path alone.
    fn slow_java_double(x: f64) -> String {
        let mut out = String::new();
        push_java_double_general(&mut out, x);
        out
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal_plain(150, 2), "1.50");
        assert_eq!(decimal_plain(-5, 2), "-0.05");
        assert_eq!(decimal_plain(7, 0), "7");
        assert_eq!(decimal_java(1, 7), "1E-7");
        assert_eq!(decimal_java(12, 8), "1.2E-7");
        assert_eq!(decimal_java(1, 6), "0.000001");
        assert_eq!(parse_decimal("12.345", 2), Some(1235));
        assert_eq!(parse_decimal("-12.344", 2), Some(-1234));
        assert_eq!(parse_decimal("1e3", 1), Some(10000));
        assert_eq!(parse_decimal(".5", 0), Some(1));
        assert_eq!(parse_decimal("0.004", 2), Some(0));
        assert_eq!(parse_decimal("0.005", 2), Some(1));
        assert_eq!(parse_decimal("abc", 2), None);
        assert_eq!(parse_decimal("", 2), None);
        assert_eq!(rescale(1235, 2, 1), Some(124));
        assert_eq!(rescale(-1235, 2, 1), Some(-124));
        assert_eq!(rescale(12, 1, 3), Some(1200));
        assert!(fits(99_999, 5) && !fits(100_000, 5));
    }

    /// Nested values did not make every value larger: the row's slots stay 32 bytes.
    #[test]
    fn a_value_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Val<'_>>(), 32);
    }

    #[test]
    fn java_doubles() {
        for (x, s) in
            [(100.0, "100.0"), (1e7, "1.0E7"), (12_345_678.9, "1.23456789E7"), (1e-4, "1.0E-4"), (-0.0, "-0.0")]
        {
            assert_eq!(java_double(x), s);
        }
    }
}
