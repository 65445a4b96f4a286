//! Expressions, from sqlparser's tree to ours ([`Expr`]): names resolved to row slots, types checked and
//! inferred, implicit casts inserted, constant patterns compiled once. Every refusal names the expression's
//! position and what is supported.

use std::borrow::Cow;

use sqlparser::ast::{
    self, BinaryOperator, CastKind, FunctionArg, FunctionArgExpr, FunctionArguments, Spanned, UnaryOperator,
};

mod nested;

use super::{Binding, Builder, Scope};
use crate::error::{Pos, Problem};
use crate::expr::{Arith, Cmp, Expr, Like};
use crate::func::json::{Behaviour, JsonValue};
use crate::func::time::Pattern;
use crate::func::{self, Func};
use crate::types::Type;
use crate::value::{parse_decimal, Val, NULL};

/// A compiled expression with its type.
#[derive(Debug, Clone)]
pub struct Typed {
    /// The expression.
    pub expr: Expr,
    /// Its type.
    pub ty: Type,
    /// Whether it can be NULL.
    pub nullable: bool,
}

impl Typed {
    fn new(expr: Expr, ty: Type, nullable: bool) -> Typed {
        Typed { expr, ty, nullable }
    }

    fn lit(v: Val<'static>, ty: Type) -> Typed {
        let nullable = v.is_null();
        Typed { expr: Expr::Lit(v), ty, nullable }
    }

    /// The constant string this is, if it is one.
    fn const_str(&self) -> Option<&str> {
        match &self.expr {
            Expr::Lit(Val::Str(s)) => Some(s),
            _ => None,
        }
    }

    fn const_int(&self) -> Option<i64> {
        // A negative constant is folded into a literal when it is compiled.
        match &self.expr {
            Expr::Lit(Val::Int(n)) => Some(*n),
            _ => None,
        }
    }
}

/// The functions we know, for messages.
pub const FUNCTIONS: &str = "UPPER, LOWER, INITCAP, TRIM, LTRIM, RTRIM, REPLACE, SUBSTRING, SUBSTR, CHAR_LENGTH, \
     CONCAT, CONCAT_WS, POSITION, SPLIT_INDEX, REGEXP_EXTRACT, REGEXP_REPLACE, LPAD, RPAD, MD5, SHA256, COALESCE, \
     NULLIF, IF, IFNULL, ABS, ROUND, FLOOR, CEIL, MOD, POWER, TO_TIMESTAMP, TO_DATE, DATE_FORMAT, UNIX_TIMESTAMP, \
     FROM_UNIXTIME, NOW, CURRENT_TIMESTAMP, LOCALTIMESTAMP, JSON_VALUE, JSON_QUERY, CARDINALITY, ARRAY[…], MAP[…], \
     ROW(…), and etl-rs's EPOCH_MILLIS, TO_EVENT_TIME";

/// Aggregate and window functions, refused by name (one row in, one row out here).
const AGGREGATES: [&str; 12] = [
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "ROW_NUMBER",
    "RANK",
    "DENSE_RANK",
    "LAG",
    "LEAD",
    "FIRST_VALUE",
    "LAST_VALUE",
];

/// Where an expression is.
pub fn pos(e: &ast::Expr) -> Pos {
    Pos::of(e.span().start)
}

