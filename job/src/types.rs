//! The SQL types a job can declare and compute with, as Flink names them, and which of them convert into which.

use std::any::Any;
use std::fmt;
use std::sync::{Mutex, PoisonError};

/// A logical type. Nullability is tracked beside it ([`Column::nullable`](crate::plan::Column)), as in Flink.
///
/// The nested types (ARRAY, MAP, ROW) point at their parts, interned for the life of the process ([`intern`]): a
/// job declares a handful of them, once, and the type stays `Copy` like the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// `STRING`, `VARCHAR(n)`, `CHAR(n)` (lengths are accepted and not enforced).
    String,
    /// `BOOLEAN`.
    Boolean,
    /// `TINYINT`.
    TinyInt,
    /// `SMALLINT`.
    SmallInt,
    /// `INT` / `INTEGER`.
    Int,
    /// `BIGINT`.
    BigInt,
    /// `FLOAT` (computed as a double, stored as f32).
    Float,
    /// `DOUBLE`.
    Double,
    /// `DECIMAL(p, s)`, precision 1..=38.
    Decimal(u8, u8),
    /// `DATE`.
    Date,
    /// `TIMESTAMP(p)` (p 0..=9; values carry milliseconds).
    Timestamp(u8),
    /// `TIMESTAMP_LTZ(p)` / `TIMESTAMP(p) WITH LOCAL TIME ZONE`: an instant; the session zone is UTC.
    TimestampLtz(u8),
    /// `BYTES` / `VARBINARY` / `BINARY`.
    Bytes,
    /// The type of a bare `NULL` literal, before it meets the type it is used as.
    Null,
    /// `ARRAY<T>`: its element.
    Array(&'static Elem),
    /// `MAP<STRING, T>`: its value (the JSON format's keys are strings, never NULL).
    Map(&'static Elem),
    /// `ROW<name T, …>`: its fields, in order.
    Row(&'static [RowField]),
}

/// The element type of an ARRAY, or the value type of a MAP.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Elem {
    /// Its type.
    pub ty: Type,
    /// Whether it may be NULL (unless declared NOT NULL).
    pub nullable: bool,
}

/// A field of a ROW.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RowField {
    /// Its name (the JSON key it is read from and written as).
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Whether it may be NULL (unless declared NOT NULL).
    pub nullable: bool,
}

/// `v`, kept for the life of the process; an equal value interned before is given back instead (types are
/// declared once per job, so this holds a few entries).
fn intern<T: PartialEq + Send + Sync + 'static>(v: T) -> &'static T {
    static TABLE: Mutex<Vec<&'static (dyn Any + Send + Sync)>> = Mutex::new(Vec::new());
    let mut table = TABLE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = table.iter().find_map(|t| t.downcast_ref::<T>().filter(|t| **t == v)) {
        return found;
    }
    let kept: &'static T = Box::leak(Box::new(v));
    table.push(kept);
    kept
}

impl Type {
    /// `ARRAY<ty>` (`ty NOT NULL` when `nullable` is false).
    pub fn array(ty: Type, nullable: bool) -> Type {
        Type::Array(intern(Elem { ty, nullable }))
    }

    /// `MAP<STRING, ty>`.
    pub fn map(ty: Type, nullable: bool) -> Type {
        Type::Map(intern(Elem { ty, nullable }))
    }

    /// `ROW<fields>`.
    pub fn row(fields: Vec<RowField>) -> Type {
        Type::Row(intern(fields).as_slice())
    }

    /// Whether the type is ARRAY, MAP or ROW.
    pub fn is_nested(self) -> bool {
        matches!(self, Type::Array(_) | Type::Map(_) | Type::Row(_))
    }

