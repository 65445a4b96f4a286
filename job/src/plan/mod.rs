//! A job, planned: which tables are read and written, what each INSERT computes for each sink column, and the
//! row each source record is read into. Planning checks everything it can before anything connects: names,
//! types, options, and what this engine does not do (joins, aggregates, windows), each refusal with a position.

pub mod compile;
pub(crate) mod topical;

use std::collections::BTreeMap;

use sqlparser::ast;

pub use crate::catalog::{ClickHouseTable, SinkColumn, TableLayout, Target};
use crate::catalog::{Kind, Meta, StartupMode, Table, Topics};
use crate::error::{JobError, Pos, Problem};
use crate::expr::Expr;
use crate::parse::{self, InsertDef, Stmt, ViewDef};
use crate::types::Type;
use compile::{coerce, Typed};

pub use crate::parse::dialect::{JSON_QUERY_CALL, JSON_VALUE_CALL, MAP_CALL};

/// A planned job.
#[derive(Debug)]
pub struct Plan {
    /// The job file, for messages.
    pub file: String,
    /// The tables read, each with the row its records are read into.
    pub sources: Vec<Source>,
    /// The tables written.
    pub sinks: Vec<Sink>,
    /// Every SELECT of every INSERT (a UNION ALL has several), in the order of the file.
    pub(crate) branches: Vec<Branch>,
    /// The text and line of each expression that can fail, by site number.
    pub(crate) sites: Vec<Site>,
    /// `SET` statements.
    pub settings: BTreeMap<String, String>,
    /// What the log should say (options ignored, WATERMARK ignored, …).
    pub warnings: Vec<String>,
    /// `table.exec.sink.not-null-enforcer` = DROP: a NULL in a NOT NULL column drops the row instead of
    /// dead-lettering it.
    pub(crate) drop_not_null: bool,
}

/// An expression that can fail, for messages.
#[derive(Debug, Clone)]
pub struct Site {
    /// As written.
    pub text: String,
    /// Its line in the job file.
    pub line: u64,
}

/// A table read by the job.
#[derive(Debug)]
pub struct Source {
    /// Its name in the job.
    pub name: String,
    /// The topics it reads.
    pub topics: Topics,
    /// Where it starts without a position of its own.
    pub startup_mode: StartupMode,
    /// Its `WITH` options, as written.
    pub options: BTreeMap<String, String>,
    /// The row: one slot per column the job reads.
    pub(crate) slots: Vec<Slot>,
    /// The physical columns the job reads (the JSON format reads only these), in slot order.
    pub(crate) fields: Vec<Field>,
    /// Their names, as the JSON format's reader matches keys.
    pub(crate) names: Vec<crate::scan::Name>,
    /// The computed columns the job reads.
    pub(crate) computed: Vec<Expr>,
    /// The expressions over the topic alone, computed once per topic ([`topical`]).
    pub(crate) per_topic: Vec<Expr>,
    /// `json.fail-on-missing-field`.
    pub(crate) fail_on_missing: bool,
    /// `json.ignore-parse-errors`.
    pub(crate) ignore_parse_errors: bool,
    /// The branches that read this source.
    pub(crate) branches: Vec<usize>,
    /// Whether a slot needs the event id (it costs a hash of the record).
    pub(crate) uses_event_id: bool,
}

/// What a row slot holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Slot {
    /// A field of the value (see [`Source::fields`]).
    Field,
    /// Connector metadata, as the declared type.
    Meta(Meta, Type),
    /// A computed column: [`Source::computed`] at this index, evaluated once per record after the fields and the
    /// metadata (it reads only those), however many expressions use it.
    Computed(u16),
}

/// A physical column the job reads.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// The JSON field name.
    pub name: String,
    /// The declared type.
    pub ty: Type,
    /// Declared NOT NULL.
    pub not_null: bool,
    /// Its slot in the row.
    pub slot: u16,
}

