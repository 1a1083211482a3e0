//! The OpenAPI document completed by the API's common rules, so that it names every answer a
//! client can get: operation ids unique across the document (`{tag}_{handler}`), and the
//! errors every route of a kind can answer (401 without a token, 400 for a path or query
//! that does not parse, 400/413/415/422 for a body, 503 `standby` for a change sent to a
//! standby instance, 503 `too_many_streams` for an event stream). Handlers document only what
//! is their own (403 for a role, 404, 409, ...).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ArrayItems, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, Ref, RefOr, ResponseBuilder, Schema};

/// The [`utoipa::Modify`] that completes the document.
pub(super) struct Complete;

/// Adds `status` with `description` and the error body to `op` unless it has that status.
fn error(op: &mut Operation, status: &str, description: &str) {
    if op.responses.responses.contains_key(status) {
        return;
    }
    let response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ApiErrorBody")))
                .build(),
        )
        .build();
    op.responses
        .responses
        .insert(status.to_owned(), response.into());
}

/// An integer from `min` to `max`.
fn integer(min: u64, max: u64) -> RefOr<Schema> {
    let format = if max <= i32::MAX as u64 {
        KnownFormat::Int32
    } else {
        KnownFormat::Int64
    };
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(format)))
        .minimum(Some(min as f64))
        .maximum(Some(max as f64))
        .into()
}

/// The values the server takes for a parameter, where its Rust type says less (an AGV id is
/// not 0; map ids are 16 bits; a list of states): `None` leaves the parameter as generated.
fn parameter_schema(path: &str, name: &str) -> Option<RefOr<Schema>> {
    const U32: u64 = u32::MAX as u64;
    Some(match (path, name) {
        (p, "id") if p.starts_with("/api/v1/agvs/") => integer(1, U32),
        ("/api/v1/maps/{id}", "id") => integer(0, u16::MAX as u64),
        (p, "id") if p.starts_with("/api/v1/tasks/") || p.starts_with("/api/v1/grants/") => {
            integer(0, U32)
        }
        (_, "agv_id") => integer(0, U32),
        (_, "map_id") => integer(0, u16::MAX as u64),
        ("/api/v1/audit", "limit") => integer(1, 10_000),
        ("/api/v1/space", "kind") => ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["footprint", "reservation", "grant"]))
            .into(),
        ("/api/v1/tasks", "state") => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(
                "^(queued|running|completed|failed|cancelled)\
                 (,(queued|running|completed|failed|cancelled))*$",
            ))
            .into(),
        _ => return None,
    })
}

/// The document as served: [`super::ApiDoc`] with the schemas of the event streams' events,
/// which utoipa cannot write: each SSE event is `{event, id, data}`, its `data` JSON of the
/// stream's own schema (`contentSchema`): a `FleetEvent` or `lagged`'s count; the live
/// stream's AGVs or `gone`'s ids.
pub(super) fn document() -> serde_json::Value {
    use serde_json::json;
    use utoipa::OpenApi as _;
    let mut doc = serde_json::to_value(super::ApiDoc::openapi()).unwrap_or_default();
    let event = |data: serde_json::Value| {
        json!({
            "type": "object",
            "required": ["data"],
            "properties": {
                "event": { "type": "string" },
                "id": { "type": "string" },
                "retry": { "type": "integer" },
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": data,
                },
            },
        })
    };
    let events = event(json!({ "oneOf": [
        { "$ref": "#/components/schemas/FleetEvent" },
        { "type": "object", "required": ["missed"],
          "properties": { "missed": { "type": "integer", "minimum": 0 } } },
    ]}));
    let live = event(json!({ "oneOf": [
        { "type": "array", "items": { "$ref": "#/components/schemas/LiveAgv" } },
        { "type": "array", "items": { "type": "integer", "minimum": 1, "maximum": u32::MAX } },
    ]}));
    for (path, schema) in [("/api/v1/events", events), ("/api/v1/live", live)] {
        if let Some(s) = doc
            .pointer_mut(&format!(
                "/paths/{}/get/responses/200/content/text~1event-stream",
                path.replace('/', "~1")
            ))
            .and_then(serde_json::Value::as_object_mut)
        {
            s.insert("schema".into(), schema);
        }
    }
    doc
}

/// Widens the unsigned 32-bit integers utoipa calls `int32` (`minimum: 0`) to `int64`, in
/// `schema` and everything in it: a u32 above 2^31 is a valid value (an AGV id, a task id).
fn widen_unsigned(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(o) => {
            let int32 = matches!(
                o.format,
                Some(SchemaFormat::KnownFormat(KnownFormat::Int32))
            );
            let unsigned = matches!(
                o.minimum,
                Some(utoipa::Number::UInt(0) | utoipa::Number::Int(0))
            ) || matches!(o.minimum, Some(utoipa::Number::Float(f)) if f == 0.0);
            if int32 && unsigned && o.maximum.is_none() {
                o.format = Some(SchemaFormat::KnownFormat(KnownFormat::Int64));
                o.maximum = Some(utoipa::Number::UInt(u32::MAX as usize));
            }
            for p in o.properties.values_mut() {
                widen_unsigned(p);
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                widen_unsigned(items);
            }
        }
        Schema::OneOf(o) => o.items.iter_mut().for_each(widen_unsigned),
        Schema::AllOf(o) => o.items.iter_mut().for_each(widen_unsigned),
        Schema::AnyOf(o) => o.items.iter_mut().for_each(widen_unsigned),
        _ => {}
    }
}

impl utoipa::Modify for Complete {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.schemas.values_mut().for_each(widen_unsigned);
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let api = path.starts_with("/api/v1/") && path != "/api/v1/cluster";
            let ops = [
                ("get", item.get.as_mut()),
                ("put", item.put.as_mut()),
                ("post", item.post.as_mut()),
                ("delete", item.delete.as_mut()),
                ("patch", item.patch.as_mut()),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                if let (Some(tag), Some(id)) = (
                    op.tags.as_ref().and_then(|t| t.first()).cloned(),
                    op.operation_id.clone(),
                ) && !id.starts_with(&tag)
                {
                    op.operation_id = Some(format!("{tag}_{id}"));
                }
                for p in op.parameters.iter_mut().flatten() {
                    if let Some(schema) = parameter_schema(path, &p.name) {
                        p.schema = Some(schema);
                    } else if let Some(schema) = p.schema.as_mut() {
                        widen_unsigned(schema);
                    }
                }
                if !api {
                    continue;
                }
                error(op, "401", "`unauthorized`: no valid bearer token");
                let params = op.parameters.as_deref().unwrap_or_default();
                let in_path = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
                let in_query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
                if in_path {
                    error(op, "400", "`invalid_path` (and the route's own codes)");
                }
                if in_query {
                    error(op, "400", "`invalid_query` (and the route's own codes)");
                }
                if op.request_body.is_some() {
                    error(
                        op,
                        "400",
                        "`invalid_json`: not JSON (and the route's own codes)",
                    );
                    error(op, "413", "`body_too_large`: over `--max-body-bytes`");
                    error(
                        op,
                        "415",
                        "`unsupported_media_type`: not `application/json`",
                    );
                    error(op, "422", "`invalid_json`: JSON of the wrong shape");
                }
                let stream = matches!(path.as_str(), "/api/v1/events" | "/api/v1/live");
                if stream {
                    error(
                        op,
                        "503",
                        "`too_many_streams`: `--max-event-streams` are open",
                    );
                } else if method != "get" {
                    error(
                        op,
                        "503",
                        "`standby`: this instance is a standby (the message names the active one)",
                    );
                }
            }
        }
    }
}
