//! gRPC server reflection client (v1, falling back to v1alpha), spoken through the backend's
//! own connection so it uses the same address, TLS settings and timeouts as every call.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::HeaderMap;
use prost::Message;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

use super::DescriptorError;
use crate::model::{Backend, BackendCall, CallShape, Code, Payload, RequestMessages, ResponseBody};

const V1: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
const V1ALPHA: &str = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
const TIMEOUT: Duration = Duration::from_secs(10);
/// A backend serving more files than this is refused rather than walked forever.
const MAX_FILES: usize = 10_000;

/// Just the parts of a `FileDescriptorProto` needed to walk imports; the bytes themselves are
/// kept and decoded losslessly later, so custom options such as `google.api.http` survive.
#[derive(Clone, PartialEq, Message)]
struct FileHeader {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, repeated, tag = "3")]
    dependency: Vec<String>,
}

/// Asks `backend` for every service it offers and the files defining them, imports included.
/// Returns an encoded `FileDescriptorSet`.
pub async fn fetch_by_reflection(backend: &dyn Backend) -> Result<Vec<u8>, DescriptorError> {
    let fail = |reason: String| DescriptorError::Reflection {
        backend: backend.name().to_owned(),
        reason,
    };
    let mut client = Client {
        backend,
        operation: V1,
    };
    let services = match client.list_services().await {
        Ok(services) => services,
        Err(e) if e.0 == Code::Unimplemented => {
            client.operation = V1ALPHA;
            client.list_services().await.map_err(|e| fail(e.1))?
        }
        Err(e) => return Err(fail(e.1)),
    };

    let mut files: BTreeMap<String, Bytes> = BTreeMap::new();
    let mut wanted: VecDeque<String> = VecDeque::new();
    for service in services
        .iter()
        .filter(|s| !s.starts_with("grpc.reflection."))
    {
        for file in client
            .ask(MessageRequest::FileContainingSymbol(service.clone()))
            .await
            .map_err(|e| fail(e.1))?
        {
            queue_file(file, &mut files, &mut wanted).map_err(fail)?;
        }
    }
    let mut missing: BTreeSet<String> = BTreeSet::new();
    while let Some(name) = wanted.pop_front() {
        if files.contains_key(&name) || missing.contains(&name) {
            continue;
        }
        if files.len() >= MAX_FILES {
            return Err(fail(format!(
                "the backend serves more than {MAX_FILES} files"
            )));
        }
        match client
            .ask(MessageRequest::FileByFilename(name.clone()))
            .await
        {
            Ok(found) => {
                for file in found {
                    queue_file(file, &mut files, &mut wanted).map_err(fail)?;
                }
            }
            // Well-known and google.api files are bundled with polygate; a server need not serve them.
            Err(_) if name.starts_with("google/") => {
                missing.insert(name);
            }
            Err(e) => return Err(fail(format!("file '{name}': {}", e.1))),
        }
    }
    let mut set = Vec::new();
    for bytes in files.values() {
        prost::encoding::bytes::encode(1, bytes, &mut set);
    }
    Ok(set)
}

fn queue_file(
    bytes: Vec<u8>,
    files: &mut BTreeMap<String, Bytes>,
    wanted: &mut VecDeque<String>,
) -> Result<(), String> {
    let header = FileHeader::decode(bytes.as_slice())
        .map_err(|e| format!("undecodable file descriptor: {e}"))?;
    let name = header.name.unwrap_or_default();
    if files.contains_key(&name) {
        return Ok(());
    }
    wanted.extend(header.dependency);
    files.insert(name, Bytes::from(bytes));
    Ok(())
}

struct Client<'a> {
    backend: &'a dyn Backend,
    operation: &'static str,
}

impl Client<'_> {
    async fn list_services(&self) -> Result<Vec<String>, (Code, String)> {
        let response = self
            .exchange(MessageRequest::ListServices(String::new()))
            .await?;
        match response {
            MessageResponse::ListServicesResponse(list) => {
                Ok(list.service.into_iter().map(|s| s.name).collect())
            }
            other => Err((
                Code::Internal,
                format!("unexpected answer to list_services: {other:?}"),
            )),
        }
    }

    async fn ask(&self, request: MessageRequest) -> Result<Vec<Vec<u8>>, (Code, String)> {
        match self.exchange(request).await? {
            MessageResponse::FileDescriptorResponse(files) => Ok(files.file_descriptor_proto),
            other => Err((
                Code::Internal,
                format!("unexpected reflection answer: {other:?}"),
            )),
        }
    }

    /// One request on its own stream: every server answers it, whatever its streaming habits.
    async fn exchange(&self, request: MessageRequest) -> Result<MessageResponse, (Code, String)> {
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(request),
        };
        let message = Payload::Protobuf(Bytes::from(request.encode_to_vec()));
        let call = BackendCall {
            operation: Arc::from(self.operation),
            method: http::Method::POST,
            shape: CallShape::Bidirectional,
            messages: RequestMessages::Stream(Box::pin(futures_util::stream::iter([Ok(message)]))),
            metadata: HeaderMap::new(),
            timeout: Some(TIMEOUT),
            idempotent: false,
        };
        let response = self
            .backend
            .call(call)
            .await
            .map_err(|s| (s.code(), s.message().to_owned()))?;
        let first = match response.body {
            ResponseBody::Unary { message, .. } => message,
            ResponseBody::Stream(mut stream) => match stream.next().await {
                Some(Ok(message)) => message,
                Some(Err(status)) => return Err((status.code(), status.message().to_owned())),
                None => {
                    return Err((
                        Code::Internal,
                        "the reflection stream ended without an answer".into(),
                    ))
                }
            },
        };
        let decoded = ServerReflectionResponse::decode(first.bytes().clone()).map_err(|e| {
            (
                Code::Internal,
                format!("undecodable reflection answer: {e}"),
            )
        })?;
        match decoded.message_response {
            Some(MessageResponse::ErrorResponse(error)) => {
                Err((Code::from_i32(error.error_code), error.error_message))
            }
            Some(answer) => Ok(answer),
            None => Err((Code::Internal, "empty reflection answer".into())),
        }
    }
}
