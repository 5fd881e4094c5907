//! References inside spec strings: `${params.NAME}`,
//! `${steps.STEP.outputs.NAME}`, `${steps.STEP.status}` and
//! `${workflow.name|namespace|status|uid}`.
//!
//! Spec authors never write Argo's `{{…}}` themselves: orchctl parses these
//! references, checks that each resolves, and writes the Argo form that fits
//! where the string lands. A literal `{{` in a spec string is an error, so
//! nothing reaches Argo's template engine by accident.

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
        // The delimiters are ASCII, so the text is scanned byte by byte and
        // sliced only next to them; messages count characters.
        let chars_to = |i: usize| text[..i].chars().count();
        let bytes = text.as_bytes();
        let mut parts = Vec::new();
        let mut literal = String::new();
        // Where the literal text not yet in `literal` starts.
        let mut from = 0;
        let mut i = 0;
        while i < bytes.len() {
            let next = |k: usize| bytes.get(i + k).copied();
            match bytes[i] {
                b'{' if next(1) == Some(b'{') => {
                    return Err(ExprError {
                        offset: chars_to(i),
                        len: 2,
                        message: "`{{` is Argo's template syntax and is not allowed in a spec"
                            .into(),
                        help: format!("{FORMS}; orchctl writes the Argo form"),
                    });
                }
                b'$' if next(1) == Some(b'$') && next(2) == Some(b'{') => {
                    literal.push_str(&text[from..i]);
                    literal.push_str("${");
                    i += 3;
                    from = i;
                }
                b'$' if next(1) == Some(b'{') => {
                    let Some(close) = bytes[i + 2..].iter().position(|&b| b == b'}') else {
                        return Err(ExprError {
                            offset: chars_to(i),
                            len: text[i..].chars().count(),
                            message: "unterminated `${`".into(),
                            help: FORMS.into(),
                        });
                    };
                    let inner = &text[i + 2..i + 2 + close];
                    let reference = parse_ref(inner.trim()).ok_or_else(|| ExprError {
                        offset: chars_to(i),
                        len: inner.chars().count() + 3,
                        message: format!("unknown reference `${{{inner}}}`"),
                        help: FORMS.into(),
                    })?;
                    literal.push_str(&text[from..i]);
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Ref(reference));
                    i += close + 3;
                    from = i;
                }
                _ => i += 1,
            }
        }
        literal.push_str(&text[from..]);
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
                Part::Ref(r) => out.push_str(&write(r)),
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

    #[test]
    fn splits_text_and_references_exactly() {
        let text = |t: &str| Part::Text(t.into());
        let param = |p: &str| Part::Ref(Ref::Param(p.into()));
        let parts = |s: &str| Template::parse(s).unwrap().parts;
        assert_eq!(parts(""), vec![]);
        assert_eq!(parts("plain"), vec![text("plain")]);
        assert_eq!(parts("${params.a}"), vec![param("a")]);
        assert_eq!(
            parts("a${params.b}c$${d}e${ params.f }"),
            vec![text("a"), param("b"), text("c${d}e"), param("f")]
        );
        assert_eq!(parts("$$${params.a}$"), vec![text("$${params.a}$")]);
        assert_eq!(
            parts("é${params.a}ü"),
            vec![text("é"), param("a"), text("ü")]
        );
    }

    #[test]
    fn error_offsets_count_characters() {
        let e = Template::parse("héllo {{x}}").unwrap_err();
        assert_eq!((e.offset, e.len), (6, 2));
        let e = Template::parse("ünï ${params.ä}").unwrap_err();
        assert_eq!((e.offset, e.len), (4, 14 - 4 + 1));
        assert_eq!(e.message, "unknown reference `${params.ä}`");
        let e = Template::parse("ü ${params.a").unwrap_err();
        assert_eq!((e.offset, e.len), (2, 10));
        assert_eq!(e.message, "unterminated `${`");
    }
}
