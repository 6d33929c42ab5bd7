//! The gRPC plan: a route bound to a method described by protobuf descriptors. The request
//! message is assembled as wire bytes from the body, query and path or topic variables
//! (`bind.rs`); answers become proto3 JSON or raw `HttpBody` bytes (`respond.rs`).

mod bind;
mod respond;
mod wire;

use std::sync::Arc;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};

use crate::codec::protojson::settable_from_text;
use crate::mapping::messages::PayloadFormat;
use crate::mapping::options::RouteOptionsConfig;
use crate::mapping::route::{Route, RoutePattern, RoutePlan};
use crate::mapping::source::RuleSpec;
use crate::mapping::table::BackendSchema;
use crate::model::CallShape;

/// A chain of fields from a message down to the field a value is bound to (`book.shelf.id`).
pub type FieldChain = Vec<FieldDescriptor>;

/// Where the request body goes.
#[derive(Debug, Clone)]
pub(crate) enum BodyPlan {
    /// The route takes no body (`body` unset).
    None,
    /// The body is the whole request message (`body: "*"`).
    Whole,
    /// The body is one field of the request message (`body: "book"`).
    Field(FieldChain),
}

/// How the request message is assembled.
#[derive(Debug, Clone)]
pub(crate) struct RequestPlan {
    pub(crate) input: MessageDescriptor,
    pub(crate) body: BodyPlan,
    /// The body target is a `google.api.HttpBody`: raw bytes with their content type.
    pub(crate) raw_body: bool,
    /// One chain per path-template variable, in template order.
    pub(crate) path_fields: Vec<FieldChain>,
    /// A PATCH route whose body is one message field, of a request with a top-level
    /// `google.protobuf.FieldMask update_mask`: the mask field, filled from the body's keys when
    /// the client sends none (as grpc-gateway does).
    pub(crate) update_mask: Option<FieldDescriptor>,
}

/// How the answer is turned into the client's form.
#[derive(Debug, Clone)]
pub(crate) struct ResponsePlan {
    pub(crate) output: MessageDescriptor,
    /// `response_body`: only this field is returned.
    pub(crate) field: Option<FieldDescriptor>,
    /// The returned message is a `google.api.HttpBody`: raw bytes with their content type.
    pub(crate) raw_body: bool,
}

/// A gRPC method and how its messages are assembled and returned.
#[derive(Debug, Clone)]
pub struct GrpcPlan {
    /// The method.
    pub method: MethodDescriptor,
    /// The method's `idempotency_level` is set (`NO_SIDE_EFFECTS` or `IDEMPOTENT`).
    pub(crate) idempotent: bool,
    pub(crate) request: RequestPlan,
    pub(crate) response: ResponsePlan,
}

/// Whether `method` declares `option idempotency_level = NO_SIDE_EFFECTS` or `IDEMPOTENT`
/// (both mean a repeated call does no harm).
pub(crate) fn is_idempotent(method: &MethodDescriptor) -> bool {
    method
        .options()
        .get_field_by_name("idempotency_level")
        .and_then(|value| value.as_enum_number())
        .is_some_and(|level| level != 0)
}

/// Whether `method` declares `option idempotency_level = NO_SIDE_EFFECTS` (safe to cache).
pub(crate) fn has_no_side_effects(method: &MethodDescriptor) -> bool {
    method
        .options()
        .get_field_by_name("idempotency_level")
        .and_then(|value| value.as_enum_number())
        == Some(1)
}

/// The full name of `google.protobuf.FieldMask`.
const FIELD_MASK: &str = "google.protobuf.FieldMask";

/// The full name of `google.api.HttpBody`.
const HTTP_BODY: &str = "google.api.HttpBody";

