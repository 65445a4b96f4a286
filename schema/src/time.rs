//! Event timestamps: what the transformer accepts and how it writes them.
//!
//! Accepted (all UTC): what the original job's `TO_TIMESTAMP(s)` reads (`yyyy-M-d`, optionally ` H:m:s` and a
//! fraction; see [`parse_flink`]), and beyond it RFC 3339 strings (any offset, converted to UTC) and epoch
//! milliseconds as a JSON integer, for which Flink gives NULL. Internally a timestamp is epoch milliseconds; it is
//! written the way Flink's JSON format writes a `TIMESTAMP(3)` ([`format_flink`]).

use chrono::{DateTime, Utc};

/// Earliest accepted timestamp: 1970-01-01 00:00:00 UTC (ClickHouse `DateTime` starts there).
pub const MIN_MS: i64 = 0;
/// Latest accepted timestamp: 2105-12-31 23:59:59.999 UTC (ClickHouse `DateTime` ends in 2106).
pub const MAX_MS: i64 = 4_291_747_199_999;

/// Why a timestamp was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text matches none of the accepted formats.
    #[error("unparsable timestamp {0:?} (expected \"YYYY-MM-DD HH:MM:SS\", RFC 3339 or epoch millis)")]
    Unparsable(String),
    /// It parsed, but lies outside what ClickHouse can store.
    #[error("timestamp {0} ms is outside 1970-01-01..2105-12-31")]
    OutOfRange(i64),
}

/// Parses what `TO_TIMESTAMP` reads ([`parse_flink`]) or RFC 3339 into epoch milliseconds.
pub fn parse_text(s: &str) -> Result<i64, TimeError> {
    let ms = if let Some(ms) = parse_plain(s).or_else(|| parse_flink(s)) {
        ms
    } else if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        dt.timestamp_millis()
    } else {
        return Err(TimeError::Unparsable(s.chars().take(64).collect()));
    };
    check_range(ms)
}

/// Flink's `TO_TIMESTAMP(s)`: the text must be exactly `yyyy-M-d`, optionally followed by ` H:m:s` and a fraction
/// (`.` and 0 to 9 digits, cut to milliseconds); month, day, hour, minute and second take one or two digits. A date
/// alone is midnight. Nothing else is read: no spaces around it, no `T`, no zone (Flink gives NULL for those).
///
/// This is the pattern `yyyy-[MM][M]-[dd][d][ [HH][H]:[mm][m]:[ss][s][.fraction]]` of Flink's `DateTimeUtils`.
/// One deliberate difference: java.time's default (SMART) resolver moves a day past the month's end back to its
/// last day (`2021-02-29` becomes 2021-02-28) and reads `24:00:00` as the next midnight; those return `None` here
/// (the record is dead-lettered with the text, instead of stored under another day).
pub fn parse_flink(s: &str) -> Option<i64> {
    let f = read_flink(s)?;
    let date = chrono::NaiveDate::from_ymd_opt(f.year, f.month, f.day)?;
    let time = date.and_hms_milli_opt(f.hour, f.minute, f.second, f.milli)?;
    Some(time.and_utc().timestamp_millis())
}

/// The fields of a text in `TO_TIMESTAMP`'s pattern, read but not resolved into a date: [`parse_flink`] resolves
/// them strictly, the job engine's `TO_TIMESTAMP` as java.time's SMART resolver does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlinkText {
    /// Four digits.
    pub year: i32,
    /// One or two digits, not checked.
    pub month: u32,
    /// One or two digits, not checked.
    pub day: u32,
    /// One or two digits, not checked (0 for a date alone).
    pub hour: u32,
    /// One or two digits, not checked.
    pub minute: u32,
    /// One or two digits, not checked.
    pub second: u32,
    /// The fraction cut to milliseconds.
    pub milli: u32,
    /// Whether every digit of the fraction is 0 (no fraction counts).
    pub fraction_zero: bool,
}

/// Reads `yyyy-M-d[ H:m:s[.fraction]]` (the whole of `s`), see [`parse_flink`].
pub fn read_flink(s: &str) -> Option<FlinkText> {
    let mut p = Cursor::new(s);
    let year = p.digits(4, 4)? as i32;
    p.literal(b'-')?;
    let month = p.digits(1, 2)?;
    p.literal(b'-')?;
    let day = p.digits(1, 2)?;
    let mut f = FlinkText { year, month, day, hour: 0, minute: 0, second: 0, milli: 0, fraction_zero: true };
    if !p.done() {
        p.literal(b' ')?;
        f.hour = p.digits(1, 2)?;
        p.literal(b':')?;
        f.minute = p.digits(1, 2)?;
        p.literal(b':')?;
        f.second = p.digits(1, 2)?;
        (f.milli, f.fraction_zero) = p.fraction_ms()?;
        if !p.done() {
            return None;
        }
    }
    Some(f)
}

/// A position in ASCII text: what [`parse_flink`] and the job engine's time parsers read dates with.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    /// The text.
    pub b: &'a [u8],
    /// The position in it.
    pub i: usize,
}

