//! A zero-copy opcode reader that follows CPython's C `_pickle` unpickler byte for byte.
//!
//! Where `_pickle`, the pure-Python `pickle.py` and `pickletools` read the same bytes
//! differently, the reader does what `_pickle` does (that is what `pickle.load` runs) and records
//! a [`Divergence`], because attackers use those differences to hide opcodes from scanners that
//! are built on `pickletools`.

use super::opcodes::{ArgKind, Opcode};
use super::text::{Blob, Text};
use std::fmt;
use std::rc::Rc;

/// One decoded opcode.
#[derive(Debug, Clone)]
pub struct Op<'a> {
    pub offset: usize,
    pub opcode: Opcode,
    pub arg: Arg<'a>,
    /// Encoded length including the opcode byte.
    pub len: usize,
}

/// An empty slot for [`Reader::read_into`].
impl Default for Op<'_> {
    fn default() -> Self {
        Op {
            offset: 0,
            opcode: Opcode::STOP,
            arg: Arg::None,
            len: 0,
        }
    }
}

/// A decoded opcode argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg<'a> {
    None,
    Int(i64),
    /// An integer outside the 64-bit range written as text (LONG, INT), as decimal digits.
    BigInt(Rc<str>),
    /// An integer outside the 64-bit range from LONG1/LONG4: little-endian two's complement,
    /// converted to decimal only when someone asks ([`long_to_decimal`]).
    LongBytes(Blob<'a>),
    Bool(bool),
    Float(f64),
    /// Text (UNICODE, BINUNICODE family, PERSID).
    Text(Text<'a>),
    /// A Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING): bytes that Python 3 decodes.
    Str8(Blob<'a>),
    Bytes(Blob<'a>),
    /// GLOBAL and INST operands: two lines of the stream, always borrowed.
    Global {
        module: &'a str,
        name: &'a str,
    },
    /// Memo index (GET/PUT family) or extension code (EXT family).
    Index(u64),
    Proto(u8),
    FrameLen(u64),
}

/// A place where `_pickle` and another reader of the same bytes disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    pub offset: usize,
    pub kind: DivergenceKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DivergenceKind {
    /// An opcode starts inside a FRAME and ends after it. `_pickle` (reading from memory) reads
    /// straight through; `pickle.py` and newer CPython releases reject the stream; a reader that
    /// honours the frame resumes at `frame_end`, where different opcodes may start.
    FrameStraddle { frame_end: usize },
    /// A FRAME starts before the previous one was consumed: `pickle.py` rejects this.
    FrameBeforeEndOfFrame,
    /// A FRAME declares more bytes than the data holds: `_pickle` refuses the stream,
    /// `pickle.py` reads the short frame and goes on. Reading goes on, so that what the
    /// tolerant reader would run is analysed.
    FrameOverrun { declared: u64, available: u64 },
    /// A protocol-0 integer that `pickletools` (base 10) reads differently from C's `strtol`
    /// in base 0, or cannot read: `0x…`, `0o…`, or a leading-zero octal such as `010`.
    NonDecimalInt,
    /// UTF-8 with lone surrogates: `_pickle` accepts it with `surrogatepass`.
    LoneSurrogate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub offset: usize,
    pub kind: ReadErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadErrorKind {
    /// The input ended inside an opcode, or with no STOP.
    Truncated {
        opcode: Option<Opcode>,
    },
    UnknownOpcode(u8),
    NegativeLength(Opcode),
    MissingNewline(Opcode),
    /// An operand that `_pickle` refuses (message says which and why).
    BadOperand {
        opcode: Opcode,
        why: String,
    },
}

impl fmt::Display for ReadErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadErrorKind::Truncated { opcode: Some(op) } => {
                write!(f, "data ends inside a {} opcode", op.name())
            }
            ReadErrorKind::Truncated { opcode: None } => write!(f, "data ends before STOP"),
            ReadErrorKind::UnknownOpcode(b) => write!(f, "invalid opcode byte 0x{b:02x}"),
            ReadErrorKind::NegativeLength(op) => write!(f, "{} has a negative length", op.name()),
            ReadErrorKind::MissingNewline(op) => {
                write!(f, "{} argument is not terminated by a newline", op.name())
            }
            ReadErrorKind::BadOperand { opcode, why } => write!(f, "{}: {why}", opcode.name()),
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.kind, self.offset)
    }
}

/// Divergences kept per reader; more are counted, not stored.
const MAX_DIVERGENCES: usize = 64;

pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    frame_end: Option<usize>,
    divergences: Vec<Divergence>,
    dropped_divergences: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], start: usize) -> Self {
        Reader {
            data,
            pos: start,
            frame_end: None,
            divergences: Vec::new(),
            dropped_divergences: 0,
        }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Continues reading at `pos` (after data that a loader reads outside the opcode stream).
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos;
        self.frame_end = None;
    }

    pub fn divergences(&self) -> &[Divergence] {
        &self.divergences
    }

    pub fn dropped_divergences(&self) -> usize {
        self.dropped_divergences
    }

    fn diverge(&mut self, offset: usize, kind: DivergenceKind) {
        if self.divergences.len() < MAX_DIVERGENCES {
            self.divergences.push(Divergence { offset, kind });
        } else {
            self.dropped_divergences += 1;
        }
    }

    /// Reads the next opcode. At the end of the input this is a `Truncated` error: a pickle
    /// must end with STOP.
    pub fn next_op(&mut self) -> Result<Op<'a>, ReadError> {
        let mut op = Op::default();
        self.read_into(&mut op).map(|()| op)
    }

    /// [`Reader::next_op`] into a slot the caller reuses (after an error its contents are
    /// unspecified). The operand is written in place: an operand built on the stack and then
    /// copied out is read back wider than it was written, and that store-forwarding stall cost
    /// more than decoding the opcode.
    pub fn read_into(&mut self, op: &mut Op<'a>) -> Result<(), ReadError> {
        let offset = self.pos;
        let Some(&byte) = self.data.get(offset) else {
            return Err(ReadError {
                offset,
                kind: ReadErrorKind::Truncated { opcode: None },
            });
        };
        let opcode = Opcode::from_byte(byte).ok_or(ReadError {
            offset,
            kind: ReadErrorKind::UnknownOpcode(byte),
        })?;
        let mut cursor = Cursor {
            data: self.data,
            pos: offset + 1,
            opcode,
            start: offset,
        };
        op.offset = offset;
        op.opcode = opcode;
        self.read_arg(&mut cursor, &mut op.arg)?;
        let end = cursor.pos;
        if let Some(frame_end) = self.frame_end {
            if offset >= frame_end {
                self.frame_end = None;
            } else if end > frame_end {
                self.diverge(offset, DivergenceKind::FrameStraddle { frame_end });
                self.frame_end = None;
            }
        }
        if let Arg::FrameLen(declared) = op.arg {
            let available = (self.data.len() - end) as u64;
            if self.frame_end.is_some_and(|frame_end| frame_end > offset) {
                self.diverge(offset, DivergenceKind::FrameBeforeEndOfFrame);
            }
            if declared > available {
                self.diverge(offset, DivergenceKind::FrameOverrun { declared, available });
            }
            self.frame_end = Some(end + declared.min(available) as usize);
        }
        self.pos = end;
        op.len = end - offset;
        Ok(())
    }

    fn read_arg(&mut self, c: &mut Cursor<'a>, out: &mut Arg<'a>) -> Result<(), ReadError> {
        let opcode = c.opcode;
        *out = match opcode.arg_kind() {
            ArgKind::None => Arg::None,
            ArgKind::U1 => {
                let v = c.take(1)?[0];
                match opcode {
                    Opcode::PROTO => Arg::Proto(v),
                    Opcode::BININT1 => Arg::Int(v.into()),
                    Opcode::EXT1 if v == 0 => return Err(c.bad("EXT code is not positive")),
                    _ => Arg::Index(v.into()),
                }
            }
            ArgKind::U2 => {
                let v = u16::from_le_bytes(c.take_array()?);
                match opcode {
                    Opcode::BININT2 => Arg::Int(v.into()),
                    Opcode::EXT2 if v == 0 => return Err(c.bad("EXT code is not positive")),
                    _ => Arg::Index(v.into()),
                }
            }
            ArgKind::I4 => {
                let v = i32::from_le_bytes(c.take_array()?);
                match opcode {
                    Opcode::EXT4 if v <= 0 => return Err(c.bad("EXT code is not positive")),
                    Opcode::EXT4 => Arg::Index(v as u64),
                    _ => Arg::Int(v.into()),
                }
            }
            ArgKind::U4 => Arg::Index(u32::from_le_bytes(c.take_array()?).into()),
            ArgKind::U8 => Arg::FrameLen(u64::from_le_bytes(c.take_array()?)),
            ArgKind::F8 => Arg::Float(f64::from_be_bytes(c.take_array()?)),
            ArgKind::DecimalLine => {
                let full = c.line()?;
                let line = c_string(full);
                match opcode {
                    Opcode::INT => self.parse_int_line(c.start, line, full.len())?,
                    _ => {
                        // GET and PUT: C reads the index with PyLong_FromString(s, NULL, 10).
                        let text = ascii(line).ok_or_else(|| c.bad("index is not ASCII"))?;
                        match parse_python_int(text, 10) {
                            Some(PyInt::Small(v)) if v >= 0 => Arg::Index(v as u64),
                            Some(PyInt::Small(_)) => return Err(c.bad("negative memo index")),
                            Some(PyInt::Big(_)) => return Err(c.bad("memo index out of range")),
                            None => return Err(c.bad("memo index is not an integer")),
                        }
                    }
                }
            }
            ArgKind::LongLine => {
                let mut line = c_string(c.line()?);
                if line.len() > 1 && line.last() == Some(&b'L') {
                    line = &line[..line.len() - 1];
                }
                let text = ascii(line).ok_or_else(|| c.bad("LONG literal is not ASCII"))?;
                match parse_python_int(text, 0) {
                    Some(PyInt::Small(v)) => Arg::Int(v),
                    Some(PyInt::Big(s)) => Arg::BigInt(s.into()),
                    None => return Err(c.bad("invalid LONG literal")),
                }
            }
            ArgKind::FloatLine => {
                let line = c_string(c.line()?);
                let text = ascii(line).ok_or_else(|| c.bad("FLOAT literal is not ASCII"))?;
                Arg::Float(parse_python_float(text).ok_or_else(|| c.bad("invalid FLOAT literal"))?)
            }
            ArgKind::QuotedLine => {
                let line = c.line()?;
                let n = line.len();
                if n < 2 || line[0] != line[n - 1] || !(line[0] == b'\'' || line[0] == b'"') {
                    return Err(c.bad("the STRING opcode argument must be quoted"));
                }
                let inner = &line[1..n - 1];
                if inner.contains(&b'\\') {
                    let decoded = escape_decode(inner).map_err(|why| c.bad(why))?;
                    Arg::Str8(Blob::Owned(decoded.into()))
                } else {
                    Arg::Str8(Blob::Borrowed(inner))
                }
            }
            ArgKind::UnicodeLine => {
                let line = c.line()?;
                Arg::Text(raw_unicode_escape_decode(line).map_err(|why| c.bad(why))?)
            }
            ArgKind::RawLine => {
                let line = c.line()?;
                let text = ascii(line).ok_or_else(|| c.bad("persistent IDs in protocol 0 must be ASCII strings"))?;
                Arg::Text(Text::Borrowed(text))
            }
            ArgKind::TwoLines => {
                let module = c.line()?;
                let name = c.line()?;
                let module = std::str::from_utf8(module).map_err(|_| c.bad("module name is not valid UTF-8"))?;
                let name = std::str::from_utf8(name).map_err(|_| c.bad("name is not valid UTF-8"))?;
                Arg::Global { module, name }
            }
            ArgKind::Bytes1 => {
                let n = c.take(1)?[0] as usize;
                self.bytes_arg(c, n)?
            }
            ArgKind::Bytes4Signed => {
                let n = i32::from_le_bytes(c.take_array()?);
                if n < 0 {
                    return Err(c.err(ReadErrorKind::NegativeLength(opcode)));
                }
                self.bytes_arg(c, n as usize)?
            }
            ArgKind::Bytes4 => {
                let n = u32::from_le_bytes(c.take_array()?) as usize;
                self.bytes_arg(c, n)?
            }
            ArgKind::Bytes8 => {
                let n = u64::from_le_bytes(c.take_array()?);
                self.bytes_arg(c, usize::try_from(n).unwrap_or(usize::MAX))?
            }
            ArgKind::Utf8_1 => {
                let n = c.take(1)?[0] as usize;
                self.utf8_arg(c, n)?
            }
            ArgKind::Utf8_4 => {
                let n = u32::from_le_bytes(c.take_array()?) as usize;
                self.utf8_arg(c, n)?
            }
            ArgKind::Utf8_8 => {
                let n = u64::from_le_bytes(c.take_array()?);
                self.utf8_arg(c, usize::try_from(n).unwrap_or(usize::MAX))?
            }
            ArgKind::Long1 => {
                let n = c.take(1)?[0] as usize;
                decode_long(c.take(n)?)
            }
            ArgKind::Long4 => {
                let n = i32::from_le_bytes(c.take_array()?);
                if n < 0 {
                    return Err(c.err(ReadErrorKind::NegativeLength(opcode)));
                }
                decode_long(c.take(n as usize)?)
            }
        };
        Ok(())
    }

    fn bytes_arg(&mut self, c: &mut Cursor<'a>, n: usize) -> Result<Arg<'a>, ReadError> {
        let bytes = Blob::Borrowed(c.take(n)?);
        Ok(match c.opcode {
            Opcode::BINSTRING | Opcode::SHORT_BINSTRING => Arg::Str8(bytes),
            _ => Arg::Bytes(bytes),
        })
    }

    fn utf8_arg(&mut self, c: &mut Cursor<'a>, n: usize) -> Result<Arg<'a>, ReadError> {
        let raw = c.take(n)?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(Arg::Text(Text::Borrowed(s))),
            Err(_) => match decode_surrogatepass(raw) {
                Some(s) => {
                    self.diverge(c.start, DivergenceKind::LoneSurrogate);
                    Ok(Arg::Text(Text::owned(s)))
                }
                None => Err(c.bad("text is not valid UTF-8")),
            },
        }
    }

    /// INT follows C's `load_int`: `strtol(s, &end, 0)`, falling back to a Python int parse in
    /// base 0; a three-byte line holding 0 or 1 is a bool.
    fn parse_int_line(&mut self, offset: usize, line: &'a [u8], full_len: usize) -> Result<Arg<'a>, ReadError> {
        let bad = |why: &str| ReadError {
            offset,
            kind: ReadErrorKind::BadOperand {
                opcode: Opcode::INT,
                why: why.to_string(),
            },
        };
        let text = ascii(line).ok_or_else(|| bad("INT literal is not ASCII"))?;
        let value = match strtol_base0(text) {
            Some(v) => {
                // C compares the whole line with its newline (and anything after a NUL).
                if full_len + 1 == 3 && (v == 0 || v == 1) {
                    return Ok(Arg::Bool(v == 1));
                }
                PyInt::Small(v)
            }
            None => parse_python_int(text, 0).ok_or_else(|| bad("invalid INT literal"))?,
        };
        // pickletools reads INT with int(s) in base 10: a different value (or none) is a
        // differential that hides what _pickle builds.
        if parse_python_int(text, 10) != Some(value.clone()) {
            self.diverge(offset, DivergenceKind::NonDecimalInt);
        }
        Ok(match value {
            PyInt::Small(v) => Arg::Int(v),
            PyInt::Big(s) => Arg::BigInt(s.into()),
        })
    }
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    opcode: Opcode,
    start: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, kind: ReadErrorKind) -> ReadError {
        ReadError {
            offset: self.start,
            kind,
        }
    }

    fn bad(&self, why: &str) -> ReadError {
        self.err(ReadErrorKind::BadOperand {
            opcode: self.opcode,
            why: why.to_string(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ReadError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.data.len());
        match end {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.err(ReadErrorKind::Truncated {
                opcode: Some(self.opcode),
            })),
        }
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], ReadError> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// A line without its terminating `\n`.
    fn line(&mut self) -> Result<&'a [u8], ReadError> {
        let rest = &self.data[self.pos.min(self.data.len())..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let line = &rest[..i];
                self.pos += i + 1;
                Ok(line)
            }
            None => Err(self.err(ReadErrorKind::MissingNewline(self.opcode))),
        }
    }
}

