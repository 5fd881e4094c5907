//! Diagnostics: errors and warnings as values, each with a stable code, a
//! location in a spec file and a hint, rendered rustc-style with the
//! offending line and a caret.
//!
//! The library never prints; it returns [`Diagnostic`]s and the binary
//! renders them with [`Diagnostic::render`].

use std::fmt::{self, Write as _};

use crate::source::{Sources, Span};

/// How serious a diagnostic is. Errors fail the command; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// Stable diagnostic codes. The numbers never change meaning; new codes are
/// appended. `orchctl` prints them as `E001`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// The file is not valid YAML.
    YamlSyntax = 1,
    /// A field the format does not know.
    UnknownField = 2,
    /// A value of the wrong type or shape.
    InvalidValue = 3,
    /// A required field is missing.
    MissingField = 4,
    /// The same key twice in one mapping.
    DuplicateKey = 5,
    /// The same name defined in two places.
    DuplicateDefinition = 6,
    /// A required section (`project`, `runtime`) is missing from every file.
    MissingSection = 7,
    /// A name that Kubernetes or Argo would reject.
    InvalidName = 8,
    /// A reference to an image that is not declared under `images`.
    UnknownImage = 9,
    /// A reference to an agent that is not declared under `agents`.
    UnknownAgent = 10,
    /// A reference to a chain that is not declared under `chains`.
    UnknownChain = 11,
    /// A reference to a step that does not exist in the chain.
    UnknownStep = 12,
    /// The steps of a chain, or calls between chains, form a cycle.
    Cycle = 13,
    /// A step must be exactly one of agent, container, approval or chain.
    StepKind = 14,
    /// A reference to a parameter that is not declared.
    UnknownParameter = 15,
    /// A reference to a step output that is not declared or not reachable.
    UnknownOutput = 16,
    /// A `${…}` expression that cannot be parsed.
    InvalidExpression = 17,
    /// A reference to a semaphore or mutex that is not declared.
    UnknownLock = 18,
    /// A prompt file that does not exist.
    PromptNotFound = 19,
    /// A prompt path that leaves `pipelines/`.
    PromptEscapes = 20,
    /// A prompt template that does not render.
    PromptTemplate = 21,
    /// A literal that looks like a secret value or token.
    SecretLiteral = 22,
    /// A duration that cannot be parsed.
    InvalidDuration = 23,
    /// A parameter default or enum value of the wrong type.
    ParameterType = 24,
    /// A reference to a resource tier that is not declared.
    UnknownTier = 25,
    /// An image reference that is not `registry/name:tag[@digest]`.
    InvalidImage = 26,
    /// A parameter name reserved by orchctl.
    ReservedName = 27,
    /// A label key or value that Kubernetes would reject.
    InvalidLabel = 28,
    /// The pipelines directory or a file in it cannot be read.
    Io = 29,
    /// A file in the output directory that orchctl did not write is in the way.
    ForeignFile = 30,
    /// An environment variable name that is not valid.
    InvalidEnvName = 31,
    /// An object over a size limit: a ConfigMap over 1 MiB, any object over
    /// the 1.5 MiB etcd stores, a chain of too many steps.
    ObjectTooLarge = 32,
    /// Inconsistent settings.
    Conflict = 33,
    /// A parameter a chain needs is never given a value.
    UnboundParameter = 34,
    /// A declared item that nothing uses.
    Unused = 35,
    /// A GitHub event orchctl does not know.
    UnknownEvent = 36,
    /// A payload field the event does not carry.
    UnknownEventField = 37,
    /// A backlog or a webhook payload that is not valid JSON.
    JsonSyntax = 38,
    /// A backlog that is JSON but not a Taskmaster backlog, or a task field
    /// of the wrong type.
    BacklogShape = 39,
    /// A backlog tag that does not exist, or several tags and none chosen.
    UnknownTag = 40,
    /// Two tasks (or two subtasks of one task) with the same id.
    DuplicateTask = 41,
    /// A dependency on, or a selection of, a task the backlog does not have.
    UnknownTask = 42,
    /// Tasks that wait for each other.
    DependencyCycle = 43,
    /// A backlog with no task left to run.
    NothingToRun = 44,
    /// A file that would be overwritten.
    FileExists = 45,
    /// A `templateRef`, `workflowTemplateRef`, `template`, `entrypoint` or
    /// `onExit` naming a WorkflowTemplate or template that does not exist.
    UnknownTemplate = 46,
    /// A reference to a ServiceAccount, ConfigMap, Secret, Role or
    /// EventSource (or a key or event in one) that is neither among the
    /// manifests nor declared external.
    UnknownObject = 47,
    /// A Sensor trigger parameter that lands on no declared parameter, or
    /// reads a dependency the Sensor does not have.
    TriggerTarget = 48,
    /// An object that does not match its JSON Schema.
    SchemaViolation = 49,
    /// A git command that failed, or a revision that does not exist.
    Git = 50,
}

