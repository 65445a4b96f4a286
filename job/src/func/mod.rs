//! The built-in functions: what each takes and gives ([`signature`], used by the planner) and what each computes
//! ([`call`]). Each follows Flink 2.0's documented behaviour, NULLs included; the README lists them, with the few
//! places where we differ.

pub mod cast;
pub mod json;
pub mod math;
pub mod string;
pub mod time;

use std::borrow::Cow;

use crate::types::Type;
use crate::value::{Val, Why, NULL};

/// A built-in function, with what the planner compiled into it (regular expressions and date patterns given as
/// constants are compiled once).
#[derive(Debug, Clone)]
pub enum Func {
    /// `UPPER(s)`
    Upper,
    /// `LOWER(s)`
    Lower,
    /// `INITCAP(s)`
    InitCap,
    /// `TRIM([BOTH|LEADING|TRAILING] [chars FROM] s)`, `LTRIM(s)`, `RTRIM(s)`: args `s` and optionally `chars`.
    Trim {
        /// Trim the start.
        leading: bool,
        /// Trim the end.
        trailing: bool,
    },
    /// `REPLACE(s, search, replacement)`
    Replace,
    /// `SUBSTRING(s FROM start [FOR len])`, `SUBSTR(s, start [, len])`
    Substring,
    /// `CHAR_LENGTH(s)`, `CHARACTER_LENGTH(s)`
    CharLength,
    /// `CONCAT(a, …)` and `a || b`
    Concat,
    /// `CONCAT_WS(sep, a, …)`
    ConcatWs,
    /// `POSITION(needle IN s)`
    Position,
    /// `SPLIT_INDEX(s, sep, index)`
    SplitIndex,
    /// `REGEXP_EXTRACT(s, regex [, group])`
    RegexpExtract(Option<regex::Regex>),
    /// `REGEXP_REPLACE(s, regex, replacement)`
    RegexpReplace(Option<regex::Regex>),
    /// `LPAD(s, len, pad)`
    Lpad,
    /// `RPAD(s, len, pad)`
    Rpad,
    /// `MD5(s)`
    Md5,
    /// `SHA256(s)`
    Sha256,
    /// `COALESCE(a, …)`
    Coalesce,
    /// `NULLIF(a, b)`
    NullIf,
    /// `IF(cond, a, b)`
    If,
    /// `ABS(x)`
    Abs,
    /// `ROUND(x [, d])`, giving the type of x
    Round(Type),
    /// `FLOOR(x)`
    Floor,
    /// `CEIL(x)`, `CEILING(x)`
    Ceil,
    /// `POWER(x, y)`
    Power,
    /// `TO_TIMESTAMP(s [, fmt])`
    ToTimestamp(Option<time::Pattern>),
    /// `TO_DATE(s [, fmt])`
    ToDate(Option<time::Pattern>),
    /// `DATE_FORMAT(ts|s, fmt)`; `bool`: the first argument is a STRING
    DateFormat(Option<time::Pattern>, bool),
    /// `UNIX_TIMESTAMP([s [, fmt]])`
    UnixTimestamp(Option<time::Pattern>),
    /// `FROM_UNIXTIME(n [, fmt])`
    FromUnixtime(Option<time::Pattern>),
    /// `NOW()`, `CURRENT_TIMESTAMP`, `LOCALTIMESTAMP`: the round's time
    Now,
    /// etl-rs: `EPOCH_MILLIS(ts)`, a timestamp as epoch milliseconds (BIGINT)
    EpochMillis,
    /// etl-rs: `TO_EVENT_TIME(s)`, what `TO_TIMESTAMP` reads plus RFC 3339 and epoch milliseconds, within
    /// 1970..2105 (what ClickHouse's DateTime stores); NULL, remembering why, otherwise
    ToEventTime,
    /// `JSON_VALUE(s, path [RETURNING type] [… ON EMPTY] [… ON ERROR])`
    JsonValue(Box<json::JsonValue>),
    /// `JSON_QUERY(s, path [… WRAPPER] [… ON EMPTY] [… ON ERROR])`
    JsonQuery(Box<json::JsonQuery>),
}

