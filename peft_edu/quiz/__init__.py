"""Quizzes: the question bank (``bank``), generated numeric questions (``generate``) and
sampling, grading, scores and exports (``grading``). The names below are the public API."""
from peft_edu.quiz.grading import *  # noqa: F401,F403  (re-exports grading.__all__)
from peft_edu.quiz.grading import __all__  # noqa: F401
