//! A minimal element tree over quick-xml, for the object XML format.
//!
//! The object format is data-shaped (leaf elements hold text, inner elements hold
//! only elements), so a small tree is the clearest way to read it in any element
//! order and to keep unknown elements for writing back. Parsing is bounded by the
//! caller's depth and element caps; the tree code recurses once per level.

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum XmlError {
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("XML nested deeper than {limit} elements")]
    TooDeep { limit: usize },
    #[error("XML has more than {limit} elements")]
    TooManyElements { limit: usize },
    #[error("XML has no root element")]
    NoRoot,
    #[error("unknown XML entity &{0};")]
    UnknownEntity(String),
}

fn malformed(e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(e.to_string())
}

/// One element: its attributes, its text (meaningful for leaves only) and children.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Element {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attrs: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Element>,
}

/// Caps for one parse.
#[derive(Debug, Clone, Copy)]
pub struct XmlLimits {
    pub max_depth: usize,
    pub max_elements: usize,
}

impl Element {
    pub fn new(name: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            ..Default::default()
        }
    }

    pub fn leaf(name: impl Into<String>, text: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            text: text.into(),
            ..Default::default()
        }
    }

    pub fn with_child(mut self, child: Element) -> Self {
        self.children.push(child);
        self
    }

    /// The first child with this name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Parses a document with one root element. Comments, processing
    /// instructions, the declaration and whitespace around the root are ignored.
    pub fn parse(input: &str, limits: XmlLimits) -> Result<Element, XmlError> {
        let mut reader = Reader::from_str(input);
        reader.config_mut().expand_empty_elements = true;
        let mut stack: Vec<Element> = Vec::new();
        let mut root: Option<Element> = None;
        let mut count = 0usize;
        loop {
            match reader.read_event().map_err(malformed)? {
                Event::Start(start) => {
                    if root.is_some() {
                        return Err(malformed("content after the root element"));
                    }
                    if stack.len() >= limits.max_depth {
                        return Err(XmlError::TooDeep { limit: limits.max_depth });
                    }
                    count += 1;
                    if count > limits.max_elements {
                        return Err(XmlError::TooManyElements {
                            limit: limits.max_elements,
                        });
                    }
                    let name = std::str::from_utf8(start.name().as_ref()).map_err(malformed)?.to_string();
                    let mut el = Element::new(name);
                    for attr in start.attributes() {
                        let attr = attr.map_err(malformed)?;
                        let key = std::str::from_utf8(attr.key.as_ref()).map_err(malformed)?.to_string();
                        let value = attr.unescape_value().map_err(malformed)?.into_owned();
                        el.attrs.push((key, value));
                    }
                    stack.push(el);
                }
                Event::End(_) => {
                    // Name matching is checked by the reader (check_end_names).
                    let mut done = stack.pop().ok_or_else(|| malformed("unbalanced end tag"))?;
                    // Indentation between child elements is not content.
                    if !done.children.is_empty() && done.text.trim().is_empty() {
                        done.text.clear();
                    }
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(done),
                        None => root = Some(done),
                    }
                }
                Event::Text(text) => {
                    let text = text.xml_content().map_err(malformed)?;
                    push_text(&mut stack, &text)?;
                }
                Event::CData(cdata) => {
                    let text = cdata.decode().map_err(malformed)?;
                    push_text(&mut stack, &text)?;
                }
                Event::GeneralRef(r) => {
                    let ch = match r.resolve_char_ref().map_err(malformed)? {
                        Some(c) => c,
                        None => {
                            let name = r.decode().map_err(malformed)?;
                            predefined_entity(&name).ok_or_else(|| XmlError::UnknownEntity(name.into_owned()))?
                        }
                    };
                    push_text(&mut stack, ch.encode_utf8(&mut [0u8; 4]))?;
                }
                Event::Eof => break,
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
                Event::Empty(_) => return Err(malformed("unexpected empty element")),
            }
        }
        if !stack.is_empty() {
            return Err(malformed("unexpected end of document"));
        }
        root.ok_or(XmlError::NoRoot)
    }

    /// Appends this element as XML. Empty elements are written self-closed, the
    /// way the .NET serialiser writes them (`<Description />`).
    pub fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(&quick_xml::escape::escape(v.as_str()));
            out.push('"');
        }
        if self.text.is_empty() && self.children.is_empty() {
            out.push_str(" />");
            return;
        }
        out.push('>');
        if self.children.is_empty() {
            out.push_str(&quick_xml::escape::escape(self.text.as_str()));
        }
        for c in &self.children {
            c.write(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(el) => {
            el.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(malformed("text outside the root element")),
    }
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: XmlLimits = XmlLimits {
        max_depth: 8,
        max_elements: 100,
    };

    #[test]
    fn parses_text_entities_and_attributes() {
        let el = Element::parse("<?xml version=\"1.0\"?><a k=\"x &amp; y\"><!-- c --><b>1 &lt; 2&#33;</b><c /></a>", LIMITS).unwrap();
        assert_eq!(el.attr("k"), Some("x & y"));
        assert_eq!(el.child("b").unwrap().text, "1 < 2!");
        assert_eq!(el.child("c").unwrap().text, "");
    }

    #[test]
    fn write_parse_round_trip() {
        let el = Element::new("r")
            .with_child(Element::leaf("n", "a<b & \"c\""))
            .with_child(Element::new("e"));
        let mut s = String::new();
        el.write(&mut s);
        assert_eq!(Element::parse(&s, LIMITS).unwrap(), el);
    }

    #[test]
    fn limits_and_malformed_input() {
        let deep = "<a>".repeat(9) + &"</a>".repeat(9);
        assert_eq!(Element::parse(&deep, LIMITS), Err(XmlError::TooDeep { limit: 8 }));
        let wide = format!("<a>{}</a>", "<b/>".repeat(100));
        assert_eq!(Element::parse(&wide, LIMITS), Err(XmlError::TooManyElements { limit: 100 }));
        assert!(Element::parse("<a><b></a>", LIMITS).is_err());
        assert!(Element::parse("<a>", LIMITS).is_err());
        assert_eq!(Element::parse("  ", LIMITS), Err(XmlError::NoRoot));
        assert!(Element::parse("<a>&bogus;</a>", LIMITS).is_err());
        assert!(Element::parse("<a/><b/>", LIMITS).is_err());
    }
}
