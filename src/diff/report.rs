//! Formatting a [`Diff`]: text for a terminal, Markdown for a pull-request
//! comment (at most [`MARKDOWN_LIMIT`] characters, GitHub's limit for a
//! comment), JSON for tools.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Change, Diff, FieldChange, ObjectDiff, Op, Revision, Source};

/// GitHub refuses comments (and job summaries) over 65,536 characters.
pub const MARKDOWN_LIMIT: usize = 65_536;

/// The marker a bot finds to update its sticky comment in place.
pub const MARKDOWN_MARKER: &str = "<!-- orchctl diff -->";

/// Longest value shown inline.
const INLINE_MAX: usize = 160;

/// What the diff compares, for headings: `pipelines` at the base revision
/// against the working tree.
pub struct Heading<'a> {
    pub label: &'a str,
    pub base: &'a Revision,
}

impl Heading<'_> {
    fn text(&self) -> String {
        let how = if self.base.description == self.base.short() {
            String::new()
        } else {
            format!(" ({})", self.base.description)
        };
        format!(
            "{}/ at {}{how} → the working tree",
            self.label,
            self.base.short()
        )
    }
}

fn counts(diff: &Diff) -> String {
    format!(
        "{} changed, {} added, {} removed, {} unchanged",
        diff.count(Change::Changed),
        diff.count(Change::Added),
        diff.count(Change::Removed),
        diff.unchanged
    )
}

fn object_title(o: &ObjectDiff) -> String {
    match &o.namespace {
        Some(ns) => format!("{} {ns}/{}", o.kind, o.name),
        None => format!("{} {}", o.kind, o.name),
    }
}

/// A value on one line, shortened; a multi-line string by its first line.
fn inline(value: &Value) -> String {
    if let Value::String(s) = value
        && s.contains('\n')
    {
        let first = s.lines().next().unwrap_or_default();
        let first: String = first.chars().take(INLINE_MAX).collect();
        return format!("{} … ({} lines)", Value::String(first), s.lines().count());
    }
    let text = value.to_string();
    if text.chars().count() <= INLINE_MAX {
        return text;
    }
    let cut: String = text.chars().take(INLINE_MAX).collect();
    format!("{cut}… ({} characters)", text.chars().count())
}

/// For a list of scalars that changed its items (not just their order):
/// the items removed and the items added.
fn list_items(op: &Op) -> Option<(Vec<String>, Vec<String>)> {
    let Op::Changed {
        old: Value::Array(a),
        new: Value::Array(b),
    } = op
    else {
        return None;
    };
    let removed: Vec<String> = a.iter().filter(|v| !b.contains(v)).map(inline).collect();
    let added: Vec<String> = b.iter().filter(|v| !a.contains(v)).map(inline).collect();
    (!removed.is_empty() || !added.is_empty()).then_some((removed, added))
}

/// Most lines of YAML shown for an added or removed mapping or list.
const BLOCK_MAX: usize = 40;

/// An added or removed mapping or list as YAML lines (at most
/// [`BLOCK_MAX`], then a line saying how many more).
fn block(op: &Op) -> Option<(char, Vec<String>)> {
    let (sign, value) = match op {
        Op::Added(v) => ('+', v),
        Op::Removed(v) => ('-', v),
        _ => return None,
    };
    let nonempty = match value {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    };
    if !nonempty {
        return None;
    }
    let yaml = crate::emit::to_yaml(value);
    let all: Vec<&str> = yaml.lines().collect();
    let mut lines: Vec<String> = all
        .iter()
        .take(BLOCK_MAX)
        .map(|l| (*l).to_string())
        .collect();
    if all.len() > BLOCK_MAX {
        lines.push(format!("… {} more lines", all.len() - BLOCK_MAX));
    }
    Some((sign, lines))
}

fn multiline(op: &Op) -> Option<(&str, &str)> {
    match op {
        Op::Changed {
            old: Value::String(a),
            new: Value::String(b),
        } if a.contains('\n') || b.contains('\n') => Some((a, b)),
        _ => None,
    }
}

