//! The whole analysis: sniffing, every container, every rule.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let analysis = picklegate::analyze::analyze(data);
    // Fail-closed: an incomplete analysis is never clean and always says why.
    assert!(!analysis.incomplete || (!analysis.findings.is_empty() && analysis.verdict() != picklegate::model::Verdict::Clean));
});
