//! The pickle format: opcode table, reader, symbolic machine and the models of the Python
//! callables it needs to follow lookups.

pub mod machine;
pub mod opcodes;
pub mod reader;
pub mod semantics;
pub mod text;
pub mod value;

pub use machine::{
    run_stream, run_stream_without_inline_arrays, LimitKind, Limits, MachineError, MachineErrorKind, Observer,
    StreamReport,
};
pub use opcodes::Opcode;
pub use reader::{Arg, Divergence, DivergenceKind, Op, ReadError, ReadErrorKind, Reader};
pub use value::{render, Call, CallKind, ComputedGlobal, Global, GlobalOrigin, RenderLimits, Target, Value};