impl Code {
    /// The code as printed: `E001`.
    #[must_use]
    pub fn as_str(self) -> String {
        format!("E{:03}", self as u16)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E{:03}", *self as u16)
    }
}

/// A secondary location with its own short message ("first defined here").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem found in the input, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// Where the problem is; `None` for problems with no single place.
    pub span: Option<Span>,
    /// A short note printed under the caret.
    pub label: Option<String>,
    /// Other places worth showing.
    pub labels: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    #[must_use]
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Error,
            message: message.into(),
            span: None,
            label: None,
            labels: Vec::new(),
            help: None,
        }
    }

    #[must_use]
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    #[must_use]
    pub fn at(mut self, span: Option<Span>) -> Self {
        self.span = span;
        self
    }

    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    #[must_use]
    pub fn also(mut self, span: Option<Span>, message: impl Into<String>) -> Self {
        if let Some(span) = span {
            self.labels.push(Label {
                span,
                message: message.into(),
            });
        }
        self
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Render as text, rustc-style. `color` adds ANSI styles.
    #[must_use]
    pub fn render(&self, sources: &Sources, color: bool) -> String {
        let style = Style::new(color);
        let mut out = String::new();
        let (word, word_style) = match self.severity {
            Severity::Error => ("error", style.error),
            Severity::Warning => ("warning", style.warning),
        };
        let _ = writeln!(
            out,
            "{word_style}{word}[{}]{reset}{bold}: {}{reset}",
            self.code,
            self.message,
            reset = style.reset,
            bold = style.bold,
        );
        let gutter = self
            .span
            .iter()
            .chain(self.labels.iter().map(|l| &l.span))
            .map(|s| s.line.to_string().len())
            .max()
            .unwrap_or(1);
        if let Some(span) = &self.span {
            snippet(
                &mut out,
                sources,
                span,
                self.label.as_deref(),
                gutter,
                &style,
                '^',
            );
        }
        for label in &self.labels {
            snippet(
                &mut out,
                sources,
                &label.span,
                Some(&label.message),
                gutter,
                &style,
                '-',
            );
        }
        if let Some(help) = &self.help {
            let pad = " ".repeat(gutter);
            let _ = writeln!(
                out,
                "{pad} {blue}={reset} {bold}help{reset}: {help}",
                blue = style.blue,
                reset = style.reset,
                bold = style.bold
            );
        }
        out
    }

    /// `path:line:col: error[E001]: message` on one line, for tools and tests.
    #[must_use]
    pub fn short(&self, sources: &Sources) -> String {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match &self.span {
            Some(span) => format!(
                "{}:{}:{}: {kind}[{}]: {}",
                sources.path(span.file),
                span.line,
                span.col,
                self.code,
                self.message
            ),
            None => format!("{kind}[{}]: {}", self.code, self.message),
        }
    }
}

/// The length in characters of a quoted YAML scalar at the start of
/// `chars`, up to its closing quote; `None` if it does not start with a
/// quote or does not close on this line. The parser's span of a quoted
/// scalar runs on to the next token, over spaces and a comment.
fn quoted_len(chars: impl Iterator<Item = char>) -> Option<usize> {
    let mut chars = chars.peekable();
    let quote = chars.next().filter(|c| matches!(c, '"' | '\''))?;
    let mut len = 1;
    while let Some(c) = chars.next() {
        len += 1;
        if quote == '"' && c == '\\' {
            chars.next()?;
            len += 1;
        } else if c == quote {
            // In single quotes, `''` is a quote inside the scalar.
            if quote == '\'' && chars.peek() == Some(&'\'') {
                chars.next();
                len += 1;
            } else {
                return Some(len);
            }
        }
    }
    None
}

