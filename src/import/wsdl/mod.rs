//! `polygate import wsdl`: reads a WSDL 1.1 file (with the WSDLs and XSDs it imports, resolved
//! relative to each file) and writes a mapping file with one REST route per document/literal
//! operation of one SOAP port, and the XML mapping (arrays, types, order) taken from the schema.
//! rpc/encoded (and any other rpc or encoded) bindings are refused with the reason.

mod definitions;
mod hints;
mod load;
mod render;
mod schema;
mod tree;

use std::path::Path;

use definitions::{BoundOperation, Definitions};
use hints::{display, Hints};
use load::Loader;
use render::{render, Operation, ServiceInfo};
use tree::QName;

use crate::codec::soap::SoapVersion;

/// What to import and how to name it.
#[derive(Debug, Clone, Default)]
pub struct WsdlImportOptions {
    /// The service to import (default: the first with a SOAP port).
    pub service: Option<String>,
    /// The port to import (default: the first SOAP port of the wanted version).
    pub port: Option<String>,
    /// The SOAP version of the port (default: 1.1 if the service has such a port).
    pub soap_version: Option<SoapVersion>,
    /// The backend name the routes use (default: the service name in lower case).
    pub backend: Option<String>,
    /// The path routes start with (default: `/` + the backend name).
    pub path_prefix: Option<String>,
}

/// Imports `path` and returns the mapping file's text, or why it cannot be imported.
pub fn import_wsdl(path: &Path, options: &WsdlImportOptions) -> Result<String, String> {
    let mut loader = Loader::default();
    let root = loader
        .load(path)?
        .ok_or_else(|| format!("{}: read twice", path.display()))?;
    let mut definitions = Definitions::default();
    definitions.read(&root, path, &mut loader)?;
    let (service, port, binding) = choose_port(&definitions, options)?;
    let backend = options
        .backend
        .clone()
        .unwrap_or_else(|| default_backend_name(&service.name));
    let path_prefix = options
        .path_prefix
        .clone()
        .unwrap_or_else(|| format!("/{backend}"));
    let path_prefix = path_prefix.trim_end_matches('/');
    if !path_prefix.is_empty() && !path_prefix.starts_with('/') {
        return Err(format!("--path-prefix '{path_prefix}' must start with '/'"));
    }
    let port_type = definitions
        .port_types
        .get(&binding.port_type)
        .ok_or_else(|| format!("port type {} is not defined", display(&binding.port_type)))?;
    let mut operations = Vec::new();
    let mut hints = Hints::default();
    let mut warnings = definitions.schemas.warnings.clone();
    for bound in &binding.operations {
        check_style(bound, &binding_name(&port.binding))?;
        let abstract_operation = port_type.get(&bound.name).ok_or_else(|| {
            format!(
                "operation {} is bound but not in port type {}",
                bound.name,
                display(&binding.port_type)
            )
        })?;
        let request = message_element(
            &definitions,
            abstract_operation.input.as_ref(),
            bound.input_parts.as_deref(),
            &bound.name,
            "input",
        )?
        .ok_or_else(|| format!("operation {} has no input message", bound.name))?;
        hints.collect(&definitions.schemas, &request)?;
        match message_element(
            &definitions,
            abstract_operation.output.as_ref(),
            bound.output_parts.as_deref(),
            &bound.name,
            "output",
        )? {
            Some(response) => hints.collect(&definitions.schemas, &response)?,
            None => warnings.push(format!(
                "operation {} is one-way: its route answers {{}}",
                bound.name
            )),
        }
        let mut faults = Vec::new();
        for message in &abstract_operation.faults {
            if let Some(element) = definitions
                .messages
                .get(message)
                .and_then(|parts| parts.first())
                .and_then(|part| part.element.clone())
            {
                faults.push(element);
            }
        }
        operations.push(Operation {
            name: bound.name.clone(),
            action: bound.action.clone(),
            request,
            faults,
        });
    }
    if operations.is_empty() {
        return Err(format!("port {} has no operations", port.name));
    }
    let source = path.display().to_string();
    let info = ServiceInfo {
        source: &source,
        service: &service.name,
        port: &port.name,
        version: binding.version,
        address: port.address.as_deref(),
        backend: &backend,
        path_prefix,
    };
    Ok(render(
        &info,
        &operations,
        &hints,
        &definitions.schemas.prefixes,
        &warnings,
    ))
}

