//! Symbolic values of the pickle machine: constants (bounded), containers (bounded), globals,
//! call results, and what cannot be known statically.

use super::opcodes::Opcode;
use super::text::{Blob, Text};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

#[derive(Clone, Debug)]
pub enum Value<'a> {
    None,
    Bool(bool),
    Int(i64),
    BigInt(Rc<str>),
    Float(f64),
    Str(Text<'a>),
    Bytes(Blob<'a>),
    ByteArray(Blob<'a>),
    Tuple(Rc<Seq<'a>>),
    List(Rc<RefCell<Seq<'a>>>),
    Dict(Rc<RefCell<Pairs<'a>>>),
    Set(Rc<RefCell<Seq<'a>>>),
    FrozenSet(Rc<Seq<'a>>),
    /// A module attribute: named by GLOBAL, STACK_GLOBAL, INST or EXT, or reached through a
    /// modelled lookup such as `getattr(__import__('os'), 'system')`.
    Global(Rc<Global>),
    /// A module object, as `__import__` or `importlib.import_module` return it.
    Module(Rc<str>),
    /// STACK_GLOBAL whose operands are not constant strings: any callable at all.
    ComputedGlobal(Rc<ComputedGlobal<'a>>),
    /// The result of a call the load would make.
    Call(Rc<Call<'a>>),
    /// A method bound to a receiver, as `getattr(obj, 'name')` returns it.
    Bound(Rc<Bound<'a>>),
    /// Something the machine does not model (an out-of-band buffer, an oversized constant).
    Opaque(&'static str),
}

/// A bounded sequence: items past the machine's container limit are counted, not kept.
#[derive(Debug)]
pub struct Seq<'a> {
    pub items: Vec<Value<'a>>,
    pub omitted: u64,
    /// Logical number of values reachable through this container (saturating), so that
    /// memo/DUP sharing that would explode at load time is visible.
    pub weight: u64,
    /// Nesting depth when the container was last extended.
    pub depth: u32,
}

#[derive(Debug)]
pub struct Pairs<'a> {
    pub items: Vec<(Value<'a>, Value<'a>)>,
    pub omitted: u64,
    pub weight: u64,
    pub depth: u32,
}

impl Seq<'_> {
    pub fn empty() -> Self {
        Seq {
            items: Vec::new(),
            omitted: 0,
            weight: 1,
            depth: 1,
        }
    }
}

impl Pairs<'_> {
    pub fn empty() -> Self {
        Pairs {
            items: Vec::new(),
            omitted: 0,
            weight: 1,
            depth: 1,
        }
    }
}

// Values can nest as deeply as a hostile stream likes (or form cycles through the memo, which
// simply leak until the analysis ends). Dropping them recursively would overflow the stack, so
// containers and calls hand their children to an explicit work list instead. The list borrows
// the first container's own allocation, so the common drop allocates nothing.
fn drop_iteratively<'a>(mut pending: Vec<Value<'a>>) {
    while let Some(value) = pending.pop() {
        unfold(value, &mut pending);
    }
}

/// Drops `value`, moving the children that only it owns to `pending` rather than dropping them
/// here. Children are taken in place (`Rc::get_mut`) rather than by moving a uniquely owned
/// value out of its allocation: a call is a few hundred bytes, and copying it out cost more
/// than the rest of the drop.
fn unfold<'a>(value: Value<'a>, pending: &mut Vec<Value<'a>>) {
    match value {
        Value::Dict(mut rc) => {
            if let Some(cell) = Rc::get_mut(&mut rc) {
                for (k, v) in std::mem::take(&mut cell.get_mut().items) {
                    pending.push(k);
                    pending.push(v);
                }
            }
        }
        Value::Call(mut rc) => {
            if let Some(call) = Rc::get_mut(&mut rc) {
                call.take_children(pending);
            }
        }
        Value::Bound(mut rc) => {
            if let Some(bound) = Rc::get_mut(&mut rc) {
                pending.push(std::mem::replace(&mut bound.receiver, Value::None));
            }
        }
        Value::ComputedGlobal(mut rc) => {
            if let Some(global) = Rc::get_mut(&mut rc) {
                pending.push(std::mem::replace(&mut global.module, Value::None));
                pending.push(std::mem::replace(&mut global.name, Value::None));
            }
        }
        other => unfold_sequence(other, pending),
    }
}

/// Drops `value` one level deep without recursing: a sequence's items move to `pending`, other
/// values with children are deferred to `pending` whole, leaves are dropped here.
fn unfold_sequence<'a>(value: Value<'a>, pending: &mut Vec<Value<'a>>) {
    match value {
        Value::Tuple(mut rc) | Value::FrozenSet(mut rc) => {
            if let Some(seq) = Rc::get_mut(&mut rc) {
                adopt(&mut seq.items, pending);
            }
        }
        Value::List(mut rc) | Value::Set(mut rc) => {
            if let Some(cell) = Rc::get_mut(&mut rc) {
                adopt(&mut cell.get_mut().items, pending);
            }
        }
        Value::Dict(_) | Value::Call(_) | Value::Bound(_) | Value::ComputedGlobal(_) => pending.push(value),
        _ => {}
    }
}

/// Moves `items` to `pending`, taking over their allocation when `pending` has none.
fn adopt<'a>(items: &mut Vec<Value<'a>>, pending: &mut Vec<Value<'a>>) {
    if pending.is_empty() {
        std::mem::swap(pending, items);
    } else {
        pending.append(items);
    }
}

impl Drop for Seq<'_> {
    fn drop(&mut self) {
        if !self.items.is_empty() {
            drop_iteratively(std::mem::take(&mut self.items));
        }
    }
}

impl Drop for Pairs<'_> {
    fn drop(&mut self) {
        if !self.items.is_empty() {
            let mut flat = Vec::with_capacity(self.items.len() * 2);
            for (k, v) in std::mem::take(&mut self.items) {
                flat.push(k);
                flat.push(v);
            }
            drop_iteratively(flat);
        }
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        let mut pending = Vec::new();
        self.take_children(&mut pending);
        drop_iteratively(pending);
    }
}

impl<'a> Call<'a> {
    /// Moves the call's children to `pending` one at a time (see `unfold_sequence`): gathering
    /// them into one iterator first built a few hundred bytes on the stack for every call.
    fn take_children(&mut self, pending: &mut Vec<Value<'a>>) {
        adopt(self.state.get_mut(), pending);
        unfold_sequence(std::mem::replace(&mut self.callee, Value::None), pending);
        unfold_sequence(std::mem::replace(&mut self.args, Value::None), pending);
        for child in [&mut self.kwargs, &mut self.effective_args, &mut self.folded] {
            if let Some(value) = child.take() {
                unfold_sequence(value, pending);
            }
        }
    }

    /// Nesting depth of the call expression.
    pub fn depth(&self) -> u32 {
        self.depth
    }
}

/// Where a global's name came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalOrigin {
    /// GLOBAL or INST operands.
    Literal,
    /// STACK_GLOBAL with string operands; `computed` when one was built at load time by a
    /// modelled call (a decoder, concatenation) rather than written in the stream.
    Stack { computed: bool },
    /// An EXT opcode resolved through `copyreg.add_extension` calls seen earlier in the stream.
    Extension(u64),
    /// A modelled lookup (getattr, import_module, resolve_name, locate, attrgetter…).
    Lookup,
}

