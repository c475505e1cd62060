//! The pickle opcode table, protocols 0 to 5, as CPython's `_pickle` module defines it.

/// How an opcode's argument is encoded in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    None,
    /// One unsigned byte.
    U1,
    /// Two bytes, unsigned little-endian.
    U2,
    /// Four bytes, signed little-endian.
    I4,
    /// Four bytes, unsigned little-endian.
    U4,
    /// Eight bytes, unsigned little-endian.
    U8,
    /// IEEE-754 double, big-endian.
    F8,
    /// A decimal integer terminated by `\n` (INT, GET, PUT).
    DecimalLine,
    /// A decimal long terminated by `\n`, optionally with a trailing `L`.
    LongLine,
    /// A float written as text terminated by `\n`.
    FloatLine,
    /// A quoted, escaped string terminated by `\n` (STRING).
    QuotedLine,
    /// Raw-unicode-escape text terminated by `\n` (UNICODE).
    UnicodeLine,
    /// Text terminated by `\n`, no escapes (PERSID).
    RawLine,
    /// Two `\n`-terminated lines: module and name (GLOBAL, INST).
    TwoLines,
    /// Length-prefixed bytes; the prefix size and signedness follow.
    Bytes1,
    Bytes4Signed,
    Bytes4,
    Bytes8,
    /// Length-prefixed UTF-8 text.
    Utf8_1,
    Utf8_4,
    Utf8_8,
    /// Length-prefixed little-endian two's-complement integer (LONG1, LONG4).
    Long1,
    Long4,
}

macro_rules! opcodes {
    ($($name:ident = $byte:literal, $arg:ident, $proto:literal;)*) => {
        /// A pickle opcode.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        pub enum Opcode { $($name),* }

        impl Opcode {
            /// Every opcode, in table order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$name),*];

            /// A table lookup: this runs once per opcode read.
            #[inline]
            pub fn from_byte(byte: u8) -> Option<Opcode> {
                const BY_BYTE: [Option<Opcode>; 256] = {
                    let mut table = [None; 256];
                    $(table[$byte as usize] = Some(Opcode::$name);)*
                    table
                };
                BY_BYTE[byte as usize]
            }

            pub fn byte(self) -> u8 {
                match self { $(Opcode::$name => $byte),* }
            }

            /// The name `pickletools` uses.
            pub fn name(self) -> &'static str {
                match self { $(Opcode::$name => stringify!($name)),* }
            }

            #[inline]
            pub fn arg_kind(self) -> ArgKind {
                match self { $(Opcode::$name => ArgKind::$arg),* }
            }

            /// The protocol that introduced the opcode.
            pub fn protocol(self) -> u8 {
                match self { $(Opcode::$name => $proto),* }
            }
        }
    };
}

opcodes! {
    MARK = b'(', None, 0;
    STOP = b'.', None, 0;
    POP = b'0', None, 0;
    POP_MARK = b'1', None, 1;
    DUP = b'2', None, 0;
    FLOAT = b'F', FloatLine, 0;
    INT = b'I', DecimalLine, 0;
    BININT = b'J', I4, 1;
    BININT1 = b'K', U1, 1;
    LONG = b'L', LongLine, 0;
    BININT2 = b'M', U2, 1;
    NONE = b'N', None, 0;
    PERSID = b'P', RawLine, 0;
    BINPERSID = b'Q', None, 1;
    REDUCE = b'R', None, 0;
    STRING = b'S', QuotedLine, 0;
    BINSTRING = b'T', Bytes4Signed, 1;
    SHORT_BINSTRING = b'U', Bytes1, 1;
    UNICODE = b'V', UnicodeLine, 0;
    BINUNICODE = b'X', Utf8_4, 1;
    APPEND = b'a', None, 0;
    BUILD = b'b', None, 0;
    GLOBAL = b'c', TwoLines, 0;
    DICT = b'd', None, 0;
    EMPTY_DICT = b'}', None, 1;
    APPENDS = b'e', None, 1;
    GET = b'g', DecimalLine, 0;
    BINGET = b'h', U1, 1;
    INST = b'i', TwoLines, 0;
    LONG_BINGET = b'j', U4, 1;
    LIST = b'l', None, 0;
    EMPTY_LIST = b']', None, 1;
    OBJ = b'o', None, 1;
    PUT = b'p', DecimalLine, 0;
    BINPUT = b'q', U1, 1;
    LONG_BINPUT = b'r', U4, 1;
    SETITEM = b's', None, 0;
    TUPLE = b't', None, 0;
    EMPTY_TUPLE = b')', None, 1;
    SETITEMS = b'u', None, 1;
    BINFLOAT = b'G', F8, 1;
    PROTO = 0x80, U1, 2;
    NEWOBJ = 0x81, None, 2;
    EXT1 = 0x82, U1, 2;
    EXT2 = 0x83, U2, 2;
    EXT4 = 0x84, I4, 2;
    TUPLE1 = 0x85, None, 2;
    TUPLE2 = 0x86, None, 2;
    TUPLE3 = 0x87, None, 2;
    NEWTRUE = 0x88, None, 2;
    NEWFALSE = 0x89, None, 2;
    LONG1 = 0x8a, Long1, 2;
    LONG4 = 0x8b, Long4, 2;
    BINBYTES = b'B', Bytes4, 3;
    SHORT_BINBYTES = b'C', Bytes1, 3;
    SHORT_BINUNICODE = 0x8c, Utf8_1, 4;
    BINUNICODE8 = 0x8d, Utf8_8, 4;
    BINBYTES8 = 0x8e, Bytes8, 4;
    EMPTY_SET = 0x8f, None, 4;
    ADDITEMS = 0x90, None, 4;
    FROZENSET = 0x91, None, 4;
    NEWOBJ_EX = 0x92, None, 4;
    STACK_GLOBAL = 0x93, None, 4;
    MEMOIZE = 0x94, None, 4;
    FRAME = 0x95, U8, 4;
    BYTEARRAY8 = 0x96, Bytes8, 5;
    NEXT_BUFFER = 0x97, None, 5;
    READONLY_BUFFER = 0x98, None, 5;
}

/// The highest protocol CPython's unpickler accepts in a PROTO opcode.
pub const HIGHEST_PROTOCOL: u8 = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_all_68_opcodes_with_unique_bytes() {
        assert_eq!(Opcode::ALL.len(), 68);
        let mut bytes: Vec<u8> = Opcode::ALL.iter().map(|op| op.byte()).collect();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes.len(), 68);
        for op in Opcode::ALL {
            assert_eq!(Opcode::from_byte(op.byte()), Some(*op));
        }
    }
}
