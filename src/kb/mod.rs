//! The knowledge base: which callables are dangerous to invoke during a load (by category), and
//! which globals legitimate framework files use. Both are versioned data files compiled into
//! the binary, so verdicts never depend on what is installed.

use rustc_hash::FxHashMap;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use crate::model::Severity;

// `dangerous.toml` and `frameworks.toml`, converted to JSON by build.rs.
const DANGEROUS_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/dangerous.json"));
const FRAMEWORKS_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/frameworks.json"));

/// Text of the knowledge base, borrowed from the JSON compiled into the binary: parsing
/// allocates only the strings that hold escapes. (Fields spell it out: serde borrows only
/// where it sees the lifetime.)
pub type Text = Cow<'static, str>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DangerousFile {
    #[allow(dead_code)]
    schema: u32,
    #[serde(borrow)]
    version: Cow<'static, str>,
    #[serde(default, borrow)]
    aliases: HashMap<Cow<'static, str>, Cow<'static, str>>,
    category: Vec<Category>,
    #[serde(default)]
    decoder: Vec<Decoder>,
    #[serde(default)]
    loader: Vec<Loader>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    #[serde(borrow)]
    pub id: Cow<'static, str>,
    #[serde(borrow)]
    pub title: Cow<'static, str>,
    #[serde(borrow)]
    pub behaviour: Cow<'static, str>,
    pub severity: Severity,
    #[serde(borrow)]
    pub description: Cow<'static, str>,
    pub entries: Vec<DangerEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DangerEntry {
    #[serde(borrow)]
    pub target: Cow<'static, str>,
    #[serde(borrow)]
    pub why: Cow<'static, str>,
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Matches only an attribute walk written into a global's name (`numpy` + `_core.x`), not
    /// the submodule of the same name imported directly (`numpy._core.multiarray` + `x`).
    #[serde(default)]
    pub walk: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decoder {
    #[serde(borrow)]
    pub target: Cow<'static, str>,
    #[serde(borrow)]
    pub transform: Cow<'static, str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loader {
    #[serde(borrow)]
    pub target: Cow<'static, str>,
    #[serde(borrow)]
    pub input: Cow<'static, str>,
    pub arg: usize,
    /// The framework itself writes this call (tensors pickled with plain pickle): when the
    /// embedded payload was analysed and holds only data, the call is not a finding.
    #[serde(default)]
    pub framework_rebuild: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameworksFile {
    #[allow(dead_code)]
    schema: u32,
    #[serde(borrow)]
    version: Cow<'static, str>,
    framework: Vec<Framework>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Framework {
    #[serde(borrow)]
    pub id: Cow<'static, str>,
    #[serde(borrow)]
    pub title: Cow<'static, str>,
    #[serde(borrow)]
    pub context: Cow<'static, str>,
    pub entries: Vec<AllowEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowEntry {
    #[serde(borrow)]
    pub target: Cow<'static, str>,
    #[serde(borrow)]
    pub why: Cow<'static, str>,
}

/// How the knowledge base classifies one global.
#[derive(Debug, Clone, Copy)]
pub enum Class<'k> {
    Dangerous(Danger<'k>),
    Allowed {
        framework: &'k Framework,
        entry: &'k AllowEntry,
    },
    Unknown,
}

#[derive(Debug, Clone, Copy)]
pub struct Danger<'k> {
    pub category: &'k Category,
    pub entry: &'k DangerEntry,
    pub severity: Severity,
    /// Reached through an attribute path of another module (`pathlib` + `os.system`) rather
    /// than named directly.
    pub via_attribute_path: bool,
}

pub struct Kb {
    pub dangerous_version: Text,
    pub frameworks_version: Text,
    aliases: PrefixMap<Text>,
    pub categories: Vec<Category>,
    pub frameworks: Vec<Framework>,
    pub loaders: Vec<Loader>,
    /// Pure decoders the analysis folds when it decodes nested payloads.
    pub decoders: Vec<Decoder>,
    /// Full dotted path (module and name) -> (category index, entry index).
    danger_paths: PrefixMap<(usize, usize)>,
    /// Attribute-walk entries: (module, first name component) -> (category index, entry index).
    danger_walks: Nested,
    /// Exact allowlisted "module:name" -> (framework index, entry index).
    allow_exact: Nested,
    /// Allowlisted module trees ("module:*").
    allow_modules: PrefixMap<(usize, usize)>,
}

/// Dotted names looked up by the longest dotted prefix of a path. Only prefixes no longer, and
/// with no more parts, than the longest key are tried, so a hostile name of a million bytes or
/// parts costs no more than a short one.
struct PrefixMap<V> {
    map: FxHashMap<Text, V>,
    max_parts: usize,
    max_len: usize,
}

impl<V> Default for PrefixMap<V> {
    fn default() -> Self {
        PrefixMap {
            map: FxHashMap::default(),
            max_parts: 0,
            max_len: 0,
        }
    }
}

impl<V> PrefixMap<V> {
    /// Adds `key` unless it is already there (the first entry wins).
    fn insert_first(&mut self, key: Text, value: V) {
        self.max_parts = self.max_parts.max(key.split('.').count());
        self.max_len = self.max_len.max(key.len());
        self.map.entry(key).or_insert(value);
    }

    /// The value of the longest key that is `path` or one of its dotted prefixes, and where
    /// that prefix ends in `path`.
    fn longest_prefix(&self, path: &str) -> Option<(usize, &V)> {
        let bytes = path.as_bytes();
        let mut end = if bytes.len() <= self.max_len {
            bytes.len()
        } else {
            bytes[..=self.max_len].iter().rposition(|&b| b == b'.')?
        };
        if let Some((dot, _)) = path[..end].match_indices('.').nth(self.max_parts.checked_sub(1)?) {
            end = dot;
        }
        loop {
            if let Some(value) = self.map.get(&path[..end]) {
                return Some((end, value));
            }
            end = path[..end].rfind('.')?;
        }
    }
}

/// module -> name -> (list index, entry index): looked up with borrowed strings, no allocation.
type Nested = FxHashMap<Text, FxHashMap<Text, (usize, usize)>>;

fn nested_get<'m>(map: &'m Nested, module: &str, name: &str) -> Option<&'m (usize, usize)> {
    map.get(module)?.get(name)
}

static KB: LazyLock<Kb> =
    LazyLock::new(|| Kb::parse(DANGEROUS_JSON, FRAMEWORKS_JSON).expect("the built-in knowledge base is valid"));

impl Kb {
    /// The knowledge base compiled into this binary.
    pub fn builtin() -> &'static Kb {
        &KB
    }

    /// Parses the knowledge base from its JSON form (build.rs converts the TOML sources).
    pub fn parse(dangerous: &'static str, frameworks: &'static str) -> Result<Kb, String> {
        let d: DangerousFile = serde_json::from_str(dangerous).map_err(|e| format!("dangerous.toml: {e}"))?;
        let f: FrameworksFile = serde_json::from_str(frameworks).map_err(|e| format!("frameworks.toml: {e}"))?;
        let mut danger_paths = PrefixMap::default();
        let mut danger_walks = Nested::default();
        for (ci, cat) in d.category.iter().enumerate() {
            for (ei, entry) in cat.entries.iter().enumerate() {
                let (module, name) = target_parts(&entry.target)?;
                if entry.walk {
                    danger_walks.entry(module).or_default().entry(name).or_insert((ci, ei));
                    continue;
                }
                let path = if name == "*" {
                    module
                } else {
                    Cow::Owned(format!("{module}.{name}"))
                };
                danger_paths.insert_first(path, (ci, ei));
            }
        }
        let mut allow_exact = Nested::default();
        let mut allow_modules = PrefixMap::default();
        for (fi, fw) in f.framework.iter().enumerate() {
            for (ei, entry) in fw.entries.iter().enumerate() {
                let (module, name) = target_parts(&entry.target)?;
                if name == "*" {
                    allow_modules.insert_first(module, (fi, ei));
                } else {
                    allow_exact.entry(module).or_default().entry(name).or_insert((fi, ei));
                }
            }
        }
        Ok(Kb {
            dangerous_version: d.version,
            frameworks_version: f.version,
            aliases: d
                .aliases
                .into_iter()
                .fold(PrefixMap::default(), |mut aliases, (from, to)| {
                    aliases.insert_first(from, to);
                    aliases
                }),
            categories: d.category,
            frameworks: f.framework,
            loaders: d.loader,
            decoders: d.decoder,
            danger_paths,
            danger_walks,
            allow_exact,
            allow_modules,
        })
    }

    pub fn dangerous_entry_count(&self) -> usize {
        self.categories.iter().map(|c| c.entries.len()).sum()
    }

    pub fn allow_entry_count(&self) -> usize {
        self.frameworks.iter().map(|f| f.entries.len()).sum()
    }

    /// Applies module aliases (`posix` → `os`, `_operator` → `operator`…) to a module name.
    pub fn canonical_module<'m>(&self, module: &'m str) -> Cow<'m, str> {
        // The longest alias that is the module or one of its dotted prefixes.
        match self.aliases.longest_prefix(module) {
            Some((end, canonical)) => Cow::Owned(format!("{canonical}{}", &module[end..])),
            None => Cow::Borrowed(module),
        }
    }

    /// Classifies `module.name`: dangerous wins over allowed; unknown otherwise.
    pub fn classify(&self, module: &str, name: &str) -> Class<'_> {
        let module = self.canonical_module(module);
        let path = if name.is_empty() {
            module.to_string()
        } else {
            format!("{module}.{name}")
        };
        // An attribute path whose tail names a dangerous module's attribute (`pathlib` +
        // `os.system`, `tempfile` + `_os.system`, `numpy` + `__builtins__.eval`) is reported as
        // reached through that path, even when the head is itself listed. Only as many parts
        // as the longest dangerous path are read after each head: a longer tail cannot match.
        let parts: Vec<&str> = if name.contains('.') {
            name.split('.').collect()
        } else {
            Vec::new()
        };
        for start in 0..parts.len().saturating_sub(1) {
            let head = parts[start];
            let window = &parts[start + 1..parts.len().min(start + 1 + self.danger_paths.max_parts)];
            let candidates = [head.to_string(), head.trim_start_matches('_').to_string()];
            for head in candidates.iter().filter(|h| !h.is_empty()) {
                let tail_module = self.canonical_module(head);
                let tail = format!("{tail_module}.{}", window.join("."));
                if let Some(mut danger) = self.danger_for_path(&tail) {
                    danger.via_attribute_path = true;
                    return Class::Dangerous(danger);
                }
            }
        }
        if let Some(danger) = self.danger_for_path(&path) {
            return Class::Dangerous(danger);
        }
        let first = name.split('.').next().unwrap_or_default();
        if let Some(&(ci, ei)) = nested_get(&self.danger_walks, &module, first) {
            let category = &self.categories[ci];
            let entry = &category.entries[ei];
            let severity = entry.severity.unwrap_or(category.severity);
            return Class::Dangerous(Danger {
                category,
                entry,
                severity,
                via_attribute_path: name.contains('.'),
            });
        }
        if let Some(&(fi, ei)) = nested_get(&self.allow_exact, &module, name) {
            return Class::Allowed {
                framework: &self.frameworks[fi],
                entry: &self.frameworks[fi].entries[ei],
            };
        }
        match self.allow_modules.longest_prefix(&module) {
            Some((_, &(fi, ei))) => Class::Allowed {
                framework: &self.frameworks[fi],
                entry: &self.frameworks[fi].entries[ei],
            },
            None => Class::Unknown,
        }
    }

    /// The most specific dangerous entry that covers `path` (the entry itself or a parent).
    fn danger_for_path(&self, path: &str) -> Option<Danger<'_>> {
        let (_, &(ci, ei)) = self.danger_paths.longest_prefix(path)?;
        let category = &self.categories[ci];
        let entry = &category.entries[ei];
        Some(Danger {
            category,
            entry,
            severity: entry.severity.unwrap_or(category.severity),
            via_attribute_path: false,
        })
    }

    /// Whether a callable is a pure decoder (base64, hex, zlib…) the analysis folds.
    pub fn is_decoder(&self, module: &str, name: &str) -> bool {
        self.decoders.iter().any(|d| self.names(&d.target, module, name))
    }

    /// The nested-loader description for a callable, if it is one.
    pub fn loader_for(&self, module: &str, name: &str) -> Option<&Loader> {
        self.loaders.iter().find(|l| self.names(&l.target, module, name))
    }

    /// Whether a `module:name` target names `module.name` once both modules are canonical.
    /// Compared as dotted paths without building them: this runs for every call.
    fn names(&self, target: &str, module: &str, name: &str) -> bool {
        let Ok((target_module, target_name)) = split_target(target) else {
            return false;
        };
        let (a, b) = (self.canonical_module(target_module), self.canonical_module(module));
        let dotted = |m: &str, n: &str| m.len() + 1 + n.len();
        dotted(&a, target_name) == dotted(&b, name)
            && a.bytes()
                .chain([b'.'])
                .chain(target_name.bytes())
                .eq(b.bytes().chain([b'.']).chain(name.bytes()))
    }
}

