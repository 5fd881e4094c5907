//! Taskmaster backlogs (`.taskmaster/tasks/tasks.json`) and the run plan
//! made from them.
//!
//! [`read`] accepts both shapes Taskmaster has written: the flat
//! `{"tasks": […]}` and the tagged `{"<tag>": {"tasks": […]}}`, ids as
//! numbers (`1`, older files) or strings (`"1"`, newer ones, sometimes mixed
//! in one file), dependencies likewise, subtask ids as numbers relative to
//! their parent and subtask dependencies as sibling numbers or `"task.sub"`
//! strings. [`plan`] turns the chosen tasks into a dependency graph: which
//! tasks run, what each waits for, in which order, at which priority.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use crate::diagnostic::{Code, Diagnostic, Diagnostics, suggestion};
use crate::source::{FileId, Span};
use crate::yaml::{Node, Value};

/// The tag Taskmaster uses by default, and the one a flat backlog is.
pub const DEFAULT_TAG: &str = "master";

/// Statuses that count as finished (Taskmaster treats both alike).
pub const DONE: &[&str] = &["done", "completed"];

/// Task priority, as Taskmaster writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Low,
    Medium,
    High,
}

impl Priority {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }

    /// The Argo Workflow `spec.priority` of a run: higher runs first when
    /// runs queue for a semaphore, a mutex or the controller's parallelism.
    #[must_use]
    pub fn weight(self) -> i32 {
        match self {
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" | "critical" => Some(Self::High),
            _ => None,
        }
    }
}

/// One backlog tag, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub file: FileId,
    /// The tag read (`master` for a flat file).
    pub tag: String,
    /// Every tag in the file, in file order.
    pub tags: Vec<String>,
    pub tasks: Vec<Task>,
    /// The `tasks` array.
    pub span: Span,
}

/// A top-level task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The id as text (`1` and `"1"` are both `1`).
    pub id: String,
    /// Where the id is.
    pub span: Span,
    pub title: String,
    pub status: String,
    pub priority: Priority,
    pub dependencies: Vec<Dependency>,
    pub subtasks: Vec<Subtask>,
}

impl Task {
    #[must_use]
    pub fn is_done(&self) -> bool {
        DONE.contains(&self.status.as_str())
    }
}

/// A subtask: part of its parent's run, never a run of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Subtask {
    pub id: String,
    pub span: Span,
    pub status: String,
    pub dependencies: Vec<Dependency>,
}

/// One entry of a `dependencies` array.
#[derive(Debug, Clone, PartialEq)]
pub struct Dependency {
    /// The id as written, without quotes.
    pub id: String,
    /// Written as a JSON number (a subtask's number means a sibling).
    pub number: bool,
    pub span: Span,
}

