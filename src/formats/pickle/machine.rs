//! The symbolic pickle machine: CPython's unpickler loop with every object replaced by a
//! symbolic [`Value`], reporting each import and call a load would make to an [`Observer`].

use super::opcodes::{Opcode, HIGHEST_PROTOCOL};
use super::reader::{long_to_decimal, Arg, Divergence, Op, ReadError, ReadErrorKind, Reader};
use super::semantics::{self, Budget, Resolved};
use super::text::{Blob, Text};
use super::value::{elide, Call, CallKind, ComputedGlobal, Global, GlobalOrigin, Pairs, Seq, Value, MAX_NAME_BYTES};
use crate::formats::joblib::{self, ArrayData, InlineArray};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

/// Wider LONG1/LONG4 integers are kept as a size note: decimal conversion is quadratic.
const MAX_DECIMAL_LONG_BYTES: usize = 64;

/// Resource limits for one stream. Defaults never bite on real models; hitting one is reported.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_opcodes: u64,
    pub max_stack: usize,
    pub max_marks: usize,
    pub max_memo: usize,
    /// Items kept per container; later items are counted, not kept.
    pub max_container_items: usize,
    /// Bytes the machine may allocate for decoded and computed values.
    pub max_tracked_bytes: usize,
    /// Largest single decoded or decompressed value (nested payloads).
    pub max_decoded_value: usize,
    /// Logical size (memo/DUP sharing counted each time) above which a stream is an expansion bomb.
    pub max_logical_size: u64,
    /// Nesting of containers and calls (`pickle.dumps` itself stops near 1,000). A chain of
    /// calls of calls or lookups of lookups keeps every link alive: this bounds its memory.
    pub max_depth: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_opcodes: 200_000_000,
            max_stack: 1_000_000,
            max_marks: 100_000,
            max_memo: 10_000_000,
            max_container_items: 1_024,
            max_tracked_bytes: 64 << 20,
            max_decoded_value: 32 << 20,
            max_logical_size: 100_000_000,
            max_depth: 20_000,
        }
    }
}

