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
use orchctl::{Diagnostics, Keep, drift, schema, write};

use crate::cli::{
    Cli, Color, Command, InitArgs, PlayArgs, RenderArgs, RouteArgs, RouteFormat, SchemaArgs,
    SetImageArgs,
};
use crate::cli::{DiffArgs, DiffFormat, GraphArgs, GraphFormat, ValidateArgs, ValidateFormat};

/// Exit codes: success / no changes, invalid input or error, drift found.
const OK: u8 = 0;
const INVALID: u8 = 1;
const DRIFT: u8 = 2;

/// The system allocator, with a ceiling on what a prompt template may take
/// while it renders (`memory`).
#[global_allocator]
static ALLOCATOR: orchctl::memory::Ceiling = orchctl::memory::Ceiling;

fn main() -> ExitCode {
    grow_heap_in_large_steps();
    // Usage errors exit 1 (invalid input), never 2, which means drift.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { INVALID } else { OK });
        }
    };
    let color = match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    } && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    orchctl::memory::set_color(color);
    let ui = Ui { color };
    let code = match cli.command {
        Command::Render(args) => render(&ui, &args),
        Command::Schema(args) => schema_cmd(&ui, &args),
        Command::Route(args) => route_cmd(&ui, &args),
        Command::SetImage(args) => set_image_cmd(&ui, &args),
        Command::Play(args) => play_cmd(&ui, &args),
        Command::Init(args) => init_cmd(&ui, &args),
        Command::Validate(args) => validate_cmd(&ui, &args),
        Command::Diff(args) => diff_cmd(&ui, &args),
        Command::Graph(args) => graph_cmd(&ui, &args),
    };
    ExitCode::from(code)
}

struct Ui {
    color: bool,
}

impl Ui {
    fn diagnostics(&self, sources: &Sources, diags: &Diagnostics) {
        let _ = std::io::stderr()
            .lock()
            .write_all(diags.render(sources, self.color).as_bytes());
    }

    /// Compile a pipelines directory; on errors, print them and give the exit code.
    fn compile(&self, pipelines: &Path) -> Result<(orchctl::Loaded, orchctl::Compiled), u8> {
        self.report(orchctl::compile_dir(pipelines))
    }

    /// [`Ui::compile`] for `render`: the output tree without the objects.
    fn report<T>(
        &self,
        (loaded, result): (orchctl::Loaded, Result<T, orchctl::Diagnostics>),
    ) -> Result<(orchctl::Loaded, T), u8> {
        match result {
            Ok(compiled) => Ok((loaded, compiled)),
            Err(diags) => {
                self.diagnostics(&loaded.sources, &diags);
                Err(INVALID)
            }
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

/// A render allocates tens of megabytes in small pieces on every core. By
/// default glibc grows each heap a little at a time, one system call each
/// (a `brk` or an `mprotect` that also stalls the other thread's page
/// faults); asking it to grow by 32 MiB at a time cuts a large render by
/// about a tenth (`bench/compare.py`). Only address space is reserved: pages
/// count towards memory once used, as before.
fn grow_heap_in_large_steps() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter; it is called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, 32 << 20);
    }
}

fn label(dir: &Path) -> String {
    slash_path(dir).trim_end_matches('/').to_string()
}

fn render(ui: &Ui, args: &RenderArgs) -> u8 {
    if let Err(code) = render_paths_ok(ui, args) {
        return code;
    }
    let out = label(&args.out);
    // Held until the render is done: another render into the same directory
    // waits for this one, and `--check` for a render (it only reads).
    let _lock = render_lock(ui, args);
    render_locked(ui, args, &out)
}

fn render_lock(ui: &Ui, args: &RenderArgs) -> write::Lock {
    let out = label(&args.out);
    write::lock(&args.out, args.check, || {
        ui.note(&format!(
            "waiting for another orchctl render beside {out}/ to finish"
        ));
    })
}

