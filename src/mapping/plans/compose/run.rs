//! Running a composed route: the steps as futures (not tasks), independent ones at once,
//! dependents as their inputs arrive; a `fail` step's error, or the client going away, drops
//! the futures still running, which cancels their backend calls.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, FuturesUnordered, StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderValue};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::expr::{as_text, missing, not_text, Scope};
use super::{ComposePlan, OnError, Step};
use crate::mapping::captures::Capture;
use crate::model::{
    Backend, BackendFuture, Code, ErrorSource, GatewayResponse, Payload, RequestBody,
    RequestMessages, ResponseBody, Status, UpstreamReply,
};

/// The header naming the steps a partial answer lacks.
const PARTIAL: &str = "polygate-partial";

/// The backend of a composed route: runs its plan's steps.
#[derive(Debug)]
pub struct ComposeBackend {
    plan: Arc<ComposePlan>,
}

impl ComposeBackend {
    pub(crate) fn new(plan: Arc<ComposePlan>) -> Self {
        Self { plan }
    }
}

impl Backend for ComposeBackend {
    fn name(&self) -> &str {
        "compose"
    }

    fn call(&self, call: crate::model::BackendCall) -> BackendFuture {
        let plan = self.plan.clone();
        Box::pin(async move {
            let RequestMessages::Unary(message) = call.messages else {
                return Err(Status::invalid_argument(
                    "a composed route takes one request",
                ));
            };
            let request: Value = match message.bytes().is_empty() {
                true => Value::Object(Map::new()),
                false => serde_json::from_slice(message.bytes()).map_err(|e| {
                    Status::invalid_argument(format!("the request is not JSON: {e}"))
                })?,
            };
            let deadline = Instant::now() + call.timeout.unwrap_or(Duration::from_secs(30));
            plan.run(&request, &call.metadata, deadline).await
        })
    }
}

/// One bound call of a step: its body and the text of its path variables.
struct Prepared {
    body: Option<Vec<u8>>,
    path: Vec<String>,
}

/// A failed or partial step, for the `errors` array and the partial header.
struct Failure {
    step: usize,
    code: Code,
    message: String,
}

type StepFuture<'a> = Pin<Box<dyn Future<Output = (usize, Result<Outcome, Status>)> + Send + 'a>>;

/// A step's answer, and the note of an array cut to `max_items`.
struct Outcome {
    answer: Answer,
    cut: Option<String>,
}

/// A step's answer: a tree when a later step reads values from it or it is merged; otherwise
/// its JSON text, checked and copied into the composed answer as it is (building a tree of a
/// 500-byte answer only to write it out again costs more than the call's own transcoding).
enum Answer {
    Tree(Value),
    Text(Box<RawValue>),
}

/// The composed answer being shaped.
enum Node {
    Answer(Answer),
    Object(std::collections::BTreeMap<String, Node>),
}

impl Node {
    /// The members of this node, made an object if it is not one (a merged object answer
    /// becomes members that groups can nest into).
    fn members(&mut self) -> &mut std::collections::BTreeMap<String, Node> {
        if let Node::Answer(Answer::Tree(Value::Object(members))) = self {
            let members = std::mem::take(members)
                .into_iter()
                .map(|(key, value)| (key, Node::Answer(Answer::Tree(value))))
                .collect();
            *self = Node::Object(members);
        }
        if !matches!(self, Node::Object(_)) {
            *self = Node::Object(std::collections::BTreeMap::new());
        }
        match self {
            Node::Object(members) => members,
            Node::Answer(_) => unreachable!("made an object above"),
        }
    }
}

impl serde::Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Answer(Answer::Tree(value)) => value.serialize(serializer),
            Node::Answer(Answer::Text(text)) => text.serialize(serializer),
            Node::Object(members) => members.serialize(serializer),
        }
    }
}