impl<'a> Cursor<'a> {
    /// At the start of `s`.
    pub fn new(s: &'a str) -> Self {
        Cursor { b: s.as_bytes(), i: 0 }
    }

    /// Whether the whole text is read.
    pub fn done(&self) -> bool {
        self.i == self.b.len()
    }

    /// `c`, consumed.
    pub fn literal(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// `.` and 0 to 9 digits, as milliseconds (TIMESTAMP(3) cuts the fraction, it does not round) and whether
    /// every digit is 0; `(0, true)` when there is no `.`.
    pub fn fraction_ms(&mut self) -> Option<(u32, bool)> {
        if self.literal(b'.').is_none() {
            return Some((0, true));
        }
        let start = self.i;
        let digits = self.digits(0, 9)?;
        let n = (self.i - start) as u32;
        let milli = if n <= 3 { digits * 10u32.pow(3 - n) } else { digits / 10u32.pow(n - 3) };
        Some((milli, self.b[start..self.i].iter().all(|&c| c == b'0')))
    }

    /// `min..=max` ASCII digits (as many as there are, up to `max`), as a number.
    pub fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        let mut n = 0u32;
        while self.i - start < max {
            match self.b.get(self.i) {
                Some(c) if c.is_ascii_digit() => n = n * 10 + u32::from(c - b'0'),
                _ => break,
            }
            self.i += 1;
        }
        (self.i - start >= min).then_some(n)
    }
}

/// Checks that epoch milliseconds lie in the storable range.
pub fn check_range(ms: i64) -> Result<i64, TimeError> {
    if (MIN_MS..=MAX_MS).contains(&ms) {
        Ok(ms)
    } else {
        Err(TimeError::OutOfRange(ms))
    }
}

/// Formats epoch milliseconds as Flink's JSON format writes a `TIMESTAMP(3)` (UTC): `YYYY-MM-DD HH:MM:SS`, with the
/// fraction only when it is not zero and its trailing zeros trimmed (`2021-06-15 12:30:45`, `…:45.5`, `…:45.123`).
/// This is the unified record's `event_timestamp`, byte for byte what the original job wrote.
pub fn format_flink(ms: i64) -> String {
    let (s, len) = format_flink_ascii(ms);
    s[..len].iter().map(|&c| char::from(c)).collect()
}

/// [`format_flink`] without allocating: the bytes and how many of them are the text.
pub fn format_flink_ascii(ms: i64) -> ([u8; 23], usize) {
    let len = match ms.rem_euclid(1000) {
        0 => 19,
        m if m % 100 == 0 => 21,
        m if m % 10 == 0 => 22,
        _ => 23,
    };
    (format_ms_ascii(ms), len)
}

/// Formats epoch milliseconds as `"YYYY-MM-DD HH:MM:SS.mmm"` (UTC), always three digits of fraction.
pub fn format_ms(ms: i64) -> String {
    format_ms_ascii(ms).iter().map(|&c| char::from(c)).collect()
}

/// [`format_ms`] as 23 ASCII bytes, without allocating.
///
/// Written by hand: chrono's `format()` parses its pattern on every call and was the mapping's top hotspot
/// (about 30% of `map_record` under perf); its date arithmetic then cost 550 instructions per record, against
/// about 60 for [`civil_from_days`].
pub fn format_ms_ascii(ms: i64) -> [u8; 23] {
    let mut s = *b"1970-01-01 00:00:00.000";
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    put_digits(&mut s[0..4], year.unsigned_abs() as u32);
    put_digits(&mut s[5..7], month);
    put_digits(&mut s[8..10], day);
    put_digits(&mut s[11..13], (sod / 3600) as u32);
    put_digits(&mut s[14..16], (sod / 60 % 60) as u32);
    put_digits(&mut s[17..19], (sod % 60) as u32);
    put_digits(&mut s[20..23], milli as u32);
    s
}

/// The proleptic Gregorian `(year, month, day)` of `days` since 1970-01-01: Howard Hinnant's `civil_from_days`
/// (eras of 400 years, each 146,097 days, counted from 0000-03-01 so the leap day ends the year).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of the era, 0..=146_096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // year of the era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the year starting in March, 0..=365
    let mp = (5 * doy + 2) / 153; // month starting in March, 0..=11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes `n` as exactly `out.len()` decimal digits (zero-padded; higher digits dropped).