/// Resolves a dotted field path (`book.shelf.id`) in `message`, each segment by proto name or
/// JSON name. Every field but the last must be a singular message.
pub(crate) fn resolve_chain(
    message: &MessageDescriptor,
    path: &[impl AsRef<str>],
) -> Result<FieldChain, String> {
    let mut chain = Vec::with_capacity(path.len());
    let mut current = message.clone();
    for (i, segment) in path.iter().enumerate() {
        let segment = segment.as_ref();
        let field = current
            .get_field_by_name(segment)
            .or_else(|| current.get_field_by_json_name(segment))
            .ok_or_else(|| format!("message {} has no field '{segment}'", current.full_name()))?;
        if i + 1 < path.len() {
            match field.kind() {
                Kind::Message(next) if !field.is_list() && !field.is_map() => current = next,
                _ => {
                    return Err(format!(
                        "field '{}' of {} is not a singular message, so '{}' cannot go inside it",
                        field.name(),
                        current.full_name(),
                        path.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(".")
                    ))
                }
            }
        }
        chain.push(field);
    }
    Ok(chain)
}

/// Whether `field` holds a `google.api.HttpBody`.
pub(crate) fn is_http_body_field(field: &FieldDescriptor) -> bool {
    matches!(field.kind(), Kind::Message(m) if m.full_name() == HTTP_BODY) && !field.is_list()
}

/// `pkg.Service.Method` in `pool`.
pub(crate) fn find_method(pool: &DescriptorPool, selector: &str) -> Option<MethodDescriptor> {
    let (service, method) = selector.rsplit_once('.')?;
    pool.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

/// Compiles the rule of one gRPC method into a route.
pub(crate) fn compile(
    rule: &RuleSpec,
    schema: &BackendSchema,
    defaults: &RouteOptionsConfig,
) -> Result<Route, String> {
    let method = find_method(&schema.pool, &rule.selector)
        .ok_or_else(|| format!("backend '{}' has no method {}", schema.name, rule.selector))?;
    let pattern = rule.pattern.compile()?;
    let input = method.input();
    let output = method.output();

    let mut path_fields = Vec::new();
    for variable in pattern.variables() {
        let chain = resolve_chain(&input, variable.field_path.segments())
            .map_err(|e| format!("path variable {{{}}}: {e}", variable.field_path))?;
        let leaf = chain.last().ok_or("empty path variable")?;
        if leaf.is_list() || !settable_from_text(leaf) {
            return Err(format!(
                "path variable {{{}}} names field '{}', which is {}; a path variable must be a singular scalar, enum or well-known type",
                variable.field_path,
                leaf.name(),
                describe_kind(leaf)
            ));
        }
        path_fields.push(chain);
    }

    let (body, raw_body) = match rule.body.as_str() {
        "" => (BodyPlan::None, false),
        "*" => (BodyPlan::Whole, input.full_name() == HTTP_BODY),
        field_path => {
            let segments: Vec<&str> = field_path.split('.').collect();
            let chain = resolve_chain(&input, &segments)
                .map_err(|e| format!("body \"{field_path}\": {e}"))?;
            let raw = chain.last().is_some_and(is_http_body_field);
            (BodyPlan::Field(chain), raw)
        }
    };
    let update_mask = match (&pattern, &body) {
        (RoutePattern::Http { method: verb, .. }, BodyPlan::Field(chain))
            if *verb == http::Method::PATCH
                && !raw_body
                && chain
                    .last()
                    .is_some_and(|f| !f.is_list() && matches!(f.kind(), Kind::Message(_))) =>
        {
            input
                .get_field_by_name("update_mask")
                .filter(|f| !f.is_list())
                .filter(|f| matches!(f.kind(), Kind::Message(m) if m.full_name() == FIELD_MASK))
        }
        _ => None,
    };
    let shape = match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => CallShape::Unary,
        (false, true) => CallShape::ServerStreaming,
        (true, false) => CallShape::ClientStreaming,
        (true, true) => CallShape::Bidirectional,
    };
    if shape.client_streams() && matches!(body, BodyPlan::None) {
        return Err(format!(
            "{} streams requests, so its rule needs a body",
            method.full_name()
        ));
    }
    if shape.client_streams() && raw_body {
        return Err(
            "client-streaming methods with google.api.HttpBody requests are not supported".into(),
        );
    }

    let response_field = match rule.response_body.as_str() {
        "" => None,
        name => Some(
            output
                .get_field_by_name(name)
                .or_else(|| output.get_field_by_json_name(name))
                .ok_or_else(|| {
                    format!(
                        "response_body \"{name}\": message {} has no such field",
                        output.full_name()
                    )
                })?,
        ),
    };
    let response_raw = match &response_field {
        Some(field) => is_http_body_field(field),
        None => output.full_name() == HTTP_BODY,
    };

    let mut options = rule.options.or(defaults).resolve(&pattern)?;
    let safe_target = match &options.cache {
        Some(_) if has_no_side_effects(&method) => Ok(()),
        Some(cache) if cache.assume_safe => {
            tracing::warn!(
                method = method.full_name(),
                "cache: assume_safe caches a method not marked idempotency_level = NO_SIDE_EFFECTS"
            );
            Ok(())
        }
        _ => Err(format!(
            "cache: {} is not marked idempotency_level = NO_SIDE_EFFECTS; set cache.assume_safe: true if it has none",
            method.full_name()
        )),
    };
    options.check_cache(&pattern, matches!(shape, CallShape::Unary), safe_target)?;
    if let Some(messages) = &options.messages {
        check_payload(messages.payload, &body, raw_body)?;
        if messages.stream_to.is_some() {
            check_downlink(&pattern, shape)?;
        }
    }
    Ok(Route {
        pattern,
        backend_name: schema.name.clone(),
        backend: schema.backend.clone(),
        operation: Arc::from(format!(
            "/{}/{}",
            method.parent_service().full_name(),
            method.name()
        )),
        shape,
        options,
        origin: rule.origin.clone(),
        plan: RoutePlan::Grpc(Arc::new(GrpcPlan {
            idempotent: is_idempotent(&method),
            method,
            request: RequestPlan {
                input,
                body,
                raw_body,
                path_fields,
                update_mask,
            },
            response: ResponsePlan {
                output,
                field: response_field,
                raw_body: response_raw,
            },
        })),
    })
}

