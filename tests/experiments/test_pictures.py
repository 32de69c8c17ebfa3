"""What the pictures are made of, read off the drawn figures: which curves, ticks, legends and labels they carry
and where (no pixels compared). Skipped without matplotlib only (CI installs it)."""

from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")


@pytest.fixture
def figures(monkeypatch):
    """The figures the drawing functions make, kept (and drawn, so positions are known) instead of saved."""
    import netlang.plots.curves
    import netlang.plots.images
    import netlang.plots.search

    kept = []

    def keep(figure, path, dpi=80):
        figure.set_dpi(dpi)
        figure.canvas.draw()
        kept.append(figure)
        return path

    for module in (netlang.plots.curves, netlang.plots.images, netlang.plots.search):
        monkeypatch.setattr(module, "save", keep)
    yield kept
    from netlang.plots import pyplot

    pyplot().close("all")


def epoch(number, **metrics):
    record = {"epoch": number, "train_loss": 1.0 / number, "train_acc": 0.5 + 0.01 * number, "val_loss": 0.9,
              "val_acc": 0.6, "lr": 0.01, "seconds": 1.0}
    record.update(metrics)
    return record


def labels_of(axis):
    return [line.get_label() for line in axis.get_lines()]


def test_a_one_epoch_run_has_one_epoch_tick_and_a_readable_accuracy_axis(figures, tmp_path):
    from netlang.plots.curves import draw_run

    draw_run([epoch(1)], "one epoch", tmp_path / "c.png")
    loss_axis, acc_axis = figures[0].axes
    for axis in (loss_axis, acc_axis):
        assert list(axis.get_xticks()) == [1] and axis.get_xlim() == (0.5, 1.5)
    low, high = acc_axis.get_ylim()
    assert high - low >= 5 and low < 51 < 60 < high  # both points inside, ticks in whole percents
    assert all(float(tick).is_integer() for tick in acc_axis.get_yticks())


def test_run_curves_say_how_training_accuracy_was_measured_and_add_test_when_measured(figures, tmp_path):
    from netlang.plots.curves import draw_run

    old = [epoch(n) for n in (1, 2, 3)]  # a run from before `measure`: no train_eval_*, no test_*
    draw_run(old, "old", tmp_path / "old.png")
    assert labels_of(figures[0].axes[1]) == ["training (mean over the epoch's batches)", "validation"]
    measured = [epoch(n, train_eval_loss=0.5, train_eval_acc=0.9, test_loss=1.0, test_acc=0.55) for n in (1, 2, 3)]
    draw_run(measured, "new", tmp_path / "new.png")
    acc_axis = figures[1].axes[1]
    assert labels_of(acc_axis) == ["training (a pass in inference mode)", "validation", "test (reported only)"]
    training, _, test = acc_axis.get_lines()
    assert list(training.get_ydata()) == pytest.approx([90.0] * 3)
    assert list(test.get_ydata()) == pytest.approx([55.0] * 3)
    assert [line.get_linestyle() for line in acc_axis.get_lines()] == ["--", "-", ":"]


def test_a_sweep_draws_training_validation_and_test_accuracy_per_variant_in_one_colour(figures, tmp_path):
    from netlang.plots.curves import draw_sweep

    curves = [
        {"label": label, "step_loss": [2.0, 1.0], "error": None,
         "epochs": [epoch(1, train_eval_acc=train, test_acc=0.5), epoch(2, train_eval_acc=train, test_acc=0.5)]}
        for label, train in (("plain", 1.0), ("weight_decay=0.1", 0.8))
    ]
    draw_sweep(curves, "sweep", tmp_path / "s.png")
    acc_axis = figures[0].axes[1]
    lines = acc_axis.get_lines()
    assert len(lines) == 6  # validation, test, training for each variant
    assert [line.get_linestyle() for line in lines] == ["-", ":", "--"] * 2
    assert len({line.get_color() for line in lines[:3]}) == 1 and lines[0].get_color() != lines[3].get_color()
    assert [text.get_text() for text in acc_axis.get_legend().get_texts()] == [
        "plain", "weight_decay=0.1", "validation", "training (a pass in inference mode)", "test (reported only)"]


def test_a_two_axis_sweep_is_a_grid_with_one_line_style_per_spec(figures, tmp_path):
    from netlang.plots.curves import draw_grid

    axes = [{"name": "spec", "values": ["with_bn", "without"]}, {"name": "init", "values": ["std:1", "std:0.1",
                                                                                          "std:0.01"]}]
    curves = [
        {"label": f"{spec} init={init}", "spec": spec, "values": {"init": init}, "error": error,
         "epochs": [] if error else [epoch(1, train_eval_acc=0.3), epoch(2, train_eval_acc=0.7)]}
        for spec in axes[0]["values"] for init, error in zip(axes[1]["values"], (None, None, None), strict=True)
    ]
    curves[3] = {**curves[3], "error": "the training loss became nan", "epochs": []}
    draw_grid(curves, axes, "grid", tmp_path / "g.png")
    panels = [axis for axis in figures[0].axes if axis.get_title()]
    assert [axis.get_title() for axis in panels] == ["init std:1", "init std:0.1", "init std:0.01"]
    assert [line.get_linestyle() for line in panels[1].get_lines()] == ["-", "--"]
    assert any("without diverged" in text.get_text() for text in panels[0].texts)
    assert all(axis.get_ylim() == (0, 100) for axis in panels)


def test_search_legends_sit_outside_the_panels_where_they_cover_no_trial(figures, tmp_path):
    from netlang.experiments.ranges import parse_ranges
    from netlang.plots.search import draw_search

    ranges = parse_ranges(["lr=1e-4:1e-1:log", "weight_decay=1e-6:1e-2:log"])
    records = [{"values": {"lr": lr, "weight_decay": decay}, "val_acc": acc}
               for lr, decay, acc in (("0.09", "0.009", 0.9), ("0.001", "1e-5", 0.5), ("0.0002", "0.001", None))]
    draw_search(records, ranges, tmp_path / "search.png")
    figure = figures[0]
    legends = [(axis, axis.get_legend()) for axis in figure.axes if axis.get_legend() is not None]
    assert len(legends) == 3  # "diverged" in both field panels, "best trial" in the pair's
    for axis, legend in legends:
        assert legend.get_window_extent().y0 >= axis.get_window_extent().y1 - 1  # above the panel


def test_misclassified_labels_are_readable_and_clear_of_the_row_above(figures, tmp_path):
    import numpy as np

    from netlang.plots.images import _mistake_label, draw_misclassified

    assert _mistake_label("1", "8") == "1 → 8"
    assert _mistake_label("T-shirt/top", "Shirt") == "T-shirt/top\n→ Shirt"
    count, columns = 16, 8
    images = np.random.default_rng(0).random((count, 28, 28))
    draw_misclassified(images, ["Ankle boot"] * count, ["T-shirt/top"] * count, "mistakes", tmp_path / "m.png",
                       columns=columns)
    axes = figures[0].axes
    renderer = figures[0].canvas.get_renderer()
    for above, below in zip(axes[:columns], axes[columns:2 * columns], strict=True):
        title = below.title
        assert title.get_fontsize() >= 10 and "\n" in title.get_text()
        assert title.get_window_extent(renderer).y1 <= above.get_window_extent(renderer).y0
