//! `bench.v1.Bench/Echo`'s messages (`protos/bench/v1/bench.proto`), for the benchmark backend
//! and the MQTT load client, which both answer it.

#![allow(dead_code, unreachable_pub)]

use std::time::{SystemTime, UNIX_EPOCH};

/// `bench.v1.EchoRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoRequest {
    #[prost(string, tag = "1")]
    pub message: String,
    #[prost(int64, tag = "2")]
    pub sequence: i64,
}

/// `bench.v1.EchoResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoResponse {
    #[prost(string, tag = "1")]
    pub message: String,
    #[prost(int64, tag = "2")]
    pub sequence: i64,
    #[prost(int64, tag = "3")]
    pub received_unix_nanos: i64,
}

/// Nanoseconds since the Unix epoch, now.
pub fn unix_nanos_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
