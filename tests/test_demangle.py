"""Rust legacy symbol names shown readably in text reports, untouched elsewhere."""

import pytest

from loom_post.report.demangle import demangle


@pytest.mark.parametrize("mangled, readable", [
    ("_ZN4core3fmt5write17h0123456789abcdefE", "core::fmt::write"),
    ("_ZN8dlmalloc8dlmalloc17Dlmalloc$LT$A$GT$6malloc17h4e5c3f1d2b3a4958E",
     "dlmalloc::dlmalloc::Dlmalloc<A>::malloc"),
    ("_ZN77_$LT$libflate..deflate..decode..Decoder$LT$R$GT$$u20$as$u20$std..io..Read$GT$"
     "4read17h0123456789abcdefE",
     "<libflate::deflate::decode::Decoder<R> as std::io::Read>::read"),
    ("_ZN3foo3barE", "foo::bar"),                       # no hash segment
])
def test_legacy_names_are_demangled_without_the_hash(mangled, readable):
    assert demangle(mangled) == readable


@pytest.mark.parametrize("name", ["main", "ks_event", "_ZN", "_ZN3fooE3", "_ZN99fooE",
                                  "_RNvCs1234_7mycrate3foo", "", None])
def test_anything_else_is_returned_unchanged(name):
    assert demangle(name) == name


def test_json_keeps_the_exact_name(tmp_path, capsys):
    import json

    import wasmtime

    from loom_post.cli import main
    path = tmp_path / "m.wasm"
    path.write_bytes(wasmtime.wat2wasm(
        '(module (func $_ZN4core3fmt5write17h0123456789abcdefE (export "w")))'))
    assert main(["inspect", str(path), "--format", "json"]) == 0
    (fn,) = json.loads(capsys.readouterr().out)["modules"][0]["functions"]
    assert fn["name"] == "_ZN4core3fmt5write17h0123456789abcdefE"
    assert main(["inspect", str(path)]) == 0
    assert "core::fmt::write" in capsys.readouterr().out