    /// Whether values of the two types have the same representation, nested types part by part: integers of any
    /// width, timestamps of any precision, decimals of one scale. An INSERT takes such a value as it is.
    pub fn same_repr(self, other: Type) -> bool {
        use Type::*;
        match (self, other) {
            (a, b) if a == b => true,
            (a, b) if a.is_integer() && b.is_integer() => true,
            (a, b) if a.is_timestamp() && b.is_timestamp() => true,
            (Decimal(_, s), Decimal(_, t)) => s == t,
            (Array(a), Array(b)) | (Map(a), Map(b)) => a.ty.same_repr(b.ty),
            (Row(a), Row(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.ty.same_repr(y.ty)),
            _ => false,
        }
    }

    /// Whether the type is an exact or approximate number.
    pub fn is_numeric(self) -> bool {
        self.is_integer() || matches!(self, Type::Float | Type::Double | Type::Decimal(..))
    }

    /// Whether the type is an integer type.
    pub fn is_integer(self) -> bool {
        matches!(self, Type::TinyInt | Type::SmallInt | Type::Int | Type::BigInt)
    }

    /// Whether the type is a timestamp (with or without a local time zone).
    pub fn is_timestamp(self) -> bool {
        matches!(self, Type::Timestamp(_) | Type::TimestampLtz(_))
    }

    /// Rank of the integer types, for widening.
    fn int_rank(self) -> u8 {
        match self {
            Type::TinyInt => 1,
            Type::SmallInt => 2,
            Type::Int => 3,
            Type::BigInt => 4,
            _ => 0,
        }
    }

    /// The DECIMAL precision and scale that holds every value of an integer type.
    pub fn integer_as_decimal(self) -> (u8, u8) {
        match self {
            Type::TinyInt => (3, 0),
            Type::SmallInt => (5, 0),
            Type::Int => (10, 0),
            _ => (19, 0),
        }
    }

    /// The common type of two numeric types in arithmetic and comparison (Flink's widening: integers widen to
    /// the larger integer, integers and decimals to a decimal that holds both, anything with a FLOAT or DOUBLE to
    /// DOUBLE).
    pub fn numeric_common(a: Type, b: Type) -> Option<Type> {
        use Type::*;
        Some(match (a, b) {
            (Null, t) | (t, Null) if t.is_numeric() => t,
            (x, y) if x.is_integer() && y.is_integer() => {
                if x.int_rank() >= y.int_rank() {
                    x
                } else {
                    y
                }
            }
            (Double | Float, y) | (y, Double | Float) if y.is_numeric() => Double,
            (Decimal(p1, s1), Decimal(p2, s2)) => {
                let s = s1.max(s2);
                let int = (p1 - s1).max(p2 - s2);
                Decimal((int + s).min(38), s)
            }
            (Decimal(p, s), i) | (i, Decimal(p, s)) if i.is_integer() => {
                let (ip, _) = i.integer_as_decimal();
                let int = (p - s).max(ip);
                Decimal((int + s).min(38), s)
            }
            _ => return None,
        })
    }

    /// Whether a value of `self` can go into a column of `to` without a CAST (an INSERT's implicit conversion).
    pub fn assignable_to(self, to: Type) -> bool {
        use Type::*;
        if self == to || self == Null {
            return true;
        }
        match (self, to) {
            (x, y) if x.is_integer() && y.is_integer() => x.int_rank() <= y.int_rank(),
            (x, Float | Double) if x.is_numeric() => true,
            (x, Decimal(..)) if x.is_integer() || matches!(x, Decimal(..)) => true,
            (Timestamp(_), Timestamp(_)) | (TimestampLtz(_), TimestampLtz(_)) => true,
            (Timestamp(_), TimestampLtz(_)) | (TimestampLtz(_), Timestamp(_)) => true,
            // A nested value is taken part by part as it is: its parts must convert without a CAST.
            (Array(_) | Map(_) | Row(_), _) => self.same_repr(to) && self.parts_assignable_to(to),
            _ => false,
        }
    }

    /// Whether each part of a nested type is assignable to the other's part (widening integers, say).
    fn parts_assignable_to(self, to: Type) -> bool {
        match (self, to) {
            (Type::Array(a), Type::Array(b)) | (Type::Map(a), Type::Map(b)) => a.ty.assignable_to(b.ty),
            (Type::Row(a), Type::Row(b)) => a.iter().zip(b).all(|(x, y)| x.ty.assignable_to(y.ty)),
            _ => false,
        }
    }

    /// Whether `CAST(x AS to)` is defined for an `x` of this type (Flink's cast matrix, for the types we have).
    pub fn castable_to(self, to: Type) -> bool {
        use Type::*;
        if self == Null || self == to {
            return true;
        }
        match (self, to) {
            (x, y) if x.is_nested() || y.is_nested() => false,
            (_, String) | (String, _) => true,
            (x, y) if x.is_numeric() && y.is_numeric() => true,
            (Boolean, y) | (y, Boolean) if y.is_numeric() => true,
            (x, y) if x.is_timestamp() && (y.is_timestamp() || y == Date) => true,
            (Date, y) if y.is_timestamp() => true,
            _ => false,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("STRING"),
            Type::Boolean => f.write_str("BOOLEAN"),
            Type::TinyInt => f.write_str("TINYINT"),
            Type::SmallInt => f.write_str("SMALLINT"),
            Type::Int => f.write_str("INT"),
            Type::BigInt => f.write_str("BIGINT"),
            Type::Float => f.write_str("FLOAT"),
            Type::Double => f.write_str("DOUBLE"),
            Type::Decimal(p, s) => write!(f, "DECIMAL({p}, {s})"),
            Type::Date => f.write_str("DATE"),
            Type::Timestamp(p) => write!(f, "TIMESTAMP({p})"),
            Type::TimestampLtz(p) => write!(f, "TIMESTAMP_LTZ({p})"),
            Type::Bytes => f.write_str("BYTES"),
            Type::Null => f.write_str("NULL"),
            Type::Array(e) => write!(f, "ARRAY<{}{}>", e.ty, not_null(e.nullable)),
            Type::Map(e) => write!(f, "MAP<STRING, {}{}>", e.ty, not_null(e.nullable)),
            Type::Row(fields) => {
                f.write_str("ROW<")?;
                for (i, field) in fields.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}`{}` {}{}", field.name.replace('`', "``"), field.ty, not_null(field.nullable))?;
                }
                f.write_str(">")
            }
        }
    }
}

