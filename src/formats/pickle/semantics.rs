//! What the machine knows about the Python callables a pickle may invoke: lookups that turn
//! strings into callables (`getattr`, `__import__`, `importlib`, `pkgutil.resolve_name`,
//! `pydoc.locate`, `operator` getters, `functools.partial`), pure functions whose results can be
//! computed from constants (decoders, string concatenation), functions that call one of their
//! arguments (trampolines), and CPython's `_compat_pickle` renames. Nothing is ever executed:
//! each model is a few lines of Rust over constant values.

use super::text::{Blob, Text};
use super::value::{Bound, CallKind, Global, GlobalOrigin, Pairs, Seq, Target, Value, MAX_NAME_BYTES};
use super::Opcode;
use crate::formats::compress::{decompress, Codec};
use std::rc::Rc;

/// What a value is, as far as lookups are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A module attribute (function, class, nested attribute).
    Callable(Target),
    /// A module object.
    Module(Rc<str>),
    /// An instance of a class, made by calling it.
    Instance(Target),
}

/// Canonical names for the private modules whose functions are modelled here.
pub fn canonical_module(module: &str) -> &str {
    match module {
        "__builtin__" | "__builtins__" => "builtins",
        "_operator" => "operator",
        "_functools" => "functools",
        "_codecs" => "codecs",
        "copy_reg" => "copyreg",
        "_pickle" | "cPickle" => "pickle",
        "_frozen_importlib" | "importlib._bootstrap" => "importlib",
        "posix" | "nt" => "os",
        _ => module,
    }
}

fn canonical(target: &Target) -> (&str, &str) {
    (canonical_module(&target.module), &target.name)
}

pub fn resolve(value: &Value<'_>) -> Option<Resolved> {
    let settled = settle(value);
    let value = &settled;
    match value {
        Value::Global(g) => Some(Resolved::Callable(Target {
            module: g.module.clone(),
            name: g.name.clone(),
        })),
        Value::Module(m) => Some(Resolved::Module(m.clone())),
        Value::Bound(b) => Some(Resolved::Callable(b.target.clone())),
        Value::Call(c) => match &c.folded {
            Some(_) => None,
            None => match (&c.kind, &c.target) {
                // A lookup whose operands are not constant returns an unknown object, not an
                // instance of the lookup function.
                (_, Some(t)) if is_lookup(t) => None,
                (
                    CallKind::Reduce | CallKind::Inst | CallKind::Obj | CallKind::NewObj | CallKind::NewObjEx,
                    Some(t),
                ) => Some(Resolved::Instance(t.clone())),
                _ => None,
            },
        },
        _ => None,
    }
}

/// Functions whose result is whatever their (string) operands name.
fn is_lookup(target: &Target) -> bool {
    matches!(
        (canonical_module(&target.module), &*target.name),
        (
            "builtins",
            "getattr" | "__import__" | "vars" | "globals" | "locals" | "eval" | "dict.get" | "dict.__getitem__"
        ) | ("importlib", "import_module" | "__import__")
            | ("pkgutil", "resolve_name")
            | ("pydoc", "locate")
            | ("operator", "getitem" | "attrgetter" | "itemgetter" | "methodcaller")
            | ("sys", "modules.get" | "modules.__getitem__")
    )
}

/// A call result replaced by its modelled value, when the machine knows it.
pub fn settle<'a>(value: &Value<'a>) -> Value<'a> {
    let mut current = value;
    for _ in 0..MAX_INDIRECTION {
        match current {
            Value::Call(c) => match &c.folded {
                Some(folded) => current = folded,
                None => break,
            },
            _ => break,
        }
    }
    current.clone()
}

fn settled_items<'a>(value: &Value<'a>) -> Vec<Value<'a>> {
    value
        .with_items(|items| items.iter().map(settle).collect())
        .unwrap_or_default()
}

/// Resource budget for values the models create.
#[derive(Debug)]
pub struct Budget {
    /// Bytes the machine may still allocate for computed values.
    pub bytes_left: usize,
    /// Largest single decoded or decompressed value.
    pub max_value: usize,
    /// Set when a model refused to produce a value for lack of budget.
    pub exhausted: bool,
}

impl Budget {
    fn take(&mut self, n: usize) -> bool {
        if n > self.max_value || n > self.bytes_left {
            self.exhausted = true;
            false
        } else {
            self.bytes_left -= n;
            true
        }
    }
}

/// The modelled effect of one call.
#[derive(Debug, Default)]
pub struct Evaluation<'a> {
    pub target: Option<Target>,
    pub effective_args: Option<Value<'a>>,
    pub folded: Option<Value<'a>>,
    /// A call that the callee makes with its own arguments.
    pub trampoline: Option<(Value<'a>, Value<'a>)>,
}

const MAX_INDIRECTION: usize = 8;

pub fn evaluate<'a>(
    offset: usize,
    callee: &Value<'a>,
    args: &Value<'a>,
    kwargs: Option<&Value<'a>>,
    budget: &mut Budget,
) -> Evaluation<'a> {
    evaluate_at_depth(offset, callee, args, kwargs, budget, 0)
}

