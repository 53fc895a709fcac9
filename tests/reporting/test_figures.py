import json
import math
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image

from advnets.errors import UserError
from advnets.reporting import figures
from advnets.reporting.figures import (
    image_grid,
    late_view_limits,
    plot_losses,
    plot_metric_curve,
    read_metrics,
    save_image_grid,
    series_styles,
)

G = figures.PAD_VALUE  # the grey of the padding


# ----------------------------------------------------------------------------------------------- image grids
def test_image_grid_exact_pixels_with_padding():
    images = torch.tensor([[[[0.0, 1.0], [0.4, 0.25]]], [[[1.0, 0.2], [0.8, 0.0]]]])  # [2, 1, 2, 2]
    grid = image_grid(images, pixel_range="unit", padding=1, scale=1)
    assert grid.mode == "L"
    # round(v * 255): 0.4 -> 102, 0.25 -> 63.75 -> 64, 0.2 -> 51, 0.8 -> 204; nrow = ceil(sqrt(2)) = 2.
    expected = np.array(
        [
            [G, G, G, G, G, G, G],
            [G, 0, 255, G, 255, 51, G],
            [G, 102, 64, G, 204, 0, G],
            [G, G, G, G, G, G, G],
        ],
        dtype=np.uint8,
    )
    assert_array_equal(np.asarray(grid), expected)


def test_image_grid_fills_missing_cells_of_the_last_row_with_padding_grey():
    images = torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1, 1)
    grid = np.asarray(image_grid(images, pixel_range="unit", nrow=2, padding=1, scale=1))
    expected = np.array(
        [[G, G, G, G, G], [G, 0, G, 255, G], [G, G, G, G, G], [G, 0, G, G, G], [G, G, G, G, G]],
        dtype=np.uint8,
    )
    assert_array_equal(grid, expected)


def test_image_grid_nearest_neighbour_scale_without_padding():
    images = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    grid = np.asarray(image_grid(images, pixel_range="unit", padding=0, scale=2))
    expected = np.kron(np.array([[0, 255], [255, 0]]), np.ones((2, 2))).astype(np.uint8)
    assert_array_equal(grid, expected)


def test_image_grid_symmetric_range_maps_minus_one_to_0_and_one_to_255():
    images = torch.tensor([-1.0, -0.2, 1.0]).view(1, 1, 1, 3)
    grid = np.asarray(image_grid(images, pixel_range="symmetric", padding=0, scale=1))
    assert_array_equal(grid, np.array([[0, 102, 255]], dtype=np.uint8))  # (-0.2 + 1) / 2 * 255 = 102


@pytest.mark.parametrize(
    ("pixel_range", "values", "expected"),
    [
        ("unit", [-0.3, 1.7, math.nan, 0.2], [0, 255, 0, 51]),
        ("symmetric", [-4.0, 3.0, math.nan, -0.6], [0, 255, 0, 51]),
    ],
)
def test_image_grid_clamps_out_of_range_values_and_shows_nan_as_black(pixel_range, values, expected):
    images = torch.tensor(values).view(1, 1, 1, 4)
    grid = np.asarray(image_grid(images, pixel_range=pixel_range, padding=0, scale=1))
    assert_array_equal(grid, np.array([expected], dtype=np.uint8))


def test_image_grid_rgb_keeps_channel_order():
    images = torch.zeros(2, 3, 1, 1)
    images[0, 0] = 1.0  # red
    images[1, 2] = 0.2  # dark blue
    grid = image_grid(images, pixel_range="unit", padding=1, scale=1)
    assert grid.mode == "RGB"
    array = np.asarray(grid)
    assert array.shape == (3, 5, 3)
    assert_array_equal(array[1, 1], [255, 0, 0])
    assert_array_equal(array[1, 3], [0, 0, 51])
    assert_array_equal(array[0, 0], [G, G, G])


def test_image_grid_default_nrow_and_scale_for_ten_8x8_digits():
    images = torch.rand(10, 1, 8, 8, requires_grad=True)
    grid = image_grid(images, pixel_range="unit")
    # nrow = ceil(sqrt(10)) = 4 -> 3 rows; scale = ceil(56 / 8) = 7 -> 56 px tiles; 2 px padding around each.
    assert grid.size == (4 * (56 + 2) + 2, 3 * (56 + 2) + 2)


