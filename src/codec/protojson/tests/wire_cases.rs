//! Hand-made protobuf inputs: defaults on the wire, packed and unpacked repeated fields,
//! interleaved records, repeated singular fields, map entries in odd shapes, oneof switches,
//! well-known types at their limits, and malformed bytes.

pub(super) fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

pub(super) fn key(number: u32, wire_type: u8) -> Vec<u8> {
    varint((u64::from(number) << 3) | u64::from(wire_type))
}

/// A varint field.
pub(super) fn vf(number: u32, value: u64) -> Vec<u8> {
    [key(number, 0), varint(value)].concat()
}

/// A length-delimited field.
pub(super) fn ld(number: u32, payload: &[u8]) -> Vec<u8> {
    [
        key(number, 2),
        varint(payload.len() as u64),
        payload.to_vec(),
    ]
    .concat()
}

pub(super) fn f32f(number: u32, bits: u32) -> Vec<u8> {
    [key(number, 5), bits.to_le_bytes().to_vec()].concat()
}

pub(super) fn f64f(number: u32, bits: u64) -> Vec<u8> {
    [key(number, 1), bits.to_le_bytes().to_vec()].concat()
}

pub(super) fn group(number: u32, content: &[u8]) -> Vec<u8> {
    [key(number, 3), content.to_vec(), key(number, 4)].concat()
}

pub(super) fn packed(number: u32, values: &[u64]) -> Vec<u8> {
    ld(
        number,
        &values.iter().flat_map(|&v| varint(v)).collect::<Vec<_>>(),
    )
}

