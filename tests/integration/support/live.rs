//! Live handlers for the test backend's streaming methods (answers that interleave with the
//! requests, or never end), shared by the WebSocket tests.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use futures_util::StreamExt;
use prost_reflect::{DynamicMessage, Value};
use tokio::sync::Notify;

use super::grpc_server::{LiveCall, MessageStream};
use super::to_json;

/// Answers every request message at once: its name in upper case, and its parent.
pub fn shouting(call: LiveCall) -> MessageStream {
    let output = call.method.output();
    call.messages
        .map(move |item| {
            item.map(|request| {
                let json = to_json(&request);
                let mut answer = DynamicMessage::new(output.clone());
                let name = json["name"].as_str().unwrap_or("").to_uppercase();
                answer.set_field_by_name("name", Value::String(name));
                let parent = json["parent"].as_str().unwrap_or("").to_owned();
                answer.set_field_by_name("parent", Value::String(parent));
                answer
            })
        })
        .boxed()
}

/// An endless stream (`m1`, `m2`, …) that tells `dropped` when the gateway lets it go.
pub fn endless(call: LiveCall, dropped: Arc<Notify>) -> MessageStream {
    struct Guard(Arc<Notify>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.notify_one();
        }
    }
    let output = call.method.output();
    let guard = Guard(dropped);
    futures_util::stream::iter(1..)
        .map(move |i: i32| {
            let _ = &guard;
            let mut answer = DynamicMessage::new(output.clone());
            answer.set_field_by_name("name", Value::String(format!("m{i}")));
            answer.set_field_by_name("int32_value", Value::I32(i));
            Ok(answer)
        })
        .boxed()
}