/// Whether a topic route's payload format fits where its body goes.
fn check_payload(format: PayloadFormat, body: &BodyPlan, raw_body: bool) -> Result<(), String> {
    let leaf = match body {
        BodyPlan::Field(chain) => chain.last().filter(|f| !f.is_list()),
        _ => None,
    };
    match format {
        PayloadFormat::Json => Ok(()),
        PayloadFormat::Protobuf => match (body, leaf.map(|f| f.kind())) {
            (BodyPlan::Whole, _) if !raw_body => Ok(()),
            (_, Some(Kind::Message(_))) if !raw_body => Ok(()),
            _ => Err("payload: protobuf needs body \"*\" or a body field holding a message".into()),
        },
        PayloadFormat::Raw => match leaf.map(|f| f.kind()) {
            _ if raw_body => Ok(()),
            Some(Kind::Bytes | Kind::String) => Ok(()),
            _ => Err(
                "payload: raw needs a body field of type bytes, string or google.api.HttpBody"
                    .into(),
            ),
        },
    }
}

/// A downlink needs a server-streaming method, and a topic without variables or wildcards
/// to name it.
fn check_downlink(pattern: &RoutePattern, shape: CallShape) -> Result<(), String> {
    if shape != CallShape::ServerStreaming {
        return Err("stream_to needs a server-streaming method".into());
    }
    let address = pattern.address();
    if address
        .split('/')
        .any(|level| matches!(level, "+" | "#") || level.starts_with('{'))
    {
        return Err(format!(
            "stream_to: the route's topic '{address}' names the downlink and takes no variables or wildcards"
        ));
    }
    Ok(())
}

fn describe_kind(field: &prost_reflect::FieldDescriptor) -> String {
    if field.is_map() {
        "a map".into()
    } else if field.is_list() {
        "repeated".into()
    } else if let Kind::Message(m) = field.kind() {
        format!("a message ({})", m.full_name())
    } else {
        format!("{:?}", field.kind())
    }
}
