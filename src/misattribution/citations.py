"""BibTeX of the two papers behind the project; every card and the metric cite from here."""

CITATIONS = (
    """@article{xu2025diagnosing,
  title   = {Diagnosing Failures in Large Language Models' Answers: Integrating Error Attribution into
             Evaluation Framework},
  author  = {Xu, Zishan and Xie, Shuyi and Lv, Qingsong and Xiao, Shupei and Song, Linlin and
             Sui, Wenjuan and Lin, Fan},
  journal = {arXiv preprint arXiv:2507.08459},
  year    = {2025},
  url     = {https://arxiv.org/abs/2507.08459}
}""",
    """@inproceedings{anonymous2024misattributionllm,
  title     = {MisAttributionLLM: Integrating Error Attribution Capability into LLM Evaluation},
  author    = {Anonymous},
  booktitle = {Submitted to the Thirteenth International Conference on Learning Representations (ICLR 2025)},
  year      = {2024},
  url       = {https://openreview.net/forum?id=Q5eo3VMxF6},
  note      = {OpenReview submission Q5eo3VMxF6}
}""",
)

BIBTEX = "\n".join(CITATIONS)
