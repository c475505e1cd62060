//! Opening containers down to the pickles they hold: torch zip and TorchScript archives, npz,
//! generic zips, tar (including PyTorch's legacy tar layout), compressed streams, .npy,
//! safetensors, LFS pointers — each read the way its natural loader reads it.

use super::{Returned, Session};
use crate::formats::compress::{decompress, DecompressError};
use crate::formats::{self, lfs, numpy, safetensors, tar, torch, zip, Kind};
use crate::model::{Finding, Severity};
use crate::rules;

/// Bytes peeked from a member to decide what it is.
const PEEK: usize = 4096;

fn child(parent: Option<&str>, name: &str) -> String {
    match parent {
        Some(p) => format!("{p}/{name}"),
        None => name.to_string(),
    }
}

impl Session<'_> {
    /// Part of the file could not be analysed: say why, and never call the file clean.
    fn not_analysed(&mut self, finding: Finding) {
        self.findings.push(finding);
        self.incomplete = true;
    }

    /// Analyses one artifact (a file, or a member of a container). Returns its format name.
    pub(crate) fn artifact(&mut self, data: &[u8], member: Option<&str>, depth: usize) -> String {
        if depth > self.options.max_container_depth {
            self.not_analysed(rules::limit_exceeded_finding(
                member,
                format!(
                    "containers nested deeper than {} levels were not opened",
                    self.options.max_container_depth
                ),
            ));
            return "nested".into();
        }
        let kind = formats::sniff(data);
        let format = self.artifact_as(kind, data, member, depth);
        // A polyglot: the bytes are another format and a pickle (`GGUF` is BINFLOAT + 8 bytes
        // to pickle.load, a tar header's name field can hold opcodes).
        if matches!(
            kind,
            Kind::Tar | Kind::NotModel(_) | Kind::OtherModel(_) | Kind::Safetensors | Kind::Unknown
        ) && format != "pickle"
            && formats::also_pickle(data)
        {
            let pickle = self.pickle_streams(data, member, depth);
            return format!("{format}+{pickle}");
        }
        format
    }

    fn artifact_as(&mut self, kind: Kind, data: &[u8], member: Option<&str>, depth: usize) -> String {
        match kind {
            Kind::Pickle => self.pickle_file(data, member, depth),
            Kind::Zip => self.zip(data, member, depth),
            Kind::Compressed(codec) => match decompress(codec, data, self.decompression_cap(data.len())) {
                Ok(inner) => format!("{}/{}", codec.name(), self.artifact(&inner, member, depth + 1)),
                Err(DecompressError::TooLarge { cap }) => {
                    self.not_analysed(
                        rules::limit_exceeded_finding(member, format!("{} data of {} bytes decompresses to more than {cap} bytes (a decompression bomb, or a file too large to analyse)", codec.name(), data.len())),
                    );
                    codec.name().into()
                }
                Err(DecompressError::Corrupt(why)) => {
                    self.not_analysed(rules::malformed_container_finding(member, codec.name(), &why));
                    codec.name().into()
                }
            },
            Kind::Tar => self.tar(data, member, depth),
            Kind::Npy => self.npy(data, member, depth),
            Kind::SevenZip => self.seven_zip(data, member, depth),
            kind @ Kind::Zstd => {
                self.not_analysed(rules::unscannable_content_finding(
                    member,
                    &format!("{} archives are not supported", kind.name()),
                ));
                kind.name().into()
            }
            Kind::Safetensors => {
                if let Err(why) = safetensors::validate(data) {
                    self.not_analysed(rules::malformed_container_finding(member, "safetensors", &why));
                }
                "safetensors".into()
            }
            Kind::LfsPointer => {
                let detail = match lfs::parse(data) {
                    Ok(p) => format!("oid sha256:{}, {} bytes", p.oid_sha256, p.size),
                    Err(why) => format!("malformed: {why}"),
                };
                self.not_analysed(rules::lfs_pointer_finding(member, &detail));
                "lfs-pointer".into()
            }
            Kind::NotModel(what) => {
                self.findings.push(rules::not_a_model_finding(member, what, true));
                "not-a-model".into()
            }
            Kind::OtherModel(what) => {
                self.findings.push(rules::not_a_model_finding(member, what, false));
                "no-pickle".into()
            }
            Kind::Unknown => {
                if zip::find_eocd(data).is_some() {
                    return self.zip(data, member, depth);
                }
                let name = member.or(if depth == 0 { self.file_name } else { None });
                let starts_like_pickle = data
                    .first()
                    .is_some_and(|&b| crate::formats::pickle::Opcode::from_byte(b).is_some());
                if data.is_empty() {
                    self.not_analysed(rules::not_a_model_finding(member, "the file is empty", false));
                    return "not-a-model".into();
                }
                // Named like a pickle and starting like one (or named as nothing but a pickle):
                // a broken pickle, not unknown data. pickle.load on it fails; never clean.
                let pickle_only_name = name.is_some_and(|n| {
                    let n = n.to_ascii_lowercase();
                    n.ends_with(".pkl") || n.ends_with(".pickle")
                });
                if pickle_only_name || (starts_like_pickle && name.is_some_and(looks_like_pickle_name)) {
                    return self.pickle_file(data, member, depth);
                }
                self.findings
                    .push(rules::not_a_model_finding(member, "unrecognised content", false));
                "unknown".into()
            }
        }
    }

    /// Output allowed from `compressed` input bytes: proportional to the input (bombs expand a
    /// thousandfold, model data far less), never below a floor nor above the absolute cap.
    fn decompression_cap(&self, compressed: usize) -> usize {
        compressed
            .saturating_mul(self.options.max_compression_ratio)
            .max(self.options.min_decompression_cap)
            .min(self.options.max_decompressed)
    }

    /// A raw pickle file; also a zip when an archive follows the pickle (a polyglot).
    fn pickle_file(&mut self, data: &[u8], member: Option<&str>, depth: usize) -> String {
        let format = self.pickle_streams(data, member, depth);
        if let Some(archive) = zip::find_eocd(data).and_then(|_| zip::open(data, self.options.max_members as u64).ok())
        {
            if !archive.entries.is_empty() {
                // The trailing-data finding for the archive bytes is superseded by this one.
                self.findings
                    .retain(|f| !(f.rule == "trailing-data" && f.location.member.as_deref() == member));
                self.findings.push(rules::archive_anomaly_finding(
                    member,
                    Severity::Medium,
                    "the file is both a pickle and a zip archive: pickle.load runs the pickle, torch.load and zip readers open the archive (both were analysed)".into(),
                ));
                let inner = self.zip(data, member, depth);
                return format!("{format}+{inner}");
            }
        }
        format
    }

    fn zip(&mut self, data: &[u8], member: Option<&str>, depth: usize) -> String {
        let archive = match zip::open(data, self.options.max_members as u64) {
            Ok(archive) => archive,
            Err(zip::ZipError::TooManyEntries(n)) => {
                self.not_analysed(rules::limit_exceeded_finding(
                    member,
                    format!(
                        "the archive has {n} members, more than the limit of {}",
                        self.options.max_members
                    ),
                ));
                return "zip".into();
            }
            Err(e) => {
                self.not_analysed(rules::malformed_container_finding(member, "zip", &e.to_string()));
                return "zip".into();
            }
        };
        for anomaly in &archive.anomalies {
            if matches!(anomaly, zip::Anomaly::EncryptedFlag { .. }) {
                // Reported with the member, once it is known whether the data is really encrypted.
                continue;
            }
            let (severity, message) = describe_anomaly(anomaly);
            self.findings
                .push(rules::archive_anomaly_finding(member, severity, message));
        }
        if archive.start > 0 && formats::sniff(&data[..archive.start]) == Kind::Pickle {
            // Bytes before the archive that form a pickle: pickle.load would run them.
            self.pickle_streams(&data[..archive.start], Some(&child(member, "<prefix>")), depth + 1);
        }
        let names: Vec<&str> = archive.entries.iter().map(|e| e.name.as_str()).collect();
        let torch_prefix = names
            .iter()
            .find_map(|n| n.strip_suffix("data.pkl"))
            .filter(|p| p.is_empty() || p.ends_with('/'));
        let torchscript = names.iter().any(|n| n.ends_with("constants.pkl"))
            || names.iter().any(|n| n.contains("/code/") || n.starts_with("code/"));
        let npz = !names.is_empty()
            && archive
                .entries
                .iter()
                .filter(|e| !e.is_dir())
                .all(|e| e.name.ends_with(".npy"));
        let format = match (torch_prefix.is_some(), torchscript, npz) {
            (_, true, _) => "torchscript",
            (true, _, _) => "torch-zip",
            (_, _, true) => "numpy-npz",
            _ => "zip",
        };
        for entry in &archive.entries {
            if entry.is_dir() {
                continue;
            }
            let label = child(member, &entry.name);
            if format != "zip" && format != "numpy-npz" && is_tensor_record(&entry.name) {
                // Raw storage bytes: torch maps them as data and never unpickles them.
                continue;
            }
            if format == "torchscript" && entry.name.ends_with(".py") && (entry.name.contains("code/")) {
                if let Ok(bytes) = zip::read_member(data, entry, 16 << 20) {
                    let source = String::from_utf8_lossy(&bytes);
                    self.findings.extend(rules::torchscript_code_findings(&label, &source));
                }
                continue;
            }
            self.zip_member(data, entry, &label, depth);
        }
        if let (Some(prefix), "torch-zip" | "torchscript") = (torch_prefix, format) {
            self.check_storage_records(&archive, member, prefix);
        }
        format.into()
    }

    /// Every storage `<prefix>data.pkl` declares fits in its `<prefix>data/<key>` record.
    fn check_storage_records(&mut self, archive: &zip::Archive, member: Option<&str>, prefix: &str) {
        let pickle = child(member, &format!("{prefix}data.pkl"));
        let sizes: std::collections::HashMap<&str, u64> =
            archive.entries.iter().map(|e| (e.name.as_str(), e.size)).collect();
        let mut found = Vec::new();
        for (declared_in, storage) in &self.storages {
            if declared_in.as_deref() != Some(pickle.as_str()) || storage.itemsize == 0 {
                continue;
            }
            let record = format!("{prefix}data/{}", storage.key);
            if let Some(&size) = sizes.get(record.as_str()) {
                if u128::from(storage.numel) * u128::from(storage.itemsize) > u128::from(size) {
                    found.push(rules::oversized_storage_finding(Some(&pickle), storage, &record, size));
                }
            }
        }
        self.findings.extend(found.into_iter().take(16));
    }

    fn zip_member(&mut self, data: &[u8], entry: &zip::Entry, label: &str, depth: usize) {
        if entry.method != 0 && entry.method != 8 {
            if looks_like_pickle_name(&entry.name) {
                self.not_analysed(rules::unscannable_content_finding(
                    Some(label),
                    &format!("member compressed with method {}", entry.method),
                ));
            }
            return;
        }
        let Some(head) = zip::peek_member(data, entry, PEEK) else {
            if entry.flags & 0x41 != 0 {
                self.not_analysed(rules::unscannable_content_finding(
                    Some(label),
                    "the member is encrypted",
                ));
                return;
            }
            self.not_analysed(rules::malformed_container_finding(
                Some(label),
                "zip member",
                "its data runs past the end of the file",
            ));
            return;
        };
        let kind = formats::sniff(&head);
        if entry.flags & 0x41 != 0 {
            if matches!(kind, Kind::Unknown) {
                // Really encrypted: nothing can be analysed.
                self.not_analysed(rules::unscannable_content_finding(
                    Some(label),
                    "the member is encrypted",
                ));
                return;
            }
            let (severity, message) = describe_anomaly(&zip::Anomaly::EncryptedFlag {
                name: entry.name.clone(),
                flags: entry.flags,
            });
            self.findings
                .push(rules::archive_anomaly_finding(Some(label), severity, message));
        }
        let wanted = looks_like_pickle_name(&entry.name)
            || matches!(
                kind,
                Kind::Pickle | Kind::Zip | Kind::Compressed(_) | Kind::Tar | Kind::Npy | Kind::SevenZip | Kind::Zstd
            );
        if !wanted {
            return;
        }
        match zip::read_member(
            data,
            entry,
            self.decompression_cap(usize::try_from(entry.compressed_size).unwrap_or(usize::MAX)),
        ) {
            Ok(bytes) => {
                if zip::crc32(&bytes) != entry.crc32 {
                    self.findings.push(rules::archive_anomaly_finding(
                        Some(label),
                        Severity::Medium,
                        format!("CRC-32 mismatch on {:?}: strict zip readers refuse the member, PyTorch's reader loads it (it was analysed)", entry.name),
                    ));
                }
                self.artifact(&bytes, Some(label), depth + 1);
            }
            Err(zip::ReadMemberError::Decompress(DecompressError::TooLarge { cap })) => {
                self.not_analysed(rules::limit_exceeded_finding(
                    Some(label),
                    format!(
                        "member decompresses to more than {cap} bytes (a zip bomb, or a member too large to analyse)"
                    ),
                ));
            }
            Err(e) => {
                self.not_analysed(rules::malformed_container_finding(
                    Some(label),
                    "zip member",
                    &e.to_string(),
                ));
            }
        }
    }

    fn seven_zip(&mut self, data: &[u8], member: Option<&str>, depth: usize) -> String {
        let cap = self.decompression_cap(data.len());
        match formats::sevenz::members(data, cap, cap, self.options.max_members) {
            Ok(members) => {
                for m in members {
                    let label = child(member, &m.name);
                    if m.truncated {
                        self.not_analysed(rules::limit_exceeded_finding(
                            Some(&label),
                            format!("7z content decompresses to more than {cap} bytes and was cut"),
                        ));
                    }
                    self.artifact(&m.bytes, Some(&label), depth + 1);
                }
            }
            Err(why) => {
                self.not_analysed(rules::unscannable_content_finding(
                    member,
                    &format!("the 7z archive could not be opened: {why}"),
                ));
            }
        }
        "7z".into()
    }

    fn tar(&mut self, data: &[u8], member: Option<&str>, depth: usize) -> String {
        let members = match tar::members(data, self.options.max_members) {
            Ok(m) => m,
            Err(e) => {
                self.not_analysed(rules::malformed_container_finding(member, "tar", &e.to_string()));
                return "tar".into();
            }
        };
        // tarfile, like `tar -x`, takes the last member of a name.
        let mut last_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, m) in members.iter().enumerate() {
            if last_of.insert(m.name.as_str(), i).is_some() {
                self.findings.push(rules::archive_anomaly_finding(
                    Some(&child(member, &m.name)),
                    Severity::Medium,
                    format!("duplicate member name {:?}: extraction keeps the last copy, and scanners that read the first miss it (every copy was analysed)", m.name),
                ));
            }
        }
        // torch.load tries the legacy layout on every tar and needs only `storages` to start.
        let legacy = last_of.get("storages").is_some_and(|&i| members[i].is_file);
        let mut read_as_legacy = Vec::new();
        if legacy {
            for name in torch::LEGACY_TAR_RECORDS {
                if let Some(&i) = last_of.get(name).filter(|&&i| members[i].is_file) {
                    read_as_legacy.push(i);
                }
            }
            self.legacy_tar(data, members.as_slice(), &read_as_legacy, member);
        }
        for (i, m) in members.iter().enumerate().filter(|(_, m)| m.is_file) {
            let label = child(member, &m.name);
            if m.name.split('/').any(|p| p == "..") || m.name.starts_with('/') {
                self.findings.push(rules::archive_anomaly_finding(
                    Some(&label),
                    Severity::Medium,
                    format!("tar member {:?} would be written outside the extraction folder", m.name),
                ));
            }
            if read_as_legacy.contains(&i) {
                continue;
            }
            let body = &data[m.offset..m.offset + m.size];
            let kind = formats::sniff(&body[..body.len().min(PEEK)]);
            if looks_like_pickle_name(&m.name) || !matches!(kind, Kind::Unknown | Kind::NotModel(_)) {
                self.artifact(body, Some(&label), depth + 1);
            }
        }
        if legacy {
            "torch-legacy-tar".into()
        } else {
            "tar".into()
        }
    }

    /// PyTorch 0.1.1's tar layout, read as `torch.serialization._legacy_load` reads it:
    /// `storages`, then `tensors`, then `pickle` (`read` holds their indices in `members`).
    fn legacy_tar(&mut self, data: &[u8], members: &[tar::Member], read: &[usize], member: Option<&str>) {
        let body = |name: &str| {
            read.iter()
                .map(|&i| &members[i])
                .find(|m| m.name == name)
                .map(|m| &data[m.offset..m.offset + m.size])
        };
        if let Some(bytes) = body("storages") {
            let label = child(member, "storages");
            if let Err(why) = self.legacy_storages(bytes, &label) {
                self.not_analysed(rules::malformed_container_finding(
                    Some(&label),
                    "legacy storages record",
                    &why,
                ));
            }
        }
        if let Some(bytes) = body("tensors") {
            let label = child(member, "tensors");
            if let Err(why) = self.legacy_tensors(bytes, &label) {
                self.not_analysed(rules::malformed_container_finding(
                    Some(&label),
                    "legacy tensors record",
                    &why,
                ));
            }
        }
        if let Some(bytes) = body("pickle") {
            self.stream(bytes, 0, Some(&child(member, "pickle")), 0);
        }
    }

    /// `storages`: a count, then per storage a (key, location, type) pickle and raw data
    /// (8-byte element count, then the elements), then a pickle of storage views.
    fn legacy_storages(&mut self, bytes: &[u8], label: &str) -> Result<(), String> {
        let (count, mut pos) = self.counted_stream(bytes, 0, label)?;
        for _ in 0..count {
            let step = self.stream(bytes, pos, Some(label), 0);
            pos = step.end.ok_or("a storage header pickle is broken")?;
            // torch unpacks `key, location, storage_type = header`.
            let storage_type = match &step.returned {
                Some(Returned::Seq(items)) if items.len() == 3 => &items[2],
                _ => return Err("a storage header is not a (key, location, type) triple".into()),
            };
            let element_size = match storage_type {
                Returned::Global(path) => torch::storage_element_size(path),
                _ => None,
            }
            .ok_or("a storage header names no known storage type")?;
            let numel = bytes
                .get(pos..pos + 8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                .ok_or("storage data is truncated")?;
            let len = numel
                .checked_mul(element_size)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or("storage size overflows")?;
            pos = pos
                .checked_add(8 + len)
                .filter(|&p| p <= bytes.len())
                .ok_or("storage data is truncated")?;
        }
        self.stream(bytes, pos, Some(label), 0)
            .end
            .ok_or("the storage views pickle is broken")?;
        Ok(())
    }

    /// `tensors`: a count, then per tensor a (key, storage id, type) pickle and its geometry.
    fn legacy_tensors(&mut self, bytes: &[u8], label: &str) -> Result<(), String> {
        let (count, mut pos) = self.counted_stream(bytes, 0, label)?;
        for _ in 0..count {
            pos = self
                .stream(bytes, pos, Some(label), 0)
                .end
                .ok_or("a tensor header pickle is broken")?;
            let ndim = bytes
                .get(pos..pos + 4)
                .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
                .ok_or("tensor geometry is truncated")?;
            let ndim = usize::try_from(ndim).map_err(|_| "negative tensor rank")?;
            pos = ndim
                .checked_mul(16)
                .and_then(|g| pos.checked_add(8 + g + 8))
                .filter(|&p| p <= bytes.len())
                .ok_or("tensor geometry is truncated")?;
        }
        Ok(())
    }

    fn counted_stream(&mut self, bytes: &[u8], pos: usize, label: &str) -> Result<(u64, usize), String> {
        let step = self.stream(bytes, pos, Some(label), 0);
        let end = step.end.ok_or("the count pickle is broken")?;
        match step.returned {
            Some(Returned::Int(n)) if (0..=1_000_000).contains(&n) => Ok((n as u64, end)),
            _ => Err("the count pickle does not hold a count".into()),
        }
    }

    fn npy(&mut self, data: &[u8], member: Option<&str>, depth: usize) -> String {
        match numpy::parse(data) {
            Ok(header) if header.has_object => {
                let payload = &data[header.data_offset.min(data.len())..];
                self.pickle_streams(payload, Some(&child(member, "<object array>")), depth + 1);
            }
            Ok(_) => {}
            Err(e) => {
                self.not_analysed(rules::malformed_container_finding(member, ".npy", &e.to_string()));
            }
        }
        "numpy-npy".into()
    }
}

