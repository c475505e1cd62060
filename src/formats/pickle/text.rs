//! Shared, cheaply clonable text and byte payloads: borrowed from the input where the stream
//! holds them verbatim, owned where decoding changed them.

use std::fmt;
use std::ops::Deref;
use std::rc::Rc;

#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Text<'a> {
    Borrowed(&'a str),
    Owned(Rc<str>),
    /// Built at load time by a modelled call (a decoder, `operator.add`, `str.join`…), not
    /// written in the stream: a name made this way is an evasion signal.
    Computed(Rc<str>),
}

impl<'a> Text<'a> {
    pub fn owned(s: impl Into<Rc<str>>) -> Self {
        Text::Owned(s.into())
    }

    pub fn is_computed(&self) -> bool {
        matches!(self, Text::Computed(_))
    }
}

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) | Text::Computed(s) => s,
        }
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Blob<'a> {
    Borrowed(&'a [u8]),
    Owned(Rc<[u8]>),
}

impl Deref for Blob<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Blob::Borrowed(b) => b,
            Blob::Owned(b) => b,
        }
    }
}

impl fmt::Debug for Blob<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.len())
    }
}
