//! Semantic checks that need no resolution: name rules, durations, image
//! references, label keys and values, and literals that look like secrets.
//!
//! Each check is a small pure function; [`crate::model`] calls them while it
//! resolves the spec and turns failures into located diagnostics.

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::load::Loaded;
use crate::yaml::{Node, Value};

/// A DNS-1123 label: lowercase alphanumerics and `-`, starting and ending
/// alphanumeric, at most 63 characters.
#[must_use]
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
#[must_use]
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A Kubernetes label value: empty, or up to 63 of `[A-Za-z0-9._-]`,
/// starting and ending alphanumeric.
#[must_use]
pub fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.as_bytes()[s.len() - 1].is_ascii_alphanumeric())
}

/// A Kubernetes label key: `[prefix/]name`, prefix a DNS subdomain, name a
/// label-value-like string of 1 to 63 characters.
#[must_use]
pub fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(is_dns_subdomain) && !name.is_empty() && is_label_value(name)
}

/// A ConfigMap key: `[-._a-zA-Z0-9]+`, at most 253 characters.
#[must_use]
pub fn is_config_map_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
#[must_use]
pub fn is_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A parameter or output name: `[A-Za-z0-9_-]+`, starting with a letter or `_`.
#[must_use]
pub fn is_param_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && s.len() <= 128
}

/// Parse a duration: `90`, `90s`, `15m`, `2h`, `1d`, `1h30m`. Returns seconds.
#[must_use]
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut saw_unit = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
        saw_unit = true;
    }
    (number.is_empty() && saw_unit).then_some(total)
}

/// A duration in Go's `time.ParseDuration` form (what Argo reads for
/// backoff and suspend durations): `30s`, `10m`, `1h30m`.
#[must_use]
pub fn go_duration(seconds: u64) -> String {
    if seconds == 0 {
        return "0s".to_string();
    }
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Why an image reference is not acceptable, if it is not.
#[must_use]
pub fn image_problem(reference: &str) -> Option<&'static str> {
    if reference.is_empty() || reference.chars().any(char::is_whitespace) {
        return Some("an image reference has no spaces and is not empty");
    }
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    if let Some(d) = digest {
        let hex = d.strip_prefix("sha256:");
        if !hex.is_some_and(|h| {
            h.len() == 64
                && h.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        }) {
            return Some("a digest is `sha256:` and 64 lowercase hex digits");
        }
    }
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].find(':') {
        Some(i) => (
            &name_tag[..last_slash + i],
            Some(&name_tag[last_slash + i + 1..]),
        ),
        None => (name_tag, None),
    };
    let name_ok = !name.is_empty()
        && name.split('/').enumerate().all(|(i, part)| {
            !part.is_empty()
                && part.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || matches!(b, b'.' | b'_' | b'-')
                        || (i == 0 && (b == b':' || b.is_ascii_uppercase()))
                })
        });
    if !name_ok {
        return Some("an image name is lowercase path components (`registry/org/name`)");
    }
    match tag {
        Some(t) => {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
                && !t.starts_with(['.', '-']);
            if !ok {
                return Some(
                    "a tag is up to 128 of `[A-Za-z0-9_.-]`, not starting with `.` or `-`",
                );
            }
        }
        None if digest.is_none() => {
            return Some("pin the image with a tag or a digest (`name:tag`, `name@sha256:…`)");
        }
        None => {}
    }
    None
}

/// What a string that looks like a credential looks like, if it does.
#[must_use]
pub fn secret_kind(s: &str) -> Option<&'static str> {
    const PREFIXES: &[(&str, usize, &str)] = &[
        ("ghp_", 30, "a GitHub personal access token"),
        ("gho_", 30, "a GitHub OAuth token"),
        ("ghu_", 30, "a GitHub user token"),
        ("ghs_", 30, "a GitHub App installation token"),
        ("ghr_", 30, "a GitHub refresh token"),
        ("github_pat_", 30, "a GitHub fine-grained token"),
        ("glpat-", 20, "a GitLab token"),
        ("sk-ant-", 20, "an Anthropic API key"),
        ("sk-proj-", 20, "an OpenAI API key"),
        ("sk-", 32, "an API secret key"),
        ("xoxb-", 20, "a Slack token"),
        ("xoxp-", 20, "a Slack token"),
        ("AKIA", 16, "an AWS access key id"),
    ];
    /// No token above is shorter (`AKIA` and 16 more).
    const SHORTEST: usize = 20;
    if s.len() < SHORTEST {
        return None;
    }
    if s.contains("-----BEGIN") && s.contains("PRIVATE KEY") {
        return Some("a private key");
    }
    // Tokens are ASCII, so words split on bytes: a byte of a multi-byte
    // character is never a word byte.
    let word_byte = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-';
    for word in s.as_bytes().split(|b| !word_byte(b)) {
        if word.len() < SHORTEST {
            continue;
        }
        for (prefix, min_rest, what) in PREFIXES {
            if let Some(rest) = word.strip_prefix(prefix.as_bytes())
                && rest.len() >= *min_rest
                && rest.iter().any(u8::is_ascii_digit)
            {
                return Some(what);
            }
        }
    }
    None
}