/// A table written by the job: a Kafka topic of JSON records, or a ClickHouse table.
#[derive(Debug)]
pub struct Sink {
    /// Its name in the job.
    pub name: String,
    /// Where its rows go.
    pub target: Target,
    /// How `transformer schema --job` makes its ClickHouse table.
    pub layout: TableLayout,
    /// The columns of its rows, in order.
    pub columns: Vec<SinkColumn>,
    /// Its `WITH` options, as written.
    pub options: BTreeMap<String, String>,
    /// `"name":` of each column, with the separator before it, as JSON.
    pub(crate) json_keys: Vec<Vec<u8>>,
    /// Whether every row carries its source record's coordinates as the columns `source_topic`,
    /// `source_partition` and `source_offset` (the metadata `topic`, `partition`, `offset`, unchanged). Recovery
    /// reads them from the value then; otherwise the writer puts them in a record header.
    pub coords_in_value: bool,
}

/// One SELECT into one sink.
#[derive(Debug)]
pub(crate) struct Branch {
    /// The sink.
    pub sink: usize,
    /// The source.
    pub source: usize,
    /// `WHERE`.
    pub filter: Option<Expr>,
    /// One expression per sink column.
    pub exprs: Vec<Expr>,
    /// The site of each, for a NOT NULL message.
    pub sites: Vec<u32>,
    /// Where each column's value is when a row is written ([`At::of`]).
    pub at: Vec<At>,
    /// What the row needs before it is written, in column order ([`Step::of`]).
    pub steps: Vec<Step>,
}

/// What one column of a row needs before the row is written: a computed column is evaluated, a column passing a
/// source column through into a NOT NULL column is checked for NULL. A nullable column passed through needs nothing
/// (the writers read it in the source row), so it has no step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Check that source slot `slot`, passed through into column `col`, is not NULL.
    Check {
        /// The sink column.
        col: u16,
        /// The source row's slot.
        slot: u16,
    },
    /// Evaluate column `col`'s expression.
    Compute {
        /// The sink column.
        col: u16,
    },
}

impl Step {
    /// The steps of a branch whose columns are at `at` in a sink with `columns`.
    fn of(at: &[At], columns: &[SinkColumn]) -> Vec<Step> {
        let col = |i: usize| u16::try_from(i).expect("a sink has fewer than 65,536 columns");
        at.iter()
            .zip(columns)
            .enumerate()
            .filter_map(|(i, (at, c))| match *at {
                At::Slot(slot) => (!c.nullable).then_some(Step::Check { col: col(i), slot }),
                At::Computed(_) => Some(Step::Compute { col: col(i) }),
            })
            .collect()
    }
}

/// Where a sink column's value is when its row is written: a slot of the source row that the column passes through
/// unchanged (`SELECT url`: read in place by the writers, with no copy into the row's values and no drop of one),
/// or the value the branch computed for it, at this index among the computed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// The source row's slot.
    Slot(u16),
    /// The computed values' index.
    Computed(u16),
}

impl At {
    /// Where the value of each of `exprs` is.
    fn of(exprs: &[Expr]) -> Vec<At> {
        let mut computed = 0;
        exprs
            .iter()
            .map(|e| match e {
                Expr::Col(slot) => At::Slot(*slot),
                _ => {
                    computed += 1;
                    At::Computed(computed - 1)
                }
            })
            .collect()
    }
}

/// How a name in a SELECT resolves.
#[derive(Debug, Clone)]
pub(crate) enum Binding {
    /// A column of a table (its slot is allocated when first used).
    Column {
        /// The table.
        table: usize,
        /// The column.
        col: usize,
    },
    /// A view's column: an expression over the view's source.
    Typed(Typed),
}

/// The names a SELECT sees.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// The source (index into the builder's sources).
    pub source: usize,
    /// Column names, in order.
    pub names: Vec<(String, Binding)>,
    /// The names the table can be qualified with (its name, its alias).
    pub qualifiers: Vec<String>,
}

/// A source while it is planned.
#[derive(Debug)]
struct SourceBuild {
    table: usize,
    slots: Vec<Slot>,
    fields: Vec<Field>,
    computed: Vec<Expr>,
    /// Per column used: its slot, and for a computed one its type and nullability.
    by_column: BTreeMap<usize, (u16, Type, bool)>,
    branches: Vec<usize>,
}

/// One SELECT, planned, before it meets its sink.
struct Selected {
    source: usize,
    filter: Option<Expr>,
    items: Vec<(Option<String>, Typed, u32, Pos)>,
}