fn snippet(
    out: &mut String,
    sources: &Sources,
    span: &Span,
    label: Option<&str>,
    gutter: usize,
    style: &Style,
    mark: char,
) {
    let pad = " ".repeat(gutter);
    let (blue, reset) = (style.blue, style.reset);
    let _ = writeln!(
        out,
        "{pad}{blue}-->{reset} {}:{}:{}",
        sources.path(span.file),
        span.line,
        span.col
    );
    let Some(line) = sources.line(span.file, span.line) else {
        return;
    };
    let line = line.replace('\t', " ");
    // Show a window of very long lines around the column.
    let (line, shift) = window(&line, span.col.saturating_sub(1));
    let _ = writeln!(out, "{pad} {blue}|{reset}");
    let _ = writeln!(
        out,
        "{blue}{:>gutter$} |{reset} {line}",
        span.line,
        gutter = gutter
    );
    let width = line.chars().count();
    let start = span.col.saturating_sub(1).saturating_sub(shift).min(width);
    let len = span.len.min(width.saturating_sub(start)).max(1);
    let len = quoted_len(line.chars().skip(start)).map_or(len, |quoted| len.min(quoted));
    let marks: String = std::iter::repeat_n(mark, len).collect();
    let color = if mark == '^' { style.error } else { style.blue };
    let _ = write!(
        out,
        "{pad} {blue}|{reset} {}{color}{marks}",
        " ".repeat(start)
    );
    if let Some(label) = label {
        let _ = write!(out, " {label}");
    }
    let _ = writeln!(out, "{reset}");
}

/// At most 160 characters of `line` around character `col`, with `…` where
/// cut, and how many characters were cut from the start.
fn window(line: &str, col: usize) -> (String, usize) {
    const WIDTH: usize = 160;
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= WIDTH {
        return (line.to_string(), 0);
    }
    let from = col
        .saturating_sub(40)
        .min(chars.len().saturating_sub(WIDTH));
    let to = (from + WIDTH).min(chars.len());
    let mut out = String::new();
    let mut shift = from;
    if from > 0 {
        out.push('…');
        shift -= 1;
    }
    out.extend(&chars[from..to]);
    if to < chars.len() {
        out.push('…');
    }
    (out, shift)
}

struct Style {
    error: &'static str,
    warning: &'static str,
    blue: &'static str,
    bold: &'static str,
    reset: &'static str,
}

impl Style {
    fn new(color: bool) -> Self {
        if color {
            Self {
                error: "\x1b[1;31m",
                warning: "\x1b[1;33m",
                blue: "\x1b[1;34m",
                bold: "\x1b[1m",
                reset: "\x1b[0m",
            }
        } else {
            Self {
                error: "",
                warning: "",
                blue: "",
                bold: "",
                reset: "",
            }
        }
    }
}

/// The closest candidate to `name` by edit distance, if close enough to be a
/// plausible typo.
#[must_use]
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // One edit per three characters; names under three characters must
    // match but for case.
    let len = name.chars().count();
    let limit = if len < 3 { 0 } else { (len / 3).max(1) };
    let lower = name.to_lowercase();
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    let close = candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(b.1)))
        .map(|(_, c)| c);
    if close.is_some() || len < 3 {
        return close;
    }
    // A truncated name: `open` for `opened`, when only one candidate fits.
    let mut prefixed = candidates
        .iter()
        .filter(|c| c.to_lowercase().starts_with(&lower));
    match (prefixed.next(), prefixed.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

/// A hint naming the closest candidate, or listing what exists.
#[must_use]
pub fn suggestion<'a>(
    what: &str,
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    if let Some(best) = did_you_mean(name, candidates.clone()) {
        return format!("did you mean `{best}`?");
    }
    let mut all: Vec<&str> = candidates.into_iter().collect();
    all.sort_unstable();
    all.dedup();
    if all.is_empty() {
        format!("no {what} is declared")
    } else {
        let list: Vec<String> = all.iter().take(12).map(|c| format!("`{c}`")).collect();
        let more = if all.len() > 12 { ", …" } else { "" };
        let plural = if what.ends_with('x') || what.ends_with('s') {
            format!("{what}es")
        } else {
            format!("{what}s")
        };
        format!("declared {plural}: {}{more}", list.join(", "))
    }
}