fn evaluate_at_depth<'a>(
    offset: usize,
    callee: &Value<'a>,
    args: &Value<'a>,
    kwargs: Option<&Value<'a>>,
    budget: &mut Budget,
    depth: usize,
) -> Evaluation<'a> {
    let mut eval = Evaluation::default();
    if depth > MAX_INDIRECTION {
        return eval;
    }
    let arg_items = settled_items(args);
    // Callable objects made by earlier calls: partial, methodcaller, attrgetter, itemgetter.
    if let Value::Call(made) = callee {
        if made.folded.is_none() {
            if let Some(maker) = &made.target {
                let (module, name) = canonical(maker);
                match (module, name) {
                    ("functools", "partial" | "partialmethod") => {
                        let (func, pargs, pkwargs) = partial_parts(made);
                        let mut combined = pargs;
                        combined.extend(arg_items);
                        let combined = tuple(combined);
                        let kw = kwargs.or(pkwargs.as_ref()).cloned();
                        let mut inner = evaluate_at_depth(offset, &func, &combined, kw.as_ref(), budget, depth + 1);
                        if inner.effective_args.is_none() {
                            inner.effective_args = Some(combined);
                        }
                        return inner;
                    }
                    ("operator", "methodcaller") => {
                        let maker_args = made.args.items().unwrap_or_default();
                        if let (Some(receiver), Some(method)) =
                            (arg_items.first(), maker_args.first().and_then(Value::as_str))
                        {
                            if let Some(Value::Bound(b)) = getattr(offset, receiver, method) {
                                let mut eff = vec![b.receiver.clone()];
                                eff.extend(maker_args[1..].iter().cloned());
                                let eff = tuple(eff);
                                let mut inner = fold_target(offset, &b.target, &eff, made.kwargs.as_ref(), budget);
                                inner.target = Some(b.target.clone());
                                inner.effective_args = Some(eff);
                                return inner;
                            }
                            if let Some(Value::Global(g)) = getattr(offset, receiver, method) {
                                let eff = tuple(maker_args[1..].to_vec());
                                let t = Target {
                                    module: g.module.clone(),
                                    name: g.name.clone(),
                                };
                                let mut inner = fold_target(offset, &t, &eff, made.kwargs.as_ref(), budget);
                                inner.target = Some(t);
                                inner.effective_args = Some(eff);
                                return inner;
                            }
                        }
                        return eval;
                    }
                    ("operator", "attrgetter") => {
                        let names = made.args.items().unwrap_or_default();
                        if let (Some(obj), Some(path)) = (arg_items.first(), names.first().and_then(Value::as_str)) {
                            let mut current = Some(obj.clone());
                            for part in path.split('.') {
                                current = current.and_then(|v| getattr(offset, &v, part));
                            }
                            eval.folded = current;
                        }
                        return eval;
                    }
                    ("operator", "itemgetter") => {
                        let keys = made.args.items().unwrap_or_default();
                        if let (Some(obj), Some(key)) = (arg_items.first(), keys.first()) {
                            eval.folded = getitem(offset, obj, key);
                        }
                        return eval;
                    }
                    _ => {}
                }
            }
        }
    }
    let (target, mut eff_args) = match callee {
        Value::Bound(b) => {
            let mut items = vec![b.receiver.clone()];
            items.extend(arg_items);
            (Some(b.target.clone()), Some(tuple(items)))
        }
        _ => match resolve(callee) {
            Some(Resolved::Callable(t)) => (Some(t), None),
            Some(Resolved::Instance(t)) => (t.attr("__call__"), None),
            _ => (None, None),
        },
    };
    if let Some(t) = &target {
        let call_args = eff_args.clone().unwrap_or_else(|| args.clone());
        let folded = fold_target(offset, t, &call_args, kwargs, budget);
        eval.folded = folded.folded;
        eval.trampoline = folded.trampoline;
    }
    eval.target = target;
    eval.effective_args = eff_args.take();
    eval
}

/// `functools.partial` parts: from BUILD's `__setstate__((func, args, kwds, dict))` when
/// present (native pickling of a partial), otherwise from the constructor arguments.
fn partial_parts<'a>(made: &super::value::Call<'a>) -> (Value<'a>, Vec<Value<'a>>, Option<Value<'a>>) {
    if let Some(state) = made.state.borrow().last() {
        if let Some(parts) = state.items() {
            if parts.len() >= 2 {
                let kw = parts.get(2).filter(|v| !matches!(v, Value::None)).cloned();
                return (parts[0].clone(), parts[1].items().unwrap_or_default(), kw);
            }
        }
    }
    let items = made.args.items().unwrap_or_default();
    let func = items
        .first()
        .cloned()
        .unwrap_or(Value::Opaque("partial without a function"));
    (func, items.into_iter().skip(1).collect(), made.kwargs.clone())
}

