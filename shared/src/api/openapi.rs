//! The OpenAPI 3.1 document of the questionnaire API, generated from the Rust types so that it cannot drift: request
//! bodies from the questionnaire types in the registry, responses from the receipt, stored-view and problem types,
//! security from the scope configuration's defaults. `openapi.json` at the repository root is this document; a test
//! fails when they differ.
//!
//! 3.1 rather than 3.0: it lets a bearer-token requirement name the scopes an operation needs.

use super::request::SCHEMA_VERSION;
use super::response::{Problem, Receipt, StoredView};
use crate::config::Scopes;
use crate::questionnaire::{self, Questionnaire, TypeVisitor, VersionPolicy};
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
        "The answers break the rules of their version (validation_failed: the violations are listed, at most 100, \
         with a count of the rest); or schemaVersion names a retired or unknown version \
         (unsupported_schema_version), or none is named and the caller's studies are on different versions \
         (schema_version_required), both with liveVersions",
    ),
    (503, "The store is unavailable; retry with the same Idempotency-Key"),
];
const FETCH_ERRORS: &[(u16, &str)] = &[
    (400, "shape is neither stored nor latest"),
    (
        404,
        "No submission of this kind with this id that the caller may read (another patient's answers the same)",
    ),
    (405, "Method not allowed"),
    (
        409,
        "shape=latest, and the answers have no reading in a later version of the form (upgrade_impossible)",
    ),
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

/// Collects each registered version's schemas: its answers and its stored view (GET's answer).
struct KindSchemas<'g> {
    generator: &'g mut SchemaGenerator,
    /// Kind, version, answers, stored view; in registry order.
    versions: Vec<(&'static str, u32, Schema, Schema)>,
}

impl TypeVisitor for KindSchemas<'_> {
    fn visit<Q: Questionnaire>(&mut self) {
        let answers = self.generator.subschema_for::<Q>();
        let stored = self.generator.subschema_for::<StoredView<Q>>();
        self.versions.push((Q::KIND, Q::SCHEMA_VERSION, answers, stored));
    }
}

/// The component a `$ref` schema names.
fn component(schema: &Schema) -> Option<&str> {
    schema.get("$ref")?.as_str()?.strip_prefix("#/components/schemas/")
}

/// Pins `schemaVersion` of a component to `version`. `required`: in a submission, whether the member must be sent
/// (every version but the default deployment's current one, which a body without the member is read with).
fn pin_version(definitions: &mut Map<String, Value>, name: &str, version: u32, required: bool) -> Option<()> {
    let schema = definitions.get_mut(name)?.as_object_mut()?;
    let mut member = schema
        .get("properties")?
        .get(SCHEMA_VERSION)
        .cloned()
        .unwrap_or_else(|| {
            json!({
                "description": "The version of the form the answers were given on. It may be left out when it is \
                                the caller's study's current version (by default the oldest live one)"
            })
        });
    member["type"] = json!("integer");
    member["const"] = json!(version);
    for generated in ["format", "minimum"] {
        member.as_object_mut()?.remove(generated);
    }
    schema
        .get_mut("properties")?
        .as_object_mut()?
        .insert(SCHEMA_VERSION.into(), member);
    if required {
        let list = schema.entry("required").or_insert_with(|| json!([]));
        list.as_array_mut()?.insert(0, json!(SCHEMA_VERSION));
    }
    Some(())
}

/// One schema of several alternatives, or the one itself.
fn one_of(schemas: Vec<Value>) -> Value {
    match <[Value; 1]>::try_from(schemas) {
        Ok([one]) => one,
        Err(many) => json!({ "oneOf": many }),
    }
}

