//! The quickstart: the demo library backend (gRPC on 127.0.0.1:50051, with the reading room's
//! service), the demo Warehouse (a legacy SOAP 1.1 service on 127.0.0.1:50052), the WebSocket
//! demo page's server (127.0.0.1:50053), the reviews service (REST/JSON on 127.0.0.1:50054) and
//! polygate in front of them (REST/JSON and WebSocket on
//! 127.0.0.1:8080 and an embedded MQTT broker on 127.0.0.1:1883, from `examples/demo.yaml`,
//! `mappings/` and `examples/web/routes.yaml`), in one process.
//!
//! Run with `cargo run --release --example demo`, then try the curl and mosquitto lines it
//! prints, or open http://127.0.0.1:8080/demo in a browser.

#[path = "common/grpc_server.rs"]
mod grpc_server;
#[path = "common/http_server.rs"]
mod http_server;
#[path = "common/library.rs"]
mod library;
#[path = "common/reviews.rs"]
mod reviews;
#[path = "common/warehouse.rs"]
mod warehouse;
#[path = "common/web.rs"]
mod web;
#[path = "common/xml_tree.rs"]
mod xml_tree;

use std::path::Path;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    polygate::install_crypto_provider();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let backend = library::library_backend(library::library_pool(&root.join("protos")))
        .start_on("127.0.0.1:50051")
        .await?;
    let warehouse = warehouse::start_warehouse("127.0.0.1:50052").await?;
    let page = web::start_page_server("127.0.0.1:50053").await?;
    let reviews = reviews::start_reviews("127.0.0.1:50054").await?;
    let config = polygate::config::Config::from_file(&root.join("examples/demo.yaml"))?;
    let gateway = match polygate::app::build(&config).await {
        Ok(gateway) => gateway,
        Err(errors) => anyhow::bail!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    };
    let running = polygate::app::start(gateway).await?;
    running.wait_ready("mqtt").await;
    let base = format!(
        "http://{}",
        running
            .local_addr("http")
            .expect("the demo config has an http listener")
    );
    println!("demo library backend (gRPC) on {}", backend.url());
    println!("demo Warehouse (SOAP 1.1) on {}/warehouse", warehouse.url());
    let mqtt = running
        .local_addr("mqtt")
        .expect("the demo config has an MQTT frontend");
    println!("demo page server on {}", page.url());
    println!("demo reviews (REST/JSON) on {}/reviews", reviews.url());
    if let Some(admin) = running.admin_addr() {
        println!("polygate admin (/healthz /readyz /metrics /config /routes) on http://{admin}");
    }
    println!(
        "polygate (REST/JSON and WebSocket) on {base}, with an embedded MQTT broker on mqtt://{mqtt}\n"
    );
    println!("Open {base}/demo in a browser: one WebSocket (ws://{}/ws) carrying a server stream, a bidirectional call and unary calls.\n\nOr try:", base.trim_start_matches("http://"));
    for line in [
        format!("curl -s {base}/v1/shelves"),
        format!("curl -s {base}/v1/shelves/1"),
        format!("curl -s -H 'x-api-key: demo-key' -X POST {base}/v1/shelves -H 'Content-Type: application/json' -d '{{\"theme\":\"Poetry\",\"genre\":\"FICTION\"}}'"),
        format!("curl -s '{base}/v1/shelves/1/books?author=Leo%20Tolstoy'"),
        format!("curl -s -H 'x-api-key: demo-key' -X PATCH '{base}/v1/shelves/1/books/1?update_mask=pages' -H 'Content-Type: application/json' -d '{{\"pages\":1296}}'"),
        format!("curl -s -H 'x-api-key: demo-key' -X POST {base}/v1/shelves/2:archive -H 'Content-Type: application/json' -d '{{\"reason\":\"moved\"}}'"),
        format!("curl -sN {base}/v1/shelves/1/books:watch"),
        format!("curl -sN -H 'Accept: text/event-stream' {base}/v1/shelves/1/books:watch"),
        format!("printf '{{\"title\":\"Anna Karenina\"}}\\n{{\"title\":\"Resurrection\"}}\\n' | curl -s -H 'x-api-key: demo-key' -X POST {base}/v1/shelves/1/books:import -H 'Content-Type: application/x-ndjson' --data-binary @-"),
        format!("curl -s {base}/v1/shelves/1/books/1/cover -o cover.svg"),
        format!("curl -s {base}/v1/admin/stats"),
        format!("curl -s -i {base}/v1/shelves/99"),
        format!("curl -s {base}/v1/warehouse/items/CUP-1001"),
        format!("curl -s '{base}/v1/warehouse/items?category=kitchen'"),
        format!("curl -s -i {base}/v1/bookshop/1/1    # gRPC + SOAP + REST in one cached answer: call it twice"),
        format!("curl -s -H 'x-api-key: demo-key' -X POST {base}/v1/warehouse/orders -H 'Content-Type: application/json' -d '{{\"customer\":{{\"name\":\"Ada\",\"email\":\"ada@example.com\",\"address\":{{\"street\":\"1 Loop Rd\",\"city\":\"Lyon\",\"zip\":\"01234\",\"country\":\"FR\"}}}},\"line\":[{{\"sku\":\"CUP-1001\",\"quantity\":2}}]}}'"),
        format!("curl -s -i -H 'x-api-key: demo-key' -X POST {base}/v1/warehouse/orders -H 'Content-Type: application/json' -d '{{\"customer\":{{\"name\":\"Ada\",\"email\":\"ada@example.com\",\"address\":{{\"street\":\"1 Loop Rd\",\"city\":\"Lyon\",\"zip\":\"01234\",\"country\":\"FR\"}}}},\"line\":[{{\"sku\":\"KET-1002\",\"quantity\":5}}]}}'"),
        format!("curl -s -i -H 'x-api-key: demo-key' -X DELETE '{base}/v1/warehouse/orders/42?reason=changed%20my%20mind'"),
    ] {
        println!("  {line}");
    }
    let (host, port) = (mqtt.ip(), mqtt.port());
    let publish = format!("mosquitto_pub -h {host} -p {port} -q 1");
    println!("\nMQTT (Debian: apt-get install mosquitto-clients); watch every room topic in a second terminal:");
    for line in [
        format!("mosquitto_sub -h {host} -p {port} -v -t 'rooms/#'"),
        format!("{publish} -t rooms/atrium/sensors/s1/reading -m '{{\"celsius\":21.5,\"humidity\":40}}'"),
        format!("{publish} -t rooms/atrium/sensors/s2/reading -m '{{\"celsius\":27}}'    # too warm: a ventilate command follows on rooms/atrium/commands"),
        format!("{publish} -t rooms/atrium/climate/get -m '{{}}'                       # the answer comes on rooms/atrium/climate"),
        format!("{publish} -t rooms/atrium/sensors/s1/reading -m 'not json'           # code 3 on rooms/atrium/errors"),
        format!("mosquitto_rr -h {host} -p {port} -q 1 -t rooms/lobby/climate/get -e replies/me -m '{{}}'   # MQTT 5 request/response (NOT_FOUND until the lobby reports)"),
        format!("curl -s -H 'x-api-key: demo-key' -X POST {base}/v1/rooms/atrium/commands -H 'Content-Type: application/json' -d '{{\"action\":\"lights-off\"}}'"),
        format!("curl -s {base}/v1/rooms/atrium/climate"),
    ] {
        println!("  {line}");
    }
    println!("\nCtrl-C or SIGTERM stops them all (draining requests under way; a second one exits at once).");
    polygate::shutdown_signal().await;
    running.shutdown().await;
    backend.stop().await;
    warehouse.stop().await;
    page.stop().await;
    reviews.stop().await;
    Ok(())
}