impl Builder<'_> {
    /// Compiles `e` in `scope`.
    pub fn compile(&mut self, e: &ast::Expr, scope: &mut Scope) -> Result<Typed, Problem> {
        let at = pos(e);
        Ok(match e {
            ast::Expr::Identifier(id) => self.column(&id.value, None, at, scope)?,
            ast::Expr::CompoundIdentifier(parts) => self.compound(e, parts, scope)?,
            ast::Expr::CompoundFieldAccess { root, access_chain } => self.access(e, root, access_chain, scope)?,
            ast::Expr::Array(array) => self.array(e, &array.elem, scope)?,
            ast::Expr::Nested(x) => self.compile(x, scope)?,
            ast::Expr::Value(v) => literal(&v.value, at)?,
            ast::Expr::TypedString(ts) => {
                let ty = sql_type(&ts.data_type, at)?;
                let text = match &ts.value.value {
                    ast::Value::SingleQuotedString(s) => s.clone(),
                    other => return Err(Problem::at(at, format!("expected a quoted literal, found {other}"))),
                };
                let v = func::cast::cast(Val::Str(Cow::Owned(text)), Type::String, ty)
                    .map_err(|m| Problem::at(at, format!("the literal {e} is not a {ty}: {m}")))?;
                Typed::lit(v.into_owned(), ty)
            }
            ast::Expr::UnaryOp { op, expr } => {
                let x = self.compile(expr, scope)?;
                match op {
                    UnaryOperator::Not => {
                        let x = self.boolean(x, expr)?;
                        Typed::new(Expr::Not(Box::new(x.expr)), Type::Boolean, x.nullable)
                    }
                    UnaryOperator::Minus => {
                        self.numeric(&x, expr)?;
                        match x.expr {
                            // A negative constant is a constant (JSON_VALUE's DEFAULT -1, a LIMIT-like -1).
                            Expr::Lit(Val::Int(n)) => Typed::lit(Val::Int(n.wrapping_neg()), x.ty),
                            Expr::Lit(Val::Double(f)) => Typed::lit(Val::Double(-f), x.ty),
                            Expr::Lit(Val::Dec(v, s)) => Typed::lit(Val::Dec(-v, s), x.ty),
                            other => Typed::new(Expr::Neg(Box::new(other)), x.ty, x.nullable),
                        }
                    }
                    UnaryOperator::Plus => {
                        self.numeric(&x, expr)?;
                        x
                    }
                    other => return Err(Problem::at(at, format!("the operator {other} is not supported"))),
                }
            }
            ast::Expr::BinaryOp { left, op, right } => self.binary(e, left, op, right, scope)?,
            ast::Expr::IsNull(x) => {
                let x = self.compile(x, scope)?;
                Typed::new(Expr::IsNull(Box::new(x.expr)), Type::Boolean, false)
            }
            ast::Expr::IsNotNull(x) => {
                let x = self.compile(x, scope)?;
                Typed::new(Expr::Not(Box::new(Expr::IsNull(Box::new(x.expr)))), Type::Boolean, false)
            }
            ast::Expr::IsTrue(x) | ast::Expr::IsNotTrue(x) | ast::Expr::IsFalse(x) | ast::Expr::IsNotFalse(x) => {
                let t = self.compile(x, scope)?;
                let t = self.boolean(t, x)?;
                let want = matches!(e, ast::Expr::IsTrue(_) | ast::Expr::IsNotTrue(_));
                let test = Expr::IsBool(Box::new(t.expr), want);
                let test = if matches!(e, ast::Expr::IsNotTrue(_) | ast::Expr::IsNotFalse(_)) {
                    Expr::Not(Box::new(test))
                } else {
                    test
                };
                Typed::new(test, Type::Boolean, false)
            }
            ast::Expr::IsDistinctFrom(a, b) | ast::Expr::IsNotDistinctFrom(a, b) => {
                let (a, b) = self.comparable(a, b, scope)?;
                let same = Expr::NotDistinct(Box::new(a.expr), Box::new(b.expr));
                let test = if matches!(e, ast::Expr::IsDistinctFrom(..)) { Expr::Not(Box::new(same)) } else { same };
                Typed::new(test, Type::Boolean, false)
            }
            ast::Expr::In { expr, target, negated, .. } => {
                let list = match target {
                    ast::InTarget::List(list) => list,
                    _ => return Err(unsupported(at, "IN with a subquery", "IN (value, …)")),
                };
                let x = self.compile(expr, scope)?;
                let mut items = Vec::new();
                let mut ty = x.ty;
                let mut nullable = x.nullable;
                let mut compiled = Vec::new();
                for item in list {
                    let t = self.compile(item, scope)?;
                    ty = self.common(ty, t.ty, item)?;
                    nullable |= t.nullable;
                    compiled.push(t);
                }
                for t in compiled {
                    items.push(coerce(t, ty));
                }
                let test = Expr::In(Box::new(coerce(x, ty)), items);
                let test = if *negated { Expr::Not(Box::new(test)) } else { test };
                Typed::new(test, Type::Boolean, nullable)
            }
            ast::Expr::Between { expr, negated, low, high } => {
                let (x1, lo) = self.comparable(expr, low, scope)?;
                let (x2, hi) = self.comparable(expr, high, scope)?;
                let nullable = x1.nullable || lo.nullable || hi.nullable;
                let test = Expr::And(
                    Box::new(Expr::Cmp(Cmp::Ge, Box::new(x1.expr), Box::new(lo.expr))),
                    Box::new(Expr::Cmp(Cmp::Le, Box::new(x2.expr), Box::new(hi.expr))),
                );
                let test = if *negated { Expr::Not(Box::new(test)) } else { test };
                Typed::new(test, Type::Boolean, nullable)
            }
            ast::Expr::Like { negated, any: false, expr, pattern, escape_char } => {
                let x = self.compile(expr, scope)?;
                self.string(&x, expr)?;
                let p = self.compile(pattern, scope)?;
                self.string(&p, pattern)?;
                let escape = match escape_char.as_deref() {
                    None => None,
                    Some(ast::Expr::Value(v)) => match &v.value {
                        ast::Value::SingleQuotedString(s) if s.chars().count() == 1 => s.chars().next(),
                        _ => return Err(Problem::at(at, "the ESCAPE of LIKE is one character in quotes")),
                    },
                    Some(other) => {
                        return Err(Problem::at(pos(other), "the ESCAPE of LIKE is one character in quotes"))
                    }
                };
                let like = match p.const_str() {
                    Some(text) => Like::Fixed(
                        func::string::like_regex(text, escape)
                            .map_err(|m| Problem::at(pos(pattern), format!("invalid LIKE pattern: {m}")))?,
                    ),
                    None => Like::Dynamic(Box::new(p.expr), escape),
                };
                let test = Expr::Like(Box::new(x.expr), like);
                let test = if *negated { Expr::Not(Box::new(test)) } else { test };
                Typed::new(test, Type::Boolean, x.nullable || p.nullable)
            }
            ast::Expr::Case { operand, conditions, else_result, .. } => {
                let operand = match operand {
                    Some(o) => Some((self.compile(o, scope)?, o)),
                    None => None,
                };
                let mut whens = Vec::new();
                let mut results = Vec::new();
                for w in conditions {
                    let cond = match &operand {
                        Some((o, oe)) => {
                            let v = self.compile(&w.condition, scope)?;
                            let ty = self.common(o.ty, v.ty, oe)?;
                            Expr::Cmp(Cmp::Eq, Box::new(coerce(o.clone(), ty)), Box::new(coerce(v, ty)))
                        }
                        None => {
                            let c = self.compile(&w.condition, scope)?;
                            self.boolean(c, &w.condition)?.expr
                        }
                    };
                    whens.push(cond);
                    results.push((self.compile(&w.result, scope)?, &w.result));
                }
                let otherwise = match else_result {
                    Some(x) => (self.compile(x, scope)?, &**x),
                    None => (Typed::lit(NULL, Type::Null), e),
                };
                let mut ty = otherwise.0.ty;
                let mut nullable = otherwise.0.nullable;
                for (r, re) in &results {
                    ty = self.common(ty, r.ty, re)?;
                    nullable |= r.nullable;
                }
                let whens = whens.into_iter().zip(results).map(|(c, (r, _))| (c, coerce(r, ty))).collect();
                Typed::new(Expr::Case(whens, Box::new(coerce(otherwise.0, ty))), ty, nullable)
            }
            ast::Expr::Cast { kind, expr, data_type, format: None } => {
                let x = self.compile(expr, scope)?;
                let to = sql_type(data_type, at)?;
                let try_ = matches!(kind, CastKind::TryCast | CastKind::SafeCast);
                if !x.ty.castable_to(to) {
                    return Err(Problem::at(at, format!("cannot cast {} to {to}", x.ty)));
                }
                if x.ty == to {
                    return Ok(x);
                }
                let site = self.site(e);
                let nullable = x.nullable || try_ || matches!(to, Type::Decimal(..));
                if let Expr::Lit(v) = &x.expr {
                    // A constant is cast now: a literal that cannot be cast is an error in the job, not per record.
                    // `CAST(NULL AS BIGINT)` is a typed NULL.
                    if v.is_null() {
                        return Ok(Typed::lit(NULL, to));
                    }
                    return match func::cast::cast(v.clone(), x.ty, to) {
                        Ok(v) => Ok(Typed::lit(v.into_owned(), to)),
                        Err(_) if try_ => Ok(Typed::lit(NULL, to)),
                        Err(m) => Err(Problem::at(at, format!("{e}: {m}"))),
                    };
                }
                Typed::new(Expr::Cast { x: Box::new(x.expr), from: x.ty, to, try_, site }, to, nullable)
            }
            ast::Expr::Function(f) => self.function(e, f, scope)?,
            ast::Expr::Substring { expr, substring_from, substring_for, .. } => {
                let mut args = vec![&**expr];
                args.push(substring_from.as_deref().unwrap_or(&ONE));
                if let Some(len) = substring_for {
                    args.push(len);
                }
                self.call("SUBSTRING", e, &args, scope)?
            }
            ast::Expr::Trim { trim_where, trim_what, expr, trim_characters } => {
                if trim_characters.is_some() {
                    return Err(unsupported(
                        at,
                        "TRIM with a list of characters",
                        "TRIM([BOTH|LEADING|TRAILING] ['chars' FROM] s)",
                    ));
                }
                let (leading, trailing) = match trim_where {
                    Some(ast::TrimWhereField::Leading) => (true, false),
                    Some(ast::TrimWhereField::Trailing) => (false, true),
                    _ => (true, true),
                };
                let s = self.compile(expr, scope)?;
                self.string(&s, expr)?;
                let mut nullable = s.nullable;
                let mut args = vec![s.expr];
                if let Some(w) = trim_what {
                    let c = self.compile(w, scope)?;
                    self.string(&c, w)?;
                    nullable |= c.nullable;
                    args.push(c.expr);
                }
                let site = self.site(e);
                Typed::new(Expr::Call(Func::Trim { leading, trailing }, args, site), Type::String, nullable)
            }
            ast::Expr::Position { expr, r#in } => self.call("POSITION", e, &[&**expr, &**r#in], scope)?,
            ast::Expr::Ceil { expr, field } | ast::Expr::Floor { expr, field } => {
                if !matches!(field, ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime)) {
                    return Err(unsupported(at, "CEIL/FLOOR with a unit or scale", "CEIL(x), FLOOR(x)"));
                }
                let name = if matches!(e, ast::Expr::Ceil { .. }) { "CEIL" } else { "FLOOR" };
                self.call(name, e, &[&**expr], scope)?
            }
            ast::Expr::Subquery(_) | ast::Expr::Exists { .. } => {
                return Err(unsupported(at, "subqueries", "one SELECT per table, joined by UNION ALL"))
            }
            other => {
                return Err(Problem::at(at, format!("unsupported expression {other}")).hint(format!(
                    "supported: columns, literals, arithmetic, comparisons, AND/OR/NOT, IS [NOT] NULL, IN, LIKE, \
                     BETWEEN, CASE, CAST, TRY_CAST, and the functions {FUNCTIONS}"
                )))
            }
        })
    }

    /// A column by name (and optional table qualifier).
    fn column(&mut self, name: &str, qualifier: Option<&str>, at: Pos, scope: &mut Scope) -> Result<Typed, Problem> {
        if let Some(q) = qualifier {
            if !scope.qualifiers.iter().any(|x| x == q) {
                return Err(Problem::at(at, format!("unknown table {q}"))
                    .hint(format!("this SELECT reads {}", scope.qualifiers.join(" / "))));
            }
        }
        let found = scope.names.iter().position(|(n, _)| n == name);
        let Some(i) = found else {
            let names: Vec<&str> = scope.names.iter().map(|(n, _)| n.as_str()).collect();
            let near = names.iter().find(|n| n.eq_ignore_ascii_case(name));
            let hint = match near {
                Some(n) => format!("names are case-sensitive: did you mean `{n}`?"),
                None => format!(
                    "the columns of {}: {}",
                    scope.qualifiers.first().map_or("it", String::as_str),
                    names.join(", ")
                ),
            };
            return Err(Problem::at(at, format!("unknown column `{name}`")).hint(hint));
        };
        match scope.names[i].1.clone() {
            Binding::Typed(t) => Ok(t),
            Binding::Column { table, col } => self.table_column(scope.source, table, col),
        }
    }

    /// `a op b`.
    fn binary(
        &mut self,
        e: &ast::Expr,
        left: &ast::Expr,
        op: &BinaryOperator,
        right: &ast::Expr,
        scope: &mut Scope,
    ) -> Result<Typed, Problem> {
        let at = pos(e);
        let cmp = match op {
            BinaryOperator::Eq => Some(Cmp::Eq),
            BinaryOperator::NotEq => Some(Cmp::Ne),
            BinaryOperator::Lt => Some(Cmp::Lt),
            BinaryOperator::LtEq => Some(Cmp::Le),
            BinaryOperator::Gt => Some(Cmp::Gt),
            BinaryOperator::GtEq => Some(Cmp::Ge),
            _ => None,
        };
        if let Some(cmp) = cmp {
            let (a, b) = self.comparable(left, right, scope)?;
            let nullable = a.nullable || b.nullable;
            return Ok(Typed::new(Expr::Cmp(cmp, Box::new(a.expr), Box::new(b.expr)), Type::Boolean, nullable));
        }
        match op {
            BinaryOperator::And | BinaryOperator::Or => {
                let a = self.compile(left, scope)?;
                let a = self.boolean(a, left)?;
                let b = self.compile(right, scope)?;
                let b = self.boolean(b, right)?;
                let nullable = a.nullable || b.nullable;
                let (a, b) = (Box::new(a.expr), Box::new(b.expr));
                let x = if *op == BinaryOperator::And { Expr::And(a, b) } else { Expr::Or(a, b) };
                Ok(Typed::new(x, Type::Boolean, nullable))
            }
            BinaryOperator::StringConcat => self.call("CONCAT", e, &[left, right], scope),
            BinaryOperator::Plus
            | BinaryOperator::Minus
            | BinaryOperator::Multiply
            | BinaryOperator::Divide
            | BinaryOperator::Modulo => {
                let a = self.compile(left, scope)?;
                let b = self.compile(right, scope)?;
                let op = match op {
                    BinaryOperator::Plus => Arith::Add,
                    BinaryOperator::Minus => Arith::Sub,
                    BinaryOperator::Multiply => Arith::Mul,
                    BinaryOperator::Divide => Arith::Div,
                    _ => Arith::Rem,
                };
                self.arith(e, op, a, left, b, right)
            }
            other => Err(Problem::at(at, format!("the operator {other} is not supported"))
                .hint("supported: + - * / %, = <> < <= > >=, AND, OR, ||")),
        }
    }

    /// Typed arithmetic, with Flink's result types.
    fn arith(
        &mut self,
        e: &ast::Expr,
        op: Arith,
        a: Typed,
        ae: &ast::Expr,
        b: Typed,
        be: &ast::Expr,
    ) -> Result<Typed, Problem> {
        self.numeric(&a, ae)?;
        self.numeric(&b, be)?;
        let common = Type::numeric_common(a.ty, b.ty).unwrap_or(Type::Double);
        let ty = match common {
            Type::Decimal(..) => {
                let (p1, s1) = as_decimal(a.ty);
                let (p2, s2) = as_decimal(b.ty);
                let (p, s) = match op {
                    Arith::Add | Arith::Sub => {
                        let s = s1.max(s2);
                        (((p1 - s1).max(p2 - s2) + s + 1).min(38), s)
                    }
                    Arith::Mul => ((p1 + p2).min(38), (s1 + s2).min(38)),
                    Arith::Div => {
                        let s = 6u8.max(s1 + p2 + 1);
                        let p = p1 - s1 + s2 + s;
                        if p > 38 {
                            let int = p - s;
                            (38, s.min(38u8.saturating_sub(int)).max(6.min(s)))
                        } else {
                            (p, s)
                        }
                    }
                    Arith::Rem => (p2.min(p1), s1.max(s2)),
                };
                Type::Decimal(p, s)
            }
            other => other,
        };
        let operand = |t: Typed| match ty {
            Type::Decimal(..) if t.ty.is_integer() => {
                let (p, s) = t.ty.integer_as_decimal();
                coerce(t, Type::Decimal(p, s))
            }
            Type::Decimal(..) => t.expr,
            other => coerce(t, other),
        };
        let nullable = a.nullable || b.nullable || matches!(ty, Type::Decimal(..));
        let site = self.site(e);
        Ok(Typed::new(Expr::Arith(op, ty, Box::new(operand(a)), Box::new(operand(b)), site), ty, nullable))
    }

    /// Both sides of a comparison, cast to one type.
    fn comparable(
        &mut self,
        left: &ast::Expr,
        right: &ast::Expr,
        scope: &mut Scope,
    ) -> Result<(Typed, Typed), Problem> {
        let a = self.compile(left, scope)?;
        let b = self.compile(right, scope)?;
        // A string constant against a time: the constant is read as that type (ts > '2021-01-01 00:00:00').
        let (aty, bty) = (a.ty, b.ty);
        let (a, b) = (self.literal_as(a, bty, left)?, self.literal_as(b, aty, right)?);
        if a.ty.is_nested() || b.ty.is_nested() {
            return Err(Problem::at(pos(right), format!("comparing {} with {} is not supported", a.ty, b.ty))
                .hint("compare their parts: array[1], map['key'], row.field, CARDINALITY(array)"));
        }
        let ty = self.common(a.ty, b.ty, right)?;
        Ok((Typed { expr: coerce(a.clone(), ty), ..a }, Typed { expr: coerce(b.clone(), ty), ..b }))
    }

    /// A string constant read as `ty` when `ty` is a time type; anything else unchanged.
    fn literal_as(&mut self, t: Typed, ty: Type, e: &ast::Expr) -> Result<Typed, Problem> {
        if t.ty == Type::String && (ty.is_timestamp() || ty == Type::Date) {
            if let Expr::Lit(v) = &t.expr {
                let v = func::cast::cast(v.clone(), Type::String, ty)
                    .map_err(|m| Problem::at(pos(e), format!("{e} is not a {ty}: {m}")))?;
                return Ok(Typed::lit(v.into_owned(), ty));
            }
        }
        Ok(t)
    }

    /// The type two values are compared or chosen in.
    fn common(&self, a: Type, b: Type, at: &ast::Expr) -> Result<Type, Problem> {
        if a == b || b == Type::Null {
            return Ok(a);
        }
        if a == Type::Null {
            return Ok(b);
        }
        if let Some(t) = Type::numeric_common(a, b) {
            return Ok(t);
        }
        match (a, b) {
            (Type::Timestamp(p), Type::Timestamp(q)) | (Type::TimestampLtz(p), Type::TimestampLtz(q)) => {
                Ok(if matches!(a, Type::Timestamp(_)) {
                    Type::Timestamp(p.max(q))
                } else {
                    Type::TimestampLtz(p.max(q))
                })
            }
            (x, y) if x.is_timestamp() && (y.is_timestamp() || y == Type::Date) => Ok(x),
            (Type::Date, y) if y.is_timestamp() => Ok(y),
            _ => Err(Problem::at(pos(at), format!("cannot compare or combine {a} with {b}"))
                .hint("CAST one side to the other's type")),
        }
    }

    fn boolean(&self, t: Typed, e: &ast::Expr) -> Result<Typed, Problem> {
        match t.ty {
            Type::Boolean => Ok(t),
            Type::Null => Ok(Typed { ty: Type::Boolean, ..t }),
            other => Err(Problem::at(pos(e), format!("{e} is {other}, but a BOOLEAN is needed here"))),
        }
    }

    fn numeric(&self, t: &Typed, e: &ast::Expr) -> Result<(), Problem> {
        if t.ty.is_numeric() || t.ty == Type::Null {
            Ok(())
        } else {
            Err(Problem::at(pos(e), format!("{e} is {}, but a number is needed here", t.ty))
                .hint("CAST it to a numeric type"))
        }
    }

    fn string(&self, t: &Typed, e: &ast::Expr) -> Result<(), Problem> {
        if t.ty == Type::String || t.ty == Type::Null {
            Ok(())
        } else {
            Err(Problem::at(pos(e), format!("{e} is {}, but a STRING is needed here", t.ty))
                .hint(format!("CAST({e} AS STRING)")))
        }
    }

    fn integer(&self, t: &Typed, e: &ast::Expr) -> Result<(), Problem> {
        if t.ty.is_integer() || t.ty == Type::Null {
            Ok(())
        } else {
            Err(Problem::at(pos(e), format!("{e} is {}, but an integer is needed here", t.ty)))
        }
    }

    /// A function call written `NAME(args)`.
    fn function(&mut self, e: &ast::Expr, f: &ast::Function, scope: &mut Scope) -> Result<Typed, Problem> {
        let at = pos(e);
        let name = match f.name.0.as_slice() {
            [ast::ObjectNamePart::Identifier(id)] => id.value.to_ascii_uppercase(),
            _ => {
                return Err(
                    Problem::at(at, format!("unknown function {}", f.name)).hint(format!("supported: {FUNCTIONS}"))
                )
            }
        };
        if AGGREGATES.contains(&name.as_str()) {
            return Err(unsupported(at, "aggregate and window functions", "scalar functions, one row in, one row out"));
        }
        if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
            return Err(unsupported(at, "window and aggregate functions", "scalar functions"));
        }
        let args: Vec<&ast::Expr> = match &f.args {
            FunctionArguments::None => Vec::new(),
            FunctionArguments::List(list) => {
                if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
                    return Err(unsupported(at, "DISTINCT and clauses in function arguments", "plain arguments"));
                }
                let mut out = Vec::new();
                for a in &list.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => out.push(x),
                        _ => return Err(unsupported(at, "named or wildcard arguments", "plain arguments")),
                    }
                }
                out
            }
            FunctionArguments::Subquery(_) => return Err(unsupported(at, "subqueries", "plain arguments")),
        };
        if name == super::JSON_VALUE_CALL {
            return self.json_value(e, &args, scope);
        }
        if name == super::JSON_QUERY_CALL {
            return self.json_query(e, &args, scope);
        }
        if let Some(t) = self.nested_call(&name, e, &args, scope)? {
            return Ok(t);
        }
        self.call(&name, e, &args, scope)
    }

    /// A built-in function by name.
    fn call(&mut self, name: &str, e: &ast::Expr, args: &[&ast::Expr], scope: &mut Scope) -> Result<Typed, Problem> {
        let at = pos(e);
        if matches!(
            name,
            "COUNT" | "SUM" | "AVG" | "MIN" | "MAX" | "ROW_NUMBER" | "LAG" | "LEAD" | "FIRST_VALUE" | "LAST_VALUE"
        ) {
            return Err(unsupported(at, "aggregate and window functions", "scalar functions, one row in, one row out"));
        }
        let arity = |lo: usize, hi: usize| -> Result<(), Problem> {
            if (lo..=hi).contains(&args.len()) {
                Ok(())
            } else {
                let want = if lo == hi {
                    lo.to_string()
                } else if hi == usize::MAX {
                    format!("{lo} or more")
                } else {
                    format!("{lo} to {hi}")
                };
                Err(Problem::at(at, format!("{name} takes {want} arguments, not {}", args.len())))
            }
        };
        let mut typed = Vec::new();
        for a in args {
            typed.push(self.compile(a, scope)?);
        }
        let any_nullable = typed.iter().any(|t| t.nullable);
        let site = self.site(e);
        let strings = |b: &Self, idx: &[usize]| -> Result<(), Problem> {
            for &i in idx {
                if i < typed.len() {
                    b.string(&typed[i], args[i])?;
                }
            }
            Ok(())
        };
        let ints = |b: &Self, idx: &[usize]| -> Result<(), Problem> {
            for &i in idx {
                if i < typed.len() {
                    b.integer(&typed[i], args[i])?;
                }
            }
            Ok(())
        };
        let exprs = |typed: Vec<Typed>| typed.into_iter().map(|t| t.expr).collect::<Vec<_>>();
        let pattern = |t: Option<&Typed>, a: Option<&&ast::Expr>| -> Result<Option<Pattern>, Problem> {
            match (t.and_then(Typed::const_str), a) {
                (Some(p), Some(a)) => Pattern::new(p).map(Some).map_err(|m| Problem::at(pos(a), m)),
                _ => Ok(None),
            }
        };
        let (func, ty, nullable) = match name {
            "UPPER" | "LOWER" | "INITCAP" | "CHAR_LENGTH" | "CHARACTER_LENGTH" | "MD5" | "SHA256" | "LTRIM"
            | "RTRIM" => {
                arity(1, 1)?;
                strings(self, &[0])?;
                let f = match name {
                    "UPPER" => Func::Upper,
                    "LOWER" => Func::Lower,
                    "INITCAP" => Func::InitCap,
                    "MD5" => Func::Md5,
                    "SHA256" => Func::Sha256,
                    "LTRIM" => Func::Trim { leading: true, trailing: false },
                    "RTRIM" => Func::Trim { leading: false, trailing: true },
                    _ => Func::CharLength,
                };
                let ty = if matches!(f, Func::CharLength) { Type::Int } else { Type::String };
                (f, ty, any_nullable)
            }
            "TRIM" => {
                arity(1, 1)?;
                strings(self, &[0])?;
                (Func::Trim { leading: true, trailing: true }, Type::String, any_nullable)
            }
            "REPLACE" => {
                arity(3, 3)?;
                strings(self, &[0, 1, 2])?;
                (Func::Replace, Type::String, any_nullable)
            }
            "SUBSTRING" | "SUBSTR" => {
                arity(2, 3)?;
                strings(self, &[0])?;
                ints(self, &[1, 2])?;
                (Func::Substring, Type::String, true)
            }
            "CONCAT" => {
                arity(1, usize::MAX)?;
                strings(self, &(0..typed.len()).collect::<Vec<_>>())?;
                (Func::Concat, Type::String, any_nullable)
            }
            "CONCAT_WS" => {
                arity(2, usize::MAX)?;
                strings(self, &(0..typed.len()).collect::<Vec<_>>())?;
                (Func::ConcatWs, Type::String, typed[0].nullable)
            }
            "POSITION" => {
                arity(2, 2)?;
                strings(self, &[0, 1])?;
                (Func::Position, Type::Int, any_nullable)
            }
            "SPLIT_INDEX" => {
                arity(3, 3)?;
                strings(self, &[0, 1])?;
                ints(self, &[2])?;
                (Func::SplitIndex, Type::String, true)
            }
            "REGEXP_EXTRACT" | "REGEXP_REPLACE" => {
                if name == "REGEXP_EXTRACT" {
                    arity(2, 3)?;
                    strings(self, &[0, 1])?;
                    ints(self, &[2])?;
                } else {
                    arity(3, 3)?;
                    strings(self, &[0, 1, 2])?;
                }
                let re = match typed[1].const_str() {
                    Some(p) => Some(regex::Regex::new(p).map_err(|err| {
                        Problem::at(pos(args[1]), format!("invalid regular expression: {err}"))
                            .hint("the syntax is Rust's regex crate (close to Java's, without look-around and backreferences)")
                    })?),
                    None => None,
                };
                let f = if name == "REGEXP_EXTRACT" { Func::RegexpExtract(re) } else { Func::RegexpReplace(re) };
                (f, Type::String, true)
            }
            "LPAD" | "RPAD" => {
                arity(3, 3)?;
                strings(self, &[0, 2])?;
                ints(self, &[1])?;
                (if name == "LPAD" { Func::Lpad } else { Func::Rpad }, Type::String, true)
            }
            "COALESCE" | "IFNULL" => {
                if name == "IFNULL" {
                    arity(2, 2)?;
                } else {
                    arity(1, usize::MAX)?;
                }
                let mut ty = Type::Null;
                for (t, a) in typed.iter().zip(args) {
                    ty = self.common(ty, t.ty, a)?;
                }
                let nullable = typed.iter().all(|t| t.nullable);
                let exprs = typed.into_iter().map(|t| coerce(t, ty)).collect();
                return Ok(Typed::new(Expr::Call(Func::Coalesce, exprs, site), ty, nullable));
            }
            "NULLIF" => {
                arity(2, 2)?;
                let ty = self.common(typed[0].ty, typed[1].ty, args[1])?;
                let exprs = typed.into_iter().map(|t| coerce(t, ty)).collect();
                return Ok(Typed::new(Expr::Call(Func::NullIf, exprs, site), ty, true));
            }
            "IF" => {
                arity(3, 3)?;
                let mut it = typed.into_iter();
                let cond = self.boolean(it.next().expect("three"), args[0])?;
                let (a, b) = (it.next().expect("three"), it.next().expect("three"));
                let ty = self.common(a.ty, b.ty, args[2])?;
                let nullable = a.nullable || b.nullable;
                return Ok(Typed::new(
                    Expr::Call(Func::If, vec![cond.expr, coerce(a, ty), coerce(b, ty)], site),
                    ty,
                    nullable,
                ));
            }
            "ABS" | "FLOOR" | "CEIL" | "CEILING" => {
                arity(1, 1)?;
                self.numeric(&typed[0], args[0])?;
                let ty = match (name, typed[0].ty) {
                    ("ABS", t) => t,
                    (_, Type::Decimal(p, s)) => Type::Decimal((p - s + 1).min(38), 0),
                    (_, t) => t,
                };
                let f = match name {
                    "ABS" => Func::Abs,
                    "FLOOR" => Func::Floor,
                    _ => Func::Ceil,
                };
                (f, ty, any_nullable)
            }
            "ROUND" => {
                arity(1, 2)?;
                self.numeric(&typed[0], args[0])?;
                ints(self, &[1])?;
                let d = typed.get(1).and_then(Typed::const_int).unwrap_or(0);
                let ty = match typed[0].ty {
                    Type::Decimal(p, s) => {
                        if d >= i64::from(s) {
                            Type::Decimal(p, s)
                        } else if d < 0 {
                            Type::Decimal((1 + p - s).min(38), 0)
                        } else {
                            Type::Decimal((1 + p - s + d as u8).min(38), d as u8)
                        }
                    }
                    t => t,
                };
                (Func::Round(ty), ty, any_nullable || matches!(ty, Type::Decimal(..)))
            }
            "MOD" => {
                arity(2, 2)?;
                let mut it = typed.into_iter();
                let (a, b) = (it.next().expect("two"), it.next().expect("two"));
                return self.arith(e, Arith::Rem, a, args[0], b, args[1]);
            }
            "POWER" | "POW" => {
                arity(2, 2)?;
                self.numeric(&typed[0], args[0])?;
                self.numeric(&typed[1], args[1])?;
                (Func::Power, Type::Double, any_nullable)
            }
            "TO_TIMESTAMP" => {
                arity(1, 2)?;
                strings(self, &[0, 1])?;
                (Func::ToTimestamp(pattern(typed.get(1), args.get(1))?), Type::Timestamp(3), true)
            }
            "TO_DATE" => {
                arity(1, 2)?;
                strings(self, &[0, 1])?;
                (Func::ToDate(pattern(typed.get(1), args.get(1))?), Type::Date, true)
            }
            "DATE_FORMAT" => {
                arity(2, 2)?;
                strings(self, &[1])?;
                let from_string = typed[0].ty == Type::String;
                if !from_string && !typed[0].ty.is_timestamp() && typed[0].ty != Type::Null {
                    return Err(Problem::at(
                        pos(args[0]),
                        format!("DATE_FORMAT takes a TIMESTAMP or STRING, not {}", typed[0].ty),
                    ));
                }
                (Func::DateFormat(pattern(typed.get(1), args.get(1))?, from_string), Type::String, true)
            }
            "UNIX_TIMESTAMP" => {
                arity(0, 2)?;
                strings(self, &[0, 1])?;
                (Func::UnixTimestamp(pattern(typed.get(1), args.get(1))?), Type::BigInt, any_nullable)
            }
            "FROM_UNIXTIME" => {
                arity(1, 2)?;
                ints(self, &[0])?;
                strings(self, &[1])?;
                (Func::FromUnixtime(pattern(typed.get(1), args.get(1))?), Type::String, true)
            }
            "NOW" | "CURRENT_TIMESTAMP" | "LOCALTIMESTAMP" | "CURRENT_ROW_TIMESTAMP" => {
                arity(0, 0)?;
                let ty = if name == "LOCALTIMESTAMP" { Type::Timestamp(3) } else { Type::TimestampLtz(3) };
                (Func::Now, ty, false)
            }
            "EPOCH_MILLIS" => {
                arity(1, 1)?;
                if !typed[0].ty.is_timestamp() && typed[0].ty != Type::Null {
                    return Err(Problem::at(
                        pos(args[0]),
                        format!("EPOCH_MILLIS takes a TIMESTAMP, not {}", typed[0].ty),
                    ));
                }
                (Func::EpochMillis, Type::BigInt, any_nullable)
            }
            "TO_EVENT_TIME" => {
                arity(1, 1)?;
                strings(self, &[0])?;
                (Func::ToEventTime, Type::Timestamp(3), true)
            }
            "JSON_VALUE" => return self.json_value(e, args, scope),
            "JSON_QUERY" => return self.json_query(e, args, scope),
            _ => {
                return Err(Problem::at(at, format!("unknown function {name}")).hint(format!("supported: {FUNCTIONS}")))
            }
        };
        Ok(Typed::new(Expr::Call(func, exprs(typed), site), ty, nullable))
    }

    /// The JSON text and the path of a JSON function `name` called with `(json, path)` or with the `full` number of
    /// arguments the dialect's hook gives it: the compiled text, the path's steps, and whether it is strict.
    fn json_input(
        &mut self,
        name: &str,
        e: &ast::Expr,
        args: &[&ast::Expr],
        full: usize,
        scope: &mut Scope,
    ) -> Result<(Typed, Vec<func::json::Step>, bool), Problem> {
        if args.len() != 2 && args.len() != full {
            return Err(Problem::at(pos(e), format!("{name} takes a value and a path, not {} arguments", args.len())));
        }
        let json = self.compile(args[0], scope)?;
        self.string(&json, args[0])?;
        let path_text = match self.compile(args[1], scope)?.const_str() {
            Some(p) => p.to_owned(),
            None => return Err(Problem::at(pos(args[1]), "the JSON path must be a constant string")),
        };
        let (path, strict) = func::json::parse_path(&path_text).map_err(|m| Problem::at(pos(args[1]), m))?;
        Ok((json, path, strict))
    }

    /// JSON_VALUE: either a plain call `(json, path)`, or what the dialect's hook made of the full syntax:
    /// `(json, path, 'TYPE', 'NULL'|'ERROR'|'DEFAULT', default, 'NULL'|'ERROR'|'DEFAULT', default)`.
    fn json_value(&mut self, e: &ast::Expr, args: &[&ast::Expr], scope: &mut Scope) -> Result<Typed, Problem> {
        let at = pos(e);
        let (json, path, strict) = self.json_input("JSON_VALUE", e, args, 7, scope)?;
        let text = quoted;
        let mut spec =
            JsonValue { path, strict, returning: Type::String, on_empty: Behaviour::Null, on_error: Behaviour::Null };
        if args.len() == 7 {
            spec.returning = match text(args[2]).as_str() {
                "STRING" | "" => Type::String,
                "BOOLEAN" => Type::Boolean,
                "INT" => Type::Int,
                "BIGINT" => Type::BigInt,
                "DOUBLE" => Type::Double,
                other => {
                    return Err(Problem::at(at, format!("JSON_VALUE … RETURNING {other} is not supported"))
                        .hint(format!("supported: {}", func::json::RETURNING)))
                }
            };
            for (i, slot) in [(3usize, 0u8), (5, 1)] {
                let b = match text(args[i]).as_str() {
                    "ERROR" => Behaviour::Error,
                    "DEFAULT" => {
                        let d = self.compile(args[i + 1], scope)?;
                        match d.expr {
                            Expr::Lit(v) => {
                                let v = if d.ty == spec.returning || v.is_null() {
                                    v
                                } else {
                                    func::cast::cast(v, d.ty, spec.returning)
                                        .map_err(|m| Problem::at(pos(args[i + 1]), m))?
                                        .into_owned()
                                };
                                Behaviour::Default(v)
                            }
                            _ => return Err(Problem::at(pos(args[i + 1]), "a JSON_VALUE DEFAULT must be a constant")),
                        }
                    }
                    _ => Behaviour::Null,
                };
                if slot == 0 {
                    spec.on_empty = b;
                } else {
                    spec.on_error = b;
                }
            }
        }
        let site = self.site(e);
        let ty = spec.returning;
        Ok(Typed::new(Expr::Call(Func::JsonValue(Box::new(spec)), vec![json.expr], site), ty, true))
    }

    /// JSON_QUERY: a plain call `(json, path)`, or what the dialect's hook made of the full syntax:
    /// `(json, path, 'WITHOUT'|'CONDITIONAL'|'UNCONDITIONAL', empty, error)`.
    fn json_query(&mut self, e: &ast::Expr, args: &[&ast::Expr], scope: &mut Scope) -> Result<Typed, Problem> {
        use func::json::{JsonQuery, QueryBehaviour, Wrapper};
        let (json, path, strict) = self.json_input("JSON_QUERY", e, args, 6, scope)?;
        let text = |i: usize| args.get(i).map_or_else(String::new, |a| quoted(a));
        let behaviour = |i: usize| match text(i).as_str() {
            "ERROR" => QueryBehaviour::Error,
            "EMPTY ARRAY" => QueryBehaviour::EmptyArray,
            "EMPTY OBJECT" => QueryBehaviour::EmptyObject,
            _ => QueryBehaviour::Null,
        };
        let wrapper = match text(2).as_str() {
            "CONDITIONAL" => Wrapper::Conditional,
            "UNCONDITIONAL" => Wrapper::Unconditional,
            _ => Wrapper::Without,
        };
        let returning_array = text(5) == "ARRAY";
        let spec = JsonQuery { path, strict, wrapper, on_empty: behaviour(3), on_error: behaviour(4), returning_array };
        if returning_array
            && (spec.on_empty == QueryBehaviour::EmptyObject || spec.on_error == QueryBehaviour::EmptyObject)
        {
            return Err(Problem::at(pos(e), "EMPTY OBJECT is not an ARRAY<STRING>")
                .hint("RETURNING ARRAY<STRING> takes NULL, ERROR or EMPTY ARRAY ON EMPTY and ON ERROR"));
        }
        let ty = if returning_array { Type::array(Type::String, true) } else { Type::String };
        let site = self.site(e);
        Ok(Typed::new(Expr::Call(Func::JsonQuery(Box::new(spec)), vec![json.expr], site), ty, true))
    }
}

