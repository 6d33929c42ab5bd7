//! Issue 12, item 1b: the direct binding — a route bound to a WebSocket path, one call per
//! socket, each text frame a request message, `{"result":…}` / `{"error":…}` frames, an empty
//! frame ending the client stream, and the close code from the status.

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Error as WsError;
use tonic::{Code, Status};

use crate::support::live::shouting;
use crate::support::ws_client::{Closed, WsClient};
use crate::support::{
    message, request_names, test_backend, test_config, to_json, Gateway, GrpcServer, Reply,
};

const BINDINGS: &str = "http:
  rules:
    - selector: polygate.test.v1.Testing.Echo
      websocket: /ws/echo
    - selector: polygate.test.v1.Testing.List
      websocket: /ws/list/{name}
      body: ''
    - selector: polygate.test.v1.Testing.Collect
      websocket: /ws/collect/{parent}
    - selector: polygate.test.v1.Testing.Chat
      websocket: /ws/chat/{parent}
";

async fn gateway(backend: &GrpcServer) -> Gateway {
    let config = test_config(&backend.url(), "websocket: {}\nmappings: [bindings.yaml]\n");
    Gateway::start(&config, &[("bindings.yaml", BINDINGS)]).await
}

async fn results(ws: &mut WsClient) -> (Vec<Value>, Closed) {
    let mut frames = Vec::new();
    loop {
        match ws.text().await {
            Ok(text) => frames.push(serde_json::from_str(&text).unwrap()),
            Err(closed) => return (frames, closed),
        }
    }
}

#[tokio::test]
async fn unary_and_server_streaming_take_the_first_frame_as_the_request() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/List", |call| async move {
            let name = to_json(call.message())["name"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            Ok(Reply::stream(
                (1..=2)
                    .map(|i| {
                        message(
                            "polygate.test.v1.Everything",
                            json!({"name": format!("{name}-{i}")}),
                        )
                    })
                    .collect(),
                None,
            ))
        })
        .start()
        .await;
    let gateway = gateway(&backend).await;
    let addr = gateway.addr("http");

    let mut ws = WsClient::open(addr, "/ws/echo", &[]).await.unwrap();
    ws.send(json!({"name": "one", "int32Value": 1})).await;
    assert_eq!(
        results(&mut ws).await,
        (
            vec![json!({"result": {"name": "one", "int32Value": 1}})],
            Closed {
                code: 1000,
                reason: String::new()
            }
        )
    );

    let mut ws = WsClient::open(addr, "/ws/list/shelf?int32Value=3", &[])
        .await
        .unwrap();
    ws.send_text("").await;
    assert_eq!(
        results(&mut ws).await.0,
        vec![
            json!({"result": {"name": "shelf-1"}}),
            json!({"result": {"name": "shelf-2"}})
        ]
    );
    assert_eq!(
        to_json(backend.last_call().message()),
        json!({"name": "shelf", "int32Value": 3})
    );
    gateway.stop().await;
}

#[tokio::test]
async fn client_and_bidi_streams_take_a_frame_per_message_and_an_empty_frame_ends_them() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/Collect", |call| async move {
            let names = request_names(&call);
            Ok(Reply::one(message(
                "polygate.test.v1.Everything",
                json!({"name": names.join("+")}),
            )))
        })
        .handle_live("polygate.test.v1.Testing/Chat", shouting)
        .start()
        .await;
    let gateway = gateway(&backend).await;
    let addr = gateway.addr("http");

    let mut ws = WsClient::open(addr, "/ws/collect/p", &[]).await.unwrap();
    for name in ["a", "b", "c"] {
        ws.send(json!({"name": name})).await;
    }
    ws.send_text("").await;
    assert_eq!(
        results(&mut ws).await,
        (
            vec![json!({"result": {"name": "a+b+c"}})],
            Closed {
                code: 1000,
                reason: String::new()
            }
        )
    );
    let parents: Vec<Value> = backend
        .last_call()
        .messages
        .iter()
        .map(|m| to_json(m)["parent"].clone())
        .collect();
    assert_eq!(parents, vec![json!("p"), json!("p"), json!("p")]);

    let mut ws = WsClient::open(addr, "/ws/chat/room-1", &[]).await.unwrap();
    for word in ["hello", "world"] {
        ws.send(json!({"name": word})).await;
        let answer: Value = serde_json::from_str(&ws.text().await.unwrap()).unwrap();
        assert_eq!(
            answer,
            json!({"result": {"name": word.to_uppercase(), "parent": "room-1"}})
        );
    }
    ws.send_text("").await;
    assert_eq!(
        results(&mut ws).await,
        (
            vec![],
            Closed {
                code: 1000,
                reason: String::new()
            }
        )
    );
    gateway.stop().await;
}

#[tokio::test]
async fn a_failed_call_ends_with_an_error_frame_and_4000_plus_its_code() {
    let backend = test_backend()
        .handle("polygate.test.v1.Testing/List", |_| async move {
            Err(Status::new(Code::NotFound, "no such list"))
        })
        .start()
        .await;
    let gateway = gateway(&backend).await;
    let addr = gateway.addr("http");
    let mut ws = WsClient::open(addr, "/ws/list/none", &[]).await.unwrap();
    ws.send_text("").await;
    assert_eq!(
        results(&mut ws).await,
        (
            vec![json!({"error": {"code": 5, "message": "no such list", "details": []}})],
            Closed {
                code: 4005,
                reason: "no such list".into()
            }
        )
    );

    let mut ws = WsClient::open(addr, "/ws/echo", &[]).await.unwrap();
    ws.send_text("{\"int32Value\": \"lots\"}").await;
    let (frames, closed) = results(&mut ws).await;
    assert_eq!(frames[0]["error"]["code"], 3);
    assert_eq!(closed.code, 4003);

    let refused = WsClient::open(addr, "/ws/nowhere", &[])
        .await
        .err()
        .unwrap();
    let WsError::Http(response) = refused else {
        panic!("an HTTP answer, not {refused:?}")
    };
    assert_eq!(response.status(), 404);
    gateway.stop().await;
}

#[tokio::test]
async fn websocket_routes_need_the_websocket_frontend() {
    polygate::install_crypto_provider();
    let backend = test_backend().start().await;
    let dir = crate::support::scratch_dir();
    std::fs::write(dir.join("bindings.yaml"), BINDINGS).unwrap();
    let path = dir.join("polygate.yaml");
    std::fs::write(
        &path,
        test_config(&backend.url(), "mappings: [bindings.yaml]\n"),
    )
    .unwrap();
    let config = polygate::config::Config::from_file(&path).unwrap();
    let errors = match polygate::app::build(&config).await {
        Ok(_) => panic!("a websocket: route without the WebSocket frontend is refused"),
        Err(errors) => errors,
    };
    assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec!["routes bind WebSocket paths (websocket:), but the WebSocket frontend is off; add a websocket: section (websocket: {} takes the defaults)"]
    );
    let config = polygate::config::Config {
        websocket: Some(Default::default()),
        ..Default::default()
    };
    let errors = match polygate::app::build(&config).await {
        Ok(_) => panic!("WebSockets without a listener are refused"),
        Err(errors) => errors,
    };
    assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec!["websocket: without `listen`, WebSockets are upgrades on the http: listener; configure http: or websocket.listen"]
    );
}
