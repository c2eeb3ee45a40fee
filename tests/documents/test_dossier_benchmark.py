"""benchmarks/dossier.py is run by hand (it times things); here only that it loads."""

from benchmarks import dossier


def test_the_benchmark_loads_and_reports_the_six_figures_of_the_issue():
    assert dossier.FIGURES == (
        "dossier_render_ratio_vs_chromium",
        "dossier_click_to_file_s",
        "batch_full_s",
        "batch_regen_speedup",
        "batch_peak_rss_mb",
        "pdf_size_ratio_vs_chromium",
    )
    assert dossier.PAGES == (14, 20)
    assert callable(dossier.main)