/// Report every scalar in the spec and prompt files that looks like a secret.
pub fn secrets(loaded: &Loaded, diags: &mut Diagnostics) {
    let files: Vec<_> = loaded.sources.iter().collect();
    let found = crate::par::map(&files, |&(file, source)| {
        let mut found = Vec::new();
        if let Some(root) = loaded.node(file, &[]) {
            walk_scalars(root, &mut |node, text| {
                if let Some(kind) = secret_kind(text) {
                    found.push(secret_diagnostic(kind).at(Some(secret_span(
                        &source.text,
                        node.span,
                        text,
                    ))));
                }
            });
        } else if loaded.prompt_files.values().any(|f| *f == file) {
            for (i, line) in source.text.lines().enumerate() {
                if let Some(kind) = secret_kind(line) {
                    found.push(secret_diagnostic(kind).at(Some(crate::source::Span {
                        file,
                        line: i + 1,
                        col: 1,
                        len: line.chars().count().max(1),
                        offset: 0,
                    })));
                }
            }
        }
        found
    });
    for d in found.into_iter().flatten() {
        diags.push(d);
    }
}

/// Where in a scalar the secret is: for a multi-line (block) scalar, the
/// source line holding the offending line of text.
fn secret_span(source: &str, span: crate::source::Span, text: &str) -> crate::source::Span {
    let Some(bad) = text
        .lines()
        .find(|l| secret_kind(l).is_some())
        .map(str::trim)
    else {
        return span;
    };
    if !text.contains('\n') || bad.is_empty() {
        return span;
    }
    for (i, line) in source.lines().enumerate().skip(span.line.saturating_sub(1)) {
        if let Some(col) = line.find(bad) {
            return crate::source::Span {
                line: i + 1,
                col: line[..col].chars().count() + 1,
                len: bad.chars().count(),
                ..span
            };
        }
    }
    span
}

fn secret_diagnostic(kind: &str) -> Diagnostic {
    Diagnostic::error(Code::SecretLiteral, format!("this looks like {kind}"))
        .label("secret value in the spec")
        .help("never put secret values in pipelines/: store them in a Kubernetes Secret (e.g. via External Secrets) and reference it with `secret:` / `key:`")
}

fn walk_scalars<'a>(node: &'a Node, f: &mut impl FnMut(&'a Node, &'a str)) {
    match &node.value {
        Value::Scalar(s) => f(node, &s.text),
        Value::Seq(items) => items.iter().for_each(|n| walk_scalars(n, f)),
        Value::Map(entries) => entries.iter().for_each(|(k, v)| {
            walk_scalars(k, f);
            walk_scalars(v, f);
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_dns_label("rex-author"));
        assert!(!is_dns_label("Rex"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_label_value("5dlabs.cto"));
        assert!(!is_label_value("5dlabs/cto"));
        assert!(is_label_key("app.kubernetes.io/part-of"));
        assert!(!is_label_key("app.kubernetes.io/"));
        assert!(is_env_name("GITHUB_APP_ID"));
        assert!(!is_env_name("1A"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("1d"), Some(86_400));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("30s5"), None);
        assert_eq!(go_duration(5400), "1h30m");
        assert_eq!(go_duration(30), "30s");
    }

    #[test]
    fn images() {
        assert_eq!(image_problem("ghcr.io/5dlabs/agent:1.0.0"), None);
        assert_eq!(image_problem("localhost:5000/a/b:x"), None);
        assert_eq!(
            image_problem(&format!("ghcr.io/a/b@sha256:{}", "a".repeat(64))),
            None
        );
        assert!(image_problem("ghcr.io/a/b").is_some());
        assert!(image_problem("ghcr.io/A/b:1").is_some());
        assert!(image_problem("a:b@sha256:xyz").is_some());
    }

    #[test]
    fn secrets_are_spotted() {
        assert!(secret_kind("token: ghp_0123456789abcdefghijABCDEFGHIJ0123").is_some());
        assert!(secret_kind("-----BEGIN RSA PRIVATE KEY-----").is_some());
        assert!(secret_kind("AKIA0123456789ABCDEF").is_some());
        assert_eq!(secret_kind("github-app"), None);
        assert_eq!(secret_kind("use the sk-learn library"), None);
    }

    #[test]
    fn secrets_are_words_of_a_minimum_length_with_a_digit() {
        let token = |rest: &str| format!("ghp_{rest}");
        let at_least = format!("{}7", "a".repeat(29));
        assert_eq!(
            secret_kind(&token(&at_least)),
            Some("a GitHub personal access token")
        );
        assert_eq!(secret_kind(&token(&at_least[1..])), None, "one short");
        assert_eq!(secret_kind(&token(&"a".repeat(30))), None, "no digit");
        // Words end at any other character, multi-byte ones included.
        assert_eq!(
            secret_kind(&format!("clé={}é, {}", token(&at_least), token("x"))),
            Some("a GitHub personal access token")
        );
        assert_eq!(
            secret_kind(&format!("é{}é", token(&at_least))),
            Some("a GitHub personal access token")
        );
        assert_eq!(secret_kind(&format!("é{}", token(&at_least[1..]))), None);
        assert_eq!(
            secret_kind(&format!("x{}", token(&at_least))),
            None,
            "not a prefix"
        );
        assert_eq!(
            secret_kind(&format!("sk-ant-{}", "0".repeat(20))),
            Some("an Anthropic API key")
        );
        assert_eq!(
            secret_kind(&format!("key: sk-{}", "0".repeat(32))),
            Some("an API secret key")
        );
        assert_eq!(secret_kind(&format!("sk-{}", "0".repeat(31))), None);
        assert_eq!(
            secret_kind("xoxb-0123456789-0123456789"),
            Some("a Slack token")
        );
    }
}
