//! Compiled expressions and their evaluation over one record's row. The planner ([`crate::plan`]) has resolved
//! every name to a row slot, checked every type and inserted the implicit casts, so evaluation only computes:
//! NULLs propagate as Flink's rules say (three-valued logic included), and a failure Flink would fail the job on
//! (a CAST that does not parse, a division by zero) is a [`Fail`] naming the expression.

use std::borrow::Cow;
use std::cmp::Ordering;

pub use crate::func::math::Arith;
use crate::func::{self, Func};
use crate::types::Type;
use crate::value::{compare, Val, Why, NULL};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A constant.
    Lit(Val<'static>),
    /// A slot of the row.
    Col(u16),
    /// An expression over the topic alone, computed once per topic: [`crate::plan::Source`]'s per-topic
    /// expression at this index (see [`crate::plan::topical`]).
    Topical(u16),
    /// `NOT x`.
    Not(Box<Expr>),
    /// `a AND b`.
    And(Box<Expr>, Box<Expr>),
    /// `a OR b`.
    Or(Box<Expr>, Box<Expr>),
    /// `x IS NULL` (never NULL).
    IsNull(Box<Expr>),
    /// `x IS TRUE` (`true`) or `x IS FALSE` (`false`); never NULL.
    IsBool(Box<Expr>, bool),
    /// A comparison of two values of the same type.
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    /// `a IS NOT DISTINCT FROM b` (never NULL).
    NotDistinct(Box<Expr>, Box<Expr>),
    /// `x IN (list)`, all of one type.
    In(Box<Expr>, Vec<Expr>),
    /// Arithmetic on operands of the result's type (`ty`); `site` names it in a failure.
    Arith(Arith, Type, Box<Expr>, Box<Expr>, u32),
    /// `-x`.
    Neg(Box<Expr>),
    /// `x LIKE pattern`, the pattern compiled (or computed per record when it is not a constant).
    Like(Box<Expr>, Like),
    /// `CASE WHEN c THEN v … ELSE e END` (the simple form is compiled into this one).
    Case(Vec<(Expr, Expr)>, Box<Expr>),
    /// `CAST(x AS to)` from `from`; `try_` gives NULL where CAST fails.
    Cast {
        /// The operand.
        x: Box<Expr>,
        /// Its type.
        from: Type,
        /// The target type.
        to: Type,
        /// TRY_CAST.
        try_: bool,
        /// The expression, for a failure.
        site: u32,
    },
    /// A built-in function.
    Call(Func, Vec<Expr>, u32),
    /// `array[i]`: the element at 1-based position i, NULL outside the array (as in Flink).
    Item(Box<Expr>, Box<Expr>),
    /// `map[key]`: the key's value, NULL for a key the map does not have.
    Lookup(Box<Expr>, Box<Expr>),
    /// `row.field`: the row's field at this index.
    Field(Box<Expr>, u16),
    /// `ARRAY[a, b, …]`.
    MakeArray(Vec<Expr>),
    /// `MAP[k1, v1, k2, v2, …]` (a repeated key keeps its last value).
    MakeMap(Vec<Expr>),
    /// `ROW(a, b, …)`.
    MakeRow(Vec<Expr>),
    /// `CARDINALITY(x)`: the number of elements of an array or entries of a map.
    Cardinality(Box<Expr>),
}

/// A LIKE pattern.
#[derive(Debug, Clone)]
pub enum Like {
    /// Compiled at plan time.
    Fixed(regex::Regex),
    /// Computed per record (rare).
    Dynamic(Box<Expr>, Option<char>),
}

/// A failure Flink would fail the job on: which expression ([`crate::plan::Plan`] holds its text) and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Fail {
    /// The expression's site.
    pub site: u32,
    /// What went wrong.
    pub message: String,
    /// Whether it was a CAST (`cast_error`) or another evaluation (`eval_error`).
    pub cast: bool,
}

/// What an evaluation reads: the row, the values of the expressions over the topic alone, and the round's clock.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'r> {
    /// The row's slots (see [`crate::plan::Source`]).
    pub row: &'r [Val<'r>],
    /// The per-topic expressions' results for the record's topic, by [`Expr::Topical`] index.
    pub topical: &'r [Res<'static>],
    /// `NOW()`, `CURRENT_TIMESTAMP`: epoch milliseconds of the round.
    pub now_ms: i64,
    /// Strings to build results in.
    pub spare: &'r Spare,
}

