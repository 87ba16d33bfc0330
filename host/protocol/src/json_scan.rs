//! One checking scan over a JSON object's text, so that a reply built
//! elsewhere as JSON (an extension's) can be passed through without being
//! decoded into a value tree and written again.
//!
//! The scan accepts only a subset of what [`crate::json::decode`] accepts,
//! and only text whose meaning the tree path would keep: when it is not sure
//! (a number with an exponent or too many digits, a surrogate escape, an
//! escaped member name at the top level, nesting or member counts at the
//! caps, anything malformed) it answers `None` and the caller takes the tree
//! path, which then gives its own answer and its own error. So the scan never
//! accepts what the decoder refuses, and a reply passed through reads, in any
//! JSON reader, as the same members the tree path would have written.

use crate::limits::DecodeLimits;

/// The members of the JSON object `text` whose (unescaped) names `keep`
/// accepts, as member text joined by commas (`"A":1,"B":[2]`), in order,
/// duplicates included; content after the object is ignored, as the decoder
/// ignores it. `None` when the scan is not sure the decoder would read `text`
/// as an object with the same members.
pub fn checked_members(text: &str, limits: &DecodeLimits, keep: impl Fn(&str) -> bool) -> Option<String> {
    let bytes = text.as_bytes();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.len() > limits.max_body_bytes {
        return None;
    }
    let mut scan = Scan { b: bytes, i: 0, limits };
    scan.ws();
    if scan.peek()? != b'{' || limits.max_depth == 0 {
        return None;
    }
    scan.i += 1;
    let mut out = String::with_capacity(bytes.len());
    let mut count = 0usize;
    scan.ws();
    if scan.peek()? == b'}' {
        return Some(out);
    }
    loop {
        count += 1;
        if count > limits.max_members_per_object {
            return None;
        }
        let start = scan.i;
        if scan.peek()? != b'"' || scan.string()? {
            // Not a string, or an escaped name (`"\u005fSuccess"`): the tree decides.
            return None;
        }
        let name = text_of(bytes, start + 1, scan.i - 1)?;
        scan.ws();
        scan.expect(b':')?;
        scan.ws();
        scan.value(2)?;
        if keep(name) {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(text_of(bytes, start, scan.i)?);
        }
        scan.ws();
        match scan.next()? {
            b',' => scan.ws(),
            b'}' => return Some(out),
            _ => return None,
        }
    }
}

/// `bytes[from..to]` as text (always on character boundaries here: the
/// bounds sit next to ASCII punctuation).
fn text_of(bytes: &[u8], from: usize, to: usize) -> Option<&str> {
    std::str::from_utf8(bytes.get(from..to)?).ok()
}

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
    limits: &'a DecodeLimits,
}

