//! `remote-code`: a Hugging Face `config.json` whose `auto_map` names Python modules. Loading the
//! model with `trust_remote_code=True` imports them: that code runs at load time. Made by the
//! scan (`src/crossfile.rs`), which reads the configuration next to the scanned models.

use super::rule_meta;
use crate::model::{Confidence, Finding, Severity};

rule_meta!(
    "remote-code",
    "Configuration makes loaders run repository code",
    Medium,
    "A Hugging Face config.json maps model classes to Python files (auto_map): trust_remote_code=True imports and runs them when the model loads."
);

/// `module_file`: the Python file the entry names; `class`: the class in it; `present`:
/// whether the file is in the repository; `hub_repo`: another Hub repository it comes from.
pub fn finding(config: &str, module_file: &str, class: &str, present: bool, hub_repo: Option<&str>) -> Finding {
    let place = match (hub_repo, present) {
        (Some(repo), _) => format!("`{module_file}` from the Hub repository `{repo}`, which is not in this repository and was not reviewed here"),
        (None, true) => format!("`{module_file}`, in this repository: review it like any code that runs on load"),
        (None, false) => format!("`{module_file}`, which is not in the repository (it would be fetched at load time)"),
    };
    Finding::new(
        META.id,
        Severity::Medium,
        Confidence::High,
        format!("`{config}` maps `{class}` to {place}; loading with trust_remote_code=True runs that Python"),
    )
    .with_explanation(
        "auto_map entries make transformers import Python modules shipped with the model when trust_remote_code=True. Nothing in a pickle is needed to run code that way. Keep trust_remote_code off unless the modules were reviewed, and pin the revision you reviewed.",
    )
}