/// Strings kept for reuse: a function that builds a string (CONCAT_WS) takes one here, and a record's values give
/// theirs back when the record is done (see `map::recycle`), so a string computed per record is not allocated and
/// freed per record (on the static build an allocation and its free cost ~200 instructions, their lock included).
#[derive(Debug, Default)]
pub struct Spare(std::cell::RefCell<Vec<String>>);

impl Spare {
    /// How many strings are kept, and the largest kept (larger ones are freed: memory stays bounded).
    const KEPT: usize = 32;
    const LARGEST: usize = 64 * 1024;

    /// An empty string, with room for `capacity` bytes if it is a new one.
    pub fn take(&self, capacity: usize) -> String {
        self.0.borrow_mut().pop().unwrap_or_else(|| String::with_capacity(capacity))
    }

    /// Keeps `s`, emptied, for a later [`Spare::take`].
    pub fn put(&self, mut s: String) {
        let mut kept = self.0.borrow_mut();
        if kept.len() < Self::KEPT && s.capacity() <= Self::LARGEST {
            s.clear();
            kept.push(s);
        }
    }
}

/// A result of evaluation.
pub type Res<'r> = Result<Val<'r>, Fail>;

impl Expr {
    /// Evaluates the expression over `ctx`. Columns and constants, most of what a job's SELECT lists, are read
    /// right here (inlined where it is called); the rest walks the tree.
    #[inline(always)]
    pub fn eval<'r>(&'r self, ctx: Ctx<'r>) -> Res<'r> {
        match self {
            Expr::Col(i) => Ok(borrow(&ctx.row[*i as usize])),
            // Constants are borrowed from the plan, never copied.
            Expr::Lit(v) => Ok(borrow(v)),
            _ => self.eval_node(ctx),
        }
    }