/// Receives what a load would do, in stream order.
pub trait Observer<'a> {
    fn on_op(&mut self, _op: &Op<'a>) {}
    fn on_global(&mut self, _global: &Rc<Global>) {}
    fn on_computed_global(&mut self, _global: &Rc<ComputedGlobal<'a>>) {}
    fn on_call(&mut self, _call: &Rc<Call<'a>>) {}
    /// BUILD: `target.__setstate__(state)` or attribute updates.
    fn on_build(&mut self, _offset: usize, _target: &Value<'a>, _state: &Value<'a>) {}
    /// STOP: the value `load()` returns.
    fn on_stop(&mut self, _result: &Value<'a>) {}
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineErrorKind {
    Read(super::reader::ReadErrorKind),
    StackUnderflow,
    MissingMark,
    MemoMissing(u64),
    OddItemCount,
    StackGlobalNotStr,
    UnsupportedProtocol(u8),
    Limit(LimitKind),
    /// A joblib inline array whose byte size cannot be computed (dtype given).
    InlineArray(String),
    /// The nested pickle of a joblib object array failed.
    InlineObjectArray(Box<MachineError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitKind {
    Opcodes,
    Stack,
    Marks,
    Memo,
    LogicalSize,
    Depth,
}

impl LimitKind {
    pub fn describe(self) -> &'static str {
        match self {
            LimitKind::Opcodes => "opcode count",
            LimitKind::Stack => "stack depth",
            LimitKind::Marks => "MARK nesting depth",
            LimitKind::Memo => "memo entries",
            LimitKind::LogicalSize => "logical object size (memo/DUP expansion)",
            LimitKind::Depth => "nesting depth",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineError {
    pub offset: usize,
    pub opcode: Option<Opcode>,
    pub kind: MachineErrorKind,
}

impl fmt::Display for MachineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = match self.opcode {
            Some(op) => format!("{} at byte {}", op.name(), self.offset),
            None => format!("byte {}", self.offset),
        };
        match &self.kind {
            MachineErrorKind::Read(kind) => write!(f, "{kind} (at byte {})", self.offset),
            MachineErrorKind::StackUnderflow => write!(f, "stack underflow ({at})"),
            MachineErrorKind::MissingMark => write!(f, "no MARK to pop to ({at})"),
            MachineErrorKind::MemoMissing(i) => write!(f, "memo has no entry {i} ({at})"),
            MachineErrorKind::OddItemCount => write!(f, "odd number of items for a dict ({at})"),
            MachineErrorKind::StackGlobalNotStr => {
                write!(f, "STACK_GLOBAL operands are not strings ({at})")
            }
            MachineErrorKind::UnsupportedProtocol(p) => {
                write!(f, "unsupported pickle protocol {p} ({at})")
            }
            MachineErrorKind::Limit(l) => write!(f, "{} limit reached ({at})", l.describe()),
            MachineErrorKind::InlineArray(dtype) => {
                write!(f, "cannot size the joblib array of dtype {dtype} that follows ({at})")
            }
            MachineErrorKind::InlineObjectArray(inner) => {
                write!(f, "the pickle of a joblib object array failed: {inner}")
            }
        }
    }
}

/// What happened to one pickle stream.
#[derive(Debug, Clone)]
pub struct StreamReport {
    pub start: usize,
    /// Offset just past STOP, or where the error was found.
    pub end: usize,
    /// Offset of the STOP opcode, when the stream completed.
    pub stop: Option<usize>,
    pub error: Option<MachineError>,
    pub opcodes: u64,
    /// PROTO opcodes seen: (offset, protocol).
    pub protocols: Vec<(usize, u8)>,
    pub divergences: Vec<Divergence>,
    pub max_stack: usize,
    pub max_marks: usize,
    pub memo_entries: usize,
    pub calls: u32,
    pub globals: u32,
    /// Computed values refused for lack of budget (decoded payloads that were too large).
    pub budget_exhausted: bool,
    /// The largest logical size of any value built (shared containers counted each time).
    pub max_logical_size: u64,
    /// The deepest nesting of containers and calls built.
    pub max_depth: u32,
    /// joblib arrays read inline from the stream.
    pub inline_arrays: u32,
}

impl StreamReport {
    pub fn completed(&self) -> bool {
        self.error.is_none()
    }
}

/// Runs one pickle stream starting at `start` until STOP or an error. Arrays that joblib's
/// unpickler reads inline after a NumpyArrayWrapper's BUILD are skipped (or, for object arrays,
/// analysed as the nested pickle they are).
pub fn run_stream<'a>(data: &'a [u8], start: usize, limits: &Limits, observer: &mut dyn Observer<'a>) -> StreamReport {
    run(data, start, limits, observer, true, 0)
}

/// Like [`run_stream`], without joblib's inline arrays: how plain `pickle.load` reads the bytes.
pub fn run_stream_without_inline_arrays<'a>(
    data: &'a [u8],
    start: usize,
    limits: &Limits,
    observer: &mut dyn Observer<'a>,
) -> StreamReport {
    run(data, start, limits, observer, false, 0)
}

fn run<'a>(
    data: &'a [u8],
    start: usize,
    limits: &Limits,
    observer: &mut dyn Observer<'a>,
    inline_arrays: bool,
    first_call_id: u32,
) -> StreamReport {
    let mut machine = Machine {
        inline_arrays,
        reader: Reader::new(data, start),
        limits,
        stack: Stack::default(),
        marks: Vec::new(),
        memo: Memo::default(),
        proto: 0,
        extensions: HashMap::new(),
        next_call_id: first_call_id,
        budget: Budget {
            bytes_left: limits.max_tracked_bytes,
            max_value: limits.max_decoded_value,
            exhausted: false,
        },
        observer,
        report: StreamReport {
            start,
            end: start,
            stop: None,
            error: None,
            opcodes: 0,
            protocols: Vec::new(),
            divergences: Vec::new(),
            max_stack: 0,
            max_marks: 0,
            memo_entries: 0,
            calls: 0,
            globals: 0,
            budget_exhausted: false,
            max_logical_size: 0,
            max_depth: 0,
            inline_arrays: 0,
        },
    };
    machine.run();
    let Machine {
        reader,
        mut report,
        memo,
        budget,
        ..
    } = machine;
    let mut divergences = reader.divergences().to_vec();
    divergences.append(&mut report.divergences);
    report.divergences = divergences;
    report.memo_entries = memo.len();
    report.budget_exhausted = budget.exhausted;
    report
}

/// The memo. Entries are slots in pools of values, and a value stored again (the same scalar,
/// or the same object just stored) reuses its slot: a stream that memoizes one value millions
/// of times costs 4 bytes per entry, not a value each. Strings borrowed from the stream, which
/// picklers memoize more than anything else, have a pool of their own at half a value's size.
#[derive(Default)]
struct Memo<'a> {
    dense: Vec<u32>,
    sparse: HashMap<u64, u32>,
    values: Pool<Value<'a>>,
    strs: Pool<&'a str>,
    scalars: HashMap<Scalar, u32>,
    /// The slot of the last object (not scalar) stored.
    last_object: Option<u32>,
    len: usize,
}

/// A dense slot that holds nothing.
const EMPTY: u32 = u32::MAX;

/// Marks a slot of the string pool (the pools hold fewer than 2^31 entries: see `memo_put`).
const STR_SLOT: u32 = 1 << 31;

/// Items in fixed-size chunks: growing never copies what is stored (a doubling vector would
/// move, and briefly hold twice, millions of values). The first chunk grows as needed, so the
/// many small streams of a scan do not each reserve a whole chunk.
struct Pool<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Pool<T> {
    fn default() -> Self {
        Pool {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

const CHUNK: usize = 1 << 14;

impl<T> Pool<T> {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, slot: usize) -> Option<&T> {
        self.chunks.get(slot / CHUNK)?.get(slot % CHUNK)
    }

    fn push_with(&mut self, make: impl FnMut() -> T) {
        if self.len % CHUNK == 0 {
            let chunk = if self.chunks.is_empty() {
                Vec::new()
            } else {
                Vec::with_capacity(CHUNK)
            };
            self.chunks.push(chunk);
        }
        if let Some(chunk) = self.chunks.last_mut() {
            push_in_place(chunk, make);
            self.len += 1;
        }
    }
}

/// The machine's stack, in fixed-size segments: a stream that piles millions of values under
/// one mark grows it without copying them (a doubling vector copies, and for a moment holds,
/// every value twice). Segment `k` holds values `k * SEGMENT ..`; the first grows as needed.
#[derive(Default)]
struct Stack<'a> {
    segments: Vec<Vec<Value<'a>>>,
    len: usize,
}

const SEGMENT: usize = 1 << 14;

impl<'a> Stack<'a> {
    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, index: usize) -> Option<&Value<'a>> {
        self.segments.get(index / SEGMENT)?.get(index % SEGMENT)
    }

    fn last(&self) -> Option<&Value<'a>> {
        self.get(self.len.checked_sub(1)?)
    }

    fn push(&mut self, value: Value<'a>) {
        self.segment_for_push().push(value);
        self.len += 1;
    }

    /// Pushes the value `make` builds, in place (see `push_in_place`).
    fn push_with(&mut self, make: impl FnMut() -> Value<'a>) {
        push_in_place(self.segment_for_push(), make);
        self.len += 1;
    }

    fn segment_for_push(&mut self) -> &mut Vec<Value<'a>> {
        let index = self.len / SEGMENT;
        if index == self.segments.len() {
            let capacity = if index == 0 { 0 } else { SEGMENT };
            self.segments.push(Vec::with_capacity(capacity));
        }
        &mut self.segments[index]
    }

    fn pop(&mut self) -> Option<Value<'a>> {
        self.len = self.len.checked_sub(1)?;
        let index = self.len / SEGMENT;
        // One emptied segment is kept, so that pushing and popping across a boundary does not
        // allocate each time.
        self.segments.truncate(index + 2);
        self.segments[index].pop()
    }

    /// Removes the values from `start` up, handing them to `take` in order, one segment's
    /// worth at a time: `take` empties the vector from the given index on.
    fn take_from(&mut self, start: usize, mut take: impl FnMut(&mut Vec<Value<'a>>, usize)) {
        let start = start.min(self.len);
        let first = start / SEGMENT;
        for (i, segment) in self.segments.iter_mut().enumerate().skip(first) {
            let from = if i == first { start % SEGMENT } else { 0 };
            if segment.len() > from {
                take(segment, from);
                segment.truncate(from);
            }
        }
        self.segments.truncate(first + 2);
        self.len = start;
    }

    fn split_off(&mut self, start: usize) -> Vec<Value<'a>> {
        let mut items = Vec::new();
        self.take_from(start, |segment, from| move_tail(&mut items, segment, from));
        items
    }
}

/// Pushes the value `make` builds straight into the vector's next slot. `Vec::push` takes the
/// value first, so it is built in a stack temporary one field at a time and then copied into
/// place with loads wider than the stores that wrote it: a store-forwarding stall that cost
/// more than the rest of a simple opcode's step.
#[inline(always)]
fn push_in_place<T>(values: &mut Vec<T>, make: impl FnMut() -> T) {
    let len = values.len();
    values.resize_with(len + 1, make);
}

/// Adds the values of `source` from `from` on to `seq`: kept ones are moved in bulk, those
/// past the container limit only counted (and dropped where they lie).
fn fill_seq_from<'a>(seq: &mut Seq<'a>, source: &mut Vec<Value<'a>>, from: usize, max_items: usize) {
    for item in &source[from..] {
        seq.weight = seq.weight.saturating_add(item.weight());
        seq.depth = seq.depth.max(item.depth().saturating_add(1));
    }
    let count = source.len() - from;
    let keep = max_items.saturating_sub(seq.items.len()).min(count);
    source.truncate(from + keep);
    move_tail(&mut seq.items, source, from);
    seq.omitted += (count - keep) as u64;
}

