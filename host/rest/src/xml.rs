//! XML in and out. The reader builds a small element tree from a request body
//! and refuses what could make it expensive or ambiguous: DTDs (so no entity
//! definitions and no entity expansion bombs), references other than the five
//! predefined entities and character references, bodies deeper or larger than
//! the limits. The writer produces the exact forms of §7.1 and §8.2.

use std::collections::HashSet;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One element of a request body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    /// In document order; names are case-sensitive (§3.3).
    pub attrs: Vec<(String, String)>,
    /// The concatenated character data directly inside the element.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Depth-first search for the first element with this name, self included.
    pub fn find(&self, name: &str) -> Option<&Element> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

/// Why a body was refused; the `Display` text is the 400 message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("request body is not UTF-8")]
    NotUtf8,
    #[error("DTDs and entity declarations are not accepted")]
    Dtd,
    #[error("unknown entity reference &{0};")]
    Entity(String),
    #[error("XML nested deeper than {0} elements")]
    TooDeep(usize),
    #[error("XML has more than {0} nodes")]
    TooManyNodes(usize),
    #[error("element {0} has more than {1} attributes")]
    TooManyAttributes(String, usize),
    #[error("element {0} repeats attribute {1}")]
    DuplicateAttribute(String, String),
}

/// Caps on what one body may contain.
#[derive(Clone, Copy, Debug)]
pub struct XmlLimits {
    pub max_depth: usize,
    pub max_nodes: usize,
    /// Most attributes on one element; checked while reading, before the rest
    /// of the element's attributes are looked at.
    pub max_attributes_per_element: usize,
}

fn malformed(e: impl std::fmt::Display) -> XmlError {
    XmlError::Malformed(e.to_string())
}

/// Names in refusals are cut short and stripped of control characters.
fn shown(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// One element's name and attributes. Linear in the tag's length: quick-xml's
/// own duplicate check compares each attribute with every earlier one
/// (120,000 attributes took 21 s), so it is off and duplicates are found with
/// a hash set instead; the count is capped as attributes are read.
fn element(start: &BytesStart<'_>, reader: &Reader<&[u8]>, limits: &XmlLimits) -> Result<Element, XmlError> {
    let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    let mut seen: HashSet<&[u8]> = HashSet::new();
    let mut iter = start.attributes();
    iter.with_checks(false);
    for attr in iter {
        let attr = attr.map_err(malformed)?;
        if attrs.len() >= limits.max_attributes_per_element {
            return Err(XmlError::TooManyAttributes(shown(&name), limits.max_attributes_per_element));
        }
        if !seen.insert(attr.key.into_inner()) {
            let key = String::from_utf8_lossy(attr.key.as_ref());
            return Err(XmlError::DuplicateAttribute(shown(&name), shown(&key)));
        }
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr
            .decode_and_unescape_value(reader.decoder())
            .map_err(|e| match e {
                quick_xml::Error::Escape(quick_xml::escape::EscapeError::UnrecognizedEntity(_, name)) => XmlError::Entity(name),
                other => malformed(other),
            })?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        ..Element::default()
    })
}

fn resolve_reference(name: &str) -> Result<char, XmlError> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix('x') {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => num.parse::<u32>(),
        }
        .map_err(|_| XmlError::Entity(name.to_owned()))?;
        return char::from_u32(code).ok_or_else(|| XmlError::Entity(name.to_owned()));
    }
    match name {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        other => Err(XmlError::Entity(other.to_owned())),
    }
}

/// Parse a body as an XML fragment (§7.2): any number of top-level elements,
/// an optional declaration, comments and processing instructions ignored.
/// A UTF-8 byte-order mark is skipped.
pub fn parse_fragment(body: &[u8], limits: XmlLimits) -> Result<Vec<Element>, XmlError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut top = Vec::new();
    let mut nodes = 0usize;
    loop {
        let event = reader.read_event().map_err(malformed)?;
        if matches!(event, Event::Start(_) | Event::Empty(_) | Event::Text(_) | Event::CData(_)) {
            nodes += 1;
            if nodes > limits.max_nodes {
                return Err(XmlError::TooManyNodes(limits.max_nodes));
            }
        }
        match event {
            Event::Start(start) => {
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep(limits.max_depth));
                }
                stack.push(element(&start, &reader, &limits)?);
            }
            Event::Empty(start) => {
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep(limits.max_depth));
                }
                let e = element(&start, &reader, &limits)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(e),
                    None => top.push(e),
                }
            }
            Event::End(_) => {
                let done = stack.pop().ok_or_else(|| malformed("unexpected end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => top.push(done),
                }
            }
            Event::Text(t) => {
                let t = t.decode().map_err(malformed)?;
                push_text(&mut stack, &t)?;
            }
            Event::CData(t) => {
                let t = t.decode().map_err(malformed)?;
                push_text(&mut stack, &t)?;
            }
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(malformed)?;
                let c = resolve_reference(&name)?;
                push_text(&mut stack, c.encode_utf8(&mut [0u8; 4]))?;
            }
            Event::DocType(_) => return Err(XmlError::Dtd),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError::Malformed(format!("element {} is not closed", open.name)));
    }
    Ok(top)
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(e) => {
            e.text.push_str(text);
            Ok(())
        }
        None if text.trim().is_empty() => Ok(()),
        None => Err(XmlError::Malformed("text outside any element".into())),
    }
}