/// The output directory is neither around nor inside the spec, nor a link
/// to nothing; else the exit code, the error printed.
fn render_paths_ok(ui: &Ui, args: &RenderArgs) -> Result<(), u8> {
    if let (Some(out), Ok(pipelines)) = (canonical(&args.out), args.pipelines.canonicalize()) {
        if pipelines.starts_with(&out) {
            ui.error(
                &Diagnostic::error(
                    Code::Conflict,
                    format!("the output directory `{}` contains the spec", label(&args.out)),
                )
                .help("orchctl replaces its output directory whole; point `--out` at a directory of its own, e.g. `generated`"),
            );
            return Err(INVALID);
        }
        // Hidden entries are not read as spec files.
        let hidden = |rel: &Path| {
            rel.components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
        };
        if out.strip_prefix(&pipelines).is_ok_and(|rel| !hidden(rel)) {
            ui.error(
                &Diagnostic::error(
                    Code::Conflict,
                    format!(
                        "the output directory `{}` is inside the spec directory `{}`",
                        label(&args.out),
                        label(&args.pipelines)
                    ),
                )
                .help("orchctl reads every *.yaml under the spec directory, its own output too; point `--out` outside it, e.g. `generated`"),
            );
            return Err(INVALID);
        }
    }
    if let Err(e) = resolves(&args.out) {
        ui.error(
            &Diagnostic::error(
                Code::Io,
                format!(
                    "`{}` is a symbolic link that leads nowhere: {e}",
                    label(&args.out)
                ),
            )
            .help("create the directory it points to, or remove the link"),
        );
        return Err(INVALID);
    }
    Ok(())
}

