//! polygate: a multi-protocol translating gateway.
//!
//! The pipeline in five sentences:
//!
//! 1. A **frontend** ([`frontends`]: REST/JSON over HTTP/1.1 and h2c, and every protocol
//!    registered beside it) decodes what a client sends into one [`model::GatewayRequest`],
//!    keyed by what the client addressed in its protocol's words ([`model::RequestKey`]).
//! 2. The **mapping layer** ([`mapping`]) holds an immutable route table built from
//!    `google.api.http` annotations and mapping files; a route listens on a pattern (a path
//!    template with a method, or a topic template) and its plan binds the request to a
//!    [`model::BackendCall`].
//! 3. A **backend** ([`backends`]: gRPC, SOAP, plain XML, REST) turns the call into its protocol
//!    over pooled connections and answers with a [`model::GatewayResponse`] or a
//!    [`model::Status`]; wire formats are converted by the [`codec`] layer (proto3 JSON ⇄
//!    protobuf, JSON ⇄ XML, SOAP envelopes), never by hand.
//! 4. The route's plan turns the answer back into the client's form, and the frontend frames it
//!    (a JSON body, NDJSON, Server-Sent Events, …) or encodes the `Status` in its one encoder.
//! 5. gRPC status codes, with a protocol-neutral [`model::Rejection`] where they say too little,
//!    are the error vocabulary of the whole gateway.
//!
//! [`pipeline::Pipeline::handle`] is that path, the same for every frontend. See
//! `docs/DESIGN.md` for the module map, the direction of dependencies and how to add a protocol.

pub mod admin;
pub mod app;
pub mod backends;
pub mod cache;
pub mod cli;
pub mod codec;
pub mod config;
pub mod describe;
pub mod descriptors;
pub mod frontends;
pub mod import;
pub mod io;
pub mod mapping;
pub mod model;
pub mod mqtt_client;
pub mod pipeline;
pub mod policy;
pub mod reload;
pub mod shared_state;
pub mod telemetry;
mod tls;

use std::process::ExitCode;

use cli::{ImportCommand, Source};

/// `polygate serve`: builds the gateway and serves until Ctrl-C or SIGTERM.
pub async fn serve(source: &Source) -> ExitCode {
    install_crypto_provider();
    let config = match source.load() {
        Ok(config) => config,
        Err(error) => return report(&[error]),
    };
    match app::run(&config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(errors) => report(&errors),
    }
}

/// `polygate check`: validates everything and prints the route table.
pub async fn check(source: &Source) -> ExitCode {
    install_crypto_provider();
    let config = match source.load() {
        Ok(config) => config,
        Err(error) => return report(&[error]),
    };
    match app::build(&config).await {
        Ok(gateway) => {
            let table = gateway.pipeline.routes();
            let policies = gateway.pipeline.policies();
            let rows: Vec<[String; 6]> = table
                .routes()
                .map(|r| {
                    [
                        r.pattern.verb().to_owned(),
                        r.pattern.address().to_owned(),
                        r.backend_name.to_string(),
                        policies.describe(
                            &r.options.policy,
                            http::Method::from_bytes(r.pattern.verb().as_bytes())
                                .ok()
                                .as_ref(),
                        ),
                        r.options
                            .cache
                            .as_ref()
                            .map_or_else(|| "-".to_owned(), |c| c.describe()),
                        r.operation.to_string(),
                    ]
                })
                .collect();
            print_table(
                ["METHOD", "PATH", "BACKEND", "AUTH", "CACHE", "OPERATION"],
                &rows,
            );
            println!("{} routes, configuration OK", rows.len());
            ExitCode::SUCCESS
        }
        Err(errors) => report(&errors),
    }
}

/// `polygate openapi` / `polygate asyncapi`: builds the route table as `check` does and writes
/// its OpenAPI 3.1 (JSON, or YAML with `--yaml`) or AsyncAPI 3.0 document to standard output.
pub async fn describe(args: &cli::DescribeArgs, asyncapi: bool) -> ExitCode {
    install_crypto_provider();
    let config = match args.source.load() {
        Ok(config) => config,
        Err(error) => return report(&[error]),
    };
    let gateway = match app::build(&config).await {
        Ok(gateway) => gateway,
        Err(errors) => return report(&errors),
    };
    let table = gateway.pipeline.routes();
    let info = describe::Info {
        server: config.http.as_ref().map(|h| format!("http://{}", h.listen)),
        ..describe::Info::default()
    };
    let text = if asyncapi {
        let websocket_path = config
            .websocket
            .as_ref()
            .map(|w| w.path.clone().unwrap_or_else(|| "/ws".to_owned()));
        describe::asyncapi_json(&table, &info, websocket_path.as_deref())
    } else if args.yaml {
        describe::openapi_yaml(&table, &info)
    } else {
        describe::openapi_json(&table, &info)
    };
    use std::io::Write;
    match std::io::stdout().lock().write_all(&text) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: cannot write: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `polygate import wsdl`: writes a mapping file, or prints why the WSDL cannot be imported.
pub fn import(command: &ImportCommand) -> ExitCode {
    let ImportCommand::Wsdl(args) = command;
    let options = import::wsdl::WsdlImportOptions {
        service: args.service.clone(),
        port: args.port.clone(),
        soap_version: args.soap_version.as_deref().map(|v| match v {
            "1.2" => codec::soap::SoapVersion::V12,
            _ => codec::soap::SoapVersion::V11,
        }),
        backend: args.backend.clone(),
        path_prefix: args.path_prefix.clone(),
    };
    let text = match import::wsdl::import_wsdl(&args.file, &options) {
        Ok(text) => text,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    match &args.output {
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {}: {error}", path.display());
                ExitCode::FAILURE
            }
        },
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
    }
}

fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: [&str; N]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i == N - 1 {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        println!("{}", text.trim_end());
    };
    line(header);
    for row in rows {
        line(row.each_ref().map(String::as_str));
    }
}

fn report(errors: &[config::ConfigError]) -> ExitCode {
    for error in errors {
        eprintln!("error: {error}");
    }
    ExitCode::FAILURE
}

/// Makes ring the process's TLS provider, once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // JWT verification's pure-Rust provider, named so a feature unified in from elsewhere
    // cannot leave jsonwebtoken with a provider that panics on first use.
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// Listens for Ctrl-C and SIGTERM from the moment it is called; the returned future resolves
/// at the first one, so the caller can drain, and a second one exits the process at once
/// (status 130), whatever is under way.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let mut signals = Termination::listen();
    async move {
        signals.next().await;
        tracing::info!("draining; a second Ctrl-C or SIGTERM exits at once");
        tokio::spawn(async move {
            signals.next().await;
            tracing::warn!("second termination signal: exiting without draining");
            std::process::exit(130);
        });
    }
}

/// Ctrl-C and SIGTERM, registered once and received as often as they come.
struct Termination {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Termination {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Self {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The next Ctrl-C or SIGTERM.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn received(signal: &mut Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = received(&mut self.interrupt) => {}
                () = received(&mut self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
