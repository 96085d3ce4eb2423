import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("misattribution")
launch_gradio_widget(module)
