//! What one pickle stream would do, reduced to what the rules need: every call and global that
//! is not plainly allowlisted is kept; allowlisted ones are counted and dropped, so memory stays
//! flat on multi-million-opcode benign files.

use super::AllowPattern;
use crate::formats::pickle::semantics::{self, Resolved};
use crate::formats::pickle::{Call, CallKind, ComputedGlobal, Global, Observer, Target, Value};
use crate::kb::{Class, Kb};
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
    /// Paths of every callable actually invoked (allowlisted or not).
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
    last_target: Option<Target>,
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
            last_target: None,
        }
    }

    /// The knowledge base's class, with the project allowlist applied to unknown globals.
    fn classify(&mut self, module: &str, name: &str) -> Option<Class<'k>> {
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
        let Some(class) = self.classify(&global.module, &global.name) else {
            return;
        };
        match class {
            Class::Allowed { framework, .. } => *self.frameworks_seen.entry(framework.id.clone()).or_default() += 1,
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
        let target = match (&call.target, call.kind) {
            (Some(t), _) => Some(t.clone()),
            (None, CallKind::Method(method)) => match semantics::resolve(&call.callee) {
                Some(Resolved::Module(m)) => Some(Target::new(&m, method)),
                Some(Resolved::Callable(t)) => Some(t.attr(method)),
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
        let Some(class) = self.classify(&target.module, &target.name) else {
            self.invoked_paths.insert(target.path());
            return;
        };
        if matches!(class, Class::Allowed { .. }) {
            self.invoked_paths.insert(target.path());
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
