//! The decompiled view: what loading a pickle stream does, as a Python program a reviewer can
//! read — imports, each call with its arguments (earlier results named `v0`, `v1`…), attribute
//! sets by BUILD, and the object `load()` returns, with byte offsets as comments. Built by an
//! observer on the same machine run the rules judge, so what is read is what was judged.

use crate::formats::pickle::value::render_call;
use crate::formats::pickle::{render, Call, CallKind, Global, Observer, RenderLimits, StreamReport, Value};
use serde::Serialize;
use std::collections::BTreeSet;
use std::rc::Rc;

/// One pickle stream as a program.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Program {
    /// Member or logical stream, named as findings name it (`None`: the file itself).
    pub member: Option<String>,
    /// Byte offset of the stream in its member.
    pub offset: usize,
    pub opcodes: u64,
    /// Modules the stream imports (`import os`), sorted.
    pub imports: Vec<String>,
    pub statements: Vec<Statement>,
    /// Why the stream ended early, when it did.
    pub error: Option<String>,
}

/// One line of the program.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement {
    /// Offset of the opcode that performs it.
    pub offset: usize,
    pub opcode: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The call result this statement names (`v3`), if any.
    #[serde(skip)]
    pub defines: Option<u32>,
    /// Call results it uses.
    #[serde(skip)]
    pub uses: Vec<u32>,
}

/// Long constants are elided: the program is for reading.
const LIMITS: RenderLimits = RenderLimits {
    max_str: 80,
    max_items: 8,
    max_depth: 6,
    name_calls: true,
};

/// Statements kept per stream; the rest is counted in a final comment.
const MAX_STATEMENTS: usize = 5_000;

/// Collects a program while the machine runs (pair it with the analysis' observer).
#[derive(Default)]
pub struct Decompiler<'a> {
    imports: BTreeSet<String>,
    statements: Vec<(Statement, Option<Rc<Call<'a>>>)>,
    omitted: usize,
}

impl<'a> Decompiler<'a> {
    fn push(&mut self, statement: Statement, call: Option<Rc<Call<'a>>>) {
        if self.statements.len() < MAX_STATEMENTS {
            self.statements.push((statement, call));
        } else {
            self.omitted += 1;
        }
    }

    pub fn finish(self, member: Option<&str>, offset: usize, report: &StreamReport) -> Program {
        let mut statements: Vec<Statement> = self
            .statements
            .into_iter()
            .map(|(mut statement, call)| {
                if call.is_some_and(|c| c.discarded.get()) {
                    let note = "result discarded";
                    statement.comment = Some(match statement.comment.take() {
                        Some(c) => format!("{c}; {note}"),
                        None => note.to_string(),
                    });
                }
                statement
            })
            .collect();
        if self.omitted > 0 {
            statements.push(Statement {
                offset: report.end,
                opcode: String::new(),
                code: format!("...  # {} more statements not shown", self.omitted),
                comment: None,
                defines: None,
                uses: Vec::new(),
            });
        }
        Program {
            member: member.map(str::to_string),
            offset,
            opcodes: report.opcodes,
            imports: self.imports.into_iter().collect(),
            statements,
            error: report.error.as_ref().map(|e| e.to_string()),
        }
    }
}