/// The planner's state.
pub(crate) struct Builder<'a> {
    tables: Vec<Table>,
    views: BTreeMap<String, &'a ViewDef>,
    sources: Vec<SourceBuild>,
    sites: Vec<Site>,
    /// How each table is used: `Some(true)` source, `Some(false)` sink.
    roles: Vec<Option<bool>>,
}

impl Sink {
    /// The topic of a Kafka sink.
    pub fn topic(&self) -> Option<&str> {
        match &self.target {
            Target::Kafka { topic } => Some(topic),
            Target::ClickHouse(_) => None,
        }
    }

    /// The table of a ClickHouse sink.
    pub fn clickhouse(&self) -> Option<&ClickHouseTable> {
        match &self.target {
            Target::ClickHouse(t) => Some(t),
            Target::Kafka { .. } => None,
        }
    }
}

impl Plan {
    /// Reads and plans the job `sql` from the file `file`.
    pub fn new(file: &str, sql: &str) -> Result<Plan, JobError> {
        Self::build(sql)
            .map(|mut p| {
                p.file = file.to_owned();
                p
            })
            .map_err(|p| p.in_file(file))
    }

    fn build(sql: &str) -> Result<Plan, Problem> {
        let stmts = parse::parse(sql)?;
        let mut b = Builder {
            tables: Vec::new(),
            views: BTreeMap::new(),
            sources: Vec::new(),
            sites: vec![Site { text: "an implicit conversion".into(), line: 0 }],
            roles: Vec::new(),
        };
        let mut settings = BTreeMap::new();
        let mut warnings = Vec::new();
        let mut inserts: Vec<&InsertDef> = Vec::new();
        for s in &stmts {
            match s {
                Stmt::CreateTable(def) => {
                    if b.tables.iter().any(|t| t.name == def.name.value) || b.views.contains_key(&def.name.value) {
                        return Err(Problem::at(def.name.pos, format!("{} is declared twice", def.name.value)));
                    }
                    b.tables.push(Table::new(def)?);
                    b.roles.push(None);
                }
                Stmt::CreateView(v) => {
                    if b.tables.iter().any(|t| t.name == v.name.value) || b.views.contains_key(&v.name.value) {
                        return Err(Problem::at(v.name.pos, format!("{} is declared twice", v.name.value)));
                    }
                    b.views.insert(v.name.value.clone(), v);
                }
                Stmt::Set(set) => {
                    check_setting(&set.key, &set.value, set.pos, &mut warnings)?;
                    settings.insert(set.key.clone(), set.value.clone());
                }
                Stmt::Insert(i) => inserts.push(i),
            }
        }
        if inserts.is_empty() {
            return Err(Problem::at(Pos { line: 1, column: 1 }, "the job has no INSERT INTO … SELECT")
                .hint("a job declares its tables and INSERTs into a sink what it SELECTs from a source"));
        }
        let mut sinks: Vec<Sink> = Vec::new();
        let mut sink_of_table: BTreeMap<usize, usize> = BTreeMap::new();
        let mut branches = Vec::new();
        for ins in inserts {
            let table = b.table_index(&ins.sink.value).ok_or_else(|| {
                Problem::at(ins.sink.pos, format!("unknown table {}", ins.sink.value)).hint(b.known_tables())
            })?;
            b.role(table, false, ins.sink.pos)?;
            let sink = match sink_of_table.get(&table) {
                Some(s) => *s,
                None => {
                    let (target, layout) = b.tables[table].as_sink()?;
                    let t = &b.tables[table];
                    let columns: Vec<SinkColumn> = t
                        .columns
                        .iter()
                        .filter(|c| matches!(c.kind, Kind::Physical))
                        .map(|c| SinkColumn { name: c.name.clone(), ty: c.ty, nullable: c.nullable })
                        .collect();
                    let json_keys = crate::write::json_keys(&columns);
                    sinks.push(Sink {
                        name: t.name.clone(),
                        target,
                        layout,
                        columns,
                        options: t.options.clone(),
                        json_keys,
                        coords_in_value: true,
                    });
                    sink_of_table.insert(table, sinks.len() - 1);
                    sinks.len() - 1
                }
            };
            for selected in b.query(&ins.query)? {
                let branch = b.for_sink(ins, &sinks[sink], sink, selected)?;
                b.sources[branch.source].branches.push(branches.len());
                branches.push(branch);
            }
        }
        for (i, sink) in sinks.iter_mut().enumerate() {
            let mut mine = branches.iter().filter(|br: &&Branch| br.sink == i);
            sink.coords_in_value = mine.all(|br| b.carries_coordinates(sink, br));
        }
        for (i, t) in b.tables.iter_mut().enumerate() {
            warnings.append(&mut t.warnings);
            if b.roles[i].is_none() {
                warnings.push(format!("the table {} is declared but never used", t.name));
            }
        }
        let mut sources = Vec::new();
        for s in std::mem::take(&mut b.sources) {
            let t = &mut b.tables[s.table];
            let (topics, startup_mode) = t.as_source()?;
            warnings.append(&mut t.warnings);
            let uses_event_id = s.slots.iter().any(|x| matches!(x, Slot::Meta(Meta::EventId, _)));
            sources.push(Source {
                name: t.name.clone(),
                topics,
                startup_mode,
                options: t.options.clone(),
                slots: s.slots,
                names: s.fields.iter().map(|f| crate::scan::Name::new(&f.name)).collect(),
                fields: s.fields,
                computed: s.computed,
                per_topic: Vec::new(),
                fail_on_missing: t.flag("json.fail-on-missing-field"),
                ignore_parse_errors: t.flag("json.ignore-parse-errors"),
                branches: s.branches,
                uses_event_id,
            });
        }
        for (i, src) in sources.iter_mut().enumerate() {
            topical::hoist(src, branches.iter_mut().filter(|br| br.source == i));
        }
        for br in &mut branches {
            br.at = At::of(&br.exprs);
            br.steps = Step::of(&br.at, &sinks[br.sink].columns);
        }
        let drop_not_null =
            settings.get("table.exec.sink.not-null-enforcer").is_some_and(|v| v.eq_ignore_ascii_case("DROP"));
        Ok(Plan { file: String::new(), sources, sinks, branches, sites: b.sites, settings, warnings, drop_not_null })
    }