def test_image_grid_default_scale_for_mnist_is_two():
    grid = image_grid(torch.rand(4, 1, 28, 28), pixel_range="unit", padding=0)
    assert grid.size == (2 * 56, 2 * 56)


@pytest.mark.parametrize("shape", [(4, 2, 8, 8), (1, 8, 8), (0, 1, 8, 8)])
def test_image_grid_rejects_wrong_shapes(shape):
    with pytest.raises(ValueError, match="N, C, H, W"):
        image_grid(torch.zeros(shape), pixel_range="unit")


def test_image_grid_rejects_unknown_pixel_range():
    with pytest.raises(ValueError, match="pixel_range"):
        image_grid(torch.zeros(1, 1, 2, 2), pixel_range="gcn")


def test_save_image_grid_writes_a_png_in_new_folders(tmp_path):
    path = tmp_path / "samples" / "deep" / "grid.png"
    save_image_grid(torch.rand(6, 3, 4, 4), path, pixel_range="symmetric", nrow=3, padding=1, scale=3)
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        assert picture.mode == "RGB"
        assert picture.size == (3 * 13 + 1, 2 * 13 + 1)
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]


def test_save_image_grid_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "grid.png"
    save_image_grid(torch.zeros(1, 1, 2, 2), path, pixel_range="unit")
    before = path.read_bytes()

    def broken_save(self, f, **kw):
        f.write(b"\x89PNG half")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_image_grid(torch.ones(1, 1, 2, 2), path, pixel_range="unit")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