fn fold_target<'a>(
    offset: usize,
    target: &Target,
    args: &Value<'a>,
    kwargs: Option<&Value<'a>>,
    budget: &mut Budget,
) -> Evaluation<'a> {
    let mut eval = Evaluation::default();
    let items = settled_items(args);
    let arg = |i: usize| items.get(i);
    let kwarg = |name: &str| kwargs.and_then(|kw| dict_get_str(kw, name));
    let (module, name) = canonical(target);
    eval.folded = match (module, name) {
        ("builtins", "getattr") => match (arg(0), arg(1).and_then(Value::as_str)) {
            (Some(obj), Some(attr)) => getattr(offset, obj, attr),
            _ => None,
        },
        ("builtins", "__import__") | ("importlib", "__import__") => {
            let name = arg(0).and_then(Value::as_str).filter(|n| n.len() <= MAX_NAME_BYTES);
            let fromlist = arg(3)
                .cloned()
                .or_else(|| kwarg("fromlist"))
                .is_some_and(|v| truthy(&v));
            name.map(|n| {
                let imported = if fromlist { n } else { n.split('.').next().unwrap_or(n) };
                Value::Module(imported.into())
            })
        }
        ("importlib", "import_module") => arg(0)
            .and_then(Value::as_str)
            .filter(|n| n.len() <= MAX_NAME_BYTES)
            .map(|n| Value::Module(n.trim_start_matches('.').into())),
        ("pkgutil", "resolve_name") => arg(0).and_then(Value::as_str).and_then(|s| match s.split_once(':') {
            Some((m, n)) => global(offset, m, n),
            None => dotted_global(offset, s),
        }),
        ("pydoc", "locate") => arg(0).and_then(Value::as_str).and_then(|s| dotted_global(offset, s)),
        ("builtins", "vars") => arg(0).filter(|v| resolve(v).is_some()).cloned(),
        ("builtins", "dict.get") | ("operator", "getitem") | ("builtins", "dict.__getitem__") => {
            match (arg(0), arg(1)) {
                (Some(obj), Some(key)) => getitem(offset, obj, key),
                _ => None,
            }
        }
        ("operator", "add" | "concat" | "iadd" | "iconcat") | ("builtins", "str.__add__") => match (arg(0), arg(1)) {
            (Some(a), Some(b)) => concat(a, b, budget),
            _ => None,
        },
        ("builtins", "str.join") => match (arg(0).and_then(Value::as_str), arg(1).and_then(Value::items)) {
            (Some(sep), Some(parts)) => {
                let strs: Option<Vec<&str>> = parts.iter().map(Value::as_str).collect();
                strs.map(|s| s.join(sep))
                    .filter(|s| budget.take(s.len()))
                    .map(computed_str)
            }
            _ => None,
        },
        ("builtins", "str") => match (arg(0), arg(1).and_then(Value::as_str)) {
            (Some(Value::Str(s)), None) => Some(Value::Str(s.clone())),
            (Some(v), Some(encoding)) => v.as_bytes().and_then(|b| decode_text(b, encoding, budget)),
            _ => None,
        },
        ("builtins", "bytes.decode") | ("builtins", "bytearray.decode") => {
            let encoding = arg(1).and_then(Value::as_str).unwrap_or("utf-8");
            arg(0)
                .and_then(Value::as_bytes)
                .and_then(|b| decode_text(b, encoding, budget))
        }
        ("builtins", "str.encode") | ("builtins", "bytes") => {
            let encoding = arg(1).and_then(Value::as_str).unwrap_or("utf-8");
            match arg(0) {
                Some(Value::Str(s)) => encode_text(s, encoding, budget),
                Some(Value::Bytes(b)) => Some(Value::Bytes(b.clone())),
                _ => None,
            }
        }
        ("builtins", "bytes.fromhex" | "bytearray.fromhex") => arg(0)
            .and_then(Value::as_str)
            .and_then(|s| transform(Transform::Hex, s.as_bytes(), budget)),
        ("builtins", "chr") => match arg(0) {
            Some(Value::Int(i)) => u32::try_from(*i)
                .ok()
                .and_then(char::from_u32)
                .map(|c| computed_str(c.to_string())),
            _ => None,
        },
        ("codecs", "decode" | "encode") => {
            let encoding = arg(1)
                .cloned()
                .or_else(|| kwarg("encoding"))
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "utf-8".to_string());
            arg(0).and_then(|v| codec(v, &encoding, name == "encode", budget))
        }
        ("base64", "b64decode" | "standard_b64decode" | "decodebytes" | "decodestring")
        | ("binascii", "a2b_base64") => {
            input_bytes(arg(0), budget).and_then(|b| transform(Transform::Base64, &b, budget))
        }
        ("base64", "urlsafe_b64decode") => {
            input_bytes(arg(0), budget).and_then(|b| transform(Transform::UrlsafeBase64, &b, budget))
        }
        ("base64", "b32decode") => input_bytes(arg(0), budget).and_then(|b| transform(Transform::Base32, &b, budget)),
        ("base64", "b32hexdecode") => {
            input_bytes(arg(0), budget).and_then(|b| transform(Transform::Base32Hex, &b, budget))
        }
        ("base64", "a85decode") => input_bytes(arg(0), budget).and_then(|b| transform(Transform::Ascii85, &b, budget)),
        ("base64", "b85decode") => input_bytes(arg(0), budget).and_then(|b| transform(Transform::Base85, &b, budget)),
        // A file object over constant bytes reads as those bytes (pickle.load(io.BytesIO(b))).
        ("io", "BytesIO") => arg(0).filter(|v| v.as_bytes().is_some()).cloned(),
        ("base64", "b16decode") | ("binascii", "unhexlify" | "a2b_hex") => {
            input_bytes(arg(0), budget).and_then(|b| transform(Transform::Hex, &b, budget))
        }
        ("zlib", "decompress") => input_bytes(arg(0), budget).and_then(|b| inflate(Codec::Zlib, &b, budget)),
        ("gzip", "decompress") => input_bytes(arg(0), budget).and_then(|b| inflate(Codec::Gzip, &b, budget)),
        ("bz2", "decompress") => input_bytes(arg(0), budget).and_then(|b| inflate(Codec::Bz2, &b, budget)),
        ("lzma", "decompress") => input_bytes(arg(0), budget).and_then(|b| {
            let codec = if b.starts_with(b"\xfd7zXZ") {
                Codec::Xz
            } else {
                Codec::Lzma
            };
            inflate(codec, &b, budget)
        }),
        _ => None,
    };
    eval.trampoline = trampoline(module, name, &items, kwargs);
    eval
}