impl ComposePlan {
    /// Runs the steps and shapes their answers.
    pub(crate) async fn run(
        &self,
        request: &Value,
        metadata: &HeaderMap,
        deadline: Instant,
    ) -> Result<GatewayResponse, Status> {
        let count = self.steps.len();
        let all: u32 = (1 << count) - 1;
        let read_later = self.steps.iter().fold(0, |bits, step| bits | step.needs);
        let mut answers: Vec<Option<Value>> = vec![None; count];
        let mut texts: Vec<Option<Box<RawValue>>> = (0..count).map(|_| None).collect();
        let (mut started, mut done, mut succeeded) = (0u32, 0u32, 0u32);
        let mut failures: Vec<Failure> = Vec::new();
        let mut running: FuturesUnordered<StepFuture<'_>> = FuturesUnordered::new();
        loop {
            for index in 0..count {
                let bit = 1 << index;
                let step = &self.steps[index];
                let others = all & !bit;
                let ready = started & bit == 0
                    && step.needs & !done == 0
                    && (step.safe || done & others == others);
                if !ready {
                    continue;
                }
                started |= bit;
                let prepared = if !step.safe && succeeded & others != others {
                    Err(Status::new(
                        Code::Aborted,
                        "not called: it runs only after every other step succeeded",
                        ErrorSource::Gateway,
                    ))
                } else {
                    let scope = Scope {
                        request,
                        answers: &answers,
                        each: None,
                    };
                    self.prepare(step, &scope)
                };
                let tree = read_later & bit != 0 || step.merge;
                match prepared {
                    Ok((calls, cut)) => {
                        running.push(Box::pin(async move {
                            let started = std::time::Instant::now();
                            let result = self.execute(step, calls, metadata, deadline, tree).await;
                            if let Some(timer) = self.timer(index) {
                                let nanos = started.elapsed().as_nanos();
                                timer.observe(u64::try_from(nanos).unwrap_or(u64::MAX));
                            }
                            (index, result.map(|answer| Outcome { answer, cut }))
                        }));
                    }
                    Err(status) => running.push(Box::pin(async move { (index, Err(status)) })),
                }
            }
            let Some((index, result)) = running.next().await else {
                break;
            };
            let step = &self.steps[index];
            done |= 1 << index;
            match result {
                Ok(outcome) => {
                    succeeded |= 1 << index;
                    match outcome.answer {
                        Answer::Tree(value) => answers[index] = Some(value),
                        Answer::Text(text) => texts[index] = Some(text),
                    }
                    if let Some(message) = outcome.cut {
                        failures.push(Failure {
                            step: index,
                            code: Code::OutOfRange,
                            message,
                        });
                    }
                }
                Err(status) => match &step.on_error {
                    OnError::Fail => {
                        return Err(Status::new(
                            status.code(),
                            format!("step '{}': {}", step.name, status.message()),
                            status.source(),
                        )
                        .with_reason("COMPOSED_STEP_FAILED"));
                    }
                    policy => {
                        if let OnError::Default(value) = policy {
                            answers[index] = Some(value.clone());
                        }
                        failures.push(Failure {
                            step: index,
                            code: status.code(),
                            message: status.message().to_owned(),
                        });
                    }
                },
            }
        }
        Ok(self.shape(answers, texts, &failures))
    }

