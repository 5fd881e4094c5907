//! The `orchctl` binary: parse the command line, call the library, print
//! diagnostics, choose the exit code.

mod cli;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use orchctl::diagnostic::{Code, Diagnostic};
use orchctl::source::{Sources, slash_path};
use orchctl::write::{Outcome, WriteError};
use orchctl::{Diagnostics, drift, schema, write};

use crate::cli::{Cli, Color, Command, RenderArgs, SchemaArgs};

/// Exit codes: success / no changes, invalid input or error, drift found.
const OK: u8 = 0;
const INVALID: u8 = 1;
const DRIFT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    } && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let ui = Ui { color };
    let code = match cli.command {
        Command::Render(args) => render(&ui, &args),
        Command::Schema(args) => schema_cmd(&ui, &args),
    };
    ExitCode::from(code)
}

struct Ui {
    color: bool,
}

impl Ui {
    fn diagnostics(&self, sources: &Sources, diags: &Diagnostics) {
        let mut err = std::io::stderr().lock();
        for d in &diags.0 {
            let _ = writeln!(err, "{}", d.render(sources, self.color));
        }
        let errors = diags.errors();
        let warnings = diags.0.len() - errors;
        if errors > 0 {
            let _ = writeln!(
                err,
                "{}: {errors} error{}{}",
                if self.color {
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
    }

    fn error(&self, d: &Diagnostic) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "{}",
            d.render(&Sources::new(), self.color)
        );
    }

    fn note(&self, text: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

fn label(dir: &Path) -> String {
    slash_path(dir).trim_end_matches('/').to_string()
}

fn render(ui: &Ui, args: &RenderArgs) -> u8 {
    let (loaded, result) = orchctl::compile_dir(&args.pipelines);
    let compiled = match result {
        Ok(c) => c,
        Err(diags) => {
            ui.diagnostics(&loaded.sources, &diags);
            return INVALID;
        }
    };
    ui.diagnostics(&loaded.sources, &compiled.warnings);
    let out = label(&args.out);
    if args.check {
        let disk = match drift::read_dir(&args.out) {
            Ok(d) => d,
            Err(e) => {
                ui.error(&Diagnostic::error(
                    Code::Io,
                    format!("cannot read `{out}`: {e}"),
                ));
                return INVALID;
            }
        };
        let drift = drift::compare(&compiled.tree, &disk, &out);
        if !drift.conflicts.is_empty() {
            ui.error(&conflict(&out, &drift.conflicts));
            return INVALID;
        }
        if drift.is_clean() {
            ui.note(&format!(
                "{out}/ is up to date ({} files)",
                compiled.tree.len()
            ));
            return OK;
        }
        let _ = std::io::stdout().lock().write_all(drift.diff.as_bytes());
        ui.note(&format!(
            "{out}/ is stale: {} to add, {} to change, {} to remove\n  = help: run `orchctl render` and commit {out}/",
            drift.added.len(),
            drift.changed.len(),
            drift.removed.len()
        ));
        return DRIFT;
    }
    match write::write_tree(&compiled.tree, &args.out, &out) {
        Ok(Outcome::Unchanged) => {
            ui.note(&format!(
                "{out}/ is up to date ({} files)",
                compiled.tree.len()
            ));
            OK
        }
        Ok(Outcome::Written(d)) => {
            ui.note(&format!(
                "wrote {out}/: {} files ({} added, {} changed, {} removed)",
                compiled.tree.len(),
                d.added.len(),
                d.changed.len(),
                d.removed.len()
            ));
            OK
        }
        Err(WriteError::Conflicts(paths)) => {
            ui.error(&conflict(&out, &paths));
            INVALID
        }
        Err(e @ WriteError::Io(..)) => {
            ui.error(
                &Diagnostic::error(Code::Io, format!("cannot write `{out}`: {e}")).help(format!(
                    "nothing was changed; check permissions and free space where `{out}` lives"
                )),
            );
            INVALID
        }
    }
}

fn conflict(out: &str, paths: &[String]) -> Diagnostic {
    let list: Vec<String> = paths.iter().map(|p| format!("{out}/{p}")).collect();
    Diagnostic::error(
        Code::ForeignFile,
        format!("orchctl would overwrite files it did not generate: {}", list.join(", ")),
    )
    .help("move or delete them; orchctl only replaces files that start with its `Code generated by orchctl` header")
}

fn schema_cmd(ui: &Ui, args: &SchemaArgs) -> u8 {
    let path = args.out.join(schema::FILE_NAME);
    let display = slash_path(&path);
    let text = schema::schema_json();
    let current = std::fs::read_to_string(&path).ok();
    if current.as_deref() == Some(text.as_str()) {
        ui.note(&format!("{display} is up to date"));
        return OK;
    }
    if args.check {
        let old = current.unwrap_or_default();
        let diff = similar::TextDiff::from_lines(&old, &text);
        let _ = write!(
            std::io::stdout().lock(),
            "{}",
            diff.unified_diff()
                .header(&format!("a/{display}"), &format!("b/{display}"))
        );
        ui.note(&format!(
            "{display} is out of date\n  = help: run `orchctl schema` and commit it"
        ));
        return DRIFT;
    }
    if let Err(e) = std::fs::create_dir_all(&args.out).and_then(|()| std::fs::write(&path, &text)) {
        ui.error(&Diagnostic::error(
            Code::Io,
            format!("cannot write `{display}`: {e}"),
        ));
        return INVALID;
    }
    ui.note(&format!("wrote {display}"));
    OK
}
