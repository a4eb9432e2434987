"""Lessons: real, tiny training runs recorded as plain data for the method pages.

``core`` (what a run records), ``train`` (the loop), ``toy`` and ``lowrank`` (weight methods on
a toy MLP layer), ``transformer`` (methods inside a tiny BERT), ``explainer`` (the run and size
knob of each method page), ``counts`` (the page's parameter counts), ``lora`` (LoRA's lessons), ``charlm`` and
``pretraining`` (a tiny GPT pre-trained in full, with LoRA, ReLoRA and GaLore).
"""
