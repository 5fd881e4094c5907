//! The spec's JSON Schema: committed, current, and in step with the loader;
//! and the upstream schema check itself rejects what it should.

mod common;

use orchctl::schemas::{SchemaSet, Verdict};

#[test]
fn committed_spec_schema_is_current() {
    let path = common::root()
        .join("schemas")
        .join(orchctl::schema::FILE_NAME);
    let committed =
        std::fs::read_to_string(&path).expect("schemas/orchctl.schema.json is committed");
    assert!(
        committed == orchctl::schema::schema_json(),
        "schemas/orchctl.schema.json is stale; run `cargo run -- schema`"
    );
}

#[test]
fn spec_schema_sections_match_the_loader() {
    let schema: serde_json::Value = serde_json::from_str(&orchctl::schema::schema_json()).unwrap();
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown sections are errors"
    );
    let mut properties: Vec<&str> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    properties.sort_unstable();
    let mut sections = orchctl::spec::SECTIONS.to_vec();
    sections.sort_unstable();
    assert_eq!(properties, sections);
}

#[test]
fn reference_spec_files_validate_against_the_spec_schema() {
    let schema: serde_json::Value = serde_json::from_str(&orchctl::schema::schema_json()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let dir = common::root().join("pipelines");
    let mut checked = 0;
    for (rel, bytes) in common::snapshot_dir(&dir) {
        if !rel.ends_with(".yaml") {
            continue;
        }
        let value = common::yaml_to_json(std::str::from_utf8(&bytes).unwrap());
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{rel}: {errors:?}");
        checked += 1;
    }
    assert!(checked >= 5);
}

#[test]
fn strict_schemas_reject_unknown_fields_and_bad_types() {
    let dir = common::schemas_dir();
    let compiled = common::compile(&common::root().join("pipelines"));
    let delivery = common::yaml_to_json(&compiled.tree["workflowtemplates/delivery.yaml"]);
    for folder in ["strict", "argo-workflows-v3.7.18/strict"] {
        let mut set = SchemaSet::open(&dir.join(folder)).unwrap();
        assert_eq!(set.validate(&delivery), Verdict::Valid);

        let mut unknown = delivery.clone();
        unknown["spec"]["templates"][0]["dag"]["tasks"][0]["retries"] = serde_json::json!(3);
        match set.validate(&unknown) {
            Verdict::Invalid(errors) => assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with("/spec/templates/0/dag/tasks/0")),
                "{errors:?}"
            ),
            other => panic!("{folder}: an unknown field must be rejected, got {other:?}"),
        }

        let mut singular = delivery.clone();
        singular["spec"]["activeDeadlineSeconds"] = serde_json::json!("43200");
        assert!(
            matches!(set.validate(&singular), Verdict::Invalid(_)),
            "{folder}: a string deadline must be rejected"
        );
    }
}
