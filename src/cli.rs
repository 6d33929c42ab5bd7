//! The command line: `polygate serve` and `polygate check`, from a config file or from
//! zero-config flags that describe one gRPC backend.

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
            ca_file: None,
            tls_server_name: None,
            connect_timeout: None,
            max_message_size: None,
            schema,
        };
        Ok(Config {
            http: Some(HttpFrontendConfig {
                listen: self.listen.clone(),
                max_body_size: None,
                forward_headers: None,
            }),
            backends: [("default".to_owned(), BackendConfig::Grpc(backend))]
                .into_iter()
                .collect(),
            mappings: self.mapping.clone(),
            ..Config::default()
        })
    }
}