fn put_digits(out: &mut [u8], mut n: u32) {
    for d in out.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Formats a time as the original emitter does: `"YYYY-MM-DD HH:MM:SS"` (UTC, whole seconds).
pub fn format_original(dt: DateTime<Utc>) -> String {
    dt.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Fast path for exactly `YYYY-MM-DD HH:MM:SS`, the format the emitter writes (most records).
fn parse_plain(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let t = date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)?;
    Some(t.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone};

    #[test]
    fn accepted_formats() {
        assert_eq!(parse_text("1970-01-01 00:00:01"), Ok(1000));
        assert_eq!(parse_text("2024-02-29 12:34:56"), Ok(1_709_210_096_000));
        assert_eq!(parse_text("2024-02-29 12:34:56.789"), Ok(1_709_210_096_789));
        assert_eq!(parse_text("2024-02-29T12:34:56.789Z"), Ok(1_709_210_096_789));
        assert_eq!(parse_text("2024-02-29T14:34:56.789+02:00"), Ok(1_709_210_096_789));
        // TO_TIMESTAMP's lenient forms: a date alone, one-digit fields, a fraction of 0 to 9 digits (cut to ms).
        assert_eq!(parse_text("2024-02-29"), Ok(1_709_164_800_000));
        assert_eq!(parse_text("2024-2-9 1:2:3"), Ok(1_707_440_523_000));
        assert_eq!(parse_text("2024-02-29 12:34:56."), Ok(1_709_210_096_000));
        assert_eq!(parse_text("2024-02-29 12:34:56.7"), Ok(1_709_210_096_700));
        assert_eq!(parse_text("2024-02-29 12:34:56.789999999"), Ok(1_709_210_096_789));
    }

    #[test]
    fn rejected() {
        for bad in [
            "",
            "yesterday",
            "2023-02-29 00:00:00",
            "2024-13-01 00:00:00",
            "2024-01-01 25:00:00",
            " 2024-01-01",
            "2024-01-01 ",
            "2024-01-01  10:00:00",
            "2024-01-01 10:00",
            "2024-001-01",
            "24-01-01",
            "2024-01-01 10:00:00.1234567890",
            "2024-01-01 24:00:00",
        ] {
            assert!(matches!(parse_text(bad), Err(TimeError::Unparsable(_))), "{bad}");
        }
        assert_eq!(parse_text("1969-12-31 23:59:59"), Err(TimeError::OutOfRange(-1000)));
        assert!(matches!(parse_text("2200-01-01 00:00:00"), Err(TimeError::OutOfRange(_))));
    }

    #[test]
    fn format_matches_chrono() {
        for ms in [0, 1, 999, 1_709_210_096_789, 951_782_400_000, MAX_MS, 86_399_999] {
            let want = Utc.timestamp_millis_opt(ms).unwrap().format("%Y-%m-%d %H:%M:%S%.3f").to_string();
            assert_eq!(format_ms(ms), want);
        }
    }

    proptest::proptest! {
        #[test]
        fn format_matches_chrono_everywhere(ms in MIN_MS..=MAX_MS) {
            let want = Utc.timestamp_millis_opt(ms).unwrap().format("%Y-%m-%d %H:%M:%S%.3f").to_string();
            proptest::prop_assert_eq!(format_ms(ms), want);
        }

        #[test]
        fn civil_dates_match_chrono(days in -1_000_000i64..1_000_000) {
            let d = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap() + chrono::Duration::days(days);
            proptest::prop_assert_eq!(civil_from_days(days), (i64::from(d.year()), d.month(), d.day()));
        }
    }

    /// Flink's TIMESTAMP(3) text, written out independently: the seconds by chrono, then the fraction as Java's
    /// `LocalDateTime.toString` trims it (the JSON format's SQL_TIMESTAMP_FORMAT with optional nanos).
    fn flink_reference(ms: i64) -> String {
        let t = Utc.timestamp_millis_opt(ms).unwrap();
        let base = t.format("%Y-%m-%d %H:%M:%S").to_string();
        let frac = format!("{:03}", ms.rem_euclid(1000));
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            base
        } else {
            format!("{base}.{frac}")
        }
    }

    #[test]
    fn flink_timestamps_trim_the_fraction() {
        assert_eq!(format_flink(1_623_760_245_000), "2021-06-15 12:30:45");
        assert_eq!(format_flink(1_623_760_245_500), "2021-06-15 12:30:45.5");
        assert_eq!(format_flink(1_623_760_245_120), "2021-06-15 12:30:45.12");
        assert_eq!(format_flink(1_623_760_245_123), "2021-06-15 12:30:45.123");
        assert_eq!(format_flink(1_623_760_245_003), "2021-06-15 12:30:45.003");
        assert_eq!(format_flink(0), "1970-01-01 00:00:00");
    }

    proptest::proptest! {
        #[test]
        fn flink_timestamps_match_the_reference(ms in MIN_MS..=MAX_MS) {
            proptest::prop_assert_eq!(format_flink(ms), flink_reference(ms));
        }

        #[test]
        fn flink_timestamps_with_round_fractions_match_the_reference(s in MIN_MS / 1000..MAX_MS / 1000, f in 0i64..10) {
            let ms = s * 1000 + f * 100; // the fractions .0 .1 ... .9, which a uniform draw rarely hits
            proptest::prop_assert_eq!(format_flink(ms), flink_reference(ms));
        }
    }

    #[test]
    fn format_round_trips() {
        assert_eq!(format_ms(1_709_210_096_789), "2024-02-29 12:34:56.789");
        assert_eq!(parse_text(&format_ms(MAX_MS)), Ok(MAX_MS));
        assert_eq!(format_ms(0), "1970-01-01 00:00:00.000");
    }
}
