//! safetensors: an 8-byte header length, a JSON header, raw tensor bytes. No pickle anywhere;
//! the header is validated so that a malformed file is not passed as clean.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub tensors: usize,
    pub header_len: usize,
}

/// Whether the bytes look like safetensors (plausible header length, JSON object start).
pub fn looks_like(data: &[u8]) -> bool {
    let Some(len) = data
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    else {
        return false;
    };
    len >= 2 && len <= (data.len() as u64).saturating_sub(8).max(2) && len < 100 << 20 && data.get(8) == Some(&b'{')
}

pub fn validate(data: &[u8]) -> Result<Header, String> {
    let len = u64::from_le_bytes(
        data.get(..8)
            .ok_or("shorter than the header length")?
            .try_into()
            .expect("8 bytes"),
    );
    let len = usize::try_from(len).map_err(|_| "header length overflows")?;
    let json = data
        .get(8..8usize.saturating_add(len))
        .ok_or("header runs past the end of the file")?;
    let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| format!("header is not JSON: {e}"))?;
    let object = value.as_object().ok_or("header is not a JSON object")?;
    let body = (data.len() - 8 - len) as u64;
    let mut tensors = 0;
    for (name, info) in object {
        if name == "__metadata__" {
            continue;
        }
        let offsets = info
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .ok_or(format!("tensor {name:?} has no data_offsets"))?;
        let (Some(start), Some(end)) = (
            offsets.first().and_then(|v| v.as_u64()),
            offsets.get(1).and_then(|v| v.as_u64()),
        ) else {
            return Err(format!("tensor {name:?} has invalid data_offsets"));
        };
        if start > end || end > body {
            return Err(format!(
                "tensor {name:?} spans bytes {start}..{end} of a {body}-byte body"
            ));
        }
        info.get("dtype")
            .and_then(|d| d.as_str())
            .ok_or(format!("tensor {name:?} has no dtype"))?;
        tensors += 1;
    }
    Ok(Header {
        tensors,
        header_len: len,
    })
}