#[derive(Debug)]
pub struct Global {
    /// Module as written (after `_compat_pickle` renames for protocols below 3).
    pub module: Rc<str>,
    /// Attribute path inside the module, possibly dotted.
    pub name: Rc<str>,
    pub offset: usize,
    pub opcode: Opcode,
    pub origin: GlobalOrigin,
    /// Set when `_compat_pickle` renamed the name written in the stream.
    pub renamed_from: Option<(Rc<str>, Rc<str>)>,
    /// Bytes of module and name as written, when they were longer than `MAX_NAME_BYTES` and
    /// only their ends are kept (see `elide`).
    pub elided_from: Option<usize>,
}

impl Global {
    /// `module.name`, long names by their ends (see `dotted_path`).
    pub fn path(&self) -> String {
        dotted_path(&self.module, &self.name)
    }
}

/// Module plus attribute path: the most a global's names may hold. No Python module or
/// attribute is named by more; a stream that names one so is reported, and only the ends are
/// kept, so that no cost of the analysis grows with a name a stream repeats or builds up.
pub const MAX_NAME_BYTES: usize = 1024;

/// Attribute paths built by lookups stop growing here: no legitimate file reaches this deep, and
/// a chain of lookups (`getattr(getattr(…), …)`, a call of a call of a call) would otherwise
/// grow the name by one part per call, and the cost of every call with it.
pub const MAX_ATTRIBUTE_PARTS: usize = 64;

