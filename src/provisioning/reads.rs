//! SCIM reads: one resource by id, and queries (filters, sorting, offset and cursor paging)
//! rendered with the requested attributes.

use serde_json::Value;

use super::*;

impl ScimService {
    /// GET by id, rendered with the view.
    pub async fn get(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        view: &Projection,
    ) -> ScimResult<Output> {
        let (org, id, d) = (tenant.org_id.clone(), id.to_owned(), self.db.dialect());
        let base = tenant.base_url.clone();
        let want_computed = self.wants_computed(kind, Some(view));
        let (row, mut computed) = self
            .db
            .read_small(move |conn| {
                let how = match want_computed && kind == ResourceKind::User {
                    true => resources::Find::WithMembership,
                    false => resources::Find::Plain,
                };
                let row = resources::find(conn, d, table_of(kind), &org, &id, how)?
                    .ok_or_else(not_found)?;
                let computed = match want_computed {
                    true => load_shown(conn, kind, std::slice::from_ref(&row), &base)?,
                    false => Computed::new(),
                };
                Ok::<_, ScimError>((row, computed))
            })
            .await?;
        let snap = Snapshot::from_row(&row)?;
        let c = want_computed.then(|| computed.remove(&snap.id).unwrap_or_default());
        let resource = self.render(tenant, kind, &snap, c, view);
        Ok(Output {
            id: snap.id,
            version: snap.version,
            resource: Some(resource),
        })
    }

    pub(super) fn render(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        snap: &Snapshot,
        computed: Option<Vec<Value>>,
        view: &Projection,
    ) -> Value {
        let rs = self.schema(kind);
        let meta = Meta {
            created: snap.created.clone(),
            last_modified: snap.last_modified.clone(),
            version: snap.version,
            location: format!("{}/{}/{}", tenant.base_url, kind.endpoint(), snap.id),
        };
        let extra = computed
            .map(|c| vec![(computed_attr(kind), Value::Array(c))])
            .unwrap_or_default();
        view.apply(rs, render(rs, &snap.id, &snap.doc, &meta, extra))
    }

    /// Whether a filter is valid for a resource type (parses and names only its attributes).
    pub fn check_filter(&self, kind: ResourceKind, filter: &str, rules: &Rules) -> ScimResult<()> {
        rules
            .parse_filter(filter)
            .and_then(|f| plan(self.schema(kind), &f))
            .map(|_| ())
    }

    /// Query (GET with parameters or POST /.search) over one resource type.
    pub async fn list(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        params: &ListParams,
        limits: PagingLimits,
    ) -> ScimResult<ListPage> {
        let rs = self.schema(kind);
        let filter = params
            .filter
            .as_deref()
            .map(|f| tenant.rules.parse_filter(f).and_then(|f| plan(rs, &f)))
            .transpose()?;
        let sort = params
            .sort_by
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| sort_key(rs, s))
            .transpose()?;
        let descending = match params
            .sort_order
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("ascending") | Some("") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be ascending or descending, not '{other}'"
                )))
            }
        };
        let view = Projection::new(
            rs,
            params.attributes.as_deref(),
            params.excluded_attributes.as_deref(),
        );
        let count = params.count.map_or(limits.default_page_size, |c| {
            c.clamp(0, limits.max_page_size)
        });
        let page = page_of(params, count, sort.is_some())?;
        let want_computed = self.wants_computed(kind, Some(&view));
        let (org, d, base) = (
            tenant.org_id.clone(),
            self.db.dialect(),
            tenant.base_url.clone(),
        );
        let small = filter
            .as_ref()
            .is_some_and(|p| resources::is_point_lookup(d, table_of(kind), p));
        let read = move |conn: &mut AnyConnection| {
            let q = ListQuery {
                org_id: &org,
                filter: filter.as_ref(),
                sort: sort.as_ref().map(|k| (k, descending)),
                page,
                count_total: matches!(page, Page::Offset { .. }),
                membership: want_computed && kind == ResourceKind::User,
            };
            let (total, rows) = resources::list(conn, d, table_of(kind), &q)?;
            let computed = match want_computed && !rows.is_empty() {
                true => load_shown(conn, kind, &rows, &base)?,
                false => Computed::new(),
            };
            Ok::<_, ScimError>((total, rows, computed))
        };
        let (total, rows, mut computed) = match small {
            true => self.db.read_small(read).await?,
            false => self.db.read(read).await?,
        };
        let next_cursor = match page {
            Page::After { limit, .. } if rows.len() as i64 == limit && limit > 0 => {
                rows.last().map(|r| encode_cursor(r.seq))
            }
            _ => None,
        };
        let resources = rows
            .iter()
            .map(|row| {
                let snap = Snapshot::from_row(row)?;
                let c = want_computed.then(|| computed.remove(&row.id).unwrap_or_default());
                Ok(self.render(tenant, kind, &snap, c, &view))
            })
            .collect::<ScimResult<Vec<_>>>()?;
        let start_index = match page {
            Page::Offset { offset, .. } => Some(offset + 1),
            Page::After { .. } => None,
        };
        Ok(ListPage {
            total,
            start_index,
            resources,
            next_cursor,
        })
    }
}

