//! What a sync connector offers the engine for one remote collection (a calendar, a contact
//! folder): its dedicated container, one page of changes at a time from a cursor, lookup by
//! Roster's idempotency key, and batched writes with one outcome per write. Items travel in
//! Roster's own field shape (the record fields of contacts, events and tasks as JSON); each
//! connector maps them to and from its provider. No database, no engine logic.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

/// A remote item in Roster's field shape.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteItem {
    pub id: String,
    /// The provider's version of the item (Graph's `changeKey` / `@odata.etag`).
    pub change_key: Option<String>,
    /// The item's fields as Roster's record fields, limited to what the connector maps.
    pub fields: Value,
    /// Roster's idempotency key stamped on the item, when the provider returned it.
    pub op_key: Option<String>,
}

/// One change in a page.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Created or changed (the same item may come several times, or again in a later round).
    Upsert(RemoteItem),
    /// Removed from the collection, or (for windowed collections) possibly only out of the
    /// window: the engine checks before deleting anything.
    Removed { id: String },
    /// An item the connector cannot map (a recurring series occurrence, an item type it does not
    /// sync); counted as skipped.
    Skipped { id: String, why: String },
}

/// Where the change feed goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// More pages in this round: pass this cursor next.
    Page(String),
    /// The round is complete; this cursor returns only later changes.
    Done(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage {
    pub changes: Vec<Change>,
    pub next: Next,
}

/// A write to apply.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteOp {
    /// Creates an item stamped with `op_key`.
    Create {
        op_key: String,
        fields: Value,
    },
    /// Updates an item; with `change_key`, only while it is still at that version.
    Update {
        id: String,
        change_key: Option<String>,
        fields: Value,
    },
    Delete {
        id: String,
    },
}

/// A write's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The item as the provider stored it.
    Written(RemoteItem),
    Deleted,
}

/// What a remote call failed with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    /// The token was refused: the user must connect again.
    #[error("the provider refused the token: {0}")]
    Unauthorized(String),
    #[error("the provider refused access: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    /// The change cursor is no longer valid: start a new full round.
    #[error("the provider no longer knows the sync state; a full resync is needed")]
    CursorExpired,
    /// Slow down; retry after this long.
    #[error("the provider is throttling requests; retry after {} s", .0.as_secs())]
    Throttled(Duration),
    /// The item changed since the version the write named.
    #[error("the item changed on the provider's side")]
    PreconditionFailed,
    /// The provider refused this one item (it will refuse it again).
    #[error("the provider refused the item: {0}")]
    Invalid(String),
    /// A network failure or a 5xx: the outcome of a write is unknown.
    #[error("the provider could not be reached: {0}")]
    Transient(String),
}

pub type RemoteResult<T> = Result<T, RemoteError>;

/// How a pulled item's fields combine with the local record's: `(local, remote, mapped)` to the
/// record's new fields. A provider that cannot hold every value of a field (three emails, one
/// mobile number) keeps the values it could not represent instead of dropping them; a windowed
/// collection keeps what lies outside the window it reads.
pub type PullMerge = std::sync::Arc<dyn Fn(&Value, &Value, &[String]) -> Value + Send + Sync>;

/// The plain merge: the mapped fields are the remote's, every other field stays.
pub fn replace_mapped(local: &Value, remote: &Value, mapped: &[String]) -> Value {
    let mut out = local.as_object().cloned().unwrap_or_default();
    for k in mapped {
        out.remove(k);
    }
    if let Value::Object(r) = remote {
        for (k, v) in r {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// One remote collection of one mailbox.
pub trait Collection: Send + Sync {
    /// The record kind it holds (`event`, `contact`).
    fn kind(&self) -> &'static str;

    /// The Roster fields the connector maps: on a pull, these are replaced by the remote's
    /// values and the others are kept.
    fn mapped_fields(&self) -> Vec<String>;

    /// How long one round's cursor is worth following before a new full round (calendar views
    /// freeze their window into the cursor).
    fn round_lifetime(&self) -> Option<Duration>;

    /// How a pull combines the remote's fields with the record's ([`replace_mapped`] unless
    /// the provider holds fewer values than Roster).
    fn pull_merge(&self) -> PullMerge {
        std::sync::Arc::new(replace_mapped)
    }

    /// Whether a linked item is made of parts the change feed reports on their own (a
    /// recurring series and its occurrences). A removal the engine cannot place may be one of
    /// its parts, so such items are then read again whole.
    fn composite(&self, _fields: &Value) -> bool {
        false
    }

    /// Creates the dedicated container; returns its id.
    fn create_container(&self) -> impl Future<Output = RemoteResult<String>> + Send;

    /// Whether the container still exists (the user may have deleted it).
    fn container_exists(&self, id: &str) -> impl Future<Output = RemoteResult<bool>> + Send;

    fn delete_container(&self, id: &str) -> impl Future<Output = RemoteResult<()>> + Send;

    /// One page of changes: from the start of a full round (`cursor` None) or from a cursor
    /// the feed gave.
    fn changes(
        &self,
        container: &str,
        cursor: Option<&str>,
    ) -> impl Future<Output = RemoteResult<ChangePage>> + Send;

    /// One item, None when it no longer exists in the container.
    fn get(
        &self,
        container: &str,
        id: &str,
    ) -> impl Future<Output = RemoteResult<Option<RemoteItem>>> + Send;

    /// The item stamped with Roster's key, if one was created.
    fn find_by_key(
        &self,
        container: &str,
        op_key: &str,
    ) -> impl Future<Output = RemoteResult<Option<RemoteItem>>> + Send;

    /// Applies writes (batched as the provider allows); one outcome per write, in order.
    fn apply(
        &self,
        container: &str,
        ops: Vec<RemoteOp>,
    ) -> impl Future<Output = Vec<RemoteResult<Applied>>> + Send;
}
