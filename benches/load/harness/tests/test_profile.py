"""Tests of the profile readers: callgrind_annotate and perf report output, and the grouping of
symbols into the parts of the stack."""

import unittest

from harness import profile

ANNOTATE = """--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
149,590,223 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                   file:function
--------------------------------------------------------------------------------
46,785,599 (31.28%)  ./string/../sysdeps/x86_64/multiarch/memmove-vec-unaligned-erms.S:__memcpy_avx_unaligned_erms [/usr/lib/x86_64-linux-gnu/libc.so.6]
 2,365,000 ( 1.58%)  /src/mapping/transcode/json_write.rs:polygate::codec::protojson::json_write::write_str [/bin/polygate]
   630,000 ( 0.42%)  /rustc/abc/library/core/src/num/uint_macros.rs:polygate::codec::protojson::json_write::write_str
 1,339,000 ( 0.90%)  /cargo/http-1.5.0/src/header/name.rs:http::header::name::parse_hdr [/bin/polygate]
"""

TREE = """    17,677,832 (11.82%)  < /src/backends/grpc/service.rs:<polygate::backends::grpc::service::GrpcBackend as polygate::model::call::Backend>::call (1,000x)
       690,864 ( 0.46%)  < /cargo/tokio/src/task/spawn.rs:tokio::task::spawn::spawn (4,008x)
     1,000 ( 0.00%)  < /cargo/tokio/src/task/spawn.rs:tokio::task::spawn::spawn (8x) [/bin/polygate]
46,785,599 (31.28%)  *  ./string/memmove-vec-unaligned-erms.S:__memcpy_avx_unaligned_erms [/usr/lib/libc.so.6]
"""

PERF = """# Samples: 40K of event 'cpu-clock'
#
     8.90%  [.] __memmove_avx512_unaligned_erms
     7.30%  [k] _raw_spin_unlock_irqrestore
     1.40%  [.] h2::frame::headers::HeaderBlock::into_encoding
"""


class Readers(unittest.TestCase):
    def test_annotate_sums_a_function_listed_under_several_files(self):
        self.assertEqual(
            profile.parse_callgrind_annotate(ANNOTATE),
            [
                (46785599, "__memcpy_avx_unaligned_erms"),
                (2995000, "polygate::codec::protojson::json_write::write_str"),
                (1339000, "http::header::name::parse_hdr"),
            ],
        )

    def test_callers_are_read_above_the_function_and_summed(self):
        self.assertEqual(
            profile.parse_callers(TREE, "__memcpy_avx_unaligned_erms"),
            [
                (17677832, "<polygate::backends::grpc::service::GrpcBackend as polygate::model::call::Backend>::call"),
                (691864, "tokio::task::spawn::spawn"),
            ],
        )

    def test_callers_are_summed_over_every_block_of_the_function(self):
        tree = TREE + "        50 ( 0.00%)  < /cargo/h2/src/codec.rs:h2::codec::Codec::poll_next (5x)\n" + (
            "      50 ( 0.00%)  *  /rustc/x/alloc.rs:__memcpy_avx_unaligned_erms [/bin/polygate]\n"
        )
        self.assertEqual(profile.parse_callers(tree, "__memcpy_avx_unaligned_erms")[-1], (50, "h2::codec::Codec::poll_next"))

    def test_meaningful_callers_look_through_allocator_shims(self):
        tree = (
            "  2,650 ( 2.00%)  < /rustc/x/alloc.rs:__rustc::__rdl_dealloc (49,580x)\n"
            "  2,650 ( 2.00%)  *  ./malloc/malloc.c:free [/usr/lib/libc.so.6]\n"
            "  1,000 ( 1.00%)  < ???:__rustc::__rust_dealloc (40x)\n"
            "  1,000 ( 1.00%)  *  /rustc/x/alloc.rs:__rustc::__rdl_dealloc [/bin/polygate]\n"
            "    700 ( 0.70%)  < /cargo/http/map.rs:core::ptr::drop_in_place<http::header::map::HeaderMap> (20x)\n"
            "    300 ( 0.30%)  < /src/respond.rs:polygate::mapping::respond::encode_message (20x)\n"
            "  1,000 ( 1.00%)  *  ???:__rustc::__rust_dealloc [/bin/polygate]\n"
        )
        self.assertEqual(
            profile.meaningful_callers(tree, "free"),
            [(700, "core::ptr::drop_in_place<http::header::map::HeaderMap>"),
             (300, "polygate::mapping::respond::encode_message")],
        )

    def test_meaningful_callers_look_through_mimalloc_and_its_global_alloc(self):
        tree = (
            "  1,000 ( 1.00%)  < ???:<mimalloc::MiMalloc as core::alloc::global::GlobalAlloc>::dealloc (40x)\n"
            "  1,000 ( 1.00%)  *  ???:mi_free [/bin/polygate]\n"
            "    600 ( 0.60%)  < /cargo/bytes/bytes.rs:bytes::bytes::shared_drop (20x)\n"
            "    400 ( 0.40%)  < /src/respond.rs:polygate::mapping::respond::encode_message (20x)\n"
            "  1,000 ( 1.00%)  *  ???:<mimalloc::MiMalloc as core::alloc::global::GlobalAlloc>::dealloc [/bin/polygate]\n"
        )
        self.assertEqual(
            profile.meaningful_callers(tree, "mi_free"),
            [(600, "bytes::bytes::shared_drop"), (400, "polygate::mapping::respond::encode_message")],
        )

    def test_callers_of_an_absent_function_are_none(self):
        self.assertEqual(profile.parse_callers(TREE, "malloc"), [])

    def test_perf_report_keeps_the_kernel_mark(self):
        self.assertEqual(
            profile.parse_perf_report(PERF),
            [
                (8.9, "__memmove_avx512_unaligned_erms"),
                (7.3, "[k] _raw_spin_unlock_irqrestore"),
                (1.4, "h2::frame::headers::HeaderBlock::into_encoding"),
            ],
        )


