//! EWS answers read as a small element tree: names without their namespace prefix (Exchange
//! writes `m:`, `t:`, `s:`; nothing here depends on which), attributes, children and text.
//! Parsed with quick-xml; entity and character references are resolved; depth is bounded.

use quick_xml::events::Event;
use quick_xml::Reader;

/// How deep an answer nests at most.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// The local name (`ResponseCode` for `m:ResponseCode`).
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    match name.rsplit_once(':') {
        Some((_, l)) => l.to_owned(),
        None => name.into_owned(),
    }
}

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

fn element(e: &quick_xml::events::BytesStart<'_>) -> Result<Element, String> {
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let key = local(a.key.as_ref());
        if key == "xmlns" || a.key.as_ref().starts_with(b"xmlns:") {
            continue;
        }
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name: local(e.name().as_ref()),
        attrs,
        ..Element::default()
    })
}

impl Element {
    /// The document's root element.
    pub fn parse(xml: &str) -> Result<Element, String> {
        let mut reader = Reader::from_str(xml);
        let mut stack: Vec<Element> = Vec::new();
        loop {
            let event = reader.read_event().map_err(|e| e.to_string())?;
            match event {
                Event::Start(e) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err("the answer nests too deep".into());
                    }
                    stack.push(element(&e)?);
                }
                Event::Empty(e) => {
                    let el = element(&e)?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => return Ok(el),
                    }
                }
                Event::End(_) => {
                    let done = stack.pop().ok_or("an end tag without its start")?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => return Ok(done),
                    }
                }
                Event::Text(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text
                            .push_str(&t.xml10_content().map_err(|e| e.to_string())?);
                    }
                }
                Event::CData(t) => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&t.decode().map_err(|e| e.to_string())?);
                    }
                }
                Event::GeneralRef(r) => {
                    let c = match r.resolve_char_ref().map_err(|e| e.to_string())? {
                        Some(c) => c,
                        None => {
                            let name = r.decode().map_err(|e| e.to_string())?;
                            predefined(&name).ok_or_else(|| format!("unknown entity &{name};"))?
                        }
                    };
                    if let Some(top) = stack.last_mut() {
                        top.text.push(c);
                    }
                }
                Event::Eof => return Err("the answer ends before its root element closes".into()),
                _ => {}
            }
        }
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The first descendant (depth first) named `name`.
    pub fn find(&self, name: &str) -> Option<&Element> {
        for c in &self.children {
            if c.name == name {
                return Some(c);
            }
            if let Some(found) = c.find(name) {
                return Some(found);
            }
        }
        None
    }

    /// The text of the child named `name`, when it has some.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.as_str())
            .filter(|t| !t.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_reads_by_local_name_with_entities_resolved() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<m:GetItemResponse xmlns:m="urn:m" xmlns:t="urn:t"><m:ResponseMessages>
<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>
<m:Items><t:Contact><t:ItemId Id="AAM=" ChangeKey="EQ=="/><t:GivenName>Ada &amp; &#233;mile</t:GivenName>
<t:CompanyName><![CDATA[<Acme>]]></t:CompanyName></t:Contact></m:Items></m:GetItemResponseMessage>
</m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>"#;
        let root = Element::parse(xml).unwrap();
        assert_eq!(root.name, "Envelope");
        let msg = root.find("GetItemResponseMessage").unwrap();
        assert_eq!(msg.attr("ResponseClass"), Some("Success"));
        assert_eq!(msg.text_of("ResponseCode"), Some("NoError"));
        let contact = msg.find("Contact").unwrap();
        assert_eq!(
            contact.child("ItemId").unwrap().attr("ChangeKey"),
            Some("EQ==")
        );
        assert_eq!(contact.text_of("GivenName"), Some("Ada & émile"));
        assert_eq!(contact.text_of("CompanyName"), Some("<Acme>"));
        for bad in ["<a><b></a>", "<a>", "<a>&nosuch;</a>", "", "<a></b>"] {
            assert!(Element::parse(bad).is_err(), "{bad}");
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(Element::parse(&deep).is_err());
    }
}
