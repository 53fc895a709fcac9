"""The paper's Figures 2 and 3 as pictures: the chunked nearest-neighbour search against every distance, the yellow
frame of Figure 2 and the sizes of both grids."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal

from advnets.reporting.figures import PAD_VALUE, image_grid
from advnets.reporting.samples import (
    NEIGHBOUR_FRAME_INSET_PX,
    NEIGHBOUR_FRAME_RGB,
    interpolation_grid,
    nearest_examples,
    nearest_grid,
    save_picture,
)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_nearest_examples_match_every_distance_in_any_chunking(chunk_size):
    gen = torch.Generator().manual_seed(0)
    examples = torch.rand(200, 1, 4, 4, generator=gen)
    queries = torch.rand(6, 1, 4, 4, generator=gen)
    index, distance, nearest = nearest_examples(queries, examples, chunk_size=chunk_size)
    all_distances = (
        (queries.double().flatten(1)[:, None] - examples.double().flatten(1)[None]).square().sum(-1)
    )
    assert index.tolist() == all_distances.argmin(1).tolist()
    torch.testing.assert_close(distance, all_distances.min(1).values, rtol=1e-12, atol=1e-12)
    assert torch.equal(nearest, examples[index])


def test_nearest_examples_take_blocks_of_any_sizes():
    gen = torch.Generator().manual_seed(1)
    examples = torch.rand(50, 3, 2, 2, generator=gen)
    queries = torch.rand(4, 3, 2, 2, generator=gen)
    blocks = [examples[:3], examples[3:20], examples[20:21], examples[21:]]  # as a data set decodes them
    from_blocks, from_tensor = nearest_examples(queries, blocks), nearest_examples(queries, examples)
    assert all(torch.equal(a, b) for a, b in zip(from_blocks, from_tensor))


def test_a_query_that_is_an_example_finds_itself_at_distance_zero_and_ties_go_to_the_first():
    examples = torch.tensor([[0.0, 0.0], [1.0, 1.0], [3.0, 3.0], [1.0, 1.0]])
    # The twin of example 1 is example 3, in the second chunk of 3.
    index, distance, _ = nearest_examples(examples[[1, 2]], examples, chunk_size=3)
    assert index.tolist() == [1, 2]
    assert distance.tolist() == [0.0, 0.0]


def test_nearest_examples_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        nearest_examples(torch.zeros(2, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="no examples"):
        nearest_examples(torch.zeros(2, 3), [])
    with pytest.raises(ValueError, match="chunk_size"):
        nearest_examples(torch.zeros(2, 3), torch.zeros(5, 3), chunk_size=0)


def test_nearest_grid_frames_the_last_column_in_yellow_and_keeps_the_samples():
    samples = torch.rand(2, 3, 1, 5, 5)  # 2 rows of 3
    neighbours = torch.rand(2, 1, 5, 5)
    grid = nearest_grid(samples, neighbours, pixel_range="unit", padding=2, scale=4)
    tile = 5 * 4 + 2
    assert grid.mode == "RGB" and grid.size == (4 * tile + 2, 2 * tile + 2)
    array = np.asarray(grid)
    # The samples and the neighbours are image_grid's tiles, untouched outside the frames.
    cells = torch.cat([samples, neighbours.unsqueeze(1)], 1).flatten(0, 1)
    plain = np.asarray(image_grid(cells, pixel_range="unit", nrow=4, padding=2, scale=4).convert("RGB"))
    frame = 2 + NEIGHBOUR_FRAME_INSET_PX
    left = 3 * tile  # the last column's padding starts here
    assert_array_equal(array[:, :left], plain[:, :left])
    for row in range(2):
        top = row * tile
        box = array[top : top + tile + 2, left : left + tile + 2]  # the neighbour's cell with its padding
        assert (box[:frame] == NEIGHBOUR_FRAME_RGB).all() and (box[-frame:] == NEIGHBOUR_FRAME_RGB).all()
        assert (box[:, :frame] == NEIGHBOUR_FRAME_RGB).all() and (
            box[:, -frame:] == NEIGHBOUR_FRAME_RGB
        ).all()
        inside = slice(frame, tile + 2 - frame)
        assert_array_equal(
            box[inside, inside], plain[top : top + tile + 2, left : left + tile + 2][inside, inside]
        )
    assert tuple(array[0, 0]) == (PAD_VALUE,) * 3


def test_nearest_grid_refuses_neighbours_that_do_not_fit_the_rows():
    with pytest.raises(ValueError, match="neighbours"):
        nearest_grid(torch.rand(2, 3, 1, 5, 5), torch.rand(3, 1, 5, 5), pixel_range="unit")


def test_interpolation_grid_is_rows_of_steps(tmp_path):
    samples = torch.rand(3, 7, 1, 28, 28)
    grid = interpolation_grid(samples, pixel_range="unit")
    assert grid.size == (7 * 58 + 2, 3 * 58 + 2)  # 28x28 drawn 2x larger, 2 px of padding
    assert_array_equal(
        np.asarray(grid), np.asarray(image_grid(samples.flatten(0, 1), pixel_range="unit", nrow=7))
    )
    save_picture(grid, tmp_path / "deep" / "fig3.png")
    assert (tmp_path / "deep" / "fig3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="R, K"):
        interpolation_grid(torch.rand(3, 1, 28, 28), pixel_range="unit")