/// [`render`] with its lock held.
fn render_locked(ui: &Ui, args: &RenderArgs, out: &str) -> u8 {
    let out = out.to_string();
    if !args.check {
        // Into an empty output directory, files are written as they are made.
        match write::Stage::fresh(&args.out) {
            Ok(Some(stage)) => return render_staged(ui, args, stage, &out),
            Ok(None) => {}
            Err(e) => return write_error(ui, &out, &e),
        }
    }
    // Each file is compared with the one on disk as soon as it is made, and
    // only the texts that differ are kept (`render` also keeps a fingerprint
    // of the others, to take them back from disk).
    let keep = if args.check {
        Keep::Changed
    } else {
        Keep::Verified
    };
    let unchanged = |path: &str, text: &str| drift::holds(&args.out, path, text);
    let (loaded, checked) = match ui.report(orchctl::render_dir_against(
        &args.pipelines,
        &unchanged,
        keep,
    )) {
        Ok(both) => both,
        Err(code) => return code,
    };
    // The process ends after this command: leave the large trees to the OS
    // rather than freeing them piece by piece (a tenth of a large render).
    let loaded = std::mem::ManuallyDrop::new(loaded);
    let mut checked = std::mem::ManuallyDrop::new(checked);
    ui.diagnostics(&loaded.sources, &checked.warnings);
    let files = checked.files.len();
    if checked.all_unchanged() && !drift::holds_others(&args.out, &checked.paths()) {
        ui.note(&format!("{out}/ is up to date ({files} files)"));
        return OK;
    }
    // Something differs: read the directory whole, and take the texts
    // dropped as unchanged from it.
    let disk = match drift::read_dir(&args.out) {
        Ok(disk) => std::mem::ManuallyDrop::new(disk),
        Err(e) => {
            ui.error(&Diagnostic::error(
                Code::Io,
                format!("cannot read `{out}`: {e}"),
            ));
            return INVALID;
        }
    };
    let tree = match checked.take_tree(&disk.generated) {
        Some(tree) => tree,
        None => {
            // A file changed on disk since it was compared: compile the tree
            // whole, and write it over what is there now.
            let tree = match orchctl::compile(&loaded) {
                Ok(compiled) => compiled.tree,
                Err(diags) => {
                    ui.diagnostics(&loaded.sources, &diags);
                    return INVALID;
                }
            };
            return written(ui, write::write_tree(&tree, &args.out, &out), &out, files);
        }
    };
    let tree = std::mem::ManuallyDrop::new(tree);
    if args.check {
        let drift = std::mem::ManuallyDrop::new(drift::compare(&tree, &disk, &out));
        if !drift.conflicts.is_empty() {
            ui.error(&conflict(&out, &drift.conflicts));
            return INVALID;
        }
        if drift.is_clean() {
            ui.note(&format!("{out}/ is up to date ({files} files)"));
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
    written(
        ui,
        write::write_tree_over(&tree, &args.out, &out, &disk),
        &out,
        files,
    )
}

/// Report how writing a tree of `files` files went.
fn written(ui: &Ui, result: Result<Outcome, WriteError>, out: &str, files: usize) -> u8 {
    match result {
        Ok(Outcome::Unchanged) => {
            ui.note(&format!("{out}/ is up to date ({files} files)"));
            OK
        }
        Ok(Outcome::Written(d, left)) => {
            ui.note(&format!(
                "wrote {out}/: {files} files ({} added, {} changed, {} removed)",
                d.added.len(),
                d.changed.len(),
                d.removed.len()
            ));
            if let Some(left) = left {
                let at = slash_path(&left.path);
                let at = at.strip_prefix("./").unwrap_or(&at);
                ui.error(
                    &Diagnostic::warning(
                        Code::Io,
                        format!("the old {out}/ is left at `{at}`: {}", left.why),
                    )
                    .help(format!(
                        "the new tree is in place; remove the old one by hand once nothing holds it (`chattr -R -i {}` for an immutable file, `umount` for a mount point); the next render tries again",
                        shell_word(at)
                    )),
                );
            }
            OK
        }
        Err(WriteError::Conflicts(paths)) => {
            ui.error(&conflict(out, &paths));
            INVALID
        }
        Err(e @ (WriteError::Io(..) | WriteError::MountPoint(_))) => write_error(ui, out, &e),
    }
}

/// `render` into an empty output directory: see [`orchctl::render_staged`].
fn render_staged(ui: &Ui, args: &RenderArgs, stage: write::Stage, out: &str) -> u8 {
    let (loaded, staged) = match ui.report(orchctl::render_dir_staged(&args.pipelines, &stage)) {
        Ok(both) => both,
        // Dropping the stage removes what it had written.
        Err(code) => return code,
    };
    // As in `render`: the process ends here, the OS takes the memory back.
    let loaded = std::mem::ManuallyDrop::new(loaded);
    let staged = std::mem::ManuallyDrop::new(staged);
    ui.diagnostics(&loaded.sources, &staged.warnings);
    // Into an empty directory: no old tree to leave.
    match stage.finish() {
        Ok(_) => {
            let files = staged.files;
            ui.note(&format!(
                "wrote {out}/: {files} files ({files} added, 0 changed, 0 removed)"
            ));
            OK
        }
        Err(e) => write_error(ui, out, &e),
    }
}

fn write_error(ui: &Ui, out: &str, e: &WriteError) -> u8 {
    let help = match e {
        WriteError::MountPoint(rel) => format!(
            "nothing was changed; orchctl replaces {out}/ whole, which would move the mount away with the old tree: unmount `{out}/{rel}`, or mount it outside {out}/"
        ),
        WriteError::Io(_, io) if io.kind() == std::io::ErrorKind::ResourceBusy => format!(
            "nothing was changed; `{out}` is a mount point (or in use), and orchctl replaces its output directory whole: mount the directory above it, or point `--out` at a directory inside the mount"
        ),
        _ => format!("nothing was changed; check permissions and free space where `{out}` lives"),
    };
    ui.error(&Diagnostic::error(Code::Io, format!("cannot write `{out}`: {e}")).help(help));
    INVALID
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
    let out = label(&args.out);
    if args.out.exists() && !args.out.is_dir() {
        ui.error(
            &Diagnostic::error(Code::Io, format!("`{out}` is not a directory"))
                .help("point `--out` at the directory that holds the schema, e.g. `schemas`"),
        );
        return INVALID;
    }
    let current = match std::fs::read_to_string(&path) {
        Ok(current) => Some(current),
        // Missing or unreadable (not UTF-8, say): out of date, rewritten.
        Err(_) if !path.is_dir() => None,
        Err(e) => {
            ui.error(
                &Diagnostic::error(Code::Io, format!("cannot read `{display}`: {e}"))
                    .help("move it away: orchctl writes the schema there"),
            );
            return INVALID;
        }
    };
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
    if let Err(e) = std::fs::create_dir_all(&args.out)
        .and_then(|()| write::replace_file(&path, text.as_bytes()))
    {
        ui.error(
            &Diagnostic::error(Code::Io, format!("cannot write `{display}`: {e}"))
                .help("nothing was changed; check permissions and free space"),
        );
        return INVALID;
    }
    ui.note(&format!("wrote {display}"));
    OK
}

fn route_cmd(ui: &Ui, args: &RouteArgs) -> u8 {
    let (_, compiled) = match ui.compile(&args.pipelines) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let Some(events) = &compiled.model.events else {
        ui.error(
            &Diagnostic::error(Code::MissingSection, "the spec declares no `events`")
                .help("add `events.github` and `events.routes` to route webhooks"),
        );
        return INVALID;
    };
    if orchctl::github::event(&args.event).is_none() {
        let names: Vec<&str> = orchctl::github::EVENTS.iter().map(|e| e.name).collect();
        ui.error(
            &Diagnostic::error(
                Code::UnknownEvent,
                format!("unknown GitHub event `{}`", args.event),
            )
            .help(format!("orchctl routes {}", names.join(", "))),
        );
        return INVALID;
    }
    // The delivery id names the Workflow a route submits: GitHub's are UUIDs.
    let delivery_ok = !args.delivery.is_empty()
        && args.delivery.len() <= 64
        && args
            .delivery
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-');
    if !delivery_ok {
        ui.error(
            &Diagnostic::error(
                Code::InvalidValue,
                format!("`--delivery {}` is not a GitHub delivery id", args.delivery),
            )
            .help("GitHub's delivery ids are UUIDs in lowercase hex, e.g. `72d3162e-cc78-11e3-81ab-4c9367dc0958`; it names the Workflow a route submits"),
        );
        return INVALID;
    }
    let stdin = args.payload.as_os_str() == "-";
    let display = if stdin {
        "<stdin>".to_string()
    } else {
        slash_path(&args.payload)
    };
    let read = if stdin {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| text)
    } else {
        std::fs::read_to_string(&args.payload)
    };
    let text = match read {
        Ok(t) => t,
        Err(e) => {
            ui.error(&Diagnostic::error(
                Code::Io,
                format!("cannot read `{display}`: {e}"),
            ));
            return INVALID;
        }
    };
    let mut sources = Sources::new();
    let file = sources.add(display.clone(), args.payload.clone(), text.clone());
    // GitHub sends JSON, read as JSON (surrogate-pair escapes and all); a
    // payload written as YAML is read as YAML.
    let json = text
        .trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n'])
        .starts_with(['{', '[']);
    let parsed = if json {
        // A YAML flow mapping (`{a: 1}`) also starts with `{`: JSON's error
        // stands only if YAML cannot read it either.
        match orchctl::play::json::parse_document(&text, file, "a webhook payload") {
            Ok(node) => Ok(Some(node)),
            Err(json_error) => match orchctl::yaml::parse(&text, file) {
                Ok(node) => Ok(node),
                Err(_) => Err(json_error),
            },
        }
    } else {
        orchctl::yaml::parse(&text, file)
    };
    let body = match parsed {
        Ok(Some(node)) => match orchctl::yaml::de::from_node::<serde_json::Value>(&node) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            Ok(_) => {
                ui.error(&Diagnostic::error(
                    Code::InvalidValue,
                    format!("`{display}` is not a JSON object"),
                ));
                return INVALID;
            }
            Err(e) => {
                ui.diagnostics(&sources, &Diagnostics(vec![e.into_diagnostic()]));
                return INVALID;
            }
        },
        Ok(None) => {
            ui.error(&Diagnostic::error(
                Code::InvalidValue,
                format!("`{display}` is empty"),
            ));
            return INVALID;
        }
        Err(d) => {
            ui.diagnostics(&sources, &Diagnostics(vec![d]));
            return INVALID;
        }
    };
    let mut body = body;
    if let (Some(action), serde_json::Value::Object(map)) = (&args.action, &mut body) {
        map.insert("action".into(), serde_json::Value::String(action.clone()));
    }
    let delivery = orchctl::route::Delivery {
        event: args.event.clone(),
        delivery: args.delivery.clone(),
        body,
    };
    let results = orchctl::route::evaluate(&compiled.model, &compiled.objects, &delivery);
    let mut out = std::io::stdout().lock();
    match args.output {
        RouteFormat::Json => {
            let report = serde_json::json!({
                "event": args.event,
                "action": delivery.body.get("action"),
                "delivery": args.delivery,
                "routes": results,
            });
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        }
        RouteFormat::Text => {
            let fired = results.iter().filter(|r| r.fires).count();
            let action = delivery
                .body
                .get("action")
                .and_then(serde_json::Value::as_str);
            let _ = writeln!(
                out,
                "{}{}: {fired} of {} routes fire",
                args.event,
                action.map(|a| format!(" ({a})")).unwrap_or_default(),
                events.routes.len()
            );
            let mut ordered: Vec<&orchctl::route::RouteResult> =
                results.iter().filter(|r| r.fires).collect();
            ordered.extend(results.iter().filter(|r| !r.fires));
            for r in ordered {
                let _ = writeln!(out);
                if let Some(w) = &r.workflow {
                    let _ = writeln!(out, "fires    {} → chain {}", r.route, r.chain);
                    let _ = writeln!(
                        out,
                        "  workflow {} (from WorkflowTemplate {})",
                        w.name, w.template
                    );
                    for (k, v) in &w.parameters {
                        let _ = writeln!(out, "  {k} = {v:?}");
                    }
                    for m in &w.missing {
                        let _ = writeln!(
                            out,
                            "  {m}: missing from the payload; the submit would fail"
                        );
                    }
                } else {
                    let _ = writeln!(out, "no       {} → chain {}", r.route, r.chain);
                    // Another event type: that alone explains it.
                    let failed: Vec<_> = r.conditions.iter().filter(|c| !c.passed).collect();
                    let shown = if r.conditions.first().is_some_and(|c| !c.passed) {
                        &failed[..1]
                    } else {
                        &failed[..]
                    };
                    for c in shown {
                        let found = c
                            .found
                            .as_deref()
                            .map_or_else(|| "missing".to_string(), |f| format!("{f:?}"));
                        let _ = writeln!(out, "  ✗ {} (found {found})", c.description);
                    }
                }
            }
        }
    }
    OK
}

