//! The JSON format's reader: the fields a source reads, found in one record's text, each kept as its raw JSON
//! (serde_json checks the syntax; [`crate::flink_json`] converts each to its declared type).
//!
//! As Flink's streaming reader does: fields the job does not read are skipped unconverted, a repeated field keeps
//! its last value, and once as many fields have been read as the job reads (a repeat counts too), the rest of the
//! object is skipped. Anything after the top-level object is ignored.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::raw::Raw;

use crate::error::MapError;
use crate::scan::Name;

/// Finds `fields` in the record `text`: `out[i]` is field i's raw value, if present. `out` starts empty.
pub(crate) fn read_fields<'a>(text: &'a str, fields: &[Name], out: &mut [Option<Raw<'a>>]) -> Result<(), MapError> {
    if crate::scan::scan_fields(text, fields, out) {
        return Ok(());
    }
    // serde_json decides what the fast path could not: it gives the error, or the fields of an unusual record.
    out.fill(None);
    read_fields_slowly(text, fields, out)
}

/// [`read_fields`] by serde_json alone.
pub(crate) fn read_fields_slowly<'a>(
    text: &'a str,
    fields: &[Name],
    out: &mut [Option<Raw<'a>>],
) -> Result<(), MapError> {
    let mut de = serde_json::Deserializer::from_str(text);
    // No `de.end()`: Flink's reader stops at the end of the object and never looks at what follows.
    match (Top { fields, out }).deserialize(&mut de) {
        Ok(None) => Ok(()),
        Ok(Some(kind)) => Err(MapError::NotAnObject(kind)),
        Err(e) => Err(MapError::InvalidJson(e.to_string())),
    }
}

/// The top level: fills `out` for an object; for anything else, its kind.
struct Top<'f, 'o, 'a> {
    fields: &'f [Name],
    out: &'o mut [Option<Raw<'a>>],
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Top<'_, '_, 'a> {
    type Value = Option<&'static str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for Top<'_, '_, 'a> {
    type Value = Option<&'static str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let limit = self.fields.len();
        let mut read = 0;
        while let Some(key) = map.next_key_seed(Key(self.fields))? {
            match key {
                Some(i) if read < limit => {
                    self.out[i] = Some(Raw::new(map.next_value::<&'de RawValue>()?.get()));
                    read += 1;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Some("an array"))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Some("null"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Some("a boolean"))
    }

    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Some("a number"))
    }

    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Some("a number"))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Some("a number"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Some("a string"))
    }
}

/// A key: the index of the field it names, if the job reads it.
struct Key<'f>(&'f [Name]);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for Key<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|f| f.name == v))
    }
}
