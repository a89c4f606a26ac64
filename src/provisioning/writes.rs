//! SCIM writes: POST, PUT, PATCH and DELETE, each one transaction with its provisioning log
//! entry and the Roster user it changes.

use serde_json::{Map, Value};

use super::log::{log_row, name_entry, About, Op};
use super::reads::load_computed;
use super::*;

/// A full resource body as POST and PUT store it: the document, and what is kept apart from it.
struct Validated {
    doc: Map<String, Value>,
    /// A group's members, applied to the membership table.
    members: Option<Vec<members::MemberRef>>,
    /// A user's password, stored only as a hash.
    password: Option<String>,
}

impl ScimService {
    /// A one-time password for a user about to be created, when the connection delivers them
    /// and the user's email is on a verified domain of the org without an account yet.
    async fn prepare_otp(
        &self,
        tenant: &Tenant,
        doc: &Map<String, Value>,
    ) -> Option<onboarding::Prepared> {
        let (mapper, connection, org, doc) = (
            self.profiles.clone(),
            tenant.connection_id.clone(),
            tenant.org_id.clone(),
            doc.clone(),
        );
        let eligible = self
            .db
            .read_small(move |c| {
                let Some((email, delivery)) =
                    onboarding::user_email(&mapper, c, &connection, &doc)?
                else {
                    return Ok::<_, StorageError>(None);
                };
                if !onboarding::on_verified_domain(c, &org, &email)? {
                    return Ok(None);
                }
                let taken =
                    crate::storage::accounts::find_account_by_email(c, &email.to_lowercase())?;
                Ok(taken.is_none().then_some((email, delivery)))
            })
            .await;
        let (email, delivery) = match eligible {
            Ok(found) => found?,
            Err(e) => {
                tracing::warn!(error = %e, "could not check one-time password delivery");
                return None;
            }
        };
        let password = crate::security::generate_password();
        let public_base = tenant
            .base_url
            .rsplit_once("/scim/v2/")
            .map_or(tenant.base_url.as_str(), |(base, _)| base);
        let sign_in_url = format!("{public_base}{}", onboarding::sign_in_path(&email));
        let hours = self.one_time_password_hours;
        let (subject, text) =
            onboarding::mail_text(delivery, &email, &password, &sign_in_url, hours);
        let expires = format_datetime(chrono::Utc::now() + chrono::Duration::hours(hours as i64));
        let body = match self.mailer.seal(&text) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "could not seal a one-time password mail");
                return None;
            }
        };
        let hash = tokio::task::spawn_blocking(move || crate::security::hash_password(&password))
            .await
            .ok()?
            .ok()?;
        Some(onboarding::Prepared {
            email,
            hash,
            delivery,
            subject,
            body,
            expires,
        })
    }

    /// Runs `f` in a write transaction; then loads the membership-derived attribute in the same
    /// transaction if the view shows it, and renders the view.
    async fn write_and_render<F>(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        view: Option<&Projection>,
        op: Op,
        f: F,
    ) -> ScimResult<Output>
    where
        F: FnOnce(&mut AnyConnection, &Registry) -> ScimResult<Snapshot> + Send + 'static,
    {
        let want_computed = self.wants_computed(kind, view);
        let (registry, base) = (self.registry.clone(), tenant.base_url.clone());
        let (mapper, org, connection) = (
            self.profiles.clone(),
            tenant.org_id.clone(),
            tenant.connection_id.clone(),
        );
        let status = match op {
            Op::Create => 201,
            Op::Update if view.is_none() => 204,
            _ => 200,
        };
        let mut entry = log_row(tenant, op, kind, None, status, "success", None);
        let counted = self.operations.clone();
        let (snap, mut computed, outcome) = self
            .db
            .write(move |conn| {
                let snap = f(conn, &registry)?;
                // Roster's profile of a user follows every write, in the same transaction.
                if kind == ResourceKind::User {
                    let user = super::profiles::Written {
                        id: &snap.id,
                        doc: &snap.doc,
                        new: snap.new_user,
                    };
                    let rules = mapper.sync_user(conn, &org, &connection, user)?;
                    if snap.delivery_unchecked && rules.is_some_and(|r| r.delivery.is_some()) {
                        return Err(stale_settings());
                    }
                }
                // The log entry commits with the write it records.
                entry.resource_id = Some(snap.id.clone());
                name_entry(&mut entry, kind, &snap.doc);
                entry.outcome = if snap.changed { "success" } else { "no_change" };
                provlog::insert(conn, &entry)?;
                let outcome = entry.outcome;
                // A user's groups are looked up only when its row said it has some (a new user
                // has none); a group's members always.
                let ids = std::slice::from_ref(&snap.id);
                let computed = match (want_computed, kind) {
                    (true, ResourceKind::User) if snap.in_groups => {
                        load_computed(conn, kind, ids, &base)?
                    }
                    (true, ResourceKind::Group) => load_computed(conn, kind, ids, &base)?,
                    _ => Computed::new(),
                };
                Ok::<_, ScimError>((snap, computed, outcome))
            })
            .await?;
        counted.add(&[&tenant.connection_id, op.name(), outcome]);
        let resource = view.map(|p| {
            let c = want_computed.then(|| computed.remove(&snap.id).unwrap_or_default());
            self.render(tenant, kind, &snap, c, p)
        });
        Ok(Output {
            id: snap.id,
            version: snap.version,
            resource,
        })
    }

    /// POST: validates and stores a new resource.
    pub async fn create(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        body: Value,
        view: Option<&Projection>,
    ) -> ScimResult<Output> {
        let valid = match self.validated(tenant, kind, &body) {
            Ok(valid) => valid,
            Err(e) => {
                let about = About::body(&body);
                return self
                    .logged(tenant, Op::Create, kind, about, Err(e), None)
                    .await;
            }
        };
        // A one-time password is looked for before the write (it needs a password hash, too
        // slow for a transaction) unless the connection's settings, as last read, deliver none;
        // the write reads them again, and runs once more with the look if they now deliver.
        let look = kind == ResourceKind::User && self.profiles.may_deliver(&tenant.connection_id);
        let mut result = self.create_once(tenant, kind, view, valid, look).await;
        if matches!(&result, Err(e) if is_stale_settings(e)) {
            result = match self.validated(tenant, kind, &body) {
                Ok(valid) => self.create_once(tenant, kind, view, valid, true).await,
                Err(e) => Err(e),
            };
        }
        // Only a conflict needs the posted document again (to tell a retry from a clash).
        let posted = match &result {
            Err(e) if e.scim_type == Some(ScimType::Uniqueness) => {
                self.validated(tenant, kind, &body).ok().map(|v| v.doc)
            }
            _ => None,
        };
        self.logged(tenant, Op::Create, kind, About::body(&body), result, posted)
            .await
    }

    /// One attempt at storing a new resource; `look`: look for a one-time password to send.
    async fn create_once(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        view: Option<&Projection>,
        valid: Validated,
        look: bool,
    ) -> ScimResult<Output> {
        let Validated {
            doc,
            members,
            password,
        } = valid;
        let otp = match look {
            true => self.prepare_otp(tenant, &doc).await,
            false => None,
        };
        let delivery_unchecked = kind == ResourceKind::User && !look;
        let mails = otp.is_some();
        let mailer = self.mailer.clone();
        let (org, d) = (tenant.org_id.clone(), self.db.dialect());
        let result = self
            .write_and_render(tenant, kind, view, Op::Create, move |conn, reg| {
                // Time-ordered (RFC 9562 version 7): resources created one after another get
                // neighbouring ids, so the id index and the membership tables grow at their right
                // edge instead of touching a random page per insert. The creation time an id reveals
                // is already public as meta.created.
                let kept = match kind {
                    // The person a connection deleted and kept (on_delete: deactivate) is the
                    // same Roster user when the identity provider creates them again.
                    ResourceKind::User => kept_user(conn, &org, &doc)?,
                    ResourceKind::Group => None,
                };
                let new_user = kind == ResourceKind::User && kept.is_none();
                let id = kept.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
                let write = build_write(reg.resource(kind), &id, &doc, password)?;
                let now = now();
                resources::insert(conn, d, table_of(kind), &org, &write, &now)?;
                if let Some(list) = members {
                    members::apply(conn, d, &org, &id, &[MemberChange::Add(list)])?;
                }
                if let Some(otp) = &otp {
                    onboarding::onboard(conn, &mailer, &org, &id, otp)?;
                }
                Ok(Snapshot {
                    id,
                    doc,
                    version: 1,
                    created: now.clone(),
                    last_modified: now,
                    changed: true,
                    new_user,
                    in_groups: false,
                    delivery_unchecked,
                })
            })
            .await;
        if mails && result.is_ok() {
            self.mailer.nudge();
        }
        result
    }

    /// Normalises and checks a full resource body; splits off group members and the password.
    fn validated(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        body: &Value,
    ) -> ScimResult<Validated> {
        let rs = self.schema(kind);
        let mut doc = validate_resource(rs, body, &tenant.rules)?;
        let members = take_members(kind, &mut doc, &tenant.rules)?;
        let password = take_password(kind, &mut doc);
        Ok(Validated {
            doc,
            members,
            password,
        })
    }

    /// PUT: replaces the resource's attributes (read-only ones are ignored).
    pub async fn replace(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        body: Value,
        pre: Precondition,
        view: Option<&Projection>,
    ) -> ScimResult<Output> {
        let result = async {
            let Validated {
                doc,
                members,
                password,
            } = self.validated(tenant, kind, &body)?;
            let (org, id, d) = (tenant.org_id.clone(), id.to_owned(), self.db.dialect());
            self.write_and_render(tenant, kind, view, Op::Replace, move |conn, reg| {
                let row = locked_row(conn, d, kind, &org, &id, &pre)?;
                let write = build_write(reg.resource(kind), &id, &doc, password)?;
                let now = now();
                let version = resources::update(conn, d, table_of(kind), &org, &write, &row, &now)?;
                if kind == ResourceKind::Group {
                    let all = MemberChange::Replace(members.unwrap_or_default());
                    members::apply(conn, d, &org, &id, &[all])?;
                }
                Ok(Snapshot {
                    id,
                    doc,
                    version,
                    created: row.created,
                    last_modified: now,
                    changed: true,
                    new_user: false,
                    in_groups: row.in_groups,
                    delivery_unchecked: false,
                })
            })
            .await
        }
        .await;
        let about = About {
            id: Some(id),
            body: Some(&body),
        };
        self.logged(tenant, Op::Replace, kind, about, result, None)
            .await
    }

    /// PATCH: applies the operations atomically. Membership operations on groups are applied in
    /// the membership table, so their cost does not grow with the group.
    pub async fn patch(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        body: Value,
        pre: Precondition,
        view: Option<&Projection>,
    ) -> ScimResult<Output> {
        let result = async {
            let rules = tenant.rules;
            let ops = parse_patch_request(&body, &rules)?;
            check_resource_id(&ops, id)?;
            let (doc_ops, member_changes) = match kind {
                ResourceKind::Group => split_member_ops(self.schema(kind), ops, &rules)?,
                ResourceKind::User => (ops, vec![]),
            };
            let (org, id, d) = (tenant.org_id.clone(), id.to_owned(), self.db.dialect());
            self.write_and_render(tenant, kind, view, Op::Update, move |conn, reg| {
                let (t, rs) = (table_of(kind), reg.resource(kind));
                let row = locked_row(conn, d, kind, &org, &id, &pre)?;
                let mut snap = Snapshot::from_row(&row)?;
                let emails_before = email_index(&snap.doc);
                let doc_changed = apply_patch(rs, &mut snap.doc, &doc_ops, &rules)?;
                let members_changed = members::apply(conn, d, &org, &id, &member_changes)?;
                if doc_changed || members_changed {
                    let now = now();
                    snap.version = if doc_changed {
                        let mut write = build_write(rs, &id, &snap.doc, None)?;
                        write.emails_unchanged = write.emails == emails_before;
                        resources::update(conn, d, t, &org, &write, &row, &now)?
                    } else {
                        resources::touch(conn, t, &row, &now)?
                    };
                    snap.last_modified = now;
                }
                snap.changed = doc_changed || members_changed;
                Ok(snap)
            })
            .await
        }
        .await;
        self.logged(tenant, Op::Update, kind, About::id(id), result, None)
            .await
    }

    /// DELETE: removes the resource and its memberships.
    pub async fn delete(
        &self,
        tenant: &Tenant,
        kind: ResourceKind,
        id: &str,
        pre: Precondition,
    ) -> ScimResult<()> {
        let (org, rid, d) = (tenant.org_id.clone(), id.to_owned(), self.db.dialect());
        let (mapper, connection) = (self.profiles.clone(), tenant.connection_id.clone());
        let entry = log_row(tenant, Op::Delete, kind, Some(id), 204, "success", None);
        let result = self
            .db
            .write(move |conn| {
                let row = locked_row(conn, d, kind, &org, &rid, &pre)?;
                resources::delete(conn, table_of(kind), &org, &row)?;
                if kind == ResourceKind::User {
                    mapper.delete_user(conn, &org, &connection, &rid)?;
                }
                provlog::insert(conn, &entry)?;
                Ok::<_, ScimError>(())
            })
            .await;
        if result.is_ok() {
            self.operations
                .add(&[&tenant.connection_id, Op::Delete.name(), "success"]);
        }
        self.logged(tenant, Op::Delete, kind, About::id(id), result, None)
            .await
    }
}