/// Functions that call one of their arguments.
fn trampoline<'a>(
    module: &str,
    name: &str,
    items: &[Value<'a>],
    kwargs: Option<&Value<'a>>,
) -> Option<(Value<'a>, Value<'a>)> {
    let item = |i: usize| items.get(i).cloned();
    match (module, name) {
        // torch._tensor._rebuild_from_type(_v2)(func, new_type, args, state): func(*args)
        ("torch._tensor", "_rebuild_from_type_v2" | "_rebuild_from_type") => Some((item(0)?, item(2)?)),
        // copyreg._reconstructor(cls, base, state): base.__init__(obj, state) unless base is object
        ("copyreg", "_reconstructor") => {
            let base = item(1)?;
            let is_object =
                matches!(&base, Value::Global(g) if canonical_module(&g.module) == "builtins" && &*g.name == "object");
            if is_object {
                None
            } else {
                Some((base, tuple(vec![item(2)?])))
            }
        }
        ("copyreg", "__newobj__") => Some((item(0)?, tuple(items.get(1..)?.to_vec()))),
        ("copyreg", "__newobj_ex__") => Some((item(0)?, item(1)?)),
        ("functools", "reduce") => {
            let seq = item(1)?.items()?;
            Some((item(0)?, tuple(seq.into_iter().take(2).collect())))
        }
        ("builtins", "map" | "filter") | ("itertools", "starmap") => {
            let first = item(1)?.items()?.into_iter().next()?;
            let args = if name == "starmap" { first } else { tuple(vec![first]) };
            Some((item(0)?, args))
        }
        ("builtins", "sorted" | "min" | "max") => {
            let key = kwargs.and_then(|kw| dict_get_str(kw, "key"))?;
            let first = item(0)?.items()?.into_iter().next()?;
            Some((key, tuple(vec![first])))
        }
        _ => None,
    }
}

fn tuple<'a>(items: Vec<Value<'a>>) -> Value<'a> {
    let weight = items.iter().fold(1u64, |w, v| w.saturating_add(v.weight()));
    let depth = items.iter().map(Value::depth).max().unwrap_or(0).saturating_add(1);
    Value::Tuple(Rc::new(Seq {
        items,
        omitted: 0,
        weight,
        depth,
    }))
}

fn truthy(v: &Value<'_>) -> bool {
    match v {
        Value::None => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Str(s) => !s.is_empty(),
        other => other.items().is_none_or(|items| !items.is_empty()),
    }
}

fn computed_str<'a>(s: String) -> Value<'a> {
    Value::Str(Text::Computed(s.into()))
}

/// The global a lookup returns; `None` (unmodelled) for names past `MAX_NAME_BYTES`.
fn global<'a>(offset: usize, module: &str, name: &str) -> Option<Value<'a>> {
    if module.len() + name.len() > MAX_NAME_BYTES {
        return None;
    }
    Some(Value::Global(Rc::new(Global {
        module: module.into(),
        name: name.into(),
        offset,
        opcode: Opcode::REDUCE,
        origin: GlobalOrigin::Lookup,
        renamed_from: None,
        elided_from: None,
    })))
}

/// `a.b.c` without a module boundary: the first component is taken as the module (knowledge
/// base matching works on the whole dotted path).
fn dotted_global<'a>(offset: usize, path: &str) -> Option<Value<'a>> {
    match path.split_once('.') {
        Some((m, rest)) => global(offset, m, rest),
        None => global(offset, "builtins", path),
    }
}