/// `text` if it has at most `max` bytes, else its first and last `max / 2` bytes (at character
/// boundaries) around an ellipsis.
pub fn elide(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut head = max / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - max / 2;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    std::borrow::Cow::Owned(format!("{}…{}", &text[..head], &text[tail..]))
}

/// Rendered names longer than this are shown by their ends.
const MAX_RENDERED_NAME: usize = 256;

/// `module.name` as reports show it: long paths by their ends.
fn dotted_path(module: &str, name: &str) -> String {
    if name.is_empty() {
        elide(module, MAX_RENDERED_NAME).into_owned()
    } else if module.len() + 1 + name.len() <= MAX_RENDERED_NAME {
        format!("{module}.{name}")
    } else {
        elide(&format!("{module}.{name}"), MAX_RENDERED_NAME).into_owned()
    }
}

#[derive(Debug)]
pub struct Bound<'a> {
    pub receiver: Value<'a>,
    pub target: Target,
}

#[derive(Debug)]
pub struct ComputedGlobal<'a> {
    pub module: Value<'a>,
    pub name: Value<'a>,
    pub offset: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Reduce,
    Inst,
    Obj,
    NewObj,
    NewObjEx,
    /// `persistent_load(pid)` from PERSID/BINPERSID.
    PersistentLoad,
    /// BUILD on an object: `__setstate__(state)` or attribute updates.
    SetState,
    /// A method that APPEND/APPENDS/SETITEM(S)/ADDITEMS call on a non-container object.
    Method(&'static str),
    /// A call that a modelled function makes with its arguments (for example
    /// `torch._tensor._rebuild_from_type_v2(func, type, args, state)` calls `func(*args)`).
    Trampoline,
}

#[derive(Debug)]
pub struct Call<'a> {
    pub id: u32,
    pub offset: usize,
    pub opcode: Opcode,
    pub kind: CallKind,
    pub callee: Value<'a>,
    pub args: Value<'a>,
    pub kwargs: Option<Value<'a>>,
    /// The callable that actually runs, looking through partial/methodcaller/attrgetter.
    pub target: Option<Target>,
    /// The arguments the target receives, when they differ from `args` (partial, methodcaller).
    pub effective_args: Option<Value<'a>>,
    /// The call's result where the machine models it (imports, lookups, pure decoders).
    pub folded: Option<Value<'a>>,
    /// States applied by BUILD, in order (bounded).
    pub state: RefCell<Vec<Value<'a>>>,
    /// Set when the call's result is discarded by POP/POP_MARK or never reaches the result.
    pub discarded: std::cell::Cell<bool>,
    /// Nesting depth of the expression (callee and arguments).
    pub depth: u32,
}

/// A resolved callable: a dotted module path plus attribute path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub module: Rc<str>,
    pub name: Rc<str>,
}

impl Target {
    pub fn new(module: &str, name: &str) -> Self {
        Target {
            module: module.into(),
            name: name.into(),
        }
    }

    pub fn path(&self) -> String {
        dotted_path(&self.module, &self.name)
    }

    /// The same target one attribute further down; `None` past `MAX_ATTRIBUTE_PARTS` or
    /// `MAX_NAME_BYTES`, where the lookup is left unmodelled (what it returns is unknown, and
    /// calling it is reported as such).
    pub fn attr(&self, attr: &str) -> Option<Target> {
        if self.module.len() + self.name.len() + 1 + attr.len() > MAX_NAME_BYTES {
            return None;
        }
        let name = if self.name.is_empty() {
            attr.to_string()
        } else {
            format!("{}.{attr}", self.name)
        };
        if name.split('.').count() > MAX_ATTRIBUTE_PARTS {
            return None;
        }
        Some(Target {
            module: self.module.clone(),
            name: name.into(),
        })
    }
}