/// Read one tag of a backlog from its parsed JSON. `tag` picks the tag; by
/// default the only one, else `master`.
///
/// Every problem is reported, not just the first; a backlog is returned
/// only when there are none.
///
/// # Errors
/// The diagnostics, when at least one is an error.
pub fn read(root: &Node, tag: Option<&str>) -> Result<Backlog, Diagnostics> {
    let (chosen, tags, tasks_node) = select_tag(root, tag).map_err(|d| Diagnostics(vec![d]))?;
    let mut diags = Diagnostics::default();
    let Value::Seq(items) = &tasks_node.value else {
        diags.push(
            Diagnostic::error(Code::BacklogShape, "`tasks` is not an array")
                .at(Some(tasks_node.span))
                .help(SHAPE_HELP),
        );
        return Err(diags);
    };
    let mut tasks = Vec::new();
    for item in items {
        if let Some(task) = read_task(item, &mut diags) {
            tasks.push(task);
        }
    }
    duplicates(
        tasks.iter().map(|t| (t.id.as_str(), t.span)),
        "task",
        &mut diags,
    );
    for task in &tasks {
        duplicates(
            task.subtasks.iter().map(|s| (s.id.as_str(), s.span)),
            &format!("subtask of task {}", task.id),
            &mut diags,
        );
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(Backlog {
        file: root.span.file,
        tag: chosen,
        tags,
        tasks,
        span: tasks_node.span,
    })
}

const SHAPE_HELP: &str =
    "a Taskmaster backlog is {\"tasks\": [...]} or {\"<tag>\": {\"tasks\": [...]}}";

/// The tag to read: its name, every tag's name, and its `tasks` node.
// One error, returned once: not worth boxing.
#[allow(clippy::result_large_err)]
fn select_tag<'a>(
    root: &'a Node,
    tag: Option<&str>,
) -> Result<(String, Vec<String>, &'a Node), Diagnostic> {
    let shape = |message: &str| {
        Diagnostic::error(Code::BacklogShape, message)
            .at(Some(root.span))
            .help(SHAPE_HELP)
    };
    let Some(entries) = root.as_map() else {
        return Err(shape("the backlog is not a JSON object"));
    };
    if let Some(tasks) = root.get("tasks") {
        // The flat (legacy) form is the `master` tag.
        if let Some(t) = tag.filter(|t| *t != DEFAULT_TAG) {
            return Err(Diagnostic::error(
                Code::UnknownTag,
                format!("the backlog has no tag `{t}`: it is a flat file, read as `{DEFAULT_TAG}`"),
            )
            .at(Some(root.span))
            .help("drop --tag, or use a tagged backlog (`task-master add-tag`)"));
        }
        return Ok((
            DEFAULT_TAG.to_string(),
            vec![DEFAULT_TAG.to_string()],
            tasks,
        ));
    }
    let tags: Vec<(&str, &Node)> = entries
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?, v.get("tasks")?)))
        .collect();
    let names: Vec<String> = tags.iter().map(|(k, _)| (*k).to_string()).collect();
    if tags.is_empty() {
        return Err(shape(
            "the backlog has no `tasks`, neither at the top nor under a tag",
        ));
    }
    let pick = match tag {
        Some(t) => t,
        None if tags.len() == 1 => tags[0].0,
        None if names.iter().any(|n| n == DEFAULT_TAG) => DEFAULT_TAG,
        None => {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            return Err(Diagnostic::error(
                Code::UnknownTag,
                format!(
                    "the backlog has {} tags and none is `{DEFAULT_TAG}`: choose one with --tag",
                    names.len()
                ),
            )
            .at(Some(root.span))
            .help(format!("tags: {}", list.join(", "))));
        }
    };
    let Some((_, tasks)) = tags.iter().find(|(k, _)| *k == pick) else {
        return Err(Diagnostic::error(
            Code::UnknownTag,
            format!("the backlog has no tag `{pick}`"),
        )
        .at(Some(root.span))
        .help(suggestion("tag", pick, names.iter().map(String::as_str))));
    };
    Ok((pick.to_string(), names, tasks))
}

fn duplicates<'a>(ids: impl Iterator<Item = (&'a str, Span)>, what: &str, diags: &mut Diagnostics) {
    let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
    for (id, span) in ids {
        if let Some(first) = seen.get(id) {
            diags.push(
                Diagnostic::error(Code::DuplicateTask, format!("duplicate {what} id `{id}`"))
                    .at(Some(span))
                    .label("given again here")
                    .also(Some(*first), "first given here")
                    .help("give every task its own id (`task-master validate-dependencies` and `fix-dependencies` help)"),
            );
        } else {
            seen.insert(id, span);
        }
    }
}

/// An id: a non-negative integer or a short string of letters, digits,
/// `.`, `_` and `-`. Ids become label values and parts of names.
fn id_of(node: &Node, what: &str, diags: &mut Diagnostics) -> Option<String> {
    let Value::Scalar(s) = &node.value else {
        diags.push(
            Diagnostic::error(
                Code::BacklogShape,
                format!("{what} id is not a number or a string"),
            )
            .at(Some(node.span))
            .help("write the id as a number (`3`) or a string (`\"3\"`)"),
        );
        return None;
    };
    let ok = if s.plain {
        !s.text.is_empty() && s.text.chars().all(|c| c.is_ascii_digit())
    } else {
        !s.text.is_empty() && s.text.len() <= 40 && crate::check::is_label_value(&s.text)
    };
    if !ok {
        diags.push(
            Diagnostic::error(Code::BacklogShape, format!("invalid {what} id `{}`", s.text))
                .at(Some(node.span))
                .help("ids are non-negative integers, or up to 40 letters, digits, `.`, `_` and `-` that start and end with a letter or digit"),
        );
        return None;
    }
    // `007` and `7` are one task.
    if s.text.chars().all(|c| c.is_ascii_digit()) {
        let trimmed = s.text.trim_start_matches('0');
        return Some(if trimmed.is_empty() { "0" } else { trimmed }.to_string());
    }
    Some(s.text.clone())
}