/// Lines of a unified diff of two texts, each starting with ` `, `-`, `+` or
/// `@@`.
fn text_diff(old: &str, new: &str) -> Vec<String> {
    let diff = similar::TextDiff::from_lines(old, new);
    diff.unified_diff()
        .context_radius(2)
        .to_string()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Field changes grouped by the spec element they come from, in order of
/// first appearance.
fn groups(fields: &[FieldChange]) -> Vec<(Option<&Source>, Vec<&FieldChange>)> {
    let mut out: Vec<(Option<&Source>, Vec<&FieldChange>)> = Vec::new();
    for f in fields {
        match out.iter_mut().find(|(s, _)| *s == f.source.as_ref()) {
            Some((_, list)) => list.push(f),
            None => out.push((f.source.as_ref(), vec![f])),
        }
    }
    out
}

fn source_text(s: Option<&Source>) -> String {
    s.map_or_else(
        || "(no spec element)".to_string(),
        |s| format!("{}  ({})", s.element, s.location()),
    )
}

/// Human text.
#[must_use]
pub fn text(diff: &Diff, heading: &Heading) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "orchctl diff: {}", heading.text());
    if diff.is_empty() {
        let _ = writeln!(out, "no changes ({} objects)", diff.unchanged);
        return out;
    }
    let _ = writeln!(out, "{}", counts(diff));
    for o in &diff.objects {
        let _ = writeln!(out);
        let from = o
            .source
            .as_ref()
            .map(|s| format!("  from {} ({})", s.element, s.location()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{} {}  {}{from}",
            o.change.sign(),
            object_title(o),
            o.path
        );
        for (source, fields) in groups(&o.fields) {
            let _ = writeln!(out, "    {}", source_text(source));
            for f in fields {
                field_text(&mut out, f, "      ");
            }
        }
    }
    out
}

fn field_text(out: &mut String, f: &FieldChange, pad: &str) {
    let path = f.path_text();
    if let Some((a, b)) = multiline(&f.op) {
        let _ = writeln!(out, "{pad}~ {path}:");
        for line in text_diff(a, b) {
            let _ = writeln!(out, "{pad}    {line}");
        }
        return;
    }
    if let Some((sign, lines)) = block(&f.op) {
        let _ = writeln!(out, "{pad}{sign} {path}:");
        for line in lines {
            let _ = writeln!(out, "{pad}    {line}");
        }
        return;
    }
    if let Some((removed, added)) = list_items(&f.op) {
        let items: Vec<String> = removed
            .iter()
            .map(|r| format!("-{r}"))
            .chain(added.iter().map(|a| format!("+{a}")))
            .collect();
        let _ = writeln!(out, "{pad}~ {path}: {}", items.join(" "));
        return;
    }
    let _ = match &f.op {
        Op::Changed { old, new } => {
            writeln!(out, "{pad}~ {path}: {} → {}", inline(old), inline(new))
        }
        Op::Added(v) => writeln!(out, "{pad}+ {path}: {}", inline(v)),
        Op::Removed(v) => writeln!(out, "{pad}- {path}: {}", inline(v)),
        Op::Reordered { old, new } => writeln!(
            out,
            "{pad}~ {path}: order {} → {}",
            old.join(", "),
            new.join(", ")
        ),
    };
}

/// Lines of a `diff` code block for one field change.
fn field_lines(f: &FieldChange) -> Vec<String> {
    let path = f.path_text();
    if let Some((a, b)) = multiline(&f.op) {
        let mut lines = vec![format!("  {path}")];
        lines.extend(text_diff(a, b).into_iter().map(|l| {
            // Keep the diff's own sign in the first column.
            if l.starts_with("@@") {
                format!(" {l}")
            } else {
                l
            }
        }));
        return lines;
    }
    if let Some((sign, block)) = block(&f.op) {
        let mut lines = vec![format!("{sign} {path}:")];
        lines.extend(block.into_iter().map(|l| format!("{sign}   {l}")));
        return lines;
    }
    if let Some((removed, added)) = list_items(&f.op) {
        let mut lines = vec![format!("  {path}")];
        lines.extend(removed.iter().map(|r| format!("- {r}")));
        lines.extend(added.iter().map(|a| format!("+ {a}")));
        return lines;
    }
    match &f.op {
        Op::Changed { old, new } => vec![
            format!("  {path}"),
            format!("- {}", inline(old)),
            format!("+ {}", inline(new)),
        ],
        Op::Added(v) => vec![format!("+ {path}: {}", inline(v))],
        Op::Removed(v) => vec![format!("- {path}: {}", inline(v))],
        Op::Reordered { old, new } => vec![
            format!("  {path} (order)"),
            format!("- {}", old.join(", ")),
            format!("+ {}", new.join(", ")),
        ],
    }
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "&#124;")
}

