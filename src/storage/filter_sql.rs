//! Filter plans to SQL. Indexed columns answer what Entra and Okta look up (`id`, `userName`,
//! `displayName`, `externalId`, `meta.*`, work emails); everything else (`active` included) is read from the
//! `search` JSON document, with `json_extract`/`json_each` on SQLite and `->`/`jsonb_array_elements`
//! on PostgreSQL. Values are always bound, never interpolated.

use crate::scim::filter::CompareOp;
use crate::scim::plan::{Field, Operand, Plan, SortKey};
use crate::scim::schema::AttrType;

use super::dialect::{literal, Bind, Dialect, Sql};
use super::resources::TableDef;
use super::{StorageError, StorageResult};

/// Where a value comes from.
#[derive(Debug, Clone)]
enum Source {
    /// A real column (already qualified), and whether it is boolean.
    Column(String),
    /// A JSON document (`T.search` or an array element) and the keys below it.
    Json { base: String, keys: Vec<String> },
}

pub(crate) struct FilterSql<'a> {
    pub d: Dialect,
    pub t: &'a TableDef,
    pub org_id: &'a str,
}

fn constant(holds: bool) -> Sql {
    Sql::new(if holds { "1 = 1" } else { "1 = 0" })
}

fn unsupported(what: impl Into<String>) -> StorageError {
    StorageError::Unsupported(what.into())
}