fn play_cmd(ui: &Ui, args: &PlayArgs) -> u8 {
    let (loaded, compiled) = match ui.compile(&args.pipelines) {
        Ok(both) => both,
        Err(code) => return code,
    };
    ui.diagnostics(&loaded.sources, &compiled.warnings);
    let display = slash_path(&args.tasks);
    let text = match std::fs::read_to_string(&args.tasks) {
        Ok(t) => t,
        Err(e) => {
            ui.error(
                &Diagnostic::error(Code::Io, format!("cannot read `{display}`: {e}")).help(
                    "point --tasks at a Taskmaster backlog (`task-master init` creates .taskmaster/tasks/tasks.json)",
                ),
            );
            return INVALID;
        }
    };
    if let Some(output) = &args.output
        && same_file(output, &args.tasks)
    {
        ui.error(
            &Diagnostic::error(
                Code::Conflict,
                format!(
                    "`-o {}` is the backlog read with --tasks",
                    slash_path(output)
                ),
            )
            .help("write the Workflow to a file of its own, e.g. `-o play.yaml`, or to stdout"),
        );
        return INVALID;
    }
    let mut sources = Sources::new();
    let file = sources.add(display, args.tasks.clone(), text.clone());
    let options = orchctl::play::Options {
        chain: args.chain.clone(),
        tag: args.tag.clone(),
        max_parallel: Some(args.max_parallel),
        only: args.only.clone(),
        params: args.params.clone(),
        service_account: args.service_account.clone(),
    };
    let played = match orchctl::play::play(&compiled.model, &text, file, &options) {
        Ok(p) => p,
        Err(diags) => {
            ui.diagnostics(&sources, &diags);
            return INVALID;
        }
    };
    ui.diagnostics(&sources, &played.warnings);
    let written = match &args.output {
        None => std::io::stdout()
            .lock()
            .write_all(played.yaml.as_bytes())
            .map_err(|e| ("stdout".to_string(), e)),
        Some(path) => {
            write::replace_file(path, played.yaml.as_bytes()).map_err(|e| (slash_path(path), e))
        }
    };
    if let Err((to, e)) = written {
        ui.error(&Diagnostic::error(
            Code::Io,
            format!("cannot write the Workflow to `{to}`: {e}"),
        ));
        return INVALID;
    }
    let plan = &played.plan;
    ui.note(&format!(
        "play: {} of {} tasks of tag `{}` to run ({} done), each a run of chain `{}`, at most {} at a time\n  runs are labelled orchctl.dev/play={}; submit with `argo submit -` or `kubectl create -f -`",
        plan.runs.len(),
        plan.total,
        plan.tag,
        plan.done,
        played.chain,
        args.max_parallel,
        played.key
    ));
    OK
}

