//! The quickstart: the demo library backend (gRPC on 127.0.0.1:50051) and polygate in front of
//! it (REST/JSON on 127.0.0.1:8080, from `examples/demo.yaml`), in one process.
//!
//! Run with `cargo run --release --example demo`, then try the curl lines it prints.

#[path = "common/grpc_server.rs"]
mod grpc_server;
#[path = "common/library.rs"]
mod library;

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
    let base = format!(
        "http://{}",
        running
            .http_addr
            .expect("the demo config has an http listener")
    );
    println!("demo library backend (gRPC) on {}", backend.url());
    println!("polygate (REST/JSON) on {base}\n\nTry:");
    for line in [
        format!("curl -s {base}/v1/shelves"),
        format!("curl -s {base}/v1/shelves/1"),
        format!("curl -s -X POST {base}/v1/shelves -H 'Content-Type: application/json' -d '{{\"theme\":\"Poetry\",\"genre\":\"FICTION\"}}'"),
        format!("curl -s '{base}/v1/shelves/1/books?author=Leo%20Tolstoy'"),
        format!("curl -s -X PATCH '{base}/v1/shelves/1/books/1?update_mask=pages' -H 'Content-Type: application/json' -d '{{\"pages\":1296}}'"),
        format!("curl -s -X POST {base}/v1/shelves/2:archive -H 'Content-Type: application/json' -d '{{\"reason\":\"moved\"}}'"),
        format!("curl -sN {base}/v1/shelves/1/books:watch"),
        format!("curl -sN -H 'Accept: text/event-stream' {base}/v1/shelves/1/books:watch"),
        format!("printf '{{\"title\":\"Anna Karenina\"}}\\n{{\"title\":\"Resurrection\"}}\\n' | curl -s -X POST {base}/v1/shelves/1/books:import -H 'Content-Type: application/x-ndjson' --data-binary @-"),
        format!("curl -s {base}/v1/shelves/1/books/1/cover -o cover.svg"),
        format!("curl -s {base}/v1/admin/stats"),
        format!("curl -s -i {base}/v1/shelves/99"),
    ] {
        println!("  {line}");
    }
    println!("\nCtrl-C stops both.");
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    backend.stop().await;
    Ok(())
}
