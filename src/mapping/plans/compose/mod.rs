//! The compose plan: a route answered by several steps, each an ordinary one-target route
//! (compiled exactly like one), run as a dependency graph and shaped into one JSON answer.
//! The plan's backend (`run.rs`) runs the graph, so every frontend serves composed routes.

mod expr;
mod run;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use prost_reflect::{Kind, MessageDescriptor};
use serde_json::Value;

use self::expr::{placeholders, Expr, Root, Template};
pub use self::run::ComposeBackend;
use super::selection::Selection;
use super::values::{gather, request_object, BodyTarget};
use super::TargetBackend;
use crate::mapping::options::RouteOptionsConfig;
use crate::mapping::route::{BindRequest, Route, RoutePlan};
use crate::mapping::source::compose::{
    ComposeSpec, ErrorPolicy, IterationConfig, OnErrorConfig, OverLimit, StepSpec,
};
use crate::mapping::source::{
    PatternSpec, RouteSpec, RouteTarget, RuleOrigin, RuleSpec, SoapTargetConfig,
};
use crate::mapping::BackendSchema;
use crate::model::{BackendCall, CallShape, Payload, RequestBody, Status};
use crate::telemetry::metrics::{Metrics, StepMetrics};

/// The most steps a composed route has.
pub const MAX_STEPS: usize = 16;
/// The default and the largest `max_items`.
const DEFAULT_MAX_ITEMS: usize = 50;
const LARGEST_MAX_ITEMS: usize = 1000;
/// The default `for_each` concurrency.
const DEFAULT_CONCURRENCY: usize = 8;

/// A composed route's steps and how their answers are shaped.
#[derive(Debug)]
pub struct ComposePlan {
    steps: Vec<Step>,
    errors: bool,
    body: BodyTarget,
    variables: Vec<Vec<String>>,
    /// One duration handle per step, in file order, once the route is installed.
    timers: OnceLock<Box<[Arc<StepMetrics>]>>,
}

#[derive(Debug)]
struct Step {
    name: Arc<str>,
    route: Arc<Route>,
    request: Option<Template>,
    /// One path per variable of the step route's (synthetic) pattern, in order.
    path_values: Vec<Expr>,
    selection: Selection,
    /// Where the answer sits; empty when merged.
    group: Vec<String>,
    merge: bool,
    iteration: Option<Iteration>,
    timeout: Option<Duration>,
    on_error: OnError,
    /// The steps it waits for, as bits.
    needs: u32,
    safe: bool,
}

#[derive(Debug)]
struct Iteration {
    source: Expr,
    max_items: usize,
    concurrency: usize,
    over_limit: OverLimit,
    /// `collect:`: one call with the whole array.
    collect: bool,
}

#[derive(Debug)]
enum OnError {
    Fail,
    Omit,
    Default(Value),
}

impl ComposePlan {
    /// Takes the handles that time each step from `metrics`, named after the route `method
    /// address` (the first registry given is kept: a plan belongs to one gateway).
    pub(crate) fn register_metrics(&self, method: &str, address: &str, metrics: &Metrics) {
        if self.timers.get().is_none() {
            let timers = self
                .steps
                .iter()
                .map(|step| metrics.compose_step(method, address, &step.name))
                .collect();
            let _ = self.timers.set(timers);
        }
    }

    /// The duration handle of the step at `index`, once the route is installed.
    fn timer(&self, index: usize) -> Option<&StepMetrics> {
        self.timers
            .get()
            .and_then(|timers| timers.get(index))
            .map(|t| &**t)
    }

    /// The step names, in file order, for `polygate check`.
    pub fn step_names(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().map(|s| &*s.name)
    }

