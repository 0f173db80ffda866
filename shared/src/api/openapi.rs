//! The OpenAPI 3.1 document of the questionnaire API, generated from the Rust types so that it cannot drift: request
//! bodies from the questionnaire types in the registry, responses from the receipt, stored-view and problem types,
//! security from the scope configuration's defaults. `openapi.json` at the repository root is this document; a test
//! fails when they differ.
//!
//! 3.1 rather than 3.0: it lets a bearer-token requirement name the scopes an operation needs.

use super::response::{Problem, Receipt, StoredView};
use crate::config::Scopes;
use crate::questionnaire::{self, Questionnaire, TypeVisitor};
use schemars::generate::SchemaSettings;
use schemars::{Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

/// The security scheme's name in the document.
const BEARER: &str = "bearerJwt";

/// Answers the function gives, with when.
const SUBMIT_ERRORS: &[(u16, &str)] = &[
    (
        400,
        "Malformed JSON (a member named twice included), an empty or non-UTF-8 body, or an invalid Idempotency-Key",
    ),
    (404, "Unknown questionnaire kind"),
    (405, "Method not allowed"),
    (409, "The Idempotency-Key was used before with other answers"),
    (413, "The body is larger than the configured limit"),
    (415, "The content type is not JSON"),
    (
        422,
        "The answers break rules; the violations are listed (at most 100, with a count of the rest)",
    ),
    (503, "The store is unavailable; retry with the same Idempotency-Key"),
];
const FETCH_ERRORS: &[(u16, &str)] = &[
    (
        404,
        "No submission of this kind with this id that the caller may read (another patient's answers the same)",
    ),
    (405, "Method not allowed"),
    (
        503,
        "The store or the audit trail is unavailable (a read that cannot be recorded is not answered); retry",
    ),
];
/// Answers that API Gateway may give before the function runs, in its own format (as well as the function's).
const GATEWAY_ANSWERS: &[(u16, &str)] = &[
    (
        401,
        "No valid bearer token (API Gateway's JWT authorizer, or the function when no identity reaches it)",
    ),
    (403, "The token lacks the operation's scope"),
    (404, "No route matches the path"),
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
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = settings.into_generator();
    let receipt = generator.subschema_for::<Receipt>();
    let problem = generator.subschema_for::<Problem<'static>>();
    let gateway_message = json!({
        "type": "object",
        "properties": { "message": { "type": "string" } },
        "required": ["message"],
        "description": "API Gateway's own answer, given before the function runs"
    });
    let responses = |list: &[(u16, &str)]| -> Map<String, Value> {
        let mut out: Map<String, Value> = list
            .iter()
            .map(|(status, why)| {
                let answer = json!({
                    "description": why,
                    "content": { "application/problem+json": { "schema": problem } }
                });
                (status.to_string(), answer)
            })
            .collect();
        for (status, why) in GATEWAY_ANSWERS {
            let answer = out
                .entry(status.to_string())
                .or_insert_with(|| json!({ "description": why, "content": {} }));
            answer["content"]["application/problem+json"] = json!({ "schema": problem });
            answer["content"]["application/json"] = json!({ "schema": gateway_message });
        }
        out
    };
    let scopes = Scopes::default();
    let mut kinds = KindSchemas {
        generator: &mut generator,
        kinds: Vec::new(),
    };
    questionnaire::visit_types(&mut kinds);

    let mut paths = Map::new();
    for (name, answers, stored) in kinds.kinds {
        let mut submit_responses = responses(SUBMIT_ERRORS);
        submit_responses.insert(
            "201".into(),
            json!({
                "description": "Stored (or, for a repeated Idempotency-Key with the same answers, stored before)",
                "headers": { "Location": { "schema": { "type": "string" }, "description": "URL of the submission" } },
                "content": { "application/json": { "schema": receipt } },
                "links": {
                    "ReadBack": {
                        "operationId": format!("get-{name}"),
                        "parameters": { "id": "$response.body#/id" },
                        "description": "The submitter reads the submission back by its id"
                    }
                }
            }),
        );
        paths.insert(
            format!("/questionnaires/{name}"),
            json!({
                "post": {
                    "operationId": format!("submit-{name}"),
                    "summary": format!("Submit a {name} questionnaire"),
                    "security": [{ BEARER: [scopes.submit] }],
                    "parameters": [{
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": false,
                        "description": "Makes retries safe: the same key and answers from the same caller return \
                                        the original response",
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
        let mut fetch_responses = responses(FETCH_ERRORS);
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
                    "description": "Patients read what they submitted themselves; staff read every submission, \
                                    imported ones included.",
                    "security": [{ BEARER: [scopes.read] }],
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

    super::imports::openapi::add_paths(&mut paths, &mut generator, &responses);

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "clinical-ingest API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Typed patient questionnaire submissions (ePRO), and clinical-trial CSV imports that a \
                            site starts and follows (an upload URL for exactly the announced file, progress, \
                            reports). Every kind is a Rust type; every violation is reported with a JSON pointer, \
                            a stable code and a message. Answers carry `Cache-Control: no-store`."
        },
        "security": [{ BEARER: [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": format!(
                        "An access token of the clinic's identity provider, verified by API Gateway's JWT \
                         authorizer. Scopes (what the app may do; configurable): {} to submit, {} to read. Who the \
                         person is comes from a per-user group claim (default cognito:groups): a patient reads the \
                         submissions they made, a member of the staff group (default staff) reads every submission. \
                         Imports: {} to start one, {} (or the upload scope) to follow; a person follows the imports \
                         of the study sites of their site:<study>/<site> groups, staff every one.",
                        scopes.submit,
                        scopes.read,
                        super::imports::openapi::UPLOAD_SCOPE,
                        super::imports::openapi::READ_SCOPE
                    )
                }
            },
            "schemas": generator.take_definitions(true)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed_path() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.json")
    }

    /// Regenerate with `UPDATE_OPENAPI=1 cargo test -p shared openapi`: that run rewrites the file and still fails
    /// (so a run with the variable set by accident cannot pass over a drift); the next run passes.
    /// Every character beyond ASCII as a JSON escape (surrogate pairs above U+FFFF): the text patterns hold
    /// characters nobody sees (tags, variation selectors), which a reader of the file should see as escapes. Outside
    /// strings JSON is ASCII, so escaping the whole text escapes only what is inside them.
    fn escape_beyond_ascii(json: &str) -> String {
        let mut out = String::with_capacity(json.len());
        for c in json.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        out
    }

    #[test]
    fn committed_openapi_json_matches_the_types() {
        let pretty = serde_json::to_string_pretty(&document()).unwrap();
        let generated = format!("{}\n", escape_beyond_ascii(&pretty));
        let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
        if committed != generated && std::env::var_os("UPDATE_OPENAPI").is_some() {
            std::fs::write(committed_path(), &generated).unwrap();
            panic!("openapi.json was out of date and is now regenerated; review and commit it");
        }
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
            for status in ["201", "400", "401", "403", "404", "409", "413", "415", "422", "503"] {
                assert!(post["responses"][status].is_object(), "{name} POST lacks {status}");
            }
            assert_eq!(post["security"], json!([{"bearerJwt": ["questionnaires/submit"]}]));
            assert_eq!(
                post["responses"]["201"]["links"]["ReadBack"]["operationId"],
                format!("get-{name}")
            );
            let get = &doc["paths"][format!("/questionnaires/{name}/{{id}}")]["get"];
            for status in ["200", "401", "403", "404"] {
                assert!(get["responses"][status].is_object(), "{name} GET lacks {status}");
            }
            assert_eq!(get["security"], json!([{"bearerJwt": ["questionnaires/read"]}]));
        }
        let codes: Vec<&str> = doc["components"]["schemas"]["ViolationCode"]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|variant| variant["const"].as_str().unwrap())
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
                "control_character",
                "forbidden_character",
                "invalid_format"
            ],
            "the API promises only the codes it can return"
        );
        let intake = &doc["components"]["schemas"]["Intake"];
        assert_eq!(intake["additionalProperties"], false);
        assert_eq!(intake["properties"]["age"]["minimum"], 1);
        assert_eq!(intake["properties"]["age"]["maximum"], 150);
    }

    #[test]
    fn the_import_routes_have_their_operations_scopes_answers_and_the_link_from_announcing_to_following() {
        let doc = document();
        let imports = &doc["paths"]["/imports/{id}"];
        let announce = &imports["post"];
        assert_eq!(announce["security"], json!([{"bearerJwt": ["imports/upload"]}]));
        for status in ["201", "400", "401", "403", "404", "413", "415", "422", "503"] {
            assert!(announce["responses"][status].is_object(), "POST lacks {status}");
        }
        let link = &announce["responses"]["201"]["links"]["FollowImport"];
        assert_eq!(link["operationId"], "get-import");
        assert_eq!(link["parameters"]["id"], "$response.body#/importId");
        let follow = json!([{"bearerJwt": ["imports/upload"]}, {"bearerJwt": ["imports/read"]}]);
        assert_eq!(imports["get"]["operationId"], "get-import");
        assert_eq!(imports["get"]["security"], follow);
        for status in ["200", "401", "403", "404", "503"] {
            assert!(imports["get"]["responses"][status].is_object(), "GET lacks {status}");
        }
        let list = &doc["paths"]["/imports"]["get"];
        assert_eq!(list["security"], follow);
        for status in ["200", "400", "401", "403", "503"] {
            assert!(list["responses"][status].is_object(), "list lacks {status}");
        }
        let announcement = &doc["components"]["schemas"]["Announcement"];
        assert_eq!(announcement["additionalProperties"], false);
        assert_eq!(
            announcement["required"],
            json!(["study", "site", "fileName", "sizeBytes", "sha256"])
        );
    }
}
