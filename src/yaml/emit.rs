//! The YAML writer for rendered objects, as a serde serializer that writes text directly (no
//! intermediate tree): block style as kubectl prints it (sequences at the indentation of their
//! key, `{}` and `[]` for empty collections), fields in the order the types serialise them
//! (alphabetical for Kubernetes types and maps), and strings quoted whenever a YAML 1.1 or 1.2
//! reader could take them for anything but a string (`"yes"`, `"0755"`, `"1e3"`,
//! `"2024-01-01"`, `""`). Multi-line strings become literal blocks.

use std::fmt::{self, Write as _};

use serde::ser::{self, Serialize};

/// Serialise `value` as one YAML document (no leading `---`).
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut e = Emitter {
        out: String::with_capacity(2048),
        stack: Vec::with_capacity(16),
    };
    // Serialising our own data structures cannot fail: every map key is a string.
    if value.serialize(&mut e).is_err() {
        e.out.clear();
        e.out.push_str("null\n");
    }
    // Rendered documents are kept until they are written out in order; do not keep the slack.
    e.out.shrink_to_fit();
    e.out
}

#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// How a collection was opened, which decides what precedes its first entry.
#[derive(Clone, Copy)]
enum Opening {
    /// The document root.
    Top,
    /// The value of a mapping key written at this indentation.
    AfterKey(usize),
    /// An item of a sequence whose dashes are at this indentation.
    Dash(usize),
}

#[derive(Clone, Copy)]
struct Frame {
    opening: Opening,
    is_map: bool,
    written: usize,
}

struct Emitter {
    out: String,
    stack: Vec<Frame>,
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

impl Emitter {
    /// Where the next value goes: after a key, as a sequence item, or at the root.
    fn position(&self) -> Opening {
        match self.stack.last() {
            None => Opening::Top,
            Some(f) if f.is_map => Opening::AfterKey(key_indent(f.opening)),
            Some(f) => Opening::Dash(item_indent(f.opening)),
        }
    }

    /// The indentation of continuation lines of a literal block at the current position.
    fn block_indent(&self) -> usize {
        match self.position() {
            Opening::Top => 2,
            Opening::AfterKey(k) | Opening::Dash(k) => k + 2,
        }
    }

    /// Write a scalar at the current position.
    fn scalar(&mut self, text: impl FnOnce(&mut String, usize), block_indent: usize) {
        match self.position() {
            Opening::Top => text(&mut self.out, block_indent),
            Opening::AfterKey(_) => {
                self.out.push(' ');
                text(&mut self.out, block_indent);
            }
            Opening::Dash(d) => {
                indent(&mut self.out, d);
                self.out.push_str("- ");
                text(&mut self.out, block_indent);
            }
        }
        self.out.push('\n');
        self.bump();
    }

    fn bump(&mut self) {
        if let Some(f) = self.stack.last_mut()
            && !f.is_map
        {
            f.written += 1;
        }
    }

    fn open(&mut self, is_map: bool) {
        let opening = self.position();
        self.stack.push(Frame {
            opening,
            is_map,
            written: 0,
        });
    }

    fn close(&mut self) {
        let Some(f) = self.stack.pop() else { return };
        if f.written == 0 {
            let empty = if f.is_map { "{}" } else { "[]" };
            match f.opening {
                Opening::Top => self.out.push_str(empty),
                Opening::AfterKey(_) => {
                    self.out.push(' ');
                    self.out.push_str(empty);
                }
                Opening::Dash(d) => {
                    indent(&mut self.out, d);
                    self.out.push_str("- ");
                    self.out.push_str(empty);
                }
            }
            self.out.push('\n');
        }
        self.bump();
    }

    /// Write a mapping key (and the colon) for the innermost map.
    fn key(&mut self, k: &str) {
        let Some(f) = self.stack.last_mut() else {
            return;
        };
        match (f.opening, f.written) {
            (Opening::Top, _) => {}
            (Opening::AfterKey(k0), 0) => {
                self.out.push('\n');
                indent(&mut self.out, k0 + 2);
            }
            (Opening::AfterKey(k0), _) => indent(&mut self.out, k0 + 2),
            (Opening::Dash(d), 0) => {
                indent(&mut self.out, d);
                self.out.push_str("- ");
            }
            (Opening::Dash(d), _) => indent(&mut self.out, d + 2),
        }
        f.written += 1;
        string(&mut self.out, k, 0, false);
        self.out.push(':');
    }