fn string_field(node: &Node, key: &str, diags: &mut Diagnostics) -> Option<String> {
    let value = node.get(key)?;
    match &value.value {
        Value::Scalar(s) if !s.plain => Some(s.text.clone()),
        Value::Scalar(s) if s.text == "null" => None,
        _ => {
            diags.push(
                Diagnostic::error(Code::BacklogShape, format!("`{key}` is not a string"))
                    .at(Some(value.span))
                    .help(format!("write `\"{key}\": \"…\"`")),
            );
            None
        }
    }
}

fn read_task(item: &Node, diags: &mut Diagnostics) -> Option<Task> {
    if item.as_map().is_none() {
        diags.push(
            Diagnostic::error(Code::BacklogShape, "a task is not a JSON object")
                .at(Some(item.span))
                .help("each entry of `tasks` is an object with at least an `id`"),
        );
        return None;
    }
    let Some(id_node) = item.get("id") else {
        diags.push(
            Diagnostic::error(Code::BacklogShape, "a task has no `id`")
                .at(Some(item.span))
                .help("give the task an `id` (a number, or a string like \"12\")"),
        );
        return None;
    };
    let id = id_of(id_node, "task", diags);
    let title = string_field(item, "title", diags).unwrap_or_default();
    let status = string_field(item, "status", diags).unwrap_or_else(|| "pending".to_string());
    let priority = match item.get("priority") {
        None => Priority::Medium,
        Some(node) => match &node.value {
            Value::Scalar(s) if s.plain && s.text == "null" => Priority::Medium,
            Value::Scalar(s) if !s.plain => Priority::parse(&s.text).unwrap_or_else(|| {
                diags.push(
                    Diagnostic::warning(
                        Code::BacklogShape,
                        format!("unknown priority `{}`, read as `medium`", s.text),
                    )
                    .at(Some(node.span))
                    .help("Taskmaster priorities are `high`, `medium` and `low`"),
                );
                Priority::Medium
            }),
            _ => {
                diags.push(
                    Diagnostic::error(Code::BacklogShape, "`priority` is not a string")
                        .at(Some(node.span))
                        .help("write `\"priority\": \"high\"`, `\"medium\"` or `\"low\"`"),
                );
                Priority::Medium
            }
        },
    };
    let deps_of_task = dependencies(item, diags);
    let mut subtasks = Vec::new();
    match item.get("subtasks").map(|n| (n, &n.value)) {
        None => {}
        Some((_, Value::Seq(items))) => {
            for sub in items {
                if sub.as_map().is_none() {
                    diags.push(
                        Diagnostic::error(Code::BacklogShape, "a subtask is not a JSON object")
                            .at(Some(sub.span))
                            .help("each entry of `subtasks` is an object with an `id`"),
                    );
                    continue;
                }
                let Some(sid) = sub.get("id") else {
                    diags.push(
                        Diagnostic::error(Code::BacklogShape, "a subtask has no `id`")
                            .at(Some(sub.span))
                            .help("give the subtask an `id` (a number, unique within its task)"),
                    );
                    continue;
                };
                let sid_text = id_of(sid, "subtask", diags);
                let status =
                    string_field(sub, "status", diags).unwrap_or_else(|| "pending".to_string());
                let deps = dependencies(sub, diags);
                if let Some(sid_text) = sid_text {
                    subtasks.push(Subtask {
                        id: sid_text,
                        span: sid.span,
                        status,
                        dependencies: deps,
                    });
                }
            }
        }
        Some((n, Value::Scalar(s))) if s.plain && s.text == "null" => {
            let _ = n;
        }
        Some((n, _)) => diags.push(
            Diagnostic::error(Code::BacklogShape, "`subtasks` is not an array")
                .at(Some(n.span))
                .help("write `\"subtasks\": [ … ]`"),
        ),
    }
    Some(Task {
        id: id?,
        span: id_node.span,
        title,
        status,
        priority,
        dependencies: deps_of_task,
        subtasks,
    })
}

