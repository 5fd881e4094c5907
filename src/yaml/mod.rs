//! YAML input: a tree of nodes that remember where they came from.
//!
//! Spec files are parsed with `saphyr-parser` (a maintained, YAML 1.2
//! compliant, panic-free parser that reports the span of every event) into a
//! [`Node`] tree; [`de`] deserializes typed spec structs from that tree so that
//! every error carries the exact line and column, and [`Node::find`] maps a
//! path of keys back to a location for the semantic checks.
//!
//! Anchors and aliases are expanded (with a budget against alias bombs), and
//! `<<` merge keys are applied. Duplicate keys are errors.

// Parse errors are returned once per file, never in a hot loop; boxing them
// would buy nothing but noise.
#![allow(clippy::result_large_err)]

pub mod de;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};

use crate::diagnostic::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// Deepest nesting accepted; deeper input is an error, never a stack overflow.
const MAX_DEPTH: usize = 128;
/// Most nodes alias expansion may create in one file.
const MAX_ALIAS_NODES: usize = 100_000;

/// A YAML node with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar with its text as written (after YAML unescaping).
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A scalar and how it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    /// Plain (unquoted) scalars are resolved to null, bool or number; quoted,
    /// block and `!!str`-tagged scalars are always strings.
    pub plain: bool,
}

/// What a plain scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'a str),
}

impl Scalar {
    /// Resolve under the YAML 1.2 core schema (`yes`/`no` are strings).
    #[must_use]
    pub fn resolve(&self) -> Resolved<'_> {
        let t = self.text.as_str();
        if !self.plain {
            return Resolved::Str(t);
        }
        match t {
            "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
            "true" | "True" | "TRUE" => return Resolved::Bool(true),
            "false" | "False" | "FALSE" => return Resolved::Bool(false),
            ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
                return Resolved::Float(f64::INFINITY);
            }
            "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
            ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
            _ => {}
        }
        if is_int(t) {
            if let Ok(u) = t.trim_start_matches('+').parse::<u64>() {
                return Resolved::Uint(u);
            }
            if let Ok(i) = t.parse::<i64>() {
                return Resolved::Int(i);
            }
        }
        if let Some(hex) = t.strip_prefix("0x")
            && !hex.is_empty()
            && hex.chars().all(|c| c.is_ascii_hexdigit())
            && let Ok(u) = u64::from_str_radix(hex, 16)
        {
            return Resolved::Uint(u);
        }
        if let Some(oct) = t.strip_prefix("0o")
            && !oct.is_empty()
            && oct.chars().all(|c| c.is_digit(8))
            && let Ok(u) = u64::from_str_radix(oct, 8)
        {
            return Resolved::Uint(u);
        }
        if is_float(t)
            && let Ok(f) = t.parse::<f64>()
        {
            return Resolved::Float(f);
        }
        Resolved::Str(t)
    }
}