/// `_pickle` parses numeric line arguments with C functions that stop at the first NUL.
fn c_string(line: &[u8]) -> &[u8] {
    &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())]
}

fn ascii(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PyInt {
    Small(i64),
    Big(String),
}

/// C's `strtol(s, &end, 0)` accepted only when it consumed everything up to the end of the line
/// and did not overflow.
fn strtol_base0(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if t.len() > 2 && (t.starts_with("0x") || t.starts_with("0X")) {
        (16, &t[2..])
    } else if t.len() > 1 && t.starts_with('0') {
        (8, &t[1..])
    } else {
        (10, t)
    };
    if digits.is_empty() || !digits.chars().all(|ch| ch.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// Python's `int(s, base)` for base 10 or 0 (prefixes, underscores, surrounding whitespace).
pub(crate) fn parse_python_int(s: &str, base: u32) -> Option<PyInt> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\x0b');
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = t.to_ascii_lowercase();
    let (radix, body) = if base == 0 {
        if let Some(rest) = lower.strip_prefix("0x") {
            (16, rest.trim_start_matches('_').to_string())
        } else if let Some(rest) = lower.strip_prefix("0o") {
            (8, rest.trim_start_matches('_').to_string())
        } else if let Some(rest) = lower.strip_prefix("0b") {
            (2, rest.trim_start_matches('_').to_string())
        } else {
            (10, lower.clone())
        }
    } else {
        (base, lower.clone())
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let digits: String = body.chars().filter(|&c| c != '_').collect();
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Base 0 refuses decimal literals with leading zeros ("010"), except zero itself.
    if base == 0 && radix == 10 && digits.len() > 1 && digits.starts_with('0') && digits.chars().any(|c| c != '0') {
        return None;
    }
    match i128::from_str_radix(&digits, radix) {
        Ok(m) => {
            let v = if negative { -m } else { m };
            Some(match i64::try_from(v) {
                Ok(v) => PyInt::Small(v),
                Err(_) => PyInt::Big(v.to_string()),
            })
        }
        Err(_) if radix == 10 => {
            let trimmed = digits.trim_start_matches('0');
            Some(PyInt::Big(format!("{}{trimmed}", if negative { "-" } else { "" })))
        }
        Err(_) => Some(PyInt::Big(format!(
            "{}{}{body}",
            if negative { "-" } else { "" },
            match radix {
                16 => "0x",
                8 => "0o",
                _ => "0b",
            }
        ))),
    }
}

fn parse_python_float(s: &str) -> Option<f64> {
    let t = s.trim_end_matches('\r');
    let lower = t.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    let negative = lower.starts_with('-');
    let special = match unsigned {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    if let Some(v) = special {
        return Some(if negative { -v } else { v });
    }
    t.parse::<f64>().ok()
}

/// Little-endian two's-complement integer of any width.
fn decode_long(bytes: &[u8]) -> Arg<'_> {
    if bytes.is_empty() {
        return Arg::Int(0);
    }
    if bytes.len() <= 8 {
        let negative = bytes[bytes.len() - 1] & 0x80 != 0;
        let mut buf = if negative { [0xffu8; 8] } else { [0u8; 8] };
        buf[..bytes.len()].copy_from_slice(bytes);
        return Arg::Int(i64::from_le_bytes(buf));
    }
    Arg::LongBytes(Blob::Borrowed(bytes))
}

/// Decimal text of a little-endian two's-complement integer (quadratic in its width: callers
/// bound the width they convert).
pub fn long_to_decimal(bytes: &[u8]) -> String {
    let negative = bytes.last().is_some_and(|b| b & 0x80 != 0);
    let mut magnitude: Vec<u8> = bytes.iter().rev().copied().collect();
    if negative {
        for b in magnitude.iter_mut() {
            *b = !*b;
        }
        for b in magnitude.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
    }
    let mut digits = Vec::new();
    let mut start = 0;
    while start < magnitude.len() {
        let mut rem = 0u32;
        for b in magnitude[start..].iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
        while start < magnitude.len() && magnitude[start] == 0 {
            start += 1;
        }
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    if negative {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// `codecs.escape_decode`, as `PyBytes_DecodeEscape` does it.
pub(crate) fn escape_decode(s: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(&e) = s.get(i) else {
            return Err("trailing \\ in string");
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match s.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let hex = s.get(i..i + 2).ok_or("invalid \\x escape")?;
                let text = std::str::from_utf8(hex).map_err(|_| "invalid \\x escape")?;
                let v = u8::from_str_radix(text, 16).map_err(|_| "invalid \\x escape")?;
                out.push(v);
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// `raw-unicode-escape` decoding: bytes are Latin-1 except `\uXXXX` and `\UXXXXXXXX` after an
/// odd run of backslashes.
pub(crate) fn raw_unicode_escape_decode(s: &[u8]) -> Result<Text<'_>, &'static str> {
    if !s.contains(&b'\\') && s.is_ascii() {
        return Ok(Text::Borrowed(std::str::from_utf8(s).unwrap_or_default()));
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b != b'\\' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let run_start = i;
        while i < s.len() && s[i] == b'\\' {
            i += 1;
        }
        let run = i - run_start;
        let escape = run % 2 == 1 && matches!(s.get(i), Some(b'u') | Some(b'U'));
        let literal = if escape { run - 1 } else { run };
        for _ in 0..literal {
            out.push('\\');
        }
        if escape {
            let width = if s[i] == b'u' { 4 } else { 8 };
            let hex = s.get(i + 1..i + 1 + width).ok_or("truncated \\uXXXX escape")?;
            let text = std::str::from_utf8(hex).map_err(|_| "truncated \\uXXXX escape")?;
            let code = u32::from_str_radix(text, 16).map_err(|_| "truncated \\uXXXX escape")?;
            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
            i += 1 + width;
        }
    }
    Ok(Text::owned(out))
}

/// UTF-8 that may encode surrogates (`surrogatepass`); surrogates become U+FFFD.
fn decode_surrogatepass(raw: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                out.push_str(std::str::from_utf8(&rest[..good]).ok()?);
                let tail = &rest[good..];
                if tail.len() >= 3
                    && tail[0] == 0xED
                    && (0xA0..=0xBF).contains(&tail[1])
                    && (0x80..=0xBF).contains(&tail[2])
                {
                    out.push('\u{fffd}');
                    rest = &tail[3..];
                } else {
                    return None;
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(data: &[u8]) -> Vec<(Opcode, Arg<'_>)> {
        let mut r = Reader::new(data, 0);
        let mut out = Vec::new();
        loop {
            let op = r.next_op().expect("valid stream");
            let stop = op.opcode == Opcode::STOP;
            out.push((op.opcode, op.arg));
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn int_line_follows_c_strtol() {
        assert_eq!(ops(b"I01\n.")[0].1, Arg::Bool(true));
        assert_eq!(ops(b"I00\n.")[0].1, Arg::Bool(false));
        assert_eq!(ops(b"I+0\n.")[0].1, Arg::Bool(false));
        assert_eq!(ops(b"I010\n.")[0].1, Arg::Int(8));
        assert_eq!(ops(b"I0x10\n.")[0].1, Arg::Int(16));
        assert_eq!(ops(b"I-42\n.")[0].1, Arg::Int(-42));
        assert_eq!(ops(b"I1_000\n.")[0].1, Arg::Int(1000));
        assert_eq!(
            ops(b"I123456789012345678901234567890\n.")[0].1,
            Arg::BigInt("123456789012345678901234567890".into())
        );
    }

    #[test]
    fn int_line_records_pickletools_divergence() {
        let data = b"I0x10\n.";
        let mut r = Reader::new(data, 0);
        r.next_op().unwrap();
        assert_eq!(r.divergences()[0].kind, DivergenceKind::NonDecimalInt);
        let mut r = Reader::new(b"I010\n.", 0);
        r.next_op().unwrap();
        assert_eq!(r.divergences().len(), 1, "010 is 8 for _pickle, 10 for pickletools");
        let mut r = Reader::new(b"I1_0\n.", 0);
        r.next_op().unwrap();
        assert!(r.divergences().is_empty(), "both read 10");
    }

    #[test]
    fn numeric_lines_stop_at_nul_like_c() {
        assert_eq!(ops(b"I1\x00\n.")[0].1, Arg::Bool(true));
        assert_eq!(ops(b"I42\x00junk\n.")[0].1, Arg::Int(42));
        assert_eq!(ops(b"L7\x00\n.")[0].1, Arg::Int(7));
        assert_eq!(ops(b"F1.5\x00\n.")[0].1, Arg::Float(1.5));
        assert_eq!(ops(b"(]p0\x0b\n.")[2].1, Arg::Index(0));
    }

    #[test]
    fn long_line_strips_l_suffix() {
        assert_eq!(ops(b"L12L\n.")[0].1, Arg::Int(12));
        assert_eq!(ops(b"L-5\n.")[0].1, Arg::Int(-5));
    }

    #[test]
    fn long1_two_complement() {
        assert_eq!(ops(b"\x8a\x02\xff\x00.")[0].1, Arg::Int(255));
        assert_eq!(ops(b"\x8a\x01\xff.")[0].1, Arg::Int(-1));
        assert_eq!(ops(b"\x8a\x00.")[0].1, Arg::Int(0));
        assert_eq!(
            long_to_decimal(b"\x00\x00\x00\x00\x00\x00\x00\x00\x01"),
            "18446744073709551616"
        );
        assert_eq!(
            long_to_decimal(b"\x00\x00\x00\x00\x00\x00\x00\x00\xff"),
            "-18446744073709551616"
        );
        assert_eq!(long_to_decimal(b"\xff"), "-1");
        assert!(matches!(
            ops(b"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01.")[0].1,
            Arg::LongBytes(_)
        ));
    }

    #[test]
    fn string_escapes_and_quotes() {
        let Arg::Str8(b) = &ops(b"S'\\x6fs'\n.")[0].1 else {
            panic!()
        };
        assert_eq!(&b[..], b"os");
        let Arg::Str8(b) = &ops(b"S\"a\\'b\\n\\101\"\n.")[0].1 else {
            panic!()
        };
        assert_eq!(&b[..], b"a'b\nA");
        let err = Reader::new(b"S'abc\"\n.", 0).next_op().unwrap_err();
        assert!(matches!(err.kind, ReadErrorKind::BadOperand { .. }));
    }

    #[test]
    fn unicode_raw_escape() {
        let Arg::Text(t) = &ops(b"V\\u006fs\n.")[0].1 else {
            panic!()
        };
        assert_eq!(&**t, "os");
        let Arg::Text(t) = &ops(b"V\\\\u006f\n.")[0].1 else {
            panic!()
        };
        assert_eq!(&**t, "\\\\u006f");
        let Arg::Text(t) = &ops(b"V\xe9\n.")[0].1 else { panic!() };
        assert_eq!(&**t, "\u{e9}");
    }

    #[test]
    fn binunicode_surrogatepass() {
        let data = b"X\x03\x00\x00\x00\xed\xa0\x80.";
        let mut r = Reader::new(data, 0);
        let op = r.next_op().unwrap();
        assert_eq!(op.arg, Arg::Text(Text::owned("\u{fffd}")));
        assert_eq!(r.divergences()[0].kind, DivergenceKind::LoneSurrogate);
    }

    #[test]
    fn negative_and_oversized_lengths() {
        let e = Reader::new(b"T\xff\xff\xff\xffabc", 0).next_op().unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::NegativeLength(Opcode::BINSTRING));
        let e = Reader::new(b"\x8e\xff\xff\xff\xff\xff\xff\xff\xff", 0)
            .next_op()
            .unwrap_err();
        assert_eq!(
            e.kind,
            ReadErrorKind::Truncated {
                opcode: Some(Opcode::BINBYTES8)
            }
        );
        let e = Reader::new(b"\x84\x00\x00\x00\x00", 0).next_op().unwrap_err();
        assert!(matches!(e.kind, ReadErrorKind::BadOperand { .. }));
    }

    #[test]
    fn frame_straddle_is_recorded_and_read_through() {
        // FRAME of 2 bytes, then BINBYTES whose length runs past the frame.
        let mut data = b"\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00B\x03\x00\x00\x00abc".to_vec();
        data.push(b'.');
        let mut r = Reader::new(&data, 0);
        r.next_op().unwrap();
        r.next_op().unwrap();
        let op = r.next_op().unwrap();
        assert_eq!(op.opcode, Opcode::BINBYTES);
        assert_eq!(r.divergences()[0].kind, DivergenceKind::FrameStraddle { frame_end: 13 });
    }

    #[test]
    fn frame_longer_than_data_is_read_through_and_recorded() {
        let mut r = Reader::new(b"\x95\xff\x00\x00\x00\x00\x00\x00\x00N.", 0);
        r.next_op().unwrap();
        assert_eq!(r.next_op().unwrap().opcode, Opcode::NONE);
        assert_eq!(
            r.divergences()[0].kind,
            DivergenceKind::FrameOverrun {
                declared: 255,
                available: 2
            }
        );
    }

    #[test]
    fn unknown_opcode_and_missing_stop() {
        let e = Reader::new(b"\xff", 0).next_op().unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::UnknownOpcode(0xff));
        let e = Reader::new(b"", 0).next_op().unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Truncated { opcode: None });
        let e = Reader::new(b"cos\nsys", 0).next_op().unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::MissingNewline(Opcode::GLOBAL));
    }
}
