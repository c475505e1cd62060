//! joblib's NumpyArrayWrapper: after the BUILD that fills a wrapper's state, joblib's unpickler
//! reads the array's raw bytes (or, for object arrays, a complete nested pickle) straight from
//! the stream, then resumes unpickling. The machine must skip exactly those bytes, or it parses
//! array data as opcodes (and misses payloads placed after an array).

use crate::formats::pickle::semantics::{canonical_module, settle};
use crate::formats::pickle::Value;

/// What follows a wrapper's BUILD in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineArray {
    /// Whether a padding-length byte (and padding) precedes the data.
    pub aligned: bool,
    pub layout: ArrayData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrayData {
    /// `count * itemsize` raw bytes.
    Raw { bytes: u64 },
    /// A nested pickle holding the object array.
    Pickle,
    /// The element size could not be determined (for example a structured dtype).
    Unknown { dtype: String },
}

/// If `target` is a joblib array wrapper and `state` its BUILD state, what inline data follows.
pub fn inline_array(target: &Value<'_>, state: &Value<'_>) -> Option<InlineArray> {
    let Value::Call(call) = target else { return None };
    let class = call.target.as_ref()?;
    let wrapper = matches!(
        (canonical_module(&class.module), &*class.name),
        ("joblib.numpy_pickle", "NumpyArrayWrapper") | ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper")
    );
    if !wrapper {
        return None;
    }
    let Value::Dict(pairs) = state else { return None };
    let pairs = pairs.borrow();
    let get = |key: &str| {
        pairs
            .items
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| settle(v))
    };
    let aligned = get("numpy_array_alignment_bytes").is_some_and(|v| !matches!(v, Value::None));
    let dtype = get("dtype")?;
    let layout = match dtype_code(&dtype, 0) {
        Some(code) if code.kind == 'O' || code.has_object => ArrayData::Pickle,
        Some(code) => match (item_size(&code), shape_count(get("shape").as_ref())) {
            (Some(size), Some(count)) => ArrayData::Raw {
                bytes: count.saturating_mul(size),
            },
            _ => ArrayData::Unknown { dtype: code.text },
        },
        None => ArrayData::Unknown {
            dtype: dtype.type_name().to_string(),
        },
    };
    Some(InlineArray { aligned, layout })
}

struct DtypeCode {
    kind: char,
    size: Option<u64>,
    text: String,
    has_object: bool,
}

/// `numpy.dtype('f8', False, True)` → kind 'f', size 8. Structured dtypes ('V') carry their
/// fields in the BUILD state; an object field anywhere makes the array an object array.
fn dtype_code(dtype: &Value<'_>, depth: usize) -> Option<DtypeCode> {
    // Structured dtypes nest; hostile ones could nest without end.
    if depth > MAX_DTYPE_NESTING {
        return None;
    }
    let Value::Call(call) = dtype else { return None };
    let target = call.target.as_ref()?;
    if !(canonical_module(&target.module).starts_with("numpy") && &*target.name == "dtype") {
        return None;
    }
    let first = call.args.items()?.into_iter().next()?;
    let text = first.as_str()?.to_string();
    let trimmed = text.trim_start_matches(['<', '>', '|', '=']);
    let kind = trimmed.chars().next()?;
    let size = trimmed[kind.len_utf8()..].parse().ok();
    let has_object = call.state.borrow().iter().any(|s| state_has_object(s, depth));
    Some(DtypeCode {
        kind,
        size,
        text,
        has_object,
    })
}

const MAX_DTYPE_NESTING: usize = 16;

fn state_has_object(state: &Value<'_>, depth: usize) -> bool {
    let Some(items) = state.items() else { return false };
    items.iter().any(|item| match item {
        Value::Dict(fields) => fields.borrow().items.iter().any(|(_, v)| {
            v.items()
                .unwrap_or_default()
                .iter()
                .any(|d| dtype_code(d, depth + 1).is_some_and(|c| c.kind == 'O' || c.has_object))
        }),
        _ => false,
    })
}

fn item_size(code: &DtypeCode) -> Option<u64> {
    match code.kind {
        'b' | 'i' | 'u' | 'f' | 'c' | 'S' | 'V' | 'a' => code.size,
        'U' => code.size.map(|n| n.saturating_mul(4)),
        'M' | 'm' => Some(8),
        '?' => Some(1),
        _ => None,
    }
}

fn shape_count(shape: Option<&Value<'_>>) -> Option<u64> {
    let items = shape?.items()?;
    items.iter().try_fold(1u64, |acc, v| match v {
        Value::Int(n) if *n >= 0 => acc.checked_mul(*n as u64),
        _ => None,
    })
}
