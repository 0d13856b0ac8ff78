//! The SARIF 2.1.0 schema the findings of `lint` and `audit` are validated against.

use serde_json::Value;

use super::repo;

/// The official schema's `language` patterns (of `run` and `toolComponent`) have a stray `]`: a strict ECMA-262 regex
/// check (jsonschema checks the schema against the draft-07 meta-schema, `format: regex`)
/// refuses it. It is replaced, in memory only, by what it evidently means; winkube never
/// writes `language`, so nothing the tests check depends on it.
const LANGUAGE_PATTERN: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";

pub fn sarif_validator() -> jsonschema::Validator {
    let mut schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("crates/cli/tests/data/sarif-schema-2.1.0.json"))
            .unwrap(),
    )
    .unwrap();
    for definition in ["run", "toolComponent"] {
        let language = schema
            .pointer_mut(&format!(
                "/definitions/{definition}/properties/language/pattern"
            ))
            .unwrap();
        assert_eq!(language, LANGUAGE_PATTERN, "the schema file changed");
        *language = Value::from("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
    }
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

pub fn schema_errors(v: &jsonschema::Validator, log: &Value) -> Vec<String> {
    v.iter_errors(log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}
