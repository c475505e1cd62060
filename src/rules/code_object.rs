//! `code-object`: the load builds functions or code objects (marshal, types.CodeType/FunctionType,
//! cloudpickle/dill function rebuilders).
//!
//! Severity follows what the rebuilt code can do, read from the code object's own fields:
//! critical when the load calls the rebuilt code (or builds it with `marshal`/`types`, which no
//! library writes), high when the code names something that reaches the system or the
//! interpreter, is handed to a callable that may run it, or cannot be read in full, and medium
//! when a cloudpickle/dill function is only rebuilt and returned and its code names nothing
//! dangerous: it runs when the program calls it, like any code the author ships.

use super::{arguments, call_text, rule_meta, target_path, StreamContext};
use crate::analyze::facts::KeptCall;
use crate::formats::pickle::{Call, Value};
use crate::kb::{Class, Kb};
use crate::model::{Confidence, Finding, Severity};
use std::collections::{BTreeSet, HashSet};

rule_meta!(
    "code-object",
    "Serialized code",
    High,
    "Loading the file rebuilds Python functions or code objects; whatever code they hold runs when they are called."
);

/// Builtins that reach the interpreter or the system on their own (no import needed).
const DANGEROUS_BUILTINS: &[&str] = &[
    "eval",
    "exec",
    "execfile",
    "compile",
    "__import__",
    "open",
    "getattr",
    "setattr",
    "delattr",
    "globals",
    "locals",
    "vars",
    "breakpoint",
    "input",
    "raw_input",
    "__build_class__",
    "__builtins__",
    "__builtin__",
    "builtins",
];

/// Attributes that walk from any object to modules, frames or other code.
const INTROSPECTION: &[&str] = &[
    "__class__",
    "__base__",
    "__bases__",
    "__mro__",
    "__subclasses__",
    "__globals__",
    "__code__",
    "__closure__",
    "__func__",
    "__self__",
    "__getattribute__",
    "__reduce__",
    "__reduce_ex__",
    "__loader__",
    "__spec__",
    "__init_subclass__",
    "__dict__",
    "f_globals",
    "f_locals",
    "f_back",
    "f_builtins",
    "gi_frame",
    "cr_frame",
    "tb_frame",
    "co_code",
];

/// Nodes visited when reading a code object's fields; past it the code counts as unreadable.
const READ_BUDGET: usize = 20_000;

/// What the load does with the code it rebuilds.
enum Fate {
    /// A rebuilt function, class or method is called during the load (index of that call
    /// among the builders).
    Runs(usize),
    /// Rebuilt code is handed to a callable that is not a code builder and may call it.
    HandedTo(String),
    /// Rebuilt and stored or returned.
    Kept,
}

