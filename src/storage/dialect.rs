//! The one place that knows SQLite from PostgreSQL: URLs, SQL fragments that differ (JSON access,
//! substring tests, upserts, row locks), and a small SQL builder with typed binds.

use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text, Untyped};
use diesel::{QueryResult, RunQueryDsl};

use super::{AnyConnection, MultiBackend};

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `postgres://` and `postgresql://` are PostgreSQL; anything else is a SQLite path or
    /// `sqlite://path` URL.
    pub fn from_url(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }

    /// What to hand the driver: a PostgreSQL URL as is, a SQLite URL as a file path.
    pub fn connection_target(self, url: &str) -> String {
        match self {
            Dialect::Postgres => url.to_owned(),
            Dialect::Sqlite => url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url)
                .to_owned(),
        }
    }

    /// The function that finds a substring (position from 1, 0 when absent).
    pub fn substring_position(self) -> &'static str {
        match self {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        }
    }

    /// A subquery over the values (as text) of the JSON object stored as text in `column`.
    pub fn json_object_values(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("SELECT value FROM json_each({column})"),
            Dialect::Postgres => format!("SELECT value FROM json_each_text({column}::json)"),
        }
    }

    /// `INSERT ... ` suffix that ignores a duplicate key.
    pub fn insert_ignore_prefix(self) -> &'static str {
        match self {
            Dialect::Sqlite => "INSERT OR IGNORE INTO",
            Dialect::Postgres => "INSERT INTO",
        }
    }

    pub fn insert_ignore_suffix(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " ON CONFLICT DO NOTHING",
        }
    }

    /// Row lock for read-modify-write on PostgreSQL; SQLite already holds the write lock.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Row lock that skips rows another transaction holds (a queue's claim): concurrent
    /// claimers take disjoint rows on PostgreSQL; SQLite's single writer serialises them.
    pub fn for_update_skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// A bind placeholder for the JSON `search` column.
    pub fn json_bind_open(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => "CAST(",
        }
    }

    pub fn json_bind_close(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " AS jsonb)",
        }
    }

    /// Collation making text comparison byte-wise, as SQLite's BINARY is.
    pub fn binary_collation(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " COLLATE \"C\"",
        }
    }
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Float(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Sql(String),
    Bind(Bind),
}

/// SQL text with interleaved typed binds, run through diesel on either backend.
///
/// Statements are not kept prepared unless marked with [`Sql::cached`]: diesel's statement
/// cache has no bound, so only statements drawn from a closed set of shapes may enter it, never
/// ones whose text follows client input (arbitrary filters, lists of any length).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sql {
    parts: Vec<Part>,
    cached: bool,
}

impl Sql {
    pub fn new(text: &str) -> Self {
        let mut s = Sql::default();
        s.push(text);
        s
    }

    /// Keeps the prepared statement on the connection when `shape_is_bounded`.
    pub fn cached(&mut self, shape_is_bounded: bool) -> &mut Self {
        self.cached = shape_is_bounded;
        self
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        match self.parts.last_mut() {
            Some(Part::Sql(prev)) => prev.push_str(text),
            _ => self.parts.push(Part::Sql(text.to_owned())),
        }
        self
    }

    pub fn bind(&mut self, value: Bind) -> &mut Self {
        self.parts.push(Part::Bind(value));
        self
    }

    pub fn text(&mut self, value: impl Into<String>) -> &mut Self {
        self.bind(Bind::Text(value.into()))
    }

    pub fn append(&mut self, other: Sql) -> &mut Self {
        for part in other.parts {
            match part {
                Part::Sql(s) => {
                    self.push(&s);
                }
                Part::Bind(b) => {
                    self.bind(b);
                }
            }
        }
        self
    }

    /// `(…), (…)`: one parenthesised tuple per item, written by `row`.
    pub fn tuples<T>(&mut self, items: &[T], mut row: impl FnMut(&mut Sql, &T)) -> &mut Self {
        for (i, item) in items.iter().enumerate() {
            self.push(if i == 0 { "(" } else { ", (" });
            row(self, item);
            self.push(")");
        }
        self
    }

    /// Comma-separated placeholders for a list of text values.
    pub fn text_list(&mut self, values: impl IntoIterator<Item = String>) -> &mut Self {
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.text(v);
        }
        self
    }
}

impl QueryFragment<MultiBackend> for Sql {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, MultiBackend>) -> QueryResult<()> {
        if !self.cached {
            out.unsafe_to_cache_prepared();
        }
        for part in &self.parts {
            match part {
                Part::Sql(s) => out.push_sql(s),
                Part::Bind(Bind::Text(v)) => out.push_bind_param::<Text, String>(v)?,
                Part::Bind(Bind::OptText(v)) => {
                    out.push_bind_param::<Nullable<Text>, Option<String>>(v)?
                }
                Part::Bind(Bind::Int(v)) => out.push_bind_param::<BigInt, i64>(v)?,
                Part::Bind(Bind::OptInt(v)) => {
                    out.push_bind_param::<Nullable<BigInt>, Option<i64>>(v)?
                }
                Part::Bind(Bind::Float(v)) => out.push_bind_param::<Double, f64>(v)?,
                Part::Bind(Bind::Bool(v)) => out.push_bind_param::<Bool, bool>(v)?,
            }
        }
        Ok(())
    }
}

impl QueryId for Sql {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Sql {
    type SqlType = Untyped;
}

impl RunQueryDsl<AnyConnection> for Sql {}

/// Quotes a schema-defined name as a SQL string literal.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