fn dependencies(item: &Node, diags: &mut Diagnostics) -> Vec<Dependency> {
    let Some(node) = item.get("dependencies") else {
        return Vec::new();
    };
    let items = match &node.value {
        Value::Seq(items) => items,
        Value::Scalar(s) if s.plain && s.text == "null" => return Vec::new(),
        _ => {
            diags.push(
                Diagnostic::error(Code::BacklogShape, "`dependencies` is not an array")
                    .at(Some(node.span))
                    .help("write `\"dependencies\": [\"1\", \"2\"]`"),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for dep in items {
        if let Some(id) = id_of(dep, "dependency", diags) {
            let number = matches!(&dep.value, Value::Scalar(s) if s.plain);
            out.push(Dependency {
                id,
                number,
                span: dep.span,
            });
        }
    }
    out
}

/// The tasks to run and the order between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub tag: String,
    /// Runs in submission order: dependencies first, then by priority,
    /// then backlog order.
    pub runs: Vec<Run>,
    /// Tasks in the tag.
    pub total: usize,
    /// Tasks already done.
    pub done: usize,
}

/// One task to run: one node of the play DAG.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: String,
    /// The DAG task name (`task-12`).
    pub name: String,
    pub title: String,
    pub status: String,
    /// The task's own priority.
    pub priority: Priority,
    /// The highest priority of the task and every run that waits for it.
    pub effective: Priority,
    /// Ids of the runs it waits for, in the order its dependencies list them.
    pub after: Vec<String>,
    pub subtasks: usize,
    pub subtasks_done: usize,
}

/// Where a dependency leads.
#[derive(Clone, Copy)]
enum Target {
    Task(usize),
    Subtask(usize, usize),
    /// A sibling subtask: ordering inside the parent's run.
    Internal,
}

/// An edge of the run graph: `from` waits for `to`, because of `span`.
#[derive(Clone, Copy)]
struct Edge {
    to: usize,
    span: Span,
}

/// Plan the runs of a backlog: every task not done (or only those in
/// `only`), each waiting for the tasks it depends on that are not done.
///
/// Returns the plan and its warnings.
///
/// # Errors
/// Unknown dependencies and `--only` ids, dependency cycles among the tasks
/// to run, and an empty plan.
pub fn plan(backlog: &Backlog, only: &[String]) -> Result<(Plan, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    let tasks = &backlog.tasks;
    let index: BTreeMap<&str, usize> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.as_str(), i))
        .collect();
    let selected = select(tasks, &index, only, &mut diags);
    let edges = edges(tasks, &index, &selected, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }

    let nodes: Vec<usize> = (0..tasks.len()).filter(|i| selected[*i]).collect();
    if nodes.is_empty() {
        let done = tasks.iter().filter(|t| t.is_done()).count();
        let message = if tasks.is_empty() {
            format!(
                "nothing to run: the backlog (tag `{}`) has no tasks",
                backlog.tag
            )
        } else if only.is_empty() {
            format!(
                "nothing to run: all {} tasks of tag `{}` are done",
                tasks.len(),
                backlog.tag
            )
        } else {
            format!(
                "nothing to run: every task --only selects is done ({done} of {} tasks are)",
                tasks.len()
            )
        };
        diags.push(
            Diagnostic::error(Code::NothingToRun, message)
                .at(Some(backlog.span))
                .help("add tasks with `task-master add-task` (or `parse-prd`), or choose another tag with --tag"),
        );
        return Err(diags);
    }

    // Kahn's algorithm in backlog order: what is left is on or behind a cycle.
    let order = topological(tasks.len(), &nodes, &edges, Reverse);
    if order.len() < nodes.len() {
        cycles(tasks, &nodes, &order, &edges, &mut diags);
        return Err(diags);
    }

    // Priority inheritance: a task is as urgent as the most urgent run
    // waiting for it, so a low-priority blocker never starves a high one.
    let mut effective: Vec<Priority> = tasks.iter().map(|t| t.priority).collect();
    for &i in order.iter().rev() {
        for e in &edges[i] {
            effective[e.to] = effective[e.to].max(effective[i]);
        }
    }
    let order = topological(tasks.len(), &nodes, &edges, |i| (effective[i], Reverse(i)));

    let names = dag_names(tasks, &nodes);
    let runs = order
        .iter()
        .map(|&i| {
            let t = &tasks[i];
            Run {
                id: t.id.clone(),
                name: names[&i].clone(),
                title: t.title.clone(),
                status: t.status.clone(),
                priority: t.priority,
                effective: effective[i],
                after: edges[i].iter().map(|e| tasks[e.to].id.clone()).collect(),
                subtasks: t.subtasks.len(),
                subtasks_done: t
                    .subtasks
                    .iter()
                    .filter(|s| DONE.contains(&s.status.as_str()))
                    .count(),
            }
        })
        .collect();
    Ok((
        Plan {
            tag: backlog.tag.clone(),
            runs,
            total: tasks.len(),
            done: tasks.iter().filter(|t| t.is_done()).count(),
        },
        diags,
    ))
}

