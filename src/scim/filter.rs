//! Filter parser (RFC 7644 §3.4.2.2) and PATCH path parser (§3.5.2): the whole ABNF with
//! case-insensitive keywords, value paths, URN-qualified paths, plus what real clients send:
//! Entra's `emails[type eq "work"].value eq "x"` and unquoted compare values.

use super::error::{ScimError, ScimResult};
use serde_json::{Number, Value};

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8 * 1024;
/// Deepest nesting of parentheses, `not` and value paths.
pub const MAX_DEPTH: usize = 32;
/// Most comparisons in one filter.
pub const MAX_TERMS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }

    /// True for the ordering operators, which booleans and binaries do not support.
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }
}

/// An attribute path as written: optional schema URN, attribute name, optional sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

/// A compare value: a JSON literal (a bare word is read as a string).
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(Number),
    Bool(bool),
    Null,
}

impl CompValue {
    pub fn to_json(&self) -> Value {
        match self {
            CompValue::Str(s) => Value::String(s.clone()),
            CompValue::Num(n) => Value::Number(n.clone()),
            CompValue::Bool(b) => Value::Bool(*b),
            CompValue::Null => Value::Null,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued (or complex) attribute matches `filter`,
    /// whose paths name sub-attributes.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// A PATCH target: `attrPath`, or `valuePath` with an optional trailing sub-attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub path: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after `]`, as in `emails[type eq "work"].value`.
    pub sub_after_filter: Option<String>,
}

/// Parses a `filter` query parameter exactly as RFC 7644 §3.4.2.2 writes it: every compare value
/// a JSON literal (`"text"`, a number, `true`, `false`, `null`).
pub fn parse_filter(input: &str) -> ScimResult<Filter> {
    parse_filter_reading(input, false)
}

/// Parses a `filter` that may also carry bare words as string values (`externalId eq jyoung`),
/// as an old Microsoft example writes them.
pub fn parse_filter_with_bare_words(input: &str) -> ScimResult<Filter> {
    parse_filter_reading(input, true)
}

fn parse_filter_reading(input: &str, bare_words: bool) -> ScimResult<Filter> {
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_filter(format!(
            "filter longer than {MAX_FILTER_LEN} bytes"
        )));
    }
    let mut p = Parser::new(input);
    p.bare_words = bare_words;
    p.skip_ws();
    if p.at_end() {
        return Err(ScimError::invalid_filter("empty filter"));
    }
    let f = p.parse_or(0)?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error("unexpected input"));
    }
    Ok(f)
}