/// What the rebuilt code names.
enum Content {
    Dangerous(BTreeSet<String>),
    Unreadable(&'static str),
    Plain(BTreeSet<String>),
}

/// Rebuilders whose result is a type that builds code when called (`_builtin_type('CodeType')`).
const TYPE_FACTORIES: &[&str] = &["_builtin_type", "_load_type"];
/// Rebuilders whose result is a function: calling it runs the serialized code.
const FUNCTION_BUILDERS: &[&str] = &[
    "_make_function",
    "_create_function",
    "FunctionType",
    "LambdaType",
    "_make_skel_func",
    "_fill_function",
    "_function_setstate",
    "_create_ftype",
];
/// Rebuilders whose result is a class: instances run its serialized methods.
const CLASS_BUILDERS: &[&str] = &[
    "_make_skeleton_class",
    "_make_skeleton_enum",
    "_create_type",
    "_rehydrate_skeleton_class",
    "_class_setstate",
];
/// Rebuilders that import a module by name.
const IMPORTERS: &[&str] = &["subimport", "dynamic_subimport", "_import_module"];

pub fn check(cx: &StreamContext<'_, '_, '_>, out: &mut Vec<Finding>) {
    let is_builder =
        |kept: &KeptCall<'_, '_>| matches!(kept.class, Class::Dangerous(d) if d.category.id == "code-objects");
    let builders: Vec<_> = cx
        .facts
        .calls
        .iter()
        .filter(|kept| is_builder(kept) && !cx.chain_links.contains(&kept.call.id))
        .collect();
    let Some(first) = builders.first() else { return };
    let Class::Dangerous(danger) = first.class else { return };
    let mut paths: Vec<String> = builders.iter().map(|k| target_path(k)).collect();
    paths.sort();
    paths.dedup();
    let writer = if paths.iter().all(|p| p.starts_with("cloudpickle")) {
        "This is how cloudpickle stores functions and lambdas: the file is serialized code, not data. "
    } else if paths.iter().all(|p| p.starts_with("dill")) {
        "This is how dill stores functions: the file is serialized code, not data. "
    } else {
        ""
    };
    let listed_severity = builders
        .iter()
        .filter_map(|k| match k.class {
            Class::Dangerous(d) => Some(d.severity),
            _ => None,
        })
        .max()
        .unwrap_or(danger.severity);
    let built_ids: HashSet<u32> = cx
        .facts
        .calls
        .iter()
        .filter(|k| is_builder(k))
        .map(|k| k.call.id)
        .collect();
    let fate = fate(cx, &builders, &built_ids);
    let content = content(cx.facts.kb, &builders, &built_ids);
    let severity = match (&fate, &content) {
        (Fate::Runs(_), _) => Severity::Critical,
        _ if listed_severity >= Severity::Critical => listed_severity,
        (Fate::Kept, Content::Plain(_)) => Severity::Medium,
        _ => listed_severity,
    };
    // The finding points at the call that runs the code when there is one.
    let primary = match fate {
        Fate::Runs(index) => builders[index],
        _ => first,
    };
    let call = call_text(primary);
    let summary = format!(
        "{} ({} call{}, first {call})",
        paths.join(", "),
        builders.len(),
        if builders.len() == 1 { "" } else { "s" }
    );
    let (message, reading) = match (&fate, &content) {
        (Fate::Runs(_), _) => (
            format!("loading this file builds Python code and runs it: {call}"),
            "The load itself calls the rebuilt code, so whatever its bytecode does happens as the file is opened.".to_string(),
        ),
        (Fate::HandedTo(callee), _) => (
            format!("loading this file builds Python code and hands it to {callee}, which may call it: {summary}"),
            format!("The rebuilt code is passed to {callee} during the load, which can call it before the load returns."),
        ),
        (Fate::Kept, Content::Dangerous(names)) => (
            format!(
                "loading this file builds Python code that uses {}: {summary}",
                list(names)
            ),
            format!(
                "The code names {}, which reach the system or the interpreter (modules such as os, subprocess or socket, builtins such as eval, exec, getattr or open, attributes such as __globals__ or __subclasses__); it runs when the program calls the loaded function.",
                list(names)
            ),
        ),
        (Fate::Kept, Content::Unreadable(why)) => (
            format!("loading this file builds Python code that cannot be read in full ({why}): {summary}"),
            format!("What the code names cannot be read statically ({why}), so it cannot be told apart from code that reaches the system."),
        ),
        (Fate::Kept, Content::Plain(names)) => (
            format!(
                "loading this file rebuilds a Python function from serialized code without calling it; its code names only {}: {summary}",
                if names.is_empty() { "local values".to_string() } else { list(names) }
            ),
            "Nothing calls the rebuilt code during the load, and its code names no module, builtin or attribute that reaches the system or the interpreter; it runs when your program calls the loaded function. Reviewing its source (`picklegate decompile` shows the fields) is still worth it: bytecode is a program.".to_string(),
        ),
    };
    let mut finding = cx.finding(
        &META,
        severity,
        Confidence::High,
        message,
        Some(primary.call.offset),
        Some(primary.call.opcode.name()),
    );
    finding.call = Some(call);
    finding.target = Some(target_path(primary));
    finding.category = Some(danger.category.id.to_string());
    finding.explanation = Some(format!(
        "{writer}{reading} Loading it recreates Python code that runs with your privileges; only load it if you trust its author as you would trust a script. Prefer formats that hold data only (safetensors, ONNX, plain arrays)."
    ));
    arguments::enrich(&mut finding, primary);
    out.push(finding);
}

fn list(names: &BTreeSet<String>) -> String {
    const SHOWN: usize = 8;
    let text: Vec<&str> = names.iter().take(SHOWN).map(String::as_str).collect();
    let more = names.len().saturating_sub(SHOWN);
    let extra = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!("{}{extra}", text.join(", "))
}

/// The rebuilder a target names and the dunder methods called on its result
/// (`_make_function.__call__` → (`_make_function`, [`__call__`])).
fn split_target(name: &str) -> (&str, Vec<&str>) {
    let parts: Vec<&str> = name.split('.').collect();
    let dunders = parts
        .iter()
        .rev()
        .take_while(|p| p.starts_with("__") && p.ends_with("__"))
        .count();
    let base = parts.len() - dunders;
    (
        parts[..base].last().copied().unwrap_or_default(),
        parts[base..].to_vec(),
    )
}

fn fate(cx: &StreamContext<'_, '_, '_>, builders: &[&KeptCall<'_, '_>], built_ids: &HashSet<u32>) -> Fate {
    let mut instantiated = None;
    for (index, kept) in builders.iter().enumerate() {
        let Some(target) = &kept.target else { continue };
        let (base, called) = split_target(&target.name);
        let builds_only = match called.as_slice() {
            [] => true,
            ["__call__"] if TYPE_FACTORIES.contains(&base) => true,
            ["__setstate__"] if FUNCTION_BUILDERS.contains(&base) => true,
            _ => false,
        };
        if builds_only {
            continue;
        }
        if CLASS_BUILDERS.contains(&base) {
            instantiated.get_or_insert_with(|| format!("{} (an instance of the rebuilt class)", target.path()));
        } else {
            return Fate::Runs(index);
        }
    }
    if let Some(instance) = instantiated {
        return Fate::HandedTo(instance);
    }
    for kept in cx.facts.calls.iter().filter(|k| !built_ids.contains(&k.call.id)) {
        if receives_built(&kept.call, built_ids) {
            return Fate::HandedTo(target_path(kept));
        }
    }
    if cx.facts.unresolved_calls.iter().any(|c| receives_built(c, built_ids)) {
        return Fate::HandedTo("a callable the analysis could not resolve".to_string());
    }
    Fate::Kept
}

/// Whether a call's arguments or state reach a rebuilt value (bounded; past the bound, yes).
fn receives_built(call: &Call<'_>, built_ids: &HashSet<u32>) -> bool {
    let mut pending: Vec<Value<'_>> = vec![call.args.clone()];
    pending.extend(call.kwargs.clone());
    pending.extend(call.effective_args.clone());
    pending.extend(call.state.borrow().iter().cloned());
    let mut budget = READ_BUDGET;
    while let Some(value) = pending.pop() {
        if budget == 0 {
            return true;
        }
        budget -= 1;
        match value {
            Value::Call(c) if built_ids.contains(&c.id) => return true,
            Value::Call(c) => {
                pending.push(c.args.clone());
                pending.extend(c.kwargs.clone());
            }
            Value::Dict(d) => {
                for (k, v) in &d.borrow().items {
                    pending.push(k.clone());
                    pending.push(v.clone());
                }
            }
            Value::Bound(b) => pending.push(b.receiver.clone()),
            other => pending.extend(other.items().unwrap_or_default()),
        }
    }
    false
}

/// Reads the names in the code objects the stream builds and the modules it imports for them.
fn content(kb: &Kb, builders: &[&KeptCall<'_, '_>], built_ids: &HashSet<u32>) -> Content {
    let modules: HashSet<&str> = kb
        .categories
        .iter()
        .flat_map(|c| &c.entries)
        .filter_map(|e| e.target.strip_suffix(":*"))
        .collect();
    let mut names = BTreeSet::new();
    let mut dangerous = BTreeSet::new();
    for kept in builders {
        let Some(target) = &kept.target else { continue };
        let (base, called) = split_target(&target.name);
        let fields = match (base, called.as_slice()) {
            ("loads" | "load" | "_unmarshal", _) if target.module.contains("marshal") || base == "_unmarshal" => {
                return Content::Unreadable("marshal data");
            }
            (_, ["__call__"]) if TYPE_FACTORIES.contains(&base) => &kept.call.args,
            ("CodeType" | "_create_code", []) => &kept.call.args,
            (importer, []) if IMPORTERS.contains(&importer) => {
                match kept
                    .call
                    .args
                    .items()
                    .and_then(|a| a.first().and_then(|m| m.as_str().map(str::to_string)))
                {
                    Some(module) => {
                        if dangerous_name(&module, &modules) {
                            dangerous.insert(module);
                        }
                        continue;
                    }
                    None => return Content::Unreadable("a module imported by a computed name"),
                }
            }
            _ => continue,
        };
        if let Err(why) = read_fields(kb, fields, built_ids, &modules, &mut names, &mut dangerous) {
            return Content::Unreadable(why);
        }
    }
    if dangerous.is_empty() {
        Content::Plain(names)
    } else {
        Content::Dangerous(dangerous)
    }
}

fn read_fields(
    kb: &Kb,
    fields: &Value<'_>,
    built_ids: &HashSet<u32>,
    modules: &HashSet<&str>,
    names: &mut BTreeSet<String>,
    dangerous: &mut BTreeSet<String>,
) -> Result<(), &'static str> {
    let mut pending = vec![fields.clone()];
    let mut budget = READ_BUDGET;
    while let Some(value) = pending.pop() {
        budget = budget.checked_sub(1).ok_or("too many fields")?;
        match &value {
            Value::Str(text) => {
                let text: &str = text;
                if is_identifier(text) {
                    if dangerous_name(text, modules) {
                        dangerous.insert(text.to_string());
                    } else {
                        names.insert(text.to_string());
                    }
                }
            }
            Value::Tuple(seq) | Value::FrozenSet(seq) => {
                if seq.omitted > 0 {
                    return Err("more fields than the analysis keeps");
                }
                pending.extend(seq.items.iter().cloned());
            }
            Value::List(_) | Value::Set(_) => pending.extend(value.items().unwrap_or_default()),
            Value::Dict(d) => {
                for (k, v) in &d.borrow().items {
                    pending.push(k.clone());
                    pending.push(v.clone());
                }
            }
            // Nested code objects are read as builders of their own.
            Value::Call(c) if built_ids.contains(&c.id) => {}
            Value::Call(c) => {
                pending.push(c.args.clone());
                pending.extend(c.kwargs.clone());
            }
            Value::Global(g) if matches!(kb.classify(&g.module, &g.name), Class::Dangerous(_)) => {
                dangerous.insert(g.path());
            }
            Value::Module(m) if dangerous_name(m, modules) => {
                dangerous.insert(m.to_string());
            }
            Value::Opaque(_) | Value::Bound(_) | Value::ComputedGlobal(_) => {
                return Err("a field the analysis cannot follow");
            }
            _ => {}
        }
    }
    Ok(())
}

