//! What one pickle stream would do, reduced to what the rules need: every call and global that
//! is not plainly allowlisted is kept; allowlisted ones are counted and dropped, so memory stays
//! flat on multi-million-opcode benign files.

use super::AllowPattern;
use crate::formats::pickle::semantics::{self, Resolved};
use crate::formats::pickle::{Call, CallKind, ComputedGlobal, Global, Observer, Target, Value};
use crate::kb::{Class, Kb};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

pub struct KeptCall<'a, 'k> {
    pub call: Rc<Call<'a>>,
    /// Effective target, including the method a non-container APPEND/SETITEM reaches.
    pub target: Option<Target>,
    pub class: Class<'k>,
    /// For trampoline calls: the function that makes the call.
    pub trampoline_of: Option<Target>,
}

pub struct Build<'a> {
    pub offset: usize,
    pub target: Value<'a>,
    pub state: Value<'a>,
}

pub struct Facts<'a, 'k> {
    pub kb: &'k Kb,
    /// The project's own allowlist.
    allow: &'k [AllowPattern],
    pub calls: Vec<KeptCall<'a, 'k>>,
    pub globals: Vec<(Rc<Global>, Class<'k>)>,
    pub computed_globals: Vec<Rc<ComputedGlobal<'a>>>,
    /// BUILD applied to a module, class or function (not to an instance).
    pub global_builds: Vec<Build<'a>>,
    /// Paths of the callables actually invoked that no allowlist covers.
    pub invoked_paths: HashSet<String>,
    /// Allowlisted globals seen, per framework id (for context in explanations).
    pub frameworks_seen: BTreeMap<String, u32>,
    /// Project `[[allow]]` patterns that covered a global here (so unused ones can be reported).
    pub allow_hits: std::collections::BTreeSet<String>,
    /// What `load()` returns, when the stream reached STOP.
    pub result: Option<Value<'a>>,
    /// Calls of callables the analysis could not resolve (results of other calls).
    pub unresolved_calls: Vec<Rc<Call<'a>>>,
    /// A cap on kept records was reached: the stream was not fully analysed.
    pub overflowed: bool,
    /// Storages the stream declares through persistent_load (PyTorch archives).
    pub storages: Vec<StorageDecl>,
    /// Tensor views that reach past the storage they are built on.
    pub overreaching_views: Vec<OverreachingView>,
    last_target: Option<Target>,
    /// Classes already looked up in this stream: a module file calls the same few classes
    /// thousands of times.
    classes: FxHashMap<Rc<str>, FxHashMap<Rc<str>, Cached<'k>>>,
    /// The same, by the addresses of the very strings looked up: a memoized global called a
    /// million times shares its strings, and a long name is then not hashed a million times.
    /// The entry holds the strings, so an address cannot be reused while it is cached.
    classes_by_address: FxHashMap<(*const u8, *const u8), PinnedClass<'k>>,
    /// One copy of each storage key and class: a stream can declare the same long key through
    /// the memo a hundred thousand times.
    storage_names: FxHashSet<Rc<str>>,
}

/// A cached classification with the module and name strings it is for (their addresses are the
/// key, so they are kept alive).
type PinnedClass<'k> = (Rc<str>, Rc<str>, Cached<'k>);

/// A classification as `classify` returns it: the knowledge base's answer, or the project's
/// allowlist pattern that covered an unknown global.
#[derive(Clone, Copy)]
enum Cached<'k> {
    Kb(Class<'k>),
    Project,
}

impl<'a, 'k> Facts<'a, 'k> {
    pub fn new(kb: &'k Kb, allow: &'k [AllowPattern]) -> Self {
        Facts {
            kb,
            allow,
            calls: Vec::new(),
            globals: Vec::new(),
            computed_globals: Vec::new(),
            global_builds: Vec::new(),
            invoked_paths: HashSet::new(),
            frameworks_seen: BTreeMap::new(),
            allow_hits: Default::default(),
            result: None,
            unresolved_calls: Vec::new(),
            overflowed: false,
            storages: Vec::new(),
            overreaching_views: Vec::new(),
            last_target: None,
            classes: FxHashMap::default(),
            classes_by_address: FxHashMap::default(),
            storage_names: FxHashSet::default(),
        }
    }