fn init_cmd(ui: &Ui, args: &InitArgs) -> u8 {
    let defaults = orchctl::init::Options::for_dir(&args.dir);
    let project = args.project.clone().unwrap_or(defaults.project);
    let options = orchctl::init::Options {
        namespace: args.namespace.clone().unwrap_or_else(|| project.clone()),
        repositories: if args.repositories.is_empty() {
            vec![format!("example-org/{project}")]
        } else {
            args.repositories.clone()
        },
        project,
    };
    let files = match orchctl::init::scaffold(&options) {
        Ok(f) => f,
        Err(diags) => {
            ui.diagnostics(&Sources::new(), &diags);
            return INVALID;
        }
    };
    if let Err(d) = orchctl::init::write(&args.dir, &files) {
        ui.error(&d);
        return INVALID;
    }
    let dir = label(&args.dir);
    let next = if dir.is_empty() || dir == "." {
        "orchctl render".to_string()
    } else {
        format!("cd {} && orchctl render", shell_word(&dir))
    };
    ui.note(&format!(
        "wrote {} files into {}: pipelines/ (project `{}`, namespace `{}`, repositories {}) and schemas/\n  next: edit the image and repositories in pipelines/platform.yaml, then `{next}`",
        files.len(),
        if dir.is_empty() { "." } else { dir.as_str() },
        options.project,
        options.namespace,
        options.repositories.join(", ")
    ));
    OK
}