fn code(text: &str) -> String {
    format!("<code>{}</code>", html(text))
}

/// A fence longer than any run of backticks in `lines`.
fn fence(lines: &[String]) -> String {
    let longest = lines
        .iter()
        .map(|l| l.split(|c| c != '`').map(str::len).max().unwrap_or(0))
        .max()
        .unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

/// One object's collapsible section: its lines (without the closing tags,
/// so a truncated section can still be closed).
struct Section {
    head: String,
    body: Vec<String>,
    fence: String,
    lang: &'static str,
}

impl Section {
    fn closing(&self) -> String {
        format!("{}\n\n</details>\n\n", self.fence)
    }

    fn full(&self) -> String {
        let mut s = self.head.clone();
        let _ = writeln!(s, "{}{}", self.fence, self.lang);
        for line in &self.body {
            s.push_str(line);
            s.push('\n');
        }
        s.push_str(&self.closing());
        s
    }

    /// As much as fits in `budget` bytes, with a note of what was cut.
    fn truncated(&self, budget: usize) -> Option<String> {
        let mut s = self.head.clone();
        let _ = writeln!(s, "{}{}", self.fence, self.lang);
        let closing = self.closing();
        let note_room = 80;
        if s.len() + closing.len() + note_room > budget {
            return None;
        }
        let mut shown = 0;
        for line in &self.body {
            if s.len() + line.len() + 1 + closing.len() + note_room > budget {
                break;
            }
            s.push_str(line);
            s.push('\n');
            shown += 1;
        }
        let _ = writeln!(s, "… {} more lines not shown", self.body.len() - shown);
        s.push_str(&closing);
        Some(s)
    }
}

fn sections(diff: &Diff) -> Vec<Section> {
    let mut out = Vec::new();
    for o in &diff.objects {
        let count = match o.change {
            Change::Changed => format!(
                "{} field{}",
                o.fields.len(),
                if o.fields.len() == 1 { "" } else { "s" }
            ),
            Change::Added => "added".to_string(),
            Change::Removed => "removed".to_string(),
        };
        let mut head = format!(
            "<details><summary>{} {} {} · {count}</summary>\n\n",
            o.change.sign(),
            html(&o.kind),
            code(&o.name),
        );
        let _ = writeln!(
            head,
            "{} · from {}\n",
            code(&o.path),
            o.source.as_ref().map_or_else(
                || "no spec element".to_string(),
                |s| format!("{} {}", html(&s.element), code(&s.location()))
            )
        );
        let (body, lang) = match o.change {
            Change::Changed => {
                let mut body = Vec::new();
                for (source, fields) in groups(&o.fields) {
                    body.push(format!("# {}", source_text(source)));
                    for f in fields {
                        body.extend(field_lines(f));
                    }
                }
                (body, "diff")
            }
            Change::Added => (
                o.value
                    .as_ref()
                    .map(|v| {
                        crate::emit::to_yaml(v)
                            .lines()
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                "yaml",
            ),
            Change::Removed => (Vec::new(), "yaml"),
        };
        if body.is_empty() {
            continue;
        }
        let fence = fence(&body);
        out.push(Section {
            head,
            body,
            fence,
            lang,
        });
    }
    out
}

/// Markdown for a sticky pull-request comment or a job summary: a heading,
/// a summary table, a collapsible section per changed object; never over
/// [`MARKDOWN_LIMIT`] bytes (so never over as many characters), cut with a
/// note when it would be.
#[must_use]
pub fn markdown(diff: &Diff, heading: &Heading) -> String {
    markdown_within(diff, heading, MARKDOWN_LIMIT)
}

/// [`markdown`] within `limit` bytes.
#[must_use]
pub fn markdown_within(diff: &Diff, heading: &Heading, limit: usize) -> String {
    // Room always kept for the closing note.
    const RESERVE: usize = 400;
    let mut out = String::new();
    let _ = writeln!(out, "{MARKDOWN_MARKER}");
    if diff.is_empty() {
        let _ = writeln!(out, "### orchctl diff: no changes\n");
        let _ = writeln!(
            out,
            "The generated objects of {} are the same ({} objects).",
            html(&heading.text()),
            diff.unchanged
        );
        return out;
    }
    let _ = writeln!(out, "### orchctl diff: {}\n", counts(diff));
    let _ = writeln!(out, "Generated objects of {}.\n", html(&heading.text()));
    let _ = writeln!(out, "| | object | file | from |");
    let _ = writeln!(out, "|:-:|---|---|---|");
    let mut rows_left = diff.objects.len();
    for o in &diff.objects {
        let from = o.source.as_ref().map_or_else(String::new, |s| {
            format!("{} {}", html(&s.element), code(&s.location()))
        });
        let row = format!(
            "| {} | {} {} | {} | {from} |\n",
            o.change.sign(),
            html(&o.kind),
            code(&o.name),
            code(&o.path)
        );
        if out.len() + row.len() + RESERVE > limit / 2 {
            break;
        }
        out.push_str(&row);
        rows_left -= 1;
    }
    if rows_left > 0 {
        let _ = writeln!(out, "| | … {rows_left} more objects | | |");
    }
    out.push('\n');
    let all = sections(diff);
    let total = all.len();
    let mut shown = 0;
    let mut cut = false;
    for section in &all {
        let text = section.full();
        if out.len() + text.len() + RESERVE <= limit {
            out.push_str(&text);
            shown += 1;
            continue;
        }
        if let Some(text) = section.truncated(limit.saturating_sub(out.len() + RESERVE)) {
            out.push_str(&text);
            shown += 1;
        }
        cut = true;
        break;
    }
    if cut || rows_left > 0 {
        let _ = writeln!(
            out,
            "> **Truncated** to stay under GitHub's {MARKDOWN_LIMIT}-character limit: {} of {total} sections shown. Run `orchctl diff` locally for everything.",
            shown
        );
    }
    debug_assert!(out.len() <= limit);
    out
}

fn source_json(s: Option<&Source>) -> Value {
    s.map_or(Value::Null, |s| {
        json!({
            "file": s.file,
            "line": s.line,
            "element": s.element,
            "revision": s.revision,
        })
    })
}

/// JSON for tools.
#[must_use]
pub fn json(diff: &Diff, heading: &Heading) -> String {
    let objects: Vec<Value> = diff
        .objects
        .iter()
        .map(|o| {
            let fields: Vec<Value> = o
                .fields
                .iter()
                .map(|f| {
                    let mut v = json!({
                        "path": f.path_text(),
                        "op": f.op.name(),
                    });
                    match &f.op {
                        Op::Changed { old, new } => {
                            v["old"] = old.clone();
                            v["new"] = new.clone();
                        }
                        Op::Added(new) => v["new"] = new.clone(),
                        Op::Removed(old) => v["old"] = old.clone(),
                        Op::Reordered { old, new } => {
                            v["old"] = json!(old);
                            v["new"] = json!(new);
                        }
                    }
                    v["source"] = source_json(f.source.as_ref());
                    v
                })
                .collect();
            json!({
                "change": o.change.name(),
                "apiVersion": o.api_version,
                "kind": o.kind,
                "namespace": o.namespace,
                "name": o.name,
                "path": o.path,
                "source": source_json(o.source.as_ref()),
                "fields": fields,
            })
        })
        .collect();
    let report = json!({
        "base": {
            "commit": heading.base.commit,
            "description": heading.base.description,
        },
        "pipelines": heading.label,
        "summary": {
            "changed": diff.count(Change::Changed),
            "added": diff.count(Change::Added),
            "removed": diff.count(Change::Removed),
            "unchanged": diff.unchanged,
        },
        "objects": objects,
    });
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
    text.push('\n');
    text
}