/// Which tasks run: those not done, and among them only those in `only`
/// when it is given.
fn select(
    tasks: &[Task],
    index: &BTreeMap<&str, usize>,
    only: &[String],
    diags: &mut Diagnostics,
) -> Vec<bool> {
    let ids = || tasks.iter().map(|t| t.id.as_str());
    let mut selected: Vec<bool> = tasks.iter().map(|t| !t.is_done()).collect();
    if !only.is_empty() {
        let mut wanted = BTreeSet::new();
        for raw in only {
            let id = normalize(raw);
            match index.get(id.as_str()) {
                Some(&i) => {
                    if tasks[i].is_done() {
                        diags.push(
                            Diagnostic::warning(
                                Code::NothingToRun,
                                format!("task {id} is already {}; not running it", tasks[i].status),
                            )
                            .at(Some(tasks[i].span))
                            .help("set its status back to `pending` to run it again"),
                        );
                    }
                    wanted.insert(i);
                }
                None => diags.push(
                    Diagnostic::error(
                        Code::UnknownTask,
                        format!("--only names task `{raw}`, which the backlog does not have"),
                    )
                    .help(suggestion("task", &id, ids())),
                ),
            }
        }
        for (i, s) in selected.iter_mut().enumerate() {
            *s = *s && wanted.contains(&i);
        }
    }

    selected
}

/// Resolve every dependency of the selected tasks into edges between runs:
/// dependencies on done tasks (or done subtasks) are satisfied, those on
/// tasks `--only` leaves out are dropped with a warning.
fn edges(
    tasks: &[Task],
    index: &BTreeMap<&str, usize>,
    selected: &[bool],
    diags: &mut Diagnostics,
) -> Vec<Vec<Edge>> {
    let mut edges: Vec<Vec<Edge>> = vec![Vec::new(); tasks.len()];
    let mut outside: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (i, task) in tasks.iter().enumerate() {
        let top = task.dependencies.iter().map(|d| (d, None));
        let sub = task
            .subtasks
            .iter()
            .flat_map(|s| s.dependencies.iter().map(move |d| (d, Some(s))));
        for (dep, subtask) in top.chain(sub) {
            let target = match subtask {
                None => resolve(tasks, index, dep),
                Some(_) => resolve_in_subtask(tasks, index, i, dep),
            };
            let Some(target) = target else {
                let whose = match subtask {
                    None => format!("task {}", task.id),
                    Some(s) => format!("subtask {}.{}", task.id, s.id),
                };
                diags.push(
                    Diagnostic::error(
                        Code::UnknownTask,
                        format!(
                            "{whose} depends on `{}`, which the backlog does not have",
                            dep.id
                        ),
                    )
                    .at(Some(dep.span))
                    .help(unknown_help(tasks)),
                );
                continue;
            };
            if !selected[i] {
                continue;
            }
            let (j, satisfied) = match target {
                Target::Internal => continue,
                Target::Task(j) => (j, tasks[j].is_done()),
                Target::Subtask(j, k) => (
                    j,
                    tasks[j].is_done() || DONE.contains(&tasks[j].subtasks[k].status.as_str()),
                ),
            };
            if satisfied || (j == i && matches!(target, Target::Subtask(..))) {
                // Done, or a task waiting for one of its own subtasks: that
                // ordering is inside its run.
                continue;
            }
            if !selected[j] {
                outside.entry(i).or_default().insert(j);
                continue;
            }
            if !edges[i].iter().any(|e| e.to == j) {
                edges[i].push(Edge {
                    to: j,
                    span: dep.span,
                });
            }
        }
    }
    for (i, deps) in &outside {
        let list: Vec<String> = deps.iter().map(|j| tasks[*j].id.clone()).collect();
        diags.push(
            Diagnostic::warning(
                Code::UnknownTask,
                format!(
                    "task {} depends on {} {}, not done and not selected by --only: not waiting for {}",
                    tasks[*i].id,
                    if list.len() == 1 { "task" } else { "tasks" },
                    list.join(", "),
                    if list.len() == 1 { "it" } else { "them" },
                ),
            )
            .at(Some(tasks[*i].span))
            .help("add them to --only, or mark them done, if the run needs their work"),
        );
    }
    edges
}