/// `word` as one word for a POSIX shell: as it is if it needs no quoting,
/// else in single quotes.
fn shell_word(word: &str) -> String {
    // Not an option to `cd`.
    if word.starts_with('-') {
        return shell_word(&format!("./{word}"));
    }
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./-+,:@%".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// An error if `path` is a symbolic link whose target cannot be reached
/// (missing, or a loop): `render` would have nowhere to write, and
/// `--check` should not call such an output stale.
fn resolves(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => std::fs::metadata(path).map(|_| ()),
        _ => Ok(()),
    }
}

/// The canonical form of `path`: of its nearest existing ancestor, with the
/// components that do not exist yet joined on; `None` if none resolves.
fn canonical(path: &Path) -> Option<std::path::PathBuf> {
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        let existing = if at.as_os_str().is_empty() {
            Path::new(".")
        } else {
            at
        };
        if let Ok(found) = existing.canonicalize() {
            return Some(missing.iter().rev().fold(found, |p, c| p.join(c)));
        }
        missing.push(at.file_name()?);
        at = at.parent()?;
    }
}

/// Whether `a` and `b` name one existing file (links followed).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn set_image_cmd(ui: &Ui, args: &SetImageArgs) -> u8 {
    use orchctl::set_image::{parse_request, plan};
    let mut requests = Vec::new();
    for arg in &args.images {
        match parse_request(arg) {
            Ok(r) => requests.push(r),
            Err(d) => {
                ui.error(&d);
                return INVALID;
            }
        }
    }
    let render_args = RenderArgs {
        pipelines: args.pipelines.clone(),
        out: args.out.clone(),
        check: false,
    };
    if !args.no_render
        && let Err(code) = render_paths_ok(ui, &render_args)
    {
        return code;
    }
    // Spec edits and the render under one lock: two set-image runs at once
    // neither lose an edit nor render one the other restores.
    let _lock = render_lock(ui, &render_args);
    let mut seen = std::collections::BTreeSet::new();
    for request in &requests {
        if !seen.insert(request.name.as_str()) {
            ui.error(
                &Diagnostic::error(
                    Code::InvalidImage,
                    format!("image `{}` is named twice", request.name),
                )
                .help("give each image one new reference"),
            );
            return INVALID;
        }
    }
    // Originals of the files changed, to restore if anything fails; each
    // file is replaced whole, so a failed write leaves it as it was.
    let mut originals: Vec<(std::path::PathBuf, String)> = Vec::new();
    // The same, should the process have to exit at once (a prompt template
    // over its memory or time ceiling, during the render).
    let mut undos = Vec::new();
    let restore = |originals: &[(std::path::PathBuf, String)]| {
        for (path, text) in originals.iter().rev() {
            let _ = write::replace_file(path, text.as_bytes());
        }
    };
    // What changed, said once every file is written.
    let mut notes = Vec::new();
    let mut changed = 0;
    for request in &requests {
        let (loaded, diags) = orchctl::load::load_dir(&args.pipelines);
        if diags.has_errors() {
            ui.diagnostics(&loaded.sources, &diags);
            restore(&originals);
            return INVALID;
        }
        let edit = match plan(&loaded, request) {
            Ok(e) => e,
            Err(d) => {
                ui.diagnostics(&loaded.sources, &Diagnostics(vec![*d]));
                restore(&originals);
                return INVALID;
            }
        };
        if !edit.changed() {
            notes.push(format!("{}: already {}", edit.name, edit.new));
            continue;
        }
        let path = args.pipelines.join(&edit.relative);
        let before = loaded
            .sources
            .iter()
            .find(|(_, f)| slash_path(&f.relative) == edit.relative)
            .map(|(_, f)| f.text.clone())
            .unwrap_or_default();
        if let Err(e) = write::replace_file(&path, edit.text.as_bytes()) {
            ui.error(
                &Diagnostic::error(Code::Io, format!("cannot write `{}`: {e}", edit.display))
                    .help("nothing was changed; check permissions and free space"),
            );
            restore(&originals);
            return INVALID;
        }
        if undos.is_empty() {
            // Runs after the files are put back (undos run latest first).
            undos.push(orchctl::abort::on_abort(|| {
                orchctl::abort::say("the spec files were restored");
            }));
        }
        undos.push(orchctl::abort::on_abort({
            let (path, before) = (path.clone(), before.clone());
            move || {
                let _ = write::replace_file(&path, before.as_bytes());
            }
        }));
        originals.push((path, before));
        changed += 1;
        notes.push(format!(
            "{}: {} → {} ({}:{})",
            edit.name, edit.old, edit.new, edit.display, edit.line
        ));
    }
    for note in &notes {
        ui.note(note);
    }
    if args.no_render || changed == 0 {
        return OK;
    }
    let code = render_locked(ui, &render_args, &label(&args.out));
    if code != OK {
        restore(&originals);
        ui.note("the spec files were restored");
    }
    code
}

