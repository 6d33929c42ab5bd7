//! The command line: `polygate serve` and `polygate check`, from a config file or from
//! zero-config flags that describe one gRPC backend; `polygate import wsdl`; `polygate openapi`
//! and `polygate asyncapi`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::backends::grpc::GrpcBackendConfig;
use crate::backends::BackendConfig;
use crate::config::{Config, ConfigError};
use crate::descriptors::SchemaConfig;
use crate::frontends::http::HttpFrontendConfig;

/// polygate: a translating gateway in front of gRPC services.
#[derive(Debug, Parser)]
#[command(name = "polygate", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(Source),
    /// Validate everything, print the route table, and exit non-zero on any error.
    Check(Source),
    /// Write a mapping file from another service description.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Write the OpenAPI 3.1 document of the HTTP routes to standard output.
    Openapi(DescribeArgs),
    /// Write the AsyncAPI 3.0 document of the MQTT and WebSocket routes to standard output.
    Asyncapi(DescribeArgs),
}

/// `polygate openapi` and `polygate asyncapi`: the same sources as `serve`.
#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Where the configuration comes from.
    #[command(flatten)]
    pub source: Source,
    /// Write YAML instead of JSON (`openapi` only).
    #[arg(long)]
    pub yaml: bool,
}

/// What `polygate import` reads.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// A WSDL 1.1 file (document/literal SOAP 1.1 or 1.2): one REST route per operation.
    Wsdl(WsdlArgs),
}

/// `polygate import wsdl FILE.wsdl`.
#[derive(Debug, Args)]
pub struct WsdlArgs {
    /// The WSDL file; imported WSDLs and XSDs are read relative to it.
    #[arg(value_name = "FILE.wsdl")]
    pub file: PathBuf,
    /// Write the mapping file here instead of to standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The service to import (default: the first one).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// The port to import (default: the first SOAP port of the chosen version).
    #[arg(long, value_name = "NAME")]
    pub port: Option<String>,
    /// The SOAP version of the port: 1.1 (preferred by default) or 1.2.
    #[arg(long, value_name = "VERSION", value_parser = ["1.1", "1.2"])]
    pub soap_version: Option<String>,
    /// The backend name the routes use (default: the service name in lower case).
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,
    /// The path every route starts with (default: `/` + the backend name).
    #[arg(long, value_name = "PATH")]
    pub path_prefix: Option<String>,
}

/// Where the configuration comes from: a file, or flags for one gRPC backend.
#[derive(Debug, Args)]
pub struct Source {
    /// The YAML config file.
    #[arg(long, short = 'c', value_name = "FILE", conflicts_with_all = ["listen", "grpc_backend", "proto", "proto_path", "descriptor_set", "reflection", "mapping"])]
    pub config: Option<PathBuf>,
    /// Zero-config: the address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Zero-config: the gRPC backend, `http://host:port` or `https://host:port`.
    #[arg(long, value_name = "URL")]
    pub grpc_backend: Option<String>,
    /// Zero-config: a .proto file to compile (repeatable).
    #[arg(long, value_name = "FILE")]
    pub proto: Vec<PathBuf>,
    /// Zero-config: an import path for --proto (repeatable); default: the current directory.
    #[arg(long, value_name = "DIR")]
    pub proto_path: Vec<PathBuf>,
    /// Zero-config: a binary FileDescriptorSet (repeatable).
    #[arg(long, value_name = "FILE")]
    pub descriptor_set: Vec<PathBuf>,
    /// Zero-config: fetch descriptors from the backend by gRPC server reflection.
    #[arg(long)]
    pub reflection: bool,
    /// Zero-config: a mapping file with `http: rules:` (repeatable).
    #[arg(long, value_name = "FILE")]
    pub mapping: Vec<PathBuf>,
}

impl Source {
    /// The config these arguments describe.
    pub fn load(&self) -> Result<Config, ConfigError> {
        if let Some(path) = &self.config {
            return Config::from_file(path);
        }
        let Some(url) = &self.grpc_backend else {
            return Err(ConfigError::general("give --config FILE, or --grpc-backend URL with --proto, --descriptor-set or --reflection"));
        };
        let schema = SchemaConfig {
            protos: self.proto.clone(),
            proto_paths: self.proto_path.clone(),
            descriptor_sets: self.descriptor_set.clone(),
            reflection: self.reflection,
        };
        if schema.is_empty() {
            return Err(ConfigError::general(
                "--grpc-backend needs --proto, --descriptor-set or --reflection",
            ));
        }
        let backend = GrpcBackendConfig {
            url: url.clone(),
            schema,
            ..GrpcBackendConfig::default()
        };
        Ok(Config {
            http: Some(HttpFrontendConfig {
                listen: self.listen.clone(),
                ..HttpFrontendConfig::default()
            }),
            backends: [("default".to_owned(), BackendConfig::Grpc(backend))]
                .into_iter()
                .collect(),
            mappings: self.mapping.clone(),
            ..Config::default()
        })
    }
}
