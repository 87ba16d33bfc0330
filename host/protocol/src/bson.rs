//! BSON in and out: a small, total reader and writer for the subset of BSON the
//! protocol uses (one root document; strings, numbers, booleans, null, arrays,
//! embedded documents, binary).
//!
//! The reader checks every length against the bytes actually present, so a
//! truncated or lying document is an error, never a panic or a huge allocation.

use crate::error::DecodeError;
use crate::limits::DecodeLimits;
use crate::value::Value;

/// Parse one BSON document. `Ok(None)` for an empty body.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Option<Value>, DecodeError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let mut reader = Reader {
        bytes,
        pos: 0,
        max_members: limits.max_members_per_object,
    };
    let value = reader
        .document(false, limits.max_depth)
        .map_err(|e| DecodeError::Fatal(format!("invalid BSON: {e}")))?;
    // Content after the root document is ignored, as for JSON.
    Ok(Some(value))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    max_members: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| format!("unexpected end of data at byte {}", self.pos))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn i64(&mut self) -> Result<i64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_bits(self.i64()? as u64))
    }

    fn cstring(&mut self) -> Result<String, String> {
        let rest = &self.bytes[self.pos..];
        let len = rest.iter().position(|b| *b == 0).ok_or("unterminated key or C string")?;
        let s = std::str::from_utf8(&rest[..len])
            .map_err(|_| "key is not valid UTF-8".to_string())?
            .to_owned();
        self.pos += len + 1;
        Ok(s)
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.i32()?;
        if len < 1 {
            return Err(format!("bad string length {len}"));
        }
        let raw = self.take(len as usize)?;
        let (body, nul) = raw.split_at(raw.len() - 1);
        if nul != [0] {
            return Err("string is not NUL-terminated".into());
        }
        String::from_utf8(body.to_vec()).map_err(|_| "string is not valid UTF-8".into())
    }

    fn document(&mut self, as_array: bool, depth_left: usize) -> Result<Value, String> {
        let start = self.pos;
        let len = self.i32()?;
        if len < 5 {
            return Err(format!("bad document length {len}"));
        }
        let end = start
            .checked_add(len as usize)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| format!("document length {len} exceeds the data"))?;
        let mut members = Vec::new();
        loop {
            if self.pos >= end {
                return Err("document is not terminated".into());
            }
            let tag = self.u8()?;
            if tag == 0 {
                break;
            }
            // Arrays are documents in BSON; the cap is on objects, as in JSON.
            if !as_array && members.len() >= self.max_members {
                return Err(crate::limits::too_many_members(self.max_members));
            }
            let key = self.cstring()?;
            let value = self.element(tag, depth_left)?;
            members.push((key, value));
        }
        if self.pos != end {
            return Err("document length does not match its content".into());
        }
        Ok(if as_array {
            Value::Array(members.into_iter().map(|(_, v)| v).collect())
        } else {
            Value::Object(members)
        })
    }

    fn element(&mut self, tag: u8, depth_left: usize) -> Result<Value, String> {
        let nested = || {
            depth_left
                .checked_sub(1)
                .ok_or_else(|| "nesting exceeds the depth limit".to_string())
        };
        Ok(match tag {
            0x01 => Value::Float(self.f64()?),
            0x02 | 0x0D | 0x0E => Value::String(self.string()?),
            0x03 => self.document(false, nested()?)?,
            0x04 => self.document(true, nested()?)?,
            0x05 => {
                let len = self.i32()?;
                if len < 0 {
                    return Err(format!("bad binary length {len}"));
                }
                let _subtype = self.u8()?;
                Value::Binary(self.take(len as usize)?.to_vec())
            }
            0x06 | 0x0A | 0x7F | 0xFF => Value::Null,
            0x07 => Value::String(hex_lower(self.take(12)?)),
            0x08 => match self.u8()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(format!("bad boolean byte {b}")),
            },
            0x09 | 0x11 | 0x12 => Value::Int(self.i64()?),
            0x0B => {
                let pattern = self.cstring()?;
                let _options = self.cstring()?;
                Value::String(pattern)
            }
            0x10 => Value::Int(i64::from(self.i32()?)),
            other => return Err(format!("unsupported BSON element type 0x{other:02x}")),
        })
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encode an object value as one BSON document. Non-object values are wrapped as
/// `{"value": v}` since BSON has no bare scalars at the root.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    match value {
        Value::Object(members) => write_document(&mut out, members.iter().map(|(k, v)| (k.as_str(), v))),
        other => write_document(&mut out, std::iter::once(("value", other))),
    }
    out
}

