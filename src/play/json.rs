//! A strict JSON reader that remembers where every value came from.
//!
//! Backlogs are JSON, and every problem in one is reported at its line and
//! column, so the reader builds the same located [`Node`] tree as the YAML
//! reader. It is its own small parser rather than the YAML one because JSON
//! is not quite YAML: tab indentation, `\uD83D\uDE00` surrogate pairs and
//! duplicate keys are JSON questions with JSON answers. Strings become
//! quoted scalars (`plain: false`); numbers, `true`, `false` and `null`
//! plain ones, so `"1"` and `1` stay distinguishable.

// A parse stops at its first error and returns it once; boxing it would buy
// nothing but noise (as in `crate::yaml`).
#![allow(clippy::result_large_err)]

use crate::diagnostic::{Code, Diagnostic};
use crate::source::{FileId, Span};
use crate::yaml::{Node, Scalar, Value};

/// Deepest nesting accepted; deeper input is an error, never a stack overflow.
const MAX_DEPTH: usize = 128;

/// Parse a backlog into a located tree.
///
/// # Errors
/// A [`Code::JsonSyntax`] diagnostic at the first character that is not
/// valid JSON, or a [`Code::DuplicateKey`] one for a key given twice.
pub fn parse(text: &str, file: FileId) -> Result<Node, Diagnostic> {
    parse_document(text, file, "a backlog")
}

/// Parse a JSON document into a located tree; `what` names it in the
/// hints (`a backlog`, `a webhook payload`).
///
/// # Errors
/// As [`parse`].
pub fn parse_document(text: &str, file: FileId, what: &str) -> Result<Node, Diagnostic> {
    let mut p = Parser::new(text, file);
    p.what = what.to_string();
    p.skip_ws();
    if p.peek().is_none() {
        return Err(p.error(
            p.pos,
            "the file is empty",
            &format!("{what} is a JSON object"),
        ));
    }
    let node = p.value(0)?;
    p.skip_ws();
    if p.peek().is_some() {
        return Err(p.error(
            p.pos,
            "unexpected characters after the JSON value",
            &format!("{what} holds exactly one JSON object"),
        ));
    }
    Ok(node)
}

struct Parser {
    chars: Vec<char>,
    /// Character offset of the start of each line.
    lines: Vec<usize>,
    pos: usize,
    file: FileId,
    /// What the document is, for hints.
    what: String,
}