    /// The knowledge base's class, with the project allowlist applied to unknown globals.
    fn classify(&mut self, module: &Rc<str>, name: &Rc<str>) -> Option<Class<'k>> {
        let address = (module.as_ptr(), name.as_ptr());
        let cached = match self.classes_by_address.get(&address) {
            Some(&(_, _, cached)) => Some(cached),
            None => self
                .classes
                .get(&**module)
                .and_then(|names| names.get(&**name))
                .copied(),
        };
        let Some(cached) = cached else {
            let class = self.lookup(module, name);
            let cached = class.map_or(Cached::Project, Cached::Kb);
            self.classes
                .entry(module.clone())
                .or_default()
                .insert(name.clone(), cached);
            self.classes_by_address
                .insert(address, (module.clone(), name.clone(), cached));
            return class;
        };
        self.classes_by_address
            .entry(address)
            .or_insert_with(|| (module.clone(), name.clone(), cached));
        match cached {
            Cached::Kb(class) => Some(class),
            Cached::Project => {
                *self.frameworks_seen.entry("project".to_string()).or_default() += 1;
                None
            }
        }
    }

    /// `classify` without the cache.
    fn lookup(&mut self, module: &str, name: &str) -> Option<Class<'k>> {
        let class = self.kb.classify(module, name);
        if matches!(class, Class::Unknown) {
            if let Some(pattern) = self.allow.iter().find(|p| p.matches(module, name)) {
                *self.frameworks_seen.entry("project".to_string()).or_default() += 1;
                self.allow_hits.insert(pattern.to_string());
                return None;
            }
        }
        Some(class)
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
            && self.unresolved_calls.is_empty()
            && self.globals.is_empty()
            && self.computed_globals.is_empty()
            && self.global_builds.is_empty()
    }
}

/// Cap on kept records per stream; a hostile stream cannot make the analysis grow without bound.
/// Reaching it makes the stream incomplete (`overflowed`), so nothing dropped can pass as clean.
const MAX_KEPT: usize = 10_000;
/// Dangerous calls and globals are kept well past the general cap.
const MAX_KEPT_DANGEROUS: usize = 100_000;

fn room(len: usize, class: &Class<'_>) -> bool {
    len < if matches!(class, Class::Dangerous(_)) {
        MAX_KEPT_DANGEROUS
    } else {
        MAX_KEPT
    }
}

impl<'a> Observer<'a> for Facts<'a, '_> {
    fn on_global(&mut self, global: &Rc<Global>) {
        let class = match self.classify(&global.module, &global.name) {
            // Only the ends of an over-long name were kept: whatever allowlist they match, the
            // name is not one a framework writes, and the rules must see it.
            None | Some(Class::Allowed { .. }) if global.elided_from.is_some() => Class::Unknown,
            Some(class) => class,
            None => return,
        };
        match class {
            Class::Allowed { framework, .. } => *self.frameworks_seen.entry(framework.id.to_string()).or_default() += 1,
            _ if room(self.globals.len(), &class) => self.globals.push((global.clone(), class)),
            _ => self.overflowed = true,
        }
    }

    fn on_computed_global(&mut self, global: &Rc<ComputedGlobal<'a>>) {
        if self.computed_globals.len() < MAX_KEPT {
            self.computed_globals.push(global.clone());
        } else {
            self.overflowed = true;
        }
    }

    fn on_call(&mut self, call: &Rc<Call<'a>>) {
        if call.kind == CallKind::PersistentLoad {
            if let Some(storage) = storage_decl(call, &mut self.storage_names) {
                if self.storages.len() < MAX_KEPT_DANGEROUS {
                    self.storages.push(storage);
                }
            }
        }
        if let Some(view) = overreaching_view(call, &mut self.storage_names) {
            if self.overreaching_views.len() < MAX_KEPT {
                self.overreaching_views.push(view);
            }
        }
        let target = match (&call.target, call.kind) {
            (Some(t), _) => Some(t.clone()),
            (None, CallKind::Method(method)) => match semantics::resolve(&call.callee) {
                Some(Resolved::Module(m)) => Some(Target::new(&m, method)),
                Some(Resolved::Callable(t)) => t.attr(method),
                _ => None,
            },
            _ => None,
        };
        let trampoline_of = if call.kind == CallKind::Trampoline {
            self.last_target.clone()
        } else {
            None
        };
        self.last_target = target.clone();
        let Some(target) = target else {
            // A call of something the analysis cannot resolve (the result of another call, a
            // computed global) is kept for the rules that judge unresolved callables.
            let unresolved = matches!(
                call.kind,
                CallKind::Reduce | CallKind::Inst | CallKind::Obj | CallKind::NewObj | CallKind::NewObjEx
            ) && matches!(call.callee, Value::Call(_) | Value::ComputedGlobal(_));
            if unresolved {
                if self.unresolved_calls.len() < MAX_KEPT {
                    self.unresolved_calls.push(call.clone());
                } else {
                    self.overflowed = true;
                }
            }
            return;
        };
        // Allowlisted callables (the framework's or the project's) are never reported, so
        // nothing needs to know they were invoked.
        let Some(class) = self.classify(&target.module, &target.name) else {
            return;
        };
        if matches!(class, Class::Allowed { .. }) {
            return;
        }
        if room(self.calls.len(), &class) {
            self.invoked_paths.insert(target.path());
            self.calls.push(KeptCall {
                call: call.clone(),
                target: Some(target),
                class,
                trampoline_of,
            });
        } else {
            self.overflowed = true;
        }
    }