/// Parses a PATCH operation `path`.
pub fn parse_patch_path(input: &str) -> ScimResult<PatchPath> {
    let to_path_error = |e: ScimError| ScimError::invalid_path(e.detail);
    if input.len() > MAX_FILTER_LEN {
        return Err(ScimError::invalid_path("path too long"));
    }
    let mut p = Parser::new(input.trim());
    let path = p.attr_path().map_err(to_path_error)?;
    let mut filter = None;
    let mut sub_after_filter = None;
    if p.eat('[') {
        if path.sub.is_some() {
            return Err(ScimError::invalid_path(
                "a value filter must follow an attribute, not a sub-attribute",
            ));
        }
        p.in_value_path = true;
        filter = Some(p.parse_or(1).map_err(to_path_error)?);
        p.skip_ws();
        if !p.eat(']') {
            return Err(ScimError::invalid_path("missing ']'"));
        }
        if p.eat('.') {
            sub_after_filter = Some(p.name().map_err(to_path_error)?);
        }
    }
    if !p.at_end() {
        return Err(ScimError::invalid_path(format!(
            "unexpected input at offset {} of path",
            p.pos
        )));
    }
    Ok(PatchPath {
        path,
        filter,
        sub_after_filter,
    })
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    terms: usize,
    in_value_path: bool,
    /// Whether a compare value may be a bare word, read as a string.
    bare_words: bool,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Self {
        Parser {
            src,
            pos: 0,
            terms: 0,
            in_value_path: false,
            bare_words: true,
        }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    fn error(&self, what: &str) -> ScimError {
        ScimError::invalid_filter(format!("{what} at offset {} of filter", self.pos))
    }

    /// Consumes `word` (case-insensitive) when it stands alone: followed by space, '(' or the end.
    fn keyword(&mut self, word: &str) -> bool {
        let rest = self.rest();
        let n = word.len();
        if rest
            .get(..n)
            .is_some_and(|head| head.eq_ignore_ascii_case(word))
        {
            let next = rest[n..].chars().next();
            if next.is_none_or(|c| c.is_whitespace() || c == '(' || c == ')' || c == ']') {
                self.pos += n;
                return true;
            }
        }
        false
    }

    fn parse_or(&mut self, depth: usize) -> ScimResult<Filter> {
        let mut left = self.parse_and(depth)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.keyword("or") {
                self.skip_ws();
                let right = self.parse_and(depth)?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn parse_and(&mut self, depth: usize) -> ScimResult<Filter> {
        let mut left = self.parse_unary(depth)?;
        loop {
            let save = self.pos;
            self.skip_ws();
            if self.keyword("and") {
                self.skip_ws();
                let right = self.parse_unary(depth)?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                self.pos = save;
                return Ok(left);
            }
        }
    }

    fn parse_unary(&mut self, depth: usize) -> ScimResult<Filter> {
        if depth > MAX_DEPTH {
            return Err(self.error("filter nested too deeply"));
        }
        self.skip_ws();
        if self.keyword("not") {
            self.skip_ws();
            if !self.eat('(') {
                return Err(self.error("expected '(' after not"));
            }
            let inner = self.parse_group_rest(depth)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.eat('(') {
            return self.parse_group_rest(depth);
        }
        self.parse_attr_expr(depth)
    }

    fn parse_group_rest(&mut self, depth: usize) -> ScimResult<Filter> {
        self.skip_ws();
        let inner = self.parse_or(depth + 1)?;
        self.skip_ws();
        if !self.eat(')') {
            return Err(self.error("expected ')'"));
        }
        Ok(inner)
    }

    fn parse_attr_expr(&mut self, depth: usize) -> ScimResult<Filter> {
        let path = self.attr_path()?;
        if self.eat('[') {
            if path.sub.is_some() {
                return Err(self.error("a value filter must follow an attribute"));
            }
            if self.in_value_path {
                return Err(self.error("value filters cannot be nested"));
            }
            self.in_value_path = true;
            self.skip_ws();
            let inner = self.parse_or(depth + 1)?;
            self.in_value_path = false;
            self.skip_ws();
            if !self.eat(']') {
                return Err(self.error("expected ']'"));
            }
            if self.eat('.') {
                // Entra: `emails[type eq "work"].value eq "x"` = `emails[type eq "work" and value eq "x"]`.
                let sub = self.name()?;
                let sub_path = AttrPath {
                    urn: None,
                    attr: sub,
                    sub: None,
                };
                let tail = self.parse_comparison(sub_path)?;
                let both = Filter::And(Box::new(inner), Box::new(tail));
                return Ok(Filter::ValuePath {
                    path,
                    filter: Box::new(both),
                });
            }
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        self.parse_comparison(path)
    }

    fn parse_comparison(&mut self, path: AttrPath) -> ScimResult<Filter> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(self.error("filter has too many comparisons"));
        }
        if !self.peek().is_some_and(char::is_whitespace) {
            return Err(self.error("expected an operator"));
        }
        self.skip_ws();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        let word = &self.src[start..self.pos];
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::parse(word).ok_or_else(|| {
            ScimError::invalid_filter(format!(
                "unknown operator '{word}' at offset {start} of filter"
            ))
        })?;
        if !self.peek().is_some_and(char::is_whitespace) {
            return Err(self.error("expected a value"));
        }
        self.skip_ws();
        let value = self.comp_value()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn comp_value(&mut self) -> ScimResult<CompValue> {
        if self.peek() == Some('"') {
            return self.string_literal().map(CompValue::Str);
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| !c.is_whitespace() && c != ')' && c != ']')
        {
            self.pos += self.peek().map_or(1, char::len_utf8);
        }
        let word = &self.src[start..self.pos];
        if word.is_empty() {
            return Err(self.error("expected a value"));
        }
        Ok(match word.to_ascii_lowercase().as_str() {
            "true" => CompValue::Bool(true),
            "false" => CompValue::Bool(false),
            "null" => CompValue::Null,
            _ => match serde_json::from_str::<Number>(word) {
                Ok(n) => CompValue::Num(n),
                // RFC 7644 wants a JSON literal; old Microsoft examples send bare words.
                Err(_) if self.bare_words => CompValue::Str(word.to_owned()),
                Err(_) => {
                    return Err(ScimError::invalid_filter(format!(
                        "the value at offset {start} of filter must be a JSON literal: a \
                         \"quoted string\", a number, true, false or null"
                    )))
                }
            },
        })
    }

    fn string_literal(&mut self) -> ScimResult<String> {
        let start = self.pos;
        self.pos += 1;
        let mut escaped = false;
        while let Some(c) = self.peek() {
            self.pos += c.len_utf8();
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                let s: String = serde_json::from_str(&self.src[start..self.pos]).map_err(|_| {
                    ScimError::invalid_filter(format!("invalid string at offset {start} of filter"))
                })?;
                // No stored value holds a NUL (see `rules::check_no_nul`), and PostgreSQL
                // refuses one in a parameter.
                if s.contains('\0') {
                    return Err(ScimError::invalid_filter(format!(
                        "the string at offset {start} of filter holds a NUL character"
                    )));
                }
                return Ok(s);
            }
        }
        Err(ScimError::invalid_filter(format!(
            "unterminated string at offset {start} of filter"
        )))
    }

    /// ATTRNAME = ALPHA *(nameChar), plus `$ref`.
    fn name(&mut self) -> ScimResult<String> {
        let start = self.pos;
        if self.eat('$') {
            while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
                self.pos += 1;
            }
        } else {
            if !self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                return Err(self.error("expected an attribute name"));
            }
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                self.pos += 1;
            }
        }
        Ok(self.src[start..self.pos].to_owned())
    }

    /// attrPath = [URI ":"] ATTRNAME *1subAttr
    fn attr_path(&mut self) -> ScimResult<AttrPath> {
        let start = self.pos;
        let rest = self.rest();
        if rest
            .get(..4)
            .is_some_and(|head| head.eq_ignore_ascii_case("urn:"))
        {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || ":._-$".contains(c)))
                .unwrap_or(rest.len());
            let token = &rest[..len];
            let colon = token
                .rfind(':')
                .ok_or_else(|| self.error("invalid URN path"))?;
            let (urn, tail) = (&token[..colon], &token[colon + 1..]);
            let (attr, sub) = match tail.split_once('.') {
                Some((a, s)) => (a, Some(s)),
                None => (tail, None),
            };
            let valid = |n: &str| {
                n.starts_with('$') || n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            };
            if !valid(attr) || sub.is_some_and(|s| !valid(s) || s.contains('.')) {
                return Err(ScimError::invalid_filter(format!(
                    "invalid attribute path at offset {start}"
                )));
            }
            self.pos += len;
            return Ok(AttrPath {
                urn: Some(urn.to_owned()),
                attr: attr.to_owned(),
                sub: sub.map(str::to_owned),
            });
        }
        let attr = self.name()?;
        let sub = if self.peek() == Some('.')
            && self.rest()[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '$')
        {
            self.pos += 1;
            Some(self.name()?)
        } else {
            None
        };
        Ok(AttrPath {
            urn: None,
            attr,
            sub,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(attr: &str, sub: Option<&str>) -> AttrPath {
        AttrPath {
            urn: None,
            attr: attr.into(),
            sub: sub.map(Into::into),
        }
    }

    #[test]
    fn parses_simple_comparison_case_insensitively() {
        let f = parse_filter("userName EQ \"bjensen\"").unwrap();
        assert_eq!(
            f,
            Filter::Compare {
                path: path("userName", None),
                op: CompareOp::Eq,
                value: CompValue::Str("bjensen".into())
            }
        );
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let f = parse_filter("a eq 1 or b eq 2 and c eq 3").unwrap();
        match f {
            Filter::Or(_, right) => assert!(matches!(*right, Filter::And(_, _))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_not_parentheses_and_present() {
        let f =
            parse_filter("not (title pr) and (userType eq \"Employee\" or userType eq \"Intern\")")
                .unwrap();
        assert!(matches!(f, Filter::And(_, _)));
    }

    #[test]
    fn parses_value_path_and_entra_trailing_sub_attribute() {
        let f = parse_filter("emails[type eq \"work\"].value eq \"a@b.c\"").unwrap();
        match f {
            Filter::ValuePath { path: p, filter } => {
                assert_eq!(p.attr, "emails");
                assert!(matches!(*filter, Filter::And(_, _)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_urn_qualified_paths() {
        let f = parse_filter(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"x\"",
        )
        .unwrap();
        match f {
            Filter::Compare { path, .. } => {
                assert_eq!(
                    path.urn.as_deref(),
                    Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
                );
                assert_eq!(path.attr, "manager");
                assert_eq!(path.sub.as_deref(), Some("value"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_literals_and_bare_words() {
        let f = parse_filter("active eq False").unwrap();
        assert!(matches!(
            f,
            Filter::Compare {
                value: CompValue::Bool(false),
                ..
            }
        ));
        for bare in [
            "userName eq r1",
            "userName eq 'r1'",
            "name.familyName eq Employee",
        ] {
            let err = parse_filter(bare).unwrap_err();
            assert_eq!(
                err.scim_type,
                Some(crate::scim::ScimType::InvalidFilter),
                "{bare}"
            );
        }
        let f = parse_filter_with_bare_words("name.familyName eq Employee").unwrap();
        assert!(matches!(
            f,
            Filter::Compare {
                value: CompValue::Str(_),
                ..
            }
        ));
        let f = parse_filter("x gt 1.5").unwrap();
        assert!(matches!(
            f,
            Filter::Compare {
                value: CompValue::Num(_),
                ..
            }
        ));
    }

    #[test]
    fn string_escapes_are_decoded() {
        let f = parse_filter(r#"displayName eq "a \"quoted\" \u00e9""#).unwrap();
        assert!(
            matches!(f, Filter::Compare { value: CompValue::Str(ref s), .. } if s == "a \"quoted\" é")
        );
    }

    #[test]
    fn a_nul_in_a_string_is_an_invalid_filter() {
        let err = parse_filter(r#"userName eq "a\u0000b""#).unwrap_err();
        assert_eq!(err.scim_type, Some(crate::scim::ScimType::InvalidFilter));
        assert!(parse_filter("userName eq \"a\0b\"").is_err());
    }

    #[test]
    fn rejects_malformed_filters() {
        for bad in [
            "",
            "userName",
            "userName xx \"a\"",
            "userName eq",
            "(a eq 1",
            "a eq 1 or",
            "a[b eq 1",
            "userName eq \"open",
            "a eq 1 b eq 2",
        ] {
            let err = parse_filter(bad).unwrap_err();
            assert_eq!(
                err.scim_type,
                Some(super::super::error::ScimType::InvalidFilter),
                "{bad}"
            );
        }
    }

    #[test]
    fn rejects_deep_nesting_quickly() {
        let deep = format!("{}a eq 1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse_filter(&deep).is_err());
        let deep_not = "not (".repeat(100) + "a eq 1" + &")".repeat(100);
        assert!(parse_filter(&deep_not).is_err());
    }

    #[test]
    fn keyword_prefixes_inside_names_are_not_keywords() {
        let f = parse_filter("andFoo eq 1 and orBar eq 2").unwrap();
        assert!(matches!(f, Filter::And(_, _)));
    }

    #[test]
    fn parses_patch_paths() {
        let p = parse_patch_path("emails[type eq \"work\"].value").unwrap();
        assert_eq!(p.path.attr, "emails");
        assert!(p.filter.is_some());
        assert_eq!(p.sub_after_filter.as_deref(), Some("value"));
        let p = parse_patch_path("name.givenName").unwrap();
        assert_eq!(p.path, path("name", Some("givenName")));
        let p = parse_patch_path("members[value eq \"2819c223\"]").unwrap();
        assert!(p.filter.is_some());
        assert!(parse_patch_path("emails[type eq").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_input(s in "\\PC{0,200}") {
            let _ = parse_filter(&s);
            let _ = parse_patch_path(&s);
        }

        #[test]
        fn never_panics_on_filter_like_input(s in "[a-zA-Z\\[\\]()\" .:]{0,120}") {
            let _ = parse_filter(&s);
        }
    }
}
