//! Reading a job file: Flink's statement layer by hand (`CREATE TABLE` with metadata, computed columns and `WITH`
//! options, `INSERT INTO … SELECT`, `SET`, statement sets), with sqlparser for the tokens, the expressions and the
//! queries. The result is our own statement list ([`Stmt`]); nothing here knows what a name refers to ([`crate::plan`]
//! does).

pub mod dialect;

use sqlparser::ast;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Token, TokenWithSpan};

use crate::error::{Pos, Problem};
use crate::types::{RowField, Type};

/// A name as written (Flink names are case-sensitive), and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    /// The name without quotes.
    pub value: String,
    /// Where it is.
    pub pos: Pos,
}

/// One statement of a job.
#[derive(Debug, Clone)]
pub enum Stmt {
    /// `CREATE [TEMPORARY] TABLE`.
    CreateTable(TableDef),
    /// `CREATE [TEMPORARY] VIEW name AS query`.
    CreateView(ViewDef),
    /// `INSERT INTO sink [(columns)] query`.
    Insert(InsertDef),
    /// `SET 'key' = 'value'`.
    Set(SetDef),
}

/// A declared table.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// Its name.
    pub name: Name,
    /// Its columns, in order.
    pub columns: Vec<ColumnDef>,
    /// `PRIMARY KEY (…) NOT ENFORCED`.
    pub primary_key: Vec<Name>,
    /// Where a `WATERMARK` clause is (accepted and ignored).
    pub watermark: Option<Pos>,
    /// Where a `PARTITIONED BY` clause is (accepted and ignored).
    pub partitioned_by: Option<Pos>,
    /// The `WITH` options, in order.
    pub options: Vec<OptionDef>,
    /// Where the statement starts.
    pub pos: Pos,
}

/// A column of a declared table.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    /// Its name.
    pub name: Name,
    /// What it is.
    pub kind: ColumnKind,
}

/// The three kinds of Flink columns.
#[derive(Debug, Clone)]
pub enum ColumnKind {
    /// A field of the value (`amount DOUBLE [NOT NULL]`).
    Physical {
        /// Its type.
        ty: Type,
        /// `NOT NULL`.
        not_null: bool,
    },
    /// Connector metadata (`topic STRING METADATA [FROM 'topic'] [VIRTUAL]`).
    Metadata {
        /// Its type.
        ty: Type,
        /// The metadata key (`FROM 'key'`); the column name when absent.
        key: Option<String>,
        /// `VIRTUAL`: read-only, not part of a sink's row.
        is_virtual: bool,
    },
    /// `name AS expr`: evaluated from the other columns.
    Computed {
        /// The expression.
        expr: Box<ast::Expr>,
    },
}

/// One `'key' = 'value'` of a `WITH` clause.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionDef {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Where the key is.
    pub pos: Pos,
}

/// A view, inlined where it is used.
#[derive(Debug, Clone)]
pub struct ViewDef {
    /// Its name.
    pub name: Name,
    /// Its query.
    pub query: Box<ast::Query>,
}

/// An INSERT.
#[derive(Debug, Clone)]
pub struct InsertDef {
    /// The sink table.
    pub sink: Name,
    /// The column list, if given.
    pub columns: Option<Vec<Name>>,
    /// The query.
    pub query: Box<ast::Query>,
    /// Where the statement starts.
    pub pos: Pos,
}

/// A `SET`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetDef {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Where it is.
    pub pos: Pos,
}