/// Escape for attribute values and text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

const SPECIAL: [char; 8] = ['&', '<', '>', '"', '\'', '\n', '\r', '\t'];

/// [`escape`] appended to `out` (the writer's path: no allocation per value).
pub fn escape_into(out: &mut String, text: &str) {
    if !text.contains(SPECIAL) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Kept as references so a reader's whitespace normalisation
            // cannot change them on the way back in.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

/// A minimal indenting writer: four spaces, one element per line (§5.1).
#[derive(Default)]
pub struct Writer {
    out: String,
    depth: usize,
}

impl Writer {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
    }

    fn open_tag(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
    }

    pub fn start(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.open_tag(name, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    pub fn end(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str(&format!("</{name}>\n"));
    }

    pub fn empty(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.open_tag(name, attrs);
        self.out.push_str(" />\n");
    }

    pub fn text_element(&mut self, name: &str, attrs: &[(&str, String)], text: &str) {
        self.open_tag(name, attrs);
        self.out.push('>');
        escape_into(&mut self.out, text);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: XmlLimits = XmlLimits {
        max_depth: 8,
        max_nodes: 100,
        max_attributes_per_element: 16,
    };

    fn many_attributes(n: usize) -> String {
        let mut s = String::from("<Asset");
        for i in 0..n {
            s.push_str(&format!(" a{i}=\"{i}\""));
        }
        s.push_str(">x</Asset>");
        s
    }

    /// 150,000 distinct attributes under a cap that admits them: read in
    /// linear time (quick-xml's quadratic duplicate check took minutes here),
    /// all kept in order.
    #[test]
    fn many_attributes_read_linearly() {
        let limits = XmlLimits {
            max_attributes_per_element: 200_000,
            ..LIMITS
        };
        let els = parse_fragment(many_attributes(150_000).as_bytes(), limits).expect("parse");
        assert_eq!(els[0].attrs.len(), 150_000);
        assert_eq!(els[0].attrs[149_999], ("a149999".to_string(), "149999".to_string()));
        assert_eq!(els[0].text, "x");
    }

    /// Over the cap: refused at the first attribute too many, whatever follows.
    #[test]
    fn attributes_over_the_cap_are_refused() {
        assert_eq!(
            parse_fragment(many_attributes(17).as_bytes(), LIMITS),
            Err(XmlError::TooManyAttributes("Asset".into(), 16))
        );
        assert!(parse_fragment(many_attributes(16).as_bytes(), LIMITS).is_ok());
        let huge = many_attributes(120_000);
        assert_eq!(
            parse_fragment(huge.as_bytes(), LIMITS).map_err(|e| e.to_string()),
            Err("element Asset has more than 16 attributes".to_string())
        );
    }

    #[test]
    fn duplicate_attributes_are_refused() {
        assert_eq!(
            parse_fragment(b"<a x=\"1\" y=\"2\" x=\"3\"/>", LIMITS),
            Err(XmlError::DuplicateAttribute("a".into(), "x".into()))
        );
        // Names are case-sensitive (§3.3): these are two attributes.
        assert!(parse_fragment(b"<a x=\"1\" X=\"2\"/>", LIMITS).is_ok());
    }

    #[test]
    fn fragments_entities_and_caps() {
        let els = parse_fragment(b"\xEF\xBB\xBF<?xml version=\"1.0\"?><!-- c --><A x=\"1 &amp; 2\">t&lt;&#65;<B/></A><C/>", LIMITS)
            .expect("parse");
        assert_eq!(els.len(), 2);
        assert_eq!(els[0].attr("x"), Some("1 & 2"));
        assert_eq!(els[0].text, "t<A");
        assert_eq!(els[0].children[0].name, "B");
        let bomb = b"<!DOCTYPE l [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;\">]><l>&b;</l>";
        assert_eq!(parse_fragment(bomb, LIMITS), Err(XmlError::Dtd));
        assert_eq!(parse_fragment(b"<l>&b;</l>", LIMITS), Err(XmlError::Entity("b".into())));
        assert!(matches!(parse_fragment(b"<l x=\"&b;\"/>", LIMITS), Err(XmlError::Entity(_))));
        assert!(matches!(parse_fragment(b"<a><b></a>", LIMITS), Err(XmlError::Malformed(_))));
        assert!(matches!(parse_fragment(b"<a>", LIMITS), Err(XmlError::Malformed(_))));
        let deep = "<a>".repeat(9) + &"</a>".repeat(9);
        assert_eq!(parse_fragment(deep.as_bytes(), LIMITS), Err(XmlError::TooDeep(8)));
        let wide = "<a/>".repeat(101);
        assert_eq!(parse_fragment(wide.as_bytes(), LIMITS), Err(XmlError::TooManyNodes(100)));
        assert_eq!(parse_fragment(b"  ", LIMITS), Ok(vec![]));
        let tricky = "a\"b<c>&'\n\r\td";
        let written = format!("<x a=\"{}\">{}</x>", escape(tricky), escape(tricky));
        let back = parse_fragment(written.as_bytes(), LIMITS).expect("parse");
        assert_eq!(back[0].attr("a"), Some(tricky));
        assert_eq!(back[0].text, tricky);
    }
}
