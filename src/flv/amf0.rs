//! AMF0, the encoding of FLV script data (`onMetaData`) and of RTMP data
//! messages: [`AmfValue`], [`encode_amf0`] and [`decode_amf0`].
//!
//! # One AMF0 in the crate
//!
//! This is the crate's AMF0 codec and [`AmfValue`] its one representation
//! of AMF0 data. `rml_amf0` is no direct dependency any more: it is reached
//! only as `rml_rtmp::rml_amf0`, because `rml_rtmp`'s public API carries its
//! `Amf0Value` (the command objects and values of `ClientSessionEvent` and
//! `ServerSessionEvent`), so code matching those events has to name that
//! type (`rtmp::client` does, to read a server's error answer). At that
//! boundary `AmfValue::from(&amf0_value)` turns it into this representation.
//!
//! `rml_amf0` 0.3 cannot replace this codec for FLV
//! script data, whose bytes come from files and servers we do not control:
//!
//! - it has no Date (0x0B) or long string (0x0C): a whole `onMetaData`
//!   holding either (a `metadatadate` Date, say) fails to decode;
//! - an ECMA array without its `00 00 09` end, as some muxers write it, is
//!   an error;
//! - objects become a `HashMap`, so property order (which `onMetaData`
//!   writers keep) is lost and written order is random;
//! - it has no nesting limit: 100 000 nested objects (400 kB) overflow the
//!   stack and abort the process, where this reader returns
//!   [`FlvError::InvalidAmf`] past 32 levels;
//! - a string cut short by the end of the data is padded with zero bytes
//!   and accepted (one `read` call, no length check), so truncation goes
//!   unnoticed;
//! - it cannot write an ECMA array (the type `onMetaData` uses) or a string
//!   over 65 535 bytes.

use super::FlvError;

/// How deep AMF0 objects may nest before the reader gives up.
const MAX_AMF_DEPTH: usize = 32;

/// An AMF0 value, as found in FLV script data.
#[derive(Debug, Clone, PartialEq)]
pub enum AmfValue {
    /// Number (marker 0x00), an IEEE double.
    Number(f64),
    /// Boolean (0x01).
    Boolean(bool),
    /// String (0x02), or long string (0x0C) when read.
    String(String),
    /// Anonymous object (0x03): ordered properties.
    Object(Vec<(String, AmfValue)>),
    /// Null (0x05).
    Null,
    /// Undefined (0x06).
    Undefined,
    /// ECMA array (0x08): ordered properties.
    EcmaArray(Vec<(String, AmfValue)>),
    /// Strict array (0x0A).
    StrictArray(Vec<AmfValue>),
    /// Date (0x0B): milliseconds since the epoch and a time zone (unused).
    Date {
        /// Milliseconds since 1970-01-01 UTC.
        millis: f64,
        /// Time zone offset in minutes (reserved, normally 0).
        timezone: i16,
    },
}

impl AmfValue {
    /// The number, if this is one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The properties, if this is an object or ECMA array.
    pub fn as_properties(&self) -> Option<&[(String, AmfValue)]> {
        match self {
            Self::Object(p) | Self::EcmaArray(p) => Some(p),
            _ => None,
        }
    }
}

impl From<&rml_rtmp::rml_amf0::Amf0Value> for AmfValue {
    /// Converts `rml_rtmp`'s AMF0 value at the boundary of its API. Its
    /// objects are hash maps: their properties come out sorted by name.
    fn from(value: &rml_rtmp::rml_amf0::Amf0Value) -> Self {
        use rml_rtmp::rml_amf0::Amf0Value;
        match value {
            Amf0Value::Number(n) => Self::Number(*n),
            Amf0Value::Boolean(b) => Self::Boolean(*b),
            Amf0Value::Utf8String(s) => Self::String(s.clone()),
            Amf0Value::Object(properties) => {
                let mut props: Vec<(String, AmfValue)> = properties
                    .iter()
                    .map(|(key, value)| (key.clone(), Self::from(value)))
                    .collect();
                props.sort_by(|a, b| a.0.cmp(&b.0));
                Self::Object(props)
            }
            Amf0Value::StrictArray(items) => {
                Self::StrictArray(items.iter().map(Self::from).collect())
            }
            Amf0Value::Null => Self::Null,
            Amf0Value::Undefined => Self::Undefined,
        }
    }
}

