"""The misattribution issue explorer as a Hugging Face Space.

Layout and wiring live in :mod:`misattribution.space_app` (installed through requirements.txt, since a
Space receives only this folder); this file only opens it on the bundled sample.
"""

from misattribution.space_app import build_app
from misattribution.uploads import load_sample_report

demo = build_app(load_sample_report().report, max_upload_mb=200)

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=4).launch(max_file_size="200mb")