/// The schema directory for `--schemas DIR [--strict]`: DIR/strict or
/// DIR/lax when DIR holds both, else DIR itself.
fn open_schemas(dir: &Path, strict: bool) -> Result<orchctl::schemas::SchemaSet, Box<Diagnostic>> {
    let split = dir.join("strict").is_dir() && dir.join("lax").is_dir();
    let chosen = match (split, strict) {
        (true, true) => dir.join("strict"),
        (true, false) => dir.join("lax"),
        (false, false) => dir.to_path_buf(),
        (false, true) => {
            return Err(Box::new(Diagnostic::error(
                Code::Conflict,
                format!(
                    "--strict picks `{}/strict`, but `{}` has no strict/ and lax/ subdirectories",
                    label(dir),
                    label(dir)
                ),
            )
            .help("pass the strict schema directory itself without --strict, or its parent with --strict")));
        }
    };
    orchctl::schemas::SchemaSet::open(&chosen).map_err(|e| {
        Box::new(Diagnostic::error(Code::Io, e).help(
            "--schemas takes a directory of <kind>.json schemas (kubeconform layout), e.g. ../shared/schemas/strict",
        ))
    })
}

fn validate_cmd(ui: &Ui, args: &ValidateArgs) -> u8 {
    use orchctl::validate::{self, External, Options, report};
    let mut externals: Vec<External> = Vec::new();
    for text in &args.externals {
        match text.parse::<External>() {
            Ok(e) => externals.push(e),
            Err(m) => {
                ui.error(&Diagnostic::error(Code::InvalidValue, m).help(
                    "--external takes KIND/NAME, KIND/NAMESPACE/NAME or KIND/*, e.g. --external Secret/github-app",
                ));
                return INVALID;
            }
        }
    }
    let mut schemas = match &args.schemas {
        None => None,
        Some(dir) => match open_schemas(dir, args.strict) {
            Ok(s) => Some(s),
            Err(d) => {
                ui.error(&d);
                return INVALID;
            }
        },
    };
    let spec_dir = args.pipelines.clone();
    let compiled = if args.paths.is_empty() || spec_dir.is_some() {
        let dir = spec_dir.unwrap_or_else(|| "pipelines".into());
        let (loaded, result) = orchctl::compile_dir(&dir);
        match result {
            Ok(c) => Some((loaded, c)),
            Err(diags) => {
                let report = validate::spec_report(&diags, &loaded.sources);
                return match args.output {
                    ValidateFormat::Text => {
                        ui.diagnostics(&loaded.sources, &diags);
                        INVALID
                    }
                    format => {
                        validate_output(format, &report, &loaded.sources, args.summary);
                        INVALID
                    }
                };
            }
        }
    } else {
        None
    };
    let (sources, documents, records, files) = if args.paths.is_empty() {
        let Some((loaded, compiled)) = compiled else {
            return INVALID;
        };
        if args.output == ValidateFormat::Text {
            ui.diagnostics(&loaded.sources, &compiled.warnings);
        }
        let documents = validate::rendered(compiled, &loaded, "generated");
        externals.extend(validate::referenced_secrets(&documents));
        let files = documents.len();
        (loaded.sources, documents, Vec::new(), files)
    } else {
        if let Some((loaded, compiled)) = compiled {
            externals.extend(validate::referenced_secrets(&validate::rendered(
                compiled,
                &loaded,
                "generated",
            )));
        }
        let mut sources = Sources::new();
        let input = validate::read_paths(&args.paths, &mut sources);
        (sources, input.documents, input.records, input.files)
    };
    let mut options = Options {
        externals,
        schemas: schemas.as_mut(),
    };
    // The process ends after this command: the documents (every object of a
    // large spec as JSON, with its locator) are left to the OS.
    let documents = std::mem::ManuallyDrop::new(documents);
    let mut report = validate::validate(&documents, records, &mut options);
    report.files = files;
    if args.output == ValidateFormat::Text {
        let text = report::text(&report, &sources, ui.color);
        let notes = report::notes(&report);
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.write_all(notes.as_bytes());
        drop(err);
        let invalid = report
            .records
            .iter()
            .filter(|r| r.has_errors() || r.status == validate::Status::Error)
            .count();
        if invalid > 0 {
            let errors: usize = report
                .records
                .iter()
                .map(|r| {
                    r.findings
                        .iter()
                        .filter(|f| f.diagnostic.is_error())
                        .count()
                })
                .sum();
            ui.note(&format!(
                "{}: {errors} error{} in {invalid} of {} objects",
                if ui.color {
                    "\x1b[1;31merror\x1b[0m"
                } else {
                    "error"
                },
                if errors == 1 { "" } else { "s" },
                report.records.len()
            ));
        } else {
            let skipped = match report.count(validate::Status::Skipped) {
                0 => String::new(),
                n => format!(" ({n} skipped)"),
            };
            ui.note(&if args.paths.is_empty() {
                format!(
                    "the {} objects the spec renders are valid{skipped}",
                    report.records.len()
                )
            } else {
                format!(
                    "{} objects in {} files are valid{skipped}",
                    report.records.len(),
                    report.files
                )
            });
        }
        if args.summary {
            let _ = writeln!(std::io::stdout().lock(), "{}", report::summary(&report));
        }
    } else {
        validate_output(args.output, &report, &sources, args.summary);
    }
    if report.is_valid() { OK } else { INVALID }
}

