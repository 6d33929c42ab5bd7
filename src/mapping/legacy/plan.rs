//! The route plans of SOAP, plain-XML and REST routes.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::select::Selection;
use super::target::TargetPath;
use super::template::XmlTemplate;
use super::values::BodyTarget;
use crate::codec::xml::XmlMapping;

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