/// Moves `source[from..]` on to the end of `target` as one block copy. Draining item by item
/// hands each value back through an `Option` temporary, with a store-forwarding stall per item
/// (a twentieth of the time of a whole-model pickle).
fn move_tail<T>(target: &mut Vec<T>, source: &mut Vec<T>, from: usize) {
    if from == 0 && target.is_empty() && source.capacity() / 2 <= source.len() {
        // All of a buffer these items fill at least half of: it changes hands, nothing moves.
        // (Not a mostly empty one: a tuple of one item must not keep a stack segment's
        // capacity alive.)
        std::mem::swap(target, source);
    } else if from == 0 {
        // `split_off(0)` would give `source` a new buffer of the same capacity.
        target.append(source);
    } else if target.is_empty() {
        *target = source.split_off(from);
    } else {
        target.append(&mut source.split_off(from));
    }
}

/// Key/value pairs from an even number of items.
fn fill_pairs<'a>(pairs: &mut Pairs<'a>, items: impl IntoIterator<Item = Value<'a>>, max_items: usize) {
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        pairs.weight = pairs.weight.saturating_add(k.weight()).saturating_add(v.weight());
        pairs.depth = pairs.depth.max(k.depth().max(v.depth()).saturating_add(1));
        // Duplicate keys are kept in order; lookups take the last one, as a dict would.
        if pairs.items.len() < max_items {
            pairs.items.push((k, v));
        } else {
            pairs.omitted += 1;
        }
    }
}

/// Scalars compared by value for pool reuse (floats by their bits).
#[derive(PartialEq, Eq, Hash)]
enum Scalar {
    None,
    Bool(bool),
    Int(i64),
    Float(u64),
}

/// How far past the end of the dense memo an index may land and still extend it.
const DENSE_SLACK: u64 = 1 << 16;

impl<'a> Memo<'a> {
    fn len(&self) -> usize {
        self.len
    }

    /// Values held, counting those of overwritten entries (bounded like entries).
    fn pool_len(&self) -> usize {
        self.values.len() + self.strs.len()
    }

    /// The slot of entry `idx`, when there is one.
    fn slot(&self, idx: u64) -> Option<u32> {
        let slot = if idx < self.dense.len() as u64 {
            self.dense[idx as usize]
        } else {
            *self.sparse.get(&idx)?
        };
        (slot != EMPTY).then_some(slot)
    }

    /// The value in a slot that [`Memo::slot`] returned.
    fn value(&self, slot: u32) -> Value<'a> {
        let held = if slot & STR_SLOT != 0 {
            self.strs
                .get((slot & !STR_SLOT) as usize)
                .map(|s| Value::Str(Text::Borrowed(s)))
        } else {
            self.values.get(slot as usize).cloned()
        };
        held.expect("memo slots point into the pools")
    }

    fn get(&self, idx: u64) -> Option<Value<'a>> {
        self.slot(idx).map(|slot| self.value(slot))
    }

    fn slot_for(&mut self, value: &Value<'a>) -> u32 {
        let scalar = match value {
            Value::None => Some(Scalar::None),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Int(i) => Some(Scalar::Int(*i)),
            Value::Float(f) => Some(Scalar::Float(f.to_bits())),
            _ => None,
        };
        if let Some(key) = scalar {
            if let Some(&slot) = self.scalars.get(&key) {
                return slot;
            }
            let slot = self.values.len() as u32;
            self.values.push_with(|| value.clone());
            self.scalars.insert(key, slot);
            return slot;
        }
        if let Some(slot) = self.last_object {
            let same = if slot & STR_SLOT != 0 {
                self.strs
                    .get((slot & !STR_SLOT) as usize)
                    .is_some_and(|s| matches!(value, Value::Str(Text::Borrowed(v)) if std::ptr::eq(*s, *v)))
            } else {
                self.values.get(slot as usize).is_some_and(|v| v.same_object(value))
            };
            if same {
                return slot;
            }
        }
        let slot = if let Value::Str(Text::Borrowed(s)) = value {
            let slot = STR_SLOT | self.strs.len() as u32;
            self.strs.push_with(|| s);
            slot
        } else {
            let slot = self.values.len() as u32;
            self.values.push_with(|| value.clone());
            slot
        };
        self.last_object = Some(slot);
        slot
    }

    fn put(&mut self, idx: u64, value: &Value<'a>) {
        let slot = self.slot_for(value);
        // Picklers number memo entries 0, 1, 2…: those live in a vector that grows with them;
        // far-off indices (a hostile 0xFFFFFFFF) go to a map and never size the vector.
        let len = self.dense.len() as u64;
        let dense = idx < len || (idx < len + DENSE_SLACK && self.sparse.is_empty());
        let fresh = if dense {
            let i = idx as usize;
            if i >= self.dense.len() {
                self.dense.resize(i + 1, EMPTY);
            }
            std::mem::replace(&mut self.dense[i], slot) == EMPTY
        } else {
            self.sparse.insert(idx, slot).is_none()
        };
        if fresh {
            self.len += 1;
        }
    }
}

struct Machine<'a, 'l, 'o> {
    inline_arrays: bool,
    reader: Reader<'a>,
    limits: &'l Limits,
    stack: Stack<'a>,
    marks: Vec<usize>,
    memo: Memo<'a>,
    proto: u8,
    extensions: HashMap<u64, Extension<'a>>,
    next_call_id: u32,
    budget: Budget,
    observer: &'o mut dyn Observer<'a>,
    report: StreamReport,
}

type Step<T> = Result<T, MachineErrorKind>;

/// What an EXT code resolves to once the stream itself filled copyreg's tables.
#[derive(Clone)]
enum Extension<'a> {
    Named(Rc<str>, Rc<str>),
    Cached(Value<'a>),
}

impl<'a> Machine<'a, '_, '_> {
    fn run(&mut self) {
        // One slot for every decoded op: the reader writes each operand in place, and the
        // steps read it by reference (moving a decoded op costs more than a simple step).
        let mut slot = Op::default();
        loop {
            if let Err(ReadError { offset, kind }) = self.reader.read_into(&mut slot) {
                self.fail(offset, None, MachineErrorKind::Read(kind));
                return;
            }
            let op = &slot;
            self.report.opcodes += 1;
            self.observer.on_op(op);
            if self.report.opcodes > self.limits.max_opcodes {
                self.fail(op.offset, Some(op.opcode), MachineErrorKind::Limit(LimitKind::Opcodes));
                return;
            }
            let offset = op.offset;
            let opcode = op.opcode;
            match self.step(op) {
                Ok(true) => {
                    self.report.stop = Some(offset);
                    self.report.end = self.reader.position();
                    return;
                }
                Ok(false) => {}
                Err(kind) => {
                    self.fail(offset, Some(opcode), kind);
                    return;
                }
            }
            self.report.max_stack = self.report.max_stack.max(self.stack.len());
            if self.stack.len() > self.limits.max_stack {
                self.fail(offset, Some(opcode), MachineErrorKind::Limit(LimitKind::Stack));
                return;
            }
            if self.report.max_depth > self.limits.max_depth {
                self.fail(offset, Some(opcode), MachineErrorKind::Limit(LimitKind::Depth));
                return;
            }
        }
    }

