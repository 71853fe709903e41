#!/usr/bin/env python3
"""Turn bindgen 0.65's layout tests (#[test] fn bindgen_test_layout_*) in a bindings file
into compile-time assertions, evaluated on every build for every target; print the
result. Used once to make vendor/v4l2-sys-mit/src/bindings.rs (see its README)."""
import re
import sys

src = open(sys.argv[1]).read()
pat = re.compile(r"#\[test\]\nfn bindgen_test_layout_(\w+)\(\) \{\n")
pos, res = 0, []
while True:
    m = pat.search(src, pos)
    if not m:
        res.append(src[pos:])
        break
    res.append(src[pos : m.start()])
    end = src.index("\n}\n", m.end()) + 3
    ty, checks = m.group(1), []
    for a in re.finditer(r"assert_eq!\(\s*(.*?),\s*(\d+)usize,\s*concat!", src[m.end() : end], re.S):
        expr, val = " ".join(a.group(1).split()), a.group(2)
        if s := re.match(r"::std::mem::size_of::<(\w+)>\(\)$", expr):
            checks.append(f"    assert!(::core::mem::size_of::<{s.group(1)}>() == {val});")
        elif s := re.match(r"::std::mem::align_of::<(\w+)>\(\)$", expr):
            checks.append(f"    assert!(::core::mem::align_of::<{s.group(1)}>() == {val});")
        elif s := re.match(
            r"unsafe \{ ::std::ptr::addr_of!\(\(\*ptr\)\.(\w+)\) as usize - ptr as usize \}$", expr
        ):
            checks.append(f"    assert!(::core::mem::offset_of!({ty}, {s.group(1)}) == {val});")
        else:
            sys.exit(f"unknown assertion in {ty}: {expr}")
    res.append(
        f"// Layout of {ty}, checked at compile time for every target.\n"
        "const _: () = {\n" + "\n".join(checks) + "\n};\n"
    )
    pos = end
text = "".join(res)
assert "#[test]" not in text
sys.stdout.write(text)