/// `<prefix>/data/<key>`: a raw storage record of a torch archive.
fn is_tensor_record(name: &str) -> bool {
    let mut parts = name.rsplit('/');
    let (Some(key), Some(dir)) = (parts.next(), parts.next()) else {
        return false;
    };
    dir == "data" && !key.is_empty() && !key.contains('.')
}

fn looks_like_pickle_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        ".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".npy", ".dill", ".p",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext))
}

fn describe_anomaly(anomaly: &zip::Anomaly) -> (Severity, String) {
    use zip::Anomaly::*;
    match anomaly {
        DataBeforeArchive { len } => (Severity::Low, format!("{len} bytes precede the archive (they were analysed when they form a pickle)")),
        LocalNameMismatch { central, local } => {
            (Severity::Medium, format!("member {central:?} is named {local:?} in its local header: strict readers refuse it, PyTorch reads it by the central name"))
        }
        EncryptedFlag { name, flags } => (
            Severity::Medium,
            format!("member {name:?} has the encryption flag set (flags 0x{flags:04x}) though its data is plain: readers disagree on whether to load it, and scanners that give up miss it (it was analysed)"),
        ),
        UnusualFlags { name, flags } => (Severity::Low, format!("member {name:?} has unusual general-purpose flags 0x{flags:04x}")),
        DuplicateName { name } => (Severity::Medium, format!("duplicate member name {name:?}: readers disagree on which copy they load (every copy was analysed)")),
        UnsafeName { name } => (Severity::Medium, format!("member name {name:?} points outside the extraction folder (zip-slip)")),
        BadLocalHeader { name } => (Severity::Medium, format!("member {name:?} has no valid local header where the central directory points")),
        TrailingData { len } => (Severity::Low, format!("{len} bytes follow the end of the archive")),
    }
}