    fn fail(&mut self, offset: usize, opcode: Option<Opcode>, kind: MachineErrorKind) {
        self.report.error = Some(MachineError { offset, opcode, kind });
        self.report.end = offset;
    }

    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, value: Value<'a>) {
        self.stack.push(value);
    }

    // The commonest pushes build their value in place (see `push_in_place`), in functions of
    // their own: inlined into `step`, the compiler merges them with the other pushes through a
    // shared temporary again (measured 5% slower).
    #[inline(never)]
    fn push_int(&mut self, value: i64) {
        self.stack.push_with(|| Value::Int(value));
    }

    #[inline(never)]
    fn push_text(&mut self, text: &Text<'a>) {
        self.stack.push_with(|| Value::Str(text.clone()));
    }

    fn pop(&mut self) -> Step<Value<'a>> {
        if self.stack.len() <= self.fence() {
            return Err(MachineErrorKind::StackUnderflow);
        }
        Ok(self.stack.pop().expect("checked above the fence"))
    }

    fn top(&self) -> Step<&Value<'a>> {
        if self.stack.len() <= self.fence() {
            return Err(MachineErrorKind::StackUnderflow);
        }
        Ok(self.stack.last().expect("checked above the fence"))
    }

    fn pop_mark(&mut self) -> Step<Vec<Value<'a>>> {
        let mark = self.take_mark()?;
        Ok(self.stack.split_off(mark))
    }

    /// Pops the topmost mark and returns where its items start. Opcodes that move the items
    /// into a container drain them from there: a mark over millions of values must not be
    /// copied to a second vector first.
    fn take_mark(&mut self) -> Step<usize> {
        let mark = self.marks.pop().ok_or(MachineErrorKind::MissingMark)?;
        Ok(mark.min(self.stack.len()))
    }

    /// Where the top `n` values start, when they sit above the fence.
    fn top_n(&self, n: usize) -> Step<usize> {
        match self.stack.len().checked_sub(n) {
            Some(start) if start >= self.fence() => Ok(start),
            _ => Err(MachineErrorKind::StackUnderflow),
        }
    }

    fn seq(&mut self, mut items: Vec<Value<'a>>) -> Step<Seq<'a>> {
        let mut seq = Seq::empty();
        fill_seq_from(&mut seq, &mut items, 0, self.limits.max_container_items);
        self.check_weight(seq.weight, seq.depth)?;
        Ok(seq)
    }

    /// A sequence of the stack's values from `start` up.
    fn seq_from(&mut self, start: usize) -> Step<Seq<'a>> {
        let mut seq = Seq::empty();
        self.fill_seq(&mut seq, start)?;
        Ok(seq)
    }

    /// Moves the stack's values from `start` up into `seq`.
    fn fill_seq(&mut self, seq: &mut Seq<'a>, start: usize) -> Step<()> {
        let max = self.limits.max_container_items;
        self.stack
            .take_from(start, |items, from| fill_seq_from(seq, items, from, max));
        self.check_weight(seq.weight, seq.depth)
    }

    /// Moves the stack's key/value pairs from `start` up into `pairs`.
    fn fill_pairs(&mut self, pairs: &mut Pairs<'a>, start: usize) -> Step<()> {
        if (self.stack.len() - start) % 2 != 0 {
            return Err(MachineErrorKind::OddItemCount);
        }
        fill_pairs(pairs, self.stack.split_off(start), self.limits.max_container_items);
        self.check_weight(pairs.weight, pairs.depth)
    }

    fn check_weight(&mut self, weight: u64, depth: u32) -> Step<()> {
        self.report.max_logical_size = self.report.max_logical_size.max(weight);
        self.report.max_depth = self.report.max_depth.max(depth);
        if weight > self.limits.max_logical_size {
            return Err(MachineErrorKind::Limit(LimitKind::LogicalSize));
        }
        Ok(())
    }

    fn tuple(&mut self, items: Vec<Value<'a>>) -> Step<Value<'a>> {
        Ok(Value::Tuple(Rc::new(self.seq(items)?)))
    }

    /// Returns Ok(true) at STOP.
    fn step(&mut self, op: &Op<'a>) -> Step<bool> {
        let offset = op.offset;
        match op.opcode {
            Opcode::STOP => {
                let result = self.pop()?;
                self.observer.on_stop(&result);
                return Ok(true);
            }
            Opcode::MARK => {
                if self.marks.len() >= self.limits.max_marks {
                    return Err(MachineErrorKind::Limit(LimitKind::Marks));
                }
                self.marks.push(self.stack.len());
                self.report.max_marks = self.report.max_marks.max(self.marks.len());
            }
            Opcode::POP => {
                // C's load_pop pops the mark itself when nothing sits above it.
                if self.stack.len() > self.fence() {
                    let value = self.stack.pop().expect("above the fence");
                    mark_discarded(&value);
                } else if self.marks.pop().is_none() {
                    return Err(MachineErrorKind::StackUnderflow);
                }
            }
            Opcode::POP_MARK => {
                for value in self.pop_mark()? {
                    mark_discarded(&value);
                }
            }
            Opcode::DUP => {
                let top = self.top()?.clone();
                self.push(top);
            }
            Opcode::PROTO => {
                let Arg::Proto(p) = op.arg else {
                    unreachable!("PROTO carries a protocol")
                };
                self.report.protocols.push((offset, p));
                if p > HIGHEST_PROTOCOL {
                    return Err(MachineErrorKind::UnsupportedProtocol(p));
                }
                self.proto = p;
            }
            Opcode::FRAME => {}
            Opcode::NONE => self.push(Value::None),
            Opcode::NEWTRUE => self.push(Value::Bool(true)),
            Opcode::NEWFALSE => self.push(Value::Bool(false)),
            Opcode::INT
            | Opcode::BININT
            | Opcode::BININT1
            | Opcode::BININT2
            | Opcode::LONG
            | Opcode::LONG1
            | Opcode::LONG4
            | Opcode::FLOAT
            | Opcode::BINFLOAT => {
                let value = match &op.arg {
                    Arg::Int(i) => {
                        self.push_int(*i);
                        return Ok(false);
                    }
                    Arg::BigInt(s) => Value::BigInt(s.clone()),
                    Arg::LongBytes(b) if b.len() <= MAX_DECIMAL_LONG_BYTES => Value::BigInt(long_to_decimal(b).into()),
                    Arg::LongBytes(b) => Value::BigInt(format!("<{}-byte int>", b.len()).into()),
                    Arg::Bool(b) => Value::Bool(*b),
                    Arg::Float(f) => Value::Float(*f),
                    _ => unreachable!("numeric opcodes carry numbers"),
                };
                self.push(value);
            }
            Opcode::STRING | Opcode::BINSTRING | Opcode::SHORT_BINSTRING => {
                let Arg::Str8(bytes) = &op.arg else {
                    unreachable!("STRING family carries bytes")
                };
                // Python 3 decodes Python 2 strings; names must be text to be imported.
                let value = match bytes {
                    Blob::Borrowed(b) => match std::str::from_utf8(b) {
                        Ok(s) => Value::Str(Text::Borrowed(s)),
                        Err(_) => Value::Bytes(bytes.clone()),
                    },
                    Blob::Owned(b) => match std::str::from_utf8(b) {
                        Ok(s) => Value::Str(Text::owned(s)),
                        Err(_) => Value::Bytes(bytes.clone()),
                    },
                };
                self.push(value);
            }
            Opcode::UNICODE | Opcode::BINUNICODE | Opcode::SHORT_BINUNICODE | Opcode::BINUNICODE8 => {
                let Arg::Text(t) = &op.arg else {
                    unreachable!("unicode opcodes carry text")
                };
                self.push_text(t);
            }
            Opcode::BINBYTES | Opcode::SHORT_BINBYTES | Opcode::BINBYTES8 => {
                let Arg::Bytes(b) = &op.arg else {
                    unreachable!("bytes opcodes carry bytes")
                };
                self.push(Value::Bytes(b.clone()));
            }
            Opcode::BYTEARRAY8 => {
                let Arg::Bytes(b) = &op.arg else {
                    unreachable!("BYTEARRAY8 carries bytes")
                };
                self.push(Value::ByteArray(b.clone()));
            }
            Opcode::NEXT_BUFFER => self.push(Value::Opaque("out-of-band buffer")),
            Opcode::READONLY_BUFFER => {
                self.top()?;
            }
            Opcode::EMPTY_TUPLE => {
                let t = self.tuple(Vec::new())?;
                self.push(t);
            }
            Opcode::TUPLE1 | Opcode::TUPLE2 | Opcode::TUPLE3 => {
                let n = match op.opcode {
                    Opcode::TUPLE1 => 1,
                    Opcode::TUPLE2 => 2,
                    _ => 3,
                };
                let start = self.top_n(n)?;
                let seq = self.seq_from(start)?;
                self.push(Value::Tuple(Rc::new(seq)));
            }
            Opcode::TUPLE => {
                let start = self.take_mark()?;
                let seq = self.seq_from(start)?;
                self.push(Value::Tuple(Rc::new(seq)));
            }
            Opcode::EMPTY_LIST => self.push(Value::List(Rc::new(RefCell::new(Seq::empty())))),
            Opcode::LIST => {
                let start = self.take_mark()?;
                let seq = self.seq_from(start)?;
                self.push(Value::List(Rc::new(RefCell::new(seq))));
            }
            Opcode::EMPTY_DICT => self.push(Value::Dict(Rc::new(RefCell::new(Pairs::empty())))),
            Opcode::DICT => {
                let start = self.take_mark()?;
                let mut pairs = Pairs::empty();
                self.fill_pairs(&mut pairs, start)?;
                self.push(Value::Dict(Rc::new(RefCell::new(pairs))));
            }
            Opcode::EMPTY_SET => self.push(Value::Set(Rc::new(RefCell::new(Seq::empty())))),
            Opcode::FROZENSET => {
                let start = self.take_mark()?;
                let seq = self.seq_from(start)?;
                self.push(Value::FrozenSet(Rc::new(seq)));
            }
            Opcode::APPEND => {
                let start = self.top_n(1)?;
                self.add_items(offset, op.opcode, start, "append")?;
            }
            Opcode::APPENDS => {
                let start = self.take_mark()?;
                self.add_items(offset, op.opcode, start, "extend")?;
            }
            Opcode::ADDITEMS => {
                let start = self.take_mark()?;
                self.add_items(offset, op.opcode, start, "add")?;
            }
            Opcode::SETITEM => {
                let start = self.top_n(2)?;
                self.set_items(offset, op.opcode, start)?;
            }
            Opcode::SETITEMS => {
                let start = self.take_mark()?;
                self.set_items(offset, op.opcode, start)?;
            }
            Opcode::GET | Opcode::BINGET | Opcode::LONG_BINGET => {
                let Arg::Index(i) = op.arg else {
                    unreachable!("GET family carries an index")
                };
                let slot = self.memo.slot(i).ok_or(MachineErrorKind::MemoMissing(i))?;
                let memo = &self.memo;
                self.stack.push_with(|| memo.value(slot));
            }
            Opcode::PUT | Opcode::BINPUT | Opcode::LONG_BINPUT => {
                let Arg::Index(i) = op.arg else {
                    unreachable!("PUT family carries an index")
                };
                self.memo_put(i)?;
            }
            Opcode::MEMOIZE => {
                self.memo_put(self.memo.len() as u64)?;
            }
            Opcode::GLOBAL => {
                let Arg::Global { module, name } = op.arg else {
                    unreachable!("GLOBAL carries names")
                };
                let global = self.make_global(offset, op.opcode, module, name, GlobalOrigin::Literal);
                self.push(global);
            }
            Opcode::STACK_GLOBAL => {
                let name = semantics::settle(&self.pop()?);
                let module = semantics::settle(&self.pop()?);
                let value = match (&module, &name) {
                    (Value::Str(m), Value::Str(n)) => {
                        let computed = m.is_computed() || n.is_computed();
                        let (m, n) = (m.to_string(), n.to_string());
                        self.make_global(offset, op.opcode, &m, &n, GlobalOrigin::Stack { computed })
                    }
                    // C requires exact str operands: anything that might be a str at run time (a
                    // call result, a global such as builtins.__name__) names an unknown callable.
                    (m, n) if might_be_str(m) && might_be_str(n) => {
                        let computed = Rc::new(ComputedGlobal { module, name, offset });
                        self.observer.on_computed_global(&computed);
                        self.report.globals += 1;
                        Value::ComputedGlobal(computed)
                    }
                    _ => return Err(MachineErrorKind::StackGlobalNotStr),
                };
                self.push(value);
            }
            Opcode::INST => {
                let Arg::Global { module, name } = op.arg else {
                    unreachable!("INST carries names")
                };
                let items = self.pop_mark()?;
                let class = self.make_global(offset, op.opcode, module, name, GlobalOrigin::Literal);
                let args = self.tuple(items)?;
                let result = self.call(offset, op.opcode, CallKind::Inst, class, args, None);
                self.push(result);
            }
            Opcode::OBJ => {
                let mut items = self.pop_mark()?;
                if items.is_empty() {
                    return Err(MachineErrorKind::StackUnderflow);
                }
                let class = items.remove(0);
                let args = self.tuple(items)?;
                let result = self.call(offset, op.opcode, CallKind::Obj, class, args, None);
                self.push(result);
            }
            Opcode::NEWOBJ => {
                let args = self.pop()?;
                let class = self.pop()?;
                let result = self.call(offset, op.opcode, CallKind::NewObj, class, args, None);
                self.push(result);
            }
            Opcode::NEWOBJ_EX => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let class = self.pop()?;
                let result = self.call(offset, op.opcode, CallKind::NewObjEx, class, args, Some(kwargs));
                self.push(result);
            }
            Opcode::REDUCE => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let result = self.call(offset, op.opcode, CallKind::Reduce, callable, args, None);
                self.push(result);
            }
            Opcode::BUILD => {
                let state = self.pop()?;
                let target = self.top()?.clone();
                self.observer.on_build(offset, &target, &state);
                if let Value::Call(call) = &target {
                    let mut states = call.state.borrow_mut();
                    if states.len() < 8 {
                        states.push(state.clone());
                    }
                }
                if self.inline_arrays {
                    if let Some(inline) = joblib::inline_array(&target, &state) {
                        self.read_inline_array(inline)?;
                    }
                }
            }
            Opcode::PERSID | Opcode::BINPERSID => {
                // PERSID carries the id inline; BINPERSID takes it from the stack.
                let pid = match &op.arg {
                    Arg::Text(pid) => Value::Str(pid.clone()),
                    _ => self.pop()?,
                };
                let args = self.tuple(vec![pid])?;
                let result = self.call(
                    offset,
                    op.opcode,
                    CallKind::PersistentLoad,
                    Value::Opaque("persistent_load"),
                    args,
                    None,
                );
                self.push(result);
            }
            Opcode::EXT1 | Opcode::EXT2 | Opcode::EXT4 => {
                let Arg::Index(code) = op.arg else {
                    unreachable!("EXT carries a code")
                };
                let value = match self.extensions.get(&code).cloned() {
                    Some(Extension::Named(module, name)) => {
                        self.make_global(offset, op.opcode, &module, &name, GlobalOrigin::Extension(code))
                    }
                    Some(Extension::Cached(value)) => value,
                    None => {
                        let computed = Rc::new(ComputedGlobal {
                            module: Value::Opaque("copyreg extension registry"),
                            name: Value::Int(code as i64),
                            offset,
                        });
                        self.observer.on_computed_global(&computed);
                        self.report.globals += 1;
                        Value::ComputedGlobal(computed)
                    }
                };
                self.push(value);
            }
        }
        Ok(false)
    }

    /// Moves past the array data joblib reads after a wrapper's BUILD.
    fn read_inline_array(&mut self, inline: InlineArray) -> Step<()> {
        let data = self.reader.data();
        let truncated = || {
            MachineErrorKind::Read(ReadErrorKind::Truncated {
                opcode: Some(Opcode::BUILD),
            })
        };
        let mut pos = self.reader.position();
        // joblib pads only raw arrays; object arrays are a plain nested pickle.
        if inline.aligned && inline.layout != ArrayData::Pickle {
            let padding = usize::from(*data.get(pos).ok_or_else(truncated)?);
            pos = pos
                .checked_add(1 + padding)
                .filter(|&p| p <= data.len())
                .ok_or_else(truncated)?;
        }
        match inline.layout {
            ArrayData::Raw { bytes } => {
                pos = usize::try_from(bytes)
                    .ok()
                    .and_then(|b| pos.checked_add(b))
                    .filter(|&p| p <= data.len())
                    .ok_or_else(truncated)?;
            }
            ArrayData::Pickle => {
                // The nested stream reports to the same observer: its call ids continue ours.
                let nested = run(data, pos, self.limits, &mut *self.observer, false, self.next_call_id);
                self.next_call_id = self.next_call_id.wrapping_add(nested.calls);
                self.report.opcodes += nested.opcodes;
                self.report.calls += nested.calls;
                self.report.globals += nested.globals;
                self.report.divergences.extend(nested.divergences.iter().cloned());
                if let Some(error) = nested.error {
                    return Err(MachineErrorKind::InlineObjectArray(Box::new(error)));
                }
                pos = nested.end;
            }
            ArrayData::Unknown { dtype } => return Err(MachineErrorKind::InlineArray(dtype)),
        }
        self.reader.seek(pos);
        self.report.inline_arrays += 1;
        Ok(())
    }

    /// Stores the top of the stack under `idx`.
    fn memo_put(&mut self, idx: u64) -> Step<()> {
        if self.stack.len() <= self.fence() {
            return Err(MachineErrorKind::StackUnderflow);
        }
        let full = self.memo.len() >= self.limits.max_memo && self.memo.get(idx).is_none();
        // Slots are 31-bit, whatever limit a configuration sets.
        let max_pool = self.limits.max_memo.saturating_mul(2).min(STR_SLOT as usize - 1);
        if full || self.memo.pool_len() >= max_pool {
            return Err(MachineErrorKind::Limit(LimitKind::Memo));
        }
        let value = self.stack.last().expect("checked above the fence");
        self.memo.put(idx, value);
        Ok(())
    }

    /// The value just below `start`, which the stack's values from `start` up are added to.
    fn target_below(&self, start: usize) -> Step<Value<'a>> {
        if start <= self.fence() {
            return Err(MachineErrorKind::StackUnderflow);
        }
        Ok(self.stack.get(start - 1).expect("below the stack's length").clone())
    }

    /// Adds the stack's values from `start` up to the object below them.
    fn add_items(&mut self, offset: usize, opcode: Opcode, start: usize, method: &'static str) -> Step<()> {
        let target = self.target_below(start)?;
        match &target {
            Value::List(seq) if method != "add" => self.fill_seq(&mut seq.borrow_mut(), start),
            Value::Set(seq) if method == "add" => self.fill_seq(&mut seq.borrow_mut(), start),
            _ => {
                // Not a plain container: the unpickler calls the object's own method.
                let items = self.stack.split_off(start);
                let args = self.tuple(items)?;
                let result = self.call(offset, opcode, CallKind::Method(method), target, args, None);
                mark_discarded(&result);
                Ok(())
            }
        }
    }

    /// Sets the stack's key/value pairs from `start` up on the object below them.
    fn set_items(&mut self, offset: usize, opcode: Opcode, start: usize) -> Step<()> {
        let target = self.target_below(start)?;
        match &target {
            Value::Dict(pairs) => self.fill_pairs(&mut pairs.borrow_mut(), start)?,
            _ => {
                if (self.stack.len() - start) % 2 != 0 {
                    return Err(MachineErrorKind::OddItemCount);
                }
                let items = self.stack.split_off(start);
                self.register_registry_items(&target, &items);
                let args = self.tuple(items)?;
                let result = self.call(offset, opcode, CallKind::Method("__setitem__"), target, args, None);
                mark_discarded(&result);
            }
        }
        Ok(())
    }

    fn make_global(
        &mut self,
        offset: usize,
        opcode: Opcode,
        module: &str,
        name: &str,
        origin: GlobalOrigin,
    ) -> Value<'a> {
        let written = module.len() + name.len();
        let elided_from = (written > MAX_NAME_BYTES).then_some(written);
        let (module, name) = if elided_from.is_some() {
            (elide(module, MAX_NAME_BYTES / 2), elide(name, MAX_NAME_BYTES / 2))
        } else {
            (Cow::Borrowed(module), Cow::Borrowed(name))
        };
        let (module, name) = (&*module, &*name);
        let (module_rc, name_rc, renamed_from) = match (self.proto < 3)
            .then(|| semantics::compat_rename(module, name))
            .flatten()
        {
            Some((m, n)) => (
                Rc::<str>::from(m),
                Rc::<str>::from(n.as_str()),
                Some((Rc::from(module), Rc::from(name))),
            ),
            None => (Rc::from(module), Rc::from(name), None),
        };
        let global = Rc::new(Global {
            module: module_rc,
            name: name_rc,
            offset,
            opcode,
            origin,
            renamed_from,
            elided_from,
        });
        self.observer.on_global(&global);
        self.report.globals += 1;
        Value::Global(global)
    }

    fn call(
        &mut self,
        offset: usize,
        opcode: Opcode,
        kind: CallKind,
        callee: Value<'a>,
        args: Value<'a>,
        kwargs: Option<Value<'a>>,
    ) -> Value<'a> {
        self.call_at_depth(offset, opcode, kind, callee, args, kwargs, 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn call_at_depth(
        &mut self,
        offset: usize,
        opcode: Opcode,
        kind: CallKind,
        callee: Value<'a>,
        args: Value<'a>,
        kwargs: Option<Value<'a>>,
        depth: usize,
    ) -> Value<'a> {
        let evaluation = match kind {
            CallKind::PersistentLoad | CallKind::SetState | CallKind::Method(_) => semantics::Evaluation::default(),
            _ => semantics::evaluate(offset, &callee, &args, kwargs.as_ref(), &mut self.budget),
        };
        let id = self.next_call_id;
        self.next_call_id = self.next_call_id.wrapping_add(1);
        self.report.calls += 1;
        if let Some(target) = &evaluation.target {
            if semantics::canonical_module(&target.module) == "copyreg" && &*target.name == "add_extension" {
                self.register_extension(&args);
            }
        }
        let nesting = callee
            .depth()
            .max(args.depth())
            .max(kwargs.as_ref().map_or(0, Value::depth))
            .saturating_add(1);
        self.report.max_depth = self.report.max_depth.max(nesting);
        let call = Rc::new(Call {
            depth: nesting,
            id,
            offset,
            opcode,
            kind,
            callee,
            args,
            kwargs,
            target: evaluation.target,
            effective_args: evaluation.effective_args,
            folded: evaluation.folded,
            state: RefCell::new(Vec::new()),
            discarded: Cell::new(false),
        });
        self.observer.on_call(&call);
        if let Some((inner_callee, inner_args)) = evaluation.trampoline {
            if depth < 4 {
                self.call_at_depth(
                    offset,
                    opcode,
                    CallKind::Trampoline,
                    inner_callee,
                    inner_args,
                    None,
                    depth + 1,
                );
            }
        }
        Value::Call(call)
    }

    /// SETITEM(S) straight into copyreg's EXT tables: `_inverted_registry` maps a code to a
    /// (module, name) pair and `_extension_cache` to the object itself, which the unpickler
    /// consults first.
    fn register_registry_items(&mut self, target: &Value<'a>, items: &[Value<'a>]) {
        let Some(Resolved::Callable(table)) = semantics::resolve(target) else {
            return;
        };
        if semantics::canonical_module(&table.module) != "copyreg" {
            return;
        }
        let cached = match &*table.name {
            "_inverted_registry" => false,
            "_extension_cache" => true,
            _ => return,
        };
        for pair in items.chunks_exact(2) {
            let Value::Int(code) = pair[0] else { continue };
            if code <= 0 {
                continue;
            }
            let entry = if cached {
                Extension::Cached(pair[1].clone())
            } else {
                let parts = pair[1].items().unwrap_or_default();
                let (Some(Value::Str(m)), Some(Value::Str(n))) = (parts.first(), parts.get(1)) else {
                    continue;
                };
                Extension::Named(Rc::from(&**m), Rc::from(&**n))
            };
            self.extensions.insert(code as u64, entry);
        }
    }

    fn register_extension(&mut self, args: &Value<'a>) {
        let items = args.items().unwrap_or_default();
        if let (Some(Value::Str(m)), Some(Value::Str(n)), Some(Value::Int(code))) =
            (items.first(), items.get(1), items.get(2))
        {
            if *code > 0 {
                self.extensions
                    .insert(*code as u64, Extension::Named(Rc::from(&**m), Rc::from(&**n)));
            }
        }
    }
}

