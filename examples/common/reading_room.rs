//! The demo reading room: rooms' sensor readings kept in memory, and commands for the rooms'
//! devices queued when a reading is too warm, implemented against the descriptors of
//! `protos/polygate/demo/v1/library.proto` with no generated code.

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use tonic::Status;

use super::{Call, GrpcServerBuilder, Reply};

const SERVICE: &str = "polygate.demo.v1.ReadingRoom";
/// Readings above this ask the room to ventilate.
const TOO_WARM: f64 = 25.0;
/// Commands kept for devices at most; older ones are dropped first.
const MAX_QUEUED: usize = 1000;

#[derive(Default)]
struct Rooms {
    /// Room → (latest °C, readings).
    climate: BTreeMap<String, (f64, i64)>,
    commands: VecDeque<(String, &'static str)>,
}

/// Adds the ReadingRoom methods to `builder`.
pub fn reading_room(builder: GrpcServerBuilder, pool: DescriptorPool) -> GrpcServerBuilder {
    let rooms = Arc::new((pool, Mutex::new(Rooms::default())));
    let record = rooms.clone();
    let climate = rooms.clone();
    builder
        .handle(&format!("{SERVICE}.RecordReading"), move |call| {
            let rooms = record.clone();
            async move { record_reading(&rooms.0, &rooms.1, &call) }
        })
        .handle(&format!("{SERVICE}.GetClimate"), move |call| {
            let rooms = climate.clone();
            async move { get_climate(&rooms.0, &rooms.1, &call) }
        })
        .handle(&format!("{SERVICE}.WatchCommands"), move |_| {
            let rooms = rooms.clone();
            async move { watch_commands(&rooms.0, &rooms.1) }
        })
}

fn message(pool: &DescriptorPool, name: &str) -> DynamicMessage {
    DynamicMessage::new(
        pool.get_message_by_name(&format!("polygate.demo.v1.{name}"))
            .expect("a demo message"),
    )
}

fn room_of(call: &Call) -> Result<String, Status> {
    let room = call
        .message()
        .get_field_by_name("room")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    if room.is_empty() {
        return Err(Status::invalid_argument("a room is required"));
    }
    Ok(room)
}

fn record_reading(
    pool: &DescriptorPool,
    rooms: &Mutex<Rooms>,
    call: &Call,
) -> Result<Reply, Status> {
    let room = room_of(call)?;
    let celsius = call
        .message()
        .get_field_by_name("celsius")
        .and_then(|v| v.as_f64())
        .unwrap_or_default();
    if !(-80.0..=80.0).contains(&celsius) {
        return Err(Status::out_of_range(format!(
            "{celsius} °C is not a room temperature"
        )));
    }
    let mut rooms = rooms.lock().map_err(|_| Status::internal("poisoned"))?;
    let entry = rooms.climate.entry(room.clone()).or_insert((celsius, 0));
    *entry = (celsius, entry.1 + 1);
    let readings = entry.1;
    if celsius > TOO_WARM {
        if rooms.commands.len() == MAX_QUEUED {
            rooms.commands.pop_front();
        }
        rooms.commands.push_back((room.clone(), "ventilate"));
    }
    let mut ack = message(pool, "ReadingAck");
    ack.set_field_by_name("room", Value::String(room));
    ack.set_field_by_name("readings", Value::I64(readings));
    Ok(Reply::one(ack))
}

fn get_climate(pool: &DescriptorPool, rooms: &Mutex<Rooms>, call: &Call) -> Result<Reply, Status> {
    let room = room_of(call)?;
    let rooms = rooms.lock().map_err(|_| Status::internal("poisoned"))?;
    let Some((celsius, readings)) = rooms.climate.get(&room) else {
        return Err(Status::not_found(format!(
            "room '{room}' has no readings yet"
        )));
    };
    let mut climate = message(pool, "Climate");
    climate.set_field_by_name("room", Value::String(room));
    climate.set_field_by_name("celsius", Value::F64(*celsius));
    climate.set_field_by_name("readings", Value::I64(*readings));
    Ok(Reply::one(climate))
}

fn watch_commands(pool: &DescriptorPool, rooms: &Mutex<Rooms>) -> Result<Reply, Status> {
    let mut rooms = rooms.lock().map_err(|_| Status::internal("poisoned"))?;
    let commands = rooms
        .commands
        .drain(..)
        .map(|(room, action)| {
            let mut command = message(pool, "Command");
            command.set_field_by_name("room", Value::String(room));
            command.set_field_by_name("action", Value::String(action.to_owned()));
            command
        })
        .collect();
    Ok(Reply::stream(commands, None))
}