    /// [`Expr::eval`] of an expression that computes something.
    fn eval_node<'r>(&'r self, ctx: Ctx<'r>) -> Res<'r> {
        Ok(match self {
            Expr::Lit(v) => borrow(v),
            Expr::Col(i) => borrow(&ctx.row[*i as usize]),
            Expr::Topical(k) => match &ctx.topical[*k as usize] {
                Ok(v) => borrow(v),
                Err(fail) => return Err(fail.clone()),
            },
            Expr::Not(x) => match x.eval(ctx)? {
                Val::Bool(b) => Val::Bool(!b),
                null => null,
            },
            Expr::And(a, b) => match a.eval(ctx)? {
                Val::Bool(false) => Val::Bool(false),
                left => match (left, b.eval(ctx)?) {
                    (_, Val::Bool(false)) => Val::Bool(false),
                    (Val::Bool(true), Val::Bool(true)) => Val::Bool(true),
                    _ => NULL,
                },
            },
            Expr::Or(a, b) => match a.eval(ctx)? {
                Val::Bool(true) => Val::Bool(true),
                left => match (left, b.eval(ctx)?) {
                    (_, Val::Bool(true)) => Val::Bool(true),
                    (Val::Bool(false), Val::Bool(false)) => Val::Bool(false),
                    _ => NULL,
                },
            },
            Expr::IsNull(x) => Val::Bool(x.eval(ctx)?.is_null()),
            Expr::IsBool(x, want) => Val::Bool(x.eval(ctx)? == Val::Bool(*want)),
            Expr::Cmp(op, a, b) => {
                let (a, b) = (a.eval(ctx)?, b.eval(ctx)?);
                if a.is_null() || b.is_null() {
                    return Ok(NULL);
                }
                match compare(&a, &b) {
                    Some(ord) => Val::Bool(holds(*op, ord)),
                    // A NaN: every comparison but <> is false, as Java's primitive comparisons are.
                    None => Val::Bool(*op == Cmp::Ne),
                }
            }
            Expr::NotDistinct(a, b) => {
                let (a, b) = (a.eval(ctx)?, b.eval(ctx)?);
                Val::Bool(match (a.is_null(), b.is_null()) {
                    (true, true) => true,
                    (false, false) => compare(&a, &b) == Some(Ordering::Equal),
                    _ => false,
                })
            }
            Expr::In(x, list) => {
                let x = x.eval(ctx)?;
                if x.is_null() {
                    return Ok(NULL);
                }
                let mut saw_null = false;
                for item in list {
                    let v = item.eval(ctx)?;
                    if v.is_null() {
                        saw_null = true;
                    } else if compare(&x, &v) == Some(Ordering::Equal) {
                        return Ok(Val::Bool(true));
                    }
                }
                if saw_null {
                    NULL
                } else {
                    Val::Bool(false)
                }
            }
            Expr::Arith(op, ty, a, b, site) => {
                let (a, b) = (a.eval(ctx)?, b.eval(ctx)?);
                if a.is_null() || b.is_null() {
                    return Ok(NULL);
                }
                func::math::arith(*op, *ty, &a, &b).map_err(|message| Fail { site: *site, message, cast: false })?
            }
            Expr::Neg(x) => match x.eval(ctx)? {
                Val::Int(n) => Val::Int(n.wrapping_neg()),
                Val::Double(f) => Val::Double(-f),
                Val::Dec(v, s) => Val::Dec(-v, s),
                other => other,
            },
            Expr::Like(x, like) => {
                let x = x.eval(ctx)?;
                let Val::Str(s) = &x else { return Ok(NULL) };
                match like {
                    Like::Fixed(re) => Val::Bool(re.is_match(s)),
                    Like::Dynamic(p, escape) => match p.eval(ctx)? {
                        Val::Str(p) => match func::string::like_regex(&p, *escape) {
                            Ok(re) => Val::Bool(re.is_match(s)),
                            Err(_) => NULL,
                        },
                        _ => NULL,
                    },
                }
            }
            Expr::Case(whens, otherwise) => {
                for (cond, value) in whens {
                    if cond.eval(ctx)? == Val::Bool(true) {
                        return value.eval(ctx);
                    }
                }
                otherwise.eval(ctx)?
            }
            Expr::Cast { x, from, to, try_, site } => {
                let v = x.eval(ctx)?;
                if v.is_null() {
                    return Ok(v);
                }
                match func::cast::cast(v, *from, *to) {
                    Ok(v) => v,
                    Err(_) if *try_ => NULL,
                    Err(message) => return Err(Fail { site: *site, message, cast: true }),
                }
            }
            Expr::Call(f, args, site) => call(f, args, ctx, *site)?,
            Expr::Item(..) | Expr::Lookup(..) | Expr::Field(..) => match self.part(ctx)? {
                Part::In(v) => borrow(v),
                Part::Own(v) => v,
            },
            Expr::MakeArray(items) => Val::array(items.iter().map(|x| x.eval(ctx)).collect::<Result<_, _>>()?),
            Expr::MakeRow(fields) => Val::row(fields.iter().map(|x| x.eval(ctx)).collect::<Result<_, _>>()?),
            Expr::MakeMap(args) => {
                let mut entries: Vec<(Val<'r>, Val<'r>)> = Vec::with_capacity(args.len() / 2);
                for pair in args.chunks(2) {
                    let (k, v) = (pair[0].eval(ctx)?, pair[1].eval(ctx)?);
                    match entries.iter_mut().find(|(key, _)| compare(key, &k) == Some(Ordering::Equal)) {
                        Some(entry) => entry.1 = v,
                        None => entries.push((k, v)),
                    }
                }
                Val::map(entries)
            }
            Expr::Cardinality(x) => match x.part(ctx)?.value() {
                Val::Array(items) => Val::Int(items.len() as i64),
                Val::Map(entries) => Val::Int(entries.len() as i64),
                _ => NULL,
            },
        })
    }