    fn on_stop(&mut self, result: &Value<'a>) {
        self.result = Some(result.clone());
    }

    fn on_build(&mut self, offset: usize, target: &Value<'a>, state: &Value<'a>) {
        let on_global = matches!(
            semantics::resolve(target),
            Some(Resolved::Callable(_) | Resolved::Module(_))
        );
        if on_global && self.global_builds.len() < MAX_KEPT {
            self.global_builds.push(Build {
                offset,
                target: target.clone(),
                state: state.clone(),
            });
        }
    }
}

/// A storage a PyTorch pickle declares: `persistent_load(('storage', <type>, key, location, numel))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageDecl {
    pub offset: usize,
    pub key: Rc<str>,
    pub numel: u64,
    /// The storage type (`torch.FloatStorage`).
    pub class: Rc<str>,
    /// Bytes per element, from the storage type (0: unknown type).
    pub itemsize: u64,
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, …)` whose last element lies past the
/// storage's `numel`: an out-of-bounds view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverreachingView {
    pub offset: usize,
    pub key: Rc<str>,
    /// Elements the view needs (storage offset + extent).
    pub needed: u128,
    pub numel: u64,
}

/// The shared copy of `text` in `names`.
fn interned(names: &mut FxHashSet<Rc<str>>, text: &str) -> Rc<str> {
    if let Some(name) = names.get(text) {
        return name.clone();
    }
    let name = Rc::<str>::from(text);
    names.insert(name.clone());
    name
}

fn storage_decl(call: &Call<'_>, names: &mut FxHashSet<Rc<str>>) -> Option<StorageDecl> {
    let pid = call
        .args
        .with_items(|args| match args.first() {
            Some(Value::Tuple(t)) => Some(t.clone()),
            _ => None,
        })
        .flatten()?;
    let items = &pid.items;
    if items.len() < 5 || items[0].as_str() != Some("storage") {
        return None;
    }
    let key = items[2].as_str()?;
    let Value::Int(numel) = items[4] else { return None };
    let (class, itemsize) = match &items[1] {
        Value::Global(g) => (interned(names, &g.path()), element_size(&g.name)),
        _ => (Rc::from(""), 0),
    };
    let key = interned(names, key);
    Some(StorageDecl {
        offset: call.offset,
        key,
        numel: u64::try_from(numel).ok()?,
        class,
        itemsize,
    })
}

/// Bytes per element of a storage class (`FloatStorage`…; `UntypedStorage` counts bytes).
fn element_size(class: &str) -> u64 {
    match class.trim_end_matches("Storage") {
        "Double" | "Long" | "ComplexFloat" => 8,
        "ComplexDouble" => 16,
        "Float" | "Int" | "QInt32" => 4,
        "Half" | "BFloat16" | "Short" => 2,
        "Char" | "Byte" | "Bool" | "QInt8" | "QUInt8" | "QUInt4x2" | "QUInt2x4" | "Untyped" => 1,
        _ => 0,
    }
}

fn overreaching_view(call: &Call<'_>, names: &mut FxHashSet<Rc<str>>) -> Option<OverreachingView> {
    let target = call.target.as_ref()?;
    if &*target.module != "torch._utils" || !matches!(&*target.name, "_rebuild_tensor_v2" | "_rebuild_tensor") {
        return None;
    }
    call.args
        .with_items(|args| view_beyond_storage(call.offset, args, names))
        .flatten()
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, …)` arguments whose view reaches past
/// the storage's elements.
fn view_beyond_storage(offset: usize, args: &[Value<'_>], names: &mut FxHashSet<Rc<str>>) -> Option<OverreachingView> {
    let Value::Call(storage_call) = args.first()? else {
        return None;
    };
    if storage_call.kind != CallKind::PersistentLoad {
        return None;
    }
    let storage = storage_decl(storage_call, names)?;
    let Value::Int(start) = args.get(1)? else { return None };
    let ints = |v: &Value<'_>| -> Option<Vec<i64>> {
        v.with_items(|items| {
            items
                .iter()
                .map(|i| match i {
                    Value::Int(n) => Some(*n),
                    _ => None,
                })
                .collect()
        })
        .flatten()
    };
    let size = ints(args.get(2)?)?;
    let stride = ints(args.get(3)?)?;
    if size.len() != stride.len() || size.contains(&0) {
        return None;
    }
    let mut needed: i128 = i128::from(*start) + 1;
    for (n, s) in size.iter().zip(&stride) {
        needed += (i128::from(*n) - 1) * i128::from(*s);
    }
    let negative = *start < 0 || size.iter().chain(&stride).any(|v| *v < 0);
    if !negative && needed <= i128::from(storage.numel) {
        return None;
    }
    Some(OverreachingView {
        offset,
        key: storage.key,
        needed: u128::try_from(needed.max(0)).unwrap_or(0),
        numel: storage.numel,
    })
}
