//! Time in Flink's terms: the texts `TO_TIMESTAMP` reads (leniently, as java.time's SMART resolver does), the
//! JSON format's SQL timestamp and ISO date, and the Java `SimpleDateFormat` patterns of `DATE_FORMAT`,
//! `TO_TIMESTAMP(s, fmt)`, `TO_DATE(s, fmt)`, `UNIX_TIMESTAMP(s, fmt)` and `FROM_UNIXTIME(n, fmt)`. All in UTC
//! (the only session time zone here). Timestamps are epoch milliseconds, dates days since 1970-01-01.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use contract::time::Cursor;

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a valid date.
fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")).num_days() as i32
}

/// The date of `days` since 1970-01-01.
pub fn date_of(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(i64::from(days)))
}

/// The date and time of epoch milliseconds.
pub fn datetime_of(ms: i64) -> Option<NaiveDateTime> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.naive_utc())
}

/// Epoch milliseconds of a date at midnight.
pub fn date_to_ms(days: i32) -> i64 {
    i64::from(days) * MS_PER_DAY
}

/// The date of epoch milliseconds.
pub fn ms_to_date(ms: i64) -> i32 {
    ms.div_euclid(MS_PER_DAY) as i32
}

/// Flink's `TO_TIMESTAMP(s)`: `yyyy-M-d` with optional ` H:m:s[.fraction]` (one or two digits per field, a
/// fraction of 0 to 9 digits cut to milliseconds), resolved as java.time's SMART resolver does: a day past the end
/// of its month becomes the month's last day (`2021-02-29` → 2021-02-28) and `24:00:00` the next midnight.
/// Anything else is `None` (NULL).
pub fn flink_to_timestamp(s: &str) -> Option<i64> {
    let f = contract::time::read_flink(s)?;
    let date = smart_date(f.year, f.month, f.day)?;
    if f.hour == 24 && f.minute == 0 && f.second == 0 && f.fraction_zero {
        return Some(date_to_ms(days(date) + 1));
    }
    let time = date.and_hms_milli_opt(f.hour, f.minute, f.second, f.milli)?;
    Some(time.and_utc().timestamp_millis())
}

/// A date, with a day of 29 to 31 past the month's end moved back to its last day (SMART resolution).
fn smart_date(year: i32, month: u32, day: u32) -> Option<NaiveDate> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let first_of_next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    let last = first_of_next.pred_opt()?.day();
    NaiveDate::from_ymd_opt(year, month, day.min(last))
}

/// The JSON format's SQL timestamp: `yyyy-MM-dd HH:mm:ss[.fraction]`, fixed widths, strict dates.
pub fn parse_sql_timestamp(s: &str) -> Option<i64> {
    let mut p = Cursor::new(s);
    let date = iso_date(&mut p)?;
    p.literal(b' ')?;
    let hour = p.digits(2, 2)?;
    p.literal(b':')?;
    let minute = p.digits(2, 2)?;
    p.literal(b':')?;
    let second = p.digits(2, 2)?;
    let (milli, _) = p.fraction_ms()?;
    if !p.done() {
        return None;
    }
    Some(date.and_hms_milli_opt(hour, minute, second, milli)?.and_utc().timestamp_millis())
}

/// An ISO date `yyyy-MM-dd`, strict: days since 1970-01-01.
pub fn parse_iso_date(s: &str) -> Option<i32> {
    let mut p = Cursor::new(s);
    let date = iso_date(&mut p)?;
    p.done().then(|| days(date))
}

fn iso_date(p: &mut Cursor<'_>) -> Option<NaiveDate> {
    let year = p.digits(4, 4)? as i32;
    p.literal(b'-')?;
    let month = p.digits(2, 2)?;
    p.literal(b'-')?;
    let day = p.digits(2, 2)?;
    NaiveDate::from_ymd_opt(year, month, day)
}

/// Flink's `CAST(s AS TIMESTAMP(3))` and `CAST(s AS DATE)` read what `TO_TIMESTAMP` reads; a date alone is midnight.
pub fn cast_to_timestamp(s: &str) -> Option<i64> {
    flink_to_timestamp(s.trim())
}