    /// The call: the client's request object (path variables, query parameters and body
    /// merged) as JSON, for the plan's backend to run the steps with.
    pub(crate) fn bind(
        &self,
        route: &Route,
        request: BindRequest<'_>,
    ) -> Result<BackendCall, Status> {
        let body = match &request.body {
            RequestBody::Empty => None,
            RequestBody::Unary(Payload::Json(json)) => Some(json.clone()),
            RequestBody::Unary(_) | RequestBody::Stream(_) => {
                return Err(Status::invalid_argument(
                    "a composed route takes one JSON request",
                ))
            }
        };
        let extras = gather(
            &self.variables,
            request.captures,
            request.query,
            true,
            route.options.unknown_query_parameters,
            &route.pattern,
        )?;
        let object = request_object(
            &self.body,
            body.as_deref(),
            &extras,
            route.options.body_field_collision,
        )?;
        Ok(BackendCall::unary(
            route.operation.clone(),
            Method::POST,
            Payload::Json(Bytes::from(object.into_owned())),
            request.metadata,
            request.timeout,
        ))
    }
}

/// A load error at a line of the route's file.
fn at(spec: &RouteSpec, line: u64, message: String) -> (RuleOrigin, String) {
    let origin = match &spec.origin {
        RuleOrigin::MappingFile { path, .. } => RuleOrigin::MappingFile {
            path: path.clone(),
            line,
        },
        other => other.clone(),
    };
    (origin, message)
}

/// Compiles a `compose:` route: every step as a one-target route, the graph checked for
/// unknown steps and cycles, gRPC request fields against the method's input.
pub(crate) fn compile(
    spec: &RouteSpec,
    compose: &ComposeSpec,
    schemas: &[BackendSchema],
    targets: &[TargetBackend],
    defaults: &RouteOptionsConfig,
) -> Result<Route, (RuleOrigin, String)> {
    let route_error = |message: String| (spec.origin.clone(), message);
    let pattern = spec.pattern.compile().map_err(route_error)?;
    if compose.steps.is_empty() {
        return Err(route_error("compose: needs at least one step".into()));
    }
    if compose.steps.len() > MAX_STEPS {
        return Err(route_error(format!(
            "compose: {} steps; a composed route has at most {MAX_STEPS}",
            compose.steps.len()
        )));
    }
    let names: Vec<&str> = compose
        .steps
        .iter()
        .map(|s| s.config.name.as_str())
        .collect();
    for (index, step) in compose.steps.iter().enumerate() {
        let name = step.config.name.as_str();
        let bad = name.is_empty()
            || name == "request"
            || name == "each"
            || name.contains(['.', '{', '}', '/']);
        if bad {
            return Err(at(
                spec,
                step.line,
                format!("step '{name}': a step name is a word other than request and each"),
            ));
        }
        if names[..index].contains(&name) {
            return Err(at(spec, step.line, format!("step '{name}' is named twice")));
        }
    }
    let mut steps = Vec::with_capacity(compose.steps.len());
    for step in &compose.steps {
        let compiled = compile_step(spec, step, &names, schemas, targets).map_err(|message| {
            at(
                spec,
                step.line,
                format!("step '{}': {message}", step.config.name),
            )
        })?;
        steps.push(compiled);
    }
    if let Some(cycle) = find_cycle(&steps) {
        let line = compose.steps[cycle[0]].line;
        let path: Vec<&str> = cycle.iter().map(|i| names[*i]).collect();
        return Err(at(
            spec,
            line,
            format!("compose: the steps form a cycle: {}", path.join(" -> ")),
        ));
    }
    let last = steps.len() - 1;
    for (index, step) in steps.iter().enumerate() {
        let needed = steps.iter().any(|other| other.needs & (1 << index) != 0);
        if !step.safe && (index != last || needed) {
            return Err(at(
                spec,
                compose.steps[index].line,
                format!(
                    "step '{}' has side effects ({}), so it must be the last step and no step may use its answer",
                    step.name, step.route.operation
                ),
            ));
        }
    }
    check_merges(&steps, schemas_keys(&steps)).map_err(route_error)?;
    let mut options = spec
        .options
        .or(defaults)
        .resolve(&pattern)
        .map_err(route_error)?;
    let safe_target = match steps.iter().find(|s| !s.safe) {
        None => Ok(()),
        Some(step) => Err(format!(
            "cache: step '{}' has side effects; a composed route is cached only when every step is safe",
            step.name
        )),
    };
    options
        .check_cache(&pattern, true, safe_target)
        .map_err(route_error)?;
    if options
        .messages
        .as_ref()
        .is_some_and(|m| m.stream_to.is_some())
    {
        return Err(route_error(
            "stream_to needs a server-streaming gRPC method".into(),
        ));
    }
    let variables = pattern
        .variables()
        .iter()
        .map(|v| {
            v.field_path
                .segments()
                .iter()
                .map(ToString::to_string)
                .collect()
        })
        .collect();
    let operation = format!("compose({})", names.join(", "));
    let plan = Arc::new(ComposePlan {
        steps,
        errors: compose.errors,
        body: BodyTarget::from_setting(&spec.body),
        variables,
        timers: OnceLock::new(),
    });
    Ok(Route {
        pattern,
        backend_name: Arc::from("compose"),
        backend: Arc::new(ComposeBackend::new(plan.clone())),
        operation: Arc::from(operation),
        shape: CallShape::Unary,
        options,
        origin: spec.origin.clone(),
        plan: RoutePlan::Compose(plan),
    })
}

