//! The SOAP backend: SOAP 1.1 and 1.2 document/literal calls over the shared HTTP client, with
//! an optional WS-Security UsernameToken, and faults (recognised by content, whatever the HTTP
//! status) mapped to canonical errors.

mod config;
mod fault;
mod security;
mod service;

pub use config::{PasswordType, SoapBackendConfig, SoapSettings, WsSecurityConfig};
pub use service::SoapBackend;
