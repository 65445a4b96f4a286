//! Arithmetic and the numeric functions. Integers wrap at their type's width as Java's do; an integer division
//! or remainder by zero fails (Flink fails the job: here the record is dead-lettered); decimals are exact and round
//! half up, and a decimal that overflows its precision is NULL, as in Flink.

use crate::types::Type;
use crate::value::{fits, pow10, rescale, Val, NULL};

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%` and `MOD`
    Rem,
}

/// `a op b`, both already of type `ty` (the planner cast them).
pub fn arith<'r>(op: Arith, ty: Type, a: &Val<'_>, b: &Val<'_>) -> Result<Val<'r>, String> {
    Ok(match (a, b) {
        (Val::Int(x), Val::Int(y)) => {
            let (x, y) = (*x, *y);
            let r = match op {
                Arith::Add => x.wrapping_add(y),
                Arith::Sub => x.wrapping_sub(y),
                Arith::Mul => x.wrapping_mul(y),
                Arith::Div if y == 0 => return Err("division by zero".into()),
                Arith::Rem if y == 0 => return Err("division by zero".into()),
                Arith::Div => x.wrapping_div(y),
                Arith::Rem => x.wrapping_rem(y),
            };
            Val::Int(wrap(r, ty))
        }
        (Val::Dec(x, sx), Val::Dec(y, sy)) => match ty {
            Type::Decimal(p, s) => decimal(op, (*x, *sx), (*y, *sy), p, s)?,
            _ => NULL,
        },
        (x, y) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            let r = match op {
                Arith::Add => x + y,
                Arith::Sub => x - y,
                Arith::Mul => x * y,
                Arith::Div => x / y,
                Arith::Rem => x % y,
            };
            Val::Double(if ty == Type::Float { f64::from(r as f32) } else { r })
        }
    })
}

/// An integer result wrapped to its type's width (Java's int, short and byte arithmetic).
pub fn wrap(n: i64, ty: Type) -> i64 {
    match ty {
        Type::Int => i64::from(n as i32),
        Type::SmallInt => i64::from(n as i16),
        Type::TinyInt => i64::from(n as i8),
        _ => n,
    }
}

fn decimal<'r>(op: Arith, a: (i128, u8), b: (i128, u8), p: u8, s: u8) -> Result<Val<'r>, String> {
    let result = match op {
        Arith::Add | Arith::Sub => {
            let c = a.1.max(b.1);
            let (x, y) = match (rescale(a.0, a.1, c), rescale(b.0, b.1, c)) {
                (Some(x), Some(y)) => (x, y),
                _ => return Ok(NULL),
            };
            let r = if op == Arith::Add { x.checked_add(y) } else { x.checked_sub(y) };
            r.and_then(|r| rescale(r, c, s))
        }
        Arith::Mul => a.0.checked_mul(b.0).and_then(|r| rescale(r, a.1 + b.1, s)),
        Arith::Div | Arith::Rem if b.0 == 0 => return Err("division by zero".into()),
        Arith::Div => {
            // a / b at scale s: (a * 10^(s + b.scale - a.scale)) / b, rounded half up.
            let shift = i32::from(s) + i32::from(b.1) - i32::from(a.1);
            let num = if shift >= 0 { a.0.checked_mul(pow10(shift as u32)) } else { rescale(a.0, (-shift) as u8, 0) };
            num.map(|n| {
                let (q, r) = (n / b.0, n % b.0);
                if r.abs() * 2 >= b.0.abs() {
                    q + if (n < 0) == (b.0 < 0) { 1 } else { -1 }
                } else {
                    q
                }
            })
        }
        Arith::Rem => {
            let c = a.1.max(b.1);
            match (rescale(a.0, a.1, c), rescale(b.0, b.1, c)) {
                (Some(x), Some(y)) => rescale(x % y, c, s),
                _ => None,
            }
        }
    };
    Ok(match result {
        Some(v) if fits(v, p) => Val::Dec(v, s),
        _ => NULL,
    })
}

/// `ABS(x)`.
pub fn abs<'r>(v: &Val<'_>) -> Val<'r> {
    match v {
        Val::Int(n) => Val::Int(n.wrapping_abs()),
        Val::Double(x) => Val::Double(x.abs()),
        Val::Dec(x, s) => Val::Dec(x.abs(), *s),
        _ => NULL,
    }
}

/// `ROUND(x, d)`: half up, on the decimal value (a DOUBLE is rounded from its shortest decimal text, as Flink's
/// `BigDecimal.valueOf` does: `ROUND(2.675, 2)` is 2.68). The result has x's type (`ty`).
pub fn round<'r>(v: &Val<'_>, d: i64, ty: Type) -> Val<'r> {
    let d = d.clamp(-38, 38) as i32;
    match v {
        Val::Int(n) if d >= 0 => Val::Int(*n),
        Val::Int(n) => {
            let m = 10i128.pow((-d) as u32);
            let q = i128::from(*n) / m;
            let r = i128::from(*n) % m;
            let q = if r.abs() * 2 >= m { q + i128::from(n.signum()) } else { q };
            Val::Int(wrap((q * m) as i64, ty))
        }
        Val::Double(x) if !x.is_finite() => Val::Double(*x),
        Val::Double(x) => {
            let text = format!("{x:e}");
            let (mantissa, exp) = text.split_once('e').expect("{:e} has an exponent");
            let exp: i32 = exp.parse().expect("an exponent");
            let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
            let negative = mantissa.starts_with('-');
            // x = 0.digits * 10^(exp + 1); keep the digits up to 10^-d.
            let keep = exp + 1 + d;
            if keep < 0 {
                return Val::Double(if negative { -0.0 } else { 0.0 });
            }
            let keep = keep as usize;
            let mut kept: String = digits.chars().take(keep).collect();
            while kept.len() < keep {
                kept.push('0');
            }
            let mut n: u128 = if kept.is_empty() { 0 } else { kept.parse().unwrap_or(0) };
            if digits.as_bytes().get(keep).is_some_and(|c| *c >= b'5') {
                n += 1;
            }
            let text = format!("{}{}e{}", if negative { "-" } else { "" }, n, -d);
            Val::Double(text.parse().unwrap_or(*x))
        }
        Val::Dec(x, s) => {
            let target = d.clamp(0, i32::from(*s)) as u8;
            let r = rescale(*x, *s, target).and_then(|r| rescale(r, target, *s.min(&target)));
            match (r, ty) {
                (Some(r), Type::Decimal(p, rs)) => {
                    let r = rescale(r, target, rs).unwrap_or(r);
                    if fits(r, p) {
                        Val::Dec(r, rs)
                    } else {
                        NULL
                    }
                }
                _ => NULL,
            }
        }
        _ => NULL,
    }
}

/// `FLOOR(x)` (`floor`) or `CEIL(x)`.
pub fn floor_ceil<'r>(v: &Val<'_>, floor: bool) -> Val<'r> {
    match v {
        Val::Int(n) => Val::Int(*n),
        Val::Double(x) => Val::Double(if floor { x.floor() } else { x.ceil() }),
        Val::Dec(x, s) => {
            let m = pow10(u32::from(*s));
            let q = x.div_euclid(m);
            let q = if !floor && x.rem_euclid(m) != 0 { q + 1 } else { q };
            Val::Dec(q, 0)
        }
        _ => NULL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_wrap_and_refuse_zero() {
        assert_eq!(
            arith(Arith::Add, Type::Int, &Val::Int(i64::from(i32::MAX)), &Val::Int(1)),
            Ok(Val::Int(i64::from(i32::MIN)))
        );
        assert_eq!(arith(Arith::Div, Type::Int, &Val::Int(7), &Val::Int(2)), Ok(Val::Int(3)));
        assert_eq!(arith(Arith::Rem, Type::Int, &Val::Int(-7), &Val::Int(2)), Ok(Val::Int(-1)));
        assert!(arith(Arith::Div, Type::BigInt, &Val::Int(1), &Val::Int(0)).is_err());
        assert_eq!(
            arith(Arith::Div, Type::Double, &Val::Double(1.0), &Val::Double(0.0)),
            Ok(Val::Double(f64::INFINITY))
        );
    }

    #[test]
    fn decimals_are_exact() {
        let d = |v, s| Val::Dec(v, s);
        assert_eq!(arith(Arith::Add, Type::Decimal(5, 2), &d(150, 2), &d(5, 1)), Ok(d(200, 2)));
        assert_eq!(arith(Arith::Mul, Type::Decimal(10, 4), &d(150, 2), &d(150, 2)), Ok(d(22500, 4)));
        assert_eq!(arith(Arith::Div, Type::Decimal(10, 6), &d(1, 0), &d(3, 0)), Ok(d(333_333, 6)));
        assert_eq!(arith(Arith::Div, Type::Decimal(10, 6), &d(2, 0), &d(3, 0)), Ok(d(666_667, 6)));
        assert_eq!(arith(Arith::Add, Type::Decimal(3, 0), &d(999, 0), &d(1, 0)), Ok(NULL));
    }

    #[test]
    fn rounding() {
        assert_eq!(round(&Val::Double(2.675), 2, Type::Double), Val::Double(2.68));
        assert_eq!(round(&Val::Double(-2.5), 0, Type::Double), Val::Double(-3.0));
        assert_eq!(round(&Val::Double(1234.5), -2, Type::Double), Val::Double(1200.0));
        assert_eq!(round(&Val::Int(1250), -2, Type::BigInt), Val::Int(1300));
        assert_eq!(round(&Val::Dec(12345, 3), 1, Type::Decimal(6, 1)), Val::Dec(123, 1));
        assert_eq!(floor_ceil(&Val::Dec(-12345, 3), true), Val::Dec(-13, 0));
        assert_eq!(floor_ceil(&Val::Dec(12001, 3), false), Val::Dec(13, 0));
    }
}