fn builtin_type_name(v: &Value<'_>) -> Option<&'static str> {
    Some(match v {
        Value::Str(_) => "str",
        Value::Bytes(_) => "bytes",
        Value::ByteArray(_) => "bytearray",
        Value::Int(_) | Value::BigInt(_) => "int",
        Value::Float(_) => "float",
        Value::Tuple(_) => "tuple",
        Value::List(_) => "list",
        Value::Dict(_) => "dict",
        Value::Set(_) => "set",
        Value::FrozenSet(_) => "frozenset",
        _ => return None,
    })
}

/// `getattr(obj, attr)` as far as it can be known statically.
pub fn getattr<'a>(offset: usize, obj: &Value<'a>, attr: &str) -> Option<Value<'a>> {
    if attr.len() > MAX_NAME_BYTES {
        return None;
    }
    if let Some(type_name) = builtin_type_name(obj) {
        let target = Target::new("builtins", &format!("{type_name}.{attr}"));
        return Some(Value::Bound(Rc::new(Bound {
            receiver: obj.clone(),
            target,
        })));
    }
    match resolve(obj)? {
        Resolved::Module(m) => global(offset, &m, attr),
        Resolved::Callable(t) => {
            let t = t.attr(attr)?;
            global(offset, &t.module, &t.name)
        }
        Resolved::Instance(t) => Some(Value::Bound(Rc::new(Bound {
            receiver: obj.clone(),
            target: t.attr(attr)?,
        }))),
    }
}

/// `obj[key]`: constant dicts, and namespaces (a module's `__dict__`, `__builtins__`).
fn getitem<'a>(offset: usize, obj: &Value<'a>, key: &Value<'a>) -> Option<Value<'a>> {
    // Long keys are not modelled: comparing them against every key of a dict, call after call,
    // would cost their length each time.
    let key_len = key.as_str().map(str::len).or_else(|| key.as_bytes().map(<[u8]>::len));
    if key_len.is_some_and(|len| len > MAX_NAME_BYTES) {
        return None;
    }
    if let Value::Dict(pairs) = obj {
        return dict_lookup(pairs, |k| same_constant(k, key));
    }
    let name = key.as_str()?;
    match resolve(obj)? {
        Resolved::Module(m) => global(offset, &m, name),
        Resolved::Callable(t) => {
            let t = t.attr(name)?;
            global(offset, &t.module, &t.name)
        }
        Resolved::Instance(_) => None,
    }
}

fn same_constant(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => **x == **y,
        (Value::Bytes(x), Value::Bytes(y)) => **x == **y,
        (Value::Int(x), Value::Int(y)) => x == y,
        _ => false,
    }
}

fn dict_get_str<'a>(dict: &Value<'a>, name: &str) -> Option<Value<'a>> {
    match dict {
        Value::Dict(pairs) => dict_lookup(pairs, |k| k.as_str() == Some(name)),
        _ => None,
    }
}

/// The value of the last entry whose key matches, as a dict keeps the last write. Unknown when
/// entries past the container limit were dropped: one of them may overwrite the key.
fn dict_lookup<'a>(pairs: &std::cell::RefCell<Pairs<'a>>, matches: impl Fn(&Value<'a>) -> bool) -> Option<Value<'a>> {
    let pairs = pairs.borrow();
    if pairs.omitted > 0 {
        return None;
    }
    pairs
        .items
        .iter()
        .rev()
        .find(|(k, _)| matches(k))
        .map(|(_, v)| v.clone())
}

fn concat<'a>(a: &Value<'a>, b: &Value<'a>, budget: &mut Budget) -> Option<Value<'a>> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) if budget.take(x.len() + y.len()) => {
            Some(computed_str(format!("{}{}", &**x, &**y)))
        }
        (Value::Bytes(x), Value::Bytes(y)) if budget.take(x.len() + y.len()) => {
            let mut out = x.to_vec();
            out.extend_from_slice(y);
            Some(Value::Bytes(Blob::Owned(out.into())))
        }
        _ => None,
    }
}

/// The bytes a decoder reads, charged to the budget: a memoized input handed to a decoder
/// call after call would otherwise be read again each time at no cost.
fn input_bytes(v: Option<&Value<'_>>, budget: &mut Budget) -> Option<Vec<u8>> {
    let bytes: &[u8] = match v? {
        Value::Str(s) => s.as_bytes(),
        Value::Bytes(b) | Value::ByteArray(b) => b,
        _ => return None,
    };
    budget.take(bytes.len()).then(|| bytes.to_vec())
}

fn decode_text<'a>(b: &[u8], encoding: &str, budget: &mut Budget) -> Option<Value<'a>> {
    if !budget.take(b.len()) {
        return None;
    }
    let text = match normalize_codec(encoding).as_str() {
        "utf8" | "utf_8" => String::from_utf8(b.to_vec()).ok()?,
        "ascii" | "us_ascii" => String::from_utf8(b.to_vec()).ok().filter(|s| s.is_ascii())?,
        "latin1" | "latin_1" | "iso8859_1" | "iso_8859_1" | "l1" => b.iter().map(|&c| char::from(c)).collect(),
        _ => return None,
    };
    Some(computed_str(text))
}