fn choose_port<'d>(
    definitions: &'d Definitions,
    options: &WsdlImportOptions,
) -> Result<
    (
        &'d definitions::Service,
        &'d definitions::Port,
        &'d definitions::Binding,
    ),
    String,
> {
    let services: Vec<&definitions::Service> = definitions
        .services
        .iter()
        .filter(|s| options.service.as_deref().is_none_or(|name| s.name == name))
        .collect();
    if services.is_empty() {
        return Err(match &options.service {
            Some(name) => format!("the WSDL has no service named {name}"),
            None => "the WSDL defines no service".into(),
        });
    }
    let wanted = options.soap_version;
    let candidates = |version: Option<SoapVersion>| {
        services.iter().flat_map(move |service| {
            service.ports.iter().filter_map(move |port| {
                let binding = definitions.bindings.get(&port.binding)?;
                let named = options.port.as_deref().is_none_or(|name| port.name == name);
                let versioned = version.is_none_or(|v| binding.version == v);
                (named && versioned).then_some((*service, port, binding))
            })
        })
    };
    candidates(wanted.or(Some(SoapVersion::V11)))
        .next()
        .or_else(|| {
            if wanted.is_none() {
                candidates(None).next()
            } else {
                None
            }
        })
        .ok_or_else(|| {
            format!(
                "no SOAP{} port{} found (the WSDL's HTTP GET/POST ports are not imported)",
                wanted
                    .map(|v| format!(" {}", v.as_str()))
                    .unwrap_or_default(),
                options
                    .port
                    .as_deref()
                    .map(|p| format!(" named {p}"))
                    .unwrap_or_default()
            )
        })
}

/// Only document/literal is imported; rpc/encoded gets the full reason.
fn check_style(operation: &BoundOperation, binding: &str) -> Result<(), String> {
    let encoded = operation.input_use == "encoded" || operation.output_use == "encoded";
    match (operation.style.as_str(), encoded) {
        ("document", false) => Ok(()),
        ("rpc", true) => Err(format!(
            "operation {} of binding {binding} is rpc/encoded (SOAP 1.1 section 5 encoding with xsi:type and soapenc arrays), which polygate does not support; only document/literal services can be imported. Map such an operation by hand with a soap: template route",
            operation.name
        )),
        (_, true) => Err(format!(
            "operation {} of binding {binding} uses use=\"encoded\"; only document/literal services can be imported",
            operation.name
        )),
        (style, false) => Err(format!(
            "operation {} of binding {binding} is {style}/literal; only document/literal services can be imported. Map such an operation by hand with a soap: template route",
            operation.name
        )),
    }
}

/// The element of a message's one (or selected) part.
fn message_element(
    definitions: &Definitions,
    message: Option<&QName>,
    selected: Option<&[String]>,
    operation: &str,
    kind: &str,
) -> Result<Option<QName>, String> {
    let Some(message) = message else {
        return Ok(None);
    };
    let parts = definitions
        .messages
        .get(message)
        .ok_or_else(|| format!("message {} is not defined", display(message)))?;
    let parts: Vec<_> = parts
        .iter()
        .filter(|p| selected.is_none_or(|names| names.contains(&p.name)))
        .collect();
    match parts.as_slice() {
        [] => Ok(None),
        [part] => part.element.clone().map(Some).ok_or_else(|| {
            format!("the {kind} of operation {operation} has a type= part; document/literal needs an element= part")
        }),
        _ => Err(format!(
            "the {kind} of operation {operation} has {} body parts; only one is supported (document/literal wrapped or bare)",
            parts.len()
        )),
    }
}

fn binding_name(name: &QName) -> String {
    name.1.clone()
}

fn default_backend_name(service: &str) -> String {
    let name: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "soap".into()
    } else {
        name
    }
}
