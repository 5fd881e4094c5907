//! What orchctl knows of GitHub's webhook events: their actions, the payload
//! fields routes may read, and where each route condition looks.
//!
//! A route naming an event, action or field not listed here is a compile
//! error with a hint. The test suite checks every field against GitHub's
//! recorded example payloads.

/// One webhook event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The `X-GitHub-Event` header value.
    pub name: &'static str,
    /// Its `action` values; empty for events without one (`push`).
    pub actions: &'static [&'static str],
    /// Payload fields routes may pass to chains (paths from the payload root).
    pub fields: &'static [&'static str],
    /// Where the condition values live, for events that carry them.
    pub merged: Option<&'static str>,
    pub base_branch: Option<&'static str>,
    pub head_branch: Option<&'static str>,
    pub label: Option<&'static str>,
    pub conclusion: Option<&'static str>,
    /// The comment or review body and its author's association.
    pub body: Option<&'static str>,
    pub author_association: Option<&'static str>,
    /// `issue_comment`: the issue object, which has `pull_request` on PRs.
    pub issue: Option<&'static str>,
    /// Events written by people (comments, reviews, issues): bots are
    /// excluded unless a route allows them.
    pub human: bool,
}

const REPO: [&str; 7] = [
    "repository.full_name",
    "repository.name",
    "repository.owner.login",
    "repository.default_branch",
    "repository.html_url",
    "sender.login",
    "sender.type",
];

macro_rules! fields {
    ($($f:literal),* $(,)?) => {
        &[
            "repository.full_name",
            "repository.name",
            "repository.owner.login",
            "repository.default_branch",
            "repository.html_url",
            "sender.login",
            "sender.type",
            $($f),*
        ]
    };
}

const NONE: Event = Event {
    name: "",
    actions: &[],
    fields: &[],
    merged: None,
    base_branch: None,
    head_branch: None,
    label: None,
    conclusion: None,
    body: None,
    author_association: None,
    issue: None,
    human: false,
};

/// The events orchctl supports.
pub const EVENTS: &[Event] = &[
    Event {
        name: "pull_request",
        actions: &[
            "assigned",
            "auto_merge_disabled",
            "auto_merge_enabled",
            "closed",
            "converted_to_draft",
            "demilestoned",
            "dequeued",
            "edited",
            "enqueued",
            "labeled",
            "locked",
            "milestoned",
            "opened",
            "ready_for_review",
            "reopened",
            "review_request_removed",
            "review_requested",
            "synchronize",
            "unassigned",
            "unlabeled",
            "unlocked",
        ],
        fields: fields![
            "action",
            "number",
            "pull_request.number",
            "pull_request.title",
            "pull_request.body",
            "pull_request.html_url",
            "pull_request.state",
            "pull_request.draft",
            "pull_request.merged",
            "pull_request.merge_commit_sha",
            "pull_request.base.ref",
            "pull_request.base.sha",
            "pull_request.head.ref",
            "pull_request.head.sha",
            "pull_request.user.login",
            "label.name",
        ],
        merged: Some("pull_request.merged"),
        base_branch: Some("pull_request.base.ref"),
        head_branch: Some("pull_request.head.ref"),
        label: Some("label.name"),
        ..NONE
    },
    Event {
        name: "issue_comment",
        actions: &["created", "edited", "deleted"],
        fields: fields![
            "action",
            "issue.number",
            "issue.title",
            "issue.html_url",
            "issue.state",
            "issue.user.login",
            "comment.id",
            "comment.body",
            "comment.html_url",
            "comment.user.login",
            "comment.author_association",
        ],
        body: Some("comment.body"),
        author_association: Some("comment.author_association"),
        issue: Some("issue"),
        human: true,
        ..NONE
    },
    Event {
        name: "pull_request_review_comment",
        actions: &["created", "edited", "deleted"],
        fields: fields![
            "action",
            "pull_request.number",
            "pull_request.title",
            "pull_request.html_url",
            "pull_request.base.ref",
            "pull_request.head.ref",
            "pull_request.head.sha",
            "comment.id",
            "comment.body",
            "comment.path",
            "comment.html_url",
            "comment.user.login",
            "comment.author_association",
        ],
        base_branch: Some("pull_request.base.ref"),
        head_branch: Some("pull_request.head.ref"),
        body: Some("comment.body"),
        author_association: Some("comment.author_association"),
        human: true,
        ..NONE
    },
    Event {
        name: "pull_request_review",
        actions: &["submitted", "edited", "dismissed"],
        fields: fields![
            "action",
            "pull_request.number",
            "pull_request.title",
            "pull_request.html_url",
            "pull_request.base.ref",
            "pull_request.head.ref",
            "pull_request.head.sha",
            "review.id",
            "review.state",
            "review.body",
            "review.html_url",
            "review.user.login",
            "review.author_association",
        ],
        base_branch: Some("pull_request.base.ref"),
        head_branch: Some("pull_request.head.ref"),
        body: Some("review.body"),
        author_association: Some("review.author_association"),
        human: true,
        ..NONE
    },
    Event {
        name: "check_run",
        actions: &["created", "completed", "rerequested", "requested_action"],
        fields: fields![
            "action",
            "check_run.id",
            "check_run.name",
            "check_run.status",
            "check_run.conclusion",
            "check_run.html_url",
            "check_run.head_sha",
            "check_run.check_suite.head_branch",
        ],
        head_branch: Some("check_run.check_suite.head_branch"),
        conclusion: Some("check_run.conclusion"),
        ..NONE
    },
    Event {
        name: "workflow_run",
        actions: &["requested", "in_progress", "completed"],
        fields: fields![
            "action",
            "workflow_run.id",
            "workflow_run.name",
            "workflow_run.status",
            "workflow_run.conclusion",
            "workflow_run.html_url",
            "workflow_run.head_branch",
            "workflow_run.head_sha",
            "workflow_run.event",
            "workflow_run.run_attempt",
        ],
        head_branch: Some("workflow_run.head_branch"),
        conclusion: Some("workflow_run.conclusion"),
        ..NONE
    },
    Event {
        name: "issues",
        actions: &[
            "assigned",
            "closed",
            "deleted",
            "demilestoned",
            "edited",
            "labeled",
            "locked",
            "milestoned",
            "opened",
            "pinned",
            "reopened",
            "transferred",
            "typed",
            "unassigned",
            "unlabeled",
            "unlocked",
            "unpinned",
            "untyped",
        ],
        fields: fields![
            "action",
            "issue.number",
            "issue.title",
            "issue.body",
            "issue.html_url",
            "issue.state",
            "issue.user.login",
            "issue.author_association",
            "label.name",
        ],
        label: Some("label.name"),
        author_association: Some("issue.author_association"),
        human: true,
        ..NONE
    },
    Event {
        name: "push",
        actions: &[],
        fields: fields![
            "ref",
            "before",
            "after",
            "head_commit.id",
            "head_commit.message",
            "pusher.name"
        ],
        head_branch: Some("ref"),
        ..NONE
    },
];

/// The event named `name`.
#[must_use]
pub fn event(name: &str) -> Option<&'static Event> {
    EVENTS.iter().find(|e| e.name == name)
}

/// Fields every event carries.
#[must_use]
pub fn common_fields() -> &'static [&'static str] {
    &REPO
}

/// Author associations accepted for comments and reviews by default.
pub const TRUSTED: &[&str] = &["OWNER", "MEMBER", "COLLABORATOR"];