    /// Before the first item of a sequence, end the line that opened it.
    fn seq_item(&mut self) {
        let Some(f) = self.stack.last_mut() else {
            return;
        };
        if f.written == 0 {
            match f.opening {
                Opening::Top => {}
                Opening::AfterKey(_) => self.out.push('\n'),
                Opening::Dash(d) => {
                    indent(&mut self.out, d);
                    self.out.push_str("-\n");
                }
            }
        }
    }
}

/// The indentation of the keys of a map opened this way.
fn key_indent(o: Opening) -> usize {
    match o {
        Opening::Top => 0,
        Opening::AfterKey(k) => k + 2,
        Opening::Dash(d) => d + 2,
    }
}

/// The indentation of the dashes of a sequence opened this way (kubectl style: a sequence under
/// a key is not indented further).
fn item_indent(o: Opening) -> usize {
    match o {
        Opening::Top => 0,
        Opening::AfterKey(k) => k,
        Opening::Dash(d) => d + 2,
    }
}

/// A string scalar: plain, a literal block (values only), or double-quoted.
fn string(out: &mut String, s: &str, block_indent: usize, block_ok: bool) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if block_ok && literal_ok(s) {
        out.push('|');
        let body = match s.strip_suffix('\n') {
            Some(b) => b,
            None => {
                out.push('-');
                s
            }
        };
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                indent(out, block_indent);
                out.push_str(line);
            }
        }
    } else {
        quoted(out, s);
    }
}

/// Multi-line text that a literal block reproduces exactly.
fn literal_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && !s.ends_with("\n\n")
        && s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control())
        && !s.contains(['\u{feff}', '\u{2028}', '\u{2029}', '\u{85}'])
        && !s.split('\n').any(|l| l.ends_with(' ') || l.ends_with('\t'))
}

fn quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// True when a plain scalar reads back as exactly this string under YAML 1.1 and 1.2.
pub fn is_plain_safe(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return false;
    };
    // Fast path for the common case (names, paths, images): a letter, then letters, digits and
    // `. / _ -`. Such a scalar can only be mistaken for a reserved word.
    if first.is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'/' | b'_' | b'-'))
    {
        return !is_reserved_word(b);
    }
    let indicator = matches!(
        first,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
            | b' '
            | b'\t'
            | b'='
            | b'~'
    );
    // `-x` is a fine plain scalar; `-`, `- x` and `-1` are not.
    if indicator && !(first == b'-' && b.len() > 1 && b[1] != b' ') {
        return false;
    }
    let last = b[b.len() - 1];
    if matches!(last, b' ' | b'\t' | b':') {
        return false;
    }
    let mut prev = 0u8;
    for &c in b {
        match c {
            b' ' | b'\t' if prev == b':' => return false,
            b'#' if prev == b' ' || prev == b'\t' => return false,
            0..=0x1f | 0x7f => return false,
            _ => {}
        }
        prev = c;
    }
    if !s.is_ascii() && s.contains(['\u{feff}', '\u{2028}', '\u{2029}', '\u{85}']) {
        return false;
    }
    !(is_reserved_word(b) || looks_numeric(b) || looks_like_date(b) || s == "<<")
}

fn is_reserved_word(b: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"null", b"true", b"false", b"yes", b"no", b"on", b"off", b"y", b"n",
    ];
    let unsigned = match b {
        [b'+' | b'-', rest @ ..] => rest,
        _ => b,
    };
    (b.len() <= 5 && WORDS.iter().any(|w| w.eq_ignore_ascii_case(b)))
        || matches!(unsigned, b".inf" | b".Inf" | b".INF")
        || matches!(b, b".nan" | b".NaN" | b".NAN")
}