fn is_int(t: &str) -> bool {
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

fn is_float(t: &str) -> bool {
    // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    let s = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            (!a.is_empty() || !b.is_empty())
                && a.chars().all(|c| c.is_ascii_digit())
                && b.chars().all(|c| c.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit()),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

/// One step of a path into a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

impl Node {
    /// The string of a scalar node.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    /// The entries of a mapping node.
    #[must_use]
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value under `key` in a mapping node.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key and value under `key` in a mapping node.
    #[must_use]
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, v)| (k, v))
    }

    /// Follow a path of keys and indices.
    #[must_use]
    pub fn find(&self, path: &[Seg<'_>]) -> Option<&Node> {
        let mut node = self;
        for seg in path {
            node = match (seg, &node.value) {
                (Seg::Key(k), Value::Map(_)) => node.get(k)?,
                (Seg::Index(i), Value::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The span of the key at the end of `path` (the value's span for an index).
    #[must_use]
    pub fn find_key(&self, path: &[Seg<'_>]) -> Option<Span> {
        let (last, parent) = path.split_last()?;
        let parent = self.find(parent)?;
        match last {
            Seg::Key(k) => parent.entry(k).map(|(k, _)| k.span),
            Seg::Index(_) => self.find(path).map(|n| n.span),
        }
    }
}

/// Parse one YAML file into its root node. An empty file (no document) is
/// `Ok(None)`. More than one document is an error.
///
/// # Errors
/// A diagnostic for invalid YAML, duplicate keys, too deep nesting or an
/// alias expansion over budget.
pub fn parse(text: &str, file: FileId) -> Result<Option<Node>, Diagnostic> {
    Ok(build(text, file, false)?.root)
}

/// Parse a YAML stream of any number of documents (`---`-separated), as
/// Kubernetes manifests are written, into their root nodes in order. Empty
/// documents (nothing but comments, or a stray `---`) are left out. Anchors
/// are per document, as YAML says; the alias budget is per file.
///
/// # Errors
/// As [`parse`], for the first problem in any document.
pub fn parse_documents(text: &str, file: FileId) -> Result<Vec<Node>, Diagnostic> {
    let mut builder = build(text, file, true)?;
    builder.finished.extend(builder.root.take());
    // A document of nothing (a comment, a stray `---`) is a null scalar.
    builder.finished.retain(
        |n| !matches!(&n.value, Value::Scalar(s) if s.plain && s.resolve() == Resolved::Null),
    );
    Ok(builder.finished)
}

/// Run the parser over `text`, building nodes.
fn build(text: &str, file: FileId, multi: bool) -> Result<Builder, Diagnostic> {
    let mut builder = Builder {
        file,
        stack: Vec::with_capacity(16),
        items: Vec::new(),
        pairs: Vec::new(),
        anchors: Vec::new(),
        alias_budget: MAX_ALIAS_NODES,
        root: None,
        documents: 0,
        multi,
        finished: Vec::new(),
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| scan_error(&e, file, text))?;
        builder.event(event, span)?;
    }
    Ok(builder)
}

fn scan_error(e: &ScanError, file: FileId, text: &str) -> Diagnostic {
    let m = e.marker();
    let message = e.info().to_string();
    // The parser may report the end of input one line past the last line of
    // a file without a final line break: point at the end of the last line.
    let lines: Vec<&str> = text.split('\n').collect();
    let last = text.trim_end_matches('\n').split('\n').count().max(1);
    let (line, col) = if m.line() > last {
        (
            last,
            lines.get(last - 1).map_or(0, |l| l.chars().count()) + 1,
        )
    } else {
        (m.line().max(1), m.col() + 1)
    };
    let at = |line, col| Span {
        file,
        line,
        col,
        len: 1,
        offset: m.index(),
    };
    // YAML text holds no NUL; the scanner stops at one as if the file ended.
    // The scanner takes a NUL for the end of the input, so an error that
    // names the end, or one at or after the NUL, is the NUL's.
    if let Some(nul) = text.find('\0').filter(|&nul| {
        message.contains("end of stream") || text[..nul].chars().count() <= m.index()
    }) {
        let before = &text[..nul];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        return Diagnostic::error(Code::YamlSyntax, "invalid YAML: a NUL character")
            .at(Some(at(line, col)))
            .help("remove it: spec files are text, and YAML allows no NUL, even quoted (write `\\0` in double quotes for one)");
    }
    let help = if message.contains("recursion limit") {
        "nesting is too deep to be a spec: flatten the lists and mappings"
    } else if message.contains("escape") {
        "in double quotes, `\\` starts an escape (`\\n`, `\\\"`, `\\\\`); use single quotes for text with backslashes"
    } else {
        "fix the YAML syntax; indentation must use spaces, and a `key: value` needs a space after the colon"
    };
    Diagnostic::error(Code::YamlSyntax, format!("invalid YAML: {message}"))
        .at(Some(at(line, col)))
        .help(help)
}

enum Frame {
    Seq {
        anchor: usize,
        start: Span,
        /// Where its items start in [`Builder::items`].
        first: usize,
    },
    Map {
        anchor: usize,
        start: Span,
        /// Where its entries start in [`Builder::pairs`].
        first: usize,
        /// Entries from `<<` merge keys; explicit keys win, wherever they are.
        merged: Vec<(Node, Node)>,
        /// Scalar keys seen so far → index in `entries`.
        keys: KeyIndex,
        pending_key: Option<Node>,
    },
}

/// Finds a mapping's keys: by scanning while the mapping is small (most
/// are), through a hash map once it grows, so large mappings stay linear.
#[derive(Default)]
struct KeyIndex {
    map: Option<HashMap<String, usize>>,
}

impl KeyIndex {
    const SCAN_UP_TO: usize = 16;

    /// The index in `entries` of the entry whose key is the scalar `text`.
    fn get(&self, entries: &[(Node, Node)], text: &str) -> Option<usize> {
        match &self.map {
            Some(map) => map.get(text).copied(),
            None => entries.iter().position(|(k, _)| k.as_str() == Some(text)),
        }
    }

    /// Record the entry just pushed onto `entries`.
    fn added(&mut self, entries: &[(Node, Node)]) {
        if let Some(map) = &mut self.map {
            if let Some(text) = entries.last().and_then(|(k, _)| k.as_str()) {
                map.entry(text.to_string()).or_insert(entries.len() - 1);
            }
        } else if entries.len() > Self::SCAN_UP_TO {
            let mut map = HashMap::with_capacity(entries.len() * 2);
            for (i, (k, _)) in entries.iter().enumerate() {
                if let Some(text) = k.as_str() {
                    map.entry(text.to_string()).or_insert(i);
                }
            }
            self.map = Some(map);
        }
    }
}

/// The scalar's text in an allocation of its own size: the parser builds
/// scalars in roomy buffers (about a hundred bytes for a ten-byte name),
/// which would otherwise stay with the tree for the whole run.
fn owned(text: Cow<'_, str>) -> String {
    match text {
        Cow::Owned(s) if s.capacity() == s.len() => s,
        text => String::from(&*text),
    }
}

struct Builder {
    file: FileId,
    stack: Vec<Frame>,
    /// The items of the open sequences, innermost last; each sequence takes
    /// its own off the end when it closes, into a vector of exact size.
    items: Vec<Node>,
    /// The same for the entries of the open mappings.
    pairs: Vec<(Node, Node)>,
    anchors: Vec<(usize, Node)>,
    alias_budget: usize,
    root: Option<Node>,
    documents: usize,
    /// Whether several documents are allowed ([`parse_documents`]).
    multi: bool,
    /// The documents finished so far, when `multi`.
    finished: Vec<Node>,
}

impl Builder {
    fn span(&self, s: saphyr_parser::Span) -> Span {
        let len = if s.end.line() == s.start.line() {
            s.end.index().saturating_sub(s.start.index())
        } else {
            1
        };
        Span {
            file: self.file,
            line: s.start.line().max(1),
            col: s.start.col() + 1,
            len: len.max(1),
            offset: s.start.index(),
        }
    }

    fn event(&mut self, event: Event<'_>, span: saphyr_parser::Span) -> Result<(), Diagnostic> {
        let at = self.span(span);
        match event {
            Event::DocumentStart(_) if self.multi => {
                self.documents += 1;
                self.finished.extend(self.root.take());
                self.anchors.clear();
            }
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Diagnostic::error(
                        Code::YamlSyntax,
                        "a spec file holds one YAML document",
                    )
                    .at(Some(at))
                    .help("move the second document into a file of its own"));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tagged_str = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let node = Node {
                    value: Value::Scalar(Scalar {
                        text: owned(text),
                        plain: style == ScalarStyle::Plain && !tagged_str,
                    }),
                    span: at,
                };
                self.finish(node, anchor)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.push(Frame::Seq {
                    anchor,
                    start: at,
                    first: self.items.len(),
                })?;
            }
            Event::MappingStart(anchor, _) => {
                self.push(Frame::Map {
                    anchor,
                    start: at,
                    first: self.pairs.len(),
                    merged: Vec::new(),
                    keys: KeyIndex::default(),
                    pending_key: None,
                })?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Ok(());
                };
                let (node, anchor) = match frame {
                    Frame::Seq {
                        anchor,
                        start,
                        first,
                    } => (
                        Node {
                            value: Value::Seq(self.items.drain(first..).collect()),
                            span: Span { len: 1, ..start },
                        },
                        anchor,
                    ),
                    Frame::Map {
                        anchor,
                        start,
                        first,
                        merged,
                        keys,
                        ..
                    } => {
                        let own = &self.pairs[first..];
                        let merged: Vec<(Node, Node)> = merged
                            .into_iter()
                            .filter(|(k, _)| k.as_str().is_none_or(|t| keys.get(own, t).is_none()))
                            .collect();
                        let mut entries = Vec::with_capacity(own.len() + merged.len());
                        entries.extend(self.pairs.drain(first..));
                        entries.extend(merged);
                        (
                            Node {
                                value: Value::Map(entries),
                                span: Span { len: 1, ..start },
                            },
                            anchor,
                        )
                    }
                };
                self.finish(node, anchor)?;
            }
            Event::Alias(id) => {
                let Some((_, target)) = self.anchors.iter().rev().find(|(a, _)| *a == id) else {
                    return Err(Diagnostic::error(Code::YamlSyntax, "unknown alias")
                        .at(Some(at))
                        .help("define the anchor (`&name`) before using it"));
                };
                let count = count_nodes(target);
                if count > self.alias_budget {
                    return Err(Diagnostic::error(
                        Code::YamlSyntax,
                        "aliases expand to too many nodes",
                    )
                    .at(Some(at))
                    .help(format!(
                        "a spec file may expand aliases to at most {MAX_ALIAS_NODES} nodes"
                    )));
                }
                self.alias_budget -= count;
                let mut node = target.clone();
                node.span = at;
                self.finish(node, 0)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn push(&mut self, frame: Frame) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            let at = match &frame {
                Frame::Seq { start, .. } | Frame::Map { start, .. } => *start,
            };
            return Err(Diagnostic::error(Code::YamlSyntax, "nesting is too deep")
                .at(Some(at))
                .help(format!("a spec nests at most {MAX_DEPTH} levels")));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn finish(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        if anchor != 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { .. }) => self.items.push(node),
            Some(Frame::Map {
                first,
                merged,
                keys,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => insert_entry(&mut self.pairs, *first, merged, keys, key, node)?,
            },
        }
        Ok(())
    }
}

/// Add `key: value` to the open mapping whose entries are `pairs[first..]`.
fn insert_entry(
    pairs: &mut Vec<(Node, Node)>,
    first: usize,
    merged: &mut Vec<(Node, Node)>,
    keys: &mut KeyIndex,
    key: Node,
    value: Node,
) -> Result<(), Diagnostic> {
    let is_merge = matches!(&key.value, Value::Scalar(s) if s.plain && s.text == "<<");
    if is_merge {
        let sources: Vec<&Node> = match &value.value {
            Value::Map(_) => vec![&value],
            Value::Seq(items) => items.iter().collect(),
            Value::Scalar(_) => Vec::new(),
        };
        if sources.is_empty() || sources.iter().any(|n| n.as_map().is_none()) {
            return Err(Diagnostic::error(
                Code::InvalidValue,
                "a `<<` merge key takes a mapping or a list of mappings",
            )
            .at(Some(value.span))
            .help("write `<<: *anchor` where `&anchor` names a mapping"));
        }
        let mut seen: HashSet<String> = merged
            .iter()
            .filter_map(|(k, _)| k.as_str().map(str::to_string))
            .collect();
        for source in sources {
            for (k, v) in source.as_map().unwrap_or_default() {
                if k.as_str().is_none_or(|t| seen.insert(t.to_string())) {
                    merged.push((k.clone(), v.clone()));
                }
            }
        }
        return Ok(());
    }
    let entries = &pairs[first..];
    if let Some(first) = key
        .as_str()
        .and_then(|t| keys.get(entries, t))
        .map(|i| &entries[i].0)
    {
        let name = key.as_str().unwrap_or("?").to_string();
        return Err(
            Diagnostic::error(Code::DuplicateKey, format!("duplicate key `{name}`"))
                .at(Some(key.span))
                .label("defined again here")
                .also(Some(first.span), "first defined here")
                .help("remove one of the two entries"),
        );
    }
    pairs.push((key, value));
    keys.added(&pairs[first..]);
    Ok(())
}

fn count_nodes(node: &Node) -> usize {
    match &node.value {
        Value::Scalar(_) => 1,
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        parse(text, FileId(0)).unwrap().unwrap()
    }

    #[test]
    fn scalars_keep_no_spare_room() {
        fn scalars<'a>(n: &'a Node, out: &mut Vec<&'a String>) {
            match &n.value {
                Value::Scalar(s) => out.push(&s.text),
                Value::Seq(items) => items.iter().for_each(|i| scalars(i, out)),
                Value::Map(pairs) => pairs.iter().for_each(|(k, v)| {
                    scalars(k, out);
                    scalars(v, out);
                }),
            }
        }
        let n = root("name: rex-author\nsteps: [a, 'quoted', \"double\"]\nblock: |\n  text\n");
        let mut texts = Vec::new();
        scalars(&n, &mut texts);
        assert_eq!(texts.len(), 8);
        for text in texts {
            assert_eq!(text.capacity(), text.len(), "{text:?}");
        }
    }

    #[test]
    fn spans_point_at_values() {
        let n = root("a:\n  b: hello\n  c: [1, 2]\n");
        let b = n.find(&[Seg::Key("a"), Seg::Key("b")]).unwrap();
        assert_eq!((b.span.line, b.span.col, b.span.len), (2, 6, 5));
        let key = n.find_key(&[Seg::Key("a"), Seg::Key("c")]).unwrap();
        assert_eq!((key.line, key.col), (3, 3));
        let two = n
            .find(&[Seg::Key("a"), Seg::Key("c"), Seg::Index(1)])
            .unwrap();
        assert_eq!(two.as_str(), Some("2"));
    }

    #[test]
    fn documents_of_a_stream() {
        let text =
            "# lead\n---\na: 1\n---\n# only a comment\n---\nb: &x [2]\nc: *x\n...\n---\nd: 3\n";
        let docs = parse_documents(text, FileId(0)).unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].get("a").unwrap().span.line, 3);
        assert_eq!(docs[1].get("c").unwrap().span.line, 8);
        assert_eq!(docs[2].get("d").unwrap().as_str(), Some("3"));
        // Anchors do not reach across documents.
        assert!(parse_documents("a: &x 1\n---\nb: *x\n", FileId(0)).is_err());
        assert!(parse_documents("", FileId(0)).unwrap().is_empty());
        // `parse` still takes exactly one document.
        assert!(parse("a: 1\n---\nb: 2\n", FileId(0)).is_err());
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let e = parse("a: 1\nb: 2\na: 3\n", FileId(0)).unwrap_err();
        assert_eq!(e.code, Code::DuplicateKey);
        assert_eq!(e.span.unwrap().line, 3);
        assert_eq!(e.labels[0].span.line, 1);
        // Past the size where keys are hashed instead of scanned: both the
        // scanned and the hashed keys are found, and merges still yield to
        // explicit keys.
        for (dup, at) in [(3, 40), (30, 40)] {
            let mut text: String = (0..39).map(|i| format!("k{i}: {i}\n")).collect();
            text.push_str(&format!("k{dup}: again\n"));
            let e = parse(&text, FileId(0)).unwrap_err();
            assert_eq!(e.code, Code::DuplicateKey, "k{dup}");
            assert_eq!(e.span.unwrap().line, at);
            assert_eq!(e.labels[0].span.line, dup + 1);
        }
        let mut text = String::from("base: &b {k5: merged, extra: merged}\nmap:\n");
        text.extend((0..30).map(|i| format!("  k{i}: {i}\n")));
        text.push_str("  <<: *b\n");
        let n = root(&text);
        assert_eq!(
            n.find(&[Seg::Key("map"), Seg::Key("k5")]).unwrap().as_str(),
            Some("5")
        );
        assert_eq!(
            n.find(&[Seg::Key("map"), Seg::Key("extra")])
                .unwrap()
                .as_str(),
            Some("merged")
        );
    }

    #[test]
    fn merge_keys_and_aliases() {
        let n = root("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n");
        let d = n.get("d").unwrap();
        assert_eq!(d.get("x").unwrap().as_str(), Some("1"));
        assert_eq!(d.get("y").unwrap().as_str(), Some("3"));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse(&text, FileId(0)).unwrap_err();
        assert!(e.message.contains("too many nodes"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(5000);
        assert!(parse(&text, FileId(0)).is_err());
    }

    #[test]
    fn core_schema_resolution() {
        let s = |t: &str| Scalar {
            text: t.into(),
            plain: true,
        };
        assert_eq!(s("yes").resolve(), Resolved::Str("yes"));
        assert_eq!(s("~").resolve(), Resolved::Null);
        assert_eq!(s("12").resolve(), Resolved::Uint(12));
        assert_eq!(s("-3").resolve(), Resolved::Int(-3));
        assert_eq!(s("1.5").resolve(), Resolved::Float(1.5));
        assert_eq!(s("1.0.0").resolve(), Resolved::Str("1.0.0"));
        assert_eq!(
            Scalar {
                text: "12".into(),
                plain: false
            }
            .resolve(),
            Resolved::Str("12")
        );
    }
}
