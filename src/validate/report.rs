//! Formatting a validation [`Report`]: text (diagnostics rendered with their
//! source lines), JSON (one record per object), JUnit XML (a test suite per
//! file, a test case per object) and GitHub workflow commands (an
//! `::error file=…,line=…::` annotation per finding).

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Finding, Record, Report, Status};
use crate::source::Sources;

/// `Summary: 31 objects in 31 files: 31 valid, 0 invalid, 0 errors, 0 skipped`.
#[must_use]
pub fn summary(report: &Report) -> String {
    let objects = report.records.iter().filter(|r| r.kind.is_some()).count();
    format!(
        "Summary: {objects} object{} in {} file{}: {} valid, {} invalid, {} error{}, {} skipped",
        if objects == 1 { "" } else { "s" },
        report.files,
        if report.files == 1 { "" } else { "s" },
        report.count(Status::Valid),
        report.count(Status::Invalid),
        report.count(Status::Error),
        if report.count(Status::Error) == 1 {
            ""
        } else {
            "s"
        },
        report.count(Status::Skipped),
    )
}

fn location(f: &Finding, sources: &Sources) -> Option<(String, usize, usize)> {
    f.diagnostic
        .span
        .map(|s| (sources.path(s.file).to_string(), s.line, s.col))
}

/// Every finding rendered rustc-style, then the notes, as text for stderr.
#[must_use]
pub fn text(report: &Report, sources: &Sources, color: bool) -> String {
    let mut out = String::new();
    for record in &report.records {
        for f in &record.findings {
            let _ = writeln!(out, "{}", f.diagnostic.render(sources, color));
        }
    }
    out
}

/// The notes of the records checked (not those skipped), one line per
/// distinct note with the objects it concerns.
#[must_use]
pub fn notes(report: &Report) -> String {
    let mut grouped: Vec<(&str, Vec<String>)> = Vec::new();
    for record in report
        .records
        .iter()
        .filter(|r| r.status != Status::Skipped)
    {
        for note in &record.notes {
            match grouped.iter_mut().find(|(n, _)| n == note) {
                Some((_, objects)) => objects.push(short_object(record)),
                None => grouped.push((note, vec![short_object(record)])),
            }
        }
    }
    let mut out = String::new();
    for (note, objects) in grouped {
        let _ = writeln!(
            out,
            "note: {note}
  in {}",
            objects.join(", ")
        );
    }
    out
}

fn short_object(record: &Record) -> String {
    match (&record.kind, &record.name) {
        (Some(k), Some(n)) => format!("{k} {n}"),
        _ => object(record),
    }
}

fn object(record: &Record) -> String {
    let what = match (&record.kind, &record.name) {
        (Some(k), Some(n)) => format!(" ({k} {n})"),
        (Some(k), None) => format!(" ({k})"),
        _ => String::new(),
    };
    match record.line {
        Some(line) => format!("{}:{line}{what}", record.path),
        None => format!("{}{what}", record.path),
    }
}

fn finding_json(f: &Finding, sources: &Sources) -> Value {
    let loc = location(f, sources);
    json!({
        "code": f.diagnostic.code.to_string(),
        "severity": if f.diagnostic.is_error() { "error" } else { "warning" },
        "message": f.diagnostic.message,
        "path": f.pointer,
        "file": loc.as_ref().map(|l| l.0.clone()),
        "line": loc.as_ref().map(|l| l.1),
        "column": loc.as_ref().map(|l| l.2),
        "help": f.diagnostic.help,
    })
}

