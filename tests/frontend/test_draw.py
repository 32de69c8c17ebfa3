"""`netlang draw`: the SVG is well-formed, shows every layer once (or folded, counted), keeps its boxes apart and
its text inside them, escapes what it quotes, and refuses bad specs as `check` does. One test renders it in
headless Chromium (skipped where there is none)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from netlang.cli import main
from netlang.draw import draw_svg
from netlang.draw.layout import EM, HEAD_SIZE, INFO_SIZE
from netlang.language.compiler import compile_ir
from netlang.language.report import summary_data

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "specs").glob("*.net"))
SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode("utf-8"))


def rect_of(element: ET.Element) -> tuple[float, float, float, float]:
    rect = element.find(f"{SVG}rect")
    return tuple(float(rect.get(key)) for key in ("x", "y", "width", "height"))


def boxes(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "layer"]


def repeats(root: ET.Element) -> list[tuple[int, tuple[float, float, float, float]]]:
    return [(int(g.get("data-repeat")), rect_of(g)) for g in root.iter(f"{SVG}g") if g.get("data-repeat")]


def inside(inner: tuple[float, ...], outer: tuple[float, ...]) -> bool:
    x, y, w, h = inner
    ox, oy, ow, oh = outer
    return ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def layers_drawn(root: ET.Element) -> int:
    """The IR layers the boxes stand for: each box's data-layers times the repeats whose frames hold it."""
    frames = repeats(root)
    total = 0
    for box in boxes(root):
        if box.get("data-name") == "input":
            continue
        times = 1
        for count, rect in frames:
            if inside(rect_of(box), rect):
                times *= count
        total += int(box.get("data-layers")) * times
    return total


def check_geometry(root: ET.Element) -> None:
    """No two boxes overlap, every box and frame lies inside the picture, and every line of text fits its box."""
    width, height = float(root.get("width")), float(root.get("height"))
    rects = [rect_of(box) for box in boxes(root)]
    order = sorted(range(len(rects)), key=lambda i: rects[i][1])
    for position, i in enumerate(order):  # sweep down the picture: only boxes whose heights meet can overlap
        for j in order[position + 1 :]:
            if rects[j][1] >= rects[i][1] + rects[i][3]:
                break
            assert not overlap(rects[i], rects[j]), (boxes(root)[i].get("data-name"), boxes(root)[j].get("data-name"))
    for rect in rects + [rect for _, rect in repeats(root)]:
        assert inside(rect, (0, 0, width, height))
    for box in boxes(root):
        x, _, w, _ = rect_of(box)
        for text in box.findall(f"{SVG}text"):
            size = HEAD_SIZE if text.get("class") == "head" else INFO_SIZE
            assert len(text.text) * size * 0.6 <= w - 8, (text.text, w)  # 0.6 em: DejaVu Sans Mono's advance
            assert abs(float(text.get("x")) - (x + w / 2)) < 0.2
    assert EM >= 0.6


@pytest.mark.parametrize("spec", SPECS, ids=lambda path: path.stem)
def test_every_example_spec_draws_every_layer_once(spec):
    ir = compile_ir(spec)
    root = parse(draw_svg(ir))
    check_geometry(root)
    assert layers_drawn(root) == len(ir["layers"])
    names = [box.get("data-name") for box in boxes(root)]
    assert len(names) == len(set(names)) and names[0] == "input"


def test_a_chain_is_one_column_of_boxes_with_op_shape_and_parameters():
    root = parse(draw_svg(compile_ir(ROOT / "specs" / "three_layer.net")))
    drawn = [(box.get("data-name"), [text.text for text in box.findall(f"{SVG}text")]) for box in boxes(root)]
    assert drawn == [
        ("input", ["input", "2"]),
        ("affine1", ["affine 3", "affine1 · 3 · 9 params"]),
        ("sigmoid1", ["sigmoid", "sigmoid1 · 3"]),
        ("affine2", ["affine 2", "affine2 · 2 · 8 params"]),
        ("sigmoid2", ["sigmoid", "sigmoid2 · 2"]),
        ("affine3", ["affine 2", "affine3 · 2 · 6 params"]),
        ("identity1", ["identity", "identity1 · 2"]),
    ]
    centres = {round(rect_of(box)[0] + rect_of(box)[2] / 2, 1) for box in boxes(root)}
    assert len(centres) == 1
    assert "23 parameters" in root.find(f"{SVG}title").text


def test_deep_convnet_first_copy_differs_so_nothing_is_folded():
    ir = compile_ir(ROOT / "specs" / "deep_convnet.net")
    root = parse(draw_svg(ir))
    assert repeats(root) == []
    assert len(boxes(root)) == len(ir["layers"]) + 1
    conv = next(box for box in boxes(root) if box.get("data-name") == "conv1")
    assert [text.text for text in conv.findall(f"{SVG}text")] == ["conv 16 3x3 pad 1", "conv1 · 16×28×28 · 160 params"]