impl FilterSql<'_> {
    /// The SQL predicate of a plan, over table alias `T`.
    pub fn predicate(&self, plan: &Plan) -> StorageResult<Sql> {
        Ok(match plan {
            Plan::And(a, b) => self.binary(a, " AND ", b)?,
            Plan::Or(a, b) => self.binary(a, " OR ", b)?,
            Plan::Not(a) => {
                let mut s = Sql::new("(NOT ");
                s.append(self.predicate(a)?).push(")");
                s
            }
            Plan::Compare { field, op, value } => {
                self.compare(&self.root_source(field)?, field.kind, *op, value)
            }
            Plan::Present(field) => self.present_root(field)?,
            Plan::Any { field, inner } => self.any(field, inner)?,
            Plan::Const(holds) => constant(*holds),
        })
    }

    fn binary(&self, a: &Plan, op: &str, b: &Plan) -> StorageResult<Sql> {
        let mut s = Sql::new("(");
        s.append(self.predicate(a)?)
            .push(op)
            .append(self.predicate(b)?)
            .push(")");
        Ok(s)
    }

    fn root_source(&self, field: &Field) -> StorageResult<Source> {
        if let Some(col) = self.column(field)? {
            return Ok(col);
        }
        let mut keys = Vec::new();
        keys.extend(field.ext.clone());
        keys.push(field.attr.clone());
        keys.extend(field.sub.clone());
        Ok(Source::Json {
            base: "T.search".into(),
            keys,
        })
    }

    /// Whether a plan finds its rows through a unique or near-unique index: equality on `id`,
    /// `externalId` or the name column, or an email value lookup. What identity providers send
    /// before every write is of this kind.
    pub fn is_point_lookup(&self, plan: &Plan) -> bool {
        match plan {
            Plan::Compare {
                field,
                op: CompareOp::Eq,
                value: Operand::Str(_),
            } => match self.column(field) {
                Ok(Some(Source::Column(c))) => {
                    let col = c.trim_start_matches("T.");
                    col == "id" || col == "external_id" || col == self.t.name_norm_col
                }
                _ => false,
            },
            Plan::Any { field, inner } => {
                matches!(self.work_email_lookup(field, inner), Ok(Some(_)))
            }
            _ => false,
        }
    }

    /// The indexed column for a field, if it has one.
    fn column(&self, field: &Field) -> StorageResult<Option<Source>> {
        if field.ext.is_some() {
            return Ok(None);
        }
        let col = |c: &str| Some(Source::Column(format!("T.{c}")));
        Ok(match (field.attr.as_str(), field.sub.as_deref()) {
            ("id", None) => col("id"),
            ("externalId", None) => col("external_id"),
            (name, None) if name == self.t.name_attr => col(self.t.name_norm_col),
            // `active` is read from the document, not the `active` column: a user whose client
            // never set it has none in what is returned, and filters match what is returned
            // (RFC 7644 §3.4.2.2), while the column holds Roster's reading (active).
            ("meta", Some("created")) => col("created"),
            ("meta", Some("lastModified")) => col("last_modified"),
            ("meta", Some(other)) => {
                return Err(unsupported(format!("meta.{other} cannot be filtered on")))
            }
            _ => None,
        })
    }

    fn present_root(&self, field: &Field) -> StorageResult<Sql> {
        if let Some(membership) = self.membership(field) {
            let mut s = Sql::new("EXISTS (SELECT 1 ");
            s.push(&membership.from).push(")");
            return Ok(s);
        }
        let src = self.root_source(field)?;
        Ok(self.present(&src))
    }

    fn present(&self, src: &Source) -> Sql {
        match (src, self.d) {
            (Source::Column(c), _) => Sql::new(&format!("{c} IS NOT NULL")),
            (Source::Json { base, keys }, Dialect::Sqlite) if keys.is_empty() => {
                Sql::new(&format!("{base} IS NOT NULL"))
            }
            (Source::Json { base, keys }, Dialect::Sqlite) => Sql::new(&format!(
                "json_type({base}, {}) IS NOT NULL",
                literal(&sqlite_path(keys))
            )),
            (Source::Json { base, keys }, Dialect::Postgres) => {
                let mut e = base.clone();
                for k in keys {
                    e.push_str(&format!(" -> {}", literal(k)));
                }
                Sql::new(&format!("({e}) IS NOT NULL"))
            }
        }
    }

    /// The SQL value expression of a source, typed as the backend returns it.
    fn value_expr(&self, src: &Source, kind: AttrType) -> String {
        match (src, self.d) {
            (Source::Column(c), _) => c.clone(),
            (Source::Json { base, keys }, Dialect::Sqlite) if keys.is_empty() => base.clone(),
            (Source::Json { base, keys }, Dialect::Sqlite) => {
                format!("json_extract({base}, {})", literal(&sqlite_path(keys)))
            }
            (Source::Json { base, keys }, Dialect::Postgres) => {
                let text = pg_text(base, keys);
                match kind {
                    AttrType::Integer => format!("CAST({text} AS numeric)"),
                    AttrType::Decimal => format!("CAST({text} AS double precision)"),
                    _ => text,
                }
            }
        }
    }

    fn compare(&self, src: &Source, kind: AttrType, op: CompareOp, value: &Operand) -> Sql {
        let expr = self.value_expr(src, kind);
        // Byte order matters only for ordering and prefix ranges; equality is the same under any
        // deterministic collation, and naming one would keep PostgreSQL off the column's index.
        let ordered = op.is_ordering() || op == CompareOp::Sw;
        let coll = match (value, ordered) {
            (Operand::Str(_), true) => self.d.binary_collation(),
            _ => "",
        };
        let bind = self.operand_bind(src, value);
        let mut s = Sql::default();
        match op {
            CompareOp::Ne => {
                s.push(&format!("({expr} IS NULL OR {expr} <> "))
                    .bind(bind)
                    .push(")");
            }
            CompareOp::Eq | CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
                let sym = match op {
                    CompareOp::Eq => "=",
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                    CompareOp::Lt => "<",
                    _ => "<=",
                };
                s.push(&format!("({expr} IS NOT NULL AND {expr}{coll} {sym} "))
                    .bind(bind)
                    .push(")");
            }
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
                let Operand::Str(needle) = value else {
                    return Sql::new("1 = 0");
                };
                if needle.is_empty() {
                    return Sql::new(&format!("{expr} IS NOT NULL"));
                }
                s.push(&format!("({expr} IS NOT NULL AND "));
                match (op, self.d) {
                    (CompareOp::Co, d) => s
                        .push(&format!("{}({expr}, ", d.substring_position()))
                        .text(needle.clone())
                        .push(") > 0"),
                    (CompareOp::Sw, _) => {
                        // A range, so the prefix search uses the index on normalised columns.
                        let upper = format!("{needle}\u{10FFFF}");
                        s.push(&format!("{expr}{coll} >= "))
                            .text(needle.clone())
                            .push(&format!(" AND {expr}{coll} < "))
                            .text(upper)
                    }
                    (_, Dialect::Sqlite) => s
                        .push(&format!("substr({expr}, -length("))
                        .text(needle.clone())
                        .push(")) = ")
                        .text(needle.clone()),
                    (_, Dialect::Postgres) => s
                        .push(&format!("right({expr}, char_length("))
                        .text(needle.clone())
                        .push(")) = ")
                        .text(needle.clone()),
                };
                s.push(")");
            }
        }
        s
    }

    fn operand_bind(&self, src: &Source, value: &Operand) -> Bind {
        match value {
            Operand::Str(s) => Bind::Text(s.clone()),
            Operand::Int(i) => Bind::Int(*i),
            Operand::Dec(f) => Bind::Float(*f),
            // PostgreSQL's `->>` reads JSON booleans as the text 'true'/'false'.
            Operand::Bool(b) => match (src, self.d) {
                (Source::Json { .. }, Dialect::Postgres) => Bind::Text(b.to_string()),
                _ => Bind::Bool(*b),
            },
        }
    }

    fn any(&self, field: &Field, inner: &Plan) -> StorageResult<Sql> {
        if let Some(membership) = self.membership(field) {
            let mut s = Sql::new("EXISTS (SELECT 1 ");
            s.push(&membership.from)
                .push(" AND ")
                .append(self.element_predicate(inner, &|f| membership.column(f))?)
                .push(")");
            return Ok(s);
        }
        if let Some(fast) = self.work_email_lookup(field, inner)? {
            return Ok(fast);
        }
        let Source::Json { keys, .. } = self.root_source(field)? else {
            return Err(unsupported(format!(
                "'{}' cannot be filtered on",
                field.attr
            )));
        };
        let (from, element) = match self.d {
            Dialect::Sqlite => (
                format!("json_each(T.search, {}) AS e", literal(&sqlite_path(&keys))),
                "e.value",
            ),
            Dialect::Postgres => {
                let arr = pg_json("T.search", &keys);
                (format!("jsonb_array_elements(CASE WHEN jsonb_typeof({arr}) = 'array' THEN {arr} ELSE '[]'::jsonb END) AS e(v)"), "e.v")
            }
        };
        let mut s = Sql::new(&format!("EXISTS (SELECT 1 FROM {from} WHERE "));
        let element_source = |f: &Field| -> StorageResult<Source> {
            let keys = if f.attr.is_empty() {
                vec![]
            } else {
                vec![f.attr.clone()]
            };
            Ok(Source::Json {
                base: element.to_owned(),
                keys,
            })
        };
        s.append(self.element_predicate(inner, &element_source)?)
            .push(")");
        Ok(s)
    }

    /// A predicate over one element, with fields resolved by `source`.
    fn element_predicate(
        &self,
        plan: &Plan,
        source: &dyn Fn(&Field) -> StorageResult<Source>,
    ) -> StorageResult<Sql> {
        Ok(match plan {
            Plan::And(a, b) | Plan::Or(a, b) => {
                let op = if matches!(plan, Plan::And(..)) {
                    " AND "
                } else {
                    " OR "
                };
                let mut s = Sql::new("(");
                s.append(self.element_predicate(a, source)?)
                    .push(op)
                    .append(self.element_predicate(b, source)?)
                    .push(")");
                s
            }
            Plan::Not(a) => {
                let mut s = Sql::new("(NOT ");
                s.append(self.element_predicate(a, source)?).push(")");
                s
            }
            Plan::Compare { field, op, value } => {
                self.compare(&source(field)?, field.kind, *op, value)
            }
            Plan::Present(field) => self.present(&source(field)?),
            Plan::Any { .. } => return Err(unsupported("value filters cannot be nested")),
            Plan::Const(holds) => constant(*holds),
        })
    }

    /// Group members and a user's groups live in the membership table, not the document.
    fn membership(&self, field: &Field) -> Option<Membership> {
        match (self.t.table, field.ext.as_deref(), field.attr.as_str()) {
            ("groups", None, "members") => Some(Membership {
                from: "FROM group_members m WHERE m.group_id = T.id".into(),
                value_col: "m.member_id",
                extra: ("type", "lower(m.member_type)"),
            }),
            ("users", None, "groups") => Some(Membership {
                from: "FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.member_id = T.id".into(),
                value_col: "m.group_id",
                extra: ("display", "g.display_name_norm"),
            }),
            _ => None,
        }
    }

    /// `emails[type eq "work"].value eq "x"` and friends through the indexed `user_emails` table.
    fn work_email_lookup(&self, field: &Field, inner: &Plan) -> StorageResult<Option<Sql>> {
        if self.t.table != "users" || field.ext.is_some() || field.attr != "emails" {
            return Ok(None);
        }
        let mut terms = Vec::new();
        if !collect_eq_terms(inner, &mut terms) || !terms.iter().any(|(f, _)| f.attr == "value") {
            return Ok(None);
        }
        let mut s = Sql::new("T.id IN (SELECT ue.user_id FROM user_emails ue WHERE ue.org_id = ");
        s.text(self.org_id);
        for (f, v) in terms {
            let col = match f.attr.as_str() {
                "value" => "ue.value_norm",
                "type" => "ue.type",
                "primary" => "ue.is_primary",
                _ => return Ok(None),
            };
            s.push(&format!(" AND {col} = ")).bind(match v {
                Operand::Str(s) => Bind::Text(s.clone()),
                Operand::Bool(b) => Bind::Bool(*b),
                _ => return Ok(None),
            });
        }
        s.push(")");
        Ok(Some(s))
    }

    /// The expression to sort by.
    pub fn sort_expr(&self, key: &SortKey) -> StorageResult<String> {
        if let Some(Source::Column(c)) = self.column(&key.field)? {
            return Ok(c);
        }
        if self.membership(&key.field).is_some() {
            return Err(unsupported(format!("cannot sort by '{}'", key.field.attr)));
        }
        let mut keys: Vec<String> = key.field.ext.iter().cloned().collect();
        keys.push(key.field.attr.clone());
        if key.first_of_multi {
            return Ok(self.primary_or_first(&keys, key.field.sub.as_deref()));
        }
        let expr = match self.d {
            Dialect::Sqlite => {
                let mut path = sqlite_path(&keys);
                if let Some(sub) = &key.field.sub {
                    path.push_str(&format!(".\"{sub}\""));
                }
                format!("json_extract(T.search, {})", literal(&path))
            }
            Dialect::Postgres => {
                let e = pg_json("T.search", &keys);
                match &key.field.sub {
                    Some(sub) => format!("({e} ->> {})", literal(sub)),
                    None => format!("({e} #>> '{{}}')"),
                }
            }
        };
        Ok(expr)
    }
}