    /// The bound calls of a step (one, or one per element), and the note of a cut array.
    fn prepare(
        &self,
        step: &Step,
        scope: &Scope<'_>,
    ) -> Result<(Vec<Prepared>, Option<String>), Status> {
        let missing_value =
            |message: String| Status::new(Code::FailedPrecondition, message, ErrorSource::Gateway);
        let Some(iteration) = &step.iteration else {
            return Ok((vec![prepare_one(step, scope).map_err(missing_value)?], None));
        };
        let list = match iteration.source.resolve(scope) {
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(missing_value(format!(
                    "the value {{{}}} is not an array",
                    iteration.source.text
                )))
            }
            None => return Err(missing_value(missing(&iteration.source))),
        };
        let mut cut = None;
        let mut items = list;
        if items.len() > iteration.max_items {
            let message = format!(
                "{} items, more than max_items {}",
                items.len(),
                iteration.max_items
            );
            match iteration.over_limit {
                super::OverLimit::Fail => {
                    return Err(Status::new(Code::OutOfRange, message, ErrorSource::Gateway))
                }
                super::OverLimit::Partial => {
                    items.truncate(iteration.max_items);
                    cut = Some(format!(
                        "{message}: the first {} were used",
                        iteration.max_items
                    ));
                }
            }
        }
        let calls = if iteration.collect {
            let each = Value::Array(items);
            let scope = Scope {
                each: Some(&each),
                ..*scope
            };
            vec![prepare_one(step, &scope).map_err(missing_value)?]
        } else {
            items
                .iter()
                .map(|item| {
                    let scope = Scope {
                        each: Some(item),
                        ..*scope
                    };
                    prepare_one(step, &scope).map_err(missing_value)
                })
                .collect::<Result<_, _>>()?
        };
        Ok((calls, cut))
    }

    /// Calls a step (each of its calls, `concurrency` at a time, answers in input order).
    async fn execute(
        &self,
        step: &Step,
        calls: Vec<Prepared>,
        metadata: &HeaderMap,
        deadline: Instant,
        tree: bool,
    ) -> Result<Answer, Status> {
        let now = Instant::now();
        // The step's own timeout, when it ends before the route's deadline.
        let (step_deadline, own_timeout) = match step.timeout {
            Some(timeout) if now + timeout < deadline => (now + timeout, Some(timeout)),
            _ => (deadline, None),
        };
        let iterate = step.iteration.as_ref().filter(|i| !i.collect);
        let work = async {
            match iterate {
                None => {
                    let call = calls
                        .into_iter()
                        .next()
                        .ok_or_else(|| Status::internal("no call"))?;
                    call_once(step, call, metadata, step_deadline, tree).await
                }
                Some(iteration) => {
                    let answers: Vec<Answer> = stream::iter(calls)
                        .map(|call| call_once(step, call, metadata, step_deadline, tree))
                        .buffered(iteration.concurrency)
                        .try_collect()
                        .await?;
                    array(answers)
                }
            }
        };
        let late = || {
            Status::deadline_exceeded(match own_timeout {
                Some(timeout) => format!("no answer within its timeout of {timeout:?}"),
                None => "no answer within the route's deadline".to_owned(),
            })
        };
        match tokio::time::timeout_at(step_deadline, work).await {
            // The backend's own timer (the call carries the step's time) may fire first.
            Ok(Err(status))
                if status.code() == Code::DeadlineExceeded && Instant::now() >= step_deadline =>
            {
                Err(late())
            }
            Ok(answer) => answer,
            Err(_) => Err(late()),
        }
    }

    /// The composed answer: each step's answer under its group (or merged, in file order).
    fn shape(
        &self,
        answers: Vec<Option<Value>>,
        texts: Vec<Option<Box<RawValue>>>,
        failures: &[Failure],
    ) -> GatewayResponse {
        let mut root = Node::Object(std::collections::BTreeMap::new());
        let out = root.members();
        for ((step, answer), text) in self.steps.iter().zip(answers).zip(texts) {
            let answer = match (answer, text) {
                (Some(value), _) => Answer::Tree(value),
                (None, Some(text)) => Answer::Text(text),
                (None, None) => continue,
            };
            if step.merge {
                match answer {
                    Answer::Tree(Value::Object(members)) => out.extend(
                        members
                            .into_iter()
                            .map(|(key, value)| (key, Node::Answer(Answer::Tree(value)))),
                    ),
                    other => {
                        out.insert(step.name.to_string(), Node::Answer(other));
                    }
                }
                continue;
            }
            let (last, parents) = step.group.split_last().expect("a group has a key");
            let mut target = &mut *out;
            for parent in parents {
                target = target
                    .entry(parent.clone())
                    .or_insert_with(|| Node::Object(std::collections::BTreeMap::new()))
                    .members();
            }
            target.insert(last.clone(), Node::Answer(answer));
        }
        let upstream = if failures.is_empty() {
            None
        } else {
            if self.errors {
                let errors = failures
                    .iter()
                    .map(|failure| {
                        let step = &self.steps[failure.step];
                        serde_json::json!({
                            "step": &*step.name,
                            "path": step.group.join("."),
                            "code": crate::telemetry::metrics::code_name(failure.code),
                            "message": failure.message,
                        })
                    })
                    .collect();
                out.insert(
                    "errors".into(),
                    Node::Answer(Answer::Tree(Value::Array(errors))),
                );
            }
            let mut failed: Vec<usize> = failures.iter().map(|f| f.step).collect();
            failed.sort_unstable();
            failed.dedup();
            let names: Vec<&str> = failed.iter().map(|i| &*self.steps[*i].name).collect();
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(&names.join(", ")) {
                headers.insert(PARTIAL, value);
            }
            // A partial answer is never stored, by the response cache or by anyone else.
            headers.insert(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            );
            Some(Box::new(UpstreamReply {
                status: 200,
                headers,
                location: None,
                foreign_location: None,
                body: None,
                pass_through: true,
            }))
        };
        let body = serde_json::to_vec(&root).unwrap_or_default();
        GatewayResponse {
            metadata: HeaderMap::new(),
            body: ResponseBody::Unary {
                message: Payload::Json(Bytes::from(body)),
                trailers: HeaderMap::new(),
            },
            upstream,
            cache: None,
        }
    }
}