impl Parser {
    fn new(text: &str, file: FileId) -> Self {
        let mut chars: Vec<char> = text.chars().collect();
        if chars.first() == Some(&'\u{feff}') {
            chars[0] = ' ';
        }
        let mut lines = vec![0];
        lines.extend(
            chars
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == '\n')
                .map(|(i, _)| i + 1),
        );
        Self {
            chars,
            lines,
            pos: 0,
            file,
            what: String::new(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn span(&self, start: usize, end: usize) -> Span {
        // A position past the end points just after the last character.
        let at = start.min(self.chars.len());
        let line = self.lines.partition_point(|&l| l <= at);
        let line_start = self.lines[line - 1];
        let line_end = self
            .lines
            .get(line)
            .map_or(self.chars.len(), |next| next - 1);
        Span {
            file: self.file,
            line,
            col: at - line_start + 1,
            len: end.min(line_end).saturating_sub(at).max(1),
            offset: at,
        }
    }

    fn error(&self, at: usize, message: &str, help: &str) -> Diagnostic {
        // At the end of input, point after the last non-blank character.
        let at = if at >= self.chars.len() {
            self.chars
                .iter()
                .rposition(|c| !c.is_whitespace())
                .map_or(0, |i| i + 1)
        } else {
            at
        };
        Diagnostic::error(Code::JsonSyntax, format!("invalid JSON: {message}"))
            .at(Some(self.span(at, at + 1)))
            .help(help)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn found(&self) -> String {
        match self.peek() {
            None => "the end of the file".to_string(),
            Some(c) if c.is_control() => format!("{c:?}"),
            Some(c) => format!("`{c}`"),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, Diagnostic> {
        if depth >= MAX_DEPTH {
            return Err(self.error(
                self.pos,
                "nesting is too deep",
                &format!("{} nests at most {MAX_DEPTH} levels", self.what),
            ));
        }
        match self.peek() {
            Some('{') => self.object(depth),
            Some('[') => self.array(depth),
            Some('"') => {
                let start = self.pos;
                let text = self.string()?;
                Ok(Node {
                    value: Value::Scalar(Scalar { text, plain: false }),
                    span: self.span(start, self.pos),
                })
            }
            Some('-' | '0'..='9') => self.number(),
            Some('t' | 'f' | 'n') => self.literal(),
            _ => Err(self.error(
                self.pos,
                &format!("expected a value, found {}", self.found()),
                "a JSON value is an object, an array, a \"string\", a number, true, false or null",
            )),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Node, Diagnostic> {
        let start = self.pos;
        self.pos += 1;
        let mut entries: Vec<(Node, Node)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(self.container(start, Value::Map(entries)));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some('"') {
                return Err(self.error(
                    self.pos,
                    &format!("expected a \"key\", found {}", self.found()),
                    "object keys are double-quoted strings, and a trailing comma is not allowed",
                ));
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key = Node {
                value: Value::Scalar(Scalar {
                    text: key,
                    plain: false,
                }),
                span: self.span(key_start, self.pos),
            };
            self.skip_ws();
            if self.peek() != Some(':') {
                return Err(self.error(
                    self.pos,
                    &format!("expected `:` after a key, found {}", self.found()),
                    "write `\"key\": value`",
                ));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            if let Some((first, _)) = entries.iter().find(|(k, _)| k.as_str() == key.as_str()) {
                return Err(Diagnostic::error(
                    Code::DuplicateKey,
                    format!("duplicate key `{}`", key.as_str().unwrap_or_default()),
                )
                .at(Some(key.span))
                .label("given again here")
                .also(Some(first.span), "first given here")
                .help("remove one of the two entries"));
            }
            entries.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {
                    self.pos += 1;
                    return Ok(self.container(start, Value::Map(entries)));
                }
                _ => {
                    return Err(self.error(
                        self.pos,
                        &format!("expected `,` or `}}`, found {}", self.found()),
                        "separate object entries with `,` and close the object with `}`",
                    ));
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Node, Diagnostic> {
        let start = self.pos;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(self.container(start, Value::Seq(items)));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    self.pos += 1;
                    self.skip_ws();
                    if self.peek() == Some(']') {
                        return Err(self.error(
                            self.pos,
                            "trailing comma before `]`",
                            "remove the last `,`",
                        ));
                    }
                }
                Some(']') => {
                    self.pos += 1;
                    return Ok(self.container(start, Value::Seq(items)));
                }
                _ => {
                    return Err(self.error(
                        self.pos,
                        &format!("expected `,` or `]`, found {}", self.found()),
                        "separate array items with `,` and close the array with `]`",
                    ));
                }
            }
        }
    }

    fn container(&self, start: usize, value: Value) -> Node {
        Node {
            value,
            span: self.span(start, start + 1),
        }
    }

    /// A string, from its opening quote to just past its closing one.
    fn string(&mut self) -> Result<String, Diagnostic> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error(
                    self.pos,
                    "unterminated string",
                    "close the string with `\"`",
                ));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                '\\' => {
                    let at = self.pos;
                    self.pos += 1;
                    let escaped = match self.peek() {
                        Some('"') => '"',
                        Some('\\') => '\\',
                        Some('/') => '/',
                        Some('b') => '\u{8}',
                        Some('f') => '\u{c}',
                        Some('n') => '\n',
                        Some('r') => '\r',
                        Some('t') => '\t',
                        Some('u') => {
                            self.pos += 1;
                            out.push(self.unicode_escape(at)?);
                            continue;
                        }
                        _ => {
                            return Err(self.error(
                                at,
                                "invalid escape in a string",
                                "valid escapes are \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX",
                            ));
                        }
                    };
                    out.push(escaped);
                    self.pos += 1;
                }
                c if u32::from(c) < 0x20 => {
                    return Err(self.error(
                        self.pos,
                        "control character in a string",
                        "write line breaks and tabs inside strings as \\n and \\t",
                    ));
                }
                c => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn hex4(&mut self, escape: usize) -> Result<u32, Diagnostic> {
        let digits: String = self.chars.iter().skip(self.pos).take(4).collect();
        if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(self.error(
                escape,
                "invalid \\u escape",
                "write \\u followed by four hexadecimal digits",
            ));
        }
        self.pos += 4;
        u32::from_str_radix(&digits, 16).map_err(|_| {
            self.error(
                escape,
                "invalid \\u escape",
                "write \\u followed by four hexadecimal digits",
            )
        })
    }

    /// The character of a `\uXXXX` escape (after the `u`), joining
    /// surrogate pairs.
    fn unicode_escape(&mut self, escape: usize) -> Result<char, Diagnostic> {
        let lone = |p: &Self| {
            p.error(
                escape,
                "lone surrogate in a \\u escape",
                "a \\uD800–\\uDBFF escape must be followed by a \\uDC00–\\uDFFF one",
            )
        };
        let first = self.hex4(escape)?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.peek() != Some('\\') || self.chars.get(self.pos + 1) != Some(&'u') {
                    return Err(lone(self));
                }
                let second_at = self.pos;
                self.pos += 2;
                let second = self.hex4(second_at)?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(lone(self));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(lone(self)),
            c => c,
        };
        char::from_u32(code).ok_or_else(|| lone(self))
    }

    fn number(&mut self) -> Result<Node, Diagnostic> {
        let start = self.pos;
        let bad = |p: &Self| {
            p.error(
                start,
                "invalid number",
                "JSON numbers look like 12, -3, 1.5 or 2e10 (no leading zeros, `+` or hex)",
            )
        };
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        match self.peek() {
            Some('0') => self.pos += 1,
            Some('1'..='9') => self.digits(),
            _ => return Err(bad(self)),
        }
        if self.peek() == Some('.') {
            self.pos += 1;
            if !matches!(self.peek(), Some('0'..='9')) {
                return Err(bad(self));
            }
            self.digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some('0'..='9')) {
                return Err(bad(self));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(c) if c.is_alphanumeric() || c == '.') {
            return Err(bad(self));
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        Ok(Node {
            value: Value::Scalar(Scalar { text, plain: true }),
            span: self.span(start, self.pos),
        })
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some('0'..='9')) {
            self.pos += 1;
        }
    }

    fn literal(&mut self) -> Result<Node, Diagnostic> {
        let start = self.pos;
        for word in ["true", "false", "null"] {
            let len = word.len();
            if self.chars.len() >= start + len
                && self.chars[start..start + len]
                    .iter()
                    .copied()
                    .eq(word.chars())
                && !matches!(self.chars.get(start + len), Some(c) if c.is_alphanumeric())
            {
                self.pos += len;
                return Ok(Node {
                    value: Value::Scalar(Scalar {
                        text: word.to_string(),
                        plain: true,
                    }),
                    span: self.span(start, self.pos),
                });
            }
        }
        Err(self.error(
            start,
            &format!("expected a value, found {}", self.found()),
            "strings are double-quoted; the only bare words are true, false and null",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Node {
        parse(text, FileId(0)).unwrap()
    }

    fn err(text: &str) -> (String, usize, usize) {
        let d = parse(text, FileId(0)).unwrap_err();
        let s = d.span.unwrap();
        (d.message, s.line, s.col)
    }

    #[test]
    fn values_and_spans() {
        let n = ok("{\n\t\"tasks\": [1, \"2\", true, null, -1.5e3],\n  \"x\": {}\n}");
        let tasks = n.get("tasks").unwrap();
        let Value::Seq(items) = &tasks.value else {
            panic!()
        };
        assert_eq!(items.len(), 5);
        assert_eq!((items[1].span.line, items[1].span.col), (2, 15));
        assert_eq!(items[1].span.len, 3);
        assert!(matches!(&items[0].value, Value::Scalar(s) if s.plain && s.text == "1"));
        assert!(matches!(&items[1].value, Value::Scalar(s) if !s.plain && s.text == "2"));
        assert_eq!(items[4].as_str(), Some("-1.5e3"));
        let key = n.find_key(&[crate::yaml::Seg::Key("x")]).unwrap();
        assert_eq!((key.line, key.col), (3, 3));
    }

    #[test]
    fn escapes() {
        let n = ok(r#"["a\"b\\\/\n\u00e9\ud83d\ude00"]"#);
        let Value::Seq(items) = &n.value else {
            panic!()
        };
        assert_eq!(items[0].as_str(), Some("a\"b\\/\né😀"));
    }

    #[test]
    fn errors_are_located() {
        assert_eq!(
            err("{\"a\": 1,\n}"),
            (
                "invalid JSON: expected a \"key\", found `}`".to_string(),
                2,
                1
            )
        );
        assert_eq!(
            err("{\"a\": [1 2]}"),
            (
                "invalid JSON: expected `,` or `]`, found `2`".to_string(),
                1,
                10
            )
        );
        assert_eq!(err("{\"a\": 01}").0, "invalid JSON: invalid number");
        assert_eq!(
            err("{\"a\": tru}").0,
            "invalid JSON: expected a value, found `t`"
        );
        assert_eq!(
            err("{\"a\": \"x\n\"}").0,
            "invalid JSON: control character in a string"
        );
        assert_eq!(
            err("[\"\\ud83d\"]").0,
            "invalid JSON: lone surrogate in a \\u escape"
        );
        assert_eq!(
            err("{\"a\": 1}\n{}").0,
            "invalid JSON: unexpected characters after the JSON value"
        );
        let (m, line, col) = err("{\"a\": [1,\n");
        assert_eq!(
            (m.as_str(), line, col),
            (
                "invalid JSON: expected a value, found the end of the file",
                1,
                10
            )
        );
        assert_eq!(err("   ").0, "invalid JSON: the file is empty");
        assert!(parse(&"[".repeat(1000), FileId(0)).is_err());
    }

    #[test]
    fn duplicate_keys() {
        let d = parse("{\"a\": 1,\n \"a\": 2}", FileId(0)).unwrap_err();
        assert_eq!(d.code, Code::DuplicateKey);
        assert_eq!(d.span.unwrap().line, 2);
        assert_eq!(d.labels[0].span.line, 1);
    }
}
