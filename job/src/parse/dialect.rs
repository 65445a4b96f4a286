//! The SQL dialect of Flink jobs for sqlparser's tokenizer and expression parser: backquoted identifiers, names
//! as in Java (letters, digits, `_`, `$`), string literals with `''` as the only escape, no `>>` shift operator
//! (so `MAP<STRING, ARRAY<INT>>` would close both brackets), and Flink's `JSON_VALUE(… RETURNING type
//! [NULL|ERROR|DEFAULT x ON EMPTY] [NULL|ERROR|DEFAULT x ON ERROR])` and `JSON_QUERY(… [WITH … WRAPPER] [… ON
//! EMPTY] [… ON ERROR])`, which sqlparser has no syntax for.

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Value,
};
use sqlparser::dialect::Dialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// The name the hook gives a JSON_VALUE call: a name no one can write (the planner reads its seven arguments).
pub const JSON_VALUE_CALL: &str = "JSON_VALUE#";

/// The name the hook gives a JSON_QUERY call (the planner reads its five arguments).
pub const JSON_QUERY_CALL: &str = "JSON_QUERY#";

/// The name the hook gives `MAP[k1, v1, …]` (sqlparser reads `MAP` as DuckDB's `MAP {…}`): a call of its pairs.
pub const MAP_CALL: &str = "MAP#";

/// Flink SQL, as far as the statement layer ([`super`]) leaves it to sqlparser.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flink;

