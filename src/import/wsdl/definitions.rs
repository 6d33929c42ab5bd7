//! WSDL 1.1 definitions: messages, port types, SOAP 1.1/1.2 bindings and services, merged over
//! `wsdl:import`, with the schemas of `wsdl:types`.

use std::collections::BTreeMap;
use std::path::Path;

use super::load::Loader;
use super::schema::Schemas;
use super::tree::{Node, QName, XSD_NS};
use crate::codec::soap::SoapVersion;

const WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
const SOAP11_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const SOAP12_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const WSDL2_NS: &str = "http://www.w3.org/ns/wsdl";

/// A message part.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub(crate) name: String,
    pub(crate) element: Option<QName>,
}

/// An operation of a port type.
#[derive(Debug, Clone)]
pub(crate) struct AbstractOperation {
    pub(crate) input: Option<QName>,
    pub(crate) output: Option<QName>,
    pub(crate) faults: Vec<QName>,
}

/// An operation of a SOAP binding.
#[derive(Debug, Clone)]
pub(crate) struct BoundOperation {
    pub(crate) name: String,
    pub(crate) action: String,
    pub(crate) style: String,
    pub(crate) input_use: String,
    pub(crate) output_use: String,
    /// `soap:body parts=…` of the input, when given.
    pub(crate) input_parts: Option<Vec<String>>,
    /// `soap:body parts=…` of the output, when given.
    pub(crate) output_parts: Option<Vec<String>>,
}

/// A SOAP binding.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub(crate) port_type: QName,
    pub(crate) version: SoapVersion,
    pub(crate) operations: Vec<BoundOperation>,
}

/// A port of a service.
#[derive(Debug, Clone)]
pub(crate) struct Port {
    pub(crate) name: String,
    pub(crate) binding: QName,
    pub(crate) address: Option<String>,
}

/// A service.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) name: String,
    pub(crate) ports: Vec<Port>,
}

/// Everything the WSDL files define.
#[derive(Debug, Default)]
pub(crate) struct Definitions {
    pub(crate) messages: BTreeMap<QName, Vec<Part>>,
    pub(crate) port_types: BTreeMap<QName, BTreeMap<String, AbstractOperation>>,
    pub(crate) bindings: BTreeMap<QName, Binding>,
    pub(crate) services: Vec<Service>,
    pub(crate) schemas: Schemas,
}

