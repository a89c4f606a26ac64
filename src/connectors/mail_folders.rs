//! What the mail collections of every provider share: they sync the user's own Inbox and Sent
//! Items (never created or deleted; the container is the two folders' ids, space-separated),
//! one folder after the other, the cursor holding where each folder's change feed stands.

use serde::{Deserialize, Serialize};

use crate::connectors::collection::{Next, RemoteError, RemoteResult};

/// The well-known folders synced (EWS's distinguished ids and Graph's well-known names are the
/// same), and the Roster folder of each.
pub const FOLDERS: [(&str, &str); 2] = [("inbox", "inbox"), ("sentitems", "sent")];

/// The folder ids of a container.
pub fn folders(container: &str) -> Vec<&str> {
    container.split_whitespace().collect()
}

/// The Roster folder (`inbox`, `sent`) of a folder id, None when it is neither of the
/// container's.
pub fn roster_folder(container: &str, parent: Option<&str>) -> Option<&'static str> {
    folders(container)
        .iter()
        .position(|f| Some(*f) == parent)
        .and_then(|at| FOLDERS.get(at))
        .map(|(_, name)| *name)
}

/// The folder a Roster mail is written to: Sent Items for a sent mail, else Inbox.
pub fn folder_for<'a>(container: &'a str, fields: &serde_json::Value) -> Option<&'a str> {
    let at = usize::from(fields["folder"].as_str() == Some("sent"));
    folders(container).get(at).copied()
}

/// Where the feed stands: the folder being read, and each folder's own cursor (a `SyncState`,
/// a delta link).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderCursor {
    folder: usize,
    states: [Option<String>; 2],
}

impl FolderCursor {
    /// The cursor the engine passed (None: a full round).
    pub fn read(cursor: Option<&str>) -> RemoteResult<FolderCursor> {
        match cursor {
            Some(c) => serde_json::from_str(c).map_err(|_| RemoteError::CursorExpired),
            None => Ok(FolderCursor::default()),
        }
    }

    /// The id of the folder to read now.
    pub fn folder<'a>(&self, container: &'a str) -> RemoteResult<&'a str> {
        folders(container)
            .get(self.folder)
            .copied()
            .ok_or_else(|| RemoteError::Invalid("the mail folders are not known".into()))
    }

    /// The folder's own cursor, None at the start of its round.
    pub fn state(&self) -> Option<&str> {
        self.states.get(self.folder)?.as_deref()
    }

    /// Where the feed goes on after a page that left the folder at `state`: the same folder
    /// while it has more, then the next folder, and the round is done after the last.
    pub fn advance(mut self, state: String, folder_done: bool) -> RemoteResult<Next> {
        if let Some(s) = self.states.get_mut(self.folder) {
            *s = Some(state);
        }
        let last = self.folder + 1 >= FOLDERS.len();
        let round_done = folder_done && last;
        if folder_done {
            self.folder = if last { 0 } else { self.folder + 1 };
        }
        let cursor =
            serde_json::to_string(&self).map_err(|e| RemoteError::Invalid(e.to_string()))?;
        Ok(if round_done {
            Next::Done(cursor)
        } else {
            Next::Page(cursor)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_feed_reads_inbox_then_sent_items_and_resumes_each_where_it_stood() {
        let c = FolderCursor::read(None).unwrap();
        assert_eq!((c.folder("I S").unwrap(), c.state()), ("I", None));
        let Next::Page(next) = c.advance("i1".into(), false).unwrap() else {
            panic!("more in the Inbox")
        };
        let c = FolderCursor::read(Some(&next)).unwrap();
        assert_eq!((c.folder("I S").unwrap(), c.state()), ("I", Some("i1")));
        let Next::Page(next) = c.advance("i2".into(), true).unwrap() else {
            panic!("Sent Items next")
        };
        let c = FolderCursor::read(Some(&next)).unwrap();
        assert_eq!((c.folder("I S").unwrap(), c.state()), ("S", None));
        let Next::Done(done) = c.advance("s1".into(), true).unwrap() else {
            panic!("the round is done")
        };
        let c = FolderCursor::read(Some(&done)).unwrap();
        assert_eq!((c.folder("I S").unwrap(), c.state()), ("I", Some("i2")));
        assert!(matches!(
            FolderCursor::read(Some("not a cursor")),
            Err(RemoteError::CursorExpired)
        ));
        assert_eq!(roster_folder("I S", Some("S")), Some("sent"));
        assert_eq!(roster_folder("I S", Some("X")), None);
        assert_eq!(folder_for("I S", &json!({"folder": "sent"})), Some("S"));
        assert_eq!(folder_for("I S", &json!({"folder": "inbox"})), Some("I"));
    }
}