fn compile_step(
    spec: &RouteSpec,
    step: &StepSpec,
    names: &[&str],
    schemas: &[BackendSchema],
    targets: &[TargetBackend],
) -> Result<Step, String> {
    let config = &step.config;
    let iteration_config = match (&config.for_each, &config.collect) {
        (Some(_), Some(_)) => return Err("for_each: and collect: exclude each other".into()),
        (Some(each), None) => Some((each, false)),
        (None, Some(collect)) => Some((collect, true)),
        (None, None) => None,
    };
    let each = iteration_config.is_some();
    let iteration = iteration_config
        .map(|(c, collect)| iteration(c, collect, names))
        .transpose()?;
    let request = config
        .request
        .as_ref()
        .map(|value| match value {
            Value::Object(_) => Template::compile(value, names, each),
            _ => Err("request: must be an object of members".into()),
        })
        .transpose()?;
    let body = if request.is_some() { "*" } else { "" };
    let forwards = config.rest.as_ref().and_then(|r| r.forward_query) == Some(true)
        || config.xml.as_ref().and_then(|x| x.forward_query) == Some(true);
    if forwards {
        return Err(
            "forward_query: a step never forwards the client's query string; use {request.NAME} in path:"
                .into(),
        );
    }
    let mut texts: Vec<&str> = Vec::new();
    let (route, safe) = match (&config.grpc, &config.soap, &config.xml, &config.rest) {
        (Some(selector), None, None, None) => {
            let schema = schemas
                .iter()
                .find(|s| *s.name == *config.backend)
                .ok_or_else(
                    || match targets.iter().any(|t| *t.name == *config.backend) {
                        true => format!("backend '{}' is not a gRPC backend", config.backend),
                        false => format!("no gRPC backend is named '{}'", config.backend),
                    },
                )?;
            let rule = RuleSpec {
                selector: selector.clone(),
                pattern: PatternSpec::Http {
                    method: "POST".into(),
                    path: format!("/__compose/{}", config.name),
                },
                body: body.into(),
                response_body: String::new(),
                backend: Some(config.backend.clone()),
                options: step_options(config),
                origin: spec.origin.clone(),
            };
            let route = super::grpc::compile(&rule, schema, &RouteOptionsConfig::default())?;
            let RoutePlan::Grpc(plan) = &route.plan else {
                return Err("not a gRPC method".into());
            };
            if route.shape != CallShape::Unary {
                return Err(format!(
                    "method {selector} streams; a step calls a unary method"
                ));
            }
            if let Some(template) = &request {
                check_fields(template, &plan.method.input(), "")?;
            }
            let safe = super::grpc::has_no_side_effects(&plan.method) || config.safe == Some(true);
            (route, safe)
        }
        (None, soap, xml, rest)
            if [soap.is_some(), xml.is_some(), rest.is_some()]
                .iter()
                .filter(|x| **x)
                .count()
                == 1 =>
        {
            let target = if let Some(soap) = soap {
                RouteTarget::Soap(SoapTargetConfig::clone(soap))
            } else if let Some(xml) = xml {
                texts.extend(placeholders(&xml.path)?);
                let mut xml = xml.clone();
                xml.method.get_or_insert_with(|| "GET".into());
                xml.forward_query.get_or_insert(false);
                RouteTarget::Xml(xml)
            } else {
                let original = rest.as_ref().ok_or("needs a target")?;
                texts.extend(placeholders(&original.path)?);
                if let Some(query) = &original.query {
                    for value in query.add.values() {
                        texts.extend(placeholders(value)?);
                    }
                }
                let mut rest = original.clone();
                rest.method.get_or_insert_with(|| "GET".into());
                rest.forward_query.get_or_insert(false);
                RouteTarget::Rest(rest)
            };
            let mut unique: Vec<&str> = Vec::new();
            for text in &texts {
                if !unique.contains(text) {
                    unique.push(text);
                }
            }
            texts = unique;
            let mut path = format!("/__compose/{}", config.name);
            for text in &texts {
                path.push_str("/{");
                path.push_str(text);
                path.push('}');
            }
            let step_spec = RouteSpec {
                pattern: PatternSpec::Http {
                    method: "POST".into(),
                    path,
                },
                backend: config.backend.clone(),
                target,
                body: body.into(),
                response_body: String::new(),
                response_fields: Default::default(),
                headers: Default::default(),
                options: step_options(config),
                xml_mapping: spec.xml_mapping.clone(),
                origin: spec.origin.clone(),
            };
            let grpc_names: Vec<&str> = schemas.iter().map(|s| &*s.name).collect();
            let route = super::compile_target(
                &step_spec,
                targets,
                &grpc_names,
                &RouteOptionsConfig::default(),
            )?;
            let safe = match &route.plan {
                RoutePlan::Rest(plan) => is_safe_method(plan.method()),
                RoutePlan::PlainXml(plan) => is_safe_method(plan.method()),
                _ => false,
            } || config.safe == Some(true);
            (route, safe)
        }
        _ => {
            return Err("needs exactly one of grpc:, soap:, xml: or rest:".into());
        }
    };
    let path_values = texts
        .iter()
        .map(|text| Expr::parse(text, names, each))
        .collect::<Result<Vec<_>, String>>()?;
    let selection = Selection::new(
        config.response_body.as_deref().unwrap_or(""),
        &config.response_fields.clone().unwrap_or_default(),
    )?;
    if config.response_body.is_some() && config.response_fields.is_some() {
        return Err("sets both response_body and response_fields; choose one".into());
    }
    let merge = config.merge == Some(true);
    let group = match (&config.group, merge) {
        (Some(_), true) => return Err("group: and merge: true exclude each other".into()),
        (Some(group), false) => group.split('.').map(str::to_owned).collect(),
        (None, true) => Vec::new(),
        (None, false) => vec![config.name.clone()],
    };
    if !merge && (group.iter().any(String::is_empty) || group[0] == "errors") {
        return Err(format!(
            "its answer would sit at '{}'; a group is a key path not starting with errors",
            group.join(".")
        ));
    }
    let on_error = match &config.on_error {
        None | Some(OnErrorConfig::Policy(ErrorPolicy::Fail)) => OnError::Fail,
        Some(OnErrorConfig::Policy(ErrorPolicy::Omit)) => OnError::Omit,
        Some(OnErrorConfig::Default { default }) => OnError::Default(default.clone()),
    };
    let mut reads: Vec<&Expr> = path_values.iter().collect();
    if let Some(template) = &request {
        template.exprs(&mut reads);
    }
    if let Some(iteration) = &iteration {
        reads.push(&iteration.source);
    }
    let mut needs = 0u32;
    for expr in reads {
        if let Root::Step(index) = expr.root {
            needs |= 1 << index;
        }
    }
    Ok(Step {
        name: Arc::from(config.name.as_str()),
        route: Arc::new(route),
        request,
        path_values,
        selection,
        group,
        merge,
        iteration,
        timeout: config.timeout.map(|t| t.0),
        on_error,
        needs,
        safe,
    })
}

