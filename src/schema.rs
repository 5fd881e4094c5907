//! The JSON Schema of the spec format, generated from [`crate::spec::Spec`]
//! so editors validate and complete `pipelines/*.yaml`.

/// File name of the schema under `schemas/`.
pub const FILE_NAME: &str = "orchctl.schema.json";

/// The schema as pretty JSON with a trailing newline.
#[must_use]
pub fn schema_json() -> String {
    let schema = schemars::schema_for!(crate::spec::Spec);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