/// Reads the statements of `sql`.
pub fn parse(sql: &str) -> Result<Vec<Stmt>, Problem> {
    refuse_hints(sql)?;
    let dialect = dialect::Flink;
    let mut p = Parser::new(&dialect).try_with_sql(sql).map_err(|e| parser_problem(e, Pos::default()))?;
    let mut out = Vec::new();
    loop {
        while p.consume_token(&Token::SemiColon) {}
        if p.peek_token().token == Token::EOF {
            break;
        }
        let start = p.peek_token();
        let pos = pos_of(&start);
        if eat(&mut p, "CREATE") {
            eat(&mut p, "TEMPORARY");
            if eat(&mut p, "TABLE") {
                out.push(Stmt::CreateTable(table(&mut p, pos)?));
            } else if eat(&mut p, "VIEW") {
                eat_words(&mut p, &["IF", "NOT", "EXISTS"]);
                let name = name(&mut p)?;
                expect(&mut p, "AS")?;
                let query = p.parse_query().map_err(|e| parser_problem(e, here(&p)))?;
                out.push(Stmt::CreateView(ViewDef { name, query }));
            } else {
                return Err(unsupported(&p, "CREATE TABLE and CREATE VIEW"));
            }
        } else if is(&p.peek_token(), "INSERT") {
            out.push(Stmt::Insert(insert(&mut p)?));
        } else if eat(&mut p, "SET") {
            let key = string(&mut p)?;
            p.expect_token(&Token::Eq).map_err(|e| parser_problem(e, here(&p)))?;
            let value = string(&mut p)?;
            out.push(Stmt::Set(SetDef { key, value, pos }));
        } else if eat(&mut p, "EXECUTE") {
            expect(&mut p, "STATEMENT")?;
            expect(&mut p, "SET")?;
            expect(&mut p, "BEGIN")?;
            statement_set(&mut p, &mut out)?;
        } else if eat(&mut p, "BEGIN") {
            expect(&mut p, "STATEMENT")?;
            expect(&mut p, "SET")?;
            p.expect_token(&Token::SemiColon).map_err(|e| parser_problem(e, here(&p)))?;
            statement_set(&mut p, &mut out)?;
        } else {
            return Err(unsupported(&p, "CREATE TABLE, CREATE VIEW, INSERT INTO … SELECT, SET and statement sets"));
        }
        let next = p.peek_token();
        if !matches!(next.token, Token::SemiColon | Token::EOF) {
            return Err(Problem::at(pos_of(&next), format!("expected ';' after the statement, found {}", next.token)));
        }
    }
    Ok(out)
}

/// The INSERTs of a statement set, up to its `END`.
fn statement_set(p: &mut Parser<'_>, out: &mut Vec<Stmt>) -> Result<(), Problem> {
    loop {
        while p.consume_token(&Token::SemiColon) {}
        if eat(p, "END") {
            return Ok(());
        }
        if p.peek_token().token == Token::EOF {
            return Err(Problem::at(here(p), "the statement set has no END"));
        }
        if !is(&p.peek_token(), "INSERT") {
            return Err(unsupported(p, "INSERT statements inside a statement set"));
        }
        out.push(Stmt::Insert(insert(p)?));
    }
}

fn insert(p: &mut Parser<'_>) -> Result<InsertDef, Problem> {
    let pos = here(p);
    expect(p, "INSERT")?;
    if is(&p.peek_token(), "OVERWRITE") {
        return Err(unsupported(p, "INSERT INTO (a streaming job appends)"));
    }
    expect(p, "INTO")?;
    let sink = name(p)?;
    let columns = if p.peek_token().token == Token::LParen {
        p.next_token();
        let mut cols = vec![name(p)?];
        while p.consume_token(&Token::Comma) {
            cols.push(name(p)?);
        }
        p.expect_token(&Token::RParen).map_err(|e| parser_problem(e, here(p)))?;
        Some(cols)
    } else {
        None
    };
    let query = p.parse_query().map_err(|e| parser_problem(e, here(p)))?;
    Ok(InsertDef { sink, columns, query, pos })
}