/// (message, wire bytes) pairs, accepted and rejected.
pub(super) fn hand_made() -> Vec<(&'static str, Vec<u8>)> {
    let s = "test.v1.Scalars";
    let r = "test.v1.Repeated";
    let m = "test.v1.Maps";
    let o = "test.v1.Oneofs";
    let w = "test.v1.WellKnown";
    let entry = |k: &[u8], v: &[u8]| [k, v].concat();
    vec![
        // Scalars: defaults on the wire, truncation, last one wins, special floats.
        (
            s,
            [vf(3, 0), vf(4, 0), ld(14, b""), vf(13, 0), vf(16, 0)].concat(),
        ),
        (s, vf(3, 1 << 32)),
        (s, vf(3, u64::MAX)),
        (s, [vf(3, 5), ld(14, b"x"), vf(3, 7)].concat()),
        (
            s,
            [vf(13, 2), vf(5, (1 << 32) + 3), vf(7, 3), vf(8, u64::MAX)].concat(),
        ),
        (
            s,
            [
                f64f(1, f64::NAN.to_bits()),
                f32f(2, f32::NEG_INFINITY.to_bits()),
            ]
            .concat(),
        ),
        (
            s,
            [f64f(1, (-0.0f64).to_bits()), f32f(2, (-0.0f32).to_bits())].concat(),
        ),
        (
            s,
            [
                f32f(9, u32::MAX),
                f64f(10, u64::MAX),
                f32f(11, u32::MAX),
                f64f(12, 1 << 63),
            ]
            .concat(),
        ),
        (s, [vf(16, 99), vf(16, u64::MAX)].concat()),
        (
            s,
            [
                ld(14, b"a\"\\\n\x01\xc3\xa9"),
                ld(15, b"\x00\xff"),
                ld(17, b"renamed"),
            ]
            .concat(),
        ),
        (s, [ld(14, b"\xff"), ld(14, b"ok")].concat()),
        (s, ld(14, b"\xc3")),
        (s, [0x18, 0x80, 0x00].to_vec()),
        (
            s,
            [
                vf(50, 1),
                f64f(51, 9),
                ld(52, b"zz"),
                group(53, &vf(1, 1)),
                f32f(54, 1),
            ]
            .concat(),
        ),
        (s, group(53, &group(2, &ld(3, b"x")))),
        // Malformed.
        (s, vec![0x18]),
        (s, vec![0x18, 0x80]),
        (s, [key(14, 2), vec![5, b'a']].concat()),
        (s, key(3, 4)),
        (s, [key(53, 3), vf(1, 1)].concat()),
        (s, [key(53, 3), key(54, 4)].concat()),
        (s, vec![0x1e, 0x01]),
        (s, vec![0x1f, 0x01]),
        (s, vec![0x00, 0x01]),
        (s, [key(3, 2), vec![0]].concat()),
        (s, [key(14, 0), vec![1]].concat()),
        (s, [key(1, 5), vec![0, 0, 0, 0]].concat()),
        (s, [key(9, 5), vec![0, 0]].concat()),
        (
            s,
            vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02],
        ),
        (s, [key(3, 0), vec![0xff; 10], vec![0x01]].concat()),
        // Repeated: packed, unpacked, mixed, interleaved.
        (
            r,
            [
                packed(3, &[1, 2]),
                vf(3, 3),
                ld(14, b"a"),
                packed(3, &[]),
                vf(3, u64::MAX),
            ]
            .concat(),
        ),
        (r, [vf(17, 1), packed(17, &[2, 3]), vf(17, 0)].concat()),
        (
            r,
            [
                packed(16, &[1, 99, 0]),
                vf(16, 2),
                vf(18, 1),
                packed(18, &[2]),
            ]
            .concat(),
        ),
        (
            r,
            [
                ld(1, &1.5f64.to_le_bytes()),
                f64f(1, 2.5f64.to_bits()),
                ld(2, &[0, 0, 0x80, 0x3f]),
            ]
            .concat(),
        ),
        (
            r,
            [
                ld(9, &[1, 0, 0, 0, 2, 0, 0, 0]),
                f32f(9, 3),
                ld(13, &[1, 0, 2]),
            ]
            .concat(),
        ),
        (r, packed(3, &[])),
        (r, ld(14, b"")),
        (
            r,
            [
                ld(19, &vf(3, 1)),
                ld(14, b"between"),
                ld(19, b""),
                ld(19, &ld(14, b"x")),
            ]
            .concat(),
        ),
        (r, ld(9, &[1, 0, 0])),
        (r, ld(3, &[0x80])),
        (r, [ld(14, b"ok"), ld(14, b"\xfe")].concat()),
        (r, vf(19, 1)),
        (r, vf(14, 1)),
        (r, f32f(3, 1)),
        // Maps: duplicates, missing parts, unknown members, order inside entries.
        (
            m,
            [
                ld(1, &entry(&ld(1, b"a"), &vf(2, 1))),
                ld(1, &entry(&ld(1, b"a"), &vf(2, 2))),
            ]
            .concat(),
        ),
        (
            m,
            [ld(1, &vf(2, 5)), ld(1, &ld(1, b"k")), ld(1, b"")].concat(),
        ),
        (
            m,
            [
                ld(1, &entry(&vf(2, 9), &ld(1, b"z"))),
                ld(1, &[ld(1, b"x"), vf(3, 1), vf(2, 4)].concat()),
            ]
            .concat(),
        ),
        (
            m,
            [
                ld(2, &entry(&vf(1, u64::MAX), &ld(2, b"neg"))),
                ld(3, &entry(&vf(1, 5), &vf(2, 77))),
            ]
            .concat(),
        ),
        (
            m,
            [
                ld(6, &entry(&vf(1, 3), &ld(2, &vf(3, 1)))),
                ld(6, &[vf(1, 3), ld(2, &vf(5, 2)), ld(2, &vf(13, 1))].concat()),
            ]
            .concat(),
        ),
        (
            m,
            [
                ld(7, &vf(1, 1)),
                ld(8, &entry(&f32f(1, 1), &f32f(2, 0x7fc0_0000))),
                ld(12, &entry(&vf(1, 1), &ld(2, b"t"))),
            ]
            .concat(),
        ),
        (
            m,
            [
                ld(9, &entry(&f64f(1, 1), &vf(2, 5))),
                ld(10, &entry(&f32f(1, u32::MAX), &ld(2, b"s"))),
                ld(11, &vf(2, 7)),
            ]
            .concat(),
        ),
        (
            m,
            [
                ld(4, &entry(&vf(1, 1), &f64f(2, f64::INFINITY.to_bits()))),
                ld(5, &entry(&vf(1, 2), &ld(2, b"\x01"))),
            ]
            .concat(),
        ),
        (m, ld(13, &entry(&ld(1, b"v"), &ld(2, &vf(4, 1))))),
        (
            m,
            ld(14, &entry(&ld(1, b"t"), &ld(2, &vf(1, 1_704_164_645)))),
        ),
        (m, ld(14, &ld(1, b"empty timestamp"))),
        (
            m,
            [
                ld(2, &entry(&vf(1, 1), &ld(2, b"\xff"))),
                ld(2, &entry(&vf(1, 1), &ld(2, b"ok"))),
            ]
            .concat(),
        ),
        (m, ld(1, &entry(&ld(1, b"\xff"), &vf(2, 1)))),
        (m, ld(1, &entry(&vf(1, 1), &vf(2, 1)))),
        (m, ld(1, &entry(&ld(1, b"a"), &ld(2, b"x")))),
        (m, ld(1, &[0x0a, 0x05, b'a'])),
        // Oneofs: the last member wins, earlier records are still checked.
        (o, [ld(1, b"s"), vf(2, 0)].concat()),
        (o, [vf(2, 1), ld(1, b"s"), vf(2, 2)].concat()),
        (
            o,
            [ld(3, &vf(3, 1)), vf(9, 1), ld(3, &ld(14, b"x"))].concat(),
        ),
        (o, [ld(3, &vf(3, 1)), ld(1, b"after")].concat()),
        (o, [ld(1, b"\xff"), vf(2, 1)].concat()),
        (o, [ld(3, &vf(14, 1)), vf(2, 1)].concat()),
        (o, [vf(5, 0), vf(4, 0)].concat()),
        (o, vf(5, 3)),
        (
            o,
            [vf(6, 0), ld(7, b""), vf(8, 0), ld(10, b""), vf(9, 0)].concat(),
        ),
        (o, [vf(4, 7), vf(6, 5), vf(6, 6)].concat()),
        // Well-known types.
        (
            w,
            ld(2, &[vf(1, 1_704_164_645), vf(2, 123_000_000)].concat()),
        ),
        (w, ld(2, &[vf(2, (-1i64) as u64)].concat())),
        (w, ld(2, &[vf(1, 253_402_300_800)].concat())),
        (w, ld(2, &[vf(1, (-62_135_596_801i64) as u64)].concat())),
        (
            w,
            ld(2, &[vf(1, 5), vf(2, 2_000_000_000), vf(9, 1)].concat()),
        ),
        (w, ld(2, &[ld(1, b"x")].concat())),
        // Two records of one message field, the first cut short: joined, its last field would
        // swallow the second record's first path (found by fuzzing).
        (
            w,
            [
                ld(4, &[ld(1, b""), key(9, 2), vec![7], vf(1, 1)].concat()),
                ld(4, &[ld(1, b"a.b"), ld(1, b"c")].concat()),
            ]
            .concat(),
        ),
        (
            w,
            ld(3, &[vf(1, 1), vf(2, (-500_000_000i64) as u64)].concat()),
        ),
        (w, ld(3, &[vf(1, (-3i64) as u64), vf(2, 1000)].concat())),
        (w, ld(3, &vf(1, 315_576_000_001))),
        (w, ld(3, &vf(2, 1_000_000_000))),
        (
            w,
            ld(
                4,
                &[ld(1, b"foo_bar"), ld(1, b"inner.long_name"), ld(1, b"")].concat(),
            ),
        ),
        (w, ld(4, &ld(1, b"foo_1"))),
        (w, ld(4, &ld(1, b"fooBar"))),
        (w, ld(4, &ld(1, b"\xff"))),
        (
            w,
            [
                ld(8, &vf(5, 1)),
                ld(9, &f64f(1, f64::NAN.to_bits())),
                ld(10, &f32f(1, f32::INFINITY.to_bits())),
            ]
            .concat(),
        ),
        (w, [ld(8, &[0x08])].concat()),
        (
            w,
            [
                ld(11, b""),
                ld(12, &vf(1, u64::MAX)),
                ld(13, &[vf(1, 1), vf(1, 2)].concat()),
                ld(14, &vf(1, 1 << 32)),
            ]
            .concat(),
        ),
        (
            w,
            [
                ld(15, &vf(1, 3)),
                ld(16, &ld(1, b"wrapped")),
                ld(17, &ld(1, b"\x01\x02")),
                ld(16, &vf(2, 1)),
            ]
            .concat(),
        ),
        (w, ld(16, &ld(1, b"\xff"))),
        (w, ld(13, &ld(1, b"x"))),
        (w, [vf(18, 0), vf(23, 0), packed(23, &[0, 4])].concat()),
        (
            w,
            ld(
                1,
                &[
                    ld(1, b"type.googleapis.com/test.v1.Scalars"),
                    ld(2, &vf(3, 5)),
                ]
                .concat(),
            ),
        ),
        (
            w,
            ld(
                1,
                &[
                    ld(1, b"type.googleapis.com/google.protobuf.Duration"),
                    ld(2, &vf(1, 5)),
                ]
                .concat(),
            ),
        ),
        (
            w,
            ld(
                1,
                &[ld(1, b"type.googleapis.com/test.v1.Nope"), ld(2, b"")].concat(),
            ),
        ),
        (w, ld(1, b"")),
        (w, ld(6, &f64f(2, f64::NAN.to_bits()))),
        (w, ld(6, b"")),
        (
            w,
            [
                ld(19, b""),
                ld(19, &vf(1, 1)),
                ld(21, b""),
                ld(24, &vf(1, 1)),
            ]
            .concat(),
        ),
        // proto2 groups, unpacked and packed forms, defaults with presence.
        (
            "test.v2.Legacy",
            [
                vf(1, 0),
                group(4, &ld(5, b"g")),
                group(6, &vf(7, 1)),
                group(6, b""),
            ]
            .concat(),
        ),
        (
            "test.v2.Legacy",
            [
                packed(2, &[1, 2]),
                vf(2, 3),
                vf(3, 4),
                packed(3, &[5]),
                vf(10, 9),
                packed(11, &[1, 8]),
            ]
            .concat(),
        ),
        (
            "test.v2.Legacy",
            [
                group(4, &ld(5, b"a")),
                ld(9, &group(4, b"")),
                group(4, &vf(9, 1)),
            ]
            .concat(),
        ),
        ("test.v2.Legacy", ld(4, &ld(5, b"a"))),
        (
            "test.v2.Legacy",
            [key(4, 3), ld(5, b"a"), key(6, 4)].concat(),
        ),
        ("test.v2.Legacy", group(6, &group(6, b""))),
    ]
}