/// A `TIMESTAMP(3)` as Flink's JSON format and `CAST(… AS STRING)` write it: `yyyy-MM-dd HH:mm:ss` and the
/// fraction, padded to `precision` digits for a CAST, or trimmed of trailing zeros for JSON (`trim`).
pub fn format_timestamp(ms: i64, precision: u8, trim: bool, out: &mut String) {
    let Some(t) = datetime_of(ms) else {
        out.push_str(&ms.to_string());
        return;
    };
    use std::fmt::Write;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let milli = ms.rem_euclid(1000);
    if trim {
        if milli != 0 {
            let frac = format!("{milli:03}");
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
    } else if precision > 0 {
        let frac = format!("{milli:03}000000");
        out.push('.');
        out.push_str(&frac[..precision as usize]);
    }
}

/// A DATE as `yyyy-MM-dd`.
pub fn format_date(days: i32, out: &mut String) {
    match date_of(days) {
        Some(d) => {
            use std::fmt::Write;
            let _ = write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
        }
        None => out.push_str(&days.to_string()),
    }
}

/// One element of a date pattern.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    /// A pattern letter repeated `n` times.
    Field(char, usize),
    /// Text to copy or match.
    Literal(String),
}

/// A Java `SimpleDateFormat` pattern (`yyyy-MM-dd HH:mm:ss`), compiled once.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    parts: Vec<Part>,
}

/// The pattern letters [`Pattern`] knows.
pub const PATTERN_LETTERS: &str = "y M d H h m s S a E D";

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