def test_branches_stand_side_by_side_and_meet_at_their_merge():
    root = parse(draw_svg(compile_ir(ROOT / "specs" / "inception.net")))
    by_name = {box.get("data-name"): rect_of(box) for box in boxes(root)}
    firsts = [by_name[f"inception1.{name}"] for name in ("conv2", "conv3", "conv5", "pool2")]
    assert len({rect[1] for rect in firsts}) == 1, "the branches start side by side"
    assert [rect[0] for rect in firsts] == sorted(rect[0] for rect in firsts), "in the order the spec writes them"
    concat = by_name["inception1.concat1"]
    assert concat[1] > max(by_name[f"inception1.{name}"][1] for name in ("relu2", "relu4", "relu6", "relu7"))
    left, right = firsts[0][0], firsts[-1][0] + firsts[-1][2]
    assert left < concat[0] and concat[0] + concat[2] < right


def test_repeated_identical_copies_are_folded_with_their_count():
    ir = compile_ir(ROOT / "specs" / "multilayer_bn.net")
    root = parse(draw_svg(ir))
    assert [count for count, _ in repeats(root)] == [5]  # hidden.1 reads 784 values, hidden.2 to .6 alike
    assert len(boxes(root)) == 1 + 4 + 4 + 2
    assert "hidden.2 … hidden.6" in "".join(root.itertext())
    assert layers_drawn(root) == len(ir["layers"])


def test_depth_folds_groups_into_boxes_with_their_totals():
    ir = compile_ir(ROOT / "specs" / "resnet.net")
    root = parse(draw_svg(ir, depth=0))
    drawn = {box.get("data-name"): box for box in boxes(root)}
    assert list(drawn) == ["input", "conv1", "batchnorm1", "relu1", "basic1", "down1", "down2", "global_pool1",
                           "affine1", "softmax1"]
    rows = summary_data(ir)["layers"]
    down1 = [row for row in rows if row["scope"][:1] == ["down1"]]
    assert drawn["down1"].get("data-layers") == str(len(down1)) == "9"
    texts = [text.text for text in drawn["down1"].findall(f"{SVG}text")]
    assert texts == ["down1 (9 layers)", f"32×14×14 · {sum(row['params'] for row in down1):,} params"]
    assert layers_drawn(root) == len(ir["layers"])
    check_geometry(root)
    deeper = parse(draw_svg(ir, depth=1))  # the blocks open, their branch groups folded
    assert {box.get("data-name") for box in boxes(deeper)} >= {"basic1.add1", "basic1.relu3", "down2.add3"}


def test_a_huge_spec_draws_folded(write_spec):
    spec = write_spec(
        "block basic C {\n  (conv C 3x3 pad same -> batchnorm -> relu -> conv C 3x3 pad same -> batchnorm"
        " + identity) -> relu\n}\ninput 1x28x28\nconv 16 3x3 pad same -> batchnorm -> relu\n(basic 16) * 400\n"
        "(affine 16 -> relu) * 600\n"
    )
    ir = compile_ir(spec)
    assert len(ir["layers"]) == 3 + 400 * 7 + 1 + 1200
    root = parse(draw_svg(ir))
    assert sorted(count for count, _ in repeats(root)) == [400, 599]  # the first affine reads an image
    assert layers_drawn(root) == len(ir["layers"])
    assert len(boxes(root)) < 25
    check_geometry(root)


def test_text_from_the_spec_and_ir_is_escaped(tmp_path):
    spec = tmp_path / 'a&b <c> "d".net'
    spec.write_text("input 4\naffine 2\n")
    svg = draw_svg(compile_ir(spec))
    root = parse(svg)
    assert root.find(f"{SVG}title").text.startswith(str(spec))
    assert "a&amp;b &lt;c&gt; &quot;d&quot;.net" in svg
    ir = compile_ir(ROOT / "specs" / "xor.net")
    root = parse(draw_svg({**ir, "source": "bell\x07 & <script>alert(1)</script>\udcff"}))
    title = root.find(f"{SVG}title").text
    assert "<script>" in title and "\x07" not in title and "\ufffd" in title  # as text, never as markup
    assert root.find(f".//{SVG}script") is None


def test_a_graph_without_scopes_gets_its_branch_groups_back(tmp_path):
    ir = compile_ir(ROOT / "specs" / "resnet.net")
    stripped = {"netlang": 2, "input": {"shape": ir["input"]["shape"]},
                "layers": [{key: layer[key] for key in ("name", "op", "args", "inputs")} for layer in ir["layers"]]}
    path = tmp_path / "resnet.json"
    path.write_text(json.dumps(stripped))
    root = parse(draw_svg(compile_ir(path)))
    assert len(root.findall(f".//{SVG}circle")) == 3, "three forks: basic1, down1, down2"
    assert layers_drawn(root) == len(ir["layers"])
    check_geometry(root)


