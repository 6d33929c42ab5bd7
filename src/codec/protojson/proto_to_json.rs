//! Protobuf → JSON: reads a message's records and writes its JSON object directly, with no
//! intermediate tree. This file holds the entry points, messages and their members; values
//! and lists are in `proto_values.rs`, maps in `proto_map.rs`, well-known types in
//! `proto_wkt.rs`.

use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor};

use super::failure::{Failure, FailureKind};
use super::json_write::write_key;
use super::kinds::{ValueKind, WellKnown};
use super::wire::{scan, Record, WireError, MAX_WIRE_DEPTH};
use super::{JsonOptions, TranscodeError};

/// Whether a member was written or left out (a default value, an empty list, a cleared oneof
/// member).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    Value,
    Nothing,
}

/// Turns a wire error into a failure.
pub(super) fn wire_failure(err: WireError) -> Box<Failure> {
    Failure::new(FailureKind::InvalidWire, err.to_string())
}

/// State shared by one transcoding call.
pub(super) struct Emitter<'o> {
    pub(super) out: &'o mut Vec<u8>,
    pub(super) opts: JsonOptions,
    /// Records of the messages being written, outermost first; each message appends its own
    /// records and removes them when done, so one allocation serves the whole tree.
    pub(super) records: Vec<Record>,
    /// Set while checking bytes that prost-reflect would decode but never print (an earlier
    /// oneof member, a map entry replaced by a later one): only wire errors count then.
    pub(super) validating: bool,
}

/// Writes the JSON form of the `desc` message in `wire` to `out`.
pub(super) fn decode_message(
    desc: &MessageDescriptor,
    wire: &[u8],
    opts: &JsonOptions,
    out: &mut Vec<u8>,
) -> Result<(), TranscodeError> {
    let mut emitter = Emitter {
        out,
        opts: *opts,
        records: Vec::with_capacity(32),
        validating: false,
    };
    emitter
        .write_message(desc, wire, MAX_WIRE_DEPTH)
        .map_err(|failure| failure.into_error())
}

/// Writes the JSON value of `field` as found in the wire bytes of its parent message, or its
/// default value when the message does not set it.
pub(super) fn decode_field(
    field: &FieldDescriptor,
    message_wire: &[u8],
    opts: &JsonOptions,
    out: &mut Vec<u8>,
) -> Result<(), TranscodeError> {
    let mut emitter = Emitter {
        out,
        opts: *opts,
        records: Vec::with_capacity(32),
        validating: false,
    };
    let result = emitter.write_single_field(field, message_wire);
    result.map_err(|mut failure| {
        failure.within_field(field.json_name());
        failure.into_error()
    })
}

/// The range `lo..hi` of `Emitter::records` holding the records of one field, in wire order.
#[derive(Debug, Clone, Copy)]
pub(super) struct Run {
    pub(super) lo: usize,
    pub(super) hi: usize,
}