/// Reads a resource for change: row-locked, and checked against `If-Match`.
fn locked_row(
    conn: &mut AnyConnection,
    d: crate::storage::Dialect,
    kind: ResourceKind,
    org: &str,
    id: &str,
    pre: &Precondition,
) -> ScimResult<ResourceRow> {
    let row = resources::find(conn, d, table_of(kind), org, id, resources::Find::ForUpdate)?
        .ok_or_else(not_found)?;
    pre.check(row.version)?;
    Ok(row)
}

/// The id of the kept Roster user (no SCIM resource) a new SCIM user is: same externalId, or
/// else same userName.
fn kept_user(
    conn: &mut AnyConnection,
    org_id: &str,
    doc: &Map<String, Value>,
) -> Result<Option<String>, StorageError> {
    let external_id = doc.get("externalId").and_then(Value::as_str);
    let name = doc
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    crate::storage::profiles::find_kept(conn, org_id, external_id, &fold_case(name))
}

fn take_members(
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
    rules: &Rules,
) -> ScimResult<Option<Vec<members::MemberRef>>> {
    if kind != ResourceKind::Group {
        return Ok(None);
    }
    match doc.remove("members") {
        Some(v) => members::refs_from_value(&v, rules).map(Some),
        None => Ok(None),
    }
}