impl<'a> Observer<'a> for Decompiler<'a> {
    fn on_global(&mut self, global: &Rc<Global>) {
        if !matches!(&*global.module, "builtins" | "__builtin__") && !global.module.is_empty() {
            self.imports.insert(global.module.to_string());
        }
    }

    fn on_call(&mut self, call: &Rc<Call<'a>>) {
        if self.statements.len() >= MAX_STATEMENTS {
            self.omitted += 1;
            return;
        }
        if let CallKind::Method(method) = call.kind {
            self.on_method(call, method);
            return;
        }
        let mut code = format!("v{} = ", call.id);
        render_call(&mut code, call, LIMITS, 0);
        let mut notes = Vec::new();
        if let Some(target) = &call.target {
            let shown = render(&call.callee, LIMITS);
            let path = target.path();
            let builtin = path.strip_prefix("builtins.").is_some_and(|name| name == shown);
            if shown != path && !builtin && !matches!(call.kind, CallKind::PersistentLoad) {
                notes.push(format!("runs {path}"));
            }
        }
        if let Some(folded) = &call.folded {
            if matches!(
                folded,
                Value::Global(_) | Value::Module(_) | Value::Str(_) | Value::Bytes(_)
            ) {
                notes.push(format!("= {}", render(folded, LIMITS)));
            }
        }
        let uses = calls_used(&[Some(&call.callee), Some(&call.args), call.kwargs.as_ref()]);
        let statement = Statement {
            offset: call.offset,
            opcode: call.opcode.name().to_string(),
            code,
            comment: (!notes.is_empty()).then(|| notes.join("; ")),
            defines: Some(call.id),
            uses,
        };
        self.push(statement, Some(call.clone()));
    }

    fn on_build(&mut self, offset: usize, target: &Value<'a>, state: &Value<'a>) {
        if self.statements.len() >= MAX_STATEMENTS {
            self.omitted += 1;
            return;
        }
        let uses = calls_used(&[Some(target), Some(state)]);
        let statement = Statement {
            offset,
            opcode: "BUILD".into(),
            code: format!("{}.__setstate__({})", render(target, LIMITS), render(state, LIMITS)),
            comment: None,
            defines: None,
            uses,
        };
        self.push(statement, None);
    }

    fn on_stop(&mut self, result: &Value<'a>) {
        let uses = calls_used(&[Some(result)]);
        let statement = Statement {
            offset: 0,
            opcode: "STOP".into(),
            code: format!("result = {}", render(result, LIMITS)),
            comment: None,
            defines: None,
            uses,
        };
        self.push(statement, None);
    }
}

impl<'a> Decompiler<'a> {
    /// APPEND/APPENDS/ADDITEMS/SETITEM(S) on an object that is not a plain container: the
    /// unpickler calls the object's own method, item by item, and drops the result.
    fn on_method(&mut self, call: &Rc<Call<'a>>, method: &str) {
        let receiver = render(&call.callee, LIMITS);
        let items: Vec<&Value<'a>> = match &call.args {
            Value::Tuple(seq) => seq.items.iter().collect(),
            other => vec![other],
        };
        let code = match method {
            "__setitem__" => items
                .chunks(2)
                .take(LIMITS.max_items)
                .map(|pair| match pair {
                    [k, v] => format!("{receiver}[{}] = {}", render(k, LIMITS), render(v, LIMITS)),
                    _ => String::new(),
                })
                .collect::<Vec<_>>()
                .join("; "),
            "extend" => format!("{receiver}.extend({})", render(&call.args, LIMITS)),
            _ => items
                .iter()
                .take(LIMITS.max_items)
                .map(|item| format!("{receiver}.{method}({})", render(item, LIMITS)))
                .collect::<Vec<_>>()
                .join("; "),
        };
        let uses = calls_used(&[Some(&call.callee), Some(&call.args)]);
        let statement = Statement {
            offset: call.offset,
            opcode: call.opcode.name().to_string(),
            code,
            comment: None,
            defines: None,
            uses,
        };
        self.push(statement, None);
    }
}