/// Whether a value can be a `str` when the unpickler runs (constants of other types cannot).
fn might_be_str(value: &Value<'_>) -> bool {
    !matches!(
        value,
        Value::None
            | Value::Bool(_)
            | Value::Int(_)
            | Value::BigInt(_)
            | Value::Float(_)
            | Value::Bytes(_)
            | Value::ByteArray(_)
            | Value::Tuple(_)
            | Value::List(_)
            | Value::Dict(_)
            | Value::Set(_)
            | Value::FrozenSet(_)
            | Value::Module(_)
    )
}

fn mark_discarded(value: &Value<'_>) {
    if let Value::Call(call) = value {
        call.discarded.set(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Quiet;
    impl Observer<'_> for Quiet {}

    fn run_ok(data: &[u8]) -> StreamReport {
        let report = run_stream(data, 0, &Limits::default(), &mut Quiet);
        assert!(report.error.is_none(), "{:?}", report.error);
        report
    }

    #[test]
    fn memoizing_one_value_again_shares_its_slot() {
        let mut memo = Memo::default();
        let list = Value::List(Rc::new(RefCell::new(Seq::empty())));
        for i in 0..1000 {
            memo.put(i, &list);
            memo.put(10_000 + i, &Value::None);
        }
        assert_eq!(memo.len(), 2000);
        assert_eq!(memo.pool_len(), 2, "one list and one None");
        assert!(matches!(memo.get(999), Some(Value::List(_))));
        assert!(matches!(memo.get(10_999), Some(Value::None)));
    }

    #[test]
    fn borrowed_strings_have_their_own_pool() {
        let data = String::from("alpha beta");
        let (alpha, beta) = (&data[..5], &data[6..]);
        let mut memo = Memo::default();
        memo.put(0, &Value::Str(Text::Borrowed(alpha)));
        // The same string just stored again shares its slot; an equal one elsewhere does not.
        memo.put(1, &Value::Str(Text::Borrowed(alpha)));
        memo.put(2, &Value::Str(Text::Borrowed(beta)));
        memo.put(3, &Value::Str(Text::owned("alpha")));
        memo.put(4, &Value::Int(7));
        assert_eq!(memo.pool_len(), 4);
        assert_eq!((memo.strs.len(), memo.values.len()), (2, 2));
        for (idx, expected) in [(0, "alpha"), (1, "alpha"), (2, "beta"), (3, "alpha")] {
            assert_eq!(memo.get(idx).as_ref().and_then(Value::as_str), Some(expected), "{idx}");
        }
        assert!(matches!(memo.get(0), Some(Value::Str(Text::Borrowed(s))) if std::ptr::eq(s, alpha)));
        assert!(matches!(memo.get(3), Some(Value::Str(Text::Owned(_)))));
        assert!(matches!(memo.get(4), Some(Value::Int(7))));
        // Overwriting an entry points it at the new slot.
        memo.put(0, &Value::Int(7));
        assert!(matches!(memo.get(0), Some(Value::Int(7))));
        assert!(memo.get(5).is_none());
    }

    #[test]
    fn overwriting_one_entry_cannot_grow_the_memo_without_bound() {
        // PUT 0 of a fresh string, 30 times: one entry, but the pool counts against max_memo.
        let mut data = b"\x80\x02".to_vec();
        for i in 0..30u8 {
            data.extend_from_slice(&[b'X', 1, 0, 0, 0, b'a' + (i % 26), b'q', 0, b'0']);
        }
        data.extend_from_slice(b"N.");
        let limits = Limits {
            max_memo: 10,
            ..Limits::default()
        };
        let report = run_stream(&data, 0, &limits, &mut Quiet);
        assert!(
            matches!(
                report.error.as_ref().map(|e| &e.kind),
                Some(MachineErrorKind::Limit(LimitKind::Memo))
            ),
            "{:?}",
            report.error
        );
    }

    #[test]
    fn memo_indices_near_and_far() {
        // PUT at 2**32-1 goes to the sparse map; sequential PUTs stay dense; MEMOIZE uses the
        // number of entries (3 here), so it overwrites nothing and GET 3 finds it.
        let data = b"\x80\x04Nr\xff\xff\xff\xff0K\x01q\x00K\x02q\x01K\x03\x94j\xff\xff\xff\xffh\x00h\x01h\x03t.";
        let report = run_ok(&[&data[..2], b"(", &data[2..]].concat());
        assert_eq!(report.memo_entries, 4);
    }

    #[test]
    fn memoize_counts_entries_not_the_highest_index() {
        // PUT 5 then MEMOIZE stores at index 1 (len(memo)), so GET 1 works and GET 6 does not.
        run_ok(b"\x80\x04K\x01q\x05K\x02\x94h\x01.");
        let report = run_stream(b"\x80\x04K\x01q\x05K\x02\x94h\x06.", 0, &Limits::default(), &mut Quiet);
        assert_eq!(report.error.map(|e| e.kind), Some(MachineErrorKind::MemoMissing(6)));
    }

    fn ints(values: &[Value<'_>]) -> Vec<i64> {
        values
            .iter()
            .map(|v| match v {
                Value::Int(i) => *i,
                other => panic!("not an int: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn taken_items_keep_no_larger_buffer_than_they_fill() {
        // The last item of a full segment is copied out: a one-item tuple must not keep the
        // segment's buffer alive.
        let mut segment: Vec<u64> = (0..1024).collect();
        let mut one = Vec::new();
        move_tail(&mut one, &mut segment, 1023);
        assert_eq!(one, [1023]);
        assert!(one.capacity() < 16, "{}", one.capacity());
        assert_eq!(segment.len(), 1023);
        // A buffer the items fill changes hands without a copy.
        let mut full: Vec<u64> = (0..8).collect();
        let buffer = full.as_ptr();
        let mut all = Vec::new();
        move_tail(&mut all, &mut full, 0);
        assert_eq!(all.as_ptr(), buffer);
        assert!(full.is_empty());
        // One item at the start of a mostly empty buffer is copied.
        let mut sparse: Vec<u64> = Vec::with_capacity(1024);
        sparse.push(7);
        let mut taken = vec![1, 2];
        move_tail(&mut taken, &mut sparse, 0);
        assert_eq!(taken, [1, 2, 7]);
        let mut alone = Vec::new();
        sparse.push(8);
        move_tail(&mut alone, &mut sparse, 0);
        assert_eq!(alone, [8]);
        assert!(alone.capacity() < 1024, "{}", alone.capacity());
    }

    #[test]
    fn stack_segments_keep_order_across_boundaries() {
        let mut stack = Stack::default();
        let n = 2 * SEGMENT + 5;
        for i in 0..n as i64 {
            stack.push_with(|| Value::Int(i));
        }
        assert_eq!(stack.len(), n);
        assert!(matches!(stack.get(SEGMENT), Some(Value::Int(i)) if *i == SEGMENT as i64));
        let start = SEGMENT - 3;
        let taken = stack.split_off(start);
        assert_eq!(ints(&taken), (start as i64..n as i64).collect::<Vec<_>>());
        assert_eq!(stack.len(), start);
        assert!(matches!(stack.last(), Some(Value::Int(i)) if *i == start as i64 - 1));
        // Pushing again after the take continues where the stack now ends.
        stack.push(Value::Int(-1));
        assert!(matches!(stack.get(start), Some(Value::Int(-1))));
        assert!(matches!(stack.pop(), Some(Value::Int(-1))));
        for _ in 0..start {
            assert!(stack.pop().is_some());
        }
        assert!(stack.pop().is_none());
    }

    #[test]
    fn appends_over_a_segment_boundary_count_every_item() {
        // A list extended by SEGMENT + 10 items under one mark: the container limit keeps the
        // first ones and counts the rest, wherever the stack's segments split them.
        let n = SEGMENT + 10;
        let mut data = b"\x80\x04](".to_vec();
        for _ in 0..n {
            data.extend_from_slice(b"K\x07");
        }
        data.extend_from_slice(b"e.");
        let report = run_ok(&data);
        assert_eq!(report.max_logical_size, n as u64 + 1);
        assert_eq!(report.max_stack, n + 1);
    }

    #[test]
    fn pop_at_the_fence_pops_the_mark() {
        // MARK, POP (removes the mark), then TUPLE needs a mark: none left.
        let report = run_stream(b"N(0t.", 0, &Limits::default(), &mut Quiet);
        assert_eq!(report.error.map(|e| e.kind), Some(MachineErrorKind::MissingMark));
        run_ok(b"N(0.");
    }
}