fn encode_text<'a>(s: &str, encoding: &str, budget: &mut Budget) -> Option<Value<'a>> {
    if !budget.take(s.len()) {
        return None;
    }
    let bytes: Vec<u8> = match normalize_codec(encoding).as_str() {
        "utf8" | "utf_8" => s.as_bytes().to_vec(),
        "ascii" | "us_ascii" if s.is_ascii() => s.as_bytes().to_vec(),
        "latin1" | "latin_1" | "iso8859_1" | "iso_8859_1" | "l1" => s
            .chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect::<Option<Vec<u8>>>()?,
        _ => return None,
    };
    Some(Value::Bytes(Blob::Owned(bytes.into())))
}

fn normalize_codec(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('-', "_")
}

/// `codecs.decode`/`codecs.encode` for the codecs that matter for hiding payloads.
fn codec<'a>(v: &Value<'a>, encoding: &str, encode: bool, budget: &mut Budget) -> Option<Value<'a>> {
    let name = normalize_codec(encoding);
    match name.as_str() {
        "rot13" | "rot_13" => {
            let s = v.as_str()?;
            budget
                .take(s.len())
                .then(|| computed_str(s.chars().map(rot13).collect()))
        }
        "base64" | "base64_codec" | "base_64" if !encode => {
            transform(Transform::Base64, &input_bytes(Some(v), budget)?, budget)
        }
        "hex" | "hex_codec" if !encode => transform(Transform::Hex, &input_bytes(Some(v), budget)?, budget),
        "zlib" | "zlib_codec" | "zip" if !encode => inflate(Codec::Zlib, &input_bytes(Some(v), budget)?, budget),
        "bz2" | "bz2_codec" if !encode => inflate(Codec::Bz2, &input_bytes(Some(v), budget)?, budget),
        _ if encode => v.as_str().and_then(|s| encode_text(s, &name, budget)),
        _ => v.as_bytes().and_then(|b| decode_text(b, &name, budget)),
    }
}

fn rot13(c: char) -> char {
    match c {
        'a'..='z' => (((c as u8 - b'a') + 13) % 26 + b'a') as char,
        'A'..='Z' => (((c as u8 - b'A') + 13) % 26 + b'A') as char,
        _ => c,
    }
}

#[derive(Debug, Clone, Copy)]
enum Transform {
    Base64,
    UrlsafeBase64,
    Base32,
    Base32Hex,
    Ascii85,
    Base85,
    Hex,
}

fn transform<'a>(t: Transform, input: &[u8], budget: &mut Budget) -> Option<Value<'a>> {
    let out = match t {
        Transform::Base64 => base64_decode(input, false)?,
        Transform::UrlsafeBase64 => base64_decode(input, true)?,
        Transform::Base32 => base32_decode(input, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")?,
        Transform::Base32Hex => base32_decode(input, b"0123456789ABCDEFGHIJKLMNOPQRSTUV")?,
        Transform::Ascii85 => ascii85_decode(input)?,
        Transform::Base85 => base85_decode(input)?,
        Transform::Hex => hex_decode(input)?,
    };
    budget.take(out.len()).then(|| Value::Bytes(Blob::Owned(out.into())))
}

fn inflate<'a>(codec: Codec, input: &[u8], budget: &mut Budget) -> Option<Value<'a>> {
    let cap = budget.max_value.min(budget.bytes_left);
    match decompress(codec, input, cap) {
        Ok(out) => budget.take(out.len()).then(|| Value::Bytes(Blob::Owned(out.into()))),
        Err(crate::formats::compress::DecompressError::TooLarge { .. }) => {
            budget.exhausted = true;
            None
        }
        Err(_) => None,
    }
}

/// Python's `b64decode` without `validate` (binascii's non-strict `a2b_base64`): characters
/// outside the alphabet are discarded, and padding ends the input only once it completes a
/// group of four (`'c2V0=YXR0cg=='` is `setattr`). `None` where Python raises. The URL-safe
/// form translates `-_` to `+/` first, so it accepts both.
pub fn base64_decode(input: &[u8], urlsafe: bool) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u8> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'-' if urlsafe => 62,
            b'_' if urlsafe => 63,
            _ => return None,
        })
    };
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let (mut quad, mut pads, mut left) = (0u8, 0u8, 0u8);
    for &c in input {
        if c == b'=' {
            if quad >= 2 {
                pads += 1;
                if quad + pads >= 4 {
                    return Some(out);
                }
            }
            continue;
        }
        let Some(v) = value(c) else { continue };
        pads = 0;
        match quad {
            0 => left = v,
            1 => {
                out.push((left << 2) | (v >> 4));
                left = v & 0x0f;
            }
            2 => {
                out.push((left << 4) | (v >> 2));
                left = v & 0x03;
            }
            _ => out.push((left << 6) | v),
        }
        quad = (quad + 1) % 4;
    }
    (quad == 0).then_some(out)
}

