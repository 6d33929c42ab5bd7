//! The route plans of SOAP, plain-XML and REST routes, and the canonical errors of XML that
//! cannot be converted (400 for a client's request, 502 for a backend's answer).

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::select::Selection;
use super::target::TargetPath;
use super::template::XmlTemplate;
use super::values::BodyTarget;
use crate::mapping::transcode::xml::{XmlError, XmlMapping};
use crate::model::{Code, Status};

/// How the XML sent upstream is made.
#[derive(Debug, Clone)]
pub(crate) enum XmlBody {
    /// The request object becomes the content of this element (`prefix:name` of the mapping).
    Element(String),
    /// A template filled from the request object.
    Template(XmlTemplate),
}

/// What every legacy route does around its backend call.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    /// Request headers set (replacing forwarded ones).
    pub(crate) add_headers: Vec<(HeaderName, HeaderValue)>,
    /// Request headers not forwarded.
    pub(crate) remove_headers: Vec<HeaderName>,
    /// What of the JSON answer is returned.
    pub(crate) selection: Selection,
}

impl Common {
    /// Applies the header edits to the forwarded metadata.
    pub(crate) fn edit_headers(&self, metadata: &mut HeaderMap) {
        for name in &self.remove_headers {
            metadata.remove(name);
        }
        for (name, value) in &self.add_headers {
            metadata.insert(name.clone(), value.clone());
        }
    }
}

/// Where the values of a SOAP or XML request object come from.
#[derive(Debug, Clone)]
pub(crate) struct ValuesPlan {
    /// Where the body goes.
    pub(crate) body: BodyTarget,
    /// Each path variable's member path (`customer.id` → `["customer", "id"]`).
    pub(crate) variables: Vec<Vec<String>>,
}

/// A SOAP operation.
#[derive(Debug, Clone)]
pub struct SoapPlan {
    pub(crate) values: ValuesPlan,
    pub(crate) body: XmlBody,
    pub(crate) action: String,
    pub(crate) mapping: XmlMapping,
    pub(crate) common: Common,
}

/// A request to a plain-XML backend.
#[derive(Debug, Clone)]
pub struct XmlPlan {
    pub(crate) values: ValuesPlan,
    /// `None` when the route sends no document.
    pub(crate) body: Option<XmlBody>,
    pub(crate) method: Method,
    pub(crate) target: TargetPath,
    pub(crate) forward_query: bool,
    pub(crate) mapping: XmlMapping,
    pub(crate) common: Common,
}

/// A request to a REST/JSON backend.
#[derive(Debug, Clone)]
pub struct RestPlan {
    pub(crate) takes_body: bool,
    pub(crate) method: Method,
    pub(crate) target: TargetPath,
    pub(crate) forward_query: bool,
    pub(crate) common: Common,
}

/// A client's JSON that cannot become the XML the route sends: 400, with the engine's reason.
pub(crate) fn request_xml_error(error: &XmlError) -> Status {
    Status::invalid_argument(format!("the request cannot be sent as XML: {error}"))
        .with_reason(&error.code().to_ascii_uppercase())
}

/// A backend's XML that polygate refuses or cannot convert: 502, with the engine's reason.
pub fn response_xml_error(backend: &str, error: &XmlError) -> Status {
    Status::bad_gateway(
        Code::Internal,
        format!("backend '{backend}' answered with XML that cannot be used: {error}"),
    )
    .with_reason(&error.code().to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HttpHint;

    #[test]
    fn xml_errors_become_400_for_requests_and_502_for_answers() {
        let error = XmlError::DoctypeForbidden { offset: 0 };
        let status = response_xml_error("orders", &error);
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.http_hint(), Some(&HttpHint::BadGateway));
        assert_eq!(
            status.message(),
            "backend 'orders' answered with XML that cannot be used: XML document type declarations (DOCTYPE) are not allowed (at byte 0)"
        );
        assert!(status.details()[0]
            .get()
            .contains(r#""reason":"XML_DOCTYPE_FORBIDDEN""#));
        let status = request_xml_error(&XmlError::Json("expected value at line 1 column 1".into()));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.details()[0]
            .get()
            .contains(r#""reason":"JSON_NOT_CONVERTIBLE""#));
    }
}
