"""Chapter 1 (01-neuron): wrong answers students really write."""
from autograder.mistakes import Mistake

MISTAKES = [
    Mistake("relu", "test_relu", "zeroes the negative entries of the caller's array in place", '''
def relu(x):
    x[x < 0] = 0
    return x
''', "changed its input array in place"),
    Mistake("relu", "test_relu", "returns a 0/1 mask instead of the values", '''
def relu(x):
    return (x > 0).astype(float)
''', "values differ"),
    Mistake("sigmoid", "test_sigmoid", "the textbook formula, which overflows for x < -709", '''
def sigmoid(x):
    return 1 / (1 + np.exp(-x))
''', "overflow encountered in exp"),
    Mistake("sigmoid", "test_sigmoid", "np.where over two branches that both overflow", '''
def sigmoid(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
''', "overflow encountered in exp"),
    Mistake("tanh", "test_tanh", "the exponential formula, inf/inf = nan for large |x|", '''
def tanh(x):
    return (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))
''', "nan or inf"),
    Mistake("softmax", "test_softmax", "no max subtraction: nan for large scores", '''
def softmax(z, axis=-1):
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)
''', "softmax([1000, 1001, 1002])"),
    Mistake("softmax", "test_softmax", "sums over the whole array instead of along the axis", '''
def softmax(z, axis=-1):
    e = np.exp(z - np.max(z))
    return e / e.sum()
''', "row sums of softmax"),
    Mistake("softmax", "test_softmax", "ignores the axis argument (always the last axis)", '''
def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
''', "axis=0"),
    Mistake("softmax", "test_softmax", "shifts the scores in place (z -= max)", '''
def softmax(z, axis=-1):
    z -= z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)
''', "changed its input array in place"),
    Mistake("neuron_forward", "test_neuron_forward", "forgets the bias", '''
def neuron_forward(X, w, b, activation):
    return activation(X @ w)
''', "values differ"),
    Mistake("neuron_forward", "test_neuron_forward", "applies the activation before adding the bias", '''
def neuron_forward(X, w, b, activation):
    return activation(X @ w) + b
''', "activation(X @ w + b)"),
    Mistake("binary_cross_entropy", "test_binary_cross_entropy", "no clipping: log(0) = -inf", '''
def binary_cross_entropy(p, y):
    return np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
''', "binary_cross_entropy(p=[0, 1], y=[1, 0])"),
    Mistake("binary_cross_entropy", "test_binary_cross_entropy", "sums instead of averaging", '''
def binary_cross_entropy(p, y):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.sum(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
''', "MEAN"),
    Mistake("perceptron_train", "test_perceptron_train", "never updates the bias", '''
def perceptron_train(X, y, epochs, lr):
    w = np.zeros(X.shape[1])
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            y_hat = 1.0 if x_i @ w > 0 else 0.0
            w = w + lr * (y_i - y_hat) * x_i
    return w, 0.0
''', "update of w AND b"),
    Mistake("perceptron_train", "test_perceptron_train", "predicts 1 at exactly zero (>= instead of >)", '''
def perceptron_train(X, y, epochs, lr):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            y_hat = 1.0 if x_i @ w + b >= 0 else 0.0
            w = w + lr * (y_i - y_hat) * x_i
            b = b + lr * (y_i - y_hat)
    return w, b
''', "predict 1 only when"),
    Mistake("perceptron_train", "test_perceptron_train", "updates the bias with a new prediction, after w", '''
def perceptron_train(X, y, epochs, lr):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            y_hat = 1.0 if x_i @ w + b > 0 else 0.0
            w = w + lr * (y_i - y_hat) * x_i
            y_hat = 1.0 if x_i @ w + b > 0 else 0.0
            b = b + lr * (y_i - y_hat)
    return w, b
''', "b after one epoch"),
    Mistake("logistic_regression_fit", "test_logistic_regression_fit", "climbs the gradient (+= instead of -=)", '''
def logistic_regression_fit(X, y, lr, steps):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(steps):
        error = sigmoid(X @ w + b) - y
        w = w + lr * X.T @ error / len(y)
        b = b + lr * np.mean(error)
    return w, b
''', "sign of the update"),
    Mistake("logistic_regression_fit", "test_logistic_regression_fit", "sums the gradient instead of averaging", '''
def logistic_regression_fit(X, y, lr, steps):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(steps):
        error = sigmoid(X @ w + b) - y
        w = w - lr * X.T @ error
        b = b - lr * np.sum(error)
    return w, b
''', "Use the mean (1/n)"),
    Mistake("relu", "test_relu", "x * (x > 0): -inf * 0 = nan", '''
def relu(x):
    return x * (x > 0)
''', "relu(-inf) is 0"),
    Mistake("relu", "test_relu", "returns a Python list", '''
def relu(x):
    return [max(v, 0.0) for v in np.ravel(x)] if np.ndim(x) == 1 else np.maximum(x, 0)
''', "returned a list: return a numpy array"),
    Mistake("sigmoid", "test_sigmoid", "clips x to [-25, 25]: wrong far in the negative tail", '''
def sigmoid(x):
    x = np.clip(x, -25, 25)
    return 1 / (1 + np.exp(-x))
''', "Do not clip x"),
    Mistake("perceptron_train", "test_perceptron_train", "w = np.zeros_like(X[0]) updated in place: breaks on integer X", '''
def perceptron_train(X, y, epochs, lr):
    w, b = np.zeros_like(X[0]), 0.0
    for _ in range(epochs):
        for x_i, y_i in zip(X, y):
            y_hat = 1 if x_i @ w + b > 0 else 0
            w += lr * (y_i - y_hat) * x_i
            b += lr * (y_i - y_hat)
    return w, b
''', "X may hold integers"),
    Mistake("logistic_regression_fit", "test_logistic_regression_fit", "w = np.zeros_like(X[0]) updated in place: breaks on integer X", '''
def logistic_regression_fit(X, y, lr, steps):
    w, b = np.zeros_like(X[0]), 0.0
    for _ in range(steps):
        error = sigmoid(X @ w + b) - y
        w -= lr * X.T @ error / len(y)
        b -= lr * np.mean(error)
    return w, b
''', "X may hold integers"),
    Mistake("logistic_regression_fit", "test_logistic_regression_fit", "takes the bias step from the updated weights", '''
def logistic_regression_fit(X, y, lr, steps):
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(steps):
        w = w - lr * X.T @ (sigmoid(X @ w + b) - y) / len(y)
        b = b - lr * np.mean(sigmoid(X @ w + b) - y)
    return w, b
''', "from the same p"),
]