    /// The value of an access path (`col[1].name`, `m['k']`) found in place in the row where it is rooted at a
    /// column, so that reading one element does not copy the whole array; anything else is evaluated.
    fn part<'r>(&'r self, ctx: Ctx<'r>) -> Result<Part<'r>, Fail> {
        let inside = |x: &'r Expr| -> Result<Part<'r>, Fail> { x.part(ctx) };
        Ok(match self {
            Expr::Col(i) => Part::In(&ctx.row[*i as usize]),
            Expr::Field(x, k) => match inside(x)? {
                Part::In(Val::Row(fields)) => Part::In(&fields[*k as usize]),
                Part::Own(Val::Row(mut fields)) => Part::Own(fields.swap_remove(*k as usize)),
                _ => Part::Own(NULL),
            },
            Expr::Item(x, index) => {
                let Val::Int(i) = index.eval(ctx)? else { return Ok(Part::Own(NULL)) };
                let at = usize::try_from(i).ok().and_then(|i| i.checked_sub(1));
                match (inside(x)?, at) {
                    (Part::In(Val::Array(items)), Some(at)) if at < items.len() => Part::In(&items[at]),
                    (Part::Own(Val::Array(mut items)), Some(at)) if at < items.len() => {
                        Part::Own(items.swap_remove(at))
                    }
                    _ => Part::Own(NULL),
                }
            }
            Expr::Lookup(x, key) => {
                let key = key.eval(ctx)?;
                if key.is_null() {
                    return Ok(Part::Own(NULL));
                }
                let same = |k: &Val<'_>| compare(k, &key) == Some(Ordering::Equal);
                match inside(x)? {
                    Part::In(Val::Map(entries)) => match entries.iter().find(|(k, _)| same(k)) {
                        Some((_, v)) => Part::In(v),
                        None => Part::Own(NULL),
                    },
                    Part::Own(Val::Map(mut entries)) => {
                        match std::mem::take(&mut *entries).into_iter().find(|(k, _)| same(k)) {
                            Some((_, v)) => Part::Own(v),
                            None => Part::Own(NULL),
                        }
                    }
                    _ => Part::Own(NULL),
                }
            }
            other => Part::Own(other.eval(ctx)?),
        })
    }
}

/// A value found in the row (borrowed as it is) or computed.
enum Part<'r> {
    In(&'r Val<'r>),
    Own(Val<'r>),
}

impl<'r> Part<'r> {
    /// The value, wherever it is.
    fn value(&self) -> &Val<'r> {
        match self {
            Part::In(v) => v,
            Part::Own(v) => v,
        }
    }
}

/// A slot's value for an expression: strings and bytes borrowed from the row, never copied.
#[inline]
fn borrow<'r>(v: &'r Val<'r>) -> Val<'r> {
    match v {
        Val::Str(s) => Val::Str(Cow::Borrowed(s.as_ref())),
        Val::Bytes(b) => Val::Bytes(Cow::Borrowed(b.as_ref())),
        Val::Null(Why::BadTimestamp(s)) => Val::Null(Why::BadTimestamp(Cow::Borrowed(s.as_ref()))),
        Val::Null(Why::Plain) => NULL,
        Val::Null(Why::Missing(slot)) => Val::Null(Why::Missing(*slot)),
        Val::Null(Why::OutOfRange(ms)) => Val::Null(Why::OutOfRange(*ms)),
        Val::Bool(b) => Val::Bool(*b),
        Val::Int(n) => Val::Int(*n),
        Val::Double(x) => Val::Double(*x),
        Val::Dec(v, s) => Val::Dec(*v, *s),
        Val::Date(d) => Val::Date(*d),
        Val::Ts(ms) => Val::Ts(*ms),
        nested => borrow_nested(nested),
    }
}

/// [`borrow`] of a nested value: copied with its strings borrowed (only jobs that read nested values pay for it).
/// Out of line: it recurses, and [`borrow`] is on every column's path.
#[inline(never)]
fn borrow_nested<'r>(v: &'r Val<'r>) -> Val<'r> {
    match v {
        Val::Array(items) => Val::array(items.iter().map(borrow).collect()),
        Val::Map(entries) => Val::map(entries.iter().map(|(k, v)| (borrow(k), borrow(v))).collect()),
        Val::Row(fields) => Val::row(fields.iter().map(borrow).collect()),
        scalar => scalar.clone(),
    }
}

