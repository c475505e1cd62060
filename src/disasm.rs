//! Annotated disassembly for people investigating a file: every opcode with its offset and
//! argument, and the call the load would make where one happens, from the same machine the
//! scan uses.

use crate::formats::pickle::{render, run_stream, Arg, Call, Global, Limits, Observer, Op, RenderLimits, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

struct Listing {
    lines: Vec<(usize, String)>,
    notes: BTreeMap<usize, Vec<String>>,
}

const LIMITS: RenderLimits = RenderLimits {
    max_str: 60,
    max_items: 6,
    max_depth: 5,
    name_calls: false,
};

impl<'a> Observer<'a> for Listing {
    fn on_op(&mut self, op: &Op<'a>) {
        let arg = match &op.arg {
            Arg::None => String::new(),
            Arg::Int(i) => i.to_string(),
            Arg::Index(i) => i.to_string(),
            Arg::BigInt(s) => s.to_string(),
            Arg::LongBytes(b) if b.len() <= 256 => crate::formats::pickle::reader::long_to_decimal(b),
            Arg::LongBytes(b) => format!("<{}-byte int>", b.len()),
            Arg::Bool(b) => {
                if *b {
                    "True".into()
                } else {
                    "False".into()
                }
            }
            Arg::Float(f) => render(&Value::Float(*f), LIMITS),
            Arg::Text(t) => crate::formats::pickle::value::repr_str(t, LIMITS.max_str),
            Arg::Str8(b) | Arg::Bytes(b) => crate::formats::pickle::value::repr_bytes(b, LIMITS.max_str),
            Arg::Global { module, name } => format!("{module} {name}"),
            Arg::Proto(p) => p.to_string(),
            Arg::FrameLen(n) => n.to_string(),
        };
        self.lines
            .push((op.offset, format!("{:>8}: {:<16} {arg}", op.offset, op.opcode.name())));
    }

    fn on_global(&mut self, global: &Rc<Global>) {
        if let Some((m, n)) = &global.renamed_from {
            self.notes
                .entry(global.offset)
                .or_default()
                .push(format!("imports {} (renamed from {m}.{n})", global.path()));
        }
    }

    fn on_call(&mut self, call: &Rc<Call<'a>>) {
        let mut text = format!("calls {}", render(&Value::Call(call.clone()), LIMITS));
        if let Some(target) = &call.target {
            let plain = matches!(&call.callee, Value::Global(g) if g.path() == target.path());
            if !plain {
                let _ = write!(text, "  [runs {}]", target.path());
            }
        }
        if let Some(folded) = &call.folded {
            let _ = write!(text, "  => {}", render(folded, LIMITS));
        }
        self.notes.entry(call.offset).or_default().push(text);
    }

    fn on_build(&mut self, offset: usize, target: &Value<'a>, state: &Value<'a>) {
        self.notes.entry(offset).or_default().push(format!(
            "sets state of {} to {}",
            render(target, LIMITS),
            render(state, LIMITS)
        ));
    }
}

/// Disassembles every pickle stream in `data`.
pub fn disassemble(data: &[u8], limits: &Limits) -> String {
    let mut out = String::new();
    let mut pos = 0;
    let mut index = 0;
    while pos < data.len() {
        let mut listing = Listing {
            lines: Vec::new(),
            notes: BTreeMap::new(),
        };
        let report = run_stream(data, pos, limits, &mut listing);
        if index > 0 && report.error.is_some() && report.globals == 0 && report.calls == 0 {
            let _ = writeln!(
                out,
                "-- {} bytes after the last STOP are not a pickle",
                data.len() - pos
            );
            break;
        }
        let _ = writeln!(out, "-- pickle {} at byte {}", index, pos);
        for (offset, line) in &listing.lines {
            let _ = writeln!(out, "{line}");
            if let Some(notes) = listing.notes.get(offset) {
                for note in notes {
                    let _ = writeln!(out, "{:>10}  # {note}", "");
                }
            }
        }
        for divergence in &report.divergences {
            let _ = writeln!(
                out,
                "-- divergence at byte {}: {:?}",
                divergence.offset, divergence.kind
            );
        }
        if let Some(error) = &report.error {
            let _ = writeln!(out, "-- stopped: {error}");
            break;
        }
        pos = report.end;
        index += 1;
    }
    out
}