fn step_options(config: &crate::mapping::source::compose::StepConfig) -> RouteOptionsConfig {
    RouteOptionsConfig {
        safe: config.safe,
        ..RouteOptionsConfig::default()
    }
}

fn is_safe_method(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

fn iteration(config: &IterationConfig, collect: bool, names: &[&str]) -> Result<Iteration, String> {
    let what = if collect { "collect" } else { "for_each" };
    let source =
        Expr::parse(&config.source, names, false).map_err(|e| format!("{what}.in: {e}"))?;
    let max_items = config.max_items.unwrap_or(DEFAULT_MAX_ITEMS);
    if max_items == 0 || max_items > LARGEST_MAX_ITEMS {
        return Err(format!(
            "{what}.max_items is {max_items}; it is between 1 and {LARGEST_MAX_ITEMS}"
        ));
    }
    let concurrency = config.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 || (collect && config.concurrency.is_some()) {
        return Err(format!(
            "{what}.concurrency must be at least 1 (for_each: only)"
        ));
    }
    Ok(Iteration {
        source,
        max_items,
        concurrency,
        over_limit: config.over_limit.unwrap_or_default(),
        collect,
    })
}

/// Checks that every member of a gRPC step's request is a field of its input message.
fn check_fields(
    template: &Template,
    message: &MessageDescriptor,
    prefix: &str,
) -> Result<(), String> {
    let Template::Object(members) = template else {
        return Ok(());
    };
    for (key, value) in members {
        let field = message
            .get_field_by_name(key)
            .or_else(|| message.get_field_by_json_name(key))
            .ok_or_else(|| {
                format!(
                    "request field '{prefix}{key}': message {} has no field '{key}'",
                    message.full_name()
                )
            })?;
        if let (Template::Object(_), Kind::Message(inner)) = (value, field.kind()) {
            if !field.is_list() && !field.is_map() {
                check_fields(value, &inner, &format!("{prefix}{key}."))?;
            }
        }
    }
    Ok(())
}

/// A cycle of `needs`, as step indices with the first repeated at the end.
fn find_cycle(steps: &[Step]) -> Option<Vec<usize>> {
    fn visit(
        steps: &[Step],
        at: usize,
        path: &mut Vec<usize>,
        done: &mut u32,
    ) -> Option<Vec<usize>> {
        if let Some(start) = path.iter().position(|i| *i == at) {
            let mut cycle = path[start..].to_vec();
            cycle.push(at);
            return Some(cycle);
        }
        if *done & (1 << at) != 0 {
            return None;
        }
        path.push(at);
        for next in 0..steps.len() {
            if steps[at].needs & (1 << next) != 0 {
                if let Some(cycle) = visit(steps, next, path, done) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        *done |= 1 << at;
        None
    }
    let mut done = 0u32;
    (0..steps.len()).find_map(|start| visit(steps, start, &mut Vec::new(), &mut done))
}

/// The top-level keys each step's answer is known to have: its `response_fields`, or the
/// fields of a gRPC method's answer.
fn schemas_keys(steps: &[Step]) -> Vec<Option<BTreeSet<String>>> {
    steps
        .iter()
        .map(|step| match (&step.selection, &step.route.plan) {
            (Selection::Fields(fields), _) => {
                Some(fields.iter().map(|(key, _)| key.clone()).collect())
            }
            (Selection::Whole, RoutePlan::Grpc(plan)) if step.iteration.is_none() => Some(
                plan.method
                    .output()
                    .fields()
                    .map(|f| f.json_name().to_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// A collision of merged members where the steps' schemas are known.
fn check_merges(steps: &[Step], keys: Vec<Option<BTreeSet<String>>>) -> Result<(), String> {
    let grouped: Vec<(usize, &str)> = steps
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.merge)
        .map(|(i, s)| (i, s.group[0].as_str()))
        .collect();
    for (index, step) in steps.iter().enumerate().filter(|(_, s)| s.merge) {
        let Some(mine) = &keys[index] else { continue };
        for (other, key) in &grouped {
            if mine.contains(*key) {
                return Err(format!(
                    "compose: step '{}' merges '{key}' to the top level, where step '{}' sits",
                    step.name, steps[*other].name
                ));
            }
        }
        for (other, theirs) in keys.iter().enumerate().skip(index + 1) {
            if !steps[other].merge {
                continue;
            }
            if let Some(shared) = theirs.as_ref().and_then(|t| mine.intersection(t).next()) {
                return Err(format!(
                    "compose: steps '{}' and '{}' both merge '{shared}' to the top level",
                    step.name, steps[other].name
                ));
            }
        }
    }
    Ok(())
}