impl FilterSql<'_> {
    /// A multi-valued attribute's sort value: its primary value's, else its first value's
    /// (RFC 7644 §3.4.2.3).
    fn primary_or_first(&self, keys: &[String], sub: Option<&str>) -> String {
        match self.d {
            Dialect::Sqlite => {
                let list = sqlite_path(keys);
                let sub_path = sub.map_or(String::new(), |s| format!(".\"{s}\""));
                let in_element = match sub {
                    Some(_) => format!(
                        "json_extract(P.value, {})",
                        literal(&format!("${sub_path}"))
                    ),
                    None => "P.value".to_owned(),
                };
                format!(
                    "COALESCE((SELECT {in_element} FROM json_each(T.search, {}) P \
                     WHERE json_extract(P.value, '$.primary') = 1 LIMIT 1), \
                     json_extract(T.search, {}))",
                    literal(&list),
                    literal(&format!("{list}[0]{sub_path}")),
                )
            }
            Dialect::Postgres => {
                let list = pg_json("T.search", keys);
                let of = |el: &str| match sub {
                    Some(sub) => format!("({el} ->> {})", literal(sub)),
                    None => format!("({el} #>> '{{}}')"),
                };
                format!(
                    "COALESCE((SELECT {} FROM jsonb_array_elements(CASE WHEN \
                     jsonb_typeof({list}) = 'array' THEN {list} END) P \
                     WHERE P -> 'primary' = 'true'::jsonb LIMIT 1), {})",
                    of("P"),
                    of(&format!("({list} -> 0)")),
                )
            }
        }
    }
}

