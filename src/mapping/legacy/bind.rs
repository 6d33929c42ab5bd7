//! Binding for SOAP, plain-XML and REST routes: the request object (body, path variables,
//! query) becomes the XML the backend sends, or the REST request is rewritten (path, method,
//! headers) and its body forwarded.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use quick_xml::Writer;

use super::plan::{ValuesPlan, XmlBody};
use super::values::{gather, request_object, BodyTarget};
use crate::codec::xml::{json_to_xml, write_element, XmlMapping};
use crate::mapping::matcher::Capture;
use crate::mapping::route::{Route, RoutePlan};
use crate::model::{BackendCall, CallShape, Payload, RequestBody, RequestMessages, Status};

impl Route {
    /// Binds a request to a SOAP, plain-XML or REST route.
    pub(crate) fn bind_legacy(
        &self,
        path: &[Capture<'_, '_>],
        query: Option<&str>,
        body: RequestBody,
        mut metadata: HeaderMap,
        timeout: Option<Duration>,
    ) -> Result<BackendCall, Status> {
        let timeout = Some(timeout.map_or(self.options.timeout, |t| t.min(self.options.timeout)));
        let (operation, method, message) = match &self.plan {
            RoutePlan::Soap(plan) => {
                plan.common.edit_headers(&mut metadata);
                let json = self.json_body(body)?;
                let xml = self.xml_document(
                    &plan.body,
                    &plan.values,
                    &plan.mapping,
                    path,
                    query,
                    json.as_deref(),
                    false,
                )?;
                (
                    Arc::from(plan.action.as_str()),
                    Method::POST,
                    Payload::Xml(Bytes::from(xml)),
                )
            }
            RoutePlan::PlainXml(plan) => {
                plan.common.edit_headers(&mut metadata);
                let json = self.json_body(body)?;
                let (forwarded_query, message) = match &plan.body {
                    Some(xml_body) => {
                        let xml = self.xml_document(
                            xml_body,
                            &plan.values,
                            &plan.mapping,
                            path,
                            query,
                            json.as_deref(),
                            true,
                        )?;
                        (None, Payload::Xml(Bytes::from(xml)))
                    }
                    None if json.is_some() => return Err(no_body(self)),
                    None => (
                        query.filter(|_| plan.forward_query),
                        Payload::Xml(Bytes::new()),
                    ),
                };
                (
                    Arc::from(plan.target.render(path, forwarded_query)),
                    plan.method.clone(),
                    message,
                )
            }
            RoutePlan::Rest(plan) => {
                plan.common.edit_headers(&mut metadata);
                let message = match body {
                    RequestBody::Empty => Payload::Json(Bytes::new()),
                    RequestBody::Unary(_) if !plan.takes_body => return Err(no_body(self)),
                    RequestBody::Unary(payload @ (Payload::Json(_) | Payload::Raw { .. })) => {
                        payload
                    }
                    RequestBody::Unary(_) | RequestBody::Stream(_) => return Err(json_only(self)),
                };
                let forwarded_query = query.filter(|_| plan.forward_query);
                (
                    Arc::from(plan.target.render(path, forwarded_query)),
                    plan.method.clone(),
                    message,
                )
            }
            RoutePlan::Publish(plan) => {
                return self.bind_publish(plan, path, body, metadata, timeout)
            }
            RoutePlan::Grpc(_) => {
                return Err(Status::internal("a gRPC route was bound as a legacy route"))
            }
        };
        Ok(BackendCall {
            operation,
            method,
            shape: CallShape::Unary,
            // An empty message means no request body.
            messages: RequestMessages::Unary(message),
            metadata,
            timeout,
        })
    }

    /// The client's JSON body, if it sent one.
    fn json_body(&self, body: RequestBody) -> Result<Option<Bytes>, Status> {
        match body {
            RequestBody::Empty => Ok(None),
            RequestBody::Unary(Payload::Json(data)) => Ok(Some(data)),
            RequestBody::Unary(_) | RequestBody::Stream(_) => Err(json_only(self)),
        }
    }

    /// The XML to send: the request object under an element, or a filled template.
    #[allow(clippy::too_many_arguments)]
    fn xml_document(
        &self,
        body: &XmlBody,
        values: &ValuesPlan,
        mapping: &XmlMapping,
        path: &[Capture<'_, '_>],
        query: Option<&str>,
        json: Option<&[u8]>,
        declaration: bool,
    ) -> Result<Vec<u8>, Status> {
        let route = self.pattern.to_string();
        let extras = gather(
            &values.variables,
            path,
            query,
            values.body != BodyTarget::Whole,
            self.options.unknown_query_parameters,
            &route,
        )?;
        let object = request_object(
            &values.body,
            json,
            &extras,
            self.options.body_field_collision,
        )?;
        let mut out = Vec::with_capacity(object.len() * 2 + 64);
        match body {
            XmlBody::Element(name) if declaration => {
                json_to_xml(&object, name, mapping, &mut out).map_err(|e| e.request_status())?
            }
            XmlBody::Element(name) => {
                let mut writer = Writer::new(&mut out);
                write_element(&mut writer, &object, name, mapping)
                    .map_err(|e| e.request_status())?
            }
            XmlBody::Template(template) => {
                let value: serde_json::Value = serde_json::from_slice(&object)
                    .map_err(|e| Status::invalid_argument(format!("invalid JSON body: {e}")))?;
                template.render(&value, &mut out)?
            }
        }
        Ok(out)
    }
}

fn no_body(route: &Route) -> Status {
    Status::invalid_argument(format!("{} takes no request body", route.pattern))
}

fn json_only(route: &Route) -> Status {
    Status::unsupported_media_type(
        format!("{} takes one JSON body", route.pattern),
        "application/json",
    )
}
