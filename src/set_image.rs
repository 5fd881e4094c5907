//! `orchctl set-image`: bump an image declared under `images`, changing
//! nothing in the spec file but the bytes of that one reference.
//!
//! Accepted forms, as `kustomize edit set image` takes them:
//! `NAME=REGISTRY/REPO:TAG[@DIGEST]` (a new reference, possibly a new name),
//! `NAME=REPO@DIGEST`, `NAME=TAG` (a new tag for the same repository),
//! `NAME=@DIGEST` (pin the current tag by digest), and `NAME:TAG` /
//! `NAME@DIGEST` without `=`.

use crate::check::image_problem;
use crate::diagnostic::{Code, Diagnostic, suggestion};
use crate::load::Loaded;
use crate::source::{Span, byte_offset};
use crate::yaml::Seg;

/// What to set one image to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub name: String,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A whole new reference.
    Reference(String),
    /// A new tag for the same repository (any digest is dropped).
    Tag(String),
    /// A digest for the same repository and tag.
    Digest(String),
}

/// One edit of a spec file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub name: String,
    /// The spec file as shown in messages, and relative to `pipelines/`.
    pub display: String,
    pub relative: String,
    pub line: usize,
    pub old: String,
    pub new: String,
    /// The whole file after the edit.
    pub text: String,
}

impl Edit {
    #[must_use]
    pub fn changed(&self) -> bool {
        self.old != self.new
    }
}

/// Parse one command-line argument.
///
/// # Errors
/// A diagnostic for an argument of no accepted form.
pub fn parse_request(arg: &str) -> Result<Request, Box<Diagnostic>> {
    let bad = |why: &str| {
        Box::new(
            Diagnostic::error(Code::InvalidImage, format!("cannot read `{arg}`: {why}")).help(
                "write `NAME=REGISTRY/REPO:TAG`, `NAME=TAG`, `NAME=REPO@sha256:…` or `NAME:TAG`",
            ),
        )
    };
    if let Some((name, value)) = arg.split_once('=') {
        if name.is_empty() || value.is_empty() {
            return Err(bad("a name and a value are needed"));
        }
        let change = if let Some(digest) = value.strip_prefix('@') {
            Change::Digest(digest.to_string())
        } else if value.contains(['/', ':', '@']) {
            Change::Reference(value.to_string())
        } else {
            Change::Tag(value.to_string())
        };
        return Ok(Request {
            name: name.to_string(),
            change,
        });
    }
    if let Some((name, digest)) = arg.split_once('@') {
        return Ok(Request {
            name: name.to_string(),
            change: Change::Digest(digest.to_string()),
        });
    }
    if let Some((name, tag)) = arg.rsplit_once(':')
        && !name.contains('/')
        && !name.is_empty()
        && !tag.is_empty()
    {
        return Ok(Request {
            name: name.to_string(),
            change: Change::Tag(tag.to_string()),
        });
    }
    Err(bad("no `=`, `:` or `@`"))
}

/// The reference an image becomes.
fn apply_change(old: &str, change: &Change) -> String {
    let (repo, tag) = crate::apps::split_image(old);
    let tag = tag.split('@').next().unwrap_or_default();
    match change {
        Change::Reference(r) => r.clone(),
        Change::Tag(t) => format!("{repo}:{t}"),
        Change::Digest(d) if tag.is_empty() => format!("{repo}@{d}"),
        Change::Digest(d) => format!("{repo}:{tag}@{d}"),
    }
}