impl Pattern {
    /// Compiles `pattern`; an unknown pattern letter is an error naming it.
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        let mut parts = Vec::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                let mut lit = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("a quote in the pattern is not closed".into()),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            lit.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            lit.push(ch);
                            i += 1;
                        }
                    }
                }
                if lit.is_empty() {
                    lit.push('\'');
                }
                parts.push(Part::Literal(lit));
            } else if c.is_ascii_alphabetic() {
                let mut n = 1;
                while chars.get(i + n) == Some(&c) {
                    n += 1;
                }
                if !"yMdHhmsSaED".contains(c) {
                    return Err(format!("the pattern letter {c} is not supported (supported: {PATTERN_LETTERS})"));
                }
                parts.push(Part::Field(c, n));
                i += n;
            } else {
                parts.push(Part::Literal(c.to_string()));
                i += 1;
            }
        }
        Ok(Pattern { parts })
    }

    /// Formats epoch milliseconds.
    pub fn format(&self, ms: i64) -> Option<String> {
        let t = datetime_of(ms)?;
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Field(c, n) => {
                    let n = *n;
                    let num = |v: i64, out: &mut String| out.push_str(&format!("{v:0n$}"));
                    match c {
                        'y' if n == 2 => num(i64::from(t.year() % 100), &mut out),
                        'y' => num(i64::from(t.year()), &mut out),
                        'M' if n >= 4 => out.push_str(MONTHS[t.month0() as usize]),
                        'M' if n == 3 => out.push_str(&MONTHS[t.month0() as usize][..3]),
                        'M' => num(i64::from(t.month()), &mut out),
                        'd' => num(i64::from(t.day()), &mut out),
                        'D' => num(i64::from(t.ordinal()), &mut out),
                        'H' => num(i64::from(t.hour()), &mut out),
                        'h' => num(i64::from((t.hour() + 11) % 12 + 1), &mut out),
                        'm' => num(i64::from(t.minute()), &mut out),
                        's' => num(i64::from(t.second()), &mut out),
                        'S' => num(ms.rem_euclid(1000), &mut out),
                        'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
                        'E' if n >= 4 => out.push_str(WEEKDAYS[t.weekday().num_days_from_monday() as usize]),
                        'E' => out.push_str(&WEEKDAYS[t.weekday().num_days_from_monday() as usize][..3]),
                        _ => return None,
                    }
                }
            }
        }
        Some(out)
    }

    /// Parses `s` (the whole of it) into epoch milliseconds; fields not in the pattern are 1970-01-01 00:00:00.
    pub fn parse(&self, s: &str) -> Option<i64> {
        let b = s.as_bytes();
        let mut i = 0;
        let (mut year, mut month, mut day, mut hour, mut minute, mut second, mut milli) = (1970, 1, 1, 0, 0, 0, 0);
        let mut pm = None;
        let mut hour12 = false;
        for (k, part) in self.parts.iter().enumerate() {
            match part {
                Part::Literal(lit) => {
                    if !s[i..].starts_with(lit.as_str()) {
                        return None;
                    }
                    i += lit.len();
                }
                Part::Field(c, n) => {
                    let adjacent =
                        matches!(self.parts.get(k + 1), Some(Part::Field(next, _)) if "yMdDHhmsS".contains(*next));
                    match c {
                        'a' => {
                            let rest = s[i..].to_ascii_uppercase();
                            pm = Some(if rest.starts_with("PM") {
                                true
                            } else if rest.starts_with("AM") {
                                false
                            } else {
                                return None;
                            });
                            i += 2;
                        }
                        'E' => {
                            let name = WEEKDAYS
                                .iter()
                                .find(|w| s[i..].starts_with(*w))
                                .map(|w| w.len())
                                .or_else(|| WEEKDAYS.iter().find(|w| s[i..].starts_with(&w[..3])).map(|_| 3))?;
                            i += name;
                        }
                        'M' if *n >= 3 => {
                            let (idx, len) = MONTHS.iter().enumerate().find_map(|(m, name)| {
                                if s[i..].starts_with(name) {
                                    Some((m, name.len()))
                                } else if s[i..].starts_with(&name[..3]) {
                                    Some((m, 3))
                                } else {
                                    None
                                }
                            })?;
                            month = idx as u32 + 1;
                            i += len;
                        }
                        _ => {
                            let max = if adjacent { *n } else { 9 };
                            let start = i;
                            while i < b.len() && i - start < max && b[i].is_ascii_digit() {
                                i += 1;
                            }
                            if i == start {
                                return None;
                            }
                            let v: u32 = s[start..i].parse().ok()?;
                            match c {
                                'y' if *n == 2 && i - start == 2 => year = 2000 + v as i32,
                                'y' => year = v as i32,
                                'M' => month = v,
                                'd' => day = v,
                                'D' => {
                                    month = 1;
                                    day = v;
                                }
                                'H' => hour = v,
                                'h' => {
                                    hour = v % 12;
                                    hour12 = true;
                                }
                                'm' => minute = v,
                                's' => second = v,
                                'S' => milli = v,
                                _ => return None,
                            }
                        }
                    }
                }
            }
        }
        if i != b.len() {
            return None;
        }
        if hour12 && pm == Some(true) || !hour12 && pm == Some(true) && hour < 12 {
            hour += 12;
        }
        let date = NaiveDate::from_ymd_opt(year, 1, 1)?;
        let date = if self.parts.iter().any(|p| matches!(p, Part::Field('D', _))) {
            date.with_ordinal(day)?
        } else {
            NaiveDate::from_ymd_opt(year, month, day)?
        };
        Some(date.and_hms_milli_opt(hour, minute, second, milli)?.and_utc().timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_timestamp_is_smart() {
        assert_eq!(flink_to_timestamp("2021-06-15 12:30:45"), Some(1_623_760_245_000));
        assert_eq!(flink_to_timestamp("2021-6-5 1:2:3.40"), flink_to_timestamp("2021-06-05 01:02:03.4"));
        assert_eq!(flink_to_timestamp("2021-02-29"), flink_to_timestamp("2021-02-28"));
        assert_eq!(flink_to_timestamp("2021-04-31 10:00:00"), flink_to_timestamp("2021-04-30 10:00:00"));
        assert_eq!(flink_to_timestamp("2021-06-15 24:00:00"), flink_to_timestamp("2021-06-16"));
        for bad in ["2021-02-32", "2021-13-01", "2021-06-15T12:30:45", " 2021-06-15", "2021-06-15 24:00:01", "x"] {
            assert_eq!(flink_to_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn strict_formats() {
        assert_eq!(parse_sql_timestamp("2021-06-15 12:30:45.5"), Some(1_623_760_245_500));
        assert_eq!(parse_sql_timestamp("2021-6-15 12:30:45"), None);
        assert_eq!(parse_iso_date("1970-01-02"), Some(1));
        assert_eq!(parse_iso_date("2021-02-29"), None);
    }

    #[test]
    fn formats() {
        let mut s = String::new();
        format_timestamp(1_623_760_245_500, 3, false, &mut s);
        assert_eq!(s, "2021-06-15 12:30:45.500");
        s.clear();
        format_timestamp(1_623_760_245_500, 3, true, &mut s);
        assert_eq!(s, "2021-06-15 12:30:45.5");
        s.clear();
        format_date(18_793, &mut s);
        assert_eq!(s, "2021-06-15");
    }

    #[test]
    fn patterns() {
        let p = Pattern::new("yyyy-MM-dd HH:mm:ss").unwrap();
        assert_eq!(p.format(1_623_760_245_500).unwrap(), "2021-06-15 12:30:45");
        assert_eq!(p.parse("2021-06-15 12:30:45"), Some(1_623_760_245_000));
        assert_eq!(p.parse("2021-06-15"), None);
        let p = Pattern::new("dd/MM/yy hh:mm a, EEE MMM 'T'SSS ''").unwrap();
        assert_eq!(p.format(1_623_760_245_007).unwrap(), "15/06/21 12:30 PM, Tue Jun T007 '");
        assert_eq!(Pattern::new("yyyyMMdd").unwrap().parse("20210615"), Some(1_623_715_200_000));
        assert!(Pattern::new("yyyy-MM-dd Q").unwrap_err().contains("Q"));
    }
}