# ------------------------------------------------------------------------------------------- metrics reader
def _write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_read_metrics_reads_records_in_order(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records = [{"step": 1, "d_loss": 0.69, "g_loss": float("nan")}, {"step": 2, "d_loss": 0.5, "g_loss": 0.9}]
    _write_lines(path, records)
    got = read_metrics(str(path))
    assert [r["step"] for r in got] == [1, 2]
    assert math.isnan(got[0]["g_loss"])  # json writes NaN and reads it back
    assert got[1] == records[1]


def test_read_metrics_skips_a_truncated_last_line_silently(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _write_lines(path, [{"step": 1}, {"step": 2}])
    with open(path, "a") as f:
        f.write('{"step": 3, "d_lo')  # the process died mid-write
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_metrics(path) == [{"step": 1}, {"step": 2}]


def test_read_metrics_keeps_a_complete_last_line_without_newline(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n\n{"step": 2}')
    assert read_metrics(path) == [{"step": 1}, {"step": 2}]


def test_read_metrics_skips_a_corrupt_middle_line_with_a_warning(tmp_path):
    # A run that crashed mid-line and was resumed appends its next record to the cut-off one.
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2, "d_lo{"step": 3}\n[1, 2]\n{"step": 4}\n')
    with pytest.warns(UserWarning, match=r"skipped 2 line\(s\).*line 2, 3"):
        got = read_metrics(path)
    assert got == [{"step": 1}, {"step": 4}]


def test_read_metrics_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no metrics file"):
        read_metrics(tmp_path / "nope.jsonl")


# ----------------------------------------------------------------------------------------------------- plots
def _png_size_and_colours(path):
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        rgb = np.asarray(picture.convert("RGB")).astype(np.int32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]  # one int per colour: fast np.unique
    return picture.size, np.unique(packed).size


def _training_records(n, *, with_d_outputs):
    records = []
    for step in range(10, 10 * n + 1, 10):
        r = {"step": step, "epoch": step / 500, "d_loss": 0.7 - step * 1e-5, "g_loss": 0.8 + math.sin(step)}
        if with_d_outputs:
            r |= {"d_real": 0.6, "d_fake": 0.4 + step * 1e-5}
        records.append(r)
    return records


@pytest.mark.parametrize(("with_d_outputs", "size"), [(True, (960, 780)), (False, (960, 480))])
@pytest.mark.parametrize("n", [1, 300])
def test_plot_losses_writes_a_png_of_the_expected_size(tmp_path, with_d_outputs, size, n):
    path = tmp_path / "losses.png"
    plot_losses(_training_records(n, with_d_outputs=with_d_outputs), path, title="run: losses")
    got_size, colours = _png_size_and_colours(path)
    assert got_size == size
    assert colours > 20  # curves, text and legend, not a blank canvas
    assert [p.name for p in tmp_path.iterdir()] == ["losses.png"]


def test_plot_losses_tolerates_missing_keys_and_nan(tmp_path):
    records = _training_records(120, with_d_outputs=True)
    records[5]["d_loss"] = float("nan")
    del records[7]["g_loss"], records[8]["epoch"], records[9]["d_real"]
    records.append({"epoch": 3.0, "d_loss": 0.1})  # no step: ignored
    path = tmp_path / "out" / "losses.png"
    plot_losses(records, path)
    assert _png_size_and_colours(path)[0] == (960, 780)


def test_plot_losses_without_steps_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="step"):
        plot_losses([{"epoch": 1, "d_loss": 0.5}], tmp_path / "losses.png")
    assert list(tmp_path.iterdir()) == []


def test_plot_metric_curve_with_error_bars_reference_and_series(tmp_path):
    records = [
        {"epoch": e, "mean": 100.0 + 10 * e + s, "se": 2.0, "series": f"seed {s}"}
        for s in (0, 1)
        for e in (5, 1, 3)
    ]
    records += [{"epoch": 7, "other": 1.0}, {"epoch": 8, "mean": 180.0}]  # lacking `mean`; lacking `se`
    path = tmp_path / "parzen.png"
    plot_metric_curve(
        records,
        "mean",
        path,
        err_key="se",
        ylabel="parzen10k (nats)",
        title="Parzen",
        reference={"paper (225)": 225.0, "Deep GSN (214)": 214.0},
    )
    size, colours = _png_size_and_colours(path)
    assert size == (840, 540)
    assert colours > 20
    assert [p.name for p in tmp_path.iterdir()] == ["parzen.png"]


def test_series_of_one_family_share_a_colour_and_differ_in_marker():
    # paper-mnist's figure: every seed of a row in the row's colour (12 series would otherwise cycle 10 colours
    # and give two rows' seeds one colour), each seed its own marker and line style.
    groups = {f"{row}, seed {s}": [{"family": row}] for row in ("paper", "fast") for s in (0, 1, 2)}
    groups["lone"] = [{}]  # no family: a colour of its own
    styles = series_styles(groups)
    assert [styles[f"paper, seed {s}"]["color"] for s in (0, 1, 2)] == ["C0"] * 3
    assert [styles[f"fast, seed {s}"]["color"] for s in (0, 1, 2)] == ["C1"] * 3
    assert styles["lone"]["color"] == "C2"
    assert [styles[f"fast, seed {s}"]["marker"] for s in (0, 1, 2)] == ["o", "s", "^"]
    assert styles["paper, seed 1"]["linestyle"] != styles["paper, seed 0"]["linestyle"]


def test_plot_metric_curve_minimal(tmp_path):
    path = tmp_path / "curve.png"
    plot_metric_curve([{"step": 100, "fid": 30.5}, {"step": 200, "fid": 25.0}], "fid", path, x="step")
    assert _png_size_and_colours(path)[0] == (840, 540)


def test_a_one_point_metric_curve_has_a_unit_axis_either_side_and_its_value_written(tmp_path, monkeypatch):
    drawn = []
    original = figures._save_figure

    def keep(fig, path):
        ax = fig.axes[0]
        drawn.append((ax.get_xlim(), list(ax.get_xticks()), [t.get_text() for t in ax.texts]))
        original(fig, path)

    monkeypatch.setattr(figures, "_save_figure", keep)
    record = {"epoch": 1, "mean": 212.71, "se": 1.52}
    plot_metric_curve([record], "mean", tmp_path / "one.png", err_key="se", reference={"paper (225)": 225.0})
    (xlim, ticks, texts) = drawn[0]
    assert xlim == (0.0, 2.0)  # matplotlib alone gives 0.945 to 1.055
    assert all(float(t).is_integer() for t in ticks) and 1.0 in ticks
    assert texts == ["212.7 ± 1.52"]
    # Two points: matplotlib's own axis, and no value written.
    plot_metric_curve([record, {**record, "epoch": 3}], "mean", tmp_path / "two.png")
    assert drawn[1][0] != (0.0, 2.0) and drawn[1][2] == []


# A Parzen-like curve: the first evaluation far below, then a slow climb (se 1 nats each).
PARZEN_LIKE = [
    {"epoch": e, "mean": v, "se": 1.0}
    for e, v in [(1, -170.0), (3, 100.0), (5, 110.0), (7, 120.0), (9, 130.0)]
]


def test_the_late_view_covers_the_last_75_percent_and_near_references():
    reference = {"near": 140.0, "far": 300.0}
    view = late_view_limits(PARZEN_LIKE, "mean", err_key="se", reference=reference)
    # The last 75% of epochs 1..9: epoch >= 3. Values ± se: 99 .. 131 (span 32); "near" (140) is within one span of
    # them and joins: 99 .. 140; "far" (300) is not and gets a note. Padded by 5% of 41 = 2.05.
    assert view is not None
    (x_lo, x_hi), (y_lo, y_hi), notes = view
    assert (x_lo, x_hi) == (3, 9)
    assert_allclose([y_lo, y_hi], [96.95, 142.05], rtol=1e-12, atol=1e-12)
    assert notes == ["far: 300 (above)"]


@pytest.mark.parametrize(
    ("records", "late"),
    [
        (PARZEN_LIKE, None),  # asked for none
        (PARZEN_LIKE[:3], 0.75),  # epochs 3 and 5 only: too few points for a view of their own
        (
            [{"epoch": e, "mean": 10.0 * e} for e in range(1, 10)],
            0.75,
        ),  # a straight line: nothing is flattened
        ([{"epoch": e, "mean": 5.0} for e in range(1, 10)], 0.75),  # a flat line
    ],
)
def test_no_late_view_where_the_whole_curve_reads_alone(records, late):
    assert late_view_limits(records, "mean", late=late) is None


def test_the_parzen_figure_gets_a_late_training_panel_with_those_limits(tmp_path, monkeypatch):
    drawn = []
    original = figures._save_figure

    def keep(fig, path):
        drawn.append([(ax.get_ylim(), ax.get_xlim()) for ax in fig.axes])
        original(fig, path)

    monkeypatch.setattr(figures, "_save_figure", keep)
    path = tmp_path / "parzen.png"
    plot_metric_curve(
        PARZEN_LIKE, "mean", path, err_key="se", reference={"paper (225)": 225.0}, title="Parzen"
    )
    assert _png_size_and_colours(path)[0] == (1440, 540)
    (whole_y, _), (late_y, late_x) = drawn[0]
    assert whole_y[0] < -171 and whole_y[1] > 225  # the whole curve, reference included
    # 99 .. 131 (span 32): 225 is farther than one span, so it stays out; padded by 5% of 32.
    assert_allclose(late_y, (99 - 1.6, 131 + 1.6), rtol=1e-12, atol=1e-12)
    assert late_x[0] < 3 and 9 < late_x[1] < 9.5
    plot_metric_curve(PARZEN_LIKE, "mean", tmp_path / "one.png", late=None)
    assert len(drawn[1]) == 1 and _png_size_and_colours(tmp_path / "one.png")[0] == (840, 540)


def test_plot_metric_curve_without_the_key_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="'mean'"):
        plot_metric_curve([{"epoch": 1, "d_loss": 0.5}], "mean", tmp_path / "c.png")


def test_smooth_is_a_centred_mean_that_skips_nan():
    values = np.array([1.0, 2.0, 3.0, 4.0, np.nan, 6.0])
    assert_allclose(figures._smooth(values, 3), [1.5, 2.0, 3.0, 3.5, 5.0, 6.0], rtol=1e-12, atol=1e-12)
