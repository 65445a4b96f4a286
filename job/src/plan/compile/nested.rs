//! Planning the expressions of nested values: `row.field` (and `table.row.field`), `array[i]`, `map['key']`,
//! the constructors `ARRAY[…]`, `MAP[…]`, `ROW(…)`, and `CARDINALITY`. Types as Flink gives them: an element, a
//! value or a field read this way may be NULL (an index outside the array, a key the map lacks, a NULL row).

use sqlparser::ast;

use super::{coerce, pos, Typed};
use crate::error::Problem;
use crate::expr::Expr;
use crate::plan::{Builder, Scope};
use crate::types::{RowField, Type};

impl Builder<'_> {
    /// `a.b.c`: a column then fields of it, or a table's column then fields (`t.col.field`).
    pub(super) fn compound(
        &mut self,
        e: &ast::Expr,
        parts: &[ast::Ident],
        scope: &mut Scope,
    ) -> Result<Typed, Problem> {
        let at = pos(e);
        let is_column = scope.names.iter().any(|(n, _)| *n == parts[0].value);
        let (mut t, rest) = if is_column || !scope.qualifiers.iter().any(|q| *q == parts[0].value) {
            (self.column(&parts[0].value, None, at, scope)?, &parts[1..])
        } else {
            (self.column(&parts[1].value, Some(&parts[0].value), at, scope)?, &parts[2..])
        };
        for field in rest {
            t = self.field(t, &field.value, e)?;
        }
        Ok(t)
    }

    /// `x[i]` and `x.field` after any expression.
    pub(super) fn access(
        &mut self,
        e: &ast::Expr,
        root: &ast::Expr,
        chain: &[ast::AccessExpr],
        scope: &mut Scope,
    ) -> Result<Typed, Problem> {
        let mut t = self.compile(root, scope)?;
        for step in chain {
            t = match step {
                ast::AccessExpr::Dot(ast::Expr::Identifier(id)) => self.field(t, &id.value, e)?,
                ast::AccessExpr::Subscript(ast::Subscript::Index { index }) => self.item(t, index, e, scope)?,
                other => {
                    return Err(Problem::at(pos(e), format!("{other} is not supported"))
                        .hint("a nested value is read with array[i] (from 1), map['key'] and row.field"))
                }
            };
        }
        Ok(t)
    }

    /// `t.name`, `t` a ROW.
    fn field(&self, t: Typed, name: &str, e: &ast::Expr) -> Result<Typed, Problem> {
        let Type::Row(fields) = t.ty else {
            return Err(Problem::at(pos(e), format!("{e}: .{name} reads a field of a ROW, and this is {}", t.ty)));
        };
        let Some(k) = fields.iter().position(|f| f.name == name) else {
            let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
            return Err(Problem::at(pos(e), format!("{e}: the ROW has no field {name}"))
                .hint(format!("its fields: {}", names.join(", "))));
        };
        let f = &fields[k];
        Ok(Typed { expr: Expr::Field(Box::new(t.expr), k as u16), ty: f.ty, nullable: t.nullable || f.nullable })
    }

    /// `t[index]`, `t` an ARRAY (an integer index from 1) or a MAP (a STRING key).
    fn item(&mut self, t: Typed, index: &ast::Expr, e: &ast::Expr, scope: &mut Scope) -> Result<Typed, Problem> {
        let i = self.compile(index, scope)?;
        match t.ty {
            Type::Array(elem) => {
                self.integer(&i, index)?;
                Ok(Typed { expr: Expr::Item(Box::new(t.expr), Box::new(i.expr)), ty: elem.ty, nullable: true })
            }
            Type::Map(value) => {
                self.string(&i, index)?;
                Ok(Typed { expr: Expr::Lookup(Box::new(t.expr), Box::new(i.expr)), ty: value.ty, nullable: true })
            }
            other => Err(Problem::at(pos(e), format!("{e}: [ ] reads an ARRAY or a MAP, and this is {other}"))),
        }
    }

    /// `ARRAY[a, b, …]`: the elements in their common type.
    pub(super) fn array(&mut self, e: &ast::Expr, items: &[ast::Expr], scope: &mut Scope) -> Result<Typed, Problem> {
        let (ty, nullable, exprs) = self.common_of(e, items.iter(), scope)?;
        Ok(Typed { expr: Expr::MakeArray(exprs), ty: Type::array(ty, nullable), nullable: false })
    }

    /// The common type of `items`, whether any may be NULL, and each coerced to it.
    fn common_of<'a>(
        &mut self,
        e: &ast::Expr,
        items: impl Iterator<Item = &'a ast::Expr>,
        scope: &mut Scope,
    ) -> Result<(Type, bool, Vec<Expr>), Problem> {
        let mut typed = Vec::new();
        for x in items {
            typed.push((self.compile(x, scope)?, x));
        }
        if typed.is_empty() {
            return Err(Problem::at(pos(e), format!("{e} has no elements")).hint("give at least one"));
        }
        let mut ty = typed[0].0.ty;
        for (t, x) in &typed[1..] {
            ty = self.common(ty, t.ty, x)?;
        }
        let nullable = typed.iter().any(|(t, _)| t.nullable);
        Ok((ty, nullable, typed.into_iter().map(|(t, _)| coerce(t, ty)).collect()))
    }

    /// `ROW(a, b, …)`, `MAP[k, v, …]` and `CARDINALITY(x)`; `None` for other names.
    pub(super) fn nested_call(
        &mut self,
        name: &str,
        e: &ast::Expr,
        args: &[&ast::Expr],
        scope: &mut Scope,
    ) -> Result<Option<Typed>, Problem> {
        Ok(Some(match name {
            "ROW" => {
                let mut fields = Vec::new();
                let mut exprs = Vec::new();
                for (i, a) in args.iter().enumerate() {
                    let t = self.compile(a, scope)?;
                    // Flink's names for the fields of a constructed row.
                    fields.push(RowField { name: format!("EXPR${i}"), ty: t.ty, nullable: t.nullable });
                    exprs.push(t.expr);
                }
                Typed { expr: Expr::MakeRow(exprs), ty: Type::row(fields), nullable: false }
            }
            super::super::MAP_CALL => {
                if args.is_empty() || !args.len().is_multiple_of(2) {
                    return Err(Problem::at(pos(e), "MAP[…] takes pairs: MAP[key1, value1, key2, value2, …]"));
                }
                let mut exprs = Vec::new();
                for k in args.iter().step_by(2) {
                    let t = self.compile(k, scope)?;
                    self.string(&t, k)?;
                    exprs.push(coerce(t, Type::String));
                }
                let (ty, nullable, values) = self.common_of(e, args.iter().skip(1).step_by(2).copied(), scope)?;
                let pairs = exprs.into_iter().zip(values).flat_map(|(k, v)| [k, v]).collect();
                Typed { expr: Expr::MakeMap(pairs), ty: Type::map(ty, nullable), nullable: false }
            }
            "CARDINALITY" => {
                let [x] = args else {
                    return Err(Problem::at(pos(e), format!("CARDINALITY takes 1 argument, not {}", args.len())));
                };
                let t = self.compile(x, scope)?;
                if !matches!(t.ty, Type::Array(_) | Type::Map(_) | Type::Null) {
                    return Err(Problem::at(
                        pos(x),
                        format!("{x} is {}, but CARDINALITY counts an ARRAY or a MAP", t.ty),
                    ));
                }
                Typed { expr: Expr::Cardinality(Box::new(t.expr)), ty: Type::Int, nullable: t.nullable }
            }
            _ => return Ok(None),
        }))
    }
}