impl Scan<'_> {
    // The byte loops index the slice directly (a primitive operation even
    // unoptimised, as the workspace's own crates are in test builds).

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        if self.i < self.b.len() {
            Some(self.b[self.i])
        } else {
            None
        }
    }

    #[inline(always)]
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    #[inline(always)]
    fn expect(&mut self, c: u8) -> Option<()> {
        if self.next()? == c {
            Some(())
        } else {
            None
        }
    }

    /// JSON whitespace only (what the decoder skips).
    #[inline(always)]
    fn ws(&mut self) {
        let b = self.b;
        let mut i = self.i;
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        self.i = i;
    }

    /// One value; a container here is at nesting `level` (the top object is 1).
    fn value(&mut self, level: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.object(level),
            b'[' => self.array(level),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i.checked_add(word.len())?;
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// A string from its opening quote; `Some(true)` when it held an escape.
    fn string(&mut self) -> Option<bool> {
        self.expect(b'"')?;
        let mut escaped = false;
        loop {
            // Plain characters in one tight loop.
            let b = self.b;
            let mut i = self.i;
            while i < b.len() && b[i] != b'"' && b[i] != b'\\' && b[i] >= 0x20 {
                i += 1;
            }
            self.i = i;
            match self.next()? {
                b'"' => return Some(escaped),
                b'\\' => {
                    escaped = true;
                    match self.next()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let end = self.i.checked_add(4)?;
                            let hex = std::str::from_utf8(self.b.get(self.i..end)?).ok()?;
                            let unit = u16::from_str_radix(hex, 16).ok()?;
                            // Surrogates (pairs or lone) are left to the decoder.
                            if (0xD800..=0xDFFF).contains(&unit) || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                                return None;
                            }
                            self.i = end;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => {}
            }
        }
    }

    /// An integer of at most 18 digits (always an i64; not `-0`) or a
    /// decimal fraction without exponent; anything else is left to the decoder.
    fn number(&mut self) -> Option<()> {
        let negative = self.peek()? == b'-';
        if negative {
            self.i += 1;
        }
        let digits = self.digits();
        match digits {
            0 => return None,
            // `-0`: the decoder reads a float (-0.0), a reader of the text may read 0.
            1 if negative && self.b.get(self.i - 1) == Some(&b'0') && self.peek() != Some(b'.') => return None,
            1 => {}
            _ if self.b.get(self.i - digits) == Some(&b'0') => return None,
            19.. => return None,
            _ => {}
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        match self.peek() {
            Some(b'e' | b'E') => None,
            _ => Some(()),
        }
    }

    #[inline(always)]
    fn digits(&mut self) -> usize {
        let b = self.b;
        let start = self.i;
        let mut i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        self.i = i;
        i - start
    }

    fn array(&mut self, level: usize) -> Option<()> {
        if level > self.limits.max_depth {
            return None;
        }
        self.expect(b'[')?;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.value(level + 1)?;
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    fn object(&mut self, level: usize) -> Option<()> {
        if level > self.limits.max_depth {
            return None;
        }
        self.expect(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        let mut count = 0usize;
        loop {
            count += 1;
            if count > self.limits.max_members_per_object || self.peek()? != b'"' {
                return None;
            }
            self.string()?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            self.value(level + 1)?;
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json;
    use crate::value::Value;

    fn keep_body(name: &str) -> bool {
        !(name.starts_with('_') || name.starts_with('$'))
    }

    /// The tree path: decode, drop the host's members, write again.
    fn tree(text: &str, limits: &DecodeLimits) -> Option<Value> {
        match json::decode(text.as_bytes(), limits) {
            Ok(Some(Value::Object(members))) => Some(Value::Object(members.into_iter().filter(|(k, _)| keep_body(k)).collect())),
            _ => None,
        }
    }

    /// The pass-through, read back as a tree (what a client reads).
    fn passed(text: &str, limits: &DecodeLimits) -> Option<Value> {
        let members = checked_members(text, limits, keep_body)?;
        let wrapped = format!("{{{members}}}");
        match json::decode(wrapped.as_bytes(), limits) {
            Ok(Some(v)) => Some(v),
            other => panic!("pass-through of {text} is not JSON: {wrapped} ({other:?})"),
        }
    }

    /// Floats compared by value (the tree path's float and a reader's parse of
    /// the guest's digits are the same number).
    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Float(x), Value::Float(y)) => x == y || (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()),
            (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
            (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().zip(y).all(|((ka, a), (kb, b))| ka == kb && same(a, b)),
            _ => a == b,
        }
    }

    const PASSED: &[&str] = &[
        r#"{}"#,
        r#"  {"Entries":[]}  "#,
        r#"{"Name":"caf\u00e9 \u4e2d\u6587","Raw":"é中文🙂","Esc":"a\"b\\c\/d\b\f\n\r\t"}"#,
        r#"{"Top":[{"Name":"a","Score":10,"Nested":{"Deep":[1,[2,[3,{"x":null}]]]}},{"Name":"b","Score":-7}],"Count":2}"#,
        r#"{"i":0,"n":-1,"big":999999999999999999,"neg":-999999999999999999,"f":1.5,"g":-0.25,"h":0.1000000000000000055511151231257827,"z":0.0}"#,
        r#"{ "Spaced" : [ 1 , 2 ] , "t" : true , "f" : false , "n" : null }"#,
        r#"{"a":1,"a":2,"b":{"a":1,"a":3}}"#,
        r#"{"_Success":0,"$type":"X","_Message":"smuggled","Keep":1,"Nested":{"_Success":0,"$type":"Y"}}"#,
        r#"{"Only":"x"} trailing text the decoder ignores"#,
        "\u{feff}{\"Bom\":1}",
    ];

    #[test]
    fn pass_through_reads_as_the_tree_path_writes() {
        let limits = DecodeLimits::default();
        for text in PASSED {
            let want = tree(text, &limits).unwrap_or_else(|| panic!("tree path refused {text}"));
            let got = passed(text, &limits).unwrap_or_else(|| panic!("scan refused {text}"));
            assert!(same(&want, &got), "{text}: tree {want:?}, passed {got:?}");
            // And the tree's own text reads the same.
            let written = json::to_string(&want);
            let reread = json::decode(written.as_bytes(), &limits).ok().flatten();
            assert!(reread.is_some_and(|r| same(&r, &got)), "{text}");
        }
    }

    #[test]
    fn host_members_are_dropped_at_the_top_only() {
        let limits = DecodeLimits::default();
        let got = checked_members(PASSED[7], &limits, keep_body);
        assert_eq!(got.as_deref(), Some(r#""Keep":1,"Nested":{"_Success":0,"$type":"Y"}"#));
        assert_eq!(checked_members(r#"{"_Success":0}"#, &limits, keep_body).as_deref(), Some(""));
    }

    /// What the scan leaves to the tree path: refused there, or read there
    /// with a meaning the guest's text might not keep.
    #[test]
    fn unsure_text_goes_to_the_tree() {
        let limits = DecodeLimits::default();
        for text in [
            "",
            "null",
            "[]",
            r#""text""#,
            r#"{"a":1"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{'a':1}"#,
            r#"{"a":01}"#,
            r#"{"a":+1}"#,
            r#"{"a":.5}"#,
            r#"{"a":1.}"#,
            r#"{"a":1e400}"#,
            r#"{"a":1E2}"#,
            r#"{"a":9223372036854775808}"#,
            r#"{"a":1234567890123456789}"#,
            r#"{"a":NaN}"#,
            r#"{"a":-0}"#,
            r#"{"a":tru}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"\ud83d\ude00"}"#,
            r#"{"a":"\udc00"}"#,
            r#"{"\u005fSuccess":0}"#,
            r#"{"\u0024type":"X"}"#,
            "\x0c{}",
        ] {
            assert_eq!(checked_members(text, &limits, keep_body), None, "{text}");
        }
        // The escaped host member really is one once decoded: the tree drops it.
        assert_eq!(
            tree(r#"{"\u005fSuccess":0,"A":1}"#, &limits),
            Some(Value::Object(vec![("A".into(), Value::Int(1))]))
        );
    }

    /// Random text from JSON's own pieces: whatever the scan passes, the
    /// decoder reads as an object with the same members.
    #[test]
    fn never_passes_what_the_tree_refuses_or_reads_otherwise() {
        const PIECES: &[&str] = &[
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\"a\"",
            "\"_S\"",
            "1",
            "-",
            "0",
            ".",
            "5",
            "e",
            "true",
            "nul",
            "null",
            " ",
            "\\",
            "\\u",
            "00e9",
            "d800",
            "\\n",
            "x",
            "\t",
            "é",
            "1234567890",
            "\u{7f}",
        ];
        let limits = DecodeLimits {
            max_depth: 4,
            max_members_per_object: 3,
            ..DecodeLimits::default()
        };
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut passed_count = 0;
        for _ in 0..200_000 {
            let mut text = String::from("{");
            let n = (seed >> 60) as usize + 1;
            for _ in 0..n {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                text.push_str(PIECES[(seed >> 33) as usize % PIECES.len()]);
            }
            if let Some(members) = checked_members(&text, &limits, keep_body) {
                passed_count += 1;
                let want = tree(&text, &limits).unwrap_or_else(|| panic!("scan passed what the tree refuses: {text}"));
                let got = json::decode(format!("{{{members}}}").as_bytes(), &limits).ok().flatten();
                assert!(got.is_some_and(|g| same(&g, &want)), "{text}");
            }
        }
        assert!(passed_count > 100, "only {passed_count} passed: the generator is too weak");
    }

    #[test]
    fn caps_go_to_the_tree() {
        let limits = DecodeLimits {
            max_body_bytes: 64,
            max_depth: 3,
            max_members_per_object: 2,
        };
        assert!(checked_members(r#"{"a":[[1]]}"#, &limits, keep_body).is_some());
        assert_eq!(checked_members(r#"{"a":[[[1]]]}"#, &limits, keep_body), None);
        assert!(tree(r#"{"a":[[[1]]]}"#, &limits).is_none());
        assert!(checked_members(r#"{"a":1,"b":2}"#, &limits, keep_body).is_some());
        assert_eq!(checked_members(r#"{"a":1,"b":2,"c":3}"#, &limits, keep_body), None);
        assert_eq!(checked_members(r#"{"a":{"x":1,"y":2,"z":3}}"#, &limits, keep_body), None);
        assert!(tree(r#"{"a":{"x":1,"y":2,"z":3}}"#, &limits).is_none());
        let long = format!(r#"{{"a":"{}"}}"#, "x".repeat(64));
        assert_eq!(checked_members(&long, &limits, keep_body), None);
    }
}
