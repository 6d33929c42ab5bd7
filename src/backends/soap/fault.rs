//! SOAP faults (1.1 `faultcode`/`faultstring`/`faultactor`/`detail`, 1.2
//! `Code`/`Subcode`/`Reason`/`Node`/`Role`/`Detail`) read from an envelope, and the one place a
//! SOAP backend's failures become canonical errors.

use std::collections::BTreeMap;

use http::StatusCode;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, QName, ResolveResult};
use quick_xml::reader::NsReader;
use serde_json::value::RawValue;

use crate::backends::http_client::UpstreamError;
use crate::codec::soap::{EnvelopeError, SoapVersion};
use crate::codec::xml::{element_to_json, guard_event, XmlError, XmlMapping};
use crate::model::{Code, ErrorSource, Status};

/// `@type` of the SOAP fault detail in error answers.
pub(crate) const SOAP_FAULT_TYPE: &str = "type.polygate.dev/polygate.v1.SoapFault";

/// Most nested 1.2 `Subcode`s read.
const MAX_SUBCODES: usize = 8;

/// A qualified name found in a fault (`soap:Client` resolved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FaultName {
    pub(crate) namespace: Option<String>,
    pub(crate) local: String,
}

/// A fault as read from the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) version: SoapVersion,
    pub(crate) code: FaultName,
    pub(crate) subcodes: Vec<FaultName>,
    pub(crate) reason: String,
    pub(crate) actor: Option<String>,
    pub(crate) role: Option<String>,
    /// The detail's content as JSON (prefixes dropped).
    pub(crate) detail: Option<Vec<u8>>,
}

/// Everything that can go wrong in a SOAP call.
#[derive(Debug)]
pub(crate) enum SoapError {
    /// The HTTP exchange failed.
    Upstream(UpstreamError),
    /// The service answered with a fault (with any HTTP status).
    Fault(Box<Fault>),
    /// The answer is an MTOM/XOP multipart message.
    Mtom,
    /// An HTTP error status without a SOAP fault.
    HttpStatus(StatusCode, String),
    /// The answer's XML is refused.
    Xml(XmlError),
    /// The answer is not an envelope with a Body.
    Envelope(EnvelopeError),
    /// A success status with no envelope at all.
    Empty(StatusCode),
    /// The call carried something other than XML (a routing mistake).
    Request(String),
}

/// What the fault mapping is configured to do.
pub(crate) struct FaultPolicy<'a> {
    pub(crate) codes: &'a BTreeMap<String, Code>,
    pub(crate) expose: bool,
}

/// The canonical error of a SOAP backend's failure: the one place this backend decides codes.
pub(crate) fn status(backend: &str, error: SoapError, policy: &FaultPolicy<'_>) -> Status {
    match error {
        SoapError::Upstream(error) => error.into_status(backend),
        SoapError::Fault(fault) => fault_status(backend, &fault, policy),
        SoapError::Empty(http_status) => Status::upstream_fault(
            Code::Internal,
            format!("backend '{backend}' answered HTTP {http_status} with an empty body instead of a SOAP envelope"),
        )
        .with_reason("SOAP_NOT_AN_ENVELOPE"),
        SoapError::Mtom => Status::upstream_fault(
            Code::Unimplemented,
            format!("backend '{backend}' answered with an MTOM/XOP multipart message, which polygate does not read"),
        )
        .with_reason("MTOM_UNSUPPORTED"),
        SoapError::HttpStatus(http, media_type) => Status::upstream_fault(
            Code::Unknown,
            format!("backend '{backend}' answered HTTP {http} ({}) without a SOAP fault", if media_type.is_empty() { "no body" } else { &media_type }),
        )
        .with_reason("UPSTREAM_HTTP_ERROR"),
        SoapError::Xml(error) => error.answer_status(backend),
        SoapError::Envelope(EnvelopeError::Xml(error)) => error.answer_status(backend),
        SoapError::Envelope(other) => {
            Status::upstream_fault(Code::Internal, format!("backend '{backend}': {other}"))
                .with_reason("SOAP_NOT_AN_ENVELOPE")
        }
        SoapError::Request(message) => Status::internal(format!("backend '{backend}': {message}")),
    }
}

fn fault_status(backend: &str, fault: &Fault, policy: &FaultPolicy<'_>) -> Status {
    let class = fault.code.local.split('.').next().unwrap_or_default();
    let configured = candidates(fault).find_map(|key| policy.codes.get(key).copied());
    let message = if policy.expose && !fault.reason.is_empty() {
        fault.reason.clone()
    } else {
        format!(
            "backend '{backend}' answered with a SOAP {} fault",
            fault.code.local
        )
    };
    let status = match (configured, class) {
        (Some(code), _) => Status::new(code, message, ErrorSource::Backend),
        // The gateway's own WS-Security credentials were refused: the client did nothing
        // wrong, whatever class (1.1 `wsse:…`, 1.2 `Sender` with a `wsse:` subcode) it has.
        (None, _) if is_security_fault(fault) => {
            return Status::upstream_fault(Code::Internal, message)
                .with_reason("SOAP_SECURITY_FAULT")
                .with_details_of(fault_detail(fault, policy.expose));
        }
        (None, "Client" | "Sender") => {
            Status::new(Code::InvalidArgument, message, ErrorSource::Backend)
        }
        (None, "MustUnderstand" | "VersionMismatch" | "DataEncodingUnknown") => {
            Status::upstream_fault(Code::Internal, message)
        }
        (None, _) => Status::upstream_fault(Code::Unknown, message),
    };
    let status = status.with_reason("SOAP_FAULT");
    match fault_detail(fault, policy.expose) {
        Some(detail) => status.with_detail(detail),
        None => status,
    }
}