/// Write a document from (key, value) pairs; used for objects and arrays.
pub fn write_document<'a>(out: &mut Vec<u8>, members: impl Iterator<Item = (&'a str, &'a Value)>) {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    for (key, value) in members {
        write_element(out, key, value);
    }
    out.push(0);
    let len = (out.len() - start) as i32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

fn write_key(out: &mut Vec<u8>, key: &str) {
    // Keys are C strings; an interior NUL would end the key early, so drop it.
    out.extend(key.bytes().filter(|b| *b != 0));
    out.push(0);
}

fn write_element(out: &mut Vec<u8>, key: &str, value: &Value) {
    match value {
        Value::Null => {
            out.push(0x0A);
            write_key(out, key);
        }
        Value::Bool(b) => {
            out.push(0x08);
            write_key(out, key);
            out.push(u8::from(*b));
        }
        Value::Int(i) => match i32::try_from(*i) {
            Ok(small) => {
                out.push(0x10);
                write_key(out, key);
                out.extend_from_slice(&small.to_le_bytes());
            }
            Err(_) => {
                out.push(0x12);
                write_key(out, key);
                out.extend_from_slice(&i.to_le_bytes());
            }
        },
        Value::Float(f) => {
            out.push(0x01);
            write_key(out, key);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::String(s) => {
            out.push(0x02);
            write_key(out, key);
            out.extend_from_slice(&((s.len() + 1) as i32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
            out.push(0);
        }
        Value::Binary(b) => {
            out.push(0x05);
            write_key(out, key);
            out.extend_from_slice(&(b.len() as i32).to_le_bytes());
            out.push(0x00);
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            out.push(0x04);
            write_key(out, key);
            let keys: Vec<String> = (0..items.len()).map(|i| i.to_string()).collect();
            write_document(out, keys.iter().map(String::as_str).zip(items.iter()));
        }
        Value::Object(members) => {
            out.push(0x03);
            write_key(out, key);
            write_document(out, members.iter().map(|(k, v)| (k.as_str(), v)));
        }
    }
}

/// True when the bytes look like one BSON document: the little-endian length
/// prefix equals the data length and the last byte is the terminator.
pub fn looks_like_document(bytes: &[u8]) -> bool {
    bytes.len() >= 5 && i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize == bytes.len() && bytes[bytes.len() - 1] == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex")).collect()
    }

    // The example request of dispatcher-core.md §3.8.
    const INFO_REQUEST: &str = "58 00 00 00 02 24 74 79 70 65 00 20 00 00 00 44 69 73 70 61 74 63 68 65 72 2e 4d 65 73 73 61 67 65 73 2e 49 6e 66 6f 52 65 71 75 65 73 74 00 08 5f 61 73 79 6e 63 72 65 71 75 65 73 74 00 00 02 5f 64 6f 6d 61 69 6e 00 0b 00 00 00 44 69 73 70 61 74 63 68 65 72 00 00";
    // The example failure reply of the same section.
    const FAILURE_REPLY: &str = "46 00 00 00 02 24 74 79 70 65 00 0d 00 00 00 52 65 73 70 6f 6e 73 65 42 61 73 65 00 10 5f 53 75 63 63 65 73 73 00 00 00 00 00 02 5f 4d 65 73 73 61 67 65 00 0d 00 00 00 75 6e 6b 6e 6f 77 6e 20 74 79 70 65 00 00";

    #[test]
    fn decodes_the_spec_example_request() {
        let v = decode(&hex(INFO_REQUEST), &DecodeLimits::default()).expect("ok").expect("some");
        assert_eq!(
            v,
            Value::Object(vec![
                ("$type".into(), "Dispatcher.Messages.InfoRequest".into()),
                ("_asyncrequest".into(), Value::Bool(false)),
                ("_domain".into(), "Dispatcher".into()),
            ])
        );
    }

    #[test]
    fn encodes_the_spec_example_reply_byte_for_byte() {
        let v = Value::Object(vec![
            ("$type".into(), "ResponseBase".into()),
            ("_Success".into(), Value::Int(0)),
            ("_Message".into(), "unknown type".into()),
        ]);
        assert_eq!(encode(&v), hex(FAILURE_REPLY));
    }

    #[test]
    fn truncated_and_lying_documents_are_errors() {
        let full = hex(INFO_REQUEST);
        for cut in 1..full.len() {
            assert!(decode(&full[..cut], &DecodeLimits::default()).is_err(), "cut {cut}");
        }
        let mut lying = full.clone();
        lying[0] = 0xff;
        lying[3] = 0x7f;
        assert!(decode(&lying, &DecodeLimits::default()).is_err());
    }

    #[test]
    fn round_trips_every_type_we_write() {
        let v = Value::Object(vec![
            ("a".into(), Value::Array(vec![Value::Int(1), Value::Int(1 << 40), Value::Float(1.5)])),
            ("b".into(), Value::Binary(vec![0, 1, 2])),
            ("c".into(), Value::Object(vec![("n".into(), Value::Null), ("t".into(), Value::Bool(true))])),
        ]);
        let bytes = encode(&v);
        assert!(looks_like_document(&bytes));
        assert_eq!(decode(&bytes, &DecodeLimits::default()), Ok(Some(v)));
    }

    /// A document with one element of `tag` named "k" and raw `payload`.
    fn one_element(tag: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = vec![tag, b'k', 0];
        body.extend_from_slice(payload);
        body.push(0);
        let mut out = ((body.len() + 4) as i32).to_le_bytes().to_vec();
        out.extend(body);
        out
    }

    #[test]
    fn edge_cases_are_errors_not_panics() {
        let limits = DecodeLimits::default();
        // Decimal128, DBPointer, code with scope, and an undefined tag.
        for tag in [0x13u8, 0x0C, 0x0F, 0x42] {
            assert!(decode(&one_element(tag, &[0; 16]), &limits).is_err(), "tag {tag:#x}");
        }
        // A boolean byte other than 0 or 1.
        assert!(decode(&one_element(0x08, &[2]), &limits).is_err());
        // Negative and oversized string lengths.
        assert!(decode(&one_element(0x02, &(-1i32).to_le_bytes()), &limits).is_err());
        assert!(decode(&one_element(0x02, &i32::MAX.to_le_bytes()), &limits).is_err());
        // A string without its NUL, and one that is not UTF-8.
        assert!(decode(&one_element(0x02, &[2, 0, 0, 0, b'a', b'b']), &limits).is_err());
        assert!(decode(&one_element(0x02, &[2, 0, 0, 0, 0xff, 0]), &limits).is_err());
        // Negative binary length.
        assert!(decode(&one_element(0x05, &[0xff, 0xff, 0xff, 0xff, 0]), &limits).is_err());
        // A key that never ends.
        assert!(decode(&[8, 0, 0, 0, 0x10, b'k', b'e', b'y'], &limits).is_err());
        // Document lengths below the minimum, or negative.
        assert!(decode(&[4, 0, 0, 0], &limits).is_err());
        assert!(decode(&[0xfb, 0xff, 0xff, 0xff, 0], &limits).is_err());
        // An element that runs past its document's end.
        let mut short = one_element(0x10, &[1, 0, 0, 0]);
        short[0] -= 2;
        assert!(decode(&short, &limits).is_err());
    }

    #[test]
    fn nesting_is_capped() {
        let limits = DecodeLimits {
            max_depth: 8,
            ..DecodeLimits::default()
        };
        let nested = |depth: usize| {
            let mut doc = vec![5, 0, 0, 0, 0];
            for _ in 0..depth {
                doc = one_element(0x03, &doc);
            }
            doc
        };
        assert!(decode(&nested(8), &limits).is_ok());
        assert!(decode(&nested(9), &limits).is_err());
        // Far beyond the cap: an error, not a stack overflow.
        assert!(decode(&nested(2_000), &DecodeLimits::default()).is_err());
    }

    #[test]
    fn empty_document_and_trailing_bytes() {
        let limits = DecodeLimits::default();
        assert_eq!(decode(&[5, 0, 0, 0, 0], &limits), Ok(Some(Value::Object(Vec::new()))));
        let mut doc = one_element(0x10, &[7, 0, 0, 0]);
        doc.extend_from_slice(b"trailing");
        assert_eq!(decode(&doc, &limits), Ok(Some(Value::Object(vec![("k".into(), Value::Int(7))]))));
        assert!(!looks_like_document(&doc));
        // Deprecated but harmless types read as their closest value.
        assert_eq!(decode(&one_element(0x06, &[]), &limits), Ok(Some(Value::Object(vec![("k".into(), Value::Null)]))));
    }

    #[test]
    fn interoperates_with_the_bson_crate() {
        let doc = bson::doc! { "$type": "X", "i": 5_i32, "l": 1_i64 << 40, "d": 2.5, "s": "é", "arr": [1, "two"] };
        let mut bytes = Vec::new();
        doc.to_writer(&mut bytes).expect("write");
        let v = decode(&bytes, &DecodeLimits::default()).expect("ok").expect("some");
        let back = bson::Document::from_reader(&mut encode(&v).as_slice()).expect("read back");
        assert_eq!(back, doc);
    }
}