/// An identifier or a dotted module path (`np`, `os.path`, `urllib.request`).
fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c == '_' || c.is_alphabetic())
                && part.chars().all(|c| c == '_' || c.is_alphanumeric())
        })
}

fn dangerous_name(name: &str, modules: &HashSet<&str>) -> bool {
    let mut prefix_end = 0;
    for (i, part) in name.split('.').enumerate() {
        if DANGEROUS_BUILTINS.contains(&part) || INTROSPECTION.contains(&part) {
            return true;
        }
        prefix_end += part.len() + usize::from(i > 0);
        if modules.contains(&name[..prefix_end]) {
            return true;
        }
    }
    false
}
#[cfg(test)]
mod tests {
    use super::{dangerous_name, is_identifier, split_target};
    use crate::analyze::testing::findings_of;
    use std::collections::HashSet;

    #[test]
    fn targets_split_into_rebuilder_and_calls_on_its_result() {
        assert_eq!(split_target("_make_function"), ("_make_function", vec![]));
        assert_eq!(
            split_target("_builtin_type.__call__"),
            ("_builtin_type", vec!["__call__"])
        );
        assert_eq!(
            split_target("cloudpickle._make_function.__call__.__call__"),
            ("_make_function", vec!["__call__", "__call__"])
        );
    }