/// JSON: `{"resources": [one record per object], "summary": {…}}`.
#[must_use]
pub fn json(report: &Report, sources: &Sources) -> String {
    let resources: Vec<Value> = report
        .records
        .iter()
        .map(|r| {
            json!({
                "file": r.path,
                "line": r.line,
                "apiVersion": r.api_version,
                "kind": r.kind,
                "namespace": r.namespace,
                "name": r.name,
                "status": r.status.as_str(),
                "errors": r.findings.iter().map(|f| finding_json(f, sources)).collect::<Vec<_>>(),
                "notes": r.notes,
            })
        })
        .collect();
    let value = json!({
        "valid": report.is_valid(),
        "resources": resources,
        "summary": {
            "files": report.files,
            "valid": report.count(Status::Valid),
            "invalid": report.count(Status::Invalid),
            "errors": report.count(Status::Error),
            "skipped": report.count(Status::Skipped),
        },
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: a `<testsuite>` per file, a `<testcase>` per object, a
/// `<failure>` per invalid object, `<error>` and `<skipped>` likewise.
#[must_use]
pub fn junit(report: &Report, sources: &Sources) -> String {
    let mut files: Vec<(&str, Vec<&Record>)> = Vec::new();
    for r in &report.records {
        match files.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, list)) => list.push(r),
            None => files.push((&r.path, vec![r])),
        }
    }
    let count = |status: Status| report.count(status);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"orchctl validate\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        report.records.len(),
        count(Status::Invalid),
        count(Status::Error),
        count(Status::Skipped)
    );
    for (path, records) in files {
        let n = |status: Status| records.iter().filter(|r| r.status == status).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
            xml(path),
            records.len(),
            n(Status::Invalid),
            n(Status::Error),
            n(Status::Skipped)
        );
        for r in records {
            let name = match (&r.kind, &r.name) {
                (Some(k), Some(n)) => format!("{k} {n}"),
                (Some(k), None) => k.clone(),
                _ => r
                    .line
                    .map_or_else(|| path.to_string(), |l| format!("{path}:{l}")),
            };
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\"",
                xml(&name),
                xml(path)
            );
            let messages: Vec<String> = r
                .findings
                .iter()
                .map(|f| {
                    let at = location(f, sources)
                        .map(|(p, l, c)| format!("{p}:{l}:{c}: "))
                        .unwrap_or_default();
                    format!(
                        "{at}{}[{}]: {}",
                        if f.diagnostic.is_error() {
                            "error"
                        } else {
                            "warning"
                        },
                        f.diagnostic.code,
                        f.diagnostic.message
                    )
                })
                .collect();
            match r.status {
                Status::Valid => {
                    let _ = writeln!(out, "/>");
                }
                Status::Skipped => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml(&r.notes.join("; "))
                    );
                }
                Status::Invalid | Status::Error => {
                    let tag = if r.status == Status::Invalid {
                        "failure"
                    } else {
                        "error"
                    };
                    let first = messages.first().cloned().unwrap_or_default();
                    let _ = writeln!(
                        out,
                        ">\n      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>\n    </testcase>",
                        xml(&first),
                        r.findings
                            .first()
                            .map_or_else(String::new, |f| f.diagnostic.code.to_string()),
                        xml(&messages.join("\n"))
                    );
                }
            }
        }
        let _ = writeln!(out, "  </testsuite>");
    }
    out.push_str("</testsuites>\n");
    out
}

/// A workflow-command message: `%`, CR and LF escaped.
fn command_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow-command property value: also `:` and `,`.
fn command_property(text: &str) -> String {
    command_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub workflow commands: one `::error` (or `::warning`) per finding,
/// with the file, line and column where known.
#[must_use]
pub fn github(report: &Report, sources: &Sources) -> String {
    let mut out = String::new();
    for r in &report.records {
        for f in &r.findings {
            let level = if f.diagnostic.is_error() {
                "error"
            } else {
                "warning"
            };
            let mut props = Vec::new();
            match location(f, sources) {
                Some((path, line, col)) => {
                    props.push(format!("file={}", command_property(&path)));
                    props.push(format!("line={line}"));
                    props.push(format!("col={col}"));
                }
                None => props.push(format!("file={}", command_property(&r.path))),
            }
            props.push(format!(
                "title={}",
                command_property(&format!("orchctl {}", f.diagnostic.code))
            ));
            let mut message = f.diagnostic.message.clone();
            if let Some(help) = &f.diagnostic.help {
                message.push_str("\nhelp: ");
                message.push_str(help);
            }
            let _ = writeln!(
                out,
                "::{level} {}::{}",
                props.join(","),
                command_data(&message)
            );
        }
    }
    out
}
