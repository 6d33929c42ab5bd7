//! The frontend registry: a frontend registered in code (not from the config) serves through the
//! one pipeline, and a topic key reaches a gRPC route with its topic variables bound — the shape
//! the MQTT frontend uses.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use polygate::frontends::{Listener, ServeFuture, Shutdown};
use polygate::model::{GatewayRequest, Payload, RequestBody, RequestKey, ResponseBody, Status};
use polygate::pipeline::Pipeline;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use crate::support::{scratch_dir, test_backend, test_config, to_json};

/// A message for the toy frontend: a topic, a JSON payload, and where the answer goes.
type Delivery = (String, &'static str, oneshot::Sender<Result<Bytes, Status>>);

/// A frontend that takes messages from a channel instead of a socket.
struct ToyFrontend {
    inbox: mpsc::Receiver<Delivery>,
}

impl Listener for ToyFrontend {
    fn protocol(&self) -> &'static str {
        "toy messages"
    }

    fn url(&self) -> String {
        "toy://in-process".into()
    }

    fn local_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    fn serve(mut self: Box<Self>, pipeline: Arc<Pipeline>, shutdown: Shutdown) -> ServeFuture {
        Box::pin(async move {
            let stopped = shutdown.fired();
            tokio::pin!(stopped);
            loop {
                let (topic, payload, reply) = tokio::select! {
                    () = &mut stopped => return,
                    delivery = self.inbox.recv() => match delivery {
                        Some(delivery) => delivery,
                        None => return,
                    },
                };
                let request = GatewayRequest {
                    key: RequestKey::Topic {
                        topic: topic.into(),
                    },
                    body: RequestBody::Unary(Payload::Json(Bytes::from_static(payload.as_bytes()))),
                    metadata: HeaderMap::new(),
                    timeout: None,
                    context: Default::default(),
                };
                let answer =
                    pipeline
                        .handle(request)
                        .await
                        .and_then(|response| match response.body {
                            ResponseBody::Unary { message, .. } => Ok(message.bytes().clone()),
                            ResponseBody::Stream(_) => Err(Status::internal("a stream")),
                        });
                let _ = reply.send(answer);
            }
        })
    }
}

async fn deliver(
    sender: &mpsc::Sender<Delivery>,
    topic: &str,
    payload: &'static str,
) -> Result<serde_json::Value, Status> {
    let (reply, answer) = oneshot::channel();
    sender
        .send((topic.to_owned(), payload, reply))
        .await
        .expect("the toy frontend runs");
    answer
        .await
        .expect("the toy frontend answers")
        .map(|bytes| serde_json::from_slice(&bytes).expect("JSON"))
}

#[tokio::test]
async fn a_registered_frontend_routes_a_topic_key_to_a_grpc_route() {
    polygate::install_crypto_provider();
    let backend = test_backend().start().await;
    let dir = scratch_dir();
    std::fs::write(
        dir.join("topics.yaml"),
        "http:\n  rules:\n    - selector: polygate.test.v1.Testing.EchoNested\n      topic: devices/{name}/telemetry/{nested.label}\n",
    )
    .unwrap();
    let config = test_config(&backend.url(), "mappings: [topics.yaml]\n");
    std::fs::write(dir.join("polygate.yaml"), config).unwrap();
    let config = polygate::config::Config::from_file(&dir.join("polygate.yaml")).unwrap();
    let gateway = polygate::app::build(&config).await.unwrap();

    let (sender, inbox) = mpsc::channel(1);
    let running = polygate::app::start_listeners(
        gateway.pipeline,
        vec![("toy", Box::new(ToyFrontend { inbox }) as Box<dyn Listener>)],
    )
    .unwrap();
    assert_eq!(running.frontends[0].protocol, "toy messages");

    let answer = deliver(
        &sender,
        "devices/d-7/telemetry/boiler",
        r#"{"int32Value": 21, "name": "from-the-payload"}"#,
    )
    .await
    .unwrap();
    let reached = json!({"name": "d-7", "int32Value": 21, "nested": {"label": "boiler"}});
    assert_eq!(to_json(backend.last_call().message()), reached);
    assert_eq!(answer, reached);

    let unknown = deliver(&sender, "devices/d-7/status", "{}")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), polygate::model::Code::NotFound);
    assert_eq!(unknown.message(), "no route for topic devices/d-7/status");
    assert_eq!(backend.calls().len(), 1);

    running.shutdown().await;
}