/// The WS-Security namespaces (OASIS 1.0 and 1.1 secext) whose fault codes concern the
/// credentials the gateway sent.
const WSSE_NAMESPACES: [&str; 2] = [
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd",
];

/// Whether the fault's code or one of its subcodes is a WS-Security fault code.
fn is_security_fault(fault: &Fault) -> bool {
    std::iter::once(&fault.code)
        .chain(&fault.subcodes)
        .any(|name| {
            name.namespace
                .as_deref()
                .is_some_and(|ns| WSSE_NAMESPACES.contains(&ns))
        })
}

/// The keys a configured mapping is looked up by, most specific first: 1.2 subcodes (innermost
/// first), then the code with its dotted parts dropped one by one (`Server.Db.Down`,
/// `Server.Db`, `Server`).
fn candidates(fault: &Fault) -> impl Iterator<Item = &str> {
    let local = fault.code.local.as_str();
    let dotted = local
        .char_indices()
        .filter(|(_, c)| *c == '.')
        .filter_map(|(i, _)| local.get(..i))
        .rev();
    fault
        .subcodes
        .iter()
        .rev()
        .map(|s| s.local.as_str())
        .chain(std::iter::once(local))
        .chain(dotted)
}

fn fault_detail(fault: &Fault, expose: bool) -> Option<Box<RawValue>> {
    // Written by hand to keep a readable member order.
    let text =
        |out: &mut String, value: &str| out.push_str(&serde_json::Value::from(value).to_string());
    let name = |out: &mut String, name: &FaultName| {
        out.push_str("{\"namespace\":");
        match &name.namespace {
            Some(ns) => text(out, ns),
            None => out.push_str("null"),
        }
        out.push_str(",\"local\":");
        text(out, &name.local);
        out.push('}');
    };
    let mut json = String::with_capacity(256);
    json.push_str("{\"@type\":");
    text(&mut json, SOAP_FAULT_TYPE);
    json.push_str(",\"soapVersion\":");
    text(&mut json, fault.version.as_str());
    json.push_str(",\"code\":");
    name(&mut json, &fault.code);
    json.push_str(",\"subcodes\":[");
    for (index, subcode) in fault.subcodes.iter().enumerate() {
        if index > 0 {
            json.push(',');
        }
        name(&mut json, subcode);
    }
    json.push(']');
    if expose {
        json.push_str(",\"reason\":");
        text(&mut json, &fault.reason);
        for (key, value) in [("actor", &fault.actor), ("role", &fault.role)] {
            if let Some(value) = value {
                json.push_str(&format!(",\"{key}\":"));
                text(&mut json, value);
            }
        }
        if let Some(detail) = &fault.detail {
            json.push_str(",\"detail\":");
            json.push_str(std::str::from_utf8(detail).ok()?);
        }
    }
    json.push('}');
    RawValue::from_string(json).ok()
}

/// Reads a `Fault` element whose start event the reader just returned, up to its end tag.
pub(crate) fn read_fault<'i>(
    reader: &mut NsReader<&'i [u8]>,
    start: &Event<'i>,
    version: SoapVersion,
    lenient: &XmlMapping,
) -> Result<Fault, XmlError> {
    let mut fault = Fault {
        version,
        code: FaultName::default(),
        subcodes: Vec::new(),
        reason: String::new(),
        actor: None,
        role: None,
        detail: None,
    };
    if matches!(start, Event::Empty(_)) {
        return Ok(fault);
    }
    while let Some(child) = next_child(reader)? {
        match (version, local_name(&child).as_str()) {
            (SoapVersion::V11, "faultcode") => fault.code = read_qname(reader, &child, lenient)?,
            (SoapVersion::V11, "faultstring") => fault.reason = read_text(reader, &child, lenient)?,
            (SoapVersion::V11, "faultactor") | (SoapVersion::V12, "Node") => {
                fault.actor = Some(read_text(reader, &child, lenient)?)
            }
            (SoapVersion::V12, "Role") => fault.role = Some(read_text(reader, &child, lenient)?),
            (SoapVersion::V11, "detail") | (SoapVersion::V12, "Detail") => {
                let mut json = Vec::new();
                element_to_json(reader, &child, lenient, &mut json)?;
                fault.detail = Some(json);
            }
            (SoapVersion::V12, "Code") => read_code(reader, &child, lenient, &mut fault)?,
            (SoapVersion::V12, "Reason") => fault.reason = read_reason(reader, &child, lenient)?,
            _ => skip(reader, &child, lenient)?,
        }
    }
    Ok(fault)
}