fn base32_decode(input: &[u8], alphabet: &[u8; 32]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u64;
    let mut bits = 0;
    for &c in input {
        if c == b'=' {
            break;
        }
        let v = alphabet.iter().position(|&a| a == c)? as u64;
        acc = (acc << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Groups of five base-85 digits to four bytes; a short last group is padded with the top digit.
fn decode85(digits: impl Iterator<Item = Option<u32>>) -> Option<Vec<u8>> {
    let digits: Vec<u32> = digits.collect::<Option<_>>()?;
    let mut out = Vec::with_capacity(digits.len() * 4 / 5);
    for chunk in digits.chunks(5) {
        let mut group = [84u32; 5];
        group[..chunk.len()].copy_from_slice(chunk);
        let value = group
            .iter()
            .try_fold(0u32, |acc, &d| acc.checked_mul(85)?.checked_add(d))?;
        let bytes = value.to_be_bytes();
        let take = if chunk.len() == 5 {
            4
        } else {
            chunk.len().saturating_sub(1)
        };
        out.extend_from_slice(&bytes[..take]);
    }
    Some(out)
}

/// `base64.a85decode` (Adobe framing `<~ ~>` optional; `z` stands for four zero bytes).
fn ascii85_decode(input: &[u8]) -> Option<Vec<u8>> {
    let body = input.strip_prefix(b"<~").unwrap_or(input);
    let body = body.strip_suffix(b"~>").unwrap_or(body);
    let mut expanded = Vec::with_capacity(body.len());
    for &c in body.iter().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'z' {
            expanded.extend_from_slice(b"!!!!!");
        } else {
            expanded.push(c);
        }
    }
    decode85(
        expanded
            .iter()
            .map(|&c| (b'!'..=b'u').contains(&c).then(|| u32::from(c - b'!'))),
    )
}

/// `base64.b85decode` (the RFC 1924 alphabet git and Mercurial use).
fn base85_decode(input: &[u8]) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";
    decode85(
        input
            .iter()
            .map(|c| ALPHABET.iter().position(|a| a == c).map(|p| p as u32)),
    )
}

fn hex_decode(input: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = input.iter().copied().filter(|c| !c.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

/// CPython's `_compat_pickle` renames applied by `find_class` when the protocol is below 3.
pub fn compat_rename(module: &str, name: &str) -> Option<(&'static str, String)> {
    let pair = match (module, name) {
        ("__builtin__", "xrange") => Some(("builtins", "range")),
        ("__builtin__", "reduce") => Some(("functools", "reduce")),
        ("__builtin__", "intern") => Some(("sys", "intern")),
        ("__builtin__", "unichr") => Some(("builtins", "chr")),
        ("__builtin__", "unicode") => Some(("builtins", "str")),
        ("__builtin__", "long") => Some(("builtins", "int")),
        ("__builtin__", "basestring") => Some(("builtins", "str")),
        ("__builtin__", "raw_input") => Some(("builtins", "input")),
        ("__builtin__", "execfile") => None,
        ("itertools", "izip") => Some(("builtins", "zip")),
        ("itertools", "imap") => Some(("builtins", "map")),
        ("itertools", "ifilter") => Some(("builtins", "filter")),
        ("itertools", "ifilterfalse") => Some(("itertools", "filterfalse")),
        ("itertools", "izip_longest") => Some(("itertools", "zip_longest")),
        ("UserDict", "UserDict") | ("UserDict", "IterableUserDict") => Some(("collections", "UserDict")),
        ("UserList", "UserList") => Some(("collections", "UserList")),
        ("UserString", "UserString") => Some(("collections", "UserString")),
        ("whichdb", "whichdb") => Some(("dbm", "whichdb")),
        ("_socket", "fromfd") => Some(("socket", "fromfd")),
        ("_multiprocessing", "Connection") => Some(("multiprocessing.connection", "Connection")),
        ("multiprocessing.process", "Process") => Some(("multiprocessing.context", "Process")),
        ("urllib", "getproxies") => Some(("urllib.request", "getproxies")),
        ("urllib", "pathname2url") => Some(("urllib.request", "pathname2url")),
        ("urllib", "quote_plus") => Some(("urllib.parse", "quote_plus")),
        ("urllib", "quote") => Some(("urllib.parse", "quote")),
        ("urllib", "unquote_plus") => Some(("urllib.parse", "unquote_plus")),
        ("urllib", "unquote") => Some(("urllib.parse", "unquote")),
        ("urllib", "url2pathname") => Some(("urllib.request", "url2pathname")),
        ("urllib", "urlcleanup") => Some(("urllib.request", "urlcleanup")),
        ("urllib", "urlencode") => Some(("urllib.parse", "urlencode")),
        ("urllib", "urlopen") => Some(("urllib.request", "urlopen")),
        ("urllib", "urlretrieve") => Some(("urllib.request", "urlretrieve")),
        ("urllib2", "HTTPError") => Some(("urllib.error", "HTTPError")),
        ("urllib2", "URLError") => Some(("urllib.error", "URLError")),
        _ => None,
    };
    if let Some((m, n)) = pair {
        return Some((m, n.to_string()));
    }
    if module == "exceptions" {
        return Some(("builtins", name.to_string()));
    }
    let renamed_module = match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        "Queue" => "queue",
        "SocketServer" => "socketserver",
        "ConfigParser" => "configparser",
        "repr" => "reprlib",
        "tkFileDialog" => "tkinter.filedialog",
        "tkSimpleDialog" | "SimpleDialog" => "tkinter.simpledialog",
        "tkColorChooser" => "tkinter.colorchooser",
        "tkCommonDialog" => "tkinter.commondialog",
        "Dialog" => "tkinter.dialog",
        "Tkdnd" => "tkinter.dnd",
        "tkFont" => "tkinter.font",
        "tkMessageBox" => "tkinter.messagebox",
        "ScrolledText" => "tkinter.scrolledtext",
        "Tkconstants" => "tkinter.constants",
        "Tix" => "tkinter.tix",
        "ttk" => "tkinter.ttk",
        "Tkinter" => "tkinter",
        "markupbase" => "_markupbase",
        "_winreg" => "winreg",
        "thread" => "_thread",
        "dummy_thread" => "_dummy_thread",
        "dbhash" => "dbm.bsd",
        "dumbdbm" => "dbm.dumb",
        "dbm" => "dbm.ndbm",
        "gdbm" => "dbm.gnu",
        "xmlrpclib" => "xmlrpc.client",
        "DocXMLRPCServer" | "SimpleXMLRPCServer" => "xmlrpc.server",
        "httplib" => "http.client",
        "htmlentitydefs" => "html.entities",
        "HTMLParser" => "html.parser",
        "Cookie" => "http.cookies",
        "cookielib" => "http.cookiejar",
        "BaseHTTPServer" | "SimpleHTTPServer" | "CGIHTTPServer" => "http.server",
        "test.test_support" => "test.support",
        "commands" => "subprocess",
        "urlparse" => "urllib.parse",
        "robotparser" => "urllib.robotparser",
        "urllib2" => "urllib.request",
        "anydbm" => "dbm",
        "_abcoll" => "collections.abc",
        "cPickle" => "pickle",
        "_elementtree" => "xml.etree.ElementTree",
        "FileDialog" => "tkinter.filedialog",
        "StringIO" | "cStringIO" => "io",
        "UserDict" | "UserList" | "UserString" => "collections",
        "__main__" | "builtins" => return None,
        _ => return None,
    };
    Some((renamed_module, name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_hex() {
        assert_eq!(base64_decode(b"b3M=", false).unwrap(), b"os");
        // binascii's non-strict rules: padding ends the input only once it completes a group.
        assert_eq!(base64_decode(b"c2V0=YXR0cg==", false).unwrap(), b"setattr");
        for padded in [&b"b3=M="[..], b"b=3M=", b"=b3M=", b"b3M=ignored"] {
            assert_eq!(base64_decode(padded, false).unwrap(), b"os");
        }
        // Python raises on an incomplete group.
        assert_eq!(base64_decode(b"b3M\n", false), None);
        assert_eq!(base64_decode(b"b", false), None);
        assert_eq!(base64_decode(b"b3+/", true).unwrap(), b"o\x7f\xbf");
        assert_eq!(hex_decode(b"6f73").unwrap(), b"os");
        assert_eq!(
            base32_decode(b"N5ZQ====", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567").unwrap(),
            b"os"
        );
        assert_eq!(
            base32_decode(b"DTPG====", b"0123456789ABCDEFGHIJKLMNOPQRSTUV").unwrap(),
            b"os"
        );
        assert_eq!(ascii85_decode(b"DfY").unwrap(), b"os");
        assert_eq!(ascii85_decode(b"BOu!rD]j7BEbo80+T").unwrap(), b"hello world!!");
        assert_eq!(base85_decode(b"Z*u").unwrap(), b"os");
        assert_eq!(base85_decode(b"Xk~0{Zy<MXa%^NFAp").unwrap(), b"hello world!!");
        assert!(hex_decode(b"6f7").is_none());
    }

    #[test]
    fn compat_renames_follow_cpython() {
        assert_eq!(
            compat_rename("commands", "getoutput"),
            Some(("subprocess", "getoutput".into()))
        );
        assert_eq!(
            compat_rename("urllib", "urlopen"),
            Some(("urllib.request", "urlopen".into()))
        );
        assert_eq!(
            compat_rename("__builtin__", "reduce"),
            Some(("functools", "reduce".into()))
        );
        assert_eq!(compat_rename("__builtin__", "eval"), Some(("builtins", "eval".into())));
        assert_eq!(compat_rename("os", "system"), None);
    }

    #[test]
    fn rot13_roundtrip() {
        let s: String = "flfgrz".chars().map(rot13).collect();
        assert_eq!(s, "system");
    }
}
