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
    /// Where the stream's reading stopped (its last opcode's offset, or the error's).
    #[serde(skip)]
    pub end: usize,
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

/// Collects a program while the machine runs (pair it with the analysis' observer). What
/// each statement does is kept, and written as code only by [`Decompiler::finish`]: most
/// streams are read for their findings alone, and their programs are never asked for.
#[derive(Default)]
pub struct Decompiler<'a> {
    imports: BTreeSet<Rc<str>>,
    steps: Vec<Step<'a>>,
    omitted: usize,
}

/// One statement, as the machine made it.
enum Step<'a> {
    Call(Rc<Call<'a>>),
    Build {
        offset: usize,
        target: Value<'a>,
        state: Value<'a>,
    },
    Stop(Value<'a>),
}

impl<'a> Decompiler<'a> {
    fn push(&mut self, step: Step<'a>) {
        if self.steps.len() < MAX_STATEMENTS {
            self.steps.push(step);
        } else {
            self.omitted += 1;
        }
    }

    pub fn finish(self, member: Option<&str>, offset: usize, report: &StreamReport) -> Program {
        let mut statements: Vec<Statement> = self
            .steps
            .iter()
            .map(|step| match step {
                Step::Call(call) => {
                    // Methods the unpickler calls (SETITEMS on a non-dict…) return nothing.
                    if let CallKind::Method(method) = call.kind {
                        return method_statement(call, method);
                    }
                    let mut statement = call_statement(call);
                    if call.discarded.get() {
                        let note = "result discarded";
                        statement.comment = Some(match statement.comment.take() {
                            Some(c) => format!("{c}; {note}"),
                            None => note.to_string(),
                        });
                    }
                    statement
                }
                Step::Build { offset, target, state } => Statement {
                    offset: *offset,
                    opcode: "BUILD".into(),
                    code: format!("{}.__setstate__({})", render(target, LIMITS), render(state, LIMITS)),
                    comment: None,
                    defines: None,
                    uses: calls_used(&[Some(target), Some(state)]),
                },
                Step::Stop(result) => Statement {
                    offset: 0,
                    opcode: "STOP".into(),
                    code: format!("result = {}", render(result, LIMITS)),
                    comment: None,
                    defines: None,
                    uses: calls_used(&[Some(result)]),
                },
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
            end: report.end,
            opcodes: report.opcodes,
            imports: self.imports.iter().map(|m| m.to_string()).collect(),
            statements,
            error: report.error.as_ref().map(|e| e.to_string()),
        }
    }
}

impl<'a> Observer<'a> for Decompiler<'a> {
    fn on_global(&mut self, global: &Rc<Global>) {
        if !matches!(&*global.module, "builtins" | "__builtin__") && !global.module.is_empty() {
            self.imports.insert(global.module.clone());
        }
    }

    fn on_call(&mut self, call: &Rc<Call<'a>>) {
        self.push(Step::Call(call.clone()));
    }

    fn on_build(&mut self, offset: usize, target: &Value<'a>, state: &Value<'a>) {
        self.push(Step::Build {
            offset,
            target: target.clone(),
            state: state.clone(),
        });
    }

    fn on_stop(&mut self, result: &Value<'a>) {
        self.push(Step::Stop(result.clone()));
    }
}

fn call_statement(call: &Call<'_>) -> Statement {
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
    Statement {
        offset: call.offset,
        opcode: call.opcode.name().to_string(),
        code,
        comment: (!notes.is_empty()).then(|| notes.join("; ")),
        defines: Some(call.id),
        uses: calls_used(&[Some(&call.callee), Some(&call.args), call.kwargs.as_ref()]),
    }
}

fn method_statement(call: &Call<'_>, method: &str) -> Statement {
    let receiver = render(&call.callee, LIMITS);
    let items: Vec<&Value<'_>> = match &call.args {
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
    Statement {
        offset: call.offset,
        opcode: call.opcode.name().to_string(),
        code,
        comment: None,
        defines: None,
        uses: calls_used(&[Some(&call.callee), Some(&call.args)]),
    }
}

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

/// Both observers see every global, call, BUILD and STOP; single opcodes go to the first only
/// (the decompiler has no use for them, and they are the machine's hottest path).
impl<'a> Observer<'a> for Tee<'_, 'a> {
    fn on_op(&mut self, op: &crate::formats::pickle::Op<'a>) {
        self.first.on_op(op);
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