/// Edit distance over chars, counting a swap of neighbours as one edit
/// (optimal string alignment), so `cuont` is one edit from `count`.
#[must_use]
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Every diagnostic of a run, in a stable order.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// Sort by file, line, column, then code, and drop exact duplicates.
    pub fn sort(&mut self) {
        self.0.sort_by(|a, b| {
            let key = |d: &Diagnostic| {
                d.span
                    .as_ref()
                    .map_or((usize::MAX, 0, 0), |s| (s.file.0, s.line, s.col))
            };
            key(a)
                .cmp(&key(b))
                .then(a.code.cmp(&b.code))
                .then(a.message.cmp(&b.message))
        });
        self.0.dedup();
    }

    #[must_use]
    pub fn errors(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    /// Every diagnostic rendered, each followed by a blank line, then
    /// `error: 2 errors, 1 warning` if there are errors.
    #[must_use]
    pub fn render(&self, sources: &Sources, color: bool) -> String {
        let mut out = String::new();
        for d in &self.0 {
            let _ = writeln!(out, "{}", d.render(sources, color));
        }
        let errors = self.errors();
        let warnings = self.0.len() - errors;
        if errors > 0 {
            let _ = writeln!(
                out,
                "{}: {errors} error{}{}",
                if color {
                    "\x1b[1;31merror\x1b[0m"
                } else {
                    "error"
                },
                if errors == 1 { "" } else { "s" },
                if warnings > 0 {
                    format!(
                        ", {warnings} warning{}",
                        if warnings == 1 { "" } else { "s" }
                    )
                } else {
                    String::new()
                }
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_scalar_is_underlined_to_its_closing_quote() {
        let len = |s: &str| quoted_len(s.chars());
        assert_eq!(len("\"abc\"   # comment"), Some(5));
        assert_eq!(len("\"a\\\"b\" # c"), Some(6));
        assert_eq!(len("'it''s' # c"), Some(7));
        assert_eq!(len("'open"), None);
        assert_eq!(len("plain # c"), None);
        let mut sources = Sources::new();
        let text = "project:\n  namespace: \"Agents_X\"     # the ns\n";
        let file = sources.add("p.yaml".into(), "p.yaml".into(), text.into());
        let span = Span {
            file,
            line: 2,
            col: 14,
            len: 23,
            offset: 22,
        };
        let rendered = Diagnostic::error(Code::InvalidName, "bad")
            .at(Some(span))
            .render(&sources, false);
        assert!(
            rendered.contains("\n  |              ^^^^^^^^^^\n"),
            "{rendered}"
        );
    }

    #[test]
    fn long_lines_are_windowed_around_the_column() {
        let line = format!("{}X{}", "a".repeat(500), "b".repeat(500));
        let (shown, shift) = window(&line, 500);
        assert!(shown.starts_with('…') && shown.ends_with('…'));
        assert_eq!(shown.chars().nth(500 - shift), Some('X'));
        assert_eq!(window("short", 2), ("short".to_string(), 0));
    }

    #[test]
    fn distance_and_suggestions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("cuont", "count"), 1);
        assert_eq!(
            did_you_mean("rex-autor", ["rex-author", "rex-tests"]),
            Some("rex-author")
        );
        assert_eq!(did_you_mean("zzz", ["rex-author"]), None);
        assert_eq!(did_you_mean("open", ["opened", "closed"]), Some("opened"));
        assert_eq!(did_you_mean("re", ["reopened", "review"]), None);
        assert_eq!(
            suggestion("agent", "zzz", ["b", "a"]),
            "declared agents: `a`, `b`"
        );
    }
}
