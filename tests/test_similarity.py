"""Copy reports: a renamed, recommented copy is found; an answer written independently, or one
that everyone writes the same way, is not."""
import csv

from autograder import similarity, submissions
from autograder.similarity import Match

SLUG = "01-neuron"
REFERENCE = submissions.reference_answers(SLUG)

# The reference's logistic_regression_fit with every name changed, other comments and layout.
DISGUISED_FIT = '''def logistic_regression_fit(features, targets, step_size, n_iter):
    """My own gradient descent."""
    # turn the inputs into float arrays
    features = np.asarray(features, dtype = float)
    targets = np.asarray(targets, dtype=float)

    weights, bias = np.zeros(features.shape[1]), 0.0
    for it in range(n_iter):   # one full-batch step
        residual = sigmoid(features @ weights + bias) - targets
        weights = weights - step_size * (features.T @ residual) / len(targets)
        bias = bias - step_size * float(np.mean(residual))
    return weights, bias
'''

# The same copy again, with the helper's parameters renamed differently.
DISGUISED_FIT_2 = (DISGUISED_FIT.replace("features", "A").replace("targets", "t").replace("residual", "r")
                   .replace("weights", "theta").replace("My own", "Plain"))

# Written independently: a loop over examples for the gradient, different statements throughout.
OWN_FIT = '''def logistic_regression_fit(X, y, lr, steps):
    n, d = len(X), len(X[0])
    w = [0.0] * d
    b = 0.0
    for step in range(steps):
        grad_w = [0.0] * d
        grad_b = 0.0
        for i in range(n):
            p = sigmoid(sum(X[i][j] * w[j] for j in range(d)) + b)
            for j in range(d):
                grad_w[j] += (p - y[i]) * X[i][j] / n
            grad_b += (p - y[i]) / n
        w = [w[j] - lr * grad_w[j] for j in range(d)]
        b -= lr * grad_b
    return np.array(w), b
'''

OWN_PERCEPTRON = '''def perceptron_train(X, y, epochs, lr):
    w = np.zeros(np.shape(X)[1])
    b = 0.0
    for epoch in range(epochs):
        for i in range(len(X)):
            activation = np.dot(w, X[i]) + b
            prediction = int(activation > 0)
            update = lr * (y[i] - prediction)
            w += update * np.asarray(X[i], dtype=float)
            b += update
    return w, b
'''


def _class(**answers_by_student):
    return {sid: submissions.make_submission(SLUG, answers) for sid, answers in answers_by_student.items()}


def test_normalise_drops_comments_docstrings_layout_and_names():
    a = 'def f(x, y):\n    """Doc."""\n    # comment\n    total = np.maximum(x,0)+len(y)\n\n    return total\n'
    b = "def g(a, b):\n    s = np.maximum( a, 0 ) + len(b)  # other comment\n    return s"
    assert similarity.normalise(a) == similarity.normalise(b)
    assert similarity.normalise(a) == "def v0 ( v1 , v2 ) :\n    v3 = np . maximum ( v1 , 0 ) + len ( v2 )\n    return v3"


def test_normalise_keeps_keywords_of_calls_and_falls_back_when_not_python():
    assert "axis = v" in similarity.normalise("def f(z, ax):\n    return z.sum(axis=ax)")
    assert similarity.normalise("def f(:\n   x   =  ") == "def f(: x ="


def test_renamed_copies_are_flagged_against_each_other_and_the_reference():
    notebooks = _class(alice={"logistic_regression_fit": DISGUISED_FIT},
                       bob={"logistic_regression_fit": DISGUISED_FIT_2},
                       carol={"logistic_regression_fit": OWN_FIT})
    matches = similarity.report(SLUG, notebooks)
    pairs = {(m.a, m.b) for m in matches}
    assert pairs == {("alice", "bob"), ("alice", "reference"), ("bob", "reference")}
    assert all(m.part == "logistic_regression_fit" and m.similarity >= similarity.THRESHOLD for m in matches)
    assert all(m.similarity == 1.0 for m in matches)


def test_an_independent_answer_is_not_flagged():
    notebooks = _class(carol={"logistic_regression_fit": OWN_FIT, "perceptron_train": OWN_PERCEPTRON},
                       dave={"perceptron_train": submissions.REFERENCE})
    matches = similarity.report(SLUG, notebooks)
    assert matches == [Match("perceptron_train", "dave", "reference", 1.0)]


def test_short_answers_and_stubs_are_never_flagged():
    relu = "def relu(x):\n    return np.maximum(x, 0)"
    relu_2 = "def relu(values):\n    # clip\n    return np.maximum(values, 0.0)"
    forward = "def neuron_forward(X, w, b, activation):\n    return activation(X @ w + b)"
    notebooks = _class(erin={"relu": relu, "neuron_forward": forward},
                       frank={"relu": relu, "neuron_forward": forward},
                       gina={"relu": relu_2}, hank={}, ivan={})  # hank and ivan hand in the stubs
    assert similarity.report(SLUG, notebooks) == []


def test_reference_cells_can_be_given():
    notebooks = _class(alice={"logistic_regression_fit": DISGUISED_FIT})
    assert similarity.report(SLUG, notebooks, reference_cells={"logistic_regression_fit": OWN_FIT}) == []
    matches = similarity.report(SLUG, notebooks, reference_cells={"logistic_regression_fit": DISGUISED_FIT_2})
    assert matches == [Match("logistic_regression_fit", "alice", "reference", 1.0)]


def test_csv_has_a_header_even_when_nothing_matches(tmp_path):
    path = similarity.write([], tmp_path / "out")
    assert path == tmp_path / "out" / "similarity.csv"
    assert path.read_text().splitlines() == ["part,student_a,student_b,similarity"]
    path = similarity.write([Match("perceptron_train", "a", "b", 0.93456)], tmp_path)
    with open(path, newline="") as f:
        assert list(csv.reader(f)) == [["part", "student_a", "student_b", "similarity"],
                                       ["perceptron_train", "a", "b", "0.935"]]