/// The text of a quoted string literal (what the dialect's hooks pass), else empty.
fn quoted(a: &ast::Expr) -> String {
    match a {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => s.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// `1` as an expression (SUBSTRING's default start).
static ONE: ast::Expr = ast::Expr::Value(ast::ValueWithSpan {
    value: ast::Value::Number(String::new(), false),
    span: sqlparser::tokenizer::Span::empty(),
});

/// A literal's value and type: integers are INT (BIGINT when they do not fit), decimals DECIMAL(p, s), numbers
/// with an exponent DOUBLE, as in Flink.
fn literal(v: &ast::Value, at: Pos) -> Result<Typed, Problem> {
    Ok(match v {
        ast::Value::Number(n, _) if n.is_empty() => Typed::lit(Val::Int(1), Type::Int), // ONE
        ast::Value::Number(n, _) => {
            if n.contains(['e', 'E']) {
                let x: f64 = n.parse().map_err(|_| Problem::at(at, format!("invalid number {n}")))?;
                Typed::lit(Val::Double(x), Type::Double)
            } else if let Some((int, frac)) = n.split_once('.') {
                let s = frac.len() as u8;
                let digits = int.trim_start_matches('0').len() + frac.len();
                let p = (digits.max(s as usize).max(1)) as u8;
                if p > 38 {
                    return Err(Problem::at(at, format!("the number {n} has more than 38 digits")));
                }
                let v = parse_decimal(n, s).ok_or_else(|| Problem::at(at, format!("invalid number {n}")))?;
                Typed::lit(Val::Dec(v, s), Type::Decimal(p, s))
            } else {
                match n.parse::<i64>() {
                    Ok(x) if i32::try_from(x).is_ok() => Typed::lit(Val::Int(x), Type::Int),
                    Ok(x) => Typed::lit(Val::Int(x), Type::BigInt),
                    Err(_) => {
                        let p = n.len() as u8;
                        let v = parse_decimal(n, 0)
                            .ok_or_else(|| Problem::at(at, format!("the number {n} is too large")))?;
                        Typed::lit(Val::Dec(v, 0), Type::Decimal(p.min(38), 0))
                    }
                }
            }
        }
        ast::Value::SingleQuotedString(s) => Typed::lit(Val::Str(Cow::Owned(s.clone())), Type::String),
        ast::Value::Boolean(b) => Typed::lit(Val::Bool(*b), Type::Boolean),
        ast::Value::Null => Typed::lit(NULL, Type::Null),
        ast::Value::DoubleQuotedString(s) => {
            return Err(Problem::at(at, format!("\"{s}\" is not a string in Flink SQL"))
                .hint(format!("strings take single quotes ('{s}'), names backquotes (`{s}`)")))
        }
        other => return Err(Problem::at(at, format!("unsupported literal {other}"))),
    })
}

/// A type in a CAST (sqlparser's names) as ours.
pub fn sql_type(t: &ast::DataType, at: Pos) -> Result<Type, Problem> {
    use ast::DataType as D;
    let unsupported = || {
        Problem::at(at, format!("the type {t} is not supported here")).hint(
            "CAST takes STRING, VARCHAR, CHAR, BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, DECIMAL(p, s), \
             DATE, TIMESTAMP(p), TIMESTAMP_LTZ(p), BYTES",
        )
    };
    Ok(match t {
        D::String(_)
        | D::Varchar(_)
        | D::Char(_)
        | D::Text
        | D::CharVarying(_)
        | D::Character(_)
        | D::CharacterVarying(_) => Type::String,
        D::Boolean | D::Bool => Type::Boolean,
        D::TinyInt(_) => Type::TinyInt,
        D::SmallInt(_) => Type::SmallInt,
        D::Int(_) | D::Integer(_) => Type::Int,
        D::BigInt(_) => Type::BigInt,
        D::Float(_) | D::Real => Type::Float,
        D::Double(_) | D::DoublePrecision => Type::Double,
        D::Decimal(info) | D::Numeric(info) | D::Dec(info) => {
            let (p, s) = match info {
                ast::ExactNumberInfo::None => (10, 0),
                ast::ExactNumberInfo::Precision(p) => (*p, 0),
                ast::ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s as u64),
            };
            if !(1..=38).contains(&p) || s > p {
                return Err(Problem::at(at, format!("DECIMAL({p}, {s}) is out of range")));
            }
            Type::Decimal(p as u8, s as u8)
        }
        D::Date => Type::Date,
        D::Timestamp(p, tz) => {
            let p = p.unwrap_or(6).min(9) as u8;
            match tz {
                ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone => Type::Timestamp(p),
                _ => Type::TimestampLtz(p),
            }
        }
        D::Bytes(_) | D::Varbinary(_) | D::Binary(_) => Type::Bytes,
        D::Custom(..) => {
            let text = t.to_string().to_ascii_uppercase().replace(' ', "");
            match text.as_str() {
                "STRING" => Type::String,
                "BYTES" => Type::Bytes,
                "TIMESTAMP_LTZ" => Type::TimestampLtz(6),
                _ => match text.strip_prefix("TIMESTAMP_LTZ(").and_then(|r| r.strip_suffix(')')) {
                    Some(p) => Type::TimestampLtz(p.parse::<u8>().map_err(|_| unsupported())?.min(9)),
                    None => return Err(unsupported()),
                },
            }
        }
        _ => return Err(unsupported()),
    })
}

/// `t` as type `to`: a cast where the value's representation changes, nothing where it does not.
pub fn coerce(t: Typed, to: Type) -> Expr {
    let same = t.ty == to
        || t.ty == Type::Null
        || (t.ty.is_nested() && t.ty.same_repr(to))
        || (t.ty.is_integer() && to.is_integer())
        || (t.ty.is_timestamp() && to.is_timestamp())
        || (matches!(t.ty, Type::Decimal(_, s) if matches!(to, Type::Decimal(_, s2) if s == s2)))
        || (matches!(t.ty, Type::Float | Type::Double)
            && matches!(to, Type::Float | Type::Double)
            && to == Type::Double);
    if same {
        return t.expr;
    }
    if let Expr::Lit(v) = &t.expr {
        if let Ok(v) = func::cast::cast(v.clone(), t.ty, to) {
            return Expr::Lit(v.into_owned());
        }
    }
    Expr::Cast { x: Box::new(t.expr), from: t.ty, to, try_: false, site: 0 }
}

fn as_decimal(t: Type) -> (u8, u8) {
    match t {
        Type::Decimal(p, s) => (p, s),
        t => t.integer_as_decimal(),
    }
}

fn unsupported(at: Pos, what: &str, supported: &str) -> Problem {
    Problem::at(at, format!("{what} are not supported")).hint(format!("supported: {supported}"))
}