impl<'a> Value<'a> {
    /// Whether both are the very same object (the same shared container, the same bytes of
    /// the stream): what memoizing one value again produces.
    pub fn same_object(&self, other: &Value<'a>) -> bool {
        use std::ptr;
        match (self, other) {
            (Value::Str(Text::Borrowed(a)), Value::Str(Text::Borrowed(b))) => ptr::eq(*a, *b),
            (Value::Bytes(Blob::Borrowed(a)), Value::Bytes(Blob::Borrowed(b))) => ptr::eq(*a, *b),
            (Value::Tuple(a), Value::Tuple(b)) | (Value::FrozenSet(a), Value::FrozenSet(b)) => Rc::ptr_eq(a, b),
            (Value::List(a), Value::List(b)) | (Value::Set(a), Value::Set(b)) => Rc::ptr_eq(a, b),
            (Value::Dict(a), Value::Dict(b)) => Rc::ptr_eq(a, b),
            (Value::Global(a), Value::Global(b)) => Rc::ptr_eq(a, b),
            (Value::Call(a), Value::Call(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) | Value::ByteArray(b) => Some(b),
            _ => None,
        }
    }

    /// Calls `f` with the items of a tuple, frozenset, list or set, without copying them.
    pub fn with_items<R>(&self, f: impl FnOnce(&[Value<'a>]) -> R) -> Option<R> {
        match self {
            Value::Tuple(s) | Value::FrozenSet(s) => Some(f(&s.items)),
            Value::List(s) | Value::Set(s) => Some(f(&s.borrow().items)),
            _ => None,
        }
    }

    /// Tuple items (a snapshot for lists too).
    pub fn items(&self) -> Option<Vec<Value<'a>>> {
        match self {
            Value::Tuple(s) | Value::FrozenSet(s) => Some(s.items.clone()),
            Value::List(s) | Value::Set(s) => Some(s.borrow().items.clone()),
            _ => None,
        }
    }

    /// Logical size, counting shared containers each time they are reachable. A container
    /// being extended with itself counts once.
    pub fn weight(&self) -> u64 {
        match self {
            Value::Tuple(s) | Value::FrozenSet(s) => s.weight,
            Value::List(s) | Value::Set(s) => s.try_borrow().map_or(1, |s| s.weight),
            Value::Dict(p) => p.try_borrow().map_or(1, |p| p.weight),
            _ => 1,
        }
    }

    /// Nesting depth as recorded when containers were built.
    pub fn depth(&self) -> u32 {
        match self {
            Value::Tuple(s) | Value::FrozenSet(s) => s.depth,
            Value::List(s) | Value::Set(s) => s.try_borrow().map_or(1, |s| s.depth),
            Value::Dict(p) => p.try_borrow().map_or(1, |p| p.depth),
            Value::Call(c) => c.depth,
            Value::Bound(b) => b.receiver.depth().saturating_add(1),
            _ => 0,
        }
    }

    /// Whether evaluating this value calls or references code (globals or calls inside).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::ByteArray(_) => "bytearray",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::Global(_) => "global",
            Value::Module(_) => "module",
            Value::ComputedGlobal(_) => "computed global",
            Value::Call(_) => "call result",
            Value::Bound(_) => "bound method",
            Value::Opaque(what) => what,
        }
    }
}

/// Limits for rendering values as Python source in messages.
#[derive(Debug, Clone, Copy)]
pub struct RenderLimits {
    pub max_str: usize,
    pub max_items: usize,
    pub max_depth: usize,
    /// Render the results of calls as the variables a decompiled program names them by
    /// (`v3`) instead of repeating the call.
    pub name_calls: bool,
}

impl Default for RenderLimits {
    fn default() -> Self {
        RenderLimits {
            max_str: 80,
            max_items: 8,
            max_depth: 6,
            name_calls: false,
        }
    }
}