fn page_of(params: &ListParams, count: i64, sorted: bool) -> ScimResult<Page> {
    match &params.cursor {
        Some(cursor) => {
            if sorted {
                return Err(ScimError::invalid_value(
                    "cursor paging follows creation order; sortBy cannot be combined with cursor",
                ));
            }
            if params.start_index.is_some() {
                return Err(ScimError::invalid_value(
                    "startIndex and cursor cannot be combined",
                ));
            }
            let after = if cursor.is_empty() {
                0
            } else {
                decode_cursor(cursor)?
            };
            Ok(Page::After {
                after,
                limit: count,
            })
        }
        None => {
            let start = params.start_index.unwrap_or(1).max(1);
            Ok(Page::Offset {
                offset: start - 1,
                limit: count,
            })
        }
    }
}

const CURSOR_PREFIX: &str = "c";

fn encode_cursor(seq: i64) -> String {
    format!("{CURSOR_PREFIX}{seq:x}")
}

fn decode_cursor(cursor: &str) -> ScimResult<i64> {
    cursor
        .strip_prefix(CURSOR_PREFIX)
        .and_then(|hex| i64::from_str_radix(hex, 16).ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ScimError::bad_request(
                ScimType::InvalidCursor,
                "the cursor is not one this server issued",
            )
        })
}

/// [`load_computed`] for rows read to be shown: users read with their `in_groups` probe, of
/// whom only those in some group have groups to look up.
fn load_shown(
    conn: &mut AnyConnection,
    kind: ResourceKind,
    rows: &[ResourceRow],
    base: &str,
) -> ScimResult<Computed> {
    match kind {
        ResourceKind::User => {
            let members: Vec<String> = rows
                .iter()
                .filter(|r| r.in_groups)
                .map(|r| r.id.clone())
                .collect();
            match members.is_empty() {
                true => Ok(Computed::new()),
                false => load_computed(conn, kind, &members, base),
            }
        }
        ResourceKind::Group => {
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            load_computed(conn, kind, &ids, base)
        }
    }
}

/// Members of groups or groups of users, with `$ref` as the full URI under the tenant's `base`.
/// Users are passed only when they belong to some group (`ResourceRow::in_groups`).
pub(crate) fn load_computed(
    conn: &mut AnyConnection,
    kind: ResourceKind,
    ids: &[String],
    base: &str,
) -> ScimResult<Computed> {
    let mut out = Computed::new();
    match kind {
        ResourceKind::Group => {
            for m in resources::members_of(conn, ids)? {
                let mut v = serde_json::json!({"value": m.member_id, "type": m.member_type});
                if let Some(display) = m.display {
                    v["display"] = Value::String(display);
                }
                v["$ref"] = Value::String(format!("{base}/{}s/{}", m.member_type, m.member_id));
                out.entry(m.group_id).or_default().push(v);
            }
        }
        ResourceKind::User => {
            for g in resources::groups_of(conn, ids)? {
                out.entry(g.member_id).or_default().push(serde_json::json!({
                    "value": g.group_id,
                    "$ref": format!("{base}/Groups/{}", g.group_id),
                    "display": g.display_name,
                    "type": if g.depth == 0 { "direct" } else { "indirect" },
                }));
            }
        }
    }
    Ok(out)
}
