//! PyTorch layouts: the legacy (pre-1.6) stream of pickles, its older tar form, and the element
//! sizes that let raw storages be skipped without reading them.

/// The first pickle of a legacy file holds this number (`torch.serialization.MAGIC_NUMBER`).
pub const LEGACY_MAGIC: &str = "119547037146038801333356";
/// The second pickle of a legacy file holds this protocol number.
pub const LEGACY_PROTOCOL: i64 = 1001;
/// Pickles torch.load reads from a legacy file, by role.
pub const LEGACY_ROLES: &[&str] = &["magic", "protocol", "sys_info", "model", "storage_keys"];
pub const LEGACY_PICKLES: usize = LEGACY_ROLES.len();
/// Records torch.load reads from a PyTorch 0.1.1 tar, in its order (`sys_info` it never reads).
pub const LEGACY_TAR_RECORDS: &[&str] = &["storages", "tensors", "pickle"];

/// Bytes per element of a storage type, by its class name (`FloatStorage`, `torch.HalfStorage`).
pub fn storage_element_size(name: &str) -> Option<u64> {
    let base = name.rsplit('.').next()?.strip_suffix("Storage")?;
    Some(match base {
        "Double" | "Long" | "ComplexFloat" => 8,
        "Float" | "Int" | "QInt32" => 4,
        "Half" | "BFloat16" | "Short" => 2,
        "Char" | "Byte" | "Bool" | "QInt8" | "QUInt8" | "QUInt4x2" | "QUInt2x4" | "Untyped" => 1,
        "ComplexDouble" => 16,
        b if b.starts_with("Float8") => 1,
        "UInt16" => 2,
        "UInt32" => 4,
        "UInt64" => 8,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_sizes() {
        assert_eq!(storage_element_size("FloatStorage"), Some(4));
        assert_eq!(storage_element_size("torch.BFloat16Storage"), Some(2));
        assert_eq!(storage_element_size("Float8_e4m3fnStorage"), Some(1));
        assert_eq!(storage_element_size("Tensor"), None);
        assert_eq!(LEGACY_MAGIC, &0x1950A86A20F9469CFC6Cu128.to_string());
    }
}
