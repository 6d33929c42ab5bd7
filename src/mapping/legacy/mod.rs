//! Routes to SOAP, plain-XML and REST backends: the `routes:` list of mapping files, compiled
//! into SOAP, XML and REST route plans that bind a request to the XML (or rewritten REST
//! request) the backend sends, and turn its answer into JSON. The convention and the file
//! format are documented in `docs/xml-soap.md`.

mod bind;
mod compile;
mod plan;
mod respond;
mod select;
mod target;
mod template;
mod values;

pub(crate) use compile::compile;
pub use compile::LegacyBackend;
pub use plan::{RestPlan, SoapPlan, XmlPlan};