class PerfStat(unittest.TestCase):
    def test_csv_counts_by_event_and_unsupported_lines_skipped(self):
        text = (
            "471032,,raw_syscalls:sys_enter,4002185512,100.00,,\n"
            "288294,,syscalls:sys_enter_writev,4002185512,100.00,,\n"
            "<not supported>,,cycles,0,100.00,,\n"
        )
        self.assertEqual(
            profile.parse_perf_stat_csv(text),
            {"raw_syscalls:sys_enter": 471032, "syscalls:sys_enter_writev": 288294},
        )


class Categories(unittest.TestCase):
    def test_symbols_fall_into_their_part_of_the_stack(self):
        cases = {
            "[k] tcp_sendmsg_locked": "kernel",
            "_int_malloc": "allocator (mimalloc; glibc malloc/free in C libraries)",
            "mi_free": "allocator (mimalloc; glibc malloc/free in C libraries)",
            "_mi_page_malloc_zero": "allocator (mimalloc; glibc malloc/free in C libraries)",
            "__memmove_avx512_unaligned_erms": "memcpy/memmove/memset",
            "polygate::codec::protojson::json_write::write_str": "JSON ⇄ protobuf transcoding (polygate::codec::protojson)",
            "<polygate::backends::grpc::service::GrpcBackend as polygate::model::call::Backend>::call":
                "polygate: routing, binding, pipeline, frontend, backend glue",
            "h2::codec::framed_write::FramedWrite<T,B>::flush": "h2 (HTTP/2 frames to the backend)",
            "zmij::write": "number formatting (zmij, itoa, ryu)",
            "main": "other",
        }
        for symbol, expected in cases.items():
            self.assertEqual(profile.category(symbol), expected, symbol)

    def test_grouped_sums_and_orders(self):
        rows = [(2.0, "malloc"), (5.0, "[k] tcp_ack"), (1.0, "free")]
        self.assertEqual(profile.grouped(rows), [(5.0, "kernel"), (3.0, "allocator (mimalloc; glibc malloc/free in C libraries)")])


if __name__ == "__main__":
    unittest.main()
