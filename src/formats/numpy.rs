//! NumPy `.npy` headers (format versions 1 to 3), parsed without NumPy: the header is a Python
//! dict literal; an object dtype anywhere in it means a pickle follows the header.

#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    pub version: (u8, u8),
    /// Offset of the array data (or the pickle, for object arrays).
    pub data_offset: usize,
    pub descr: String,
    pub has_object: bool,
    pub shape: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NpyError {
    NotNpy,
    Truncated,
    UnsupportedVersion(u8, u8),
    BadHeader(String),
}

impl std::fmt::Display for NpyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NpyError::NotNpy => write!(f, "no .npy magic"),
            NpyError::Truncated => write!(f, ".npy header runs past the end of the file"),
            NpyError::UnsupportedVersion(a, b) => write!(f, "unsupported .npy format version {a}.{b}"),
            NpyError::BadHeader(why) => write!(f, "malformed .npy header: {why}"),
        }
    }
}

pub const MAGIC: &[u8] = b"\x93NUMPY";

pub fn parse(data: &[u8]) -> Result<NpyHeader, NpyError> {
    if !data.starts_with(MAGIC) {
        return Err(NpyError::NotNpy);
    }
    let (major, minor) = (
        *data.get(6).ok_or(NpyError::Truncated)?,
        *data.get(7).ok_or(NpyError::Truncated)?,
    );
    let (len, start): (usize, usize) = match major {
        1 => (
            usize::from(u16::from_le_bytes(
                data.get(8..10).ok_or(NpyError::Truncated)?.try_into().expect("2 bytes"),
            )),
            10,
        ),
        2 | 3 => (
            u32::from_le_bytes(data.get(8..12).ok_or(NpyError::Truncated)?.try_into().expect("4 bytes")) as usize,
            12,
        ),
        _ => return Err(NpyError::UnsupportedVersion(major, minor)),
    };
    let raw = data.get(start..start.saturating_add(len)).ok_or(NpyError::Truncated)?;
    // Version 1 and 2 headers are latin-1, version 3 UTF-8.
    let text: String = if major == 3 {
        String::from_utf8(raw.to_vec()).map_err(|_| NpyError::BadHeader("not UTF-8".into()))?
    } else {
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let literal = Parser {
        s: text.as_bytes(),
        i: 0,
    }
    .parse_all()
    .map_err(NpyError::BadHeader)?;
    let Lit::Dict(entries) = literal else {
        return Err(NpyError::BadHeader("not a dict".into()));
    };
    // A dict display keeps the last of repeated keys.
    let get = |key: &str| {
        entries
            .iter()
            .rev()
            .find(|(k, _)| matches!(k, Lit::Str(s) if s == key))
            .map(|(_, v)| v)
    };
    let descr_lit = get("descr").ok_or_else(|| NpyError::BadHeader("no 'descr'".into()))?;
    let shape = match get("shape") {
        Some(Lit::Tuple(items)) => items
            .iter()
            .map(|i| {
                if let Lit::Int(n) = i {
                    u64::try_from(*n).unwrap_or(0)
                } else {
                    0
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(NpyHeader {
        version: (major, minor),
        data_offset: start + len,
        descr: descr_lit.to_string(),
        has_object: dtype_has_object(descr_lit),
        shape,
    })
}

/// Whether `numpy.lib.format.descr_to_dtype` builds a dtype holding objects from this
/// description: a dtype string, a `(dtype, shape)` subarray, or an iterable of fields.
fn dtype_has_object(descr: &Lit) -> bool {
    match descr {
        Lit::Str(s) => string_has_object(s),
        Lit::Tuple(items) => items.first().is_some_and(dtype_has_object),
        Lit::List(fields) => fields.iter().any(field_has_object),
        // Iterating a dict gives its keys.
        Lit::Dict(entries) => entries.iter().any(|(key, _)| field_has_object(key)),
        _ => false,
    }
}

/// A field unpacks as `name, dtype` or `name, dtype, shape`, so its dtype is its second item,
/// whatever iterable it is (a two-character string unpacks too).
fn field_has_object(field: &Lit) -> bool {
    match field {
        Lit::Tuple(parts) | Lit::List(parts) => parts.get(1).is_some_and(dtype_has_object),
        Lit::Dict(entries) => entries.get(1).is_some_and(|(key, _)| dtype_has_object(key)),
        Lit::Str(s) => s
            .chars()
            .nth(1)
            .is_some_and(|c| string_has_object(c.encode_utf8(&mut [0; 4]))),
        _ => false,
    }
}

/// Whether `numpy.dtype(s)` holds objects: `s` is a type code (`|O`, `O8`), a type name
/// (`object`, `object_`, `Object0`) or comma-separated fields (`i4,O`, `(2,)O`).
fn string_has_object(s: &str) -> bool {
    let mut depth = 0usize;
    let mut fields = s.split(|c: char| {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        c == ',' && depth == 0
    });
    fields.any(|field| {
        let mut code = field.trim_start();
        if code.starts_with('(') {
            code = code.find(')').map_or("", |end| &code[end + 1..]);
        }
        let code = code.trim_start_matches(|c: char| c.is_ascii_digit() || c.is_whitespace());
        let code = code.trim_start_matches(['<', '>', '|', '=', '!']);
        code.starts_with('O') || code.get(..6).is_some_and(|word| word.eq_ignore_ascii_case("object"))
    })
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Str(String),
    Int(i64),
    Bool(bool),
    None,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

impl std::fmt::Display for Lit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lit::Str(s) => write!(f, "'{s}'"),
            Lit::Int(i) => write!(f, "{i}"),
            Lit::Bool(b) => write!(f, "{}", if *b { "True" } else { "False" }),
            Lit::None => write!(f, "None"),
            Lit::Tuple(items) | Lit::List(items) => {
                let (open, close) = if matches!(self, Lit::Tuple(_)) {
                    ('(', ')')
                } else {
                    ('[', ']')
                };
                write!(f, "{open}")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{item}")?;
                }
                write!(f, "{close}")
            }
            Lit::Dict(_) => write!(f, "{{…}}"),
        }
    }
}

/// A parser for the small Python literal subset `.npy` headers use.
struct Parser<'s> {
    s: &'s [u8],
    i: usize,
}

const MAX_DEPTH: usize = 32;

impl Parser<'_> {
    fn parse_all(mut self) -> Result<Lit, String> {
        let v = self.value(0)?;
        self.ws();
        if self.i != self.s.len() {
            return Err(format!("unexpected text at {}", self.i));
        }
        Ok(v)
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && (self.s[self.i] as char).is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Lit, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        self.ws();
        match self.s.get(self.i).copied() {
            Some(b'\'' | b'"') => self.string(false),
            Some(b'u' | b'U' | b'b' | b'B') if matches!(self.s.get(self.i + 1), Some(b'\'' | b'"')) => {
                self.i += 1;
                self.string(false)
            }
            Some(b'r' | b'R') if matches!(self.s.get(self.i + 1), Some(b'\'' | b'"')) => {
                self.i += 1;
                self.string(true)
            }
            Some(b'(') => self.seq(b')', depth).map(Lit::Tuple),
            Some(b'[') => self.seq(b']', depth).map(Lit::List),
            Some(b'{') => {
                self.i += 1;
                let mut entries = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Lit::Dict(entries));
                    }
                    let k = self.value(depth + 1)?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return Err("expected ':'".into());
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    entries.push((k, v));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err("expected ',' or '}'".into()),
                    }
                }
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let start = self.i;
                self.i += 1;
                while self.i < self.s.len() && (self.s[self.i].is_ascii_digit() || self.s[self.i] == b'L') {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i])
                    .unwrap_or_default()
                    .trim_end_matches('L');
                text.parse().map(Lit::Int).map_err(|_| format!("bad integer {text}"))
            }
            _ => {
                for (word, lit) in [
                    ("True", Lit::Bool(true)),
                    ("False", Lit::Bool(false)),
                    ("None", Lit::None),
                ] {
                    if self.s[self.i..].starts_with(word.as_bytes()) {
                        self.i += word.len();
                        return Ok(lit);
                    }
                }
                Err(format!("unexpected character at {}", self.i))
            }
        }
    }

    /// A quoted string at `self.i`, with Python's escapes decoded unless `raw`.
    fn string(&mut self, raw: bool) -> Result<Lit, String> {
        let quote = self.s[self.i];
        if self.s[self.i..].starts_with(&[quote; 3]) {
            return Err("triple-quoted strings are not supported".into());
        }
        self.i += 1;
        let mut text = Vec::new();
        loop {
            let c = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'\n' => return Err("unterminated string".into()),
                c if c == quote => break,
                b'\\' if raw => {
                    // A raw string keeps the backslash, and it still protects the next quote.
                    text.push(c);
                    if let Some(&next) = self.s.get(self.i) {
                        text.push(next);
                        self.i += 1;
                    }
                }
                b'\\' => self.escape(&mut text)?,
                c => text.push(c),
            }
        }
        Ok(Lit::Str(String::from_utf8_lossy(&text).into_owned()))
    }

    /// Decodes the escape after a backslash into `text` (UTF-8).
    fn escape(&mut self, text: &mut Vec<u8>) -> Result<(), String> {
        let c = *self.s.get(self.i).ok_or("unterminated string")?;
        self.i += 1;
        let simple = match c {
            b'\n' => return Ok(()),
            b'\\' | b'\'' | b'"' => Some(c),
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            _ => None,
        };
        if let Some(byte) = simple {
            text.push(byte);
            return Ok(());
        }
        let code = match c {
            b'0'..=b'7' => {
                let start = self.i - 1;
                while self.i < start + 3 && matches!(self.s.get(self.i), Some(b'0'..=b'7')) {
                    self.i += 1;
                }
                self.hex_or_octal(start, 8)?
            }
            b'x' | b'u' | b'U' => {
                let digits = match c {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let start = self.i;
                self.i += digits;
                if self.i > self.s.len() {
                    return Err("truncated escape".into());
                }
                self.hex_or_octal(start, 16)?
            }
            b'N' => return Err("named escapes are not supported".into()),
            _ => {
                // An unknown escape keeps its backslash.
                text.push(b'\\');
                text.push(c);
                return Ok(());
            }
        };
        let c = char::from_u32(code).ok_or("escape is not a character")?;
        text.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    fn hex_or_octal(&self, start: usize, radix: u32) -> Result<u32, String> {
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|digits| u32::from_str_radix(digits, radix).ok())
            .ok_or_else(|| "bad escape".into())
    }

    fn seq(&mut self, close: u8, depth: usize) -> Result<Vec<Lit>, String> {
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.s.get(self.i) == Some(&close) {
                self.i += 1;
                return Ok(items);
            }
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(c) if *c == close => {}
                _ => return Err("expected ',' or a closing bracket".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(version: u8, header: &str) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(version);
        out.push(0);
        if version == 1 {
            out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(header.as_bytes());
        out
    }

    #[test]
    fn numeric_and_object_headers() {
        let h = parse(&npy(
            1,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }          \n",
        ))
        .unwrap();
        assert!(!h.has_object);
        assert_eq!(h.shape, vec![3, 2]);
        let h = parse(&npy(2, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }\n")).unwrap();
        assert!(h.has_object);
        let h = parse(&npy(
            3,
            "{'descr': [('w', '|O'), ('x', '<f8')], 'fortran_order': False, 'shape': (1,), }\n",
        ))
        .unwrap();
        assert!(h.has_object);
        let h = parse(&npy(
            1,
            "{'descr': [('O', '<f8')], 'fortran_order': False, 'shape': (1,), }\n",
        ))
        .unwrap();
        assert!(!h.has_object, "a field named O is not an object field");
    }

    fn has_object(descr: &str) -> bool {
        let header = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}\n");
        parse(&npy(1, &header)).unwrap().has_object
    }

    #[test]
    fn every_spelling_of_an_object_dtype_is_found() {
        for descr in [
            "'object'",
            "'Object0'",
            "'O8'",
            "'<i4,O'",
            "'(2,)O'",
            "('|O', (2,))",
            "[('a', ('|O', (3,)))]",
            "[('a', '<f8', (2,)), ('b', '|O', (2,))]",
            "['aO']",
            "{'aO': 1}",
            "'\\x4f'",
            "u'|O'",
            "'<f8', 'descr': '|O'",
        ] {
            assert!(has_object(descr), "{descr}");
        }
        for descr in [
            "'<f8'",
            "[('Open', '<f4')]",
            "'<M8[ms]'",
            "'|S4'",
            "'|O', 'descr': '<f8'",
        ] {
            assert!(!has_object(descr), "{descr}");
        }
    }

    #[test]
    fn malformed_headers() {
        assert_eq!(parse(b"\x93NUMPY\x09\x00"), Err(NpyError::UnsupportedVersion(9, 0)));
        assert_eq!(parse(b"\x93NUMPY\x01\x00\xff\x00{"), Err(NpyError::Truncated));
        assert!(matches!(parse(&npy(1, "{'descr': ")), Err(NpyError::BadHeader(_))));
    }
}
