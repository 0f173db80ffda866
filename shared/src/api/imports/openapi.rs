//! The import routes in the OpenAPI document (`super::super::openapi`), from the same types the routes answer with.

use super::body::{Announced, Announcement, ImportList, ImportView, NAME_PATTERN};
use crate::import::upload::UPLOAD_DATASETS;
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

/// The default scopes (`ImportApiConfig`): what the document names.
pub const UPLOAD_SCOPE: &str = "imports/upload";
pub const READ_SCOPE: &str = "imports/read";

const ANNOUNCE_ERRORS: &[(u16, &str)] = &[
    (
        400,
        "Malformed JSON (a member named twice included), or an empty or non-UTF-8 body",
    ),
    (
        403,
        "The token lacks the upload scope, or the person holds no grant for the study and site named",
    ),
    (404, "Unknown dataset"),
    (405, "Method not allowed"),
    (413, "The body is larger than the limit"),
    (415, "The content type is not JSON"),
    (
        422,
        "The announcement breaks rules (a size over the import limit included); the violations are listed",
    ),
    (503, "The job store is unavailable; retry"),
];
const STATUS_ERRORS: &[(u16, &str)] = &[
    (
        404,
        "No import with this id that the caller may follow (another site's answers the same)",
    ),
    (405, "Method not allowed"),
    (
        503,
        "The job store or the audit trail is unavailable (a read that cannot be recorded is not answered); retry",
    ),
];
const LIST_ERRORS: &[(u16, &str)] = &[
    (
        400,
        "study or site missing, limit out of range, a parameter given twice, or a cursor this API did not give",
    ),
    (
        403,
        "The token lacks the scope, or the person may not follow this site's imports",
    ),
    (405, "Method not allowed"),
    (503, "The job store is unavailable; retry"),
];

/// The error answers of an operation, as the document writes them (with API Gateway's own beside).
pub type Answers<'a> = &'a dyn Fn(&[(u16, &str)]) -> Map<String, Value>;

/// Adds the import paths.
pub fn add_paths(paths: &mut Map<String, Value>, generator: &mut SchemaGenerator, responses: Answers<'_>) {
    let announcement = generator.subschema_for::<Announcement>();
    let announced = generator.subschema_for::<Announced>();
    let view = generator.subschema_for::<ImportView>();
    let list = generator.subschema_for::<ImportList>();
    let follow = [UPLOAD_SCOPE, READ_SCOPE];

    let mut announce_responses = responses(ANNOUNCE_ERRORS);
    announce_responses.insert(
        "201".into(),
        json!({
            "description": "Recorded: upload the file with the signed request (method, URL and every header) \
                            before it expires",
            "headers": { "Location": { "schema": { "type": "string" }, "description": "URL of the import" } },
            "content": { "application/json": { "schema": announced } },
            "links": {
                "FollowImport": {
                    "operationId": "get-import",
                    "parameters": { "id": "$response.body#/importId" },
                    "description": "The coordinator follows the import by its id"
                }
            }
        }),
    );
    let mut status_responses = responses(STATUS_ERRORS);
    status_responses.insert(
        "200".into(),
        json!({
            "description": "The import, its progress and, once it has ended, short-lived links to its reports",
            "content": { "application/json": { "schema": view } }
        }),
    );
    let id = |description: &str, schema: Value| json!({ "name": "id", "in": "path", "required": true, "description": description, "schema": schema });
    // One path for both: `POST /imports/{dataset}` and `GET /imports/{importId}` share their place in the URL.
    paths.insert(
        "/imports/{id}".into(),
        json!({
            "post": {
                "operationId": "announce-import",
                "summary": "Announce a file and get the URL that uploads exactly it",
                "description": "The person must hold the site grant (site:<study>/<site>) of the study and site \
                                named. The server chooses the object key; the signed URL binds the size, the \
                                content type (text/csv) and the SHA-256. The import starts when the file arrives.",
                "security": [{ "bearerJwt": [UPLOAD_SCOPE] }],
                "parameters": [id(
                    "The dataset of the file",
                    json!({ "type": "string", "enum": UPLOAD_DATASETS }),
                )],
                "requestBody": {
                    "required": true,
                    "content": { "application/json": { "schema": announcement } }
                },
                "responses": announce_responses
            },
            "get": {
                "operationId": "get-import",
                "summary": "Follow an import",
                "description": "For people of the import's study and site, and staff.",
                "security": [{ "bearerJwt": [follow[0]] }, { "bearerJwt": [follow[1]] }],
                "parameters": [id("The import id (a ULID)", json!({ "type": "string" }))],
                "responses": status_responses
            }
        }),
    );
    let mut list_responses = responses(LIST_ERRORS);
    list_responses.insert(
        "200".into(),
        json!({
            "description": "The site's imports, newest first",
            "content": { "application/json": { "schema": list } }
        }),
    );
    let query = |name: &str, required: bool, description: &str, schema: Value| json!({ "name": name, "in": "query", "required": required, "description": description, "schema": schema });
    paths.insert(
        "/imports".into(),
        json!({
            "get": {
                "operationId": "list-imports",
                "summary": "List a site's imports",
                "description": "For people of the study and site, and staff.",
                "security": [{ "bearerJwt": [follow[0]] }, { "bearerJwt": [follow[1]] }],
                "parameters": [
                    query("study", true, "The study", json!({ "type": "string", "pattern": NAME_PATTERN })),
                    query("site", true, "The site", json!({ "type": "string", "pattern": NAME_PATTERN })),
                    query("limit", false, "Imports per page (default 20)",
                          json!({ "type": "integer", "minimum": 1, "maximum": super::MAX_PAGE })),
                    query("cursor", false, "The nextCursor of the page before",
                          json!({ "type": "string", "pattern": super::CURSOR_PATTERN }))
                ],
                "responses": list_responses
            }
        }),
    );
}