/// Integers, floats (with `_` and exponents), hex/octal/binary and sexagesimal numbers.
fn looks_numeric(b: &[u8]) -> bool {
    let t = match b.first() {
        Some(b'+' | b'-') => &b[1..],
        _ => b,
    };
    if t.is_empty() {
        return false;
    }
    if t.len() > 2 && t[0] == b'0' && matches!(t[1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B') {
        return t[2..].iter().all(|c| c.is_ascii_hexdigit() || *c == b'_');
    }
    let mut digits = 0;
    let mut dots = 0;
    let mut exp = false;
    let mut prev = b' ';
    for &c in t {
        match c {
            b'0'..=b'9' => digits += 1,
            b'_' | b':' => {}
            b'.' => dots += 1,
            b'e' | b'E' if !exp && digits > 0 => exp = true,
            b'+' | b'-' if matches!(prev, b'e' | b'E') => {}
            _ => return false,
        }
        prev = c;
    }
    digits > 0 && dots <= 1
}

fn looks_like_date(b: &[u8]) -> bool {
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5].is_ascii_digit()
}

macro_rules! display_scalar {
    ($($m:ident: $t:ty),*) => {
        $(fn $m(self, v: $t) -> Result<(), Error> {
            self.scalar(|o, _| { let _ = write!(o, "{v}"); }, 0);
            Ok(())
        })*
    };
}

impl<'a> ser::Serializer for &'a mut Emitter {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = &'a mut Emitter;
    type SerializeTuple = &'a mut Emitter;
    type SerializeTupleStruct = &'a mut Emitter;
    type SerializeTupleVariant = &'a mut Emitter;
    type SerializeMap = &'a mut Emitter;
    type SerializeStruct = &'a mut Emitter;
    type SerializeStructVariant = &'a mut Emitter;