    /// The sources that read `topic`.
    pub fn sources_reading(&self, topic: &str) -> Vec<usize> {
        (0..self.sources.len()).filter(|&i| self.sources[i].topics.matches(topic)).collect()
    }

    /// The text and line of an expression site.
    pub fn site(&self, site: u32) -> &Site {
        &self.sites[site as usize]
    }
}

impl<'a> Builder<'a> {
    fn table_index(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.name == name)
    }

    fn known_tables(&self) -> String {
        let mut names: Vec<&str> = self.tables.iter().map(|t| t.name.as_str()).collect();
        names.extend(self.views.keys().map(String::as_str));
        format!("declared: {}", names.join(", "))
    }

    /// Records that `table` is read (`source`) or written; a table cannot be both.
    fn role(&mut self, table: usize, source: bool, at: Pos) -> Result<(), Problem> {
        match self.roles[table] {
            Some(r) if r != source => Err(Problem::at(
                at,
                format!("the table {} is both read and written by this job", self.tables[table].name),
            )
            .hint("read one topic and write another")),
            _ => {
                self.roles[table] = Some(source);
                Ok(())
            }
        }
    }

    /// Records an expression that can fail; returns its site number.
    pub(crate) fn site(&mut self, e: &ast::Expr) -> u32 {
        self.sites.push(Site { text: e.to_string(), line: compile::pos(e).line });
        (self.sites.len() - 1) as u32
    }

    /// The typed expression of column `col` of `table`, read through `source`.
    pub(crate) fn table_column(&mut self, source: usize, table: usize, col: usize) -> Result<Typed, Problem> {
        let c = self.tables[table].columns[col].clone();
        if let Some(&(slot, ty, nullable)) = self.sources[source].by_column.get(&col) {
            return Ok(Typed { expr: Expr::Col(slot), ty, nullable });
        }
        let (slot, ty, nullable) = match &c.kind {
            Kind::Computed(expr) => {
                // Compiled like a SELECT item, over the table's other columns (not other computed ones): the slots
                // it reads come first, so evaluating slots in order fills them before it.
                let mut scope = self.base_scope(source, table, false);
                let t = self.compile(expr, &mut scope)?;
                let s = &mut self.sources[source];
                let slot = s.slots.len() as u16;
                s.slots.push(Slot::Computed(s.computed.len() as u16));
                s.computed.push(t.expr);
                (slot, t.ty, t.nullable)
            }
            kind => {
                let s = &mut self.sources[source];
                let slot = s.slots.len() as u16;
                match kind {
                    Kind::Physical => {
                        s.slots.push(Slot::Field);
                        s.fields.push(Field { name: c.name.clone(), ty: c.ty, not_null: !c.nullable, slot });
                    }
                    Kind::Metadata(meta, _) => s.slots.push(Slot::Meta(*meta, c.ty)),
                    Kind::Computed(_) => unreachable!("handled above"),
                }
                let nullable = match kind {
                    Kind::Metadata(
                        Meta::Topic
                        | Meta::Partition
                        | Meta::Offset
                        | Meta::Timestamp
                        | Meta::TimestampType
                        | Meta::EventId,
                        _,
                    ) => false,
                    _ => c.nullable,
                };
                (slot, c.ty, nullable)
            }
        };
        self.sources[source].by_column.insert(col, (slot, ty, nullable));
        Ok(Typed { expr: Expr::Col(slot), ty, nullable })
    }

    /// The names of `table`'s columns (computed ones too when `computed`), read through `source`.
    fn base_scope(&self, source: usize, table: usize, computed: bool) -> Scope {
        let t = &self.tables[table];
        let names = t
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| computed || !matches!(c.kind, Kind::Computed(_)))
            .map(|(i, c)| (c.name.clone(), Binding::Column { table, col: i }))
            .collect();
        Scope { source, names, qualifiers: vec![t.name.clone()] }
    }

    /// The SELECTs of a query (several for UNION ALL).
    fn query(&mut self, q: &ast::Query) -> Result<Vec<Selected>, Problem> {
        let at = Pos::of(sqlparser::ast::Spanned::span(q).start);
        if q.with.is_some() {
            return Err(unsupported(at, "WITH (common table expressions)", "CREATE VIEW"));
        }
        if q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
            return Err(unsupported(at, "ORDER BY, LIMIT and FETCH", "an unbounded stream, row by row"));
        }
        self.set_expr(&q.body, at)
    }

    fn set_expr(&mut self, body: &ast::SetExpr, at: Pos) -> Result<Vec<Selected>, Problem> {
        match body {
            ast::SetExpr::Select(s) => Ok(vec![self.select(s)?]),
            ast::SetExpr::Query(q) => self.query(q),
            ast::SetExpr::SetOperation {
                op: ast::SetOperator::Union,
                set_quantifier: ast::SetQuantifier::All,
                left,
                right,
            } => {
                let mut l = self.set_expr(left, at)?;
                l.append(&mut self.set_expr(right, at)?);
                Ok(l)
            }
            ast::SetExpr::SetOperation { op, .. } => {
                Err(unsupported(at, &format!("{op} without ALL, INTERSECT and EXCEPT"), "UNION ALL"))
            }
            _ => Err(unsupported(at, "VALUES and other query forms", "SELECT … FROM table [WHERE …]")),
        }
    }

    fn select(&mut self, s: &ast::Select) -> Result<Selected, Problem> {
        let at = Pos::of(s.select_token.0.span.start);
        if s.distinct.is_some() {
            return Err(unsupported(at, "SELECT DISTINCT", "SELECT (one row out per row in)"));
        }
        let grouped = match &s.group_by {
            ast::GroupByExpr::All(_) => true,
            ast::GroupByExpr::Expressions(e, m) => !e.is_empty() || !m.is_empty(),
        };
        if grouped || s.having.is_some() {
            return Err(unsupported(
                at,
                "GROUP BY, HAVING and aggregates",
                "one row out per row in; aggregate in ClickHouse",
            ));
        }
        if !s.named_window.is_empty() || s.qualify.is_some() {
            return Err(unsupported(at, "windows and QUALIFY", "one row out per row in"));
        }
        if s.top.is_some()
            || s.into.is_some()
            || !s.lateral_views.is_empty()
            || s.prewhere.is_some()
            || !s.sort_by.is_empty()
            || !s.cluster_by.is_empty()
            || !s.distribute_by.is_empty()
            || !s.connect_by.is_empty()
        {
            return Err(unsupported(at, "this SELECT clause", "SELECT items FROM table [WHERE condition]"));
        }
        let [from] = s.from.as_slice() else {
            return Err(unsupported(
                at,
                "a SELECT from several tables (joins)",
                "SELECT … FROM one table; UNION ALL to merge",
            ));
        };
        if let Some(join) = from.joins.first() {
            let at = Pos::of(sqlparser::ast::Spanned::span(&join.relation).start);
            return Err(unsupported(at, "JOIN", "SELECT … FROM one table; UNION ALL to merge"));
        }
        let ast::TableFactor::Table { name, alias, args: None, .. } = &from.relation else {
            return Err(unsupported(at, "subqueries and table functions in FROM", "FROM a declared table or view"));
        };
        let [ast::ObjectNamePart::Identifier(id)] = name.0.as_slice() else {
            return Err(Problem::at(at, format!("unknown table {name}")).hint(self.known_tables()));
        };
        let table_pos = Pos::of(id.span.start);
        let (mut scope, view_filter) = if let Some(view) = self.views.get(&id.value).copied() {
            let mut selected = self.query(&view.query)?;
            if selected.len() != 1 {
                return Err(unsupported(table_pos, "reading a view with UNION ALL", "a view of one SELECT"));
            }
            let v = selected.remove(0);
            let names = v
                .items
                .into_iter()
                .enumerate()
                .map(|(i, (n, t, _, _))| (n.unwrap_or_else(|| format!("EXPR${i}")), Binding::Typed(t)))
                .collect();
            (Scope { source: v.source, names, qualifiers: vec![id.value.clone()] }, v.filter)
        } else {
            let table = self.table_index(&id.value).ok_or_else(|| {
                Problem::at(table_pos, format!("unknown table {}", id.value)).hint(self.known_tables())
            })?;
            self.role(table, true, table_pos)?;
            let source = match self.sources.iter().position(|x| x.table == table) {
                Some(i) => i,
                None => {
                    self.sources.push(SourceBuild {
                        table,
                        slots: Vec::new(),
                        fields: Vec::new(),
                        computed: Vec::new(),
                        by_column: BTreeMap::new(),
                        branches: Vec::new(),
                    });
                    self.sources.len() - 1
                }
            };
            (self.base_scope(source, table, true), None)
        };
        if let Some(a) = alias {
            scope.qualifiers.push(a.name.value.clone());
        }
        let mut items = Vec::new();
        for item in &s.projection {
            match item {
                ast::SelectItem::UnnamedExpr(e) => {
                    let t = self.compile(e, &mut scope)?;
                    let name = match e {
                        ast::Expr::Identifier(i) => Some(i.value.clone()),
                        ast::Expr::CompoundIdentifier(p) => p.last().map(|i| i.value.clone()),
                        _ => None,
                    };
                    items.push((name, t, self.site(e), compile::pos(e)));
                }
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    let t = self.compile(expr, &mut scope)?;
                    items.push((Some(alias.value.clone()), t, self.site(expr), compile::pos(expr)));
                }
                ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                    for (name, binding) in scope.names.clone() {
                        let t = match binding {
                            Binding::Typed(t) => t,
                            Binding::Column { table, col } => self.table_column(scope.source, table, col)?,
                        };
                        self.sites.push(Site { text: format!("`{name}`"), line: at.line });
                        items.push((Some(name), t, (self.sites.len() - 1) as u32, at));
                    }
                }
                _ => return Err(unsupported(at, "this SELECT item", "expressions, expr AS name, *")),
            }
        }
        let mut filter = view_filter;
        if let Some(w) = &s.selection {
            let t = self.compile(w, &mut scope)?;
            if t.ty != Type::Boolean && t.ty != Type::Null {
                return Err(Problem::at(compile::pos(w), format!("WHERE needs a BOOLEAN, and {w} is {}", t.ty)));
            }
            filter = Some(match filter {
                Some(f) => Expr::And(Box::new(f), Box::new(t.expr)),
                None => t.expr,
            });
        }
        Ok(Selected { source: scope.source, filter, items })
    }

    /// Whether `br` writes its source's topic, partition and offset metadata, unchanged, into the sink's columns
    /// `source_topic`, `source_partition` and `source_offset`.
    fn carries_coordinates(&self, sink: &Sink, br: &Branch) -> bool {
        let src = &self.sources[br.source];
        // The planner checked the types: these columns take the metadata's STRING, INT and BIGINT as they are.
        [("source_topic", Meta::Topic), ("source_partition", Meta::Partition), ("source_offset", Meta::Offset)].iter().all(
            |(name, meta)| {
                let Some(i) = sink.columns.iter().position(|c| c.name == *name) else { return false };
                matches!(&br.exprs[i], Expr::Col(slot) if matches!(src.slots[*slot as usize], Slot::Meta(m, _) if m == *meta))
            },
        )
    }

    /// A SELECT's items matched to the sink's columns.
    fn for_sink(&mut self, ins: &InsertDef, sink: &Sink, sink_idx: usize, s: Selected) -> Result<Branch, Problem> {
        let targets: Vec<usize> = match &ins.columns {
            None => (0..sink.columns.len()).collect(),
            Some(names) => {
                let mut t = Vec::new();
                for n in names {
                    let i = sink.columns.iter().position(|c| c.name == n.value).ok_or_else(|| {
                        Problem::at(n.pos, format!("unknown column {} of {}", n.value, sink.name)).hint(format!(
                            "its columns: {}",
                            sink.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                        ))
                    })?;
                    if t.contains(&i) {
                        return Err(Problem::at(n.pos, format!("the column {} is listed twice", n.value)));
                    }
                    t.push(i);
                }
                t
            }
        };
        if targets.len() != s.items.len() {
            return Err(Problem::at(
                ins.pos,
                format!("the SELECT gives {} columns, and {} takes {}", s.items.len(), sink.name, targets.len()),
            )
            .hint(format!(
                "its columns: {}",
                targets.iter().map(|&i| sink.columns[i].name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        let mut exprs: Vec<Option<Expr>> = vec![None; sink.columns.len()];
        let mut sites = vec![0u32; sink.columns.len()];
        for (&target, (_, t, site, at)) in targets.iter().zip(s.items) {
            let col = &sink.columns[target];
            if !t.ty.assignable_to(col.ty) {
                return Err(Problem::at(
                    at,
                    format!(
                        "the column {} of {} is {}, and {} is {}",
                        col.name, sink.name, col.ty, self.sites[site as usize].text, t.ty
                    ),
                )
                .hint(format!("CAST it: CAST({} AS {})", self.sites[site as usize].text, col.ty)));
            }
            exprs[target] = Some(coerce(t, col.ty));
            sites[target] = site;
        }
        let mut out = Vec::new();
        for (i, e) in exprs.into_iter().enumerate() {
            match e {
                Some(e) => out.push(e),
                None if sink.columns[i].nullable => out.push(Expr::Lit(crate::value::NULL)),
                None => {
                    return Err(Problem::at(
                        ins.pos,
                        format!(
                            "the column {} of {} is NOT NULL and the INSERT gives it no value",
                            sink.columns[i].name, sink.name
                        ),
                    ))
                }
            }
        }
        Ok(Branch {
            sink: sink_idx,
            source: s.source,
            filter: s.filter,
            exprs: out,
            sites,
            at: Vec::new(),
            steps: Vec::new(),
        })
    }
}

/// The `SET` keys we take, and what they may be.
fn check_setting(key: &str, value: &str, at: Pos, warnings: &mut Vec<String>) -> Result<(), Problem> {
    let ok =
        match key {
            "table.local-time-zone" => value == "UTC",
            "table.exec.sink.not-null-enforcer" => {
                value.eq_ignore_ascii_case("ERROR") || value.eq_ignore_ascii_case("DROP")
            }
            "execution.runtime-mode" => value.eq_ignore_ascii_case("streaming"),
            "pipeline.name" | "parallelism.default" | "table.exec.resource.default-parallelism" => {
                warnings.push(format!("SET '{key}' is ignored"));
                true
            }
            _ => return Err(Problem::at(at, format!("the setting '{key}' is not supported")).hint(
                "supported: 'table.local-time-zone' = 'UTC', 'table.exec.sink.not-null-enforcer' = 'ERROR'|'DROP', \
                 'execution.runtime-mode' = 'streaming', 'pipeline.name'",
            )),
        };
    if ok {
        Ok(())
    } else {
        Err(Problem::at(at, format!("'{key}' = '{value}' is not supported")))
    }
}

fn unsupported(at: Pos, what: &str, supported: &str) -> Problem {
    Problem::at(at, format!("{what}: not supported")).hint(format!("supported: {supported}"))
}