/// Whether a plan's SQL text comes from a small closed set (one comparison, or one value filter
/// of at most two comparisons), so its prepared statement may be kept.
pub(crate) fn bounded_shape(plan: &Plan) -> bool {
    let leaf = |p: &Plan| matches!(p, Plan::Compare { .. } | Plan::Present(_));
    match plan {
        Plan::Any { inner, .. } => match inner.as_ref() {
            Plan::And(a, b) => leaf(a) && leaf(b),
            other => leaf(other),
        },
        other => leaf(other),
    }
}

struct Membership {
    from: String,
    value_col: &'static str,
    extra: (&'static str, &'static str),
}

impl Membership {
    fn column(&self, f: &Field) -> StorageResult<Source> {
        match f.attr.as_str() {
            "value" => Ok(Source::Column(self.value_col.into())),
            a if a == self.extra.0 => Ok(Source::Column(self.extra.1.into())),
            other => Err(unsupported(format!(
                "'{other}' of a membership cannot be filtered on"
            ))),
        }
    }
}

fn collect_eq_terms<'p>(plan: &'p Plan, out: &mut Vec<(&'p Field, &'p Operand)>) -> bool {
    match plan {
        Plan::And(a, b) => collect_eq_terms(a, out) && collect_eq_terms(b, out),
        Plan::Compare {
            field,
            op: CompareOp::Eq,
            value,
        } => {
            out.push((field, value));
            true
        }
        _ => false,
    }
}

