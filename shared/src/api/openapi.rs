//! The OpenAPI 3 document of the questionnaire API, generated from the Rust types so that it cannot drift: request
//! bodies from the questionnaire types in the registry, responses from the receipt, stored-view and problem types.
//! `openapi.json` at the repository root is this document; a test fails when they differ.

use super::response::{Problem, Receipt, StoredView};
use crate::questionnaire::{self, Questionnaire, TypeVisitor};
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

/// Error answers each operation can give, with when.
const SUBMIT_ERRORS: &[(u16, &str)] = &[
    (
        400,
        "Malformed JSON, empty or non-UTF-8 body, or an invalid Idempotency-Key",
    ),
    (404, "Unknown questionnaire kind"),
    (405, "Method not allowed"),
    (409, "The Idempotency-Key was used before with other answers"),
    (413, "The body is larger than the configured limit"),
    (415, "The content type is not JSON"),
    (422, "The answers break rules; every violation is listed"),
    (503, "The store is unavailable; retry with the same Idempotency-Key"),
];
const FETCH_ERRORS: &[(u16, &str)] = &[
    (404, "No submission of this kind with this id"),
    (405, "Method not allowed"),
    (503, "The store is unavailable; retry"),
];

/// Collects each registered kind's schemas: its answers (request body) and its stored view (GET's answer).
struct KindSchemas<'g> {
    generator: &'g mut SchemaGenerator,
    kinds: Vec<(&'static str, Schema, Schema)>,
}

impl TypeVisitor for KindSchemas<'_> {
    fn visit<Q: Questionnaire>(&mut self) {
        let answers = self.generator.subschema_for::<Q>();
        let stored = self.generator.subschema_for::<StoredView<Q>>();
        self.kinds.push((Q::KIND, answers, stored));
    }
}

pub fn document() -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let receipt = generator.subschema_for::<Receipt>();
    let problem = generator.subschema_for::<Problem<'static>>();
    let problem_response = |description: &str| {
        json!({
            "description": description,
            "content": { "application/problem+json": { "schema": problem } }
        })
    };
    let errors = |list: &[(u16, &str)]| -> Map<String, Value> {
        list.iter()
            .map(|(status, why)| (status.to_string(), problem_response(why)))
            .collect()
    };
    let mut kinds = KindSchemas {
        generator: &mut generator,
        kinds: Vec::new(),
    };
    questionnaire::visit_types(&mut kinds);

    let mut paths = Map::new();
    for (name, answers, stored) in kinds.kinds {
        let mut submit_responses = errors(SUBMIT_ERRORS);
        submit_responses.insert(
            "201".into(),
            json!({
                "description": "Stored (or, for a repeated Idempotency-Key with the same answers, stored before)",
                "headers": { "Location": { "schema": { "type": "string" }, "description": "URL of the submission" } },
                "content": { "application/json": { "schema": receipt } }
            }),
        );
        paths.insert(
            format!("/questionnaires/{name}"),
            json!({
                "post": {
                    "operationId": format!("submit-{name}"),
                    "summary": format!("Submit a {name} questionnaire"),
                    "parameters": [{
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": false,
                        "description": "Makes retries safe: the same key and answers return the original response",
                        "schema": { "type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$" }
                    }],
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "schema": answers } }
                    },
                    "responses": submit_responses
                }
            }),
        );
        let mut fetch_responses = errors(FETCH_ERRORS);
        fetch_responses.insert(
            "200".into(),
            json!({
                "description": "The stored submission",
                "content": { "application/json": { "schema": stored } }
            }),
        );
        paths.insert(
            format!("/questionnaires/{name}/{{id}}"),
            json!({
                "get": {
                    "operationId": format!("get-{name}"),
                    "summary": format!("Read a stored {name} submission"),
                    "parameters": [{
                        "name": "id",
                        "in": "path",
                        "required": true,
                        "description": "The submission id (a ULID)",
                        "schema": { "type": "string" }
                    }],
                    "responses": fetch_responses
                }
            }),
        );
    }

    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "clinical-ingest questionnaire API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Typed patient questionnaire submissions (ePRO). Every kind is a Rust type; every violation \
                            is reported with a JSON pointer, a stable code and a message."
        },
        "paths": paths,
        "components": { "schemas": generator.take_definitions(true) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.json")
    }

    /// Regenerate with `UPDATE_OPENAPI=1 cargo test -p shared openapi`.
    #[test]
    fn committed_openapi_json_matches_the_types() {
        let generated = format!("{}\n", serde_json::to_string_pretty(&document()).unwrap());
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(committed_path(), &generated).unwrap();
        }
        let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
        assert!(
            committed == generated,
            "openapi.json differs from the types; regenerate it with UPDATE_OPENAPI=1 cargo test -p shared openapi"
        );
    }

    #[test]
    fn every_registered_kind_has_its_operations_and_error_answers() {
        let doc = document();
        for name in questionnaire::names() {
            let post = &doc["paths"][format!("/questionnaires/{name}")]["post"];
            for status in ["201", "400", "404", "409", "413", "415", "422", "503"] {
                assert!(post["responses"][status].is_object(), "{name} POST lacks {status}");
            }
            assert!(doc["paths"][format!("/questionnaires/{name}/{{id}}")]["get"]["responses"]["200"].is_object());
        }
        let codes: Vec<&str> = doc["components"]["schemas"]["ViolationCode"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|variant| variant["enum"][0].as_str().unwrap())
            .collect();
        assert_eq!(
            codes,
            [
                "missing",
                "wrong_type",
                "unknown_field",
                "out_of_range",
                "too_short",
                "too_long",
                "too_many_items",
                "control_character"
            ],
            "the API promises only the codes it can return"
        );
        let intake = &doc["components"]["schemas"]["Intake"];
        assert_eq!(intake["additionalProperties"], false);
        assert_eq!(intake["properties"]["age"]["minimum"], 1);
        assert_eq!(intake["properties"]["age"]["maximum"], 150);
    }
}