impl Dialect for Flink {
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`'
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_alphabetic() || ch == '_' || ch == '$'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_alphanumeric() || ch == '_' || ch == '$'
    }

    fn supports_string_literal_backslash_escape(&self) -> bool {
        false
    }

    fn supports_bitwise_shift_operators(&self) -> bool {
        false
    }

    fn supports_nested_comments(&self) -> bool {
        true
    }

    fn parse_prefix(&self, p: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let call = |name: &str| {
            matches!(&p.peek_token().token, Token::Word(w) if w.quote_style.is_none()
                && w.value.eq_ignore_ascii_case(name))
                && p.peek_nth_token(1).token == Token::LParen
        };
        let map_constructor = matches!(&p.peek_token().token, Token::Word(w) if w.quote_style.is_none()
                && w.value.eq_ignore_ascii_case("MAP"))
            && p.peek_nth_token(1).token == Token::LBracket;
        if map_constructor {
            Some(map(p))
        } else if call("JSON_VALUE") {
            Some(json_value(p))
        } else if call("JSON_QUERY") {
            Some(json_query(p))
        } else {
            None
        }
    }
}

/// `MAP[k1, v1, …]` as a call of [`MAP_CALL`] with the keys and values in turn.
fn map(p: &mut Parser) -> Result<Expr, ParserError> {
    p.next_token();
    p.expect_token(&Token::LBracket)?;
    let mut args = vec![p.parse_expr()?];
    while p.consume_token(&Token::Comma) {
        args.push(p.parse_expr()?);
    }
    p.expect_token(&Token::RBracket)?;
    Ok(call(MAP_CALL, args))
}

/// `JSON_VALUE(json, path [RETURNING t] [b ON EMPTY] [b ON ERROR])` as a call of [`JSON_VALUE_CALL`] with seven
/// arguments: `json, path, 'T', 'NULL'|'ERROR'|'DEFAULT', default, 'NULL'|'ERROR'|'DEFAULT', default` (the
/// planner reads them back).
fn json_value(p: &mut Parser) -> Result<Expr, ParserError> {
    let (json, path) = json_input(p)?;
    let mut returning = String::new();
    let mut behaviours = [(text("NULL"), Expr::value(Value::Null)), (text("NULL"), Expr::value(Value::Null))];
    loop {
        if word(p, "RETURNING") {
            p.next_token();
            returning = match p.next_token().token {
                Token::Word(w) => w.value.to_ascii_uppercase(),
                other => return p.expected("a type after RETURNING", sqlparser::tokenizer::TokenWithSpan::wrap(other)),
            };
            if returning == "INTEGER" {
                returning = "INT".into();
            } else if returning == "VARCHAR" {
                returning = "STRING".into();
                if p.consume_token(&Token::LParen) {
                    p.parse_literal_uint()?;
                    p.expect_token(&Token::RParen)?;
                }
            }
        } else if word(p, "NULL") || word(p, "ERROR") || word(p, "DEFAULT") {
            let kind = match p.next_token().token {
                Token::Word(w) => w.value.to_ascii_uppercase(),
                _ => unreachable!("peeked a word"),
            };
            let default = if kind == "DEFAULT" { p.parse_expr()? } else { Expr::value(Value::Null) };
            if !word(p, "ON") {
                return p.expected("ON EMPTY or ON ERROR", p.peek_token());
            }
            p.next_token();
            let slot = if word(p, "EMPTY") {
                0
            } else if word(p, "ERROR") {
                1
            } else {
                return p.expected("EMPTY or ERROR after ON", p.peek_token());
            };
            p.next_token();
            behaviours[slot] = (text(&kind), default);
        } else {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    let [(empty, empty_default), (error, error_default)] = behaviours;
    Ok(call(JSON_VALUE_CALL, vec![json, path, text(&returning), empty, empty_default, error, error_default]))
}

/// `JSON_QUERY(json, path [RETURNING STRING] [WITHOUT|WITH [CONDITIONAL|UNCONDITIONAL] [ARRAY] WRAPPER] [b ON
/// EMPTY] [b ON ERROR])`, `b` one of `NULL`, `ERROR`, `EMPTY ARRAY`, `EMPTY OBJECT`, as a call of
/// [`JSON_QUERY_CALL`] with five arguments: `json, path, 'WITHOUT'|'CONDITIONAL'|'UNCONDITIONAL', empty, error`.
fn json_query(p: &mut Parser) -> Result<Expr, ParserError> {
    let (json, path) = json_input(p)?;
    let eat = |p: &mut Parser, w: &str| {
        let there = word(p, w);
        if there {
            p.next_token();
        }
        there
    };
    let mut wrapper = "WITHOUT";
    let mut returning = "STRING";
    let mut behaviours = ["NULL", "NULL"];
    loop {
        if eat(p, "RETURNING") {
            if eat(p, "ARRAY") {
                p.expect_token(&Token::Lt)?;
                if !(eat(p, "STRING") || eat(p, "VARCHAR")) {
                    return p.expected("STRING in RETURNING ARRAY<STRING>", p.peek_token());
                }
                p.expect_token(&Token::Gt)?;
                returning = "ARRAY";
            } else if eat(p, "STRING") || eat(p, "VARCHAR") {
                returning = "STRING";
            } else {
                return p.expected("STRING or ARRAY<STRING> after RETURNING", p.peek_token());
            }
        } else if eat(p, "WITHOUT") {
            eat(p, "ARRAY");
            if !eat(p, "WRAPPER") {
                return p.expected("WRAPPER", p.peek_token());
            }
            wrapper = "WITHOUT";
        } else if eat(p, "WITH") {
            wrapper = if eat(p, "CONDITIONAL") {
                "CONDITIONAL"
            } else {
                eat(p, "UNCONDITIONAL");
                "UNCONDITIONAL"
            };
            eat(p, "ARRAY");
            if !eat(p, "WRAPPER") {
                return p.expected("WRAPPER", p.peek_token());
            }
        } else if word(p, "NULL") || word(p, "ERROR") || word(p, "EMPTY") {
            let kind = if eat(p, "NULL") {
                "NULL"
            } else if eat(p, "ERROR") {
                "ERROR"
            } else {
                p.next_token(); // EMPTY
                if eat(p, "ARRAY") {
                    "EMPTY ARRAY"
                } else if eat(p, "OBJECT") {
                    "EMPTY OBJECT"
                } else {
                    return p.expected("ARRAY or OBJECT after EMPTY", p.peek_token());
                }
            };
            if !eat(p, "ON") {
                return p.expected("ON EMPTY or ON ERROR", p.peek_token());
            }
            let slot = if eat(p, "EMPTY") {
                0
            } else if eat(p, "ERROR") {
                1
            } else {
                return p.expected("EMPTY or ERROR after ON", p.peek_token());
            };
            behaviours[slot] = kind;
        } else {
            break;
        }
    }
    p.expect_token(&Token::RParen)?;
    let args = vec![json, path, text(wrapper), text(behaviours[0]), text(behaviours[1]), text(returning)];
    Ok(call(JSON_QUERY_CALL, args))
}

/// The start of a JSON function's call: its name, `(`, the JSON text and `,` the path.
fn json_input(p: &mut Parser) -> Result<(Expr, Expr), ParserError> {
    p.next_token(); // the function's name
    p.expect_token(&Token::LParen)?;
    let json = p.parse_expr()?;
    p.expect_token(&Token::Comma)?;
    Ok((json, p.parse_expr()?))
}

/// A quoted string literal.
fn text(s: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(s.to_owned()))
}

/// Whether the next token is the word `w` (any case).
fn word(p: &Parser, w: &str) -> bool {
    matches!(&p.peek_token().token, Token::Word(x) if x.value.eq_ignore_ascii_case(w))
}

/// A call of `name` with `args`.
fn call(name: &str, args: Vec<Expr>) -> Expr {
    let args = args.into_iter().map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e))).collect();
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList { duplicate_treatment: None, args, clauses: Vec::new() }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}