    display_scalar!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_i128: i128, serialize_u128: u128
    );

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.scalar(|o, _| o.push_str(if v { "true" } else { "false" }), 0);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.scalar(
            |o, _| {
                if v.is_nan() {
                    o.push_str(".nan");
                } else if v.is_infinite() {
                    o.push_str(if v > 0.0 { ".inf" } else { "-.inf" });
                } else {
                    let _ = write!(o, "{v}");
                }
            },
            0,
        );
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        let bi = self.block_indent();
        self.scalar(|o, i| string(o, v, i, true), bi);
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.serialize_str(&String::from_utf8_lossy(v))
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.scalar(|o, _| o.push_str("null"), 0);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.open(true);
        self.key(variant);
        v.serialize(&mut *self)?;
        self.close();
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self, Error> {
        self.open(false);
        Ok(self)
    }

    fn serialize_tuple(self, len: usize) -> Result<Self, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, Error> {
        self.open(true);
        self.key(variant);
        self.open(false);
        Ok(self)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self, Error> {
        self.open(true);
        Ok(self)
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, Error> {
        self.open(true);
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, Error> {
        self.open(true);
        self.key(variant);
        self.open(true);
        Ok(self)
    }
}

impl ser::SerializeSeq for &mut Emitter {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.seq_item();
        v.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Emitter {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }

    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for &mut Emitter {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }

    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for &mut Emitter {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }

    fn end(self) -> Result<(), Error> {
        self.close();
        self.close();
        Ok(())
    }
}

impl ser::SerializeMap for &mut Emitter {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        let key = k.serialize(KeySerializer)?;
        self.key(&key);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Emitter {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.key(key);
        v.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Error> {
        self.close();
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Emitter {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, v)
    }

    fn end(self) -> Result<(), Error> {
        self.close();
        self.close();
        Ok(())
    }
}

/// Map keys: strings (and, for completeness, numbers and booleans as their text).
struct KeySerializer;

macro_rules! key_display {
    ($($m:ident: $t:ty),*) => {
        $(fn $m(self, v: $t) -> Result<String, Error> { Ok(v.to_string()) })*
    };
}

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = Error;
    type SerializeSeq = ser::Impossible<String, Error>;
    type SerializeTuple = ser::Impossible<String, Error>;
    type SerializeTupleStruct = ser::Impossible<String, Error>;
    type SerializeTupleVariant = ser::Impossible<String, Error>;
    type SerializeMap = ser::Impossible<String, Error>;
    type SerializeStruct = ser::Impossible<String, Error>;
    type SerializeStructVariant = ser::Impossible<String, Error>;

    key_display!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_f32: f32, serialize_f64: f64, serialize_char: char,
        serialize_str: &str
    );

    fn serialize_bytes(self, v: &[u8]) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(v).into_owned())
    }
    fn serialize_none(self) -> Result<String, Error> {
        Ok("null".into())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<String, Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, Error> {
        Ok("null".into())
    }
    fn serialize_unit_struct(self, _n: &'static str) -> Result<String, Error> {
        Ok("null".into())
    }
    fn serialize_unit_variant(
        self,
        _n: &'static str,
        _i: u32,
        v: &'static str,
    ) -> Result<String, Error> {
        Ok(v.into())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _n: &'static str,
        v: &T,
    ) -> Result<String, Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _value: &T,
    ) -> Result<String, Error> {
        Err(ser::Error::custom("map keys must be scalars"))
    }
    fn serialize_seq(self, _l: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(ser::Error::custom("map keys must be scalars"))
    }
    fn serialize_tuple(self, _l: usize) -> Result<Self::SerializeTuple, Error> {
        Err(ser::Error::custom("map keys must be scalars"))
    }
    fn serialize_tuple_struct(
        self,
        _n: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(ser::Error::custom("map keys must be scalars"))
    }
    fn serialize_tuple_variant(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(ser::Error::custom("map keys must be scalars"))
    }
    fn serialize_map(self, _l: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(ser::Error::custom("map keys must be scalars"))
    }
    fn serialize_struct(self, _n: &'static str, _l: usize) -> Result<Self::SerializeStruct, Error> {
        Err(ser::Error::custom("map keys must be scalars"))
    }
    fn serialize_struct_variant(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        _l: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(ser::Error::custom("map keys must be scalars"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn ambiguous_scalars_are_quoted() {
        for s in [
            "",
            "yes",
            "No",
            "on",
            "null",
            "~",
            "1",
            "0755",
            "1e3",
            "1_000",
            "0x1F",
            "1:20",
            ".5",
            "2024-01-01",
            "- x",
            "a: b",
            "x #y",
            "<<",
            "-1",
            "+1",
            "-",
            "y",
            ".inf",
            "-.inf",
            "+.Inf",
            ".NaN",
        ] {
            assert!(!is_plain_safe(s), "{s:?} must be quoted");
        }
        for s in [
            "ClusterIP",
            "1.12.0",
            "nvcr.io/nim/llama:1.0",
            "25%",
            "-foo",
            "/v1/health",
            "a:b",
            "app.kubernetes.io/name",
            "500m",
            "32Gi",
        ] {
            assert!(is_plain_safe(s), "{s:?} can be plain");
        }
    }

    #[test]
    fn layout() {
        let v = json!({
            "a": {"b": [ {"c": 1, "d": "x"}, "z", [1, 2], {}, [] ], "e": {}, "f": []},
            "g": "line1\nline2\n",
            "h": "8000"
        });
        assert_eq!(
            to_string(&v),
            "a:\n  b:\n  - c: 1\n    d: x\n  - z\n  -\n    - 1\n    - 2\n  - {}\n  - []\n  e: {}\n  f: []\ng: |\n  line1\n  line2\nh: \"8000\"\n"
        );
    }

    #[test]
    fn round_trips_through_the_parser() {
        let v = json!({
            "s": ["", "yes", "1.0", "a\nb", "tail\n", " lead", "tab\there", "quote\"back\\slash", "ünï", "#x", "k: v", "-x"],
            "n": [1, -2, 3.5, true, null],
            "nested": [[1, 2], [], {}, [[{"deep": {"x": ["y\nz"]}}]]],
            "m": {"k1": {"k2": {"k3": "multi\nline\ntext"}}}
        });
        let text = to_string(&v);
        let docs = crate::yaml::parse_documents(&text, crate::yaml::Limits::default()).unwrap();
        let back: Value = crate::yaml::de::from_node(&docs[0]).unwrap();
        assert_eq!(back, v, "{text}");
    }
}
