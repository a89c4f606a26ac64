//! Opaque paging cursors: the keys of the last row a page showed (or a provider's next link),
//! base64url-encoded so clients treat them as tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Separates the parts; a control character no key holds.
const SEP: char = '\u{1f}';

pub fn encode(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(parts.join(&SEP.to_string()))
}

/// The `n` parts of a cursor [`encode`] made, or None for anything else.
pub fn decode(cursor: &str, n: usize) -> Option<Vec<String>> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let parts: Vec<String> = text.split(SEP).map(str::to_owned).collect();
    (parts.len() == n).then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_they_did_not_make() {
        let c = encode(&["2026-11-28T10:00:00.000Z", "01a2-b3|x"]);
        assert_eq!(
            decode(&c, 2),
            Some(vec!["2026-11-28T10:00:00.000Z".into(), "01a2-b3|x".into()])
        );
        assert_eq!(decode(&c, 1), None);
        assert_eq!(decode("not base64!", 2), None);
        let link = "https://graph.microsoft.com/v1.0/users?$skiptoken=a|b";
        assert_eq!(decode(&encode(&[link]), 1), Some(vec![link.into()]));
    }

    proptest::proptest! {
        #[test]
        fn any_text_decodes_or_is_refused_without_panicking(s in "\\PC{0,120}", n in 1usize..4) {
            let _ = decode(&s, n);
        }
    }
}