/// Renders a value as the Python expression that a load would evaluate.
pub fn render(value: &Value<'_>, limits: RenderLimits) -> String {
    let mut out = String::new();
    render_into(&mut out, value, limits, 0);
    out
}

/// Longest rendering: past it, shared and nested values are elided so that a hostile value
/// graph cannot make a message (or the time to build it) grow without bound.
const MAX_RENDERED: usize = 2_000;

fn render_into(out: &mut String, value: &Value<'_>, lim: RenderLimits, depth: usize) {
    if out.len() > MAX_RENDERED {
        if !out.ends_with('…') {
            out.push('…');
        }
        return;
    }
    if depth > lim.max_depth {
        out.push('…');
        return;
    }
    match value {
        Value::None => out.push_str("None"),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::BigInt(s) => out.push_str(s),
        Value::Float(f) => out.push_str(&render_float(*f)),
        Value::Str(s) => out.push_str(&repr_str(s, lim.max_str)),
        Value::Bytes(b) => out.push_str(&repr_bytes(b, lim.max_str)),
        Value::ByteArray(b) => {
            let _ = write!(out, "bytearray({})", repr_bytes(b, lim.max_str));
        }
        Value::Tuple(s) => {
            out.push('(');
            render_items(out, &s.items, s.omitted, lim, depth);
            if s.items.len() == 1 && s.omitted == 0 {
                out.push(',');
            }
            out.push(')');
        }
        Value::List(s) => {
            let s = s.borrow();
            out.push('[');
            render_items(out, &s.items, s.omitted, lim, depth);
            out.push(']');
        }
        Value::Set(s) => {
            let s = s.borrow();
            if s.items.is_empty() && s.omitted == 0 {
                out.push_str("set()");
            } else {
                out.push('{');
                render_items(out, &s.items, s.omitted, lim, depth);
                out.push('}');
            }
        }
        Value::FrozenSet(s) => {
            out.push_str("frozenset({");
            render_items(out, &s.items, s.omitted, lim, depth);
            out.push_str("})");
        }
        Value::Dict(p) => {
            let p = p.borrow();
            out.push('{');
            for (i, (k, v)) in p.items.iter().take(lim.max_items).enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_into(out, k, lim, depth + 1);
                out.push_str(": ");
                render_into(out, v, lim, depth + 1);
            }
            let more = (p.items.len().saturating_sub(lim.max_items)) as u64 + p.omitted;
            if more > 0 {
                let _ = write!(out, ", …{more} more");
            }
            out.push('}');
        }
        // Builtins are written as Python code names them: `getattr`, not `builtins.getattr`.
        Value::Global(g) if matches!(&*g.module, "builtins" | "__builtin__") && !g.name.is_empty() => {
            push_name(out, &g.name)
        }
        Value::Global(g) => out.push_str(&g.path()),
        Value::Module(m) => push_name(out, m),
        Value::ComputedGlobal(c) => {
            out.push_str("find_class(");
            render_into(out, &c.module, lim, depth + 1);
            out.push_str(", ");
            render_into(out, &c.name, lim, depth + 1);
            out.push(')');
        }
        Value::Call(c) if lim.name_calls => {
            let _ = write!(out, "v{}", c.id);
        }
        Value::Call(c) => render_call(out, c, lim, depth),
        Value::Bound(b) => {
            render_into(out, &b.receiver, lim, depth + 1);
            let method = b.target.name.rsplit('.').next().unwrap_or_default();
            out.push('.');
            push_name(out, method);
        }
        Value::Opaque(what) => {
            let _ = write!(out, "<{what}>");
        }
    }
}

fn push_name(out: &mut String, name: &str) {
    out.push_str(&elide(name, MAX_RENDERED_NAME));
}