/// Ids of the calls the values refer to. The walk is bounded in depth, width and values
/// visited: 8 items over 6 levels of shared tuples is already 300,000 paths, and a stream can
/// make every statement walk them.
fn calls_used(values: &[Option<&Value<'_>>]) -> Vec<u32> {
    let mut walk = CallWalk {
        ids: Vec::new(),
        visits_left: MAX_VISITS,
    };
    for value in values.iter().flatten() {
        walk.visit(value, 0);
    }
    walk.ids
}

const MAX_VISITS: usize = 256;

struct CallWalk {
    ids: Vec<u32>,
    visits_left: usize,
}

impl CallWalk {
    fn visit(&mut self, value: &Value<'_>, depth: usize) {
        if depth > LIMITS.max_depth || self.ids.len() > 64 || self.visits_left == 0 {
            return;
        }
        self.visits_left -= 1;
        match value {
            Value::Call(c) if !self.ids.contains(&c.id) => self.ids.push(c.id),
            Value::Tuple(s) | Value::FrozenSet(s) => self.visit_items(&s.items, depth),
            Value::List(s) | Value::Set(s) => self.visit_items(&s.borrow().items, depth),
            Value::Dict(p) => {
                for (k, v) in p.borrow().items.iter().take(LIMITS.max_items) {
                    self.visit(k, depth + 1);
                    self.visit(v, depth + 1);
                }
            }
            Value::Bound(b) => self.visit(&b.receiver, depth + 1),
            Value::ComputedGlobal(c) => {
                self.visit(&c.module, depth + 1);
                self.visit(&c.name, depth + 1);
            }
            _ => {}
        }
    }

    fn visit_items(&mut self, values: &[Value<'_>], depth: usize) {
        for v in values.iter().take(LIMITS.max_items) {
            self.visit(v, depth + 1);
        }
    }
}

impl Program {
    /// The program as Python source, offsets as comments.
    pub fn to_python(&self) -> String {
        let mut out = String::new();
        for module in &self.imports {
            out.push_str(&format!("import {module}\n"));
        }
        if !self.imports.is_empty() {
            out.push('\n');
        }
        for statement in &self.statements {
            out.push_str(&statement.line());
            out.push('\n');
        }
        if let Some(error) = &self.error {
            out.push_str(&format!("# the stream ends here: {error}\n"));
        }
        out
    }

    /// The statement at `offset` and those it depends on, in program order (at most `max`).
    pub fn excerpt(&self, offset: u64, max: usize) -> Option<String> {
        let at = self
            .statements
            .iter()
            .position(|s| s.offset as u64 == offset && s.opcode != "STOP")?;
        let mut wanted: BTreeSet<usize> = BTreeSet::from([at]);
        let mut queue: Vec<u32> = self.statements[at].uses.clone();
        while let Some(id) = queue.pop() {
            if wanted.len() >= max {
                break;
            }
            if let Some(i) = self.statements[..at].iter().position(|s| s.defines == Some(id)) {
                if wanted.insert(i) {
                    queue.extend(self.statements[i].uses.iter().copied());
                }
            }
        }
        Some(
            wanted
                .into_iter()
                .map(|i| self.statements[i].line())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
}

impl Statement {
    fn line(&self) -> String {
        let place = if self.opcode == "STOP" || self.opcode.is_empty() {
            String::new()
        } else {
            format!("@{} {}", self.offset, self.opcode)
        };
        match (&self.comment, place.is_empty()) {
            (Some(c), false) => format!("{}  # {place}; {c}", self.code),
            (Some(c), true) => format!("{}  # {c}", self.code),
            (None, false) => format!("{}  # {place}", self.code),
            (None, true) => self.code.clone(),
        }
    }
}

/// Runs two observers over one machine run.
pub struct Tee<'x, 'a> {
    pub first: &'x mut dyn Observer<'a>,
    pub second: &'x mut dyn Observer<'a>,
}

impl<'a> Observer<'a> for Tee<'_, 'a> {
    fn on_op(&mut self, op: &crate::formats::pickle::Op<'a>) {
        self.first.on_op(op);
        self.second.on_op(op);
    }
    fn on_global(&mut self, global: &Rc<Global>) {
        self.first.on_global(global);
        self.second.on_global(global);
    }
    fn on_computed_global(&mut self, global: &Rc<crate::formats::pickle::ComputedGlobal<'a>>) {
        self.first.on_computed_global(global);
        self.second.on_computed_global(global);
    }
    fn on_call(&mut self, call: &Rc<Call<'a>>) {
        self.first.on_call(call);
        self.second.on_call(call);
    }
    fn on_build(&mut self, offset: usize, target: &Value<'a>, state: &Value<'a>) {
        self.first.on_build(offset, target, state);
        self.second.on_build(offset, target, state);
    }
    fn on_stop(&mut self, result: &Value<'a>) {
        self.first.on_stop(result);
        self.second.on_stop(result);
    }
}
