//! String functions, as Flink computes them. Lengths and positions count Unicode code points, as Flink's
//! `BinaryStringData` does.

use std::borrow::Cow;

use crate::value::{Val, NULL};

/// `UPPER(s)`: borrowed as it is when it has nothing to change, changed in place when it is owned ASCII text.
pub fn upper(s: Cow<'_, str>) -> Val<'_> {
    Val::Str(change_case(s, true))
}

/// `LOWER(s)`, as [`upper`].
pub fn lower(s: Cow<'_, str>) -> Val<'_> {
    Val::Str(change_case(s, false))
}

fn change_case(s: Cow<'_, str>, up: bool) -> Cow<'_, str> {
    let unchanged = |c: u8| if up { !c.is_ascii_lowercase() } else { !c.is_ascii_uppercase() };
    if s.is_ascii() {
        if s.bytes().all(unchanged) {
            return s;
        }
        let mut owned = s.into_owned();
        if up {
            owned.make_ascii_uppercase();
        } else {
            owned.make_ascii_lowercase();
        }
        return Cow::Owned(owned);
    }
    // Unicode's full mappings (ß → SS), as Java's toUpperCase.
    Cow::Owned(if up { s.to_uppercase() } else { s.to_lowercase() })
}

/// `INITCAP(s)`: the first letter of each word upper case, the rest lower case (words split at non-alphanumerics).
pub fn initcap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// `TRIM`: the characters of `chars` off the chosen ends.
pub fn trim<'r>(s: Cow<'r, str>, chars: &str, leading: bool, trailing: bool) -> Val<'r> {
    let set = |c: char| chars.contains(c);
    let cut = |t: &'r str| -> &'r str {
        let t = if leading { t.trim_start_matches(set) } else { t };
        if trailing {
            t.trim_end_matches(set)
        } else {
            t
        }
    };
    match s {
        Cow::Borrowed(b) => Val::Str(Cow::Borrowed(cut(b))),
        Cow::Owned(o) => {
            let t = if leading { o.trim_start_matches(set) } else { &o[..] };
            let t = if trailing { t.trim_end_matches(set) } else { t };
            Val::Str(Cow::Owned(t.to_owned()))
        }
    }
}

/// `REPLACE(s, search, replacement)`: every occurrence, left to right (Java's `String.replace`).
pub fn replace<'r>(s: Cow<'r, str>, search: &str, replacement: &str) -> Val<'r> {
    if !search.is_empty() && !s.contains(search) {
        return Val::Str(s);
    }
    Val::Str(Cow::Owned(s.replace(search, replacement)))
}

/// `SUBSTRING(s, start [, len])`: 1-based; a start of 0 is 1, a negative start counts from the end; a negative
/// length is NULL.
pub fn substring<'r>(s: Cow<'r, str>, start: i64, len: Option<i64>) -> Val<'r> {
    if matches!(len, Some(l) if l < 0) {
        return NULL;
    }
    let chars = s.chars().count() as i64;
    let from = match start {
        0 => 0,
        p if p > 0 => p - 1,
        p => (chars + p).max(0),
    };
    if from >= chars {
        return Val::Str(Cow::Borrowed(""));
    }
    let to = match len {
        Some(l) => from.saturating_add(l).min(chars),
        None => chars,
    };
    let byte = |ci: i64| s.char_indices().nth(ci as usize).map_or(s.len(), |(b, _)| b);
    let (b0, b1) = (byte(from), byte(to));
    match s {
        Cow::Borrowed(b) => Val::Str(Cow::Borrowed(&b[b0..b1])),
        Cow::Owned(o) => Val::Str(Cow::Owned(o[b0..b1].to_owned())),
    }
}

/// `POSITION(needle IN s)`: 1-based code-point index of the first occurrence, 0 when absent (1 for "").
pub fn position(needle: &str, s: &str) -> i64 {
    match s.find(needle) {
        Some(b) => s[..b].chars().count() as i64 + 1,
        None => 0,
    }
}

/// `SPLIT_INDEX(s, sep, i)`: the i-th (0-based) piece of `s` split at every `sep`; NULL when out of range.
pub fn split_index<'r>(s: &str, sep: &str, i: i64) -> Val<'r> {
    if i < 0 || s.is_empty() {
        return NULL;
    }
    let piece = if sep.is_empty() { s.split_whitespace().nth(i as usize) } else { s.split(sep).nth(i as usize) };
    piece.map_or(NULL, |p| Val::Str(Cow::Owned(p.to_owned())))
}

/// A LIKE pattern as an anchored regular expression: `%` any run, `_` one character, `escape` quoting the next.
pub fn like_regex(pattern: &str, escape: Option<char>) -> Result<regex::Regex, String> {
    let mut re = String::from("(?s)^");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(n) => re.push_str(&regex::escape(&n.to_string())),
                None => return Err("the LIKE pattern ends with its escape character".into()),
            }
        } else if c == '%' {
            re.push_str(".*");
        } else if c == '_' {
            re.push('.');
        } else {
            re.push_str(&regex::escape(&c.to_string()));
        }
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| e.to_string())
}

/// `REGEXP_EXTRACT(s, re, group)`: the group of the first match; NULL when nothing matches, the group did not
/// take part, or the group or the expression is invalid (Flink returns NULL for those too).
pub fn regexp_extract<'r>(s: &str, re: Option<&regex::Regex>, pattern: &str, group: i64) -> Val<'r> {
    let compiled = if re.is_none() { regex::Regex::new(pattern).ok() } else { None };
    let Some(re) = re.or(compiled.as_ref()) else { return NULL };
    if group < 0 {
        return NULL;
    }
    match re.captures(s).and_then(|c| c.get(group as usize)) {
        Some(m) => Val::Str(Cow::Owned(m.as_str().to_owned())),
        None => NULL,
    }
}