fn sqlite_path(keys: &[String]) -> String {
    let mut p = String::from("$");
    for k in keys {
        p.push_str(&format!(".\"{}\"", k.replace('"', "\\\"")));
    }
    p
}

fn pg_json(base: &str, keys: &[String]) -> String {
    let mut e = base.to_owned();
    for k in keys {
        e = format!("({e} -> {})", literal(k));
    }
    e
}

fn pg_text(base: &str, keys: &[String]) -> String {
    match keys.split_last() {
        None => format!("({base} #>> '{{}}')"),
        Some((last, init)) => format!("({} ->> {})", pg_json(base, init), literal(last)),
    }
}

#[cfg(test)]
mod tests {
    use crate::scim::filter::parse_filter;
    use crate::scim::plan::plan;
    use crate::scim::schema::{Registry, ResourceKind};
    use crate::storage::resources::{is_point_lookup, GROUPS, USERS};

    use super::*;

    fn point(kind: ResourceKind, filter: &str) -> bool {
        let reg = Registry::embedded().unwrap();
        let p = plan(reg.resource(kind), &parse_filter(filter).unwrap()).unwrap();
        let t = if kind == ResourceKind::User {
            &USERS
        } else {
            &GROUPS
        };
        is_point_lookup(Dialect::Sqlite, t, &p)
    }

    #[test]
    fn point_lookups_are_the_unique_index_equalities() {
        for f in [
            r#"userName eq "a@b.c""#,
            r#"externalId eq "x""#,
            r#"id eq "1""#,
            r#"emails[type eq "work"].value eq "a@b.c""#,
            r#"emails[value eq "a@b.c"]"#,
        ] {
            assert!(point(ResourceKind::User, f), "{f}");
        }
        assert!(point(ResourceKind::Group, r#"displayName eq "Ops""#));
        for f in [
            r#"userName sw "a""#,
            r#"userName ne "a""#,
            "active eq true",
            r#"title eq "x""#,
            r#"userName eq "a" or userName eq "b""#,
            r#"emails[type eq "work"]"#,
            r#"displayName eq "Ada""#,
        ] {
            assert!(!point(ResourceKind::User, f), "{f}");
        }
    }
}