/// 1.2 `Code`: `Value`, then nested `Subcode`s each with a `Value`.
fn read_code<'i>(
    reader: &mut NsReader<&'i [u8]>,
    start: &Event<'i>,
    lenient: &XmlMapping,
    fault: &mut Fault,
) -> Result<(), XmlError> {
    if matches!(start, Event::Empty(_)) {
        return Ok(());
    }
    // Subcodes nest; walk them iteratively, one level per Subcode, closing them at the end.
    let mut open = 1;
    let mut level = 0;
    while open > 0 {
        match next_child(reader)? {
            None => open -= 1,
            Some(child) => match local_name(&child).as_str() {
                "Value" => {
                    let value = read_qname(reader, &child, lenient)?;
                    if level == 0 {
                        fault.code = value;
                    } else if fault.subcodes.len() < MAX_SUBCODES {
                        fault.subcodes.push(value);
                    }
                }
                "Subcode" if matches!(child, Event::Start(_)) && level < MAX_SUBCODES => {
                    open += 1;
                    level += 1;
                }
                _ => skip(reader, &child, lenient)?,
            },
        }
    }
    Ok(())
}

/// 1.2 `Reason`: the English `Text`, else the first.
fn read_reason<'i>(
    reader: &mut NsReader<&'i [u8]>,
    start: &Event<'i>,
    lenient: &XmlMapping,
) -> Result<String, XmlError> {
    if matches!(start, Event::Empty(_)) {
        return Ok(String::new());
    }
    let mut chosen: Option<(bool, String)> = None;
    while let Some(child) = next_child(reader)? {
        if local_name(&child) != "Text" {
            skip(reader, &child, lenient)?;
            continue;
        }
        let english = lang(&child).is_some_and(|l| {
            l.eq_ignore_ascii_case("en") || l.to_ascii_lowercase().starts_with("en-")
        });
        let text = read_text(reader, &child, lenient)?;
        if chosen
            .as_ref()
            .is_none_or(|(was_english, _)| english && !was_english)
        {
            chosen = Some((english, text));
        }
    }
    Ok(chosen.map(|(_, text)| text).unwrap_or_default())
}

/// The next child element's start, or `None` at the parent's end tag.
fn next_child<'i>(reader: &mut NsReader<&'i [u8]>) -> Result<Option<Event<'i>>, XmlError> {
    loop {
        let offset = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
        let event = reader
            .read_event()
            .map_err(|e| XmlError::from_reader(e, offset))?;
        guard_event(&event, offset)?;
        match event {
            Event::Start(_) | Event::Empty(_) => return Ok(Some(event)),
            Event::End(_) => return Ok(None),
            Event::Eof => {
                return Err(XmlError::malformed(
                    offset,
                    "the document ends inside a SOAP fault",
                ))
            }
            _ => {}
        }
    }
}

fn local_name(event: &Event<'_>) -> String {
    match event {
        Event::Start(e) | Event::Empty(e) => e.local_name().into_inner().to_owned(),
        _ => String::new(),
    }
}

fn lang(event: &Event<'_>) -> Option<String> {
    let (Event::Start(e) | Event::Empty(e)) = event else {
        return None;
    };
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == "xml:lang")
        .map(|a| String::from_utf8_lossy(a.value.as_bytes()).into_owned())
}

/// The text of an element (converted by the engine, so every guard applies).
fn read_text<'i>(
    reader: &mut NsReader<&'i [u8]>,
    start: &Event<'i>,
    lenient: &XmlMapping,
) -> Result<String, XmlError> {
    let mut json = Vec::new();
    element_to_json(reader, start, lenient, &mut json)?;
    Ok(match serde_json::from_slice::<serde_json::Value>(&json) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(serde_json::Value::Object(members)) => members
            .get("#text")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    })
}

/// A QName in text content, resolved against the namespaces in scope where it was written.
fn read_qname<'i>(
    reader: &mut NsReader<&'i [u8]>,
    start: &Event<'i>,
    lenient: &XmlMapping,
) -> Result<FaultName, XmlError> {
    let text = read_text(reader, start, lenient)?;
    let text = text.trim();
    // The element's end tag was read but its scope is popped only at the next read, so the
    // prefixes it saw still resolve.
    let (resolved, local) = reader.resolver().resolve_element(QName(text));
    let namespace = match resolved {
        ResolveResult::Bound(Namespace(uri)) if !uri.is_empty() => Some(uri.to_owned()),
        _ => None,
    };
    Ok(FaultName {
        namespace,
        local: local.into_inner().to_owned(),
    })
}

fn skip<'i>(
    reader: &mut NsReader<&'i [u8]>,
    start: &Event<'i>,
    lenient: &XmlMapping,
) -> Result<(), XmlError> {
    let mut scratch = Vec::new();
    element_to_json(reader, start, lenient, &mut scratch)
}