/// `REGEXP_REPLACE(s, re, replacement)`: every match replaced; the replacement reads `$n` as group n and `\x` as
/// the character x, as Java's `Matcher.replaceAll` does. NULL for an invalid expression.
pub fn regexp_replace<'r>(s: &str, re: Option<&regex::Regex>, pattern: &str, replacement: &str) -> Val<'r> {
    let compiled = if re.is_none() { regex::Regex::new(pattern).ok() } else { None };
    let Some(re) = re.or(compiled.as_ref()) else { return NULL };
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for caps in re.captures_iter(s) {
        let m = caps.get(0).expect("group 0 is the match");
        out.push_str(&s[last..m.start()]);
        let mut r = replacement.chars().peekable();
        while let Some(c) = r.next() {
            match c {
                '\\' => {
                    if let Some(n) = r.next() {
                        out.push(n);
                    }
                }
                '$' => {
                    let mut g = String::new();
                    while let Some(d) = r.peek().filter(|d| d.is_ascii_digit()) {
                        // Java takes more digits only while they name an existing group.
                        let candidate = format!("{g}{d}");
                        if !g.is_empty() && candidate.parse::<usize>().map_or(true, |n| n >= caps.len()) {
                            break;
                        }
                        g = candidate;
                        r.next();
                    }
                    match g.parse::<usize>().ok().filter(|n| *n < caps.len()) {
                        Some(n) => out.push_str(caps.get(n).map_or("", |m| m.as_str())),
                        None => return NULL, // Java throws: "No group n"
                    }
                }
                c => out.push(c),
            }
        }
        last = m.end();
    }
    out.push_str(&s[last..]);
    Val::Str(Cow::Owned(out))
}

/// `LPAD`/`RPAD(s, len, pad)`: `s` padded (or cut) to `len` characters; NULL for a negative length or an empty pad.
pub fn pad<'r>(s: &str, len: i64, pad: &str, left: bool) -> Val<'r> {
    if len < 0 || pad.is_empty() {
        return NULL;
    }
    let len = len as usize;
    let base: Vec<char> = s.chars().collect();
    let fill: Vec<char> = pad.chars().collect();
    let need = len.saturating_sub(base.len());
    let padding: String = fill.iter().cycle().take(need).collect();
    let kept: String = base.iter().take(len).collect();
    Val::Str(Cow::Owned(if left { format!("{padding}{kept}") } else { format!("{kept}{padding}") }))
}

/// `MD5(s)` of the UTF-8 bytes, as 32 lower-case hex digits.
pub fn md5_hex(s: &str) -> String {
    use md5::{Digest, Md5};
    hex(&Md5::digest(s.as_bytes()))
}

/// `SHA256(s)` of the UTF-8 bytes, as 64 lower-case hex digits.
pub fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(s.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(v: Val<'_>) -> Option<String> {
        v.as_str().map(str::to_owned)
    }

    #[test]
    fn flink_string_functions() {
        assert_eq!(st(substring("hello".into(), 2, Some(3))), Some("ell".into()));
        assert_eq!(st(substring("hello".into(), 0, Some(2))), Some("he".into()));
        assert_eq!(st(substring("hello".into(), -3, None)), Some("llo".into()));
        assert_eq!(st(substring("hello".into(), 9, None)), Some("".into()));
        assert!(substring("hello".into(), 1, Some(-1)).is_null());
        assert_eq!(st(substring("héllo".into(), 2, Some(2))), Some("él".into()));
        assert_eq!(position("ll", "hello"), 3);
        assert_eq!(position("x", "hello"), 0);
        assert_eq!(position("", "hello"), 1);
        assert_eq!(st(split_index("a,b,,c", ",", 2)), Some("".into()));
        assert!(split_index("a,b", ",", 5).is_null());
        assert!(split_index("a,b", ",", -1).is_null());
        assert_eq!(st(pad("hi", 5, "ab", true)), Some("abahi".into()));
        assert_eq!(st(pad("hello", 3, "x", true)), Some("hel".into()));
        assert_eq!(st(pad("hi", 5, "ab", false)), Some("hiaba".into()));
        assert!(pad("hi", 5, "", false).is_null());
        assert_eq!(st(trim("xxhixx".into(), "x", true, false)), Some("hixx".into()));
        assert_eq!(st(replace("user_clicks".into(), "user_", "")), Some("clicks".into()));
        assert_eq!(initcap("hello wORLD-x"), "Hello World-X");
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn regexes() {
        assert_eq!(st(regexp_extract("foothebar", None, "foo(.*?)(bar)", 2)), Some("bar".into()));
        assert_eq!(st(regexp_extract("foothebar", None, "foo(.*?)(bar)", 1)), Some("the".into()));
        assert!(regexp_extract("foothebar", None, "foo(.*?)(bar)", 3).is_null());
        assert!(regexp_extract("x", None, "(", 1).is_null());
        assert_eq!(st(regexp_replace("foobar", None, "oo|ar", "")), Some("fb".into()));
        assert_eq!(st(regexp_replace("a1b22", None, "(\\d)", "<$1>")), Some("a<1>b<2><2>".into()));
        assert_eq!(st(regexp_replace("ab", None, "(a)", "$10")), Some("a0b".into()));
        assert_eq!(st(regexp_replace("ab", None, "a", "\\$")), Some("$b".into()));
        let re = like_regex("a%b_c\\%", Some('\\')).unwrap();
        assert!(re.is_match("axxbyc%") && !re.is_match("abc%"));
    }
}
