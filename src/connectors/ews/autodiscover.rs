//! Finding a mailbox's EWS URL by Autodiscover: the plain-XML protocol Exchange 2007 to 2016
//! serve at `/autodiscover/autodiscover.xml`. The request names the address; the answer's
//! `EXCH` protocol (else `EXPR`) gives `EwsUrl`; an answer may redirect once to another URL.

use serde::Serialize;

use super::xml::Element;
use crate::connectors::collection::{RemoteError, RemoteResult};

const REQUEST_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
const RESPONSE_SCHEMA: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

#[derive(Serialize)]
#[serde(rename = "Autodiscover")]
struct Request<'a> {
    #[serde(rename = "@xmlns")]
    ns: &'static str,
    #[serde(rename = "Request")]
    request: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    #[serde(rename = "EMailAddress")]
    email: &'a str,
    #[serde(rename = "AcceptableResponseSchema")]
    schema: &'static str,
}

/// Where Autodiscover is asked for an address: its domain, then `autodiscover.` its domain.
pub fn candidates(email: &str) -> Vec<String> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Vec::new();
    };
    vec![
        format!("https://{domain}/autodiscover/autodiscover.xml"),
        format!("https://autodiscover.{domain}/autodiscover/autodiscover.xml"),
    ]
}

/// The EWS URL an Autodiscover answer gives, or the URL it redirects to.
pub enum Answer {
    Ews(String),
    Redirect(String),
}

pub fn read(root: &Element) -> Option<Answer> {
    let account = root.find("Account")?;
    if account.text_of("Action") == Some("redirectUrl") {
        return account
            .text_of("RedirectUrl")
            .map(|u| Answer::Redirect(u.trim().to_owned()));
    }
    let protocols: Vec<&Element> = account.children_named("Protocol").collect();
    ["EXCH", "EXPR"].iter().find_map(|kind| {
        protocols
            .iter()
            .filter(|p| p.text_of("Type") == Some(kind))
            .find_map(|p| p.text_of("EwsUrl"))
            .map(|u| Answer::Ews(u.trim().to_owned()))
    })
}

/// Asks each candidate in turn (following one redirect) for `email`'s EWS URL.
pub async fn ews_url(
    http: &reqwest::Client,
    candidates: &[String],
    login: &str,
    password: &str,
    email: &str,
) -> RemoteResult<String> {
    let body = quick_xml::se::to_string(&Request {
        ns: REQUEST_NS,
        request: Inner {
            email,
            schema: RESPONSE_SCHEMA,
        },
    })
    .map_err(|e| RemoteError::Invalid(e.to_string()))?;
    let mut last = RemoteError::NotFound;
    let mut queue: Vec<String> = candidates.to_vec();
    let mut redirects = 0;
    while !queue.is_empty() {
        let url = queue.remove(0);
        let answer = http
            .post(&url)
            .basic_auth(login, Some(password))
            .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{body}"))
            .send()
            .await;
        let res = match answer {
            Ok(res) => res,
            Err(e) => {
                last = RemoteError::Transient(format!("{url}: {e}"));
                continue;
            }
        };
        if res.status().as_u16() == 401 {
            return Err(RemoteError::Unauthorized(
                "Autodiscover refused the user name or password".into(),
            ));
        }
        if !res.status().is_success() {
            last = RemoteError::Transient(format!("{url} answered {}", res.status()));
            continue;
        }
        let text = res
            .text()
            .await
            .map_err(|e| RemoteError::Transient(e.to_string()))?;
        match Element::parse(&text).ok().as_ref().and_then(read) {
            Some(Answer::Ews(u)) => return Ok(u),
            Some(Answer::Redirect(u)) if redirects == 0 && u.starts_with("https://") => {
                redirects += 1;
                queue.insert(0, u);
            }
            _ => last = RemoteError::Invalid(format!("{url} gave no EWS URL")),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_gives_the_exchange_ews_url_or_a_redirect() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
<Account><AccountType>email</AccountType><Action>settings</Action>
<Protocol><Type>EXPR</Type><EwsUrl>https://outside.contoso.com/EWS/Exchange.asmx</EwsUrl></Protocol>
<Protocol><Type>EXCH</Type><EwsUrl>https://mail.contoso.com/EWS/Exchange.asmx</EwsUrl></Protocol>
</Account></Response></Autodiscover>"#;
        match read(&Element::parse(xml).unwrap()) {
            Some(Answer::Ews(u)) => assert_eq!(u, "https://mail.contoso.com/EWS/Exchange.asmx"),
            _ => panic!("the EXCH URL"),
        }
        let redirect = "<Autodiscover><Response><Account><Action>redirectUrl</Action><RedirectUrl>https://mail.contoso.com/autodiscover/autodiscover.xml</RedirectUrl></Account></Response></Autodiscover>";
        assert!(matches!(
            read(&Element::parse(redirect).unwrap()),
            Some(Answer::Redirect(_))
        ));
        assert_eq!(
            candidates("ada@contoso.com")[1],
            "https://autodiscover.contoso.com/autodiscover/autodiscover.xml"
        );
        assert!(candidates("nobody").is_empty());
        let body = quick_xml::se::to_string(&Request {
            ns: REQUEST_NS,
            request: Inner {
                email: "a&b@x.com",
                schema: RESPONSE_SCHEMA,
            },
        })
        .unwrap();
        assert!(
            body.contains("<EMailAddress>a&amp;b@x.com</EMailAddress>"),
            "{body}"
        );
    }
}