impl Definitions {
    /// Reads a `wsdl:definitions` document (and what it imports).
    pub(crate) fn read(
        &mut self,
        root: &Node,
        file: &Path,
        loader: &mut Loader,
    ) -> Result<(), String> {
        if root.namespace.as_deref() == Some(WSDL2_NS) {
            return Err(format!(
                "{}: WSDL 2.0 is not supported; polygate imports WSDL 1.1",
                file.display()
            ));
        }
        if !root.is(WSDL_NS, "definitions") {
            return Err(format!(
                "{}: not a WSDL 1.1 document (root element <{}>)",
                file.display(),
                root.local
            ));
        }
        let target = root.attr("targetNamespace").map(str::to_owned);
        let name = |node: &Node| -> Result<QName, String> {
            let local = node
                .attr("name")
                .ok_or_else(|| format!("{}: <wsdl:{}> has no name", file.display(), node.local))?;
            Ok((target.clone(), local.to_owned()))
        };
        for child in &root.children {
            if child.namespace.as_deref() != Some(WSDL_NS) {
                continue;
            }
            match child.local.as_str() {
                "import" => {
                    if let Some(location) = child.attr("location") {
                        let path = loader.resolve(file, location)?;
                        if let Some(imported) = loader.load(&path)? {
                            if imported.is(XSD_NS, "schema") {
                                self.schemas.read(&imported, &path, None, loader)?;
                            } else {
                                self.read(&imported, &path, loader)?;
                            }
                        }
                    }
                }
                "types" => {
                    for schema in child.children_named(XSD_NS, "schema") {
                        self.schemas.read(schema, file, None, loader)?;
                    }
                }
                "message" => {
                    let parts = child
                        .children_named(WSDL_NS, "part")
                        .map(|part| {
                            Ok(Part {
                                name: part.attr("name").unwrap_or_default().to_owned(),
                                element: part.qname_attr("element")?,
                            })
                        })
                        .collect::<Result<_, String>>()?;
                    self.messages.insert(name(child)?, parts);
                }
                "portType" => {
                    let mut operations = BTreeMap::new();
                    for operation in child.children_named(WSDL_NS, "operation") {
                        let message = |kind: &str| -> Result<Option<QName>, String> {
                            match operation.child(WSDL_NS, kind) {
                                Some(node) => node.qname_attr("message"),
                                None => Ok(None),
                            }
                        };
                        let faults = operation
                            .children_named(WSDL_NS, "fault")
                            .filter_map(|fault| fault.qname_attr("message").transpose())
                            .collect::<Result<_, String>>()?;
                        operations.insert(
                            operation.attr("name").unwrap_or_default().to_owned(),
                            AbstractOperation {
                                input: message("input")?,
                                output: message("output")?,
                                faults,
                            },
                        );
                    }
                    self.port_types.insert(name(child)?, operations);
                }
                "binding" => {
                    if let Some(binding) = read_binding(child)? {
                        self.bindings.insert(name(child)?, binding);
                    }
                }
                "service" => {
                    let ports = child
                        .children_named(WSDL_NS, "port")
                        .map(|port| {
                            let address = [SOAP11_BINDING_NS, SOAP12_BINDING_NS]
                                .iter()
                                .find_map(|ns| port.child(ns, "address"))
                                .and_then(|a| a.attr("location"))
                                .map(str::to_owned);
                            Ok(Port {
                                name: port.attr("name").unwrap_or_default().to_owned(),
                                binding: port.qname_attr("binding")?.ok_or_else(|| {
                                    format!("{}: port without binding", file.display())
                                })?,
                                address,
                            })
                        })
                        .collect::<Result<_, String>>()?;
                    self.services.push(Service {
                        name: child.attr("name").unwrap_or_default().to_owned(),
                        ports,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A binding with its SOAP details (`None` for HTTP GET/POST and other non-SOAP bindings).
fn read_binding(node: &Node) -> Result<Option<Binding>, String> {
    let (version, ns) = if let Some(soap) = node.child(SOAP11_BINDING_NS, "binding") {
        (SoapVersion::V11, soap)
    } else if let Some(soap) = node.child(SOAP12_BINDING_NS, "binding") {
        (SoapVersion::V12, soap)
    } else {
        return Ok(None);
    };
    let binding_ns = match version {
        SoapVersion::V11 => SOAP11_BINDING_NS,
        SoapVersion::V12 => SOAP12_BINDING_NS,
    };
    let default_style = ns.attr("style").unwrap_or("document").to_owned();
    let mut operations = Vec::new();
    for operation in node.children_named(WSDL_NS, "operation") {
        let soap_operation = operation.child(binding_ns, "operation");
        let body = |kind: &str| {
            operation
                .child(WSDL_NS, kind)
                .and_then(|m| m.child(binding_ns, "body"))
        };
        let parts = |kind: &str| {
            body(kind)
                .and_then(|b| b.attr("parts"))
                .map(|parts| parts.split_whitespace().map(str::to_owned).collect())
        };
        operations.push(BoundOperation {
            name: operation.attr("name").unwrap_or_default().to_owned(),
            action: soap_operation
                .and_then(|o| o.attr("soapAction"))
                .unwrap_or_default()
                .to_owned(),
            style: soap_operation
                .and_then(|o| o.attr("style"))
                .unwrap_or(&default_style)
                .to_owned(),
            input_use: body("input")
                .and_then(|b| b.attr("use"))
                .unwrap_or("literal")
                .to_owned(),
            output_use: body("output")
                .and_then(|b| b.attr("use"))
                .unwrap_or("literal")
                .to_owned(),
            input_parts: parts("input"),
            output_parts: parts("output"),
        });
    }
    Ok(Some(Binding {
        port_type: node
            .qname_attr("type")?
            .ok_or_else(|| "a binding has no type".to_owned())?,
        version,
        operations,
    }))
}