/// `007` → `7`; other ids unchanged.
fn normalize(raw: &str) -> String {
    let raw = raw.trim();
    if !raw.is_empty() && raw.chars().all(|c| c.is_ascii_digit()) {
        let t = raw.trim_start_matches('0');
        return if t.is_empty() { "0" } else { t }.to_string();
    }
    raw.to_string()
}

/// A top-level task's dependency: a task id, or `task.sub` for a subtask.
fn resolve(tasks: &[Task], index: &BTreeMap<&str, usize>, dep: &Dependency) -> Option<Target> {
    if let Some(&j) = index.get(dep.id.as_str()) {
        return Some(Target::Task(j));
    }
    let (task, sub) = dep.id.split_once('.')?;
    let j = *index.get(normalize(task).as_str())?;
    let sub = normalize(sub);
    let k = tasks[j].subtasks.iter().position(|s| s.id == sub)?;
    Some(Target::Subtask(j, k))
}

/// A subtask's dependency: a number is a sibling subtask if there is one
/// (Taskmaster's convention), else a top-level task; a `task.sub` string is
/// a subtask anywhere; any other string is a top-level task, else a sibling.
fn resolve_in_subtask(
    tasks: &[Task],
    index: &BTreeMap<&str, usize>,
    parent: usize,
    dep: &Dependency,
) -> Option<Target> {
    let sibling = tasks[parent].subtasks.iter().any(|s| s.id == dep.id);
    if dep.number && sibling {
        return Some(Target::Internal);
    }
    if let Some(target) = resolve(tasks, index, dep) {
        return Some(match target {
            Target::Subtask(j, _) | Target::Task(j) if j == parent => Target::Internal,
            t => t,
        });
    }
    sibling.then_some(Target::Internal)
}

fn unknown_help(tasks: &[Task]) -> String {
    let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    if ids.is_empty() {
        return "the backlog has no tasks".to_string();
    }
    let shown: Vec<String> = ids.iter().take(12).map(|i| format!("`{i}`")).collect();
    let more = if ids.len() > 12 { ", …" } else { "" };
    format!(
        "remove the dependency or add the task; the backlog's task ids are {}{more} (`task-master validate-dependencies` finds these)",
        shown.join(", ")
    )
}

/// Kahn's algorithm over `nodes`, choosing among ready nodes the one with
/// the greatest `key`. Returns fewer nodes than given when there is a cycle.
fn topological<K: Ord>(
    len: usize,
    nodes: &[usize],
    edges: &[Vec<Edge>],
    key: impl Fn(usize) -> K,
) -> Vec<usize> {
    let mut waiting = vec![0usize; len];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); len];
    for &i in nodes {
        waiting[i] = edges[i].len();
        for e in &edges[i] {
            dependents[e.to].push(i);
        }
    }
    let mut ready: BinaryHeap<(K, usize)> = nodes
        .iter()
        .filter(|&&i| waiting[i] == 0)
        .map(|&i| (key(i), i))
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some((_, i)) = ready.pop() {
        order.push(i);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push((key(d), d));
            }
        }
    }
    order
}