fn table(p: &mut Parser<'_>, pos: Pos) -> Result<TableDef, Problem> {
    eat_words(p, &["IF", "NOT", "EXISTS"]);
    let table_name = name(p)?;
    if is(&p.peek_token(), "LIKE") || is(&p.peek_token(), "AS") {
        return Err(unsupported(p, "CREATE TABLE with its columns and a WITH clause (not LIKE or AS)"));
    }
    p.expect_token(&Token::LParen).map_err(|e| parser_problem(e, here(p)))?;
    let mut t = TableDef {
        name: table_name,
        columns: Vec::new(),
        primary_key: Vec::new(),
        watermark: None,
        partitioned_by: None,
        options: Vec::new(),
        pos,
    };
    loop {
        let at = here(p);
        if eat(p, "WATERMARK") {
            expect(p, "FOR")?;
            name(p)?;
            expect(p, "AS")?;
            p.parse_expr().map_err(|e| parser_problem(e, here(p)))?;
            t.watermark = Some(at);
        } else if is(&p.peek_token(), "PRIMARY") || is(&p.peek_token(), "CONSTRAINT") {
            if eat(p, "CONSTRAINT") {
                name(p)?;
            }
            expect(p, "PRIMARY")?;
            expect(p, "KEY")?;
            t.primary_key = name_list(p)?;
            expect(p, "NOT")?;
            expect(p, "ENFORCED")?;
        } else {
            t.columns.push(column(p)?);
        }
        if p.consume_token(&Token::Comma) {
            continue;
        }
        p.expect_token(&Token::RParen).map_err(|e| parser_problem(e, here(p)))?;
        break;
    }
    if eat(p, "COMMENT") {
        string(p)?;
    }
    if is(&p.peek_token(), "PARTITIONED") {
        t.partitioned_by = Some(here(p));
        p.next_token();
        expect(p, "BY")?;
        name_list(p)?;
    }
    if eat(p, "WITH") {
        p.expect_token(&Token::LParen).map_err(|e| parser_problem(e, here(p)))?;
        loop {
            let at = here(p);
            let key = string(p)?;
            p.expect_token(&Token::Eq).map_err(|e| parser_problem(e, here(p)))?;
            let value = string(p)?;
            t.options.push(OptionDef { key, value, pos: at });
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        p.expect_token(&Token::RParen).map_err(|e| parser_problem(e, here(p)))?;
    }
    if is(&p.peek_token(), "LIKE") {
        return Err(unsupported(p, "CREATE TABLE with its columns and a WITH clause (not LIKE)"));
    }
    Ok(t)
}

fn column(p: &mut Parser<'_>) -> Result<ColumnDef, Problem> {
    let name = name(p)?;
    if eat(p, "AS") {
        let expr = p.parse_expr().map_err(|e| parser_problem(e, here(p)))?;
        if eat(p, "COMMENT") {
            string(p)?;
        }
        return Ok(ColumnDef { name, kind: ColumnKind::Computed { expr: Box::new(expr) } });
    }
    let ty = data_type(p)?;
    let mut not_null = false;
    let mut metadata = None;
    loop {
        if eat(p, "NOT") {
            expect(p, "NULL")?;
            not_null = true;
        } else if eat(p, "NULL") {
        } else if eat(p, "METADATA") {
            let key = if eat(p, "FROM") { Some(string(p)?) } else { None };
            let is_virtual = eat(p, "VIRTUAL");
            metadata = Some((key, is_virtual));
        } else if eat(p, "COMMENT") {
            string(p)?;
        } else if is(&p.peek_token(), "PRIMARY") {
            p.next_token();
            expect(p, "KEY")?;
            expect(p, "NOT")?;
            expect(p, "ENFORCED")?;
        } else {
            break;
        }
    }
    let kind = match metadata {
        Some((key, is_virtual)) => ColumnKind::Metadata { ty, key, is_virtual },
        None => ColumnKind::Physical { ty, not_null },
    };
    Ok(ColumnDef { name, kind })
}

/// A Flink type name: `STRING`, `VARCHAR(n)`, `DECIMAL(p, s)`, `TIMESTAMP(3)`, `TIMESTAMP_LTZ(3)`,
/// `ARRAY<T>`, `MAP<STRING, T>`, `ROW<name T, …>`, …
pub fn data_type(p: &mut Parser<'_>) -> Result<Type, Problem> {
    let mut pending = 0;
    let ty = type_in(p, &mut pending)?;
    if pending > 0 {
        return Err(Problem::at(here(p), format!("{ty} is followed by an unmatched >")));
    }
    Ok(ty)
}

/// [`data_type`]; `pending` counts the `>` of a `>>` token still to be taken by an enclosing type.
fn type_in(p: &mut Parser<'_>, pending: &mut u8) -> Result<Type, Problem> {
    let tok = p.next_token();
    let at = pos_of(&tok);
    let word = match &tok.token {
        Token::Word(w) if w.quote_style.is_none() => w.value.to_ascii_uppercase(),
        other => return Err(Problem::at(at, format!("expected a type, found {other}")).hint(SUPPORTED_TYPES)),
    };
    let ty = match word.as_str() {
        "STRING" => Type::String,
        "VARCHAR" | "CHAR" | "CHARACTER" => {
            eat(p, "VARYING");
            optional_args(p)?;
            Type::String
        }
        "BOOLEAN" | "BOOL" => Type::Boolean,
        "TINYINT" => Type::TinyInt,
        "SMALLINT" => Type::SmallInt,
        "INT" | "INTEGER" => Type::Int,
        "BIGINT" => Type::BigInt,
        "FLOAT" | "REAL" => Type::Float,
        "DOUBLE" => {
            eat(p, "PRECISION");
            Type::Double
        }
        "DECIMAL" | "DEC" | "NUMERIC" => {
            let args = optional_args(p)?;
            let precision = args.first().copied().unwrap_or(10);
            let scale = args.get(1).copied().unwrap_or(0);
            if !(1..=38).contains(&precision) || scale > precision {
                return Err(Problem::at(at, format!("DECIMAL({precision}, {scale}) is out of range"))
                    .hint("precision 1 to 38, scale 0 to the precision"));
            }
            Type::Decimal(precision as u8, scale as u8)
        }
        "DATE" => Type::Date,
        "TIMESTAMP" => {
            let p_ = precision(p, at)?;
            if eat(p, "WITHOUT") {
                expect(p, "TIME")?;
                expect(p, "ZONE")?;
                Type::Timestamp(p_)
            } else if eat(p, "WITH") {
                expect(p, "LOCAL")?;
                expect(p, "TIME")?;
                expect(p, "ZONE")?;
                Type::TimestampLtz(p_)
            } else {
                Type::Timestamp(p_)
            }
        }
        "TIMESTAMP_LTZ" => Type::TimestampLtz(precision(p, at)?),
        "BYTES" | "VARBINARY" | "BINARY" => {
            optional_args(p)?;
            Type::Bytes
        }
        "ARRAY" => {
            open_angle(p)?;
            let (ty, nullable) = part_type(p, pending)?;
            close_angle(p, pending)?;
            Type::array(ty, nullable)
        }
        "MAP" => {
            open_angle(p)?;
            let key_at = here(p);
            let (key, _) = part_type(p, pending)?;
            if key != Type::String {
                return Err(Problem::at(key_at, format!("a MAP with {key} keys cannot be read from JSON"))
                    .hint("the JSON format's map keys are strings: declare MAP<STRING, T>"));
            }
            p.expect_token(&Token::Comma).map_err(|e| parser_problem(e, here(p)))?;
            let (value, nullable) = part_type(p, pending)?;
            close_angle(p, pending)?;
            Type::map(value, nullable)
        }
        "ROW" => {
            // `ROW<name T, …>` or `ROW(name T, …)`, each field `name T [NOT NULL] [COMMENT '…']`.
            let close = if p.consume_token(&Token::LParen) {
                Token::RParen
            } else {
                open_angle(p)?;
                Token::Gt
            };
            let mut fields: Vec<RowField> = Vec::new();
            loop {
                let field = name(p)?;
                if fields.iter().any(|f| f.name == field.value) {
                    return Err(Problem::at(field.pos, format!("the ROW has two fields named {}", field.value)));
                }
                let (ty, nullable) = part_type(p, pending)?;
                if *pending == 0 && eat(p, "COMMENT") {
                    string(p)?;
                }
                fields.push(RowField { name: field.value, ty, nullable });
                if *pending > 0 || !p.consume_token(&Token::Comma) {
                    break;
                }
            }
            if close == Token::Gt {
                close_angle(p, pending)?;
            } else {
                p.expect_token(&Token::RParen).map_err(|e| parser_problem(e, here(p)))?;
            }
            Type::row(fields)
        }
        "MULTISET" | "TIME" | "INTERVAL" | "RAW" => {
            return Err(Problem::at(at, format!("the type {word} is not supported yet")).hint(SUPPORTED_TYPES))
        }
        other => return Err(Problem::at(at, format!("unknown type {other}")).hint(SUPPORTED_TYPES)),
    };
    Ok(ty)
}

/// What `data_type` takes, for hints.
pub const SUPPORTED_TYPES: &str =
    "supported types: STRING, VARCHAR(n), CHAR(n), BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, \
     FLOAT, DOUBLE, DECIMAL(p, s), DATE, TIMESTAMP(p), TIMESTAMP_LTZ(p), BYTES, ARRAY<T>, MAP<STRING, T>, \
     ROW<name T, …>";

/// A nested type's part: `T [NOT NULL] [NULL]`, and whether it may be NULL.
fn part_type(p: &mut Parser<'_>, pending: &mut u8) -> Result<(Type, bool), Problem> {
    let ty = type_in(p, pending)?;
    let mut nullable = true;
    if *pending > 0 {
        // `ARRAY<ARRAY<INT>>`: the inner type ended with the outer one's `>`.
        return Ok((ty, nullable));
    }
    if eat(p, "NOT") {
        expect(p, "NULL")?;
        nullable = false;
    } else {
        eat(p, "NULL");
    }
    Ok((ty, nullable))
}

fn open_angle(p: &mut Parser<'_>) -> Result<(), Problem> {
    p.expect_token(&Token::Lt).map(drop).map_err(|e| parser_problem(e, here(p)))
}

/// The `>` closing a nested type. The tokenizer reads `>>` as one token (`ARRAY<ARRAY<INT>>`): its second `>` is
/// left in `pending` for the enclosing type.
fn close_angle(p: &mut Parser<'_>, pending: &mut u8) -> Result<(), Problem> {
    if *pending > 0 {
        *pending -= 1;
        return Ok(());
    }
    if p.consume_token(&Token::ShiftRight) {
        *pending += 1;
        return Ok(());
    }
    p.expect_token(&Token::Gt).map(drop).map_err(|e| parser_problem(e, here(p)))
}

fn precision(p: &mut Parser<'_>, at: Pos) -> Result<u8, Problem> {
    let args = optional_args(p)?;
    let precision = args.first().copied().unwrap_or(6);
    if precision > 9 {
        return Err(Problem::at(at, format!("TIMESTAMP({precision}): the precision is 0 to 9")));
    }
    Ok(precision as u8)
}

/// `(n [, m])` after a type name, if there.
fn optional_args(p: &mut Parser<'_>) -> Result<Vec<u64>, Problem> {
    if !p.consume_token(&Token::LParen) {
        return Ok(Vec::new());
    }
    let mut args = vec![p.parse_literal_uint().map_err(|e| parser_problem(e, here(p)))?];
    while p.consume_token(&Token::Comma) {
        args.push(p.parse_literal_uint().map_err(|e| parser_problem(e, here(p)))?);
    }
    p.expect_token(&Token::RParen).map_err(|e| parser_problem(e, here(p)))?;
    Ok(args)
}

fn name_list(p: &mut Parser<'_>) -> Result<Vec<Name>, Problem> {
    p.expect_token(&Token::LParen).map_err(|e| parser_problem(e, here(p)))?;
    let mut names = vec![name(p)?];
    while p.consume_token(&Token::Comma) {
        names.push(name(p)?);
    }
    p.expect_token(&Token::RParen).map_err(|e| parser_problem(e, here(p)))?;
    Ok(names)
}

/// A (possibly backquoted) name; a dotted `catalog.db.table` is refused.
fn name(p: &mut Parser<'_>) -> Result<Name, Problem> {
    let at = here(p);
    let ident = p.parse_identifier().map_err(|e| parser_problem(e, at))?;
    if p.peek_token().token == Token::Period {
        return Err(Problem::at(at, format!("a qualified name ({}.…) is not supported", ident.value))
            .hint("name tables without catalog and database: this job has its own namespace"));
    }
    Ok(Name { value: ident.value, pos: at })
}

/// A quoted string literal.
fn string(p: &mut Parser<'_>) -> Result<String, Problem> {
    let tok = p.next_token();
    match &tok.token {
        Token::SingleQuotedString(s) => Ok(s.clone()),
        other => Err(Problem::at(pos_of(&tok), format!("expected a quoted string, found {other}"))),
    }
}

/// Whether `tok` is the unquoted word `w` (any case).
fn is(tok: &TokenWithSpan, w: &str) -> bool {
    matches!(&tok.token, Token::Word(word) if word.quote_style.is_none() && word.value.eq_ignore_ascii_case(w))
}

/// Consumes the word `w` if it is next.
fn eat(p: &mut Parser<'_>, w: &str) -> bool {
    if is(&p.peek_token(), w) {
        p.next_token();
        true
    } else {
        false
    }
}

/// Consumes the words `ws` if they are all next, in order.
fn eat_words(p: &mut Parser<'_>, ws: &[&str]) -> bool {
    if ws.iter().enumerate().all(|(i, w)| is(&p.peek_nth_token(i), w)) {
        for _ in ws {
            p.next_token();
        }
        true
    } else {
        false
    }
}

fn expect(p: &mut Parser<'_>, w: &str) -> Result<(), Problem> {
    if eat(p, w) {
        Ok(())
    } else {
        let tok = p.peek_token();
        Err(Problem::at(pos_of(&tok), format!("expected {w}, found {}", tok.token)))
    }
}

fn unsupported(p: &Parser<'_>, supported: &str) -> Problem {
    let tok = p.peek_token();
    Problem::at(pos_of(&tok), format!("unsupported statement starting with {}", tok.token))
        .hint(format!("supported: {supported}"))
}

/// The position of the next token.
fn here(p: &Parser<'_>) -> Pos {
    pos_of(&p.peek_token())
}

fn pos_of(tok: &TokenWithSpan) -> Pos {
    Pos::of(tok.span.start)
}

/// A sqlparser error as a problem: its own position when its message has one, else `fallback`.
pub fn parser_problem(e: ParserError, fallback: Pos) -> Problem {
    let text = match e {
        ParserError::TokenizerError(s) | ParserError::ParserError(s) => s,
        ParserError::RecursionLimitExceeded => "the expression nests too deeply".to_owned(),
    };
    match text.rsplit_once(" at Line: ") {
        Some((message, at)) => {
            let mut nums = at.split(", Column: ").map(|n| n.trim().parse::<u64>().unwrap_or(0));
            let line = nums.next().unwrap_or(0);
            let column = nums.next().unwrap_or(0);
            Problem::at(Pos { line, column }, syntax(message))
        }
        None => Problem::at(fallback, syntax(&text)),
    }
}

fn syntax(message: &str) -> String {
    format!("syntax error: {message}")
}

/// Flink's `/*+ OPTIONS(…) */` hints look like comments to the tokenizer: refuse them rather than ignore them.
fn refuse_hints(sql: &str) -> Result<(), Problem> {
    let mut in_string = false;
    for (line_no, line) in sql.lines().enumerate() {
        let b = line.as_bytes();
        for i in 0..b.len() {
            if b[i] == b'\'' {
                in_string = !in_string;
            } else if !in_string && b[i..].starts_with(b"/*+") {
                return Err(Problem::at(
                    Pos { line: line_no as u64 + 1, column: line[..i].chars().count() as u64 + 1 },
                    "query hints (/*+ … */) are not supported",
                )
                .hint("put options in the table's WITH clause"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../tests/data/seed-job.sql");

    #[test]
    fn the_seed_job_parses() {
        let stmts = parse(SEED).unwrap();
        assert_eq!(stmts.len(), 3);
        let Stmt::CreateTable(src) = &stmts[0] else { panic!("{:?}", stmts[0]) };
        assert_eq!(src.name.value, "raw_events_source");
        assert_eq!(src.columns.len(), 9);
        assert!(matches!(&src.columns[8].kind, ColumnKind::Metadata { ty: Type::String, key: None, is_virtual: true }));
        assert_eq!(src.options[1].key, "topic-pattern");
        assert_eq!(src.options[1].value, "user_clicks|page_views|orders");
        let Stmt::CreateTable(sink) = &stmts[1] else { panic!() };
        assert!(matches!(sink.columns[1].kind, ColumnKind::Physical { ty: Type::Timestamp(3), not_null: false }));
        let Stmt::Insert(ins) = &stmts[2] else { panic!() };
        assert_eq!(ins.sink.value, "processed_events_sink");
        assert_eq!(ins.pos, Pos { line: 35, column: 1 });
    }

    #[test]
    fn flink_statements() {
        let sql = "SET 'table.local-time-zone' = 'UTC';
            CREATE TEMPORARY TABLE IF NOT EXISTS t (
              a STRING NOT NULL COMMENT 'x', b AS UPPER(a), ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
              d DECIMAL(10, 2), WATERMARK FOR ts AS ts - INTERVAL '5' SECOND, PRIMARY KEY (a) NOT ENFORCED
            ) COMMENT 'c' PARTITIONED BY (a) WITH ('connector' = 'kafka');
            EXECUTE STATEMENT SET BEGIN INSERT INTO s SELECT a FROM t; INSERT INTO s2 (x) SELECT b FROM t WHERE a <> ''; END;
            BEGIN STATEMENT SET; INSERT INTO s SELECT a FROM t UNION ALL SELECT b FROM t; END;";
        let stmts = parse(sql).unwrap();
        assert_eq!(stmts.len(), 5);
        let Stmt::CreateTable(t) = &stmts[1] else { panic!() };
        assert_eq!(t.columns.len(), 4);
        assert!(t.watermark.is_some() && t.partitioned_by.is_some());
        assert_eq!(t.primary_key[0].value, "a");
        assert!(matches!(t.columns[3].kind, ColumnKind::Physical { ty: Type::Decimal(10, 2), .. }));
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("CREATE TABLE t (a STRNG) WITH ('connector' = 'kafka');").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, column: 19 });
        assert!(e.message.contains("unknown type STRNG"), "{e:?}");
        let e = parse("SELECT 1;").unwrap_err();
        assert!(e.message.contains("unsupported statement"), "{e:?}");
        let e = parse("INSERT INTO s /*+ OPTIONS('a'='b') */ SELECT a FROM t;").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, column: 15 });
        let e = parse("INSERT INTO s SELECT a FROM t WHERE;").unwrap_err();
        assert!(e.message.starts_with("syntax error"), "{e:?}");
        assert_eq!(e.pos.line, 1);
    }
}
