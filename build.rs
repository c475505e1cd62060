//! Converts the knowledge base from TOML (what people edit and review) to JSON (what the binary
//! parses at start-up, several times faster than TOML for the 400 KB of entries).

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for name in ["dangerous", "frameworks"] {
        let path = format!("src/kb/{name}.toml");
        println!("cargo::rerun-if-changed={path}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let value: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let json = serde_json::to_string(&value).expect("TOML values convert to JSON");
        std::fs::write(out.join(format!("{name}.json")), json).unwrap_or_else(|e| panic!("{name}.json: {e}"));
    }
}