fn render_items(out: &mut String, items: &[Value<'_>], omitted: u64, lim: RenderLimits, d: usize) {
    for (i, item) in items.iter().take(lim.max_items).enumerate() {
        if out.len() > MAX_RENDERED {
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        render_into(out, item, lim, d + 1);
    }
    let more = (items.len().saturating_sub(lim.max_items)) as u64 + omitted;
    if more > 0 {
        let _ = write!(out, "{}…{more} more", if items.is_empty() { "" } else { ", " });
    }
}

/// Renders `callee(args)` with the argument tuple spread.
pub fn render_call(out: &mut String, call: &Call<'_>, lim: RenderLimits, depth: usize) {
    match call.kind {
        CallKind::PersistentLoad => {
            // The machine wraps the persistent id in a 1-tuple of arguments.
            out.push_str("persistent_load(");
            match &call.args {
                Value::Tuple(s) if s.items.len() == 1 && s.omitted == 0 => {
                    render_into(out, &s.items[0], lim, depth + 1)
                }
                other => render_into(out, other, lim, depth + 1),
            }
            out.push(')');
            return;
        }
        CallKind::Method(method) => {
            render_into(out, &call.callee, lim, depth + 1);
            let _ = write!(out, ".{method}(");
            render_into(out, &call.args, lim, depth + 1);
            out.push(')');
            return;
        }
        CallKind::SetState => {
            render_into(out, &call.callee, lim, depth + 1);
            out.push_str(".__setstate__(");
            render_into(out, &call.args, lim, depth + 1);
            out.push(')');
            return;
        }
        _ => {}
    }
    render_into(out, &call.callee, lim, depth + 1);
    if matches!(call.kind, CallKind::NewObj | CallKind::NewObjEx) {
        out.push_str(".__new__");
    }
    out.push('(');
    let mut first = true;
    if matches!(call.kind, CallKind::NewObj | CallKind::NewObjEx) {
        render_into(out, &call.callee, lim, depth + 1);
        first = false;
    }
    match &call.args {
        Value::Tuple(s) => {
            if !s.items.is_empty() || s.omitted > 0 {
                if !first {
                    out.push_str(", ");
                }
                render_items(out, &s.items, s.omitted, lim, depth);
            }
        }
        other => {
            if !first {
                out.push_str(", ");
            }
            out.push('*');
            render_into(out, other, lim, depth + 1);
        }
    }
    if let Some(kwargs) = &call.kwargs {
        if let Value::Dict(p) = kwargs {
            for (k, v) in p.borrow().items.iter().take(lim.max_items) {
                out.push_str(", ");
                match k.as_str() {
                    Some(name) => out.push_str(name),
                    None => render_into(out, k, lim, depth + 1),
                }
                out.push('=');
                render_into(out, v, lim, depth + 1);
            }
        } else {
            out.push_str(", **");
            render_into(out, kwargs, lim, depth + 1);
        }
    }
    out.push(')');
}

fn render_float(f: f64) -> String {
    if f.is_nan() {
        "float('nan')".into()
    } else if f.is_infinite() {
        if f > 0.0 {
            "float('inf')".into()
        } else {
            "float('-inf')".into()
        }
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Python `repr()` of a str, truncated to `max` characters.
pub fn repr_str(s: &str, max: usize) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len().min(max) + 2);
    out.push(quote);
    let total = s.chars().count();
    for ch in s.chars().take(max) {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || c == '\u{fffd}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    if total > max {
        let _ = write!(out, "…({total} chars)");
    }
    out
}

/// Python `repr()` of bytes, truncated to `max` bytes.
pub fn repr_bytes(b: &[u8], max: usize) -> String {
    let mut out = String::from("b'");
    for &byte in b.iter().take(max) {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(byte as char),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out.push('\'');
    if b.len() > max {
        let _ = write!(out, "…({} bytes)", b.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_matches_python() {
        assert_eq!(repr_str("true", 80), "'true'");
        assert_eq!(repr_str("it's", 80), "\"it's\"");
        assert_eq!(repr_str("a\nb\x00", 80), "'a\\nb\\x00'");
        assert_eq!(repr_bytes(b"\x80ab'", 80), "b'\\x80ab\\''");
        assert_eq!(repr_str("abcdef", 3), "'abc'…(6 chars)");
        assert_eq!(render_float(1.0), "1.0");
        assert_eq!(render_float(0.5), "0.5");
    }
}