fn split_target(target: &str) -> Result<(&str, &str), String> {
    target
        .split_once(':')
        .ok_or_else(|| format!("target `{target}` is not `module:name`"))
}

/// [`split_target`], the parts borrowed from the binary when the target is.
fn target_parts(target: &Text) -> Result<(Text, Text), String> {
    Ok(match target {
        Cow::Borrowed(target) => {
            let (module, name) = split_target(target)?;
            (Cow::Borrowed(module), Cow::Borrowed(name))
        }
        Cow::Owned(target) => {
            let (module, name) = split_target(target)?;
            (Cow::Owned(module.to_string()), Cow::Owned(name.to_string()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb() -> &'static Kb {
        Kb::builtin()
    }

    #[test]
    fn builtin_kb_is_large_enough() {
        assert!(kb().dangerous_entry_count() >= 300, "{}", kb().dangerous_entry_count());
        assert!(kb().allow_entry_count() >= 200, "{}", kb().allow_entry_count());
    }

    #[test]
    fn aliases_and_module_prefixes() {
        assert!(matches!(kb().classify("posix", "system"), Class::Dangerous(_)));
        assert!(matches!(kb().classify("nt", "system"), Class::Dangerous(_)));
        assert!(matches!(kb().classify("__builtin__", "eval"), Class::Dangerous(_)));
        assert!(matches!(kb().classify("builtins", "exec"), Class::Dangerous(_)));
        assert!(matches!(kb().classify("subprocess", "Popen"), Class::Dangerous(_)));
        assert!(matches!(
            kb().classify("asyncio.unix_events", "_UnixSubprocessTransport._start"),
            Class::Dangerous(_)
        ));
    }

    #[test]
    fn attribute_paths_through_harmless_modules() {
        let Class::Dangerous(d) = kb().classify("pathlib", "os.system") else {
            panic!("not flagged")
        };
        assert!(d.via_attribute_path);
        assert!(matches!(kb().classify("tempfile", "_os.system"), Class::Dangerous(_)));
    }

    #[test]
    fn walk_entries_match_attribute_paths_only() {
        assert!(matches!(
            kb().classify("numpy", "_core.multiarray._reconstruct"),
            Class::Dangerous(_)
        ));
        assert!(!matches!(
            kb().classify("numpy._core.multiarray", "_reconstruct"),
            Class::Dangerous(_)
        ));
    }

    /// Every decoder the knowledge base lists is one the analysis really folds: a payload wrapped
    /// in it is decoded and its os.system call found.
    #[test]
    fn every_listed_decoder_is_folded() {
        fn hex(s: &str) -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        }
        let inputs: &[(&str, &str)] = &[
            ("base64", "5932397a436e4e356333526c62516f6f55796430636e566c4a7770305569343d"),
            ("urlsafe-base64", "5932397a436e4e356333526c62516f6f55796430636e566c4a7770305569343d"),
            ("base32", "4d4e58584743545450465a58495a4c4e42495546474a33554f4a32574b4a594b4f524a43343d3d3d"),
            ("base32hex", "43444e4e36324a4a4635504e3850424431384b353639524b4539514d41394f4145483932533d3d3d"),
            ("hex-upper", "36333646373330413733373937333734363536443041323835333237373437323735363532373041373435323245"),
            ("ascii85", "4072484471462a56684b41536863263b5e5a5b2d465f29702d4641615e"),
            ("base85", "567b645a606239722d67576f2d2635517a7677436221385f436257247a"),
            ("hex", "36333666373330613733373937333734363536643061323835333237373437323735363532373061373435323265"),
            ("zlib", "789c4bce2fe62aae2c2e49cde5d208562f292a4d55e72a09d2030060530786"),
            ("gzip", "1f8b08000000000002034bce2fe62aae2c2e49cde5d208562f292a4d55e72a09d20300dcd0e0d317000000"),
            ("bz2", "425a68393141592653597fb85d2a000004d380001000c118000a029e202000314c0001464365368825c8e040d3c4b2b384adbe2ee48a70a120ff70ba54"),
            ("lzma", "fd377a585a000004e6d6b4460200210116000000742fe5a3010016636f730a73797374656d0a28532774727565270a74522e0000dc543c9435c46d5600012f17810849b11fb6f37d010000000004595a"),
        ];
        for decoder in &kb().decoders {
            let (module, name) = split_target(&decoder.target).unwrap();
            let mut pickle = b"\x80\x04\x8c\x06pickle\x8c\x05loads\x93".to_vec();
            let push_str = |p: &mut Vec<u8>, s: &[u8]| {
                p.push(0x8d);
                p.extend_from_slice(&(s.len() as u64).to_le_bytes());
                p.extend_from_slice(s);
            };
            push_str(&mut pickle, module.as_bytes());
            push_str(&mut pickle, name.as_bytes());
            pickle.push(0x93);
            let payload = b"cos\nsystem\n(S'true'\ntR.";
            match &*decoder.transform {
                "codecs" => {
                    pickle.push(b'B');
                    let encoded = hex(inputs.iter().find(|(t, _)| *t == "hex").unwrap().1);
                    pickle.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
                    pickle.extend_from_slice(&encoded);
                    push_str(&mut pickle, b"hex");
                    pickle.push(0x86);
                }
                "codecs-encode" => {
                    push_str(&mut pickle, payload);
                    push_str(&mut pickle, b"latin1");
                    pickle.push(0x86);
                }
                transform => {
                    let encoded = hex(inputs
                        .iter()
                        .find(|(t, _)| *t == transform)
                        .unwrap_or_else(|| panic!("no input for {transform}"))
                        .1);
                    if name.ends_with("fromhex") {
                        // bytes.fromhex takes text.
                        push_str(&mut pickle, &encoded);
                    } else {
                        pickle.push(b'B');
                        pickle.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
                        pickle.extend_from_slice(&encoded);
                    }
                    pickle.push(0x85);
                }
            }
            pickle.extend_from_slice(b"R\x85R.");
            let findings = crate::analyze::analyze(&pickle).findings;
            assert!(
                findings.iter().any(|f| f.target.as_deref() == Some("os.system")),
                "{} ({}) was not folded: {findings:#?}",
                decoder.target,
                decoder.transform
            );
        }
    }

    #[test]
    fn allowlist_is_exact() {
        assert!(matches!(
            kb().classify("torch._utils", "_rebuild_tensor_v2"),
            Class::Allowed { .. }
        ));
        assert!(matches!(
            kb().classify("collections", "OrderedDict"),
            Class::Allowed { .. }
        ));
        assert!(!matches!(kb().classify("torch", "load"), Class::Allowed { .. }));
        assert!(!matches!(kb().classify("numpy", "load"), Class::Allowed { .. }));
        assert!(matches!(kb().classify("mypackage.models", "Thing"), Class::Unknown));
    }
}