def test_a_graph_not_made_of_groups_is_drawn_as_a_column_with_every_edge(tmp_path):
    layers = [
        {"name": "a", "op": "affine", "args": {"units": 4}, "inputs": ["input"]},
        {"name": "b", "op": "relu", "args": {}, "inputs": ["a"]},
        {"name": "c", "op": "add", "args": {}, "inputs": ["a", "b"]},
        {"name": "d", "op": "add", "args": {}, "inputs": ["b", "c"]},  # b is read across c's group
    ]
    path = tmp_path / "crossed.json"
    path.write_text(json.dumps({"netlang": 2, "input": {"shape": [4]}, "layers": layers}))
    root = parse(draw_svg(compile_ir(path)))
    assert [box.get("data-name") for box in boxes(root)] == ["input", "a", "b", "c", "d"]
    edges = [path for path in root.iter(f"{SVG}path") if path.get("class") == "edge"]
    assert len(edges) == sum(len(layer["inputs"]) for layer in layers)
    check_geometry(root)
    assert len({rect_of(box)[0] for box in boxes(root)}) == 1


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_draw_writes_the_file_and_refuses_bad_input_as_check_does(capsys, tmp_path, write_spec):
    out = tmp_path / "net.svg"
    assert run(capsys, "draw", str(ROOT / "specs" / "resnet.net"), "-o", str(out)) == (0, "", "")
    assert boxes(parse(out.read_text(encoding="utf-8")))
    bad = write_spec("input 1x28x28\nconv 30 5x5 -> reul\n", "bad.net")
    checked = run(capsys, "check", str(bad))
    assert checked[0] == 1 and "2:16: unknown layer 'reul'" in checked[2]
    assert run(capsys, "draw", str(bad), "-o", str(tmp_path / "bad.svg")) == checked
    assert not (tmp_path / "bad.svg").exists()
    code, _, err = run(capsys, "draw", str(tmp_path / "missing.net"), "-o", str(out))
    assert code == 2 and "no such file" in err
    code, _, err = run(capsys, "draw", "--depth", "-1", str(bad))
    assert code == 2 and "--depth must be 0 or more" in err
    code, svg, _ = run(capsys, "draw", str(ROOT / "specs" / "xor.net"))
    assert code == 0 and parse(svg).tag == f"{SVG}svg"


def test_draw_starts_without_numpy():
    code = (
        "import sys; from netlang.cli import main; "
        f"assert main(['draw', {str(ROOT / 'specs' / 'resnet.net')!r}, '-o', '-']) == 0; "
        "assert 'numpy' not in sys.modules, 'numpy was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to render the SVG")
def test_chromium_renders_the_drawing(tmp_path):
    svg = draw_svg(compile_ir(ROOT / "specs" / "resnet.net"))
    root = parse(svg)
    width, height = (int(float(root.get(key))) + 1 for key in ("width", "height"))
    (tmp_path / "net.svg").write_text(svg, encoding="utf-8")
    png = tmp_path / "net.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={png}", f"--window-size={width},{height}", (tmp_path / "net.svg").as_uri()],
        capture_output=True, timeout=120, check=False,
    )
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (width, height)
    pil = pytest.importorskip("PIL.Image")
    image = pil.open(png).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20, "the picture is drawn, not blank"
    box = rect_of(next(box for box in boxes(root) if box.get("data-name") == "down1.conv4"))
    inside_box = image.getpixel((int(box[0] + 4), int(box[1] + box[3] / 2)))
    assert inside_box == (0xDC, 0xEB, 0xF7), "a conv box is filled with the conv colour where the SVG puts it"


def test_scrambled_scopes_never_break_the_drawing():
    """Whatever scopes an IR claims, the drawing comes out well-formed, every layer in it once, no boxes overlapping."""
    import random

    rng = random.Random(16)
    irs = [compile_ir(ROOT / "specs" / f"{name}.net") for name in ("resnet", "inception", "densenet", "multilayer_bn")]
    for trial in range(48):
        ir = irs[trial % len(irs)]
        names = [layer["name"] for layer in ir["layers"]] + ["g", "h"]
        layers = []
        for layer in ir["layers"]:
            scope = list(layer.get("scope", []))
            action = rng.random()
            if action < 0.1:
                scope = scope[:-1]
            elif action < 0.2:
                scope = [*scope, rng.choice(names)]
            elif action < 0.25:
                scope = [rng.choice(names) for _ in range(rng.randint(0, 3))]
            layers.append({**layer, "scope": scope})
        for depth in (None, 0, 1):
            root = parse(draw_svg({**ir, "layers": layers}, depth=depth))
            assert layers_drawn(root) == len(ir["layers"]), (trial, depth)
            check_geometry(root)