fn take_password(kind: ResourceKind, doc: &mut Map<String, Value>) -> Option<String> {
    match (kind, doc.remove("password")) {
        (ResourceKind::User, Some(Value::String(p))) => Some(p),
        _ => None,
    }
}

/// The row values of a document. Runs on the blocking pool: it hashes a new password (argon2).
/// The indexed emails of a user document.
fn email_index(doc: &Map<String, Value>) -> Vec<EmailIndex> {
    doc.get("emails")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    Some(EmailIndex {
                        value_norm: fold_case(e.get("value")?.as_str()?),
                        kind: e.get("type").and_then(Value::as_str).map(fold_case),
                        primary: e.get("primary") == Some(&Value::Bool(true)),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn build_write(
    rs: &ResourceSchema,
    id: &str,
    doc: &Map<String, Value>,
    password: Option<String>,
) -> ScimResult<ResourceWrite> {
    let kind = rs.kind;
    let password_hash = password
        .map(|p| crate::security::hash_password(&p))
        .transpose()
        .map_err(|e| ScimError::new(500, e))?;
    let name_attr = table_of(kind).name_attr;
    let name = doc
        .get(name_attr)
        .and_then(Value::as_str)
        .ok_or_else(|| ScimError::invalid_value(format!("'{name_attr}' is required")))?
        .to_owned();
    let str_of = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_owned);
    let emails = email_index(doc);
    Ok(ResourceWrite {
        id: id.to_owned(),
        name_norm: fold_case(&name),
        name,
        external_id: str_of("externalId"),
        display_name: if kind == ResourceKind::User {
            str_of("displayName")
        } else {
            None
        },
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
        password_hash,
        data: Value::Object(doc.clone()).to_string(),
        search: search_doc(rs, doc).to_string(),
        emails: if kind == ResourceKind::User {
            emails
        } else {
            vec![]
        },
        emails_unchanged: false,
    })
}