/// Plan the edit of `request` against a loaded spec.
///
/// # Errors
/// Unknown image name (with the names that exist), an alias, or an invalid
/// resulting reference.
pub fn plan(loaded: &Loaded, request: &Request) -> Result<Edit, Box<Diagnostic>> {
    let Some(old) = loaded.spec.images.get(&request.name) else {
        let names: Vec<&str> = loaded.spec.images.keys().map(String::as_str).collect();
        return Err(Box::new(
            Diagnostic::error(
                Code::UnknownImage,
                format!("no image named `{}` in the spec", request.name),
            )
            .help(suggestion("image", &request.name, names.iter().copied())),
        ));
    };
    let new = apply_change(old, &request.change);
    if let Some(problem) = image_problem(&new) {
        return Err(Box::new(
            Diagnostic::error(
                Code::InvalidImage,
                format!("invalid image reference `{new}`"),
            )
            .help(problem),
        ));
    }
    let file = loaded.origins.images.get(&request.name).copied();
    let path = [Seg::Key("images"), Seg::Key(&request.name)];
    let (Some(file), Some(span)) = (file, loaded.span(file, &path)) else {
        return Err(Box::new(Diagnostic::error(
            Code::Io,
            "the image was not loaded from a file",
        )));
    };
    let source = loaded
        .sources
        .get(file)
        .ok_or_else(|| Box::new(Diagnostic::error(Code::Io, "source file missing")))?;
    let text = &source.text;
    let start = locate(text, span, old).ok_or_else(|| -> Box<Diagnostic> {
        let alias = text[byte_offset(text, span.offset)..].starts_with('*');
        Box::new(if alias {
            Diagnostic::error(
                Code::InvalidImage,
                format!("image `{}` is an alias of another image", request.name),
            )
            .at(Some(span))
            .help("set the image the alias points to (its `&anchor`)")
        } else {
            Diagnostic::error(
                Code::InvalidImage,
                format!(
                    "cannot find the reference of `{}` in its file",
                    request.name
                ),
            )
            .at(Some(span))
            .help("write the image as one scalar: `NAME: registry/repo:tag`")
        })
    })?;
    let mut edited = String::with_capacity(text.len() + new.len());
    edited.push_str(&text[..start]);
    edited.push_str(&new);
    edited.push_str(&text[start + old.len()..]);
    Ok(Edit {
        name: request.name.clone(),
        display: source.display.clone(),
        relative: loaded.sources.relative(file),
        line: span.line,
        old: old.clone(),
        new,
        text: edited,
    })
}

/// The byte offset of the reference `old` written at `span`: the scalar's
/// own text, after any anchor or opening quote, on the same line.
fn locate(text: &str, span: Span, old: &str) -> Option<usize> {
    let from = byte_offset(text, span.offset);
    let line_end = text[from..].find('\n').map_or(text.len(), |i| from + i);
    let region = &text[from..line_end];
    if region.starts_with('*') {
        return None;
    }
    let at = region.find(old)?;
    // The reference must be the whole scalar, not part of a longer word.
    let before = region[..at].chars().last();
    let after = region[at + old.len()..].chars().next();
    let boundary = |c: Option<char>| {
        c.is_none_or(|c| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '}' | '#'))
    };
    (boundary(before) && boundary(after)).then_some(from + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let r = |s: &str| parse_request(s).unwrap().change;
        assert_eq!(
            r("agent=ghcr.io/a/b:1"),
            Change::Reference("ghcr.io/a/b:1".into())
        );
        assert_eq!(r("agent=sha-abc"), Change::Tag("sha-abc".into()));
        assert_eq!(r("agent=@sha256:00"), Change::Digest("sha256:00".into()));
        assert_eq!(r("agent:v2"), Change::Tag("v2".into()));
        assert_eq!(r("agent@sha256:00"), Change::Digest("sha256:00".into()));
        assert!(parse_request("agent").is_err());
        assert!(parse_request("=x").is_err());
    }

    #[test]
    fn changes() {
        assert_eq!(
            apply_change("ghcr.io/a/b:1@sha256:aa", &Change::Tag("2".into())),
            "ghcr.io/a/b:2"
        );
        assert_eq!(
            apply_change("ghcr.io/a/b:1", &Change::Digest("sha256:bb".into())),
            "ghcr.io/a/b:1@sha256:bb"
        );
        assert_eq!(
            apply_change("localhost:5000/b:1", &Change::Tag("2".into())),
            "localhost:5000/b:2"
        );
    }
}