    #[test]
    fn names_that_reach_the_system_are_dangerous() {
        let modules: HashSet<&str> = ["os", "urllib.request"].into_iter().collect();
        for name in [
            "os",
            "os.path",
            "urllib.request",
            "eval",
            "getattr",
            "__subclasses__",
            "x.__globals__",
        ] {
            assert!(dangerous_name(name, &modules), "{name}");
        }
        for name in ["np", "numpy", "log1p", "urllib", "osmosis", "x", "__main__"] {
            assert!(!dangerous_name(name, &modules), "{name}");
        }
        assert!(is_identifier("os.path") && is_identifier("_x1"));
        assert!(!is_identifier("<lambda>") && !is_identifier("a b") && !is_identifier("1x") && !is_identifier(""));
    }

    #[test]
    fn marshal_loads_is_code() {
        let f = findings_of(b"\x80\x03cmarshal\nloads\nC\x03abc\x85R.");
        assert!(f.iter().any(|f| f.rule == "code-object"), "{f:#?}");
    }

    #[test]
    fn cloudpickle_function_rebuild_says_so() {
        let f = findings_of(b"\x80\x04\x8c\x17cloudpickle.cloudpickle\x8c\x0e_make_function\x93)R.");
        let hit = f.iter().find(|f| f.rule == "code-object").expect("flagged");
        assert!(hit.explanation.as_deref().unwrap_or_default().contains("cloudpickle"));
        assert_eq!(f.iter().filter(|f| f.rule == "code-object").count(), 1);
    }
}