fn not_null(nullable: bool) -> &'static str {
    if nullable {
        ""
    } else {
        " NOT NULL"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening() {
        assert_eq!(Type::numeric_common(Type::Int, Type::BigInt), Some(Type::BigInt));
        assert_eq!(Type::numeric_common(Type::Int, Type::Double), Some(Type::Double));
        assert_eq!(Type::numeric_common(Type::Decimal(5, 2), Type::Int), Some(Type::Decimal(12, 2)));
        assert_eq!(Type::numeric_common(Type::Decimal(5, 2), Type::Decimal(10, 4)), Some(Type::Decimal(10, 4)));
        assert_eq!(Type::numeric_common(Type::String, Type::Int), None);
        assert!(Type::Int.assignable_to(Type::BigInt));
        assert!(!Type::BigInt.assignable_to(Type::Int));
        assert!(!Type::String.assignable_to(Type::Int));
        assert!(Type::String.castable_to(Type::Timestamp(3)));
        assert!(!Type::Date.castable_to(Type::Int));
    }

    #[test]
    fn nested_types_are_interned_and_printed_as_flink_writes_them() {
        let a = Type::array(Type::Int, true);
        assert_eq!(a, Type::array(Type::Int, true));
        assert!(matches!((a, Type::array(Type::Int, true)), (Type::Array(x), Type::Array(y)) if std::ptr::eq(x, y)));
        assert_ne!(a, Type::array(Type::Int, false));
        let row = Type::row(vec![
            RowField { name: "id".into(), ty: Type::BigInt, nullable: false },
            RowField { name: "tags".into(), ty: Type::map(a, true), nullable: true },
        ]);
        assert_eq!(row.to_string(), "ROW<`id` BIGINT NOT NULL, `tags` MAP<STRING, ARRAY<INT>>>");
        assert!(a.assignable_to(Type::array(Type::BigInt, true)));
        assert!(!Type::array(Type::BigInt, true).assignable_to(a));
        assert!(!a.assignable_to(Type::array(Type::String, true)));
        assert!(!a.castable_to(Type::String) && a.castable_to(a));
    }
}
