//! Expressions over the record's topic alone: `UPPER(REPLACE(topic, 'user_', ''))` gives the same value for every
//! record of a topic, so the planner moves each such expression into its source's list of per-topic expressions
//! ([`Source::per_topic`]) and leaves an [`Expr::Topical`] in its place. The mapping computes the list when the
//! topic changes (in practice: once per batch of a partition) instead of once per record.
//!
//! An expression is topical when it reads no field, no computed column and no metadata that varies by record
//! (partition, offset, timestamp, key, event id, the raw value), and calls nothing that reads the clock. A failure
//! (a CAST that does not parse) is kept with the value and given where the expression is evaluated, so an
//! expression in an untaken CASE branch fails nothing, as before.

use std::iter::once;

use crate::catalog::Meta;
use crate::expr::{Expr, Like};
use crate::func::Func;
use crate::plan::{Branch, Slot, Source};

/// Moves the topical expressions of `branches` (their WHERE and their columns) and of the source's computed
/// columns into `src.per_topic`.
pub(crate) fn hoist<'b>(src: &mut Source, branches: impl Iterator<Item = &'b mut Branch>) {
    let topical_slot: Vec<bool> = src
        .slots
        .iter()
        .map(|s| matches!(s, Slot::Meta(Meta::Topic | Meta::TimestampType | Meta::LeaderEpoch, _)))
        .collect();
    let mut per_topic = std::mem::take(&mut src.per_topic);
    let mut roots: Vec<&mut Expr> = src.computed.iter_mut().collect();
    for br in branches {
        roots.extend(br.filter.iter_mut());
        roots.extend(br.exprs.iter_mut());
    }
    for root in roots {
        if topical(root, &topical_slot, &mut per_topic) {
            lift(root, &mut per_topic);
        }
    }
    src.per_topic = per_topic;
}

/// Whether `e` is topical; where it is not, its topical subexpressions are lifted out.
fn topical(e: &mut Expr, topical_slot: &[bool], out: &mut Vec<Expr>) -> bool {
    let own = match e {
        Expr::Lit(_) | Expr::Topical(_) => true,
        Expr::Col(slot) => topical_slot.get(*slot as usize).copied().unwrap_or(false),
        // The clock: NOW(), CURRENT_TIMESTAMP, UNIX_TIMESTAMP().
        Expr::Call(Func::Now, ..) => false,
        Expr::Call(Func::UnixTimestamp(_), args, _) if args.is_empty() => false,
        _ => true,
    };
    let mut children = children_mut(e);
    let flags: Vec<bool> = children.iter_mut().map(|c| topical(c, topical_slot, out)).collect();
    if own && flags.iter().all(|f| *f) {
        return true;
    }
    for (child, is_topical) in children.into_iter().zip(flags) {
        if is_topical {
            lift(child, out);
        }
    }
    false
}

/// Replaces a topical expression with its place in `out`; constants and plain columns stay (they cost nothing).
fn lift(e: &mut Expr, out: &mut Vec<Expr>) {
    if matches!(e, Expr::Lit(_) | Expr::Col(_) | Expr::Topical(_)) {
        return;
    }
    let k = u16::try_from(out.len()).expect("fewer than 65,536 expressions in a job");
    out.push(std::mem::replace(e, Expr::Topical(k)));
}

/// The operands of `e`.
fn children_mut(e: &mut Expr) -> Vec<&mut Expr> {
    match e {
        Expr::Lit(_) | Expr::Col(_) | Expr::Topical(_) => Vec::new(),
        Expr::Not(x) | Expr::IsNull(x) | Expr::IsBool(x, _) | Expr::Neg(x) | Expr::Cast { x, .. } => vec![&mut **x],
        Expr::Like(x, Like::Fixed(_)) => vec![&mut **x],
        Expr::Like(x, Like::Dynamic(p, _)) => vec![&mut **x, &mut **p],
        Expr::And(a, b)
        | Expr::Or(a, b)
        | Expr::Cmp(_, a, b)
        | Expr::NotDistinct(a, b)
        | Expr::Arith(_, _, a, b, _) => vec![&mut **a, &mut **b],
        Expr::In(x, list) => once(&mut **x).chain(list.iter_mut()).collect(),
        Expr::Case(whens, otherwise) => {
            whens.iter_mut().flat_map(|(c, v)| [c, v]).chain(once(&mut **otherwise)).collect()
        }
        Expr::Call(_, args, _) | Expr::MakeArray(args) | Expr::MakeMap(args) | Expr::MakeRow(args) => {
            args.iter_mut().collect()
        }
        Expr::Item(a, b) | Expr::Lookup(a, b) => vec![&mut **a, &mut **b],
        Expr::Field(x, _) | Expr::Cardinality(x) => vec![&mut **x],
    }
}

#[cfg(test)]
mod tests {
    use crate::expr::Expr;
    use crate::plan::Plan;

    /// The default job's event type is computed per topic; everything else it computes reads the record.
    #[test]
    fn the_default_jobs_event_type_is_per_topic() {
        let plan = Plan::new(crate::DEFAULT_JOB_NAME, crate::DEFAULT_JOB).expect("the default job plans");
        let src = &plan.sources[0];
        assert_eq!(src.per_topic.len(), 1, "{:?}", src.per_topic);
        assert!(matches!(&src.per_topic[0], Expr::Call(crate::func::Func::Upper, ..)), "{:?}", src.per_topic);
        let branch = &plan.branches[src.branches[0]];
        assert!(matches!(branch.exprs[1], Expr::Topical(0)), "{:?}", branch.exprs[1]);
        let topical = branch.exprs.iter().filter(|e| matches!(e, Expr::Topical(_))).count();
        assert_eq!(topical, 1, "the source columns stay plain columns: {:?}", branch.exprs);
    }

    /// The clock is read per record: NOW() is never per topic, nor is what reads it.
    #[test]
    fn the_clock_is_not_per_topic() {
        let plan = Plan::new(
            "t.sql",
            "CREATE TABLE s (`topic` STRING METADATA VIRTUAL, a STRING) WITH ('connector' = 'kafka', 'topic' = 't', 'format' = 'json');
             CREATE TABLE o (x STRING, y BIGINT) WITH ('connector' = 'kafka', 'topic' = 'o', 'format' = 'json');
             INSERT INTO o SELECT CONCAT(`topic`, CAST(NOW() AS STRING)), UNIX_TIMESTAMP() FROM s;",
        )
        .expect("plans");
        let src = &plan.sources[0];
        assert!(src.per_topic.is_empty(), "{:?}", src.per_topic);
    }
}
