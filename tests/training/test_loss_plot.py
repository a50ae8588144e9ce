"""The loss plot names its run and marks each resume (the figure's content, not its pixels)."""

from megatron_bio.training.tracking import loss_figure, plot_losses


def test_the_plot_has_the_run_in_its_title_and_a_labelled_line_per_resume(tmp_path):
    curves = {"train": [(1, 11.9), (2, 11.5), (3, 11.0), (4, 10.2), (5, 9.8)], "validation": [(4, 10.5)]}
    figure = loss_figure(curves, "tiny · mlflow run 0123abcd", [2, 4])
    (axes,) = figure.axes
    assert axes.get_title() == "tiny · mlflow run 0123abcd"
    marks = [line for line in axes.get_lines() if line.get_linestyle() == "--"]
    assert [list(line.get_xdata()) for line in marks] == [[2, 2], [4, 4]]
    assert [text.get_text().strip() for text in axes.texts] == ["resumed at 2", "resumed at 4"]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["train", "validation", "resumed"]
    path = plot_losses(curves, tmp_path / "loss.png", "tiny · mlflow run 0123abcd")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