fn validate_output(
    format: ValidateFormat,
    report: &orchctl::validate::Report,
    sources: &Sources,
    summary: bool,
) {
    use orchctl::validate::report as fmt;
    let text = match format {
        ValidateFormat::Json => fmt::json(report, sources),
        ValidateFormat::Junit => fmt::junit(report, sources),
        ValidateFormat::Github => {
            let mut t = fmt::github(report, sources);
            if summary {
                t.push_str(&fmt::summary(report));
                t.push('\n');
            }
            t
        }
        ValidateFormat::Text => {
            let mut t = fmt::text(report, sources, false);
            if summary {
                t.push_str(&fmt::summary(report));
                t.push('\n');
            }
            t
        }
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn diff_cmd(ui: &Ui, args: &DiffArgs) -> u8 {
    use orchctl::diff::{self, Failure, Side, report};
    let (loaded, compiled) = match ui.compile(&args.pipelines) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let (revision, base) = match diff::base_side(&args.pipelines, args.base.as_deref()) {
        Ok(b) => b,
        Err(Failure::Diagnostic(d)) => {
            ui.error(&d);
            return INVALID;
        }
        Err(Failure::Spec {
            sources,
            diagnostics,
            revision,
        }) => {
            ui.diagnostics(&sources, &diagnostics);
            ui.note(&diff::base_fails(&revision));
            return INVALID;
        }
    };
    let head = Side {
        loaded,
        objects: compiled.objects,
        label: label(&args.pipelines),
        revision: None,
    };
    let diff = diff::compare(&base, &head);
    let heading = report::Heading {
        label: &head.label,
        base: &revision,
    };
    let text = match args.output {
        DiffFormat::Text => report::text(&diff, &heading),
        DiffFormat::Markdown => report::markdown(&diff, &heading),
        DiffFormat::Json => report::json(&diff, &heading),
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    if args.exit_code && !diff.is_empty() {
        DRIFT
    } else {
        OK
    }
}

fn graph_cmd(ui: &Ui, args: &GraphArgs) -> u8 {
    let (loaded, compiled) = match ui.compile(&args.pipelines) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let format = match args.output {
        GraphFormat::Mermaid => orchctl::graph::Format::Mermaid,
        GraphFormat::Dot => orchctl::graph::Format::Dot,
    };
    match orchctl::graph::graph(&loaded, &compiled.model, args.chain.as_deref(), format) {
        Ok(text) => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            OK
        }
        Err(d) => {
            ui.error(&d);
            INVALID
        }
    }
}