/// Report the cycles among the nodes Kahn's algorithm could not order: from
/// each, follow the first unordered dependency until a task repeats.
fn cycles(
    tasks: &[Task],
    nodes: &[usize],
    ordered: &[usize],
    edges: &[Vec<Edge>],
    diags: &mut Diagnostics,
) {
    let ordered: BTreeSet<usize> = ordered.iter().copied().collect();
    let mut seen = BTreeSet::new();
    for &start in nodes {
        if ordered.contains(&start) || seen.contains(&start) {
            continue;
        }
        let mut path: Vec<usize> = Vec::new();
        // Where each task of `path` is in it.
        let mut on_path: BTreeMap<usize, usize> = BTreeMap::new();
        let mut at = start;
        loop {
            if let Some(&pos) = on_path.get(&at) {
                report_cycle(tasks, &path[pos..], edges, diags);
                break;
            }
            if seen.contains(&at) {
                break;
            }
            on_path.insert(at, path.len());
            path.push(at);
            seen.insert(at);
            let Some(next) = edges[at].iter().find(|e| !ordered.contains(&e.to)) else {
                break;
            };
            at = next.to;
        }
    }
}

fn report_cycle(tasks: &[Task], cycle: &[usize], edges: &[Vec<Edge>], diags: &mut Diagnostics) {
    // Start at the task that comes first in the backlog.
    let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
    let cycle: Vec<usize> = cycle[first..]
        .iter()
        .chain(&cycle[..first])
        .copied()
        .collect();
    let edge = |k: usize| {
        let (from, to) = (cycle[k], cycle[(k + 1) % cycle.len()]);
        edges[from].iter().find(|e| e.to == to).map(|e| e.span)
    };
    // A long cycle is shown by its first and last tasks and edges.
    const SHOWN: usize = 12;
    let mut text: Vec<String> = if cycle.len() > SHOWN {
        let mut head: Vec<String> = cycle[..SHOWN - 2]
            .iter()
            .map(|&i| tasks[i].id.clone())
            .collect();
        head.push("…".into());
        head.push(tasks[cycle[cycle.len() - 1]].id.clone());
        head
    } else {
        cycle.iter().map(|&i| tasks[i].id.clone()).collect()
    };
    text.push(tasks[cycle[0]].id.clone());
    let length = if cycle.len() > SHOWN {
        format!(" ({} tasks)", cycle.len())
    } else {
        String::new()
    };
    let mut d = Diagnostic::error(
        Code::DependencyCycle,
        format!("dependency cycle: {}{length}", text.join(" → ")),
    )
    .at(edge(0))
    .label(format!(
        "task {} waits for task {}",
        tasks[cycle[0]].id,
        tasks[cycle[1 % cycle.len()]].id
    ))
    .help(
        "a task cannot wait for itself, even through other tasks: remove one of these dependencies",
    );
    let labelled: Vec<usize> = if cycle.len() > SHOWN {
        // The edges between the tasks the message shows.
        (1..SHOWN - 3).chain([cycle.len() - 1]).collect()
    } else {
        (1..cycle.len()).collect()
    };
    for k in labelled {
        d = d.also(
            edge(k),
            format!(
                "task {} waits for task {}",
                tasks[cycle[k]].id,
                tasks[cycle[(k + 1) % cycle.len()]].id
            ),
        );
    }
    diags.push(d);
}

/// DAG task names: `task-<id>`, lowercase, with anything but letters,
/// digits and `-` as `-`; made unique with a suffix when two ids collide.
fn dag_names(tasks: &[Task], nodes: &[usize]) -> BTreeMap<usize, String> {
    let mut names = BTreeMap::new();
    let mut used = BTreeSet::new();
    for &i in nodes {
        let base: String = format!("task-{}", tasks[i].id)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let mut name = base.clone();
        let mut n = 2;
        while !used.insert(name.clone()) {
            name = format!("{base}-{n}");
            n += 1;
        }
        names.insert(i, name);
    }
    names
}
