//! The SQL dialect of Flink jobs for sqlparser's tokenizer and expression parser: backquoted identifiers, names
//! as in Java (letters, digits, `_`, `$`), string literals with `''` as the only escape, no `>>` shift operator
//! (so `MAP<STRING, ARRAY<INT>>` would close both brackets), and Flink's `JSON_VALUE(… RETURNING type
//! [NULL|ERROR|DEFAULT x ON EMPTY] [NULL|ERROR|DEFAULT x ON ERROR])`, which sqlparser has no syntax for.

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Value,
};
use sqlparser::dialect::Dialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// The name the hook gives a JSON_VALUE call: a name no one can write (the planner reads its seven arguments).
pub const JSON_VALUE_CALL: &str = "JSON_VALUE#";

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
        let is_call = matches!(&p.peek_token().token, Token::Word(w) if w.quote_style.is_none()
            && w.value.eq_ignore_ascii_case("JSON_VALUE"))
            && p.peek_nth_token(1).token == Token::LParen;
        is_call.then(|| json_value(p))
    }
}

/// `JSON_VALUE(json, path [RETURNING t] [b ON EMPTY] [b ON ERROR])` as a call of [`JSON_VALUE_CALL`] with seven
/// arguments: `json, path, 'T', 'NULL'|'ERROR'|'DEFAULT', default, 'NULL'|'ERROR'|'DEFAULT', default` (the
/// planner reads them back).
fn json_value(p: &mut Parser) -> Result<Expr, ParserError> {
    p.next_token(); // JSON_VALUE
    p.expect_token(&Token::LParen)?;
    let json = p.parse_expr()?;
    p.expect_token(&Token::Comma)?;
    let path = p.parse_expr()?;
    let text = |s: &str| Expr::value(Value::SingleQuotedString(s.to_owned()));
    let word = |p: &Parser, w: &str| matches!(&p.peek_token().token, Token::Word(x) if x.value.eq_ignore_ascii_case(w));
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
    let args = [json, path, text(&returning), empty, empty_default, error, error_default]
        .into_iter()
        .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
        .collect();
    Ok(Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(JSON_VALUE_CALL))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList { duplicate_treatment: None, args, clauses: Vec::new() }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    }))
}
