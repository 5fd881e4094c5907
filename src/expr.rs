//! References inside spec strings: `${params.NAME}`,
//! `${steps.STEP.outputs.NAME}`, `${steps.STEP.status}` and
//! `${workflow.name|namespace|status|uid}`.
//!
//! Spec authors never write Argo's `{{…}}` themselves: orchctl parses these
//! references, checks that each resolves, and writes the Argo form that fits
//! where the string lands. A literal `{{` in a spec string is an error, so
//! nothing reaches Argo's template engine by accident.

use std::fmt::Write as _;

/// A parsed string: literal text and references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Text(String),
    Ref(Ref),
}

/// One reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ref {
    Param(String),
    StepOutput { step: String, output: String },
    StepStatus(String),
    Workflow(WorkflowVar),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WorkflowVar {
    Name,
    Namespace,
    Status,
    Uid,
}

/// Why a string does not parse, and where (character offset in the string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub offset: usize,
    pub len: usize,
    pub message: String,
    pub help: String,
}

const FORMS: &str = "use `${params.NAME}`, `${steps.STEP.outputs.NAME}`, `${steps.STEP.status}` or `${workflow.name}`";

impl Template {
    /// Parse `text`. `$${` is a literal `${`.
    ///
    /// # Errors
    /// An unterminated or unknown reference, or a raw `{{`.
    pub fn parse(text: &str) -> Result<Self, ExprError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == '{' && chars.get(i + 1) == Some(&'{') {
                return Err(ExprError {
                    offset: i,
                    len: 2,
                    message: "`{{` is Argo's template syntax and is not allowed in a spec".into(),
                    help: format!("{FORMS}; orchctl writes the Argo form"),
                });
            }
            if chars[i] == '$' && chars.get(i + 1) == Some(&'$') && chars.get(i + 2) == Some(&'{') {
                literal.push_str("${");
                i += 3;
                continue;
            }
            if chars[i] == '$' && chars.get(i + 1) == Some(&'{') {
                let Some(close) = chars[i + 2..].iter().position(|c| *c == '}') else {
                    return Err(ExprError {
                        offset: i,
                        len: chars.len() - i,
                        message: "unterminated `${`".into(),
                        help: FORMS.into(),
                    });
                };
                let inner: String = chars[i + 2..i + 2 + close].iter().collect();
                let reference = parse_ref(inner.trim()).ok_or_else(|| ExprError {
                    offset: i,
                    len: close + 3,
                    message: format!("unknown reference `${{{inner}}}`"),
                    help: FORMS.into(),
                })?;
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Ref(reference));
                i += close + 3;
                continue;
            }
            literal.push(chars[i]);
            i += 1;
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self { parts })
    }

    pub fn refs(&self) -> impl Iterator<Item = &Ref> {
        self.parts.iter().filter_map(|p| match p {
            Part::Ref(r) => Some(r),
            Part::Text(_) => None,
        })
    }

    /// The text if the template holds no reference.
    #[must_use]
    pub fn as_literal(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Ref(_) => return None,
            }
        }
        Some(out)
    }

    /// The Argo string, with each reference written by `write`.
    pub fn render(&self, write: impl Fn(&Ref) -> String) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Ref(r) => {
                    let _ = write!(out, "{}", write(r));
                }
            }
        }
        out
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn parse_ref(inner: &str) -> Option<Ref> {
    let segs: Vec<&str> = inner.split('.').collect();
    match segs.as_slice() {
        ["params", name] if is_ident(name) => Some(Ref::Param((*name).to_string())),
        ["steps", step, "outputs", output] if is_ident(step) && is_ident(output) => {
            Some(Ref::StepOutput {
                step: (*step).to_string(),
                output: (*output).to_string(),
            })
        }
        ["steps", step, "status"] if is_ident(step) => Some(Ref::StepStatus((*step).to_string())),
        ["workflow", "name"] => Some(Ref::Workflow(WorkflowVar::Name)),
        ["workflow", "namespace"] => Some(Ref::Workflow(WorkflowVar::Namespace)),
        ["workflow", "status"] => Some(Ref::Workflow(WorkflowVar::Status)),
        ["workflow", "uid"] => Some(Ref::Workflow(WorkflowVar::Uid)),
        _ => None,
    }
}

impl WorkflowVar {
    #[must_use]
    pub fn argo(self) -> &'static str {
        match self {
            Self::Name => "{{workflow.name}}",
            Self::Namespace => "{{workflow.namespace}}",
            Self::Status => "{{workflow.status}}",
            Self::Uid => "{{workflow.uid}}",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let t =
            Template::parse("pr ${steps.author.outputs.pr-url} on ${params.repository}").unwrap();
        assert_eq!(
            t.refs().cloned().collect::<Vec<_>>(),
            vec![
                Ref::StepOutput {
                    step: "author".into(),
                    output: "pr-url".into()
                },
                Ref::Param("repository".into())
            ]
        );
        assert_eq!(
            Template::parse("a $${b}").unwrap().as_literal().unwrap(),
            "a ${b}"
        );
    }

    #[test]
    fn rejects_argo_syntax_and_garbage() {
        let e = Template::parse("x {{inputs.parameters.a}}").unwrap_err();
        assert_eq!((e.offset, e.len), (2, 2));
        let e = Template::parse("${params}").unwrap_err();
        assert!(e.message.contains("unknown reference"));
        assert!(Template::parse("${params.a").is_err());
    }
}