/// Binds one call of a step from the values in scope.
fn prepare_one(step: &Step, scope: &Scope<'_>) -> Result<Prepared, String> {
    let body = match &step.request {
        Some(template) => {
            Some(serde_json::to_vec(&template.render(scope)?).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let path = step
        .path_values
        .iter()
        .map(|expr| {
            let value = expr.resolve(scope).ok_or_else(|| missing(expr))?;
            as_text(&value).ok_or_else(|| not_text(expr))
        })
        .collect::<Result<_, String>>()?;
    Ok(Prepared { body, path })
}

/// Makes one call of a step and returns its answer as JSON, its selection applied.
async fn call_once(
    step: &Step,
    call: Prepared,
    metadata: &HeaderMap,
    deadline: Instant,
    tree: bool,
) -> Result<Answer, Status> {
    let route = &step.route;
    let variables = route.pattern.variables();
    let captures: Vec<Capture<'_, '_>> = variables
        .iter()
        .zip(call.path)
        .map(|(variable, value)| Capture {
            field_path: variable.field_path,
            value: Cow::Owned(value),
        })
        .collect();
    let body = match call.body {
        Some(json) => RequestBody::Unary(Payload::Json(Bytes::from(json))),
        None => RequestBody::Empty,
    };
    let remaining = deadline.saturating_duration_since(Instant::now());
    let mut bound = route.bind(&captures, None, body, metadata.clone(), Some(remaining))?;
    if !step.safe {
        // A write is never repeated: no rollback exists for a half-done composition.
        bound.idempotent = false;
    }
    let answer = match route.backend.call(bound).await {
        Ok(response) => route.encode_response(response)?,
        Err(mut status) => {
            route.render_details(&mut status);
            drop(status.take_upstream());
            return Err(status);
        }
    };
    let ResponseBody::Unary { message, .. } = answer.body else {
        return Err(Status::internal("a step answered with a stream"));
    };
    let json = match message {
        Payload::Json(json) => json,
        Payload::Raw { content_type, .. } => {
            return Err(Status::upstream_fault(
                Code::Internal,
                format!("answered {content_type}, not JSON"),
            ))
        }
        Payload::Protobuf(_) | Payload::Xml(_) => {
            return Err(Status::internal("answered in a form a step cannot read"))
        }
    };
    let selected = match step.selection.apply(&json) {
        Ok(Some(selected)) => Cow::Owned(selected),
        Ok(None) => Cow::Borrowed(&json[..]),
        Err(e) => return Err(Status::upstream_fault(Code::Internal, e)),
    };
    if selected.is_empty() {
        return Ok(Answer::Tree(Value::Object(Map::new())));
    }
    let answer = match tree {
        true => serde_json::from_slice(&selected).map(Answer::Tree),
        false => serde_json::from_slice(&selected).map(Answer::Text),
    };
    answer
        .map_err(|e| Status::upstream_fault(Code::Internal, format!("the answer is not JSON: {e}")))
}

/// The answers of a `for_each` step's calls, in input order, as one array.
fn array(answers: Vec<Answer>) -> Result<Answer, Status> {
    if answers
        .iter()
        .all(|answer| matches!(answer, Answer::Tree(_)))
    {
        let values = answers.into_iter().map(|answer| match answer {
            Answer::Tree(value) => value,
            Answer::Text(_) => Value::Null, // none: checked above
        });
        return Ok(Answer::Tree(Value::Array(values.collect())));
    }
    let mut text = String::from("[");
    for (i, answer) in answers.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        match answer {
            Answer::Text(raw) => text.push_str(raw.get()),
            Answer::Tree(value) => text.push_str(&value.to_string()),
        }
    }
    text.push(']');
    RawValue::from_string(text)
        .map(Answer::Text)
        .map_err(|e| Status::internal(format!("joining the answers: {e}")))
}