/// The longest prefix of `s` that fits `max` bytes on a char boundary.
fn clip_str(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Writes a property name (16-bit length, no marker); names longer than
/// 65535 bytes are cut.
fn put_amf_key(out: &mut Vec<u8>, key: &str) {
    let key = clip_str(key, u16::MAX as usize);
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
}

fn put_amf_properties(out: &mut Vec<u8>, props: &[(String, AmfValue)]) {
    for (key, value) in props {
        put_amf_key(out, key);
        encode_amf0(value, out);
    }
    out.extend_from_slice(&[0, 0, 9]);
}

/// Appends the AMF0 encoding of `value` to `out`. Strings over 65535 bytes
/// are written as long strings; property names that long are cut.
pub fn encode_amf0(value: &AmfValue, out: &mut Vec<u8>) {
    match value {
        AmfValue::Number(n) => {
            out.push(0x00);
            out.extend_from_slice(&n.to_be_bytes());
        }
        AmfValue::Boolean(b) => out.extend_from_slice(&[0x01, u8::from(*b)]),
        AmfValue::String(s) => {
            if let Ok(len) = u16::try_from(s.len()) {
                out.push(0x02);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            } else {
                let s = clip_str(s, u32::MAX as usize);
                out.push(0x0C);
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        AmfValue::Object(props) => {
            out.push(0x03);
            put_amf_properties(out, props);
        }
        AmfValue::Null => out.push(0x05),
        AmfValue::Undefined => out.push(0x06),
        AmfValue::EcmaArray(props) => {
            out.push(0x08);
            let count = u32::try_from(props.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            put_amf_properties(out, props);
        }
        AmfValue::StrictArray(items) => {
            out.push(0x0A);
            let count = u32::try_from(items.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for item in items {
                encode_amf0(item, out);
            }
        }
        AmfValue::Date { millis, timezone } => {
            out.push(0x0B);
            out.extend_from_slice(&millis.to_be_bytes());
            out.extend_from_slice(&timezone.to_be_bytes());
        }
    }
}

/// A bounds-checked AMF0 decoder over a byte slice.
struct AmfReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> AmfReader<'a> {
    fn err(&self, reason: &'static str) -> FlvError {
        FlvError::InvalidAmf {
            offset: self.pos,
            reason,
        }
    }

    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], FlvError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| self.err("length overflows"))?;
        let bytes = self
            .data
            .get(self.pos..end)
            .ok_or_else(|| self.err("truncated"))?;
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FlvError> {
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| self.err("truncated"))
    }

    fn string(&mut self, len: usize) -> Result<String, FlvError> {
        let bytes = self.take(len)?;
        // Tolerate invalid UTF-8 from odd encoders rather than fail.
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    fn short_string(&mut self) -> Result<String, FlvError> {
        let len = u16::from_be_bytes(self.array()?);
        self.string(usize::from(len))
    }

    /// Properties up to the `00 00 09` end marker. An ECMA array may also
    /// end at the end of the data, as some muxers write it.
    fn properties(
        &mut self,
        depth: usize,
        allow_eof_end: bool,
    ) -> Result<Vec<(String, AmfValue)>, FlvError> {
        let mut props = Vec::new();
        loop {
            if allow_eof_end && self.remaining() == 0 {
                return Ok(props);
            }
            let key = self.short_string()?;
            if key.is_empty() && self.data.get(self.pos) == Some(&0x09) {
                self.pos += 1;
                return Ok(props);
            }
            let value = self.value(depth + 1)?;
            props.push((key, value));
        }
    }

    fn value(&mut self, depth: usize) -> Result<AmfValue, FlvError> {
        if depth > MAX_AMF_DEPTH {
            return Err(self.err("objects nested too deeply"));
        }
        let marker_at = self.pos;
        let [marker] = self.array()?;
        Ok(match marker {
            0x00 => AmfValue::Number(f64::from_be_bytes(self.array()?)),
            0x01 => {
                let [b] = self.array()?;
                AmfValue::Boolean(b != 0)
            }
            0x02 => AmfValue::String(self.short_string()?),
            0x03 => AmfValue::Object(self.properties(depth, false)?),
            0x05 => AmfValue::Null,
            0x06 => AmfValue::Undefined,
            0x08 => {
                let _count_hint = self.array::<4>()?;
                AmfValue::EcmaArray(self.properties(depth, true)?)
            }
            0x0A => {
                let count = u32::from_be_bytes(self.array()?) as usize;
                // Every value takes at least one byte.
                if count > self.remaining() {
                    return Err(self.err("strict array count exceeds the data"));
                }
                // Reserve for what a small array needs; a large one grows
                // as its values actually parse.
                let mut items = Vec::with_capacity(count.min(256));
                for _ in 0..count {
                    items.push(self.value(depth + 1)?);
                }
                AmfValue::StrictArray(items)
            }
            0x0B => {
                let millis = f64::from_be_bytes(self.array()?);
                let timezone = i16::from_be_bytes(self.array()?);
                AmfValue::Date { millis, timezone }
            }
            0x0C => {
                let len = u32::from_be_bytes(self.array()?) as usize;
                AmfValue::String(self.string(len)?)
            }
            other => {
                return Err(FlvError::UnsupportedAmfType {
                    offset: marker_at,
                    marker: other,
                })
            }
        })
    }
}

/// Decodes every AMF0 value in `data`, in order.
pub fn decode_amf0(data: &[u8]) -> Result<Vec<AmfValue>, FlvError> {
    let mut r = AmfReader { data, pos: 0 };
    let mut values = Vec::new();
    while r.remaining() > 0 {
        values.push(r.value(0)?);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv::{parse_audio_body, parse_metadata_body, parse_video_body};

    #[test]
    fn amf_all_types_round_trip() {
        let value = AmfValue::Object(vec![
            ("n".into(), AmfValue::Number(-1.5)),
            ("b".into(), AmfValue::Boolean(true)),
            ("s".into(), AmfValue::String("héllo".into())),
            ("long".into(), AmfValue::String("x".repeat(70_000))),
            ("null".into(), AmfValue::Null),
            ("u".into(), AmfValue::Undefined),
            (
                "arr".into(),
                AmfValue::StrictArray(vec![AmfValue::Number(1.0), AmfValue::Null]),
            ),
            (
                "date".into(),
                AmfValue::Date {
                    millis: 1.7e12,
                    timezone: 0,
                },
            ),
            (
                "ecma".into(),
                AmfValue::EcmaArray(vec![("k".into(), AmfValue::Boolean(false))]),
            ),
        ]);
        let mut out = Vec::new();
        encode_amf0(&value, &mut out);
        assert_eq!(decode_amf0(&out).unwrap(), vec![value]);
        // Every strict prefix fails cleanly.
        for cut in 0..out.len() {
            assert!(decode_amf0(&out[..cut]).is_err() || cut == 0, "cut {cut}");
        }
    }

    #[test]
    fn amf_malformed_input_errors() {
        assert!(matches!(
            decode_amf0(&[0x07, 0, 1]),
            Err(FlvError::UnsupportedAmfType { marker: 7, .. })
        ));
        assert!(matches!(
            decode_amf0(&[0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 5]),
            Err(FlvError::InvalidAmf { .. })
        ));
        assert!(decode_amf0(&[0x0C, 0xFF, 0xFF, 0xFF, 0xFF, b'a']).is_err());
        // Deep nesting is refused instead of overflowing the stack.
        let mut deep = Vec::new();
        for _ in 0..10_000 {
            deep.extend_from_slice(&[0x03, 0, 1, b'a']);
        }
        assert!(matches!(
            decode_amf0(&deep),
            Err(FlvError::InvalidAmf { .. })
        ));
        // An ECMA array without its end marker is accepted.
        let mut open = vec![0x08, 0, 0, 0, 1, 0, 1, b'w'];
        open.extend_from_slice(&[0x00]);
        open.extend_from_slice(&640f64.to_be_bytes());
        assert_eq!(
            decode_amf0(&open).unwrap(),
            vec![AmfValue::EcmaArray(vec![(
                "w".into(),
                AmfValue::Number(640.0)
            )])]
        );
        // Arbitrary bytes never panic.
        let mut seed = 12345u32;
        for _ in 0..2000 {
            let len = (seed % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8 % 16
                })
                .collect();
            let _ = decode_amf0(&bytes);
            let _ = parse_metadata_body(&bytes);
            let _ = parse_video_body(&bytes);
            let _ = parse_audio_body(&bytes);
        }
    }

    #[test]
    fn converts_from_rml_amf0_at_the_rtmp_boundary() {
        use rml_rtmp::rml_amf0::Amf0Value;
        let mut properties = std::collections::HashMap::new();
        properties.insert("level".to_string(), Amf0Value::Utf8String("error".into()));
        properties.insert("code".to_string(), Amf0Value::Number(3.0));
        properties.insert(
            "list".to_string(),
            Amf0Value::StrictArray(vec![Amf0Value::Boolean(true), Amf0Value::Null]),
        );
        properties.insert("u".to_string(), Amf0Value::Undefined);
        let converted = AmfValue::from(&Amf0Value::Object(properties));
        assert_eq!(
            converted,
            AmfValue::Object(vec![
                ("code".into(), AmfValue::Number(3.0)),
                ("level".into(), AmfValue::String("error".into())),
                (
                    "list".into(),
                    AmfValue::StrictArray(vec![AmfValue::Boolean(true), AmfValue::Null])
                ),
                ("u".into(), AmfValue::Undefined),
            ])
        );
        // The same bytes whichever codec wrote them (one property, so that
        // the hash map's order does not matter).
        let mut single = std::collections::HashMap::new();
        single.insert("w".to_string(), Amf0Value::Number(640.0));
        let rml = rml_rtmp::rml_amf0::serialize(&vec![Amf0Value::Object(single.clone())]).unwrap();
        let mut ours = Vec::new();
        encode_amf0(&AmfValue::from(&Amf0Value::Object(single)), &mut ours);
        assert_eq!(rml, ours);
        assert_eq!(
            decode_amf0(&rml).unwrap(),
            vec![AmfValue::Object(vec![(
                "w".into(),
                AmfValue::Number(640.0)
            )])]
        );
    }
}