/// Applies the strict function `f` to `vals`, its arguments, none of them NULL (the caller checked: NULL in,
/// NULL out). `Err` is a failure Flink would fail the job on, in words.
pub fn apply<'r>(f: &Func, vals: &mut [Val<'r>], now_ms: i64) -> Result<Val<'r>, String> {
    // The strings and integers of the arguments, by index (the planner checked their types).
    fn sv<'v>(vals: &'v [Val<'_>], i: usize) -> &'v str {
        vals.get(i).and_then(Val::as_str).unwrap_or_default()
    }
    fn nv(vals: &[Val<'_>], i: usize) -> i64 {
        vals.get(i).and_then(Val::as_i64).unwrap_or_default()
    }
    // The functions that may give back their first argument's string take it (a borrowed string stays borrowed).
    let first = match f {
        Func::Trim { .. } | Func::Replace | Func::Substring | Func::ToEventTime | Func::Upper | Func::Lower => {
            std::mem::replace(&mut vals[0], NULL)
        }
        _ => NULL,
    };
    let first_str = |v: Val<'r>| match v {
        Val::Str(s) => s,
        _ => Cow::Borrowed(""),
    };
    let s = |i: usize| sv(vals, i);
    let n = |i: usize| nv(vals, i);
    Ok(match f {
        Func::Upper => string::upper(first_str(first)),
        Func::Lower => string::lower(first_str(first)),
        Func::InitCap => Val::Str(Cow::Owned(string::initcap(s(0)))),
        Func::Trim { leading, trailing } => {
            let chars = if vals.len() > 1 { s(1) } else { " " };
            string::trim(first_str(first), chars, *leading, *trailing)
        }
        Func::Replace => string::replace(first_str(first), s(1), s(2)),
        Func::Substring => {
            let len = if vals.len() > 2 { Some(n(2)) } else { None };
            string::substring(first_str(first), n(1), len)
        }
        Func::CharLength => Val::Int(s(0).chars().count() as i64),
        Func::Concat => {
            let mut out = String::new();
            for v in vals.iter() {
                out.push_str(v.as_str().unwrap_or_default());
            }
            Val::Str(Cow::Owned(out))
        }
        Func::Position => Val::Int(string::position(s(0), s(1))),
        Func::SplitIndex => string::split_index(s(0), s(1), n(2)),
        Func::RegexpExtract(re) => {
            let group = if vals.len() > 2 { n(2) } else { 1 };
            string::regexp_extract(s(0), re.as_ref(), s(1), group)
        }
        Func::RegexpReplace(re) => string::regexp_replace(s(0), re.as_ref(), s(1), s(2)),
        Func::Lpad => string::pad(s(0), n(1), s(2), true),
        Func::Rpad => string::pad(s(0), n(1), s(2), false),
        Func::Md5 => Val::Str(Cow::Owned(string::md5_hex(s(0)))),
        Func::Sha256 => Val::Str(Cow::Owned(string::sha256_hex(s(0)))),
        Func::Abs => math::abs(&vals[0]),
        Func::Round(ty) => math::round(&vals[0], if vals.len() > 1 { n(1) } else { 0 }, *ty),
        Func::Floor => math::floor_ceil(&vals[0], true),
        Func::Ceil => math::floor_ceil(&vals[0], false),
        Func::Power => Val::Double(vals[0].as_f64().unwrap_or(f64::NAN).powf(vals[1].as_f64().unwrap_or(f64::NAN))),
        Func::ToTimestamp(p) => match (p, vals.len()) {
            (_, 1) => time::flink_to_timestamp(s(0)).map_or(NULL, Val::Ts),
            (Some(p), _) => p.parse(s(0)).map_or(NULL, Val::Ts),
            (None, _) => match time::Pattern::new(s(1)) {
                Ok(p) => p.parse(s(0)).map_or(NULL, Val::Ts),
                Err(_) => NULL,
            },
        },
        Func::ToDate(p) => {
            let parsed = match (p, vals.len()) {
                (_, 1) => time::Pattern::new("yyyy-MM-dd").ok().and_then(|p| p.parse(s(0))),
                (Some(p), _) => p.parse(s(0)),
                (None, _) => time::Pattern::new(s(1)).ok().and_then(|p| p.parse(s(0))),
            };
            parsed.map_or(NULL, |ms| Val::Date(time::ms_to_date(ms)))
        }
        Func::DateFormat(p, from_string) => {
            let ms = match &vals[0] {
                Val::Ts(ms) => Some(*ms),
                Val::Str(text) if *from_string => time::flink_to_timestamp(text),
                _ => None,
            };
            let pattern = match p {
                Some(p) => Some(p.clone()),
                None => time::Pattern::new(s(1)).ok(),
            };
            match (ms, pattern) {
                (Some(ms), Some(p)) => p.format(ms).map_or(NULL, |t| Val::Str(Cow::Owned(t))),
                _ => NULL,
            }
        }
        Func::UnixTimestamp(_) if vals.is_empty() => Val::Int(now_ms.div_euclid(1000)),
        Func::UnixTimestamp(p) => {
            let pattern = match (p, vals.len()) {
                (Some(p), _) => Some(p.clone()),
                (None, 1) => time::Pattern::new("yyyy-MM-dd HH:mm:ss").ok(),
                (None, _) => time::Pattern::new(s(1)).ok(),
            };
            // Flink returns Long.MIN_VALUE for a text it cannot parse.
            Val::Int(pattern.and_then(|p| p.parse(s(0))).map_or(i64::MIN, |ms| ms.div_euclid(1000)))
        }
        Func::FromUnixtime(p) => {
            let pattern = match (p, vals.len()) {
                (Some(p), _) => Some(p.clone()),
                (None, 1) => time::Pattern::new("yyyy-MM-dd HH:mm:ss").ok(),
                (None, _) => time::Pattern::new(s(1)).ok(),
            };
            match n(0).checked_mul(1000).zip(pattern) {
                Some((ms, p)) => p.format(ms).map_or(NULL, |t| Val::Str(Cow::Owned(t))),
                None => NULL,
            }
        }
        Func::EpochMillis => match vals[0] {
            Val::Ts(ms) => Val::Int(ms),
            _ => NULL,
        },
        Func::ToEventTime => to_event_time(first_str(first)),
        Func::JsonValue(spec) => json::json_value(s(0), spec)?,
        Func::JsonQuery(spec) => json::json_query(s(0), spec)?,
        Func::Now => Val::Ts(now_ms),
        Func::Coalesce | Func::If | Func::NullIf | Func::ConcatWs => unreachable!("not strict: evaluated by expr"),
    })
}

/// `TO_EVENT_TIME(s)`: epoch milliseconds as digits, or what [`contract::time::parse_text`] reads.
fn to_event_time(s: Cow<'_, str>) -> Val<'_> {
    use contract::time::{check_range, parse_text, TimeError};
    let b = s.as_bytes();
    let digits =
        !b.is_empty() && b.iter().enumerate().all(|(i, c)| c.is_ascii_digit() || (i == 0 && *c == b'-' && b.len() > 1));
    let parsed = if digits {
        match s.parse::<i64>() {
            Ok(ms) => check_range(ms),
            Err(_) => Err(TimeError::Unparsable(s.chars().take(64).collect())),
        }
    } else {
        parse_text(&s)
    };
    match parsed {
        Ok(ms) => Val::Ts(ms),
        Err(TimeError::OutOfRange(ms)) => Val::Null(Why::OutOfRange(ms)),
        Err(TimeError::Unparsable(_)) => Val::Null(Why::BadTimestamp(s)),
    }
}