/// Per kind: the request body (each version's answers with its `schemaVersion`) and GET's answer (each version's
/// stored view), as components of their own, discriminated by `schemaVersion`.
fn version_schemas(generator: &mut SchemaGenerator) -> Vec<(&'static str, Value, Value)> {
    let mut kinds = KindSchemas {
        generator,
        versions: Vec::new(),
    };
    questionnaire::visit_types(&mut kinds);
    let KindSchemas { generator, versions } = kinds;
    let policy = VersionPolicy::default();
    let mut out: Vec<(&'static str, Vec<Value>, Vec<Value>)> = Vec::new();
    for (kind, version, answers, stored) in versions {
        let default = questionnaire::find(kind).map(|k| policy.current(k, None));
        let definitions = generator.definitions_mut();
        let (Some(answers), Some(stored)) = (component(&answers), component(&stored)) else {
            continue;
        };
        let submission = format!("{answers}Submission");
        if let Some(schema) = definitions.get(answers).cloned() {
            definitions.insert(submission.clone(), schema);
        }
        pin_version(definitions, &submission, version, default != Some(version));
        pin_version(definitions, stored, version, false);
        let body = json!({ "$ref": format!("#/components/schemas/{submission}") });
        let view = json!({ "$ref": format!("#/components/schemas/{stored}") });
        match out.last_mut() {
            Some((last, bodies, views)) if *last == kind => {
                bodies.push(body);
                views.push(view);
            }
            _ => out.push((kind, vec![body], vec![view])),
        }
    }
    out.into_iter()
        .map(|(kind, bodies, views)| (kind, one_of(bodies), one_of(views)))
        .collect()
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
    let mut paths = Map::new();
    for (name, answers, stored) in version_schemas(&mut generator) {
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
                                    imported ones included. The answers have the type of the version they were \
                                    given on (schemaVersion), unless shape=latest asks for the latest version's.",
                    "security": [{ BEARER: [scopes.read] }],
                    "parameters": [{
                        "name": "id",
                        "in": "path",
                        "required": true,
                        "description": "The submission id (a ULID)",
                        "schema": { "type": "string" }
                    }, {
                        "name": "shape",
                        "in": "query",
                        "required": false,
                        "description": "stored (the default): the answers as given, on the version of the form the \
                                        patient saw. latest: in the shape of the kind's latest version, through each \
                                        version's upgrade (upgradedFrom then names the version answered; 409 when \
                                        the answers have no reading in a later version)",
                        "schema": { "type": "string", "enum": ["stored", "latest"], "default": "stored" }
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
                "invalid_format",
                "unknown_option"
            ],
            "the API promises only the codes it can return"
        );
        let schemas = &doc["components"]["schemas"];
        let intake = &schemas["IntakeV1"];
        assert_eq!(intake["additionalProperties"], false);
        assert_eq!(intake["properties"]["age"]["minimum"], 1);
        assert_eq!(intake["properties"]["age"]["maximum"], 150);
    }

    #[test]
    fn each_version_is_a_schema_of_its_own_discriminated_by_schema_version() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let intake = &doc["paths"]["/questionnaires/intake"]["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(
            intake["schema"],
            json!({"oneOf": [
                {"$ref": "#/components/schemas/IntakeV1Submission"},
                {"$ref": "#/components/schemas/IntakeV2Submission"}
            ]})
        );
        let (v1, v2) = (&schemas["IntakeV1Submission"], &schemas["IntakeV2Submission"]);
        assert_eq!(v1["properties"]["schemaVersion"]["const"], 1);
        assert_eq!(v2["properties"]["schemaVersion"]["const"], 2);
        // A body without the member is read with the default current version, the oldest: only it may leave it out.
        assert!(!v1["required"].as_array().unwrap().contains(&json!("schemaVersion")));
        assert_eq!(v2["required"][0], "schemaVersion");
        assert_eq!(
            v2["properties"]["smokingStatus"]["$ref"],
            "#/components/schemas/SmokingStatus"
        );
        // The answers' own schemas carry no version: a stored view pins it.
        assert!(schemas["IntakeV2"]["properties"]["schemaVersion"].is_null());
        assert_eq!(schemas["StoredIntakeV1"]["properties"]["schemaVersion"]["const"], 1);
        let get = &doc["paths"]["/questionnaires/intake/{id}"]["get"];
        let ok = &get["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(ok["oneOf"][1]["$ref"], "#/components/schemas/StoredIntakeV2");
        assert_eq!(get["parameters"][1]["schema"]["enum"], json!(["stored", "latest"]));
        // A kind of one version has no alternatives.
        let pain = &doc["paths"]["/questionnaires/daily-pain"]["post"]["requestBody"]["content"]["application/json"];
        assert_eq!(pain["schema"]["$ref"], "#/components/schemas/DailyPainSubmission");
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