fn holds(op: Cmp, ord: Ordering) -> bool {
    match op {
        Cmp::Eq => ord == Ordering::Equal,
        Cmp::Ne => ord != Ordering::Equal,
        Cmp::Lt => ord == Ordering::Less,
        Cmp::Le => ord != Ordering::Greater,
        Cmp::Gt => ord == Ordering::Greater,
        Cmp::Ge => ord != Ordering::Less,
    }
}

/// A call of a built-in function: the conditional ones evaluate only the arguments they need; the others are
/// strict (NULL in, NULL out, the first NULL's cause carried on) and computed by [`func::apply`].
fn call<'r>(f: &Func, args: &'r [Expr], ctx: Ctx<'r>, site: u32) -> Res<'r> {
    match f {
        Func::Coalesce => {
            let mut last = NULL;
            for a in args {
                let v = a.eval(ctx)?;
                if !v.is_null() {
                    return Ok(v);
                }
                last = v;
            }
            Ok(last)
        }
        Func::If => {
            if args[0].eval(ctx)? == Val::Bool(true) {
                args[1].eval(ctx)
            } else {
                args[2].eval(ctx)
            }
        }
        Func::NullIf => {
            let a = args[0].eval(ctx)?;
            let b = args[1].eval(ctx)?;
            Ok(if !b.is_null() && compare(&a, &b) == Some(Ordering::Equal) { NULL } else { a })
        }
        Func::ConcatWs => {
            let sep = args[0].eval(ctx)?;
            let Val::Str(sep) = sep else { return Ok(sep) };
            let mut out = ctx.spare.take(96);
            let mut first = true;
            for a in &args[1..] {
                // CAST(x AS STRING) of a DOUBLE is printed straight into the result, not into a string of its own.
                if let Expr::Cast { x, from: crate::types::Type::Double, to: crate::types::Type::String, .. } = a {
                    if let Val::Double(d) = x.eval(ctx)? {
                        if !first {
                            out.push_str(&sep);
                        }
                        crate::value::push_java_double(&mut out, d);
                        first = false;
                    }
                    continue;
                }
                if let Val::Str(s) = a.eval(ctx)? {
                    if !first {
                        out.push_str(&sep);
                    }
                    out.push_str(&s);
                    first = false;
                }
            }
            Ok(Val::Str(Cow::Owned(out)))
        }
        _ if args.len() == 1 => {
            // One argument (TO_EVENT_TIME, EPOCH_MILLIS, UPPER, ...): no argument array to fill and drop.
            let mut v = args[0].eval(ctx)?;
            if v.is_null() {
                return Ok(v);
            }
            func::apply(f, std::slice::from_mut(&mut v), ctx.now_ms).map_err(|message| Fail {
                site,
                message,
                cast: false,
            })
        }
        _ => {
            // Arguments on the stack: most functions take at most four.
            let mut small: [Val<'r>; 4] = [const { NULL }; 4];
            let mut large: Vec<Val<'r>> = Vec::new();
            let vals: &mut [Val<'r>] = if args.len() <= small.len() {
                &mut small[..args.len()]
            } else {
                large.resize(args.len(), NULL);
                &mut large
            };
            for (a, slot) in args.iter().zip(vals.iter_mut()) {
                let v = a.eval(ctx)?;
                if v.is_null() {
                    return Ok(v);
                }
                *slot = v;
            }
            func::apply(f, vals, ctx.now_ms).map_err(|message| Fail { site, message, cast: false })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_strings_come_back_empty_and_memory_stays_bounded() {
        let spare = Spare::default();
        let mut s = spare.take(96);
        assert!(s.is_empty() && s.capacity() >= 96);
        s.push_str("a value of the last record");
        let ptr = s.as_ptr();
        spare.put(s);
        let again = spare.take(8);
        assert_eq!((again.as_ptr(), again.len()), (ptr, 0), "the same buffer, emptied");
        // Too large to keep, and no more than KEPT kept.
        spare.put(String::with_capacity(Spare::LARGEST + 1));
        assert_eq!(spare.0.borrow().len(), 0);
        for _ in 0..Spare::KEPT + 5 {
            spare.put(String::with_capacity(4));
        }
        assert_eq!(spare.0.borrow().len(), Spare::KEPT);
    }
}