impl Emitter<'_> {
    #[inline]
    pub(super) fn record(&self, index: usize) -> Result<Record, Box<Failure>> {
        self.records.get(index).copied().ok_or_else(|| {
            Failure::new(
                FailureKind::InvalidWire,
                "internal record index out of range",
            )
        })
    }

    /// Writes a message (or the JSON form of a well-known type). `depth` is the nesting budget
    /// left for the message's own fields.
    pub(super) fn write_message(
        &mut self,
        desc: &MessageDescriptor,
        wire: &[u8],
        depth: u32,
    ) -> Result<(), Box<Failure>> {
        if let Some(wkt) = WellKnown::of(desc) {
            return self.write_well_known(desc, wkt, wire, depth);
        }
        let base = self.records.len();
        let result = self.write_fields(desc, wire, depth, base);
        self.records.truncate(base);
        result
    }

    fn write_fields(
        &mut self,
        desc: &MessageDescriptor,
        wire: &[u8],
        depth: u32,
        base: usize,
    ) -> Result<(), Box<Failure>> {
        let sorted = scan(wire, depth, &mut self.records).map_err(wire_failure)?;
        let end = self.records.len();
        if !sorted {
            if let Some(records) = self.records.get_mut(base..end) {
                // Stable: records of one field keep their order, so "last one wins" still holds.
                records.sort_by_key(|record| record.number);
            }
        }
        self.out.push(b'{');
        let mut first = true;
        let has_oneofs = desc.oneofs().len() != 0;
        let mut lo = base;
        while lo < end {
            let number = self.record(lo)?.number;
            let mut hi = lo + 1;
            while hi < end && self.record(hi)?.number == number {
                hi += 1;
            }
            if let Some(field) = desc.get_field(number) {
                let split = if has_oneofs {
                    self.oneof_split(&field, Run { lo, hi }, base, end)?
                } else {
                    lo
                };
                if split > lo {
                    self.validate_run(&field, Run { lo, hi: split }, wire, depth)
                        .map_err(|failure| within(failure, &field))?;
                }
                if split < hi {
                    self.write_member(&field, Run { lo: split, hi }, wire, depth, &mut first)
                        .map_err(|failure| within(failure, &field))?;
                }
            }
            lo = hi;
        }
        if self.opts.emit_unpopulated {
            for field in desc.fields() {
                if field.supports_presence() || self.has_records(base, end, field.number()) {
                    continue;
                }
                if !first {
                    self.out.push(b',');
                }
                first = false;
                write_key(self.out, self.member_name(&field));
                self.write_default(&field)
                    .map_err(|failure| within(failure, &field))?;
            }
        }
        self.out.push(b'}');
        Ok(())
    }

    fn member_name<'f>(&self, field: &'f FieldDescriptor) -> &'f str {
        if self.opts.use_proto_names {
            field.name()
        } else {
            field.json_name()
        }
    }

    fn has_records(&self, base: usize, end: usize, number: u32) -> bool {
        self.records.get(base..end).is_some_and(|records| {
            records
                .binary_search_by_key(&number, |record| record.number)
                .is_ok()
        })
    }

    /// Applies oneof semantics to a field's run: returns the index from which its records
    /// count. Records before it were cleared by a later record of another member of the same
    /// oneof (they are still checked, as prost-reflect decodes them before clearing them).
    fn oneof_split(
        &self,
        field: &FieldDescriptor,
        run: Run,
        base: usize,
        end: usize,
    ) -> Result<usize, Box<Failure>> {
        let Some(oneof) = field.containing_oneof() else {
            return Ok(run.lo);
        };
        if oneof.fields().len() < 2 {
            return Ok(run.lo);
        }
        let number = field.number();
        let mut other_last: Option<u32> = None;
        for index in base..end {
            let record = self.record(index)?;
            if record.number != number
                && oneof
                    .fields()
                    .any(|member| member.number() == record.number)
            {
                other_last = Some(other_last.map_or(record.order, |last| last.max(record.order)));
            }
        }
        let Some(other_last) = other_last else {
            return Ok(run.lo);
        };
        let mut split = run.lo;
        while split < run.hi && self.record(split)?.order < other_last {
            split += 1;
        }
        Ok(split)
    }

    /// Writes `"name":value` for the run of one field, preceded by a comma when needed.
    fn write_member(
        &mut self,
        field: &FieldDescriptor,
        run: Run,
        wire: &[u8],
        depth: u32,
        first: &mut bool,
    ) -> Result<(), Box<Failure>> {
        let mark = self.out.len();
        if !*first {
            self.out.push(b',');
        }
        write_key(self.out, self.member_name(field));
        let force = self.opts.emit_unpopulated;
        match self.write_field_value(field, run, wire, depth, force)? {
            Written::Value => *first = false,
            Written::Nothing => self.out.truncate(mark),
        }
        Ok(())
    }

    /// Checks records that are decoded but never printed.
    fn validate_run(
        &mut self,
        field: &FieldDescriptor,
        run: Run,
        wire: &[u8],
        depth: u32,
    ) -> Result<(), Box<Failure>> {
        let mark = self.out.len();
        let was_validating = std::mem::replace(&mut self.validating, true);
        let result = self.write_field_value(field, run, wire, depth, true);
        self.validating = was_validating;
        self.out.truncate(mark);
        result.map(drop)
    }

    /// Writes the value of a field from its records. `force` writes default values and empty
    /// lists instead of leaving them out.
    pub(super) fn write_field_value(
        &mut self,
        field: &FieldDescriptor,
        run: Run,
        wire: &[u8],
        depth: u32,
        force: bool,
    ) -> Result<Written, Box<Failure>> {
        let kind = field.kind();
        if field.cardinality() == Cardinality::Repeated {
            if let Kind::Message(entry) = &kind {
                if entry.is_map_entry() {
                    return self.write_map(field, run, wire, depth);
                }
            }
            let kind = ValueKind::of(kind);
            return self.write_list(field, &kind, run, wire, depth, force);
        }
        let kind = ValueKind::of(kind);
        let skip_default = !force && !field.supports_presence();
        self.write_singular(field, &kind, run, wire, depth, skip_default)
    }

    /// The JSON value of a field that has no records.
    pub(super) fn write_default(&mut self, field: &FieldDescriptor) -> Result<(), Box<Failure>> {
        if field.is_map() {
            self.out.extend_from_slice(b"{}");
            return Ok(());
        }
        if field.is_list() {
            self.out.extend_from_slice(b"[]");
            return Ok(());
        }
        match ValueKind::of_field(field) {
            ValueKind::Scalar(kind) => self.write_default_scalar(kind),
            ValueKind::Enum(desc) => self.write_enum(&desc, desc.default_value().number()),
            ValueKind::Message(desc) => {
                if desc.full_name() == "google.protobuf.Any" {
                    // An empty Any has no type URL to print; `{}` is its closest JSON form.
                    self.out.extend_from_slice(b"{}");
                    return Ok(());
                }
                return self.write_message(&desc, &[], MAX_WIRE_DEPTH);
            }
        }
        Ok(())
    }

    fn write_single_field(
        &mut self,
        field: &FieldDescriptor,
        wire: &[u8],
    ) -> Result<(), Box<Failure>> {
        let sorted = scan(wire, MAX_WIRE_DEPTH, &mut self.records).map_err(wire_failure)?;
        if !sorted {
            self.records.sort_by_key(|record| record.number);
        }
        let end = self.records.len();
        let number = field.number();
        let lo = self
            .records
            .partition_point(|record| record.number < number);
        let hi = self
            .records
            .partition_point(|record| record.number <= number);
        if lo == hi {
            return self.write_default(field);
        }
        let split = self.oneof_split(field, Run { lo, hi }, 0, end)?;
        if split > lo {
            self.validate_run(field, Run { lo, hi: split }, wire, MAX_WIRE_DEPTH)?;
        }
        if split == hi {
            return self.write_default(field);
        }
        match self.write_field_value(field, Run { lo: split, hi }, wire, MAX_WIRE_DEPTH, true)? {
            Written::Value => Ok(()),
            Written::Nothing => self.write_default(field),
        }
    }
}

/// Adds the field to a failure's path.
pub(super) fn within(mut failure: Box<Failure>, field: &FieldDescriptor) -> Box<Failure> {
    failure.within_field(field.json_name());
    failure
}
